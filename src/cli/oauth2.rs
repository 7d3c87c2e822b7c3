//! `mailroom oauth2 login ACCOUNT` (the first refresh token, written to the account's
//! `token_file`) and `mailroom providers` (the presets).

use std::time::Duration;

use super::{Context, EXIT_OK};
use crate::config::oauth2::{PROVIDERS, provider_names};
use crate::config::{OAuth2Config, parse_duration};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Sign in once and write the refresh token to the account's token_file: a code to
    /// enter on any device (Microsoft), or a browser sign-in on this machine (Google).
    Login {
        /// The `[[account]]` name, or `smtp` for the `[smtp]` login.
        account: String,
        /// How long to wait for the sign-in.
        #[arg(long, default_value = "10m")]
        wait: String,
    },
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<u8> {
    let Sub::Login { account, wait } = &args.command;
    let wait = parse_duration(wait).map_err(|e| anyhow::anyhow!("--wait: {e}"))?;
    let (oauth2, timeout): (&OAuth2Config, Duration) = if account == "smtp" {
        let s = ctx
            .config
            .smtp
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no [smtp] section in the config"))?;
        let o = s
            .oauth2
            .as_ref()
            .filter(|_| s.auth().is_oauth2())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "[smtp] does not log in with OAuth2: set auth = \"xoauth2\" and [smtp.oauth2]"
                )
            })?;
        (o, s.timeout)
    } else {
        let a = ctx
            .config
            .accounts
            .iter()
            .find(|a| &a.name == account)
            .ok_or_else(|| {
                let names: Vec<&str> = ctx
                    .config
                    .accounts
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect();
                anyhow::anyhow!(
                    "no [[account]] named {account:?} in the config (accounts: {}; or smtp)",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                )
            })?;
        let o = a.oauth2.as_ref().filter(|_| a.auth().is_oauth2()).ok_or_else(|| {
            anyhow::anyhow!(
                "account {account} does not log in with OAuth2: set auth = \"xoauth2\" (or a provider) and [account.oauth2]"
            )
        })?;
        (o, ctx.config.watch.command_timeout)
    };
    let Some(file) = &oauth2.token_file else {
        anyhow::bail!(
            "{account}: set token_file in its oauth2 table: the refresh token is written there"
        );
    };
    let file = ctx.config.resolve(file);
    let flow = oauth2.flow().ok_or_else(|| {
        anyhow::anyhow!(
            "{account}: set device_url (device sign-in) or auth_url (browser sign-in) in its oauth2 table, or a provider"
        )
    })?;
    // The token file is what this writes: it need not exist yet.
    let settings =
        oauth2.with_source(account, crate::oauth2::Source::File(file.clone()), timeout)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut say = |line: &str| eprintln!("{line}");
    let refresh = runtime.block_on(crate::oauth2::login::login(
        &settings, &flow, wait, &mut say,
    ))?;
    crate::oauth2::write_token_file(&file, &refresh).map_err(|e| anyhow::anyhow!(e))?;
    eprintln!(
        "Signed in: the refresh token is in {} (readable by you only). Next: mailroom check",
        file.display()
    );
    Ok(EXIT_OK)
}

#[derive(Debug, clap::Args)]
pub struct ProvidersArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn providers(args: &ProvidersArgs) -> anyhow::Result<u8> {
    if args.json {
        let list: Vec<serde_json::Value> = PROVIDERS
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name,
                    "imap": format!("{}:993 (implicit TLS)", p.imap_host),
                    "smtp": format!("{}:587 (STARTTLS)", p.smtp_host),
                    "auth": p.auth.as_str(),
                    "token_url": p.token_url,
                    "device_url": p.device_url,
                    "auth_url": p.auth_url,
                    "imap_scope": p.imap_scope,
                    "smtp_scope": p.smtp_scope,
                    "note": p.note,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(EXIT_OK);
    }
    for p in PROVIDERS {
        println!("{}", p.name);
        println!("  imap   {}:993, implicit TLS", p.imap_host);
        println!("  smtp   {}:587, STARTTLS", p.smtp_host);
        println!("  login  {}: {}", p.auth.as_str(), p.note);
    }
    eprintln!(
        "Use one with provider = \"NAME\" in an [[account]] or [smtp] ({}); keys you set win.",
        provider_names()
    );
    Ok(EXIT_OK)
}
