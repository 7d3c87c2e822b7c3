//! Accepting connections for the HTTP server, on a runtime of its own, within limits
//! that keep it answering (`/healthz` above all) whatever clients or the database do:
//!
//! - Request headers must arrive within [`HEADER_TIMEOUT`], counted from when the
//!   server starts waiting for them: a silent client, a slowloris trickling headers, and
//!   an idle keep-alive connection all give their slot back after it.
//! - A body must arrive within `BODY_TIMEOUT` (`web::read_body`).
//! - An answer the client stops reading is given up after [`WRITE_STALL`] without
//!   progress ([`Stalling`]).
//! - A request being worked on is never cut: there is no limit on a connection's age,
//!   so a keep-alive client polling the feed for hours keeps its connection.
//! - [`PER_CLIENT`] connections per address (an IPv6 /64), [`MAX_CONNECTIONS`] in all:
//!   one address cannot take every slot; another's health check still gets one.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{Web, guesses};
use crate::ingest::intake::Intake;
use crate::shutdown::Shutdown;

/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 256;
/// Connections one client address may hold; more are answered 503 and closed.
const PER_CLIENT: usize = 16;
/// The whole request head must arrive within this (and the next request of a kept-alive
/// connection must begin within it).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// An answer the client takes no byte of for this long is given up.
const WRITE_STALL: Duration = Duration::from_secs(30);
/// Threads for database work of the HTTP server at most (each holds a connection).
const BLOCKING_THREADS: usize = 32;

/// Serves `[http] listen` until shutdown, on a connection of its own to the database.
///
/// The server runs on a runtime of its own, on two threads of its own: whatever holds
/// the service's runtime threads (a channel or delivery waiting minutes for the
/// database's write lock that another process holds) cannot keep `/healthz` from
/// answering. Its own database work runs on its own blocking threads.
pub async fn serve(intake: Intake, shutdown: Shutdown) {
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .max_blocking_threads(BLOCKING_THREADS)
                .thread_name("http")
                .enable_all()
                .build();
            match runtime {
                Ok(rt) => {
                    rt.block_on(run(intake, shutdown));
                    // Pushes being stored finish; nothing waits longer than this.
                    rt.shutdown_timeout(Duration::from_secs(5));
                }
                Err(e) => tracing::error!(error = %e, "HTTP server not started: no runtime"),
            }
            let _ = done.send(());
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "HTTP server not started: no thread");
        return;
    }
    let _ = finished.await;
}

async fn run(intake: Intake, mut shutdown: Shutdown) {
    let config = Arc::clone(&intake.config);
    let token = match config.http.token().resolve_token() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "HTTP server not started: [http] token");
            return;
        }
    };
    let intake = match tokio::task::spawn_blocking(move || intake.connect()).await {
        Ok(Ok(i)) => i,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "HTTP server: cannot open the database");
            return;
        }
        Err(_) => return,
    };
    let pushes = crate::channel::push::endpoints(&config, &intake);
    let listener = match tokio::net::TcpListener::bind(&config.http.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(listen = %config.http.listen, error = %e, "HTTP server cannot listen");
            return;
        }
    };
    tracing::info!(listen = %config.http.listen, receivers = pushes.len(), "HTTP server listening");
    let web = Arc::new(Web {
        intake,
        token,
        max_body: config.http.max_body,
        pushes,
        guesses: guesses::Guesses::default(),
        messages: Default::default(),
    });
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let clients = Arc::new(Clients::default());
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = shutdown.recv() => return,
        };
        let (stream, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept");
                    if shutdown.sleep(Duration::from_millis(100)).await { return; }
                    continue;
                }
            },
            _ = shutdown.recv() => return,
        };
        let Some(seat) = clients.enter(peer.ip()) else {
            // Never waits: a client that does not read this is simply closed.
            let _ = stream.try_write(BUSY);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let web = Arc::clone(&web);
        tokio::spawn(async move {
            let (_permit, _seat) = (permit, seat);
            let service = hyper::service::service_fn(move |req| {
                let web = Arc::clone(&web);
                async move { Ok::<_, Infallible>(super::route(web, peer.ip(), req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(Stalling::new(stream)), service)
                .await;
        });
    }
}

/// What a client over [`PER_CLIENT`] connections is told before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 5\r\nConnection: close\r\nContent-Length: 55\r\n\r\ntoo many connections from this address: try again later";

/// Open connections per client address.
#[derive(Default)]
struct Clients(Mutex<HashMap<IpAddr, usize>>);

/// One of a client's connections; gives the seat back when dropped.
struct Seat {
    clients: Arc<Clients>,
    client: IpAddr,
}

impl Clients {
    fn enter(self: &Arc<Self>, peer: IpAddr) -> Option<Seat> {
        let client = guesses::client(peer);
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(client).or_insert(0);
        if *n >= PER_CLIENT {
            return None;
        }
        *n += 1;
        Some(Seat {
            clients: Arc::clone(self),
            client,
        })
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut open = self.clients.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// A connection whose writes fail after [`WRITE_STALL`] without progress: a client that
/// stops reading its answer gives its connection back.
struct Stalling<T> {
    io: T,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> Stalling<T> {
    fn new(io: T) -> Self {
        Stalling { io, stalled: None }
    }

    /// Passes a write's result on; a write pending for too long becomes an error.
    fn watch<R>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if r.is_ready() {
            self.stalled = None;
            return r;
        }
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(WRITE_STALL)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading the answer",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Stalling<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Stalling<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.watch(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.watch(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_flush(cx);
        self.watch(cx, r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_at_most_its_share_of_connections_and_gets_them_back() {
        let clients = Arc::new(Clients::default());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let seats: Vec<Seat> = (0..PER_CLIENT).map(|_| clients.enter(a).unwrap()).collect();
        assert!(clients.enter(a).is_none());
        assert!(clients.enter("192.0.2.2".parse().unwrap()).is_some());
        drop(seats);
        assert!(clients.enter(a).is_some());
        assert_eq!(
            BUSY.len() - BUSY.windows(4).position(|w| w == b"\r\n\r\n").unwrap() - 4,
            55
        );
    }
}
