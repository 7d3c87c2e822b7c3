//! Client sockets from a chosen loopback address (127.0.0.2, …), so one test can play
//! several clients of the HTTP server: an attacker's slow sockets from one address, a
//! health check from another.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A TCP connection from `local` (an address on the loopback interface, any port) to
/// `127.0.0.1:port`.
pub fn connect_from(local: &str, port: u16) -> std::io::Result<TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(format!("{local}:0").parse().expect("an IPv4 address"))?;
        socket.connect(([127, 0, 0, 1], port).into()).await
    })?;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// One HTTP/1.1 GET from `local` (see [`super::http`] for the reply), with `headers`
/// (whole lines ending in CRLF).
pub fn http_from(local: &str, port: u16, target: &str, headers: &str) -> super::HttpReply {
    let mut s = connect_from(local, port).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Connection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP reply to GET {target}: {raw:?}"));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {head:?}"));
    super::HttpReply {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    }
}
