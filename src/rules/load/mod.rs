//! Reading rule files: TOML with positions kept, so every mistake is reported as
//! `file:line:column: reason`. All files of a directory are read (in name order) and
//! every error in them reported, not just the first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::condition::{self, Condition, Matcher};
use super::{Chat, Digest, Rule, RuleSet, Schedule, Webhook};
use crate::config::{FileError, line_col};

/// Every problem found in a rules directory.
#[derive(Debug, Clone, thiserror::Error)]
pub struct LoadError {
    pub errors: Vec<FileError>,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    rule: Vec<Spanned<RuleDoc>>,
    #[serde(default)]
    digest: Vec<Spanned<DigestDoc>>,
    #[serde(default)]
    lookup: Vec<Spanned<customer_load::LookupDoc>>,
}

type When = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    name: Spanned<String>,
    #[serde(default)]
    when: When,
    forward: Option<Spanned<ForwardDoc>>,
    webhook: Option<Spanned<WebhookDoc>>,
    #[serde(default)]
    chat: Vec<Spanned<ChatDoc>>,
    digest: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    stop: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForwardDoc {
    to: OneOrMany,
    #[serde(default)]
    cc: OneOrMany,
    subject: Option<Spanned<String>>,
    body: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    reply_to: Option<Spanned<String>>,
    template: Option<Spanned<String>>,
    #[serde(default)]
    missing_to: OneOrMany,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookDoc {
    url: Spanned<String>,
    secret_env: Option<String>,
    secret_command: Option<String>,
    body: Option<Spanned<String>>,
    content_type: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChatDoc {
    pub(super) service: Spanned<String>,
    pub(super) url: Option<Spanned<String>>,
    pub(super) url_env: Option<String>,
    pub(super) url_command: Option<String>,
    pub(super) token_env: Option<String>,
    pub(super) token_command: Option<String>,
    pub(super) homeserver: Option<Spanned<String>>,
    pub(super) room: Option<Spanned<String>>,
    pub(super) bot_token_env: Option<String>,
    pub(super) bot_token_command: Option<String>,
    pub(super) chat_id: Option<Spanned<toml::Value>>,
    pub(super) api_url: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DigestDoc {
    name: Spanned<String>,
    at: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    cron: Option<Spanned<String>>,
    to: Spanned<OneOrMany>,
    subject: Option<Spanned<String>>,
    #[serde(default)]
    when: When,
    #[serde(default)]
    send_empty: bool,
}

#[derive(Deserialize, Default, Clone)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(super) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// Collects errors for one file.
pub(super) struct Errors<'a> {
    pub(super) file: &'a Path,
    pub(super) src: &'a str,
    list: Vec<FileError>,
}

impl Errors<'_> {
    pub(super) fn at(&mut self, span: std::ops::Range<usize>, message: impl Into<String>) {
        let (line, column) = line_col(self.src, span.start);
        self.list.push(FileError {
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
        });
    }
}

/// Loads every `*.toml` file of `dir` in name order. A missing directory is an empty
/// rule set.
pub fn load_dir(dir: &Path) -> Result<RuleSet, LoadError> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(LoadError {
                errors: vec![FileError {
                    file: dir.to_path_buf(),
                    line: 0,
                    column: 0,
                    message: crate::reason::io(&e),
                }],
            });
        }
    };
    files.sort();
    let mut set = RuleSet::default();
    let mut errors = Vec::new();
    let mut digest_refs = Vec::new();
    for file in &files {
        match std::fs::read_to_string(file) {
            Ok(src) => load_into(file, &src, &mut set, &mut errors, &mut digest_refs),
            Err(e) => errors.push(FileError {
                file: file.clone(),
                line: 0,
                column: 0,
                message: crate::reason::io(&e),
            }),
        }
    }
    check_digest_refs(&set, digest_refs, &mut errors);
    if errors.is_empty() {
        Ok(set)
    } else {
        Err(LoadError { errors })
    }
}

/// Loads one file on its own.
pub fn load_file(file: &Path) -> Result<RuleSet, LoadError> {
    let src = std::fs::read_to_string(file).map_err(|e| LoadError {
        errors: vec![FileError {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message: crate::reason::io(&e),
        }],
    })?;
    load_str(file, &src)
}

/// Loads rules from text, as if read from `file`.
pub fn load_str(file: &Path, src: &str) -> Result<RuleSet, LoadError> {
    let mut set = RuleSet::default();
    let mut errors = Vec::new();
    let mut refs = Vec::new();
    load_into(file, src, &mut set, &mut errors, &mut refs);
    check_digest_refs(&set, refs, &mut errors);
    if errors.is_empty() {
        Ok(set)
    } else {
        Err(LoadError { errors })
    }
}

/// A rule's `digest = "name"`, checked once every file is read.
struct DigestRef {
    name: String,
    error_at: FileError,
}

fn check_digest_refs(set: &RuleSet, refs: Vec<DigestRef>, errors: &mut Vec<FileError>) {
    for r in refs {
        if set.digest(&r.name).is_none() {
            let mut e = r.error_at;
            e.message = format!("digest {:?} is not defined by any [[digest]]", r.name);
            errors.push(e);
        }
    }
}

fn load_into(
    file: &Path,
    src: &str,
    set: &mut RuleSet,
    errors: &mut Vec<FileError>,
    refs: &mut Vec<DigestRef>,
) {
    set.files.push(file.display().to_string());
    let doc: FileDoc = match toml::from_str(src) {
        Ok(d) => d,
        Err(e) => {
            errors.push(FileError::from_toml(file, src, &e));
            return;
        }
    };
    let mut errs = Errors {
        file,
        src,
        list: Vec::new(),
    };
    for l in doc.lookup {
        let span = l.span();
        if let Some(lookup) = customer_load::lookup(&mut errs, span, l.into_inner(), set) {
            set.lookups.push(std::sync::Arc::new(lookup));
        }
    }
    for d in doc.digest {
        let span = d.span();
        let d = d.into_inner();
        if let Some((digest, when)) = digest(&mut errs, span, d, set) {
            set.collects.push(crate::rules::Collect {
                digest: digest.name.clone(),
                when,
            });
            set.digests.push(digest);
        }
    }
    for r in doc.rule {
        let span = r.span();
        let r = r.into_inner();
        if let Some(rule) = rule(&mut errs, span, r, set, refs) {
            set.rules.push(rule);
        }
    }
    errors.extend(errs.list);
}

fn conditions(errs: &mut Errors<'_>, when: When, set: &RuleSet) -> Vec<Condition> {
    let mut out = Vec::new();
    for (field, value) in when {
        let field_span = field.span();
        let field = field.into_inner();
        if let Some(problem) = customer_load::lookup_field(&field, set) {
            if !problem.is_empty() {
                errs.at(field_span, problem);
                continue;
            }
        } else if !condition::known_field(&field) {
            errs.at(
                field_span,
                format!(
                    "unknown field {field:?} in when: use one of {} or data.<path>",
                    condition::FIELDS.join(", ")
                ),
            );
            continue;
        }
        let value_span = value.span();
        match Matcher::parse(value.get_ref()) {
            Ok(matcher) => {
                // `authenticated` is itself true or false (or null when never judged):
                // `= true` means authenticated, not "present".
                let matcher = match matcher {
                    Matcher::Present(b) if field == "authenticated" => {
                        Matcher::Exact(b.to_string())
                    }
                    other => other,
                };
                if let Err(e) = reachable(&field, &matcher) {
                    errs.at(value_span, format!("when.{field}: {e}"));
                    continue;
                }
                out.push(Condition { field, matcher });
            }
            Err(e) => errs.at(value_span, format!("when.{field}: {e}")),
        }
    }
    out
}

/// A `topic` or `registrar` condition naming a value no notification can have would
/// silently never match: refused, with the closest known values.
fn reachable(field: &str, matcher: &Matcher) -> Result<(), String> {
    let known: Vec<&str> = match field {
        "topic" => crate::topics::known_topics(),
        "registrar" => crate::topics::REGISTRARS.to_vec(),
        _ => return Ok(()),
    };
    match matcher {
        Matcher::Present(_) => Ok(()),
        Matcher::Not(inner) => reachable(field, inner),
        Matcher::AnyOf(list) => list.iter().try_for_each(|m| reachable(field, m)),
        Matcher::Regex(re) => {
            if known.iter().any(|k| re.is_match(k)) {
                Ok(())
            } else {
                Err(format!(
                    "/{}/ matches no known {field} (see mailroom topics)",
                    re.as_str()
                ))
            }
        }
        Matcher::Exact(want) => known_value(field, want),
    }
}

/// Whether some notification can have `value` as its `field` (`topic` or `registrar`);
/// else why not, with the closest known values.
pub fn known_value(field: &str, value: &str) -> Result<(), String> {
    let known: Vec<&str> = match field {
        "topic" => crate::topics::known_topics(),
        "registrar" => crate::topics::REGISTRARS.to_vec(),
        _ => return Ok(()),
    };
    let want = value.to_lowercase();
    if known.contains(&want.as_str()) {
        return Ok(());
    }
    Err(format!(
        "{want:?} is not a {field} any notification has{}",
        suggest(&want, &known, field)
    ))
}

/// `; did you mean "a", "b"?` from the known values closest to `want`.
fn suggest(want: &str, known: &[&str], field: &str) -> String {
    let prefix = format!("{want}.");
    let family: Vec<&str> = known
        .iter()
        .copied()
        .filter(|k| k.starts_with(&prefix))
        .collect();
    if !family.is_empty() {
        let quoted: Vec<String> = family.iter().map(|k| format!("{k:?}")).collect();
        return format!(
            "; did you mean {}? (all of them: [{}], or \"/^{}\\\\./\")",
            quoted.join(", "),
            quoted.join(", "),
            regex::escape(want)
        );
    }
    let mut scored: Vec<(usize, &str)> = known
        .iter()
        .map(|k| (edit_distance(want, k), *k))
        .filter(|(d, k)| *d <= (k.len().max(want.len()) / 3).max(2))
        .collect();
    scored.sort();
    match scored.first() {
        Some((_, k)) => format!("; did you mean {k:?}?"),
        None if field == "topic" => "; mailroom topics lists them".into(),
        None => format!("; use one of {}", known.join(", ")),
    }
}

/// Levenshtein distance (small strings only: names and topics).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

pub(super) fn addresses(
    errs: &mut Errors<'_>,
    span: std::ops::Range<usize>,
    what: &str,
    list: &[String],
) -> bool {
    let mut ok = true;
    for a in list {
        if lettre::Address::try_from(a.trim().to_string()).is_err()
            && a.parse::<lettre::message::Mailbox>().is_err()
        {
            errs.at(
                span.clone(),
                format!("{what}: {a:?} is not an email address"),
            );
            ok = false;
        }
    }
    ok
}

/// The variables a forward's subject and body templates can use: every field a
/// condition can name, and these.
pub(super) fn event_variables() -> Vec<&'static str> {
    let mut all = condition::FIELDS.to_vec();
    all.extend(["data", "authentication", "rule", "key"]);
    all
}

/// The variables a digest's subject template can use.
pub const DIGEST_VARIABLES: &[&str] = &[
    "digest",
    "count",
    "period_start",
    "period_end",
    "counts",
    "groups",
    "events",
    "timezone",
];

/// minijinja's own global functions, usable in any template.
pub(super) const TEMPLATE_GLOBALS: &[&str] = &["range", "dict", "namespace", "debug", "loop"];

pub(super) fn template(
    errs: &mut Errors<'_>,
    t: &Option<Spanned<String>>,
    what: &str,
    variables: &[&str],
) -> Option<String> {
    let t = t.as_ref()?;
    let env = minijinja::Environment::new();
    match env.template_from_str(t.get_ref()) {
        Err(e) => errs.at(
            t.span(),
            format!(
                "{what}: template error: {}",
                e.detail().unwrap_or(&e.to_string())
            ),
        ),
        Ok(compiled) => {
            let mut unknown: Vec<String> = compiled
                .undeclared_variables(false)
                .into_iter()
                .filter(|v| {
                    !variables.contains(&v.as_str()) && !TEMPLATE_GLOBALS.contains(&v.as_str())
                })
                .collect();
            unknown.sort();
            if let Some(v) = unknown.first() {
                errs.at(
                    t.span(),
                    format!(
                        "{what}: template variable {v:?} does not exist; use one of {}",
                        variables.join(", ")
                    ),
                );
            }
        }
    }
    Some(t.get_ref().clone())
}

fn rule(
    errs: &mut Errors<'_>,
    span: std::ops::Range<usize>,
    r: RuleDoc,
    set: &RuleSet,
    refs: &mut Vec<DigestRef>,
) -> Option<Rule> {
    let name_span = r.name.span();
    let name = r.name.into_inner();
    let before = errs.list.len();
    if name.trim().is_empty() {
        errs.at(name_span.clone(), "a rule needs a name");
    }
    if set.rules.iter().any(|x| x.name == name) {
        errs.at(
            name_span.clone(),
            format!("a rule named {name:?} exists already"),
        );
    }
    let when = conditions(errs, r.when, set);
    let forward = r
        .forward
        .map(|f| customer_load::forward(errs, f.span(), f.into_inner(), set));
    let webhook = r.webhook.map(|w| {
        let (line, column) = line_col(errs.src, w.span().start);
        let origin = format!("{}:{line}:{column}", errs.file.display());
        let w = w.into_inner();
        let url_span = w.url.span();
        let url = w.url.into_inner();
        match reqwest::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            Ok(_) => errs.at(
                url_span,
                format!("webhook.url {url:?}: only http and https"),
            ),
            Err(e) => errs.at(url_span, format!("webhook.url {url:?}: {e}")),
        }
        let content_type = w
            .content_type
            .as_ref()
            .map(|c| c.get_ref().trim().to_string());
        if let Some(c) = &w.content_type
            && (c.get_ref().trim().is_empty() || c.get_ref().contains(['\r', '\n']))
        {
            errs.at(
                c.span(),
                "webhook.content_type must be one MIME type, e.g. application/json",
            );
        }
        let body = w.body.as_ref().and_then(|b| {
            customer_load::webhook_body(
                errs,
                b,
                content_type.as_deref().unwrap_or("application/json"),
            )
        });
        Webhook {
            url,
            secret_env: w.secret_env,
            secret_command: w.secret_command,
            origin,
            body,
            content_type,
        }
    });
    let chat: Vec<Chat> = r
        .chat
        .into_iter()
        .filter_map(|c| chat_load::chat(errs, c))
        .collect();
    let digests = match r.digest {
        Some(d) => {
            let dspan = d.span();
            let names = d.into_inner().into_vec();
            for n in &names {
                let (line, column) = line_col(errs.src, dspan.start);
                refs.push(DigestRef {
                    name: n.clone(),
                    error_at: FileError {
                        file: errs.file.to_path_buf(),
                        line,
                        column,
                        message: String::new(),
                    },
                });
            }
            names
        }
        None => Vec::new(),
    };
    if forward.is_none() && webhook.is_none() && chat.is_empty() && digests.is_empty() && !r.stop {
        errs.at(
            span.clone(),
            format!("rule {name:?} does nothing: give it forward, webhook, chat, digest or stop"),
        );
    }
    if errs.list.len() > before {
        return None;
    }
    let (line, _) = line_col(errs.src, span.start);
    Some(Rule {
        name,
        origin: format!("{}:{line}", errs.file.display()),
        when,
        forward,
        webhook,
        chat,
        digests,
        stop: r.stop,
    })
}

fn digest(
    errs: &mut Errors<'_>,
    span: std::ops::Range<usize>,
    d: DigestDoc,
    set: &RuleSet,
) -> Option<(Digest, Vec<Condition>)> {
    let before = errs.list.len();
    let name_span = d.name.span();
    let name = d.name.into_inner();
    if set.digest(&name).is_some() {
        errs.at(name_span, format!("a digest named {name:?} exists already"));
    }
    let tz = d
        .timezone
        .as_ref()
        .map_or("UTC".to_string(), |t| t.get_ref().clone());
    let tz_span = d.timezone.as_ref().map_or(span.clone(), |t| t.span());
    let schedule = match (&d.at, &d.cron) {
        (Some(at), None) => Schedule::daily(at.get_ref(), &tz).map_err(|e| {
            let s = if e.contains("time zone") {
                tz_span.clone()
            } else {
                at.span()
            };
            errs.at(s, e)
        }),
        (None, Some(c)) => Schedule::cron(c.get_ref(), &tz).map_err(|e| {
            let s = if e.contains("time zone") {
                tz_span.clone()
            } else {
                c.span()
            };
            errs.at(s, e)
        }),
        _ => {
            errs.at(
                span.clone(),
                format!("digest {name:?} needs either at = \"HH:MM\" or cron = \"…\""),
            );
            Err(())
        }
    };
    let to_span = d.to.span();
    let to = d.to.into_inner().into_vec();
    if to.is_empty() {
        errs.at(to_span.clone(), "a digest needs at least one address in to");
    }
    addresses(errs, to_span, "digest.to", &to);
    let when = conditions(errs, d.when, set);
    let subject = template(errs, &d.subject, "digest.subject", DIGEST_VARIABLES);
    if errs.list.len() > before {
        return None;
    }
    let (line, _) = line_col(errs.src, span.start);
    let digest = Digest {
        name,
        origin: format!("{}:{line}", errs.file.display()),
        schedule: schedule.ok()?,
        to,
        subject,
        send_empty: d.send_empty,
    };
    Some((digest, when))
}

mod chat_load;
mod customer_load;

#[cfg(test)]
mod tests;
