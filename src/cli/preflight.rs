//! What a long-running service would only find out in flight, refused at start
//! (`watch`, `watch --once`, `rules check`): a rules folder that does not exist, secrets
//! that cannot be read, CA files that are not there; and [`maildirs`] that are not
//! there. Each reason names the file, line and column of the setting that fixes it. A
//! rules folder with no rule is a warning.

use std::path::Path;

use super::Context;
use crate::config::Secret;
use crate::rules::RuleSet;

/// The rule set for the service, after every check; all problems reported at once.
pub fn service_rules(ctx: &Context) -> anyhow::Result<RuleSet> {
    let config = &ctx.config;
    let dir = config.rules_dir();
    if !dir.exists() {
        let at = config.position("rules", None, &dir.display().to_string());
        anyhow::bail!(
            "{at}: rules folder {} does not exist (create it, or set rules = \"…\" in the config to the folder of your rule files)",
            dir.display()
        );
    }
    // A rules path that is a file says so (Context::rules).
    let rules = ctx.rules()?;
    if rules.rules.is_empty() && rules.digests.is_empty() {
        tracing::warn!(
            folder = %dir.display(),
            "the rules folder holds no rule: events are stored, but nothing is forwarded, posted or collected"
        );
    }
    let mut problems = Vec::new();
    if let Some(smtp) = &config.smtp
        && smtp.host.is_some()
    {
        if smtp.auth().is_oauth2() {
            oauth2_ready(ctx, "[smtp]", "smtp", smtp.oauth2.as_ref(), &mut problems);
        } else if smtp.username.is_some() || smtp.password().is_set() {
            secret(ctx, "[smtp]", &smtp.password(), &mut problems);
        }
        ca_file(ctx, "[smtp]", smtp.ca_file.as_deref(), &mut problems);
    }
    for a in &config.accounts {
        let what = format!("account {}", a.name);
        if a.auth().is_oauth2() {
            oauth2_ready(ctx, &what, &a.name, a.oauth2.as_ref(), &mut problems);
            ca_file(ctx, &what, a.ca_file.as_deref(), &mut problems);
            continue;
        }
        if !a.password().is_set() {
            problems.push(format!(
                "{}: {what} has no password: set password_env or password_command",
                config.position("name", Some(&format!("\"{}\"", a.name)), "config")
            ));
        }
        secret(ctx, &what, &a.password(), &mut problems);
        ca_file(ctx, &what, a.ca_file.as_deref(), &mut problems);
    }
    for p in &config.pushes {
        ca_file(
            ctx,
            &format!("push {}", p.name),
            p.ca_file.as_deref(),
            &mut problems,
        );
    }
    // Registrar API keys and push tokens: (what, secret, the keys that may name it).
    // Tokens (the last field true) must not be empty: empty is no token at all.
    type Named<'a> = (
        String,
        Secret,
        Vec<(&'static str, &'a Option<String>)>,
        bool,
    );
    let mut api_secrets: Vec<Named<'_>> = Vec::new();
    for p in &config.polls {
        api_secrets.push((
            format!("poll {}", p.name),
            p.secret(),
            vec![
                ("key_env", &p.key_env),
                ("key_command", &p.key_command),
                ("password_env", &p.password_env),
                ("password_command", &p.password_command),
            ],
            false,
        ));
    }
    for p in &config.pushes {
        api_secrets.push((
            format!("push {}", p.name),
            p.token(),
            vec![
                ("token_env", &p.token_env),
                ("token_command", &p.token_command),
            ],
            true,
        ));
    }
    if config.http.present || !config.pushes.is_empty() {
        api_secrets.push((
            "[http] token".to_string(),
            config.http.token(),
            vec![
                ("token_env", &config.http.token_env),
                ("token_command", &config.http.token_command),
            ],
            true,
        ));
    }
    for (what, s, keys, token) in api_secrets {
        let read = if token {
            s.resolve_token()
        } else {
            s.resolve()
        };
        if let Err(e) = read {
            let at = keys
                .iter()
                .find_map(|(key, v)| {
                    let v = v.as_deref()?;
                    let quoted = format!("\"{v}\"");
                    Some(config.position(key, key.ends_with("_env").then_some(&*quoted), "config"))
                })
                .unwrap_or_else(|| "config".into());
            let why = e.to_string();
            let reason = if why.ends_with("is empty") || why.ends_with("printed nothing") {
                empty_token(&s, &why)
            } else {
                explain(&s, &why)
            };
            problems.push(format!("{at}: {what}: {reason}"));
        }
    }
    // The probe needs the key from the start; without a probe only `mailroom gandi` does.
    if let Some(g) = &config.gandi
        && g.probe.is_some()
        && let Some(problem) = g.apikey_problem(config)
    {
        problems.push(problem);
    }
    ca_file(
        ctx,
        "[webhook]",
        config.webhook.ca_file.as_deref(),
        &mut problems,
    );
    for r in &rules.rules {
        if let Some(w) = &r.webhook {
            let s = Secret {
                password_env: w.secret_env.clone(),
                password_command: w.secret_command.clone(),
            };
            if let Err(e) = s.resolve() {
                problems.push(format!(
                    "{}: rule {:?}: webhook secret: {}",
                    w.origin,
                    r.name,
                    explain(&s, &e.to_string())
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        anyhow::bail!("{}", problems.join("\n"))
    }
}

/// An OAuth2 login's secrets are set and its token file is there (else: sign in).
fn oauth2_ready(
    ctx: &Context,
    what: &str,
    login_name: &str,
    o: Option<&crate::config::OAuth2Config>,
    problems: &mut Vec<String>,
) {
    let Some(o) = o else { return };
    for s in [
        Secret {
            password_env: o.client_secret_env.clone(),
            password_command: o.client_secret_command.clone(),
        },
        Secret {
            password_env: o.refresh_token_env.clone(),
            password_command: o.refresh_token_command.clone(),
        },
    ] {
        if s.is_set() {
            secret(ctx, what, &s, problems);
        }
    }
    if let Some(file) = &o.token_file
        && o.access_token_command.is_none()
    {
        let path = ctx.config.resolve(file);
        if let Err(e) = crate::oauth2::read_token_file(&path) {
            problems.push(format!(
                "{}: {what}: {}",
                ctx.config.position("token_file", None, "config"),
                e.replace(
                    "run `mailroom oauth2 login` to create it",
                    &format!("run `mailroom oauth2 login {login_name}` to create it")
                )
            ));
        }
    }
}

/// Each `[[maildir]]` folder that is not there, with the config line to fix. Fatal
/// where a run would only read nothing (`watch --once`, `rules check`); the service
/// warns and keeps retrying, as it does for a server that is down (a mount may come
/// later).
pub fn maildirs(config: &crate::config::Config) -> Vec<String> {
    let mut problems = Vec::new();
    for m in &config.maildirs {
        let path = config.resolve(&m.path);
        let problem = match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => "is a file, not a folder".to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist".to_string(),
            Err(e) => format!("cannot be read: {}", crate::reason::io(&e)),
        };
        let at = config.position("path", Some(&m.path.display().to_string()), "config");
        problems.push(format!(
            "{at}: [[maildir]] {}: folder {} {problem} (set path to the folder your notification mail is delivered to)",
            m.name,
            path.display()
        ));
    }
    problems
}

fn secret(ctx: &Context, what: &str, s: &Secret, problems: &mut Vec<String>) {
    if let Err(e) = s.resolve() {
        let at = match (&s.password_env, &s.password_command) {
            (Some(var), _) => {
                ctx.config
                    .position("password_env", Some(&format!("\"{var}\"")), "config")
            }
            (None, Some(_)) => ctx.config.position("password_command", None, "config"),
            _ => "config".into(),
        };
        problems.push(format!("{at}: {what}: {}", explain(s, &e.to_string())));
    }
}

/// The reason, with what to do about it.
fn explain(s: &Secret, error: &str) -> String {
    match &s.password_env {
        Some(var) => format!(
            "environment variable {var} is not set (set it in the service's environment, or use a *_command instead)"
        ),
        None => error.to_string(),
    }
}

/// Why an empty token is refused, and what to do.
fn empty_token(s: &Secret, why: &str) -> String {
    let (setting, fix) = match &s.password_env {
        Some(var) => (
            format!("token_env = \"{var}\""),
            format!("set {var} to a long random value (openssl rand -hex 32)"),
        ),
        None => (
            "token_command".to_string(),
            "make token_command print the token on its first line".to_string(),
        ),
    };
    format!(
        "{setting}: {why}: an empty token would let anyone in, so mailroom does not start with one; {fix}"
    )
}

fn ca_file(ctx: &Context, what: &str, file: Option<&Path>, problems: &mut Vec<String>) {
    let Some(file) = file else { return };
    let path = ctx.config.resolve(file);
    if let Err(e) = std::fs::metadata(&path) {
        let at = ctx
            .config
            .position("ca_file", Some(&file.display().to_string()), "config");
        problems.push(format!(
            "{at}: {what}: ca_file {}: {} (set ca_file to the PEM file of the CA that signed the server's certificate)",
            path.display(),
            crate::reason::io(&e)
        ));
    }
}
