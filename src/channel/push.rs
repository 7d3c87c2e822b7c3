//! Registrar push (webhook) receivers on the embedded HTTP server (`[http]`,
//! `[[push]]`). A POST is answered 200 only after its body is stored and committed
//! through the one ingest path, so the registrar retries whatever was not: 401 a wrong
//! token, 403 a source outside `allow_from`, 413 a body over `[http] max_body`, 400 a
//! body with no notification (kept in quarantine with its bytes), 503 when the database
//! fails.

use std::net::IpAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};

use crate::config::{Config, Network, PushConfig};
use crate::source::Source;
use crate::store::{channels, cursors};
use crate::web::{BodyError, Resp, Web};

pub(crate) struct Endpoint {
    pub(crate) config: PushConfig,
    token: Option<String>,
    networks: Vec<Network>,
}

/// The configured receivers whose token resolves (one that does not is logged).
pub(crate) fn endpoints(config: &Config) -> Vec<Endpoint> {
    let mut endpoints = Vec::new();
    for p in &config.pushes {
        let token = match p.token().resolve() {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(source = %p.name, error = %format!("{e:#}"), "push receiver not started: token");
                continue;
            }
        };
        endpoints.push(Endpoint {
            networks: p.networks().unwrap_or_default(),
            config: p.clone(),
            token,
        });
    }
    endpoints
}

fn answer(status: StatusCode, text: &str) -> Resp {
    crate::web::text(status, text)
}

fn token_of(req: &Request<Incoming>) -> Option<String> {
    if let Some(t) = req
        .headers()
        .get("x-mailroom-token")
        .and_then(|v| v.to_str().ok())
    {
        return Some(t.trim().to_string());
    }
    if let Some(t) = crate::web::auth::bearer(req) {
        return Some(t.to_string());
    }
    crate::web::query(req)
        .into_iter()
        .find_map(|(k, v)| (k == "token").then_some(v))
}

/// Records an answer for `status`: accepted bodies as read messages, refusals as the
/// last error.
fn record(state: &Web, name: &str, outcome: Result<(), String>) {
    let store = state.store();
    let code = match &outcome {
        Ok(()) => "200",
        Err(e) => e
            .strip_prefix("HTTP ")
            .and_then(|r| r.get(..3))
            .unwrap_or("other"),
    };
    let _ = channels::add(store.conn(), name, &format!("answered {code}"), 1);
    let _ = match outcome {
        Ok(()) => cursors::read(store.conn(), name, "", 1)
            .and_then(|_| cursors::synced(store.conn(), name, "")),
        Err(e) => cursors::failed(store.conn(), name, "", &e),
    };
}

/// Answers a POST to receiver `i`.
pub(crate) async fn handle(
    state: &Arc<Web>,
    i: usize,
    peer: IpAddr,
    req: Request<Incoming>,
) -> Resp {
    let ep = &state.pushes[i];
    let name = ep.config.name.clone();
    if req.method() != Method::POST {
        return answer(StatusCode::METHOD_NOT_ALLOWED, "POST only");
    }
    if !ep.networks.is_empty() && !ep.networks.iter().any(|n| n.contains(peer)) {
        record(
            state,
            &name,
            Err(format!("HTTP 403: {peer} is not in allow_from")),
        );
        tracing::warn!(source = %name, %peer, "push refused: not in allow_from");
        return answer(StatusCode::FORBIDDEN, "forbidden");
    }
    if let Some(want) = &ep.token
        && !token_of(&req).is_some_and(|t| crate::web::auth::same(t.as_bytes(), want.as_bytes()))
    {
        record(
            state,
            &name,
            Err(format!("HTTP 401: wrong or missing token from {peer}")),
        );
        tracing::warn!(source = %name, %peer, "push refused: wrong or missing token");
        return answer(StatusCode::UNAUTHORIZED, "wrong or missing token");
    }
    let body = match crate::web::read_body(req, state.max_body).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            record(
                state,
                &name,
                Err("HTTP 413: body over [http] max_body".into()),
            );
            tracing::warn!(source = %name, %peer, "push refused: body too large");
            return answer(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
        }
        Err(BodyError::Unreadable) => {
            return answer(StatusCode::BAD_REQUEST, "the body could not be read");
        }
    };
    let raw = body.to_vec();
    let id = crate::store::hash_hex(&crate::store::content_hash(&raw))[..16].to_string();
    let source = Source::Push {
        name: name.clone(),
        id,
    };
    let st = Arc::clone(state);
    let stored = tokio::task::spawn_blocking(move || {
        let items = crate::pipeline::prepare(vec![(source, raw)], |hash| {
            let store = st.store();
            crate::store::is_known(store.conn(), hash).unwrap_or(false)
        });
        let mut store = st.store();
        crate::pipeline::ingest_batch(&mut store, &st.shared.config, &st.shared.rules, items, None)
    })
    .await;
    match stored {
        Ok(Ok(b)) => {
            state.shared.deliver.notify_one();
            if b.events_new == 0 && b.duplicates == 0 {
                record(
                    state,
                    &name,
                    Err("HTTP 400: no notification found in the body (kept in quarantine)".into()),
                );
                tracing::warn!(source = %name, %peer, "push: no notification found; quarantined");
                return answer(
                    StatusCode::BAD_REQUEST,
                    "no notification found (kept in quarantine)",
                );
            }
            record(state, &name, Ok(()));
            tracing::info!(source = %name, new_events = b.events_new, duplicates = b.duplicates, "pushed");
            answer(StatusCode::OK, "stored")
        }
        Ok(Err(e)) => {
            let msg = format!("database: {e}");
            tracing::error!(source = %name, error = %msg, "push not stored: answered 503");
            record(state, &name, Err(format!("HTTP 503: {msg}")));
            answer(StatusCode::SERVICE_UNAVAILABLE, "not stored, try again")
        }
        Err(_) => answer(StatusCode::SERVICE_UNAVAILABLE, "not stored, try again"),
    }
}
