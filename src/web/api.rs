//! The event feed for downstream systems (`/api/v1/`): events in store order with a
//! cursor, and named consumers with server-side cursors (at-least-once, resumable).

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::{Resp, Web};

pub async fn handle(_web: &Web, _req: Request<Incoming>) -> Resp {
    super::json(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"error": "no such API endpoint"}),
    )
}
