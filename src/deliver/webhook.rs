//! Webhook calls: POST of the event JSON, `X-Mailroom-Signature: sha256=<hex HMAC>` when
//! a secret is set, `Idempotency-Key: registrar:event_id`, a timeout, no redirects
//! followed, and only 2xx counted as delivered. Chat messages (`action::chat`) are calls
//! too, with their own method, headers, body and secrets (read only when sending). A 429
//! is a pause: `Retry-After` (or the service's own field) is honoured for the call and
//! for the rest of its destination's queue.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::DeliveryError;
use super::transport::Transport;
use crate::config::{Config, Secret};
use crate::secret::redact;
use crate::text::to_hex;

pub struct Hooks {
    client: reqwest::Client,
    timeout: std::time::Duration,
}

impl Hooks {
    pub fn from_config(config: &Config) -> Result<Hooks, DeliveryError> {
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.webhook.timeout)
            .user_agent(concat!("mailroom/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &config.webhook.ca_file {
            let path = config.resolve(ca);
            let pem = std::fs::read(&path).map_err(|e| {
                DeliveryError::config(format!("webhook ca_file {}: {e}", path.display()))
            })?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                DeliveryError::config(format!("webhook ca_file {}: {e}", path.display()))
            })?;
            b = b.add_root_certificate(cert);
        }
        let client = b
            .build()
            .map_err(|e| DeliveryError::config(format!("HTTP client: {e}")))?;
        Ok(Hooks {
            client,
            timeout: config.webhook.timeout,
        })
    }
}

impl Transport for Hooks {
    /// The call as queued: `url`, `body`, `idempotency_key`, and the secret's
    /// `secret_env` or `secret_command`.
    type Message = Value;

    async fn send(&self, call: &Value) -> Result<(), DeliveryError> {
        // `url` is what may be shown (a webhook's own URL, redacted in messages; a chat
        // destination's origin); the URL sent to may be a secret read only now.
        let shown = redact(call["url"].as_str().unwrap_or_default());
        let mut hidden: Vec<String> = Vec::new();
        let url = target_url(call, &mut hidden)?;
        let method = match call["method"].as_str() {
            Some("PUT") => reqwest::Method::PUT,
            _ => reqwest::Method::POST,
        };
        let verb = method.as_str().to_string();
        let body = call["body"].as_str().unwrap_or_default().to_string();
        let content_type = call["content_type"]
            .as_str()
            .unwrap_or("application/json")
            .to_string();
        let mut req = self
            .client
            .request(method, &url)
            .header("Content-Type", content_type);
        if let Some(key) = call["idempotency_key"].as_str() {
            req = req.header("Idempotency-Key", header_value(key));
        }
        for h in call["headers"].as_array().into_iter().flatten() {
            let (Some(k), Some(v)) = (h[0].as_str(), h[1].as_str()) else {
                continue;
            };
            let value = reqwest::header::HeaderValue::from_str(v).map_err(|_| {
                DeliveryError::permanent(format!("{verb} {shown}: header {k} is not sendable"))
            })?;
            req = req.header(k, value);
        }
        if let Some(token) = read_secret(&call["bearer"], "token")? {
            hidden.push(token.clone());
            req = req.bearer_auth(token);
        }
        let secret = Secret {
            password_env: call["secret_env"].as_str().map(str::to_string),
            password_command: call["secret_command"].as_str().map(str::to_string),
        };
        if secret.is_set() {
            let secret = secret
                .resolve()
                .map_err(|e| DeliveryError::transient(format!("webhook secret: {e}")))?
                .unwrap_or_default();
            req = req.header(
                "X-Mailroom-Signature",
                signature(secret.as_bytes(), body.as_bytes()),
            );
        }
        let hide = |text: String| {
            hidden
                .iter()
                .filter(|h| h.len() >= 4)
                .fold(text, |t, h| t.replace(h.as_str(), "…"))
        };
        let resp = req.body(body).send().await.map_err(|e| {
            let down = e.is_connect();
            // The URL may carry a token: errors never show it.
            let error = DeliveryError::transient(hide(format!(
                "{verb} {shown}: {}",
                self.failure(&e.without_url())
            )));
            // Not reached at all (DNS, connect, TLS): the host is down, not this URL.
            if down { error.unreachable() } else { error }
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let header_wait = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after_header);
        let answer = read_some(resp, 16 * 1024).await;
        let said = answer_words(&answer);
        let message = hide(match &said {
            Some(w) => format!("{verb} {shown} answered {status}: {w}"),
            None => format!("{verb} {shown} answered {status}"),
        });
        if status.as_u16() == 429 {
            let wait = header_wait.or_else(|| retry_after_body(&answer));
            return Err(DeliveryError::transient(message).rate_limited(wait));
        }
        // A redirect is not followed; 4xx other than timeouts and rate limits will not
        // get better by retrying.
        if status.is_client_error() && ![408, 425].contains(&status.as_u16())
            || status.is_redirection()
        {
            Err(DeliveryError::permanent(message))
        } else {
            Err(DeliveryError::transient(message))
        }
    }
}

/// The URL to send to: `send_url`, or `url_template` with `{secret}` replaced by the
/// secret of `url_secret` (or that secret itself), or `url`. Secrets read are added to
/// `hidden`, so no message shows them.
fn target_url(call: &Value, hidden: &mut Vec<String>) -> Result<String, DeliveryError> {
    if let Some(u) = call["send_url"].as_str() {
        return Ok(u.to_string());
    }
    if let Some(secret) = read_secret(&call["url_secret"], "webhook URL")? {
        let secret = secret.trim().to_string();
        hidden.push(secret.clone());
        return Ok(match call["url_template"].as_str() {
            Some(t) => t.replace("{secret}", &secret),
            None => secret,
        });
    }
    Ok(call["url"].as_str().unwrap_or_default().to_string())
}

/// A secret named in a queued call (`{"env": …, "command": …}`), read now.
fn read_secret(v: &Value, what: &str) -> Result<Option<String>, DeliveryError> {
    if !v.is_object() {
        return Ok(None);
    }
    let secret = Secret {
        password_env: v["env"].as_str().map(str::to_string),
        password_command: v["command"].as_str().map(str::to_string),
    };
    match secret.resolve() {
        Ok(Some(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
        Ok(_) => Err(DeliveryError::config(format!("the {what} is empty"))),
        Err(e) => Err(DeliveryError::config(format!("the {what}: {e}"))),
    }
}

/// `Retry-After`: seconds, or an HTTP date.
fn retry_after_header(v: &str) -> Option<std::time::Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<f64>() {
        return (s.is_finite() && s >= 0.0).then(|| std::time::Duration::from_secs_f64(s));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    (at.with_timezone(&chrono::Utc) - crate::clock::now())
        .to_std()
        .ok()
}

/// The wait a service puts in its 429 body: Discord's `retry_after` (seconds),
/// Telegram's `parameters.retry_after` (seconds), Matrix's `retry_after_ms`.
fn retry_after_body(body: &[u8]) -> Option<std::time::Duration> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let secs = v["retry_after"]
        .as_f64()
        .or_else(|| v["parameters"]["retry_after"].as_f64())
        .or_else(|| v["retry_after_ms"].as_f64().map(|ms| ms / 1000.0))?;
    (secs.is_finite() && secs >= 0.0).then(|| std::time::Duration::from_secs_f64(secs))
}

/// Up to `limit` bytes of an answer's body (what a service says went wrong).
async fn read_some(mut resp: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < limit {
        match tokio::time::timeout(std::time::Duration::from_secs(5), resp.chunk()).await {
            Ok(Ok(Some(c))) => out.extend_from_slice(&c[..c.len().min(limit - out.len())]),
            _ => break,
        }
    }
    out
}

/// A service's words about a refusal, on one line: its JSON error fields, or the text.
fn answer_words(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let words = match serde_json::from_slice::<Value>(body) {
        Ok(v) => ["description", "error", "errcode", "message", "code"]
            .iter()
            .filter_map(|k| match &v[*k] {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(": "),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let words = crate::term::printable(
        words
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .as_str(),
    )
    .to_string();
    (!words.is_empty()).then(|| crate::text::clip(&words, 200))
}

impl Hooks {
    /// Why a call got no answer, in words that tell the cases apart: nothing listening,
    /// no answer in time, a TLS failure (certificate, handshake), or another reason
    /// to connect (name not found, network down).
    fn failure(&self, e: &reqwest::Error) -> String {
        let innermost = crate::reason::innermost(e);
        if e.is_timeout() || chain_has_io(e, std::io::ErrorKind::TimedOut) {
            return format!(
                "timed out: no answer within {} s ([webhook] timeout)",
                self.timeout.as_secs_f64()
            );
        }
        if is_tls(e) {
            return format!("TLS failure: {innermost}");
        }
        if chain_has_io(e, std::io::ErrorKind::ConnectionRefused) {
            return "connection refused: nothing listens at that address".into();
        }
        if e.is_connect() {
            return format!("could not connect: {innermost}");
        }
        let outer = e.to_string();
        if outer == innermost {
            outer
        } else {
            format!("{outer}: {innermost}")
        }
    }
}

fn chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut out = vec![e];
    while let Some(next) = out.last().and_then(|e| e.source()) {
        out.push(next);
        if out.len() > 16 {
            break;
        }
    }
    out
}

fn chain_has_io(e: &reqwest::Error, kind: std::io::ErrorKind) -> bool {
    chain(e).iter().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == kind)
    })
}

/// A TLS error anywhere in the chain. The connector may box it into another error
/// type on the way, so its words are looked at too.
fn is_tls(e: &reqwest::Error) -> bool {
    use tokio_rustls::rustls;
    chain(e).iter().any(|e| {
        let text = e.to_string().to_ascii_lowercase();
        e.downcast_ref::<rustls::Error>().is_some()
            || e.downcast_ref::<std::io::Error>().is_some_and(|io| {
                io.get_ref()
                    .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            })
            || ["certificate", "tls", "handshake", "alert"]
                .iter()
                .any(|w| text.contains(w))
    })
}

/// `sha256=` + lowercase hex HMAC-SHA256 of the exact body bytes.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", to_hex(&mac.finalize().into_bytes()))
}

/// Event ids come from payloads: anything but visible ASCII is percent-encoded so a
/// header can never be split.
fn header_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x21..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `url`'s host answers: a TCP connection and, for https, a verified TLS
/// handshake (with `[webhook] ca_file`); no request is made. What `mailroom check` says.
pub async fn reachable(
    config: &Config,
    url: &str,
    timeout: std::time::Duration,
) -> Result<String, String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("{}: {e}", redact(url)))?;
    let host = u
        .host_str()
        .ok_or_else(|| format!("{}: no host", redact(url)))?
        .trim_matches(|c| c == '[' || c == ']')
        .to_string();
    let port = u
        .port_or_known_default()
        .ok_or_else(|| format!("{}: no port", redact(url)))?;
    let tcp = tokio::time::timeout(
        timeout,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .map_err(|_| format!("{host}:{port}: no answer within {} s", timeout.as_secs()))?
    .map_err(|e| format!("{host}:{port}: {}", crate::reason::io(&e)))?;
    if u.scheme() != "https" {
        return Ok(format!(
            "{host}:{port} reached (plain http); no request made"
        ));
    }
    let ca = config.webhook.ca_file.as_ref().map(|p| config.resolve(p));
    let client = crate::tls::client(ca.as_deref(), None)?;
    tokio::time::timeout(timeout, crate::tls::connect(tcp, &host, &client))
        .await
        .map_err(|_| format!("{host}:{port}: TLS handshake timed out"))?
        .map_err(|e| e.explain(&host))?;
    Ok(format!(
        "{host}:{port} reached, certificate valid; no request made"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn keys_and_urls_are_made_safe() {
        assert_eq!(
            header_value("gandi:sha256:ab\r\nX: y"),
            "gandi:sha256:ab%0D%0AX:%20y"
        );
        assert_eq!(
            redact("https://h.example/hook?token=s3cret"),
            "https://h.example/hook?…"
        );
    }
}
