//! `/login`: the form asking for the `[http]` token, and the session cookie it sets
//! (see `auth`). A wrong token is answered after a pause, with the form again; an
//! address with too many wrong tokens is answered 429 for a while (`guesses`).

use std::net::IpAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};

use super::html::{self, esc};
use super::{Ask, Reply, is_local_path, redirect, respond};
use crate::web::auth::{self, Session};
use crate::web::{BodyError, Resp, Web};

pub(super) async fn handle(
    web: &Arc<Web>,
    peer: IpAddr,
    req: Request<Incoming>,
    session: Option<Session>,
) -> Resp {
    let Some(want) = web.token.clone() else {
        // No token configured: there is nothing to log in to.
        return redirect("/", None);
    };
    let next = super::super::query(&req)
        .into_iter()
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v)
        .filter(|v| is_local_path(v))
        .unwrap_or_else(|| "/".into());
    if req.method() == Method::GET || req.method() == Method::HEAD {
        if session.is_some() {
            return redirect(&next, None);
        }
        return respond(form(StatusCode::OK, &next, None), false);
    }
    if req.method() != Method::POST {
        return respond(form(StatusCode::METHOD_NOT_ALLOWED, &next, None), false);
    }
    if auth::cross_site(&req) {
        return respond(
            form(
                StatusCode::FORBIDDEN,
                &next,
                Some("This login came from another site's page: refused."),
            ),
            false,
        );
    }
    let fields = match super::super::read_body(req, web.max_body.min(super::MAX_FORM)).await {
        Ok(b) => super::super::form(&String::from_utf8_lossy(&b)),
        Err(BodyError::TooLarge) => {
            return respond(
                form(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &next,
                    Some("The form is too large."),
                ),
                false,
            );
        }
        Err(BodyError::Unreadable) => {
            return respond(
                form(
                    StatusCode::BAD_REQUEST,
                    &next,
                    Some("The form could not be read."),
                ),
                false,
            );
        }
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if !auth::csrf_ok(field("csrf"), None) {
        return respond(
            form(
                StatusCode::FORBIDDEN,
                &next,
                Some("This form is stale: reload the page and try again."),
            ),
            false,
        );
    }
    let next = field("next")
        .filter(|n| is_local_path(n))
        .unwrap_or(&next)
        .to_string();
    if let Some(wait) = web.guesses.blocked(peer) {
        let text = format!(
            "Too many wrong tokens from your address: try again in {} s.",
            wait.as_secs().max(1)
        );
        return respond(
            form(StatusCode::TOO_MANY_REQUESTS, &next, Some(&text)),
            false,
        );
    }
    if !field("token").is_some_and(|t| auth::token_matches(t.trim(), &want)) {
        web.guesses.wrong(peer);
        tokio::time::sleep(crate::web::guesses::PAUSE).await;
        tracing::warn!("console: a login with a wrong token");
        return respond(
            form(
                StatusCode::UNAUTHORIZED,
                &next,
                Some(
                    "That is not the token. It is the value of the variable [http] token_env names (or what token_command prints).",
                ),
            ),
            false,
        );
    }
    redirect(&next, Some(&auth::start_session()))
}

fn form(status: StatusCode, next: &str, problem: Option<&str>) -> Reply {
    let ask = Ask {
        post: false,
        path: "/login".into(),
        query: Vec::new(),
        form: Vec::new(),
        csrf: auth::csrf_token(None),
        logged_in: false,
    };
    let mut body = String::from("<h1>Log in</h1>");
    if let Some(p) = problem {
        body.push_str(&format!("<p class=\"error\" role=\"alert\">{}</p>", esc(p)));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/login\" class=\"login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\
         <p><label>Token<br><input type=\"password\" name=\"token\" autocomplete=\"current-password\" required autofocus></label></p>\
         <p><button type=\"submit\">Log in</button></p></form>\
         <p class=\"muted\">The console's token is the value of the environment variable named by <code>[http] token_env</code> (or the output of <code>token_command</code>). The session cookie is marked Secure: browsers keep it on https and on localhost.</p>",
        esc(&ask.csrf),
        esc(next)
    ));
    Reply::Page(status, html::page("Log in", "", &ask.frame(), &body))
}
