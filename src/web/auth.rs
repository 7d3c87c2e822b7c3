//! Who may use the console and the API. On a loopback address without `[http]
//! token_env` anyone local may; otherwise the API wants `Authorization: Bearer TOKEN`
//! and the console a login (a form setting a secure cookie; see `console`).

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::{Resp, Web};

/// Equal in time whatever the first difference (tokens are compared this way).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The bearer token of a request, if any.
pub fn bearer(req: &Request<Incoming>) -> Option<&str> {
    req.headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Lets an API request through, or answers 401.
pub fn api(web: &Web, req: &Request<Incoming>) -> Result<(), Box<Resp>> {
    let Some(want) = &web.token else {
        return Ok(());
    };
    if bearer(req).is_some_and(|t| same(t.as_bytes(), want.as_bytes())) {
        return Ok(());
    }
    let mut r = super::json(
        StatusCode::UNAUTHORIZED,
        &serde_json::json!({"error": "wrong or missing token: send Authorization: Bearer <the token in [http] token_env>"}),
    );
    r.headers_mut().insert(
        hyper::header::WWW_AUTHENTICATE,
        hyper::header::HeaderValue::from_static("Bearer realm=\"mailroom\""),
    );
    Err(Box::new(r))
}
