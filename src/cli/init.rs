//! `mailroom init`: a commented `mailroom.toml` and a `rules/` folder for one mailbox,
//! asked for on a terminal or given by flags; it refuses to overwrite anything. Then it
//! runs `check` on what it wrote and says the next command.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::{Context, EXIT_OK};
use crate::config::oauth2::{provider, provider_names};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A preset (microsoft365, gmail, fastmail, icloud, yahoo; `mailroom providers`).
    #[arg(long)]
    provider: Option<String>,
    /// The IMAP server, when no provider preset fits.
    #[arg(long)]
    host: Option<String>,
    /// The mailbox's login (usually its address).
    #[arg(long)]
    username: Option<String>,
    /// The folder the registrars' mail arrives in.
    #[arg(long, default_value = "INBOX")]
    folder: String,
    /// Where forwards of important events go.
    #[arg(long)]
    forward_to: Option<String>,
    /// The OAuth2 app's client id (Microsoft 365, Gmail).
    #[arg(long)]
    client_id: Option<String>,
    /// Where to write mailroom.toml and rules/.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Write the files without running `check` afterwards.
    #[arg(long)]
    no_check: bool,
}

/// What the files are made from.
struct Answers {
    provider: Option<String>,
    host: Option<String>,
    username: String,
    folder: String,
    forward_to: String,
    client_id: Option<String>,
}

fn ask(question: &str, default: Option<&str>) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    loop {
        match default {
            Some(d) => eprint!("{question} [{d}]: "),
            None => eprint!("{question}: "),
        }
        std::io::stderr().flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            anyhow::bail!("no answer (end of input): give the value as a flag instead");
        }
        let line = line.trim();
        match (line.is_empty(), default) {
            (false, _) => return Ok(line.to_string()),
            (true, Some(d)) => return Ok(d.to_string()),
            (true, None) => eprintln!("  (an answer is needed)"),
        }
    }
}

fn answers(args: &Args) -> anyhow::Result<Answers> {
    let interactive = std::io::stdin().is_terminal();
    let need = |value: &Option<String>, flag: &str| -> anyhow::Result<Option<String>> {
        match value {
            Some(v) => Ok(Some(v.clone())),
            None if interactive => Ok(None),
            None => anyhow::bail!("--{flag} is required when not run on a terminal"),
        }
    };
    let mut provider_name = args.provider.clone();
    let mut host = args.host.clone();
    if provider_name.is_none() && host.is_none() {
        if !interactive {
            anyhow::bail!("--provider or --host is required when not run on a terminal");
        }
        let answer = ask(
            &format!(
                "Mail provider ({}, or the IMAP server's name)",
                provider_names()
            ),
            Some("microsoft365"),
        )?;
        if provider(&answer).is_some() {
            provider_name = Some(answer);
        } else {
            host = Some(answer);
        }
    }
    if let Some(p) = &provider_name
        && provider(p).is_none()
    {
        anyhow::bail!("unknown provider {p:?} (known: {})", provider_names());
    }
    let username = match need(&args.username, "username")? {
        Some(u) => u,
        None => ask("Mailbox address (the login)", None)?,
    };
    let folder = args.folder.clone();
    let forward_to = match need(&args.forward_to, "forward-to")? {
        Some(f) => f,
        None => ask("Where forwards of important events go (an address)", None)?,
    };
    let oauth = provider_name
        .as_deref()
        .and_then(provider)
        .is_some_and(|p| p.auth.is_oauth2());
    let client_id = match (oauth, &args.client_id) {
        (false, _) => None,
        (true, Some(c)) => Some(c.clone()),
        (true, None) if interactive => Some(ask("The OAuth2 app's client id", None)?),
        (true, None) => anyhow::bail!(
            "--client-id is required for {} (the app registered for mailroom)",
            provider_name.as_deref().unwrap_or_default()
        ),
    };
    Ok(Answers {
        provider: provider_name,
        host,
        username,
        folder,
        forward_to,
        client_id,
    })
}

/// A TOML basic string.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn config_text(a: &Answers) -> String {
    let mut t = String::from(
        "# mailroom.toml, written by `mailroom init`. Every key: docs/CONFIGURATION.md.\n\
         # Check it any time with `mailroom check`.\n\n\
         db = \"mailroom.db\"          # the events, beside this file\n\
         rules = \"rules\"             # the rule files, read in name order\n\n",
    );
    t.push_str("[[account]]\nname = \"mailbox\"\n");
    match (&a.provider, &a.host) {
        (Some(p), _) => t.push_str(&format!(
            "provider = {}     # fills host, port, TLS and the login method\n",
            quoted(p)
        )),
        (None, Some(h)) => t.push_str(&format!(
            "host = {}\nport = 993\ntls = \"implicit\"           # implicit (993) | starttls (143) | none\n",
            quoted(h)
        )),
        (None, None) => {}
    }
    t.push_str(&format!("username = {}\n", quoted(&a.username)));
    t.push_str(&format!(
        "folders = [{}]\nafter = \"seen\"               # leave (default) | seen | move (with move_to)\n",
        quoted(&a.folder)
    ));
    match &a.client_id {
        Some(id) => t.push_str(&format!(
            "[account.oauth2]\nclient_id = {}\n\
             token_file = \"mailbox.token\"  # written by `mailroom oauth2 login mailbox`\n\
             # client_secret_env = \"MAILROOM_OAUTH2_SECRET\"   # for a confidential client\n",
            quoted(id)
        )),
        None => t.push_str(
            "password_env = \"MAILROOM_IMAP_PASSWORD\"   # or password_command = \"pass show mail\"\n",
        ),
    }
    t.push('\n');
    // Forwards go out through the same provider when there is one.
    match (&a.provider, &a.client_id) {
        (Some(p), Some(id)) => t.push_str(&format!(
            "[smtp]\nprovider = {}\nusername = {}\nfrom = {}\n\
             [smtp.oauth2]\nclient_id = {}\n\
             token_file = \"smtp.token\"     # written by `mailroom oauth2 login smtp`\n",
            quoted(p),
            quoted(&a.username),
            quoted(&format!("mailroom <{}>", a.username)),
            quoted(id)
        )),
        (Some(p), None) => t.push_str(&format!(
            "[smtp]\nprovider = {}\nusername = {}\nfrom = {}\n\
             password_env = \"MAILROOM_IMAP_PASSWORD\"\n",
            quoted(p),
            quoted(&a.username),
            quoted(&format!("mailroom <{}>", a.username))
        )),
        (None, _) => t.push_str(
            "[smtp]\n# Until a server is set, mail is written as .eml files here:\n\
             dir = \"mail-out\"\n\
             # host = \"smtp.example.net\"\n# username = \"…\"\n# password_env = \"MAILROOM_SMTP_PASSWORD\"\n",
        ),
    }
    t
}

fn rules_text(a: &Answers) -> String {
    format!(
        "# What to do with events, written by `mailroom init`. Conditions (`when.FIELD`)\n\
         # combine with AND; a list means any of. `mailroom rules test --topic T` tries a rule.\n\n\
         [[rule]]\n\
         name = \"needs a person\"\n\
         when.topic = [\"transfer.out\", \"domain.expired\", \"domain.deleted\", \"domain.dns_outage\"]\n\
         forward = {{ to = [{}] }}\n\n\
         [[rule]]\n\
         name = \"failed jobs\"\n\
         when.topic = \"job.result\"\n\
         when.status = [\"error\", \"failed\"]\n\
         forward = {{ to = [{}] }}\n",
        quoted(&a.forward_to),
        quoted(&a.forward_to)
    )
}

/// Writes `text` to `path` unless something is there.
fn create(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                "{} exists: mailroom init never overwrites (move it away, or edit it)",
                path.display()
            ),
            _ => anyhow::anyhow!("{}: {}", path.display(), crate::reason::io(&e)),
        })?;
    f.write_all(text.as_bytes())
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), crate::reason::io(&e)))
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let config_path = args.dir.join("mailroom.toml");
    let rules_path = args.dir.join("rules").join("10-mailbox.toml");
    for p in [&config_path, &rules_path] {
        if p.exists() {
            anyhow::bail!(
                "{} exists: mailroom init never overwrites (move it away, or edit it)",
                p.display()
            );
        }
    }
    let a = answers(args)?;
    std::fs::create_dir_all(args.dir.join("rules"))
        .map_err(|e| anyhow::anyhow!("{}: {}", args.dir.display(), crate::reason::io(&e)))?;
    create(&config_path, &config_text(&a))?;
    create(&rules_path, &rules_text(&a))?;
    eprintln!(
        "wrote {} and {}",
        config_path.display(),
        rules_path.display()
    );
    let next = match &a.client_id {
        Some(_) => {
            "mailroom oauth2 login mailbox, then mailroom oauth2 login smtp, then mailroom check"
        }
        None => "export MAILROOM_IMAP_PASSWORD=…, then mailroom check, then mailroom watch",
    };
    if args.no_check {
        eprintln!("Next: {next}");
        return Ok(EXIT_OK);
    }
    let ctx = Context::load(Some(&config_path), None)?;
    // What does not work yet (a password not exported, no sign-in yet) is listed; the
    // files are written either way.
    super::check::run(&super::check::Args::default(), &ctx)?;
    eprintln!("Next: {next}");
    Ok(EXIT_OK)
}
