//! HTTP for the push receivers (`channel::push`): takes the token from the request
//! (`X-Mailroom-Token`, `Authorization: Bearer`, the password of `Authorization:
//! Basic`, or `?token=`), reads the body within
//! `[http] max_body` once the push is admitted, and answers the channel's
//! [`PushOutcome`] with its status.

use std::net::IpAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};

use super::{BodyError, Resp, Web};
use crate::channel::push::{self, PushOutcome};

fn token_of(req: &Request<Incoming>) -> Option<String> {
    if let Some(t) = req
        .headers()
        .get("x-mailroom-token")
        .and_then(|v| v.to_str().ok())
    {
        return Some(t.trim().to_string());
    }
    if let Some(t) = super::auth::bearer(req) {
        return Some(t.to_string());
    }
    // `https://user:TOKEN@host/path`, as Amazon SNS sends credentials in a subscribed URL.
    if let Some(t) = basic_password(req) {
        return Some(t);
    }
    super::query(req)
        .into_iter()
        .find_map(|(k, v)| (k == "token").then_some(v))
}

fn basic_password(req: &Request<Incoming>) -> Option<String> {
    use base64::Engine;
    let v = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, rest) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, p)| p.to_string())
}

fn answer(outcome: PushOutcome) -> Resp {
    let status =
        StatusCode::from_u16(outcome.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    super::text(status, outcome.text())
}

/// Answers a request to receiver `i`.
pub async fn handle(web: &Arc<Web>, i: usize, peer: IpAddr, req: Request<Incoming>) -> Resp {
    let endpoint = &web.pushes[i];
    if req.method() != Method::POST {
        return super::text(StatusCode::METHOD_NOT_ALLOWED, "POST only");
    }
    if endpoint.has_token()
        && let Some(wait) = web.guesses.blocked(peer)
    {
        // Not counted as an answer of the receiver: a flood is not a push.
        return super::auth::too_many(wait, false);
    }
    let token = token_of(&req);
    if let Err(refused) = endpoint.admit(peer, token.as_deref()) {
        if refused == PushOutcome::Unauthorized && token.is_some() {
            // A guess: counted, and answered after a pause.
            web.guesses.wrong(peer);
            tokio::time::sleep(super::guesses::PAUSE).await;
        }
        return answer(refused);
    }
    let body = match super::read_body(req, web.max_body).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return answer(endpoint.too_large(peer)),
        Err(BodyError::Unreadable) => return answer(PushOutcome::Unreadable),
    };
    answer(push::receive(&web.intake, endpoint, peer, body.to_vec()).await)
}
