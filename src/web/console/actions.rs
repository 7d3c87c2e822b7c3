//! What the console's buttons do (each a POST with the CSRF token, checked before any
//! of this runs): retry a delivery, reparse a quarantined message through the one
//! pipeline (its new events go through the rules), take an event off the attention
//! page. Each answers with a redirect back, saying what was done; the text is chosen
//! here from numbers in the query string, so a link cannot make the console say
//! anything else.

use super::{Ask, Reply, Web, is_local_path};
use crate::store::db::Sql as _;
use crate::store::{self, outbox, views};

/// The page to go back to (a form's `back` field, when it is a local path).
fn back(ask: &Ask, default: &str) -> String {
    ask.field("back")
        .filter(|b| is_local_path(b))
        .unwrap_or(default)
        .split(['?', '#'])
        .next()
        .unwrap_or(default)
        .to_string()
}

fn done(to: &str, params: &[(&str, String)]) -> Reply {
    let q: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", super::html::pct(v)))
        .collect();
    Reply::Redirect(format!("{to}?{}", q.join("&")))
}

/// The confirmation to show for `?done=…`, if any.
pub(super) fn flash(ask: &Ask) -> Option<String> {
    let n = |k: &str| ask.param(k).parse::<u64>().ok();
    let id = n("id").map_or(String::new(), |i| format!(" #{i}"));
    Some(match ask.param("done") {
        "retried" => format!("Delivery{id} is queued again: it is tried now."),
        "retry-none" => format!(
            "Delivery{id} was not queued again: it was delivered already, or there is no such delivery."
        ),
        "reparsed" => match (n("found")?, n("new")?) {
            (0, _) => {
                format!("Message{id} was read again: still no event, so it stays in quarantine.")
            }
            (found, new) => format!(
                "Message{id} was read again: {found} event(s) found, {new} new (their rules have run)."
            ),
        },
        "reparse-incomplete" => format!(
            "Message{id} was not read again: only its header was kept (it was over [store] raw_limit)."
        ),
        "reparsed-all" => format!(
            "{} quarantined message(s) read again: {} recovered, {} new event(s).",
            n("n")?,
            n("recovered")?,
            n("new")?
        ),
        "acked" => format!("Event{id} is marked handled: it is off the attention page."),
        _ => return None,
    })
}

pub(super) fn retry(web: &Web, ask: &Ask, id: i64) -> Reply {
    let n = match outbox::retry(web.store().db(), Some(id), crate::clock::now()) {
        Ok(n) => n,
        Err(e) => return Reply::store_error(&e, ask),
    };
    web.intake.wake_delivery();
    tracing::info!(item = id, requeued = n, "console: delivery retried");
    let what = if n > 0 { "retried" } else { "retry-none" };
    done(
        &back(ask, "/outbox"),
        &[("done", what.into()), ("id", id.to_string())],
    )
}

pub(super) fn ack(web: &Web, ask: &Ask, event: i64) -> Reply {
    match views::ack(web.store().db(), event, &crate::clock::now_stamp()) {
        Ok(true) => done(
            &back(ask, "/"),
            &[("done", "acked".into()), ("id", event.to_string())],
        ),
        Ok(false) => Reply::not_found(ask),
        Err(e) => Reply::store_error(&e, ask),
    }
}

/// Reparses one message, or (None) every quarantined one, in one transaction each
/// chunk, the way `mailroom reparse` does.
pub(super) fn reparse(web: &Web, ask: &Ask, message: Option<i64>) -> Reply {
    let config = &web.intake.config;
    let rules = std::sync::Arc::clone(&web.intake.rules);
    let limits = crate::ingest::Limits::of(config);
    let mut grouping = crate::ingest::group::Grouping::default();
    let mut react = move |tx: &store::db::Db, new: store::NewEvent<'_>| {
        crate::ingest::rules::react(&rules, &mut grouping, tx, new).map(|_| ())
    };
    let writer = web.store();
    let ids: Vec<i64> = match message {
        Some(id) => vec![id],
        None => match store::query::quarantined(writer.db()) {
            Ok(list) => list.into_iter().map(|q| q.id).collect(),
            Err(e) => return Reply::store_error(&e, ask),
        },
    };
    if let Some(id) = message {
        match views::message(writer.db(), id) {
            Ok(Some(_)) => {}
            Ok(None) => return Reply::not_found(ask),
            Err(e) => return Reply::store_error(&e, ask),
        }
    }
    let (mut found, mut new, mut recovered, mut incomplete) = (0u64, 0u64, 0u64, false);
    for chunk in ids.chunks(200) {
        let result = (|| -> store::Result<()> {
            let tx = writer.db().write()?;
            for id in chunk {
                let r = crate::ingest::reparse(&*tx, *id, limits, &mut react)?;
                found += r.events_found as u64;
                new += r.events_new.len() as u64;
                recovered += u64::from(r.events_found > 0);
                incomplete |= r.incomplete;
            }
            tx.commit()?;
            Ok(())
        })();
        if let Err(e) = result {
            return Reply::store_error(&e, ask);
        }
    }
    drop(writer);
    web.intake.wake_delivery();
    tracing::info!(messages = ids.len(), found, new, "console: reparsed");
    match message {
        Some(id) if incomplete => done(
            &back(ask, "/quarantine"),
            &[
                ("done", "reparse-incomplete".into()),
                ("id", id.to_string()),
            ],
        ),
        Some(id) => done(
            &back(ask, "/quarantine"),
            &[
                ("done", "reparsed".into()),
                ("id", id.to_string()),
                ("found", found.to_string()),
                ("new", new.to_string()),
            ],
        ),
        None => done(
            "/quarantine",
            &[
                ("done", "reparsed-all".into()),
                ("n", ids.len().to_string()),
                ("recovered", recovered.to_string()),
                ("new", new.to_string()),
            ],
        ),
    }
}
