//! `/metrics` (Prometheus text format), `/healthz` (process up) and `/readyz`
//! (database writable, every source connected within its interval).

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::{Resp, Web};

pub async fn handle(_web: &Web, req: Request<Incoming>) -> Resp {
    match req.uri().path() {
        "/healthz" => super::text(StatusCode::OK, "ok"),
        _ => super::text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// Figures only the running process knows (latencies), kept while it runs and
/// rendered by `/metrics`. Shared by every task of the service.
#[derive(Default)]
pub struct Live {}
