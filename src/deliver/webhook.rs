//! Webhook calls: POST of the event JSON, `X-Mailroom-Signature: sha256=<hex HMAC>` when
//! a secret is set, `Idempotency-Key: registrar:event_id`, a timeout, no redirects
//! followed, and only 2xx counted as delivered.

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
        let url = call["url"].as_str().unwrap_or_default();
        let body = call["body"].as_str().unwrap_or_default().to_string();
        let key = header_value(call["idempotency_key"].as_str().unwrap_or_default());
        let mut req = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", key);
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
        let resp = req.body(body).send().await.map_err(|e| {
            let down = e.is_connect();
            // The URL may carry a token in its query: errors never show it.
            let error = DeliveryError::transient(format!(
                "POST {}: {}",
                redact(url),
                self.failure(&e.without_url())
            ));
            // Not reached at all (DNS, connect, TLS): the host is down, not this URL.
            if down { error.unreachable() } else { error }
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let message = format!("POST {} answered {status}", redact(url));
        // A redirect is not followed; 4xx other than timeouts and rate limits will not
        // get better by retrying.
        if status.is_client_error() && ![408, 425, 429].contains(&status.as_u16())
            || status.is_redirection()
        {
            Err(DeliveryError::permanent(message))
        } else {
            Err(DeliveryError::transient(message))
        }
    }
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
