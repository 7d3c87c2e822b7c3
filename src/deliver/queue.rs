//! From a new event to queued deliveries: the rules' actions become outbox rows and
//! digest items, in the transaction that stores the event. Forwards of one message's
//! events to the same recipients become one mail (see [`group`]).

mod group;

use rusqlite::Transaction;

use super::compose;
use crate::clock;
use crate::rules::{Action, RuleSet};
use crate::store::outbox::{self, Channel, NewItem};
use crate::store::{NewEvent, Result};

/// Queues what `rules` ask for `new`. Returns how many deliveries were queued.
pub fn react(rules: &RuleSet, tx: &Transaction<'_>, new: NewEvent<'_>) -> Result<usize> {
    let now = clock::now();
    let mut queued = 0;
    for action in rules.actions(new.event) {
        match action {
            Action::Forward { rule, forward } => {
                let payload = compose::forward(new.event, &forward, &rule, false);
                let recipients = format!("{}|{}", forward.to.join(","), forward.cc.join(","));
                if group::join(tx, new.message, &recipients, &payload)? {
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
                group::started(new.message, &recipients, id, &item.payload);
                queued += 1;
            }
            Action::Webhook { rule, webhook } => {
                let item = NewItem {
                    channel: Channel::Webhook,
                    target: super::webhook::redact(&webhook.url),
                    rule: Some(rule),
                    event: Some(new.row),
                    message: None,
                    payload: compose::webhook(new.event, &webhook),
                };
                outbox::enqueue(tx, &item, now)?;
                queued += 1;
            }
            Action::Digest { digest, .. } => outbox::add_digest_item(tx, &digest, new.row, now)?,
        }
    }
    Ok(queued)
}
