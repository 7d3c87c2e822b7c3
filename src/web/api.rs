//! The event feed for downstream systems (`/api/v1/`): events in store order with a
//! cursor, and named consumers with server-side cursors (at-least-once, resumable).
//! Every event is the object `mailroom events --json` prints (DESIGN §3 plus its place
//! in the store); the cursors travel beside the events, in the envelope. How to use it:
//! docs/FEED.md.
//!
//! The bearer token (`auth::api`) is checked before these handlers run. What changes
//! state — making a consumer, acking, deleting one — must not be a GET (an `<img>` on
//! any page can send a GET): a POST of `application/json` (or a DELETE) whose `Origin`,
//! when sent, is this server; an HTML form on another site can send none of them.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};

use super::{BodyError, Resp, Web};
use crate::store::feed::{self, AckError, Created, Page};

pub async fn handle(web: &Arc<Web>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    let parts: Vec<&str> = path
        .trim_start_matches("/api/v1/")
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    if !path.starts_with("/api/v1/") {
        return error(
            StatusCode::NOT_FOUND,
            "no such API endpoint (see docs/FEED.md)",
        );
    }
    let method = req.method().clone();
    match parts.as_slice() {
        ["events"] => match only(&method, Method::GET) {
            Some(r) => r,
            None => events(web, &req).await,
        },
        ["consumers"] if method == Method::POST => create(web, req).await,
        ["consumers"] => match only(&method, Method::GET) {
            Some(r) => allow(r, "GET, HEAD, POST"),
            None => list(web).await,
        },
        ["consumers", name] => {
            let name = name.to_string();
            match only(&method, Method::DELETE) {
                Some(r) => r,
                None => delete(web, &name, &req).await,
            }
        }
        ["consumers", name, "poll"] => {
            let name = name.to_string();
            match only(&method, Method::GET) {
                Some(r) => r,
                None => poll(web, &name, &req).await,
            }
        }
        ["consumers", name, "ack"] => {
            let name = name.to_string();
            match only(&method, Method::POST) {
                Some(r) => r,
                None => ack(web, &name, req).await,
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "no such API endpoint (see docs/FEED.md)",
        ),
    }
}

/// `r` with `Allow: methods`.
fn allow(mut r: Resp, methods: &'static str) -> Resp {
    r.headers_mut().insert(
        hyper::header::ALLOW,
        hyper::header::HeaderValue::from_static(methods),
    );
    r
}

/// `{"error": "..."}` with its status.
fn error(status: StatusCode, message: &str) -> Resp {
    super::json(status, &json!({ "error": message }))
}

/// 405 unless the request uses `allowed`.
fn only(method: &Method, allowed: Method) -> Option<Resp> {
    if *method == allowed || (allowed == Method::GET && *method == Method::HEAD) {
        return None;
    }
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("use {allowed} for this endpoint"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(allowed.as_str()) {
        r.headers_mut().insert(hyper::header::ALLOW, v);
    }
    Some(r)
}

/// Runs a database step off the async threads (a writer may hold the lock a while).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crate::store::Result<T> + Send + 'static,
) -> Result<T, Box<Resp>> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "event feed: database");
            Err(Box::new(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database could not be read; try again",
            )))
        }
        Err(_) => Err(Box::new(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
        ))),
    }
}

/// `limit` from the query: default 100, at most 1000.
fn limit(req: &Request<Incoming>) -> Result<usize, Box<Resp>> {
    match super::query(req).into_iter().find(|(k, _)| k == "limit") {
        None => Ok(feed::DEFAULT_LIMIT),
        Some((_, v)) => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n.min(feed::MAX_LIMIT)),
            _ => Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                &format!("limit must be a number from 1 to {}", feed::MAX_LIMIT),
            ))),
        },
    }
}

fn page_json(page: &Page) -> Value {
    json!({
        "events": page.events,
        "cursors": page.events.iter().map(|e| feed::encode(e.id)).collect::<Vec<_>>(),
        "next": feed::encode(page.next),
        "more": page.more,
    })
}

/// `GET /api/v1/events?after=CURSOR&limit=N`
async fn events(web: &Arc<Web>, req: &Request<Incoming>) -> Resp {
    let limit = match limit(req) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    let after = super::query(req)
        .into_iter()
        .find(|(k, _)| k == "after")
        .map(|(_, v)| v)
        .unwrap_or_default();
    let Some(after) = feed::decode(&after) else {
        return error(
            StatusCode::BAD_REQUEST,
            "after is not a cursor this server gave out (pass the \"next\" of the previous page, or leave it out to start at the beginning)",
        );
    };
    let web = Arc::clone(web);
    match blocking(move || feed::page(&web.reader()?, after, limit)).await {
        Ok(page) => super::json(StatusCode::OK, &page_json(&page)),
        Err(r) => *r,
    }
}

fn bad_name(name: &str) -> Option<Resp> {
    (!feed::valid_name(name)).then(|| {
        error(
            StatusCode::BAD_REQUEST,
            "a consumer name is 1 to 64 letters, digits, '.', '_' or '-'",
        )
    })
}

/// `GET /api/v1/consumers`
async fn list(web: &Arc<Web>) -> Resp {
    let web = Arc::clone(web);
    match blocking(move || feed::consumers(&web.reader()?)).await {
        Ok(c) => super::json(StatusCode::OK, &json!({ "consumers": c })),
        Err(r) => *r,
    }
}

/// `GET /api/v1/consumers/NAME/poll?limit=N`
async fn poll(web: &Arc<Web>, name: &str, req: &Request<Incoming>) -> Resp {
    if let Some(r) = bad_name(name) {
        return r;
    }
    let limit = match limit(req) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    let (w, n) = (Arc::clone(web), name.to_string());
    match blocking(move || feed::poll(w.store().db(), &n, limit)).await {
        Ok(Some(page)) => {
            let mut v = page_json(&page);
            v["consumer"] = Value::String(name.to_string());
            super::json(StatusCode::OK, &v)
        }
        Ok(None) => unknown(name),
        Err(r) => *r,
    }
}

/// 404 for a consumer that was never made, saying how to make it.
fn unknown(name: &str) -> Resp {
    error(
        StatusCode::NOT_FOUND,
        &format!(
            "no consumer named {name}: make it first with POST /api/v1/consumers and the body {{\"name\": \"{name}\"}} (see docs/FEED.md)"
        ),
    )
}

/// Refuses what a page on another site could make a browser send: an `Origin` naming
/// another server, or a body that is not JSON.
fn forged(req: &Request<Incoming>, body: bool) -> Option<Resp> {
    if !same_origin(req) {
        return Some(error(
            StatusCode::FORBIDDEN,
            "cross-site request refused: the Origin header does not name this server",
        ));
    }
    if body && !is_json(req) {
        return Some(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as Content-Type: application/json",
        ));
    }
    None
}

/// A JSON body's object, or the answer saying what is wrong with it.
async fn json_body(web: &Web, req: Request<Incoming>) -> Result<Value, Box<Resp>> {
    let body = match super::read_body(req, web.max_body).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return Err(Box::new(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body over [http] max_body",
            )));
        }
        Err(BodyError::Unreadable) => {
            return Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                "the body could not be read",
            )));
        }
    };
    Ok(serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null))
}

/// `POST /api/v1/consumers` with `{"name": "..."}`: 201 made, 200 it existed, 409 when
/// there are as many as are kept.
async fn create(web: &Arc<Web>, req: Request<Incoming>) -> Resp {
    if let Some(r) = forged(&req, true) {
        return r;
    }
    let body = match json_body(web, req).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some(name) = body.get("name").and_then(Value::as_str).map(str::to_string) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object with \"name\": the consumer's name",
        );
    };
    if let Some(r) = bad_name(&name) {
        return r;
    }
    let w = Arc::clone(web);
    match blocking(move || feed::create(w.store().db(), &name)).await {
        Ok(Created::New(c)) => super::json(StatusCode::CREATED, &json!({ "consumer": c })),
        Ok(Created::Existing(c)) => super::json(StatusCode::OK, &json!({ "consumer": c })),
        Ok(Created::Full) => error(
            StatusCode::CONFLICT,
            &format!(
                "there are {} consumers already, as many as this server keeps: delete one no longer used (DELETE /api/v1/consumers/NAME; GET /api/v1/consumers lists them)",
                feed::MAX_CONSUMERS
            ),
        ),
        Err(r) => *r,
    }
}

/// `DELETE /api/v1/consumers/NAME`
async fn delete(web: &Arc<Web>, name: &str, req: &Request<Incoming>) -> Resp {
    if let Some(r) = bad_name(name).or_else(|| forged(req, false)) {
        return r;
    }
    let (w, n) = (Arc::clone(web), name.to_string());
    match blocking(move || feed::delete(w.store().db(), &n)).await {
        Ok(true) => super::json(StatusCode::OK, &json!({ "deleted": name })),
        Ok(false) => unknown(name),
        Err(r) => *r,
    }
}

/// The request comes from this server's own pages or from a program, not from another
/// site: no `Origin`, or one naming the `Host` it was sent to.
fn same_origin(req: &Request<Incoming>) -> bool {
    let Some(origin) = req.headers().get(hyper::header::ORIGIN) else {
        return true;
    };
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin = origin.to_str().unwrap_or("");
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    authority.is_some_and(|a| !host.is_empty() && a.eq_ignore_ascii_case(host))
}

fn is_json(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// `POST /api/v1/consumers/NAME/ack` with `{"cursor": "..."}`
async fn ack(web: &Arc<Web>, name: &str, req: Request<Incoming>) -> Resp {
    if let Some(r) = bad_name(name).or_else(|| forged(&req, true)) {
        return r;
    }
    let body = match json_body(web, req).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let cursor = body
        .get("cursor")
        .and_then(Value::as_str)
        .map(str::to_string);
    let Some(cursor) = cursor else {
        return error(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object with \"cursor\": the cursor of the last event handled",
        );
    };
    let Some(position) = feed::decode(&cursor) else {
        return error(
            StatusCode::BAD_REQUEST,
            "cursor is not one this server gave out",
        );
    };
    let (w, n) = (Arc::clone(web), name.to_string());
    match blocking(move || feed::ack(w.store().db(), &n, position)).await {
        Ok(Ok(c)) => super::json(StatusCode::OK, &json!({ "consumer": c })),
        Ok(Err(AckError::Unknown)) => unknown(name),
        Ok(Err(AckError::Beyond { last })) => error(
            StatusCode::CONFLICT,
            &format!(
                "cursor is beyond the newest event ({}): acknowledge only cursors you were served",
                feed::encode(last)
            ),
        ),
        Err(r) => *r,
    }
}
