//! How an account (or `[smtp]`) logs in: `auth = "password"` (the default),
//! `"xoauth2"` or `"oauthbearer"` with an `[….oauth2]` table, and the provider presets
//! (`provider = "microsoft365"`) that fill hosts, ports, the login method and the
//! OAuth2 endpoints and scopes. A key set explicitly always wins over the preset.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::Secret;
use crate::oauth2::login::Flow;
use crate::oauth2::{Settings, Source};

/// How a login proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    /// LOGIN/PLAIN with a password.
    #[default]
    Password,
    /// SASL XOAUTH2 (Google, Microsoft) with an OAuth2 access token.
    Xoauth2,
    /// SASL OAUTHBEARER (RFC 7628) with an OAuth2 access token.
    Oauthbearer,
}

impl Auth {
    pub fn as_str(self) -> &'static str {
        match self {
            Auth::Password => "password",
            Auth::Xoauth2 => "xoauth2",
            Auth::Oauthbearer => "oauthbearer",
        }
    }

    pub fn is_oauth2(self) -> bool {
        self != Auth::Password
    }
}

/// `[account.oauth2]` / `[smtp.oauth2]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Config {
    /// The token endpoint (https; http only on a loopback address). Preset default.
    pub token_url: Option<String>,
    /// The device authorization endpoint (RFC 8628), for `mailroom oauth2 login`.
    pub device_url: Option<String>,
    /// The authorization endpoint (browser sign-in with PKCE), for `mailroom oauth2
    /// login` where the provider offers no device flow.
    pub auth_url: Option<String>,
    pub client_id: Option<String>,
    /// Environment variable holding the client secret (public clients have none).
    pub client_secret_env: Option<String>,
    /// Command printing the client secret.
    pub client_secret_command: Option<String>,
    /// Scopes, space-separated. Preset default.
    pub scope: Option<String>,
    /// JSON file `{"refresh_token": "…"}` written by `mailroom oauth2 login`; rotated
    /// refresh tokens are saved back to it (mode 0600).
    pub token_file: Option<PathBuf>,
    /// Environment variable holding a refresh token (read-only).
    pub refresh_token_env: Option<String>,
    /// Command printing a refresh token.
    pub refresh_token_command: Option<String>,
    /// Command printing an access token (an external helper), instead of the above.
    pub access_token_command: Option<String>,
}

/// A provider's settings, filled in where the config leaves them out.
#[derive(Debug, Clone, Copy)]
pub struct Provider {
    pub name: &'static str,
    pub imap_host: &'static str,
    pub smtp_host: &'static str,
    /// The login method when the config names none.
    pub auth: Auth,
    pub token_url: Option<&'static str>,
    pub device_url: Option<&'static str>,
    pub auth_url: Option<&'static str>,
    pub imap_scope: Option<&'static str>,
    pub smtp_scope: Option<&'static str>,
    /// What to say about logging in.
    pub note: &'static str,
}

/// Every preset: IMAP on 993 with implicit TLS, SMTP on 587 with STARTTLS.
pub const PROVIDERS: &[Provider] = &[
    Provider {
        name: "microsoft365",
        imap_host: "outlook.office365.com",
        smtp_host: "smtp.office365.com",
        auth: Auth::Xoauth2,
        token_url: Some("https://login.microsoftonline.com/common/oauth2/v2.0/token"),
        device_url: Some("https://login.microsoftonline.com/common/oauth2/v2.0/devicecode"),
        auth_url: Some("https://login.microsoftonline.com/common/oauth2/v2.0/authorize"),
        imap_scope: Some("https://outlook.office.com/IMAP.AccessAsUser.All offline_access"),
        smtp_scope: Some("https://outlook.office.com/SMTP.Send offline_access"),
        note: "OAuth2 only (password login is off): register an app in Entra ID, then mailroom oauth2 login",
    },
    Provider {
        name: "gmail",
        imap_host: "imap.gmail.com",
        smtp_host: "smtp.gmail.com",
        auth: Auth::Xoauth2,
        token_url: Some("https://oauth2.googleapis.com/token"),
        device_url: None,
        auth_url: Some("https://accounts.google.com/o/oauth2/v2/auth"),
        imap_scope: Some("https://mail.google.com/"),
        smtp_scope: Some("https://mail.google.com/"),
        note: "OAuth2 (a Google Cloud OAuth client, desktop app), or auth = \"password\" with an app password",
    },
    Provider {
        name: "fastmail",
        imap_host: "imap.fastmail.com",
        smtp_host: "smtp.fastmail.com",
        auth: Auth::Password,
        token_url: None,
        device_url: None,
        auth_url: None,
        imap_scope: None,
        smtp_scope: None,
        note: "an app password (Settings → Privacy & Security → App passwords)",
    },
    Provider {
        name: "icloud",
        imap_host: "imap.mail.me.com",
        smtp_host: "smtp.mail.me.com",
        auth: Auth::Password,
        token_url: None,
        device_url: None,
        auth_url: None,
        imap_scope: None,
        smtp_scope: None,
        note: "an app-specific password (appleid.apple.com); the username is the address without @icloud.com for IMAP",
    },
    Provider {
        name: "yahoo",
        imap_host: "imap.mail.yahoo.com",
        smtp_host: "smtp.mail.yahoo.com",
        auth: Auth::Password,
        token_url: None,
        device_url: None,
        auth_url: None,
        imap_scope: None,
        smtp_scope: None,
        note: "an app password (Account security → Generate app password)",
    },
];

pub fn provider(name: &str) -> Option<&'static Provider> {
    PROVIDERS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The provider names, for messages.
pub fn provider_names() -> String {
    PROVIDERS
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl OAuth2Config {
    /// Fills what `p` knows and the table leaves out.
    pub fn fill(&mut self, p: &Provider, smtp: bool) {
        let set = |v: &mut Option<String>, d: Option<&str>| {
            if v.is_none() {
                *v = d.map(str::to_string);
            }
        };
        set(&mut self.token_url, p.token_url);
        set(&mut self.device_url, p.device_url);
        set(&mut self.auth_url, p.auth_url);
        set(
            &mut self.scope,
            if smtp { p.smtp_scope } else { p.imap_scope },
        );
    }

    /// What is missing or wrong, as (key, reason): checked at load.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if self.access_token_command.is_some() {
            return None;
        }
        let Some(url) = &self.token_url else {
            return Some((
                "oauth2",
                "OAuth2 needs token_url (or a provider preset, or access_token_command)".into(),
            ));
        };
        if let Err(e) = crate::config::check_api_url(url) {
            return Some(("token_url", format!("token_url {url}: {e}")));
        }
        if self
            .client_id
            .as_deref()
            .is_none_or(|c| c.trim().is_empty())
        {
            return Some(("oauth2", "OAuth2 needs client_id".into()));
        }
        let sources = [
            self.token_file.is_some(),
            self.refresh_token_env.is_some(),
            self.refresh_token_command.is_some(),
        ];
        match sources.iter().filter(|s| **s).count() {
            0 => Some((
                "oauth2",
                "OAuth2 needs token_file (written by mailroom oauth2 login), refresh_token_env, refresh_token_command or access_token_command".into(),
            )),
            1 => None,
            _ => Some((
                "token_file",
                "set only one of token_file, refresh_token_env and refresh_token_command".into(),
            )),
        }
    }

    fn client_secret(&self) -> Secret {
        Secret {
            password_env: self.client_secret_env.clone(),
            password_command: self.client_secret_command.clone(),
        }
    }

    /// The token source's settings, secrets read; `resolve` makes a path absolute
    /// (beside the config file).
    pub fn settings(
        &self,
        name: &str,
        resolve: impl Fn(&std::path::Path) -> PathBuf,
        timeout: Duration,
    ) -> anyhow::Result<Settings> {
        let source = if let Some(cmd) = &self.access_token_command {
            Source::AccessCommand(cmd.clone())
        } else if let Some(f) = &self.token_file {
            Source::File(resolve(f))
        } else {
            let secret = Secret {
                password_env: self.refresh_token_env.clone(),
                password_command: self.refresh_token_command.clone(),
            };
            match secret.resolve()? {
                Some(t) if !t.trim().is_empty() => Source::Fixed(t.trim().to_string()),
                _ => anyhow::bail!("{name}: the OAuth2 refresh token is empty"),
            }
        };
        self.with_source(name, source, timeout)
    }

    /// The settings with `source` for the tokens (`mailroom oauth2 login` writes the
    /// token file rather than reading it).
    pub fn with_source(
        &self,
        name: &str,
        source: Source,
        timeout: Duration,
    ) -> anyhow::Result<Settings> {
        let client_secret = match self.client_secret().resolve()? {
            Some(s) if s.trim().is_empty() => {
                anyhow::bail!("{name}: the OAuth2 client secret is empty")
            }
            other => other.map(|s| s.trim().to_string()),
        };
        Ok(Settings {
            name: name.to_string(),
            token_url: self.token_url.clone().unwrap_or_default(),
            client_id: self.client_id.clone().unwrap_or_default(),
            client_secret,
            scope: self.scope.clone(),
            source,
            timeout,
        })
    }

    /// How `mailroom oauth2 login` signs in: the device flow where there is one.
    pub fn flow(&self) -> Option<Flow> {
        if let Some(device_url) = &self.device_url {
            return Some(Flow::Device {
                device_url: device_url.clone(),
            });
        }
        self.auth_url.as_ref().map(|auth_url| Flow::Browser {
            auth_url: auth_url.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preset_fills_only_what_is_left_out() {
        let m365 = provider("Microsoft365").unwrap();
        let mut o = OAuth2Config {
            client_id: Some("app".into()),
            scope: Some("custom".into()),
            token_file: Some("t.json".into()),
            ..OAuth2Config::default()
        };
        o.fill(m365, false);
        assert_eq!(o.scope.as_deref(), Some("custom"));
        assert_eq!(o.token_url.as_deref(), m365.token_url);
        assert!(matches!(o.flow(), Some(Flow::Device { .. })));
        assert!(o.problem().is_none());
        let mut g = OAuth2Config::default();
        g.fill(provider("gmail").unwrap(), true);
        assert!(matches!(g.flow(), Some(Flow::Browser { .. })));
        assert_eq!(g.problem().unwrap().1, "OAuth2 needs client_id");
        g.token_url = Some("http://login.example/token".into());
        g.client_id = Some("x".into());
        assert_eq!(g.problem().unwrap().0, "token_url");
    }
}
