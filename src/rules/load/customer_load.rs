//! `[[lookup]]` tables and forwards that use them, checked at load: a lookup's file,
//! database or URL; recipients that may render to nobody (then `missing_to` is
//! required); template files (every file a lookup's rows can name must exist and start
//! with `Subject:`), their variables, and the columns they name.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{Errors, ForwardDoc, RuleSet, TEMPLATE_GLOBALS, addresses, event_variables};
use crate::action::Forward;
use crate::action::chat::SecretRef;
use crate::action::customer;
use crate::config::{Secret, line_col};
use crate::rules::lookup::{Lookup, Spec, beside};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LookupDoc {
    name: Spanned<String>,
    csv: Option<Spanned<String>>,
    sql: Option<Spanned<String>>,
    db: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    token_env: Option<String>,
    token_command: Option<String>,
    cache: Option<Spanned<String>>,
}

/// Names a lookup may not take: they are the event's own.
fn reserved(name: &str) -> bool {
    event_variables().contains(&name) || TEMPLATE_GLOBALS.contains(&name)
}

pub(super) fn lookup(
    errs: &mut Errors<'_>,
    span: std::ops::Range<usize>,
    d: LookupDoc,
    set: &RuleSet,
) -> Option<Lookup> {
    let (line, column) = line_col(errs.src, span.start);
    let origin = format!("{}:{line}:{column}", errs.file.display());
    let name_span = d.name.span();
    let name = d.name.into_inner();
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        errs.at(
            name_span,
            format!("lookup name {name:?}: letters, digits and _ only (it is used as {{{{ {name}.column }}}})"),
        );
        return None;
    }
    if reserved(&name) {
        errs.at(
            name_span,
            format!("lookup name {name:?} is an event field; choose another (e.g. customer)"),
        );
        return None;
    }
    if set.lookups.iter().any(|l| l.name == name) {
        errs.at(name_span, format!("a lookup named {name:?} exists already"));
        return None;
    }
    let sources = [d.csv.is_some(), d.sql.is_some(), d.url.is_some()];
    if sources.iter().filter(|b| **b).count() != 1 {
        errs.at(
            span,
            format!("lookup {name:?} needs exactly one of csv, sql (with db) or url"),
        );
        return None;
    }
    let key = d
        .key
        .as_ref()
        .map_or("domain".to_string(), |k| k.get_ref().clone());
    let spec = if let Some(csv) = &d.csv {
        Spec::Csv {
            path: beside(errs.file, csv.get_ref()),
            key,
        }
    } else if let Some(sql) = &d.sql {
        let Some(db) = &d.db else {
            errs.at(
                sql.span(),
                format!("lookup {name:?}: sql needs db, the SQLite file to ask"),
            );
            return None;
        };
        let text = db.get_ref();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            errs.at(
                db.span(),
                format!("lookup {name:?}: db: PostgreSQL lookups are not supported yet; use an SQLite file, a csv or a url"),
            );
            return None;
        }
        let path = text.strip_prefix("sqlite://").unwrap_or(text);
        Spec::Sql {
            db: beside(errs.file, path),
            query: sql.get_ref().clone(),
        }
    } else {
        let url = d.url.as_ref()?;
        let env = minijinja::Environment::new();
        let ok = env.template_from_str(url.get_ref()).map(|t| {
            t.undeclared_variables(false)
                .into_iter()
                .filter(|v| !event_variables().contains(&v.as_str()))
                .collect::<Vec<_>>()
        });
        match ok {
            Err(e) => {
                errs.at(
                    url.span(),
                    format!("lookup {name:?}: url: template error: {e}"),
                );
                return None;
            }
            Ok(unknown) if !unknown.is_empty() => {
                errs.at(
                    url.span(),
                    format!(
                        "lookup {name:?}: url: template variable {:?} does not exist",
                        unknown[0]
                    ),
                );
                return None;
            }
            Ok(_) => {}
        }
        let sample = url.get_ref().replace("{{", "").replace("}}", "");
        if !(sample.starts_with("https://") || sample.starts_with("http://")) {
            errs.at(url.span(), format!("lookup {name:?}: url must be http(s)"));
            return None;
        }
        let token = Secret {
            password_env: d.token_env.clone(),
            password_command: d.token_command.clone(),
        };
        if token.is_set() {
            match token.resolve() {
                Ok(Some(t)) if !t.trim().is_empty() => {}
                Ok(_) => {
                    errs.at(span, format!("lookup {name:?}: the token is empty"));
                    return None;
                }
                Err(e) => {
                    errs.at(span, format!("lookup {name:?}: {e}"));
                    return None;
                }
            }
        }
        let cache = match &d.cache {
            Some(c) => match crate::config::parse_duration(c.get_ref()) {
                Ok(v) => v,
                Err(e) => {
                    errs.at(c.span(), format!("lookup {name:?}: cache: {e}"));
                    return None;
                }
            },
            None => std::time::Duration::from_secs(600),
        };
        Spec::Url {
            url: url.get_ref().clone(),
            token: token.is_set().then(|| SecretRef {
                env: d.token_env.clone(),
                command: d.token_command.clone(),
            }),
            cache_secs: cache.as_secs(),
        }
    };
    let lookup = Lookup::new(name.clone(), origin, spec);
    let at = d
        .csv
        .as_ref()
        .or(d.sql.as_ref())
        .map_or(span.clone(), |s| s.span());
    if let Err(e) = lookup.columns() {
        errs.at(at, format!("lookup {name:?}: {e}"));
        return None;
    }
    Some(lookup)
}

/// For a condition on `lookup.column`: None when `field` names no lookup, else the
/// problem (empty: none).
pub(super) fn lookup_field(field: &str, set: &RuleSet) -> Option<String> {
    let (head, column) = field.split_once('.')?;
    let l = set.lookups.iter().find(|l| l.name == head)?;
    if l.is_remote() {
        return Some(format!(
            "when.{field}: lookup {head:?} asks a URL, which is not done while an event is stored; use a csv or sql lookup in when"
        ));
    }
    Some(column_problem(l, column).unwrap_or_default())
}

fn column_problem(l: &Lookup, column: &str) -> Option<String> {
    let columns = l.columns().ok().flatten()?;
    (!columns.iter().any(|c| c == column)).then(|| {
        format!(
            "lookup {:?} has no column {column:?} (it has {})",
            l.name,
            columns.join(", ")
        )
    })
}

/// Checks a template's variables (event fields, lookups, their columns); the lookups
/// it reads.
fn check_template(
    errs: &mut Errors<'_>,
    span: std::ops::Range<usize>,
    what: &str,
    text: &str,
    set: &RuleSet,
) -> Vec<String> {
    let env = minijinja::Environment::new();
    let compiled = match env.template_from_str(text) {
        Ok(t) => t,
        Err(e) => {
            errs.at(
                span,
                format!(
                    "{what}: template error: {}",
                    e.detail().unwrap_or(&e.to_string())
                ),
            );
            return Vec::new();
        }
    };
    let mut used = Vec::new();
    let mut names: Vec<String> = compiled.undeclared_variables(false).into_iter().collect();
    names.sort();
    for v in names {
        if set.lookups.iter().any(|l| l.name == v) {
            used.push(v);
        } else if !event_variables().contains(&v.as_str())
            && !TEMPLATE_GLOBALS.contains(&v.as_str())
        {
            let mut known = event_variables();
            known.extend(set.lookups.iter().map(|l| l.name.as_str()));
            errs.at(
                span.clone(),
                format!(
                    "{what}: template variable {v:?} does not exist; use one of {}",
                    known.join(", ")
                ),
            );
        }
    }
    let mut nested: Vec<String> = compiled.undeclared_variables(true).into_iter().collect();
    nested.sort();
    for v in nested {
        let Some((head, column)) = v.split_once('.') else {
            continue;
        };
        let column = column.split('.').next().unwrap_or(column);
        if let Some(l) = set.lookups.iter().find(|l| l.name == head)
            && let Some(p) = column_problem(l, column)
        {
            errs.at(span.clone(), format!("{what}: {p}"));
        }
    }
    used
}

pub(super) fn forward(
    errs: &mut Errors<'_>,
    fspan: std::ops::Range<usize>,
    f: ForwardDoc,
    set: &RuleSet,
) -> Forward {
    let to = f.to.into_vec();
    let cc = f.cc.into_vec();
    let missing_to = f.missing_to.into_vec();
    if to.is_empty() {
        errs.at(fspan.clone(), "forward needs at least one address in to");
    }
    let mut lookups: Vec<String> = Vec::new();
    let mut templated_to = false;
    for (what, list) in [("forward.to", &to), ("forward.cc", &cc)] {
        let (templates, plain): (Vec<String>, Vec<String>) = list
            .iter()
            .cloned()
            .partition(|a| a.contains("{{") || a.contains("{%"));
        addresses(errs, fspan.clone(), what, &plain);
        for t in &templates {
            lookups.extend(check_template(errs, fspan.clone(), what, t, set));
            if what == "forward.to" {
                templated_to = true;
            }
        }
    }
    addresses(errs, fspan.clone(), "forward.missing_to", &missing_to);
    if templated_to && missing_to.is_empty() {
        errs.at(
            fspan.clone(),
            "forward.to is a template that may render to no address (the lookup finds nobody): set missing_to = [\"…\"], where such mail goes",
        );
    }
    for (what, v) in [("forward.from", &f.from), ("forward.reply_to", &f.reply_to)] {
        if let Some(v) = v {
            addresses(errs, v.span(), what, std::slice::from_ref(v.get_ref()));
        }
    }
    let mut subject = None;
    let mut body = None;
    for (what, t, out) in [
        ("forward.subject", &f.subject, &mut subject),
        ("forward.body", &f.body, &mut body),
    ] {
        if let Some(t) = t {
            lookups.extend(check_template(errs, t.span(), what, t.get_ref(), set));
            *out = Some(t.get_ref().clone());
        }
    }
    let base_dir = errs.file.parent().map(Path::to_path_buf);
    let mut forward = Forward {
        to,
        cc,
        subject,
        body,
        from: f.from.map(|v| v.into_inner()),
        reply_to: f.reply_to.map(|v| v.into_inner()),
        template: f.template.as_ref().map(|t| t.get_ref().clone()),
        base_dir,
        missing_to,
        lookups: Vec::new(),
    };
    if let Some(t) = &f.template {
        let path_lookups = check_template(errs, t.span(), "forward.template", t.get_ref(), set);
        lookups.extend(path_lookups.iter().cloned());
        lookups.extend(template_files(errs, t.span(), &forward, &path_lookups, set));
    }
    lookups.sort();
    lookups.dedup();
    forward.lookups = lookups;
    forward
}

/// Every template file the path can name (for each row of the lookups it reads, and
/// for none found): each must exist and read; returns the lookups the files read.
fn template_files(
    errs: &mut Errors<'_>,
    span: std::ops::Range<usize>,
    f: &Forward,
    path_lookups: &[String],
    set: &RuleSet,
) -> Vec<String> {
    let sample = crate::rules::sample_event();
    let mut contexts: Vec<(String, serde_json::Map<String, serde_json::Value>)> = vec![(
        "when the lookup finds nobody".into(),
        serde_json::Map::new(),
    )];
    for name in path_lookups {
        let Some(l) = set.lookups.iter().find(|l| &l.name == name) else {
            continue;
        };
        if let Ok(t) = l.csv_table() {
            for row in &t.rows {
                let mut m = serde_json::Map::new();
                m.insert(name.clone(), serde_json::Value::Object(row.clone()));
                let key = match &l.spec {
                    Spec::Csv { key, .. } => row.get(key).and_then(|v| v.as_str()).unwrap_or(""),
                    _ => "",
                };
                contexts.push((format!("for {name} {key}"), m));
            }
        }
    }
    let mut seen: Vec<std::path::PathBuf> = Vec::new();
    let mut used = Vec::new();
    for (why, rows) in contexts {
        let ctx = customer::context(&sample, "rule", &rows);
        let path = match customer::template_path(f, &ctx) {
            Ok(Some(p)) => p,
            Ok(None) => continue,
            Err(e) => {
                errs.at(span.clone(), format!("forward.template: {e}"));
                return used;
            }
        };
        if seen.contains(&path) {
            continue;
        }
        seen.push(path.clone());
        match customer::read_template(&path) {
            Err(e) => {
                errs.at(span.clone(), format!("forward.template ({why}): {e}"));
            }
            Ok(t) => {
                let what = format!("template {}", path.display());
                used.extend(check_template(errs, span.clone(), &what, &t.subject, set));
                used.extend(check_template(errs, span.clone(), &what, &t.body, set));
                if let Some(h) = customer::html_twin(&path)
                    && let Ok(src) = std::fs::read_to_string(&h)
                {
                    let what = format!("template {}", h.display());
                    used.extend(check_template(errs, span.clone(), &what, &src, set));
                }
            }
        }
    }
    used
}

/// `webhook.body`: a template file beside the rule file, read now. Its variables must
/// exist, and a JSON content type must render to JSON (checked with a sample event).
pub(super) fn webhook_body(
    errs: &mut Errors<'_>,
    b: &Spanned<String>,
    content_type: &str,
) -> Option<String> {
    let path = beside(errs.file, b.get_ref());
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            errs.at(
                b.span(),
                format!("webhook.body {}: {}", path.display(), crate::reason::io(&e)),
            );
            return None;
        }
    };
    let before = errs.list.len();
    let empty = RuleSet::default();
    check_template(
        errs,
        b.span(),
        &format!("webhook.body {}", path.display()),
        &text,
        &empty,
    );
    if errs.list.len() > before {
        return None;
    }
    if content_type.contains("json") {
        let sample = crate::rules::sample_event();
        let rendered =
            crate::action::render_body(&text, crate::action::event_context(&sample, "rule"));
        match rendered.map(|r| serde_json::from_str::<serde_json::Value>(&r).map(|_| ())) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errs.at(
                b.span(),
                format!(
                    "webhook.body {}: does not render to JSON for a sample event ({e}); quote values with | tojson",
                    path.display()
                ),
            ),
            Err(e) => errs.at(b.span(), format!("webhook.body {}: {e}", path.display())),
        }
    }
    Some(text)
}
