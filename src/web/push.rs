//! HTTP for the push receivers (`channel::push`): takes the token from the request
//! (`X-Mailroom-Token`, `Authorization: Bearer`, or `?token=`), reads the body within
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
    super::query(req)
        .into_iter()
        .find_map(|(k, v)| (k == "token").then_some(v))
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
    if let Err(refused) = endpoint.admit(&web.intake, peer, token_of(&req).as_deref()) {
        return answer(refused);
    }
    let body = match super::read_body(req, web.max_body).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return answer(endpoint.too_large(&web.intake, peer)),
        Err(BodyError::Unreadable) => return answer(PushOutcome::Unreadable),
    };
    answer(push::receive(&web.intake, endpoint, peer, body.to_vec()).await)
}
