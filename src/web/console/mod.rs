//! The web console: server-rendered HTML pages, no JavaScript. *Needs attention* (`/`),
//! *Events* (`/events`, one event at `/events/ID`), messages (`/messages/ID`, the raw
//! mail at `/messages/ID.eml`), *Quarantine*, *Outbox*, *Sources*, *Digests*.
//!
//! Security: with an `[http]` token every page wants a login (`/login` sets a session
//! cookie, see `auth`; `/logout` ends it on the server too); without one only a loopback
//! `Host` is answered (checked for every route in `web::route`: a page that rebinds its
//! own name to 127.0.0.1 cannot read the console). Pages only read; what
//! changes state (retry, reparse, acknowledge) is a POST carrying the form's CSRF token
//! from the console's own origin. Every page is sent with a Content-Security-Policy that
//! runs no script at all, and every stored value is escaped (`html::esc`).

mod actions;
mod attention;
mod chart;
mod domains;
mod events;
pub mod html;
mod login;
mod queues;
mod status;

use std::net::IpAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode};

use super::auth::{self, Session};
use super::{BodyError, Resp, Web};

/// Rows per page in lists.
pub(crate) const PAGE: u64 = 50;
/// The largest console form taken (they hold a token and a few ids).
const MAX_FORM: u64 = 16 << 10;

/// A console request, read: what the pages get (on a blocking thread).
pub(crate) struct Ask {
    pub post: bool,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
    pub csrf: String,
    pub logged_in: bool,
}

impl Ask {
    /// A query parameter, trimmed; empty when absent.
    pub fn param(&self, name: &str) -> &str {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The page frame for this request, with the confirmation of an action just done.
    pub fn frame(&self) -> html::Frame<'_> {
        html::Frame {
            csrf: &self.csrf,
            logged_in: self.logged_in,
            flash: actions::flash(self),
        }
    }
}

/// The page number asked for: 1 when absent or not a number, and never so large that
/// its first row could not be counted.
pub(crate) fn page_number(ask: &Ask) -> u64 {
    const MOST: u64 = u32::MAX as u64;
    match ask.param("page").parse::<u64>() {
        Ok(n) => n.clamp(1, MOST),
        Err(_)
            if !ask.param("page").is_empty()
                && ask.param("page").bytes().all(|b| b.is_ascii_digit()) =>
        {
            MOST
        }
        Err(_) => 1,
    }
}

/// What a page answers.
pub(crate) enum Reply {
    Page(StatusCode, String),
    /// 303 See Other to a local path (after a POST, or to the login).
    Redirect(String),
    /// A file to save (the raw message).
    Download {
        name: String,
        content_type: &'static str,
        bytes: Vec<u8>,
    },
}

impl Reply {
    /// A short page saying what went wrong.
    pub fn problem(status: StatusCode, title: &str, text: &str, ask: &Ask) -> Reply {
        let body = format!(
            "<h1>{}</h1><p class=\"error\">{}</p>",
            html::esc(title),
            html::esc(text)
        );
        Reply::Page(status, html::page(title, "", &ask.frame(), &body))
    }

    pub fn not_found(ask: &Ask) -> Reply {
        Reply::problem(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is nothing at this address.",
            ask,
        )
    }

    /// A database fault, in words (never Rust debug text).
    pub fn store_error(e: &crate::store::StoreError, ask: &Ask) -> Reply {
        tracing::error!(error = %e, path = %ask.path, "console: database");
        Reply::problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Database error",
            &format!("The database could not be read: {e}"),
            ask,
        )
    }
}

/// Headers on every console answer: no script, no framing, no sniffing, no caching,
/// no referrer.
fn secure(mut r: Resp) -> Resp {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn respond(reply: Reply, head_only: bool) -> Resp {
    let r = match reply {
        Reply::Page(status, page) => {
            super::with_type(status, page.into_bytes(), "text/html; charset=utf-8")
        }
        Reply::Redirect(to) => redirect(&to, None),
        Reply::Download {
            name,
            content_type,
            bytes,
        } => {
            let mut r = super::with_type(StatusCode::OK, bytes, content_type);
            // `name` is made here from a number: nothing to quote.
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
    };
    let mut r = secure(r);
    if head_only {
        *r.body_mut() = Default::default();
    }
    r
}

/// 303 to a local path, optionally setting a cookie.
pub(crate) fn redirect(to: &str, cookie: Option<&str>) -> Resp {
    let mut r = super::with_type(
        StatusCode::SEE_OTHER,
        Vec::new(),
        "text/plain; charset=utf-8",
    );
    let to = if is_local_path(to) { to } else { "/" };
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(c).ok()) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    secure(r)
}

/// A path on this server (`/…`, not `//host…`): where a redirect may go.
pub(crate) fn is_local_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains('\\')
        && !p.chars().any(char::is_control)
}

fn refuse(status: StatusCode, text: &str) -> Resp {
    let ask = Ask {
        post: false,
        path: String::new(),
        query: Vec::new(),
        form: Vec::new(),
        csrf: String::new(),
        logged_in: false,
    };
    respond(Reply::problem(status, "Refused", text, &ask), false)
}

/// The console's answer to a request refused before it was read (a `Host` that is not
/// a loopback name on a server without a token: see `web::route`).
pub(crate) fn refused(status: StatusCode, text: &str) -> Resp {
    refuse(status, text)
}

pub async fn handle(web: &Arc<Web>, peer: IpAddr, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    let session = auth::session(&req);
    if path == "/login" {
        return login::handle(web, peer, req, session).await;
    }
    let method = req.method().clone();
    if web.token.is_some() && session.is_none() {
        if method == Method::GET || method == Method::HEAD {
            let here = req
                .uri()
                .path_and_query()
                .map_or("/".to_string(), |p| p.to_string());
            return redirect(&format!("/login?next={}", html::pct(&here)), None);
        }
        return refuse(StatusCode::FORBIDDEN, "Log in first (at /login).");
    }
    let session: Option<Session> = if web.token.is_some() { session } else { None };
    let query = super::query(&req);
    let mut form = Vec::new();
    let head_only = method == Method::HEAD;
    if method == Method::POST {
        if auth::cross_site(&req) {
            return refuse(
                StatusCode::FORBIDDEN,
                "This request came from another site's page: refused.",
            );
        }
        match super::read_body(req, web.max_body.min(MAX_FORM)).await {
            Ok(body) => form = super::form(&String::from_utf8_lossy(&body)),
            Err(BodyError::TooLarge) => {
                return refuse(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.");
            }
            Err(BodyError::Unreadable) => {
                return refuse(StatusCode::BAD_REQUEST, "The form could not be read.");
            }
        }
        let given = form
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str());
        if !auth::csrf_ok(given, session.as_ref()) {
            return refuse(
                StatusCode::FORBIDDEN,
                "This form is stale or did not come from this console (its CSRF token does not match): reload the page and try again.",
            );
        }
        if path == "/logout" {
            return redirect("/login", Some(&auth::end_session(session.as_ref())));
        }
    } else if method != Method::GET && !head_only {
        let mut r = refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "The console takes GET for pages and POST for its forms.",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
        return r;
    }
    let ask = Ask {
        post: method == Method::POST,
        path,
        query,
        form,
        csrf: auth::csrf_token(session.as_ref()),
        logged_in: web.token.is_some(),
    };
    let web = Arc::clone(web);
    match tokio::task::spawn_blocking(move || {
        let reply = dispatch(&web, &ask);
        respond(reply, head_only)
    })
    .await
    {
        Ok(r) => r,
        Err(_) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The page failed to render; the log has the details.",
        ),
    }
}

fn dispatch(web: &Web, ask: &Ask) -> Reply {
    let segments: Vec<&str> = ask.path.trim_matches('/').split('/').collect();
    let id = |s: &str| s.parse::<i64>().ok();
    match (ask.post, segments.as_slice()) {
        (false, [""]) => attention::page(web, ask),
        (false, ["events"]) => events::list(web, ask),
        (false, ["domains"]) => domains::list(web, ask),
        (false, ["domains", name]) => match crate::web::percent_decode(name) {
            n if !n.trim().is_empty() && n.len() <= 253 * 4 => domains::page(web, ask, &n),
            _ => Reply::not_found(ask),
        },
        (false, ["events", n]) => match id(n) {
            Some(n) => events::detail(web, ask, n),
            None => Reply::not_found(ask),
        },
        (false, ["messages", n]) => match (n.strip_suffix(".eml").and_then(id), id(n)) {
            (Some(n), _) => events::raw(web, ask, n),
            (None, Some(n)) => events::message(web, ask, n),
            _ => Reply::not_found(ask),
        },
        (false, ["quarantine"]) => queues::quarantine(web, ask),
        (false, ["outbox"]) => queues::outbox(web, ask),
        (false, ["sources"]) => status::sources(web, ask),
        (false, ["digests"]) => status::digests(web, ask),
        (false, ["digests", "runs", n]) => match id(n) {
            Some(n) => status::run(web, ask, n),
            None => Reply::not_found(ask),
        },
        (true, ["events", n, "ack"]) => {
            id(n).map_or_else(|| Reply::not_found(ask), |n| actions::ack(web, ask, n))
        }
        (true, ["messages", n, "reparse"]) => id(n).map_or_else(
            || Reply::not_found(ask),
            |n| actions::reparse(web, ask, Some(n)),
        ),
        (true, ["quarantine", "reparse"]) => actions::reparse(web, ask, None),
        (true, ["outbox", n, "retry"]) => {
            id(n).map_or_else(|| Reply::not_found(ask), |n| actions::retry(web, ask, n))
        }
        // A link followed (or a page prefetched) never changes anything.
        (false, [.., "ack" | "reparse" | "retry"] | ["logout"]) => Reply::problem(
            StatusCode::FORBIDDEN,
            "Use the button",
            "This changes something, so it takes the button on the console's page (a POST with its form), not a link.",
            ask,
        ),
        _ => Reply::not_found(ask),
    }
}
