//! Who may use the console and the API. On a loopback address without `[http]
//! token_env` anyone local may (through a loopback `Host` only: [`loopback_host`]);
//! otherwise the API wants `Authorization: Bearer TOKEN` and the console a login (a form
//! setting a secure cookie; see `console`). Wrong tokens are slowed and limited per
//! address (`guesses`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use sha2::{Digest, Sha256};

use crate::text::to_hex;

use super::{Resp, Web};

pub use crate::secret::same;

/// The bearer token of a request, if any.
pub fn bearer(req: &Request<Incoming>) -> Option<&str> {
    req.headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// 429 for an address that guessed wrong too often, saying when to try again.
pub fn too_many(wait: std::time::Duration, json: bool) -> Resp {
    let secs = wait.as_secs().max(1);
    let text = format!(
        "too many wrong tokens from this address: try again in {secs} s (the token is the value of the variable [http] token_env names)"
    );
    let mut r = if json {
        super::json(
            StatusCode::TOO_MANY_REQUESTS,
            &serde_json::json!({ "error": text }),
        )
    } else {
        super::text(StatusCode::TOO_MANY_REQUESTS, &text)
    };
    if let Ok(v) = hyper::header::HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(hyper::header::RETRY_AFTER, v);
    }
    r
}

/// Lets an API request through, or answers 401 (a wrong token after a pause) or 429.
pub async fn api(web: &Web, peer: IpAddr, req: &Request<Incoming>) -> Result<(), Box<Resp>> {
    let Some(want) = &web.token else {
        return Ok(());
    };
    if let Some(wait) = web.guesses.blocked(peer) {
        return Err(Box::new(too_many(wait, true)));
    }
    match bearer(req) {
        Some(t) if token_matches(t, want) => return Ok(()),
        Some(_) => {
            web.guesses.wrong(peer);
            tracing::warn!(%peer, "API: a request with a wrong token");
            tokio::time::sleep(super::guesses::PAUSE).await;
        }
        None => {}
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

// ---------------------------------------------------------------------------
// The console: a login form that sets a session cookie, and CSRF tokens.
//
// A session cookie is `ID.EXPIRES.MAC`: a random id, when it ends (Unix seconds) and an
// HMAC-SHA256 of both under a key drawn at random when the process starts. It never
// holds the token, and it dies with the process (a restart asks for a new login). The
// CSRF token of a form is an HMAC of the session id (of a fixed word without a login).

/// The console's session cookie.
pub const COOKIE: &str = "mailroom_session";
/// How long a login lasts.
const SESSION_HOURS: i64 = 12;

/// This process's secret key for sessions and CSRF tokens.
fn key() -> &'static [u8; 32] {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        let read = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut k));
        if read.is_err() {
            // No kernel randomness: still unpredictable from outside, if weaker.
            tracing::warn!("/dev/urandom unreadable: console session key from a weaker source");
            for (i, b) in k.iter_mut().enumerate() {
                *b = fastrand::u8(..) ^ (std::process::id() >> (i % 4 * 8)) as u8;
            }
        }
        k
    })
}

fn mac(parts: &[&[u8]]) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key()).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
        m.update(b"\0");
    }
    to_hex(&m.finalize().into_bytes())
}

fn random_id() -> String {
    // Derived from the secret key and a counter: unpredictable without the key.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    mac(&[
        b"session",
        &n.to_le_bytes(),
        &fastrand::u64(..).to_le_bytes(),
    ])[..32]
        .to_string()
}

/// A logged-in console user.
#[derive(Debug, Clone)]
pub struct Session {
    id: String,
}

/// Whether `given` is the `[http]` token (compared as digests: equal in time whatever
/// the length or the first difference). Nothing matches an empty token.
pub fn token_matches(given: &str, want: &str) -> bool {
    !given.is_empty()
        && !want.is_empty()
        && same(
            &Sha256::digest(given.as_bytes()),
            &Sha256::digest(want.as_bytes()),
        )
}

/// Sessions started by this process and not ended, with when each expires: a cookie
/// counts only while its session is here, so a logout ends it on the server too (a
/// copy of the cookie kept elsewhere is worth nothing after it).
fn live_sessions() -> &'static Mutex<HashMap<String, i64>> {
    static LIVE: std::sync::OnceLock<Mutex<HashMap<String, i64>>> = std::sync::OnceLock::new();
    LIVE.get_or_init(Default::default)
}

/// Sessions kept at most (each needs a login with the token); the oldest go first.
const MAX_SESSIONS: usize = 10_000;

/// A new session: the `Set-Cookie` value that starts it.
pub fn start_session() -> String {
    let id = random_id();
    let expires = (crate::clock::now() + chrono::Duration::hours(SESSION_HOURS)).timestamp();
    {
        let mut live = live_sessions().lock().unwrap_or_else(|e| e.into_inner());
        let now = crate::clock::now().timestamp();
        live.retain(|_, until| *until > now);
        if live.len() >= MAX_SESSIONS
            && let Some(oldest) = live
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(k, _)| k.clone())
        {
            live.remove(&oldest);
        }
        live.insert(id.clone(), expires);
    }
    let value = format!(
        "{id}.{expires}.{}",
        mac(&[b"cookie", id.as_bytes(), expires.to_string().as_bytes()])
    );
    format!(
        "{COOKIE}={value}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        SESSION_HOURS * 3600
    )
}

/// Ends `session` on the server; the `Set-Cookie` value that ends it in the browser.
pub fn end_session(session: Option<&Session>) -> String {
    if let Some(s) = session {
        live_sessions()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&s.id);
    }
    format!("{COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
}

/// The session a request's cookie proves, if any.
pub fn session(req: &Request<Incoming>) -> Option<Session> {
    let value = req
        .headers()
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, v)| v.to_string())?;
    let mut parts = value.splitn(3, '.');
    let (id, expires, given) = (parts.next()?, parts.next()?, parts.next()?);
    let want = mac(&[b"cookie", id.as_bytes(), expires.as_bytes()]);
    if !same(given.as_bytes(), want.as_bytes()) {
        return None;
    }
    let expires: i64 = expires.parse().ok()?;
    let live = live_sessions()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(id)
        .is_some_and(|until| *until == expires);
    (live && expires > crate::clock::now().timestamp()).then(|| Session { id: id.to_string() })
}

/// The CSRF token forms carry for this session (or for a console without login).
pub fn csrf_token(session: Option<&Session>) -> String {
    let whose = session.map_or("anonymous", |s| s.id.as_str());
    mac(&[b"csrf", whose.as_bytes()])
}

/// Whether a form's `csrf` field is the one this session's forms carry.
pub fn csrf_ok(given: Option<&str>, session: Option<&Session>) -> bool {
    given.is_some_and(|g| same(g.as_bytes(), csrf_token(session).as_bytes()))
}

/// A request from another site's page: its `Origin` names a host other than the one
/// asked (`Host`, or `X-Forwarded-Host` from a proxy in front), or the browser says it
/// is cross-site. No `Origin` (an old browser, a script) is let through: the CSRF token
/// decides then.
pub fn cross_site(req: &Request<Incoming>) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|s| s == "cross-site") {
        return true;
    }
    let Some(origin) = header("origin") else {
        return false;
    };
    let Some(authority) = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'))
    else {
        return true;
    };
    // A page cannot set X-Forwarded-Host on a form it makes a browser send elsewhere.
    let asked = [header("host"), header("x-forwarded-host")];
    !asked
        .into_iter()
        .flatten()
        .flat_map(|h| h.split(','))
        .any(|h| h.trim().eq_ignore_ascii_case(authority))
}

/// Whether a `Host` header names this machine's loopback interface. Without a token the
/// console answers only such requests: a page elsewhere that rebinds its own name to
/// 127.0.0.1 (DNS rebinding) then still cannot read it.
pub fn loopback_host(host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:8025",
            "127.0.0.1:9",
            "[::1]:8025",
            "127.3.4.5",
        ] {
            assert!(loopback_host(Some(h)), "{h}");
        }
        for h in [
            "evil.example:8025",
            "10.0.0.1",
            "[fe80::1]:80",
            "localhost.evil.example",
        ] {
            assert!(!loopback_host(Some(h)), "{h}");
        }
        assert!(!loopback_host(None));
    }

    #[test]
    fn csrf_tokens_differ_per_session() {
        let a = Session { id: "a".into() };
        let b = Session { id: "b".into() };
        assert!(csrf_ok(Some(&csrf_token(Some(&a))), Some(&a)));
        assert!(!csrf_ok(Some(&csrf_token(Some(&a))), Some(&b)));
        assert!(!csrf_ok(Some(&csrf_token(None)), Some(&a)));
        assert!(!csrf_ok(None, None));
        assert!(token_matches("t0ken", "t0ken"));
        assert!(!token_matches("t0ke", "t0ken"));
        assert!(!token_matches("", ""), "an empty token matches nothing");
    }
}
