//! The web console: server-rendered HTML pages, no JavaScript needed.

use std::net::IpAddr;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::{Resp, Web};

pub async fn handle(_web: &Web, _peer: IpAddr, _req: Request<Incoming>) -> Resp {
    super::text(StatusCode::NOT_FOUND, "not found")
}
