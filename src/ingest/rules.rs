//! From a new event to queued deliveries: the rules' actions become outbox rows and
//! digest items, in the transaction that stores the event. Forwards of one message's
//! events to the same recipients become one mail (see [`group`]).

use std::collections::HashSet;

use crate::store::db::Sql;

use super::group::{self, Grouping};
use crate::action;
use crate::clock;
use crate::rules::{Action, RuleSet};
use crate::store::outbox::{self, Channel, NewItem};
use crate::store::{NewEvent, Result, digests};

/// Queues what `rules` ask for `new` (`grouping`: the forwards of the batch so far).
/// Returns how many deliveries were queued.
pub fn react(
    rules: &RuleSet,
    grouping: &mut Grouping,
    tx: &impl Sql,
    new: NewEvent<'_>,
) -> Result<usize> {
    let actions = rules.actions(new.event);
    queue(tx, grouping, new, actions, rules)
}

/// What an event already got: (event row, channel, recipients or URL) of its outbox
/// items, and (digest, event row) of its digest entries.
#[derive(Debug, Default)]
pub struct Given {
    deliveries: HashSet<(i64, String, String)>,
    digests: HashSet<(String, i64)>,
}

impl Given {
    /// Everything queued for stored events so far.
    pub fn load(conn: &impl Sql) -> Result<Given> {
        let (deliveries, digests) = outbox::given(conn)?;
        let given = Given {
            deliveries,
            digests,
        };
        Ok(given)
    }

    /// Whether `event` already got `action` (the same channel to the same place).
    pub fn has(&self, event: i64, action: &Action) -> bool {
        match action {
            Action::Forward { forward, .. } => {
                self.deliveries
                    .contains(&(event, "forward".into(), forward.to.join(", ")))
            }
            Action::Webhook { webhook, .. } => {
                self.deliveries
                    .contains(&(event, "webhook".into(), webhook.url.clone()))
            }
            Action::Digest { digest, .. } => self.digests.contains(&(digest.clone(), event)),
            Action::Chat { chat, .. } => {
                self.deliveries
                    .contains(&(event, "webhook".into(), chat.shown.clone()))
            }
        }
    }
}

/// Queues `actions` for `new`. Returns how many deliveries were queued.
pub fn queue(
    tx: &impl Sql,
    grouping: &mut Grouping,
    new: NewEvent<'_>,
    actions: Vec<Action>,
    rules: &RuleSet,
) -> Result<usize> {
    let now = clock::now();
    let mut queued = 0;
    for action in actions {
        match action {
            Action::Forward { rule, forward } if forward.is_customer_mail() => {
                let item = NewItem {
                    channel: Channel::Forward,
                    target: forward.to.join(", "),
                    rule: Some(rule.clone()),
                    event: Some(new.row),
                    // No original message goes to a customer.
                    message: None,
                    payload: customer_payload(rules, &forward, &rule, new.event),
                };
                outbox::enqueue(tx, &item, now)?;
                queued += 1;
            }
            Action::Forward { rule, forward } => {
                let payload = action::forward(new.event, &forward, &rule, false);
                let recipients = format!("{}|{}", forward.to.join(","), forward.cc.join(","));
                if group::join(tx, grouping, new.message, &recipients, &payload)? {
                    continue;
                }
                let item = NewItem {
                    channel: Channel::Forward,
                    target: forward.to.join(", "),
                    rule: Some(rule),
                    event: Some(new.row),
                    message: Some(new.message),
                    payload,
                };
                let id = outbox::enqueue(tx, &item, now)?;
                group::started(grouping, new.message, &recipients, id, &item.payload);
                queued += 1;
            }
            Action::Webhook { rule, webhook } => {
                let item = NewItem {
                    channel: Channel::Webhook,
                    target: crate::secret::redact(&webhook.url),
                    payload: action::webhook(new.event, &webhook, &rule),
                    rule: Some(rule),
                    event: Some(new.row),
                    message: None,
                };
                outbox::enqueue(tx, &item, now)?;
                queued += 1;
            }
            Action::Digest { digest, .. } => digests::add_digest_item(tx, &digest, new.row, now)?,
            Action::Chat {
                rule,
                chat,
                public_url,
            } => {
                let link =
                    public_url.map(|u| format!("{}/events/{}", u.trim_end_matches('/'), new.row));
                let item = NewItem {
                    channel: Channel::Webhook,
                    target: format!("{} {}", chat.service.as_str(), chat.shown),
                    payload: chat_payload(new.event, &chat, &rule, link.as_deref(), false),
                    rule: Some(rule),
                    event: Some(new.row),
                    message: None,
                };
                outbox::enqueue(tx, &item, now)?;
                queued += 1;
            }
        }
    }
    Ok(queued)
}

/// A customer forward as queued: rendered when sent; what the local lookups find is
/// decided now, the url lookups are named to be asked then.
pub fn customer_payload(
    rules: &RuleSet,
    forward: &crate::action::Forward,
    rule: &str,
    event: &crate::event::Event,
) -> serde_json::Value {
    let mut rows = serde_json::Map::new();
    let mut remote = serde_json::Map::new();
    for l in rules
        .lookups
        .iter()
        .filter(|l| forward.lookups.contains(&l.name))
    {
        if l.is_remote() {
            remote.insert(
                l.name.clone(),
                serde_json::to_value(&l.spec).unwrap_or_default(),
            );
        } else {
            rows.insert(l.name.clone(), rules.local_row(l, event));
        }
    }
    serde_json::json!({
        "customer": true,
        "rule": rule,
        "forward": forward,
        "event": event,
        "rows": rows,
        "remote": remote,
    })
}

/// A chat message as queued: the destination, the event, the rule and the link; the
/// message is made from them when it is sent (`deliver::chat`). `url` is where it goes
/// for people and for holding a destination back, never a secret.
pub fn chat_payload(
    event: &crate::event::Event,
    chat: &crate::action::Chat,
    rule: &str,
    link: Option<&str>,
    test: bool,
) -> serde_json::Value {
    serde_json::json!({
        "chat": chat,
        "url": chat.shown,
        "event": event,
        "rule": rule,
        "link": link,
        "test": test,
    })
}
