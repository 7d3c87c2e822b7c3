//! The first refresh token (`mailroom oauth2 login ACCOUNT`): the device-code flow (RFC
//! 8628) where the provider offers it (Microsoft), else the authorization-code flow with
//! PKCE (RFC 7636) and a loopback redirect (RFC 8252; Google). Prints what to open,
//! waits until a deadline, and returns the refresh token for the token file.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{EndpointError, OAuthError, Settings, classify, token_request};

/// How a provider lets a person sign in.
#[derive(Debug, Clone)]
pub enum Flow {
    /// RFC 8628: a code typed on another device.
    Device { device_url: String },
    /// RFC 7636 + RFC 8252: a browser on this machine, redirected to a loopback port.
    Browser { auth_url: String },
}

fn client(settings: &Settings) -> Result<reqwest::Client, OAuthError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .build()
        .map_err(|e| OAuthError::Setup {
            name: settings.name.clone(),
            reason: format!("HTTP client: {e}"),
        })
}

fn unreachable(s: &Settings, url: &str, reason: String) -> OAuthError {
    OAuthError::Unreachable {
        name: s.name.clone(),
        url: url.to_string(),
        reason,
    }
}

fn setup(s: &Settings, reason: impl Into<String>) -> OAuthError {
    OAuthError::Setup {
        name: s.name.clone(),
        reason: reason.into(),
    }
}

/// Runs `flow` and returns the refresh token; `say` gets the lines to show the person.
pub async fn login(
    settings: &Settings,
    flow: &Flow,
    deadline: Duration,
    say: &mut (dyn FnMut(&str) + Send),
) -> Result<String, OAuthError> {
    match flow {
        Flow::Device { device_url } => device(settings, device_url, deadline, say).await,
        Flow::Browser { auth_url } => browser(settings, auth_url, deadline, say).await,
    }
}

fn with_client<'a>(s: &'a Settings, form: &mut Vec<(&'a str, &'a str)>) {
    form.push(("client_id", &s.client_id));
    if let Some(secret) = &s.client_secret {
        form.push(("client_secret", secret));
    }
}

/// The refresh token from a token answer; a missing one says what to add.
fn refresh_of(s: &Settings, reply: (u16, Value)) -> Result<String, OAuthError> {
    let granted = super::granted(reply).map_err(|e| classify(s, e))?;
    granted.refresh.ok_or_else(|| {
        setup(
            s,
            "the provider gave no refresh token: add offline_access to scope (Microsoft) or \
             allow offline access for the app (Google)",
        )
    })
}

async fn device(
    s: &Settings,
    device_url: &str,
    deadline: Duration,
    say: &mut (dyn FnMut(&str) + Send),
) -> Result<String, OAuthError> {
    let http = client(s)?;
    let mut form = Vec::new();
    with_client(s, &mut form);
    if let Some(scope) = &s.scope {
        form.push(("scope", scope));
    }
    let (status, v) = token_request(&http, device_url, &form)
        .await
        .map_err(|r| unreachable(s, device_url, r))?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(device_code), Some(user_code)) = (text("device_code"), text("user_code")) else {
        return Err(classify(
            s,
            match text("error") {
                Some(code) => EndpointError::Oauth {
                    code,
                    description: text("error_description").unwrap_or_default(),
                },
                None => EndpointError::Other(format!(
                    "the device authorization endpoint {device_url} answered HTTP {status} without a code"
                )),
            },
        ));
    };
    // Google says verification_url; RFC 8628 says verification_uri.
    let uri = text("verification_uri")
        .or_else(|| text("verification_url"))
        .unwrap_or_default();
    let mut interval = Duration::from_secs(v.get("interval").and_then(Value::as_u64).unwrap_or(5));
    let expires = v
        .get("expires_in")
        .and_then(Value::as_u64)
        .map_or(deadline, Duration::from_secs)
        .min(deadline);
    say(&format!(
        "To sign in, open {} and enter the code {} (within {} minutes).",
        crate::term::printable(&uri),
        crate::term::printable(&user_code),
        expires.as_secs().div_ceil(60)
    ));
    let end = Instant::now() + expires;
    loop {
        if Instant::now() + interval > end {
            return Err(setup(
                s,
                "the code was not entered in time: run the login again",
            ));
        }
        tokio::time::sleep(interval).await;
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code.as_str()),
        ];
        with_client(s, &mut form);
        let reply = token_request(&http, &s.token_url, &form)
            .await
            .map_err(|r| unreachable(s, &s.token_url, r))?;
        let error = reply
            .1
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_string);
        match error.as_deref() {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += Duration::from_secs(5),
            Some("access_denied") => return Err(setup(s, "the sign-in was declined")),
            Some("expired_token") => {
                return Err(setup(s, "the code expired: run the login again"));
            }
            _ => return refresh_of(s, reply),
        }
    }
}

/// 32 bytes from the kernel's random source, as base64url: a PKCE verifier (43
/// characters) or a state value.
fn random_text() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The S256 challenge of a PKCE verifier (RFC 7636 §4.2).
pub fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn browser(
    s: &Settings,
    auth_url: &str,
    deadline: Duration,
    say: &mut (dyn FnMut(&str) + Send),
) -> Result<String, OAuthError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| setup(s, format!("no loopback port for the redirect: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| setup(s, format!("loopback port: {e}")))?
        .port();
    let redirect = format!("http://127.0.0.1:{port}/");
    let verifier = random_text().map_err(|e| setup(s, format!("/dev/urandom: {e}")))?;
    let state = random_text().map_err(|e| setup(s, format!("/dev/urandom: {e}")))?;
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", s.client_id.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("code_challenge_method", "S256"),
        ("state", state.as_str()),
        // Google gives a refresh token only when asked for offline access.
        ("access_type", "offline"),
        ("prompt", "consent"),
    ];
    let challenge = challenge(&verifier);
    params.push(("code_challenge", &challenge));
    if let Some(scope) = &s.scope {
        params.push(("scope", scope));
    }
    let url = reqwest::Url::parse_with_params(auth_url, &params)
        .map_err(|e| setup(s, format!("authorization URL {auth_url}: {e}")))?;
    say(&format!(
        "To sign in, open this address in a browser on this machine (within {} minutes):\n{url}",
        deadline.as_secs().div_ceil(60)
    ));
    let code = tokio::time::timeout(deadline, redirected(&listener, &state))
        .await
        .map_err(|_| setup(s, "no sign-in arrived in time: run the login again"))?
        .map_err(|e| setup(s, e))?;
    let http = client(s)?;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    with_client(s, &mut form);
    let reply = token_request(&http, &s.token_url, &form)
        .await
        .map_err(|r| unreachable(s, &s.token_url, r))?;
    refresh_of(s, reply)
}

/// Waits for the browser's redirect to the loopback port and returns its `code`;
/// requests without the right `state` are answered and ignored.
async fn redirected(listener: &tokio::net::TcpListener, state: &str) -> Result<String, String> {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let mut buf = vec![0u8; 8192];
        let n = match tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => continue,
        };
        let head = String::from_utf8_lossy(&buf[..n]);
        let target = head
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("/");
        let url = reqwest::Url::parse(&format!("http://127.0.0.1{target}"));
        let pairs: Vec<(String, String)> = url
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let (status, page, result) = match (get("state"), get("code"), get("error")) {
            (Some(st), Some(code), _) if st == state => (
                "200 OK",
                "Signed in: you can close this window.",
                Some(Ok(code)),
            ),
            (Some(st), _, Some(err)) if st == state => (
                "400 Bad Request",
                "The sign-in did not succeed: see the terminal.",
                Some(Err(format!(
                    "the provider answered the sign-in with {}",
                    crate::term::printable(&err)
                ))),
            ),
            _ => (
                "400 Bad Request",
                "Not the sign-in mailroom waits for.",
                None,
            ),
        };
        let reply = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
            page.len()
        );
        let _ = conn.write_all(reply.as_bytes()).await;
        let _ = conn.shutdown().await;
        if let Some(r) = result {
            return r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_rfc_7636s() {
        // RFC 7636 Appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let a = random_text().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_text().unwrap());
    }
}
