//! `chat = [{ service = "…", … }]` in a rule: each destination checked at load, its
//! secrets (webhook URLs, tokens) read once to prove they are set, never kept.

use toml::Spanned;

use super::{ChatDoc, Errors};
use crate::action::chat::{Chat, SecretRef, Service, TELEGRAM_API};
use crate::config::{Secret, line_col};

/// A secret named by `<name>_env` / `<name>_command`: refused when unset or empty.
fn secret(
    errs: &mut Errors<'_>,
    span: std::ops::Range<usize>,
    what: &str,
    env: Option<String>,
    command: Option<String>,
) -> Option<(SecretRef, String)> {
    let s = Secret {
        password_env: env.clone(),
        password_command: command.clone(),
    };
    if !s.is_set() {
        return None;
    }
    match s.resolve() {
        Ok(Some(v)) if !v.trim().is_empty() => Some((SecretRef { env, command }, v)),
        Ok(_) => {
            errs.at(span, format!("{what}: the secret is empty"));
            None
        }
        Err(e) => {
            errs.at(span, format!("{what}: {e}"));
            None
        }
    }
}

fn http_url(errs: &mut Errors<'_>, what: &str, u: &Spanned<String>) -> Option<reqwest::Url> {
    match reqwest::Url::parse(u.get_ref()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
            Some(url)
        }
        _ => {
            errs.at(
                u.span(),
                format!("{what} {:?} is not an http(s) URL", u.get_ref()),
            );
            None
        }
    }
}

pub(super) fn chat(errs: &mut Errors<'_>, c: Spanned<ChatDoc>) -> Option<Chat> {
    let span = c.span();
    let (line, column) = line_col(errs.src, span.start);
    let origin = format!("{}:{line}:{column}", errs.file.display());
    let c = c.into_inner();
    let before = errs.list.len();
    let Some(service) = Service::parse(c.service.get_ref()) else {
        let names: Vec<&str> = Service::ALL.iter().map(|s| s.as_str()).collect();
        errs.at(
            c.service.span(),
            format!(
                "chat: service {:?} is not one of {}",
                c.service.get_ref(),
                names.join(", ")
            ),
        );
        return None;
    };
    let name = service.as_str();
    let what = format!("chat {name}");
    // Keys that belong to other services.
    let allowed: &[&str] = match service {
        s if s.url_is_secret() => &["url_env", "url_command"],
        Service::Ntfy => &["url", "token_env", "token_command"],
        Service::Matrix => &["homeserver", "room", "token_env", "token_command"],
        Service::Telegram => &["bot_token_env", "bot_token_command", "chat_id", "api_url"],
        _ => &[],
    };
    let given = [
        ("url", c.url.is_some()),
        ("url_env", c.url_env.is_some()),
        ("url_command", c.url_command.is_some()),
        ("token_env", c.token_env.is_some()),
        ("token_command", c.token_command.is_some()),
        ("homeserver", c.homeserver.is_some()),
        ("room", c.room.is_some()),
        ("bot_token_env", c.bot_token_env.is_some()),
        ("bot_token_command", c.bot_token_command.is_some()),
        ("chat_id", c.chat_id.is_some()),
        ("api_url", c.api_url.is_some()),
    ];
    for (key, set) in given {
        if !set || allowed.contains(&key) {
            continue;
        }
        if key == "url" && service.url_is_secret() {
            errs.at(
                c.url.as_ref().map_or(span.clone(), |u| u.span()),
                format!(
                    "{what}: a {name} webhook URL is a secret (whoever has it can post): put it in an environment variable and set url_env (or url_command)"
                ),
            );
        } else {
            errs.at(
                span.clone(),
                format!("{what}: {key} does not apply (use {})", allowed.join(", ")),
            );
        }
    }
    if errs.list.len() > before {
        return None;
    }
    let mut chat = Chat {
        service,
        shown: String::new(),
        url: None,
        url_secret: SecretRef::default(),
        token: SecretRef::default(),
        room: None,
        chat_id: None,
        origin,
    };
    match service {
        s if s.url_is_secret() => {
            let Some((r, url)) = secret(
                errs,
                span.clone(),
                &what,
                c.url_env.clone(),
                c.url_command.clone(),
            ) else {
                if errs.list.len() == before {
                    errs.at(
                        span,
                        format!("{what} needs url_env (or url_command): the webhook URL"),
                    );
                }
                return None;
            };
            let parsed = reqwest::Url::parse(url.trim())
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
            let Some(u) = parsed else {
                let by = c.url_env.as_deref().map_or("url_command".to_string(), |e| {
                    format!("environment variable {e}")
                });
                errs.at(span, format!("{what}: {by} does not hold an http(s) URL"));
                return None;
            };
            let by = c.url_env.clone().unwrap_or_else(|| "url_command".into());
            chat.shown = format!("{}/… ({by})", u.origin().ascii_serialization());
            chat.url_secret = r;
        }
        Service::Ntfy => {
            let Some(u) = c.url.as_ref() else {
                errs.at(
                    span,
                    format!("{what} needs url, the topic URL (e.g. https://ntfy.sh/mytopic)"),
                );
                return None;
            };
            let url = http_url(errs, &format!("{what}: url"), u)?;
            if url.path().trim_matches('/').is_empty() {
                errs.at(
                    u.span(),
                    format!("{what}: url {:?} names no topic", u.get_ref()),
                );
                return None;
            }
            if let Some((r, _)) = secret(errs, span.clone(), &what, c.token_env, c.token_command) {
                chat.token = r;
            }
            chat.shown = url.to_string();
            chat.url = Some(url.to_string());
        }
        Service::Matrix => {
            let (Some(h), Some(room)) = (c.homeserver.as_ref(), c.room.as_ref()) else {
                errs.at(
                    span,
                    format!(
                        "{what} needs homeserver (https://matrix.example) and room (!id:example)"
                    ),
                );
                return None;
            };
            let url = http_url(errs, &format!("{what}: homeserver"), h)?;
            if !room.get_ref().starts_with('!') || !room.get_ref().contains(':') {
                errs.at(
                    room.span(),
                    format!(
                        "{what}: room {:?} is not a room id (!opaque:server; in Element: Room settings, Advanced)",
                        room.get_ref()
                    ),
                );
                return None;
            }
            let Some((r, _)) = secret(errs, span.clone(), &what, c.token_env, c.token_command)
            else {
                if errs.list.len() == before {
                    errs.at(
                        span,
                        format!("{what} needs token_env (or token_command): the access token"),
                    );
                }
                return None;
            };
            chat.token = r;
            let base = url.as_str().trim_end_matches('/').to_string();
            chat.shown = format!("{base} {}", room.get_ref());
            chat.url = Some(base);
            chat.room = Some(room.get_ref().clone());
        }
        Service::Telegram => {
            let base = match c.api_url.as_ref() {
                Some(u) => http_url(errs, &format!("{what}: api_url"), u)?
                    .as_str()
                    .trim_end_matches('/')
                    .to_string(),
                None => TELEGRAM_API.to_string(),
            };
            let chat_id = match c.chat_id.as_ref().map(|v| v.get_ref()) {
                Some(toml::Value::Integer(i)) => i.to_string(),
                Some(toml::Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
                _ => {
                    errs.at(
                        c.chat_id.as_ref().map_or(span.clone(), |v| v.span()),
                        format!("{what} needs chat_id (a number such as -1001234567890, or @channelname)"),
                    );
                    return None;
                }
            };
            let Some((r, _)) = secret(
                errs,
                span.clone(),
                &what,
                c.bot_token_env,
                c.bot_token_command,
            ) else {
                if errs.list.len() == before {
                    errs.at(
                        span,
                        format!(
                            "{what} needs bot_token_env (or bot_token_command): the bot's token"
                        ),
                    );
                }
                return None;
            };
            chat.token = r;
            chat.shown = format!("{base}/bot…/sendMessage {chat_id}");
            chat.url = Some(base);
            chat.chat_id = Some(chat_id);
        }
        _ => return None,
    }
    Some(chat)
}
