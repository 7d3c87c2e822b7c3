//! IMAP login with an OAuth2 access token: `AUTHENTICATE XOAUTH2` or `AUTHENTICATE
//! OAUTHBEARER` (RFC 7628). The tokens of an account are shared by all its connections
//! (one cache per account and settings), fetched again when due and once more after the
//! server refused one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_imap::{Client, Session};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::{AccountConfig, Auth, Config};
use crate::oauth2::{OAuthError, Tokens};

/// Why the login failed (`connect` words it).
#[derive(Debug)]
pub enum Failure {
    /// No token: the settings or the provider.
    Token(OAuthError),
    /// The server refused a fresh token too (mechanism, the server's error).
    Refused(&'static str, async_imap::error::Error),
    /// No answer within the command timeout (mechanism).
    Timeout(&'static str),
}

/// The first answer is the initial response; an error challenge afterwards is answered
/// as the mechanism asks (XOAUTH2: empty; OAUTHBEARER: a single %x01, RFC 7628
/// §3.2.3), so the server ends with its refusal.
struct Sasl {
    initial: Option<String>,
    abort: &'static str,
}

impl async_imap::Authenticator for Sasl {
    type Response = String;

    fn process(&mut self, _challenge: &[u8]) -> String {
        self.initial
            .take()
            .unwrap_or_else(|| self.abort.to_string())
    }
}

/// The token source of `account`, made once per account and settings.
fn tokens(config: &Config, account: &AccountConfig) -> Result<Arc<Tokens>, OAuthError> {
    static ALL: OnceLock<Mutex<HashMap<String, Arc<Tokens>>>> = OnceLock::new();
    let setup = |reason: String| OAuthError::Setup {
        name: account.name.clone(),
        reason,
    };
    let o = account.oauth2.clone().unwrap_or_default();
    // Settings that change (a SIGHUP) give a new source.
    let key = format!(
        "{}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}",
        account.name, o.token_url, o.client_id, o.token_file, o.scope
    );
    let mut all = ALL
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(t) = all.get(&key) {
        return Ok(Arc::clone(t));
    }
    let settings = o
        .settings(
            &account.name,
            |p| config.resolve(p),
            config.watch.command_timeout,
        )
        .map_err(|e| setup(format!("{e:#}")))?;
    let t = Arc::new(Tokens::new(settings)?);
    all.insert(key, Arc::clone(&t));
    Ok(t)
}

/// Logs `client` in with a token; after a refusal, once more with a fresh one.
pub async fn login<T>(
    config: &Config,
    account: &AccountConfig,
    port: u16,
    client: Client<T>,
    limit: Duration,
) -> Result<Session<T>, Failure>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let tokens = tokens(config, account).map_err(Failure::Token)?;
    let mut client = client;
    let mut retried = false;
    loop {
        let token = tokens.access_token().await.map_err(Failure::Token)?;
        let (mechanism, initial) = match account.auth() {
            Auth::Oauthbearer => (
                "OAUTHBEARER",
                crate::oauth2::oauthbearer(&account.username, &account.host, port, &token),
            ),
            _ => ("XOAUTH2", crate::oauth2::xoauth2(&account.username, &token)),
        };
        let sasl = Sasl {
            initial: Some(initial),
            abort: if mechanism == "OAUTHBEARER" {
                "\u{1}"
            } else {
                ""
            },
        };
        match tokio::time::timeout(limit, client.authenticate(mechanism, sasl)).await {
            Ok(Ok(session)) => return Ok(session),
            Ok(Err((_, back))) if !retried => {
                // Revoked or ended early: once more with a new token.
                retried = true;
                tokens.invalidate().await;
                client = back;
            }
            Ok(Err((e, _))) => return Err(Failure::Refused(mechanism, e)),
            Err(_) => return Err(Failure::Timeout(mechanism)),
        }
    }
}
