//! The reseller's rule files (DESIGN §5): which events to forward, post to a webhook,
//! or collect into a digest. Loading checks everything and reports file, line, column
//! and reason; evaluation is a pure function of the event (no I/O): it returns the
//! actions, and the host (store and delivery) carries them out.

pub mod condition;
mod load;

use serde::Serialize;

pub use crate::action::{Action, Chat, Digest, Forward, Webhook};

pub mod lookup;
pub use crate::schedule::Schedule;
pub use condition::{Condition, Matcher};
pub use load::{LoadError, known_value, load_dir, load_file, load_str};

use crate::event::{Event, Kind};

/// All rules and digests of a rules directory, in file-name order.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub digests: Vec<Digest>,
    /// The digests' own filters: every new event matching one joins its digest.
    pub collects: Vec<Collect>,
    /// Files read, in order.
    pub files: Vec<String>,
    /// `[http] public_url`: chat messages link to the event's page there.
    pub public_url: Option<String>,
    /// The `[[lookup]]` tables, by name.
    pub lookups: Vec<std::sync::Arc<lookup::Lookup>>,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    /// `file:line` where the rule starts.
    pub origin: String,
    pub when: Vec<Condition>,
    pub forward: Option<Forward>,
    pub webhook: Option<Webhook>,
    pub chat: Vec<Chat>,
    pub digests: Vec<String>,
    pub stop: bool,
}

/// The rule `[alerts] to` stands for: every `mailroom.*` alert forwarded to `to`.
pub fn alerts_rule(to: &[String]) -> Rule {
    Rule {
        name: "[alerts] to".into(),
        origin: "config [alerts]".into(),
        when: vec![Condition {
            field: "registrar".into(),
            matcher: condition::Matcher::Exact("mailroom".into()),
        }],
        forward: Some(crate::action::Forward {
            to: to.to_vec(),
            cc: Vec::new(),
            subject: Some("[mailroom alert] {{ status_text }}".into()),
            ..Default::default()
        }),
        webhook: None,
        chat: Vec::new(),
        digests: Vec::new(),
        stop: false,
    }
}

/// A digest's own filter (`when` in its `[[digest]]`): every new event matching it joins
/// the digest, whatever the rules say (rules may add more with `digest = "name"`).
#[derive(Debug, Clone)]
pub struct Collect {
    pub digest: String,
    pub when: Vec<Condition>,
}

/// How one rule judged one event, for `rules test`.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub rule: String,
    pub matched: bool,
    /// The first condition that did not hold.
    pub failed: Option<String>,
    /// An earlier rule stopped evaluation.
    pub skipped: bool,
    pub actions: Vec<Action>,
}

/// Whether a rule takes events of a kind, judged on the fields that name the kind of
/// notification (registrar, topic, type, object, kind) only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Subscription {
    No,
    /// Every event of this kind.
    Yes,
    /// Those that also meet its other conditions (domain, status, data, …).
    Conditional,
}

const KIND_FIELDS: &[&str] = &["registrar", "topic", "type", "object", "kind"];

fn subscription(when: &[Condition], e: &Event) -> Subscription {
    let (kind, other): (Vec<&Condition>, Vec<&Condition>) = when
        .iter()
        .partition(|c| KIND_FIELDS.contains(&c.field.as_str()));
    if !kind.iter().all(|c| c.matches(e)) {
        Subscription::No
    } else if other.is_empty() {
        Subscription::Yes
    } else {
        Subscription::Conditional
    }
}

/// A registrar's test message (`kind = "test"`, e.g. Gandi's `notification.test`, which
/// the probe asks for every day) reaches only a filter that asks for it by its kind
/// (`when.kind = "test"`, or a list or pattern taking `test`): a rule for every Gandi
/// notification must not forward each probe. Stored and listed all the same.
fn takes_kind(when: &[Condition], e: &Event) -> bool {
    e.kind != Kind::Test || when.iter().any(|c| c.field == "kind" && c.matches(e))
}

/// Why a filter that otherwise holds does not take a test message.
const TEST_ONLY_IF_ASKED: &str =
    "kind is \"test\" (a registrar's test message: only rules with when.kind = \"test\" act on it)";

impl Rule {
    pub fn matches(&self, e: &Event) -> bool {
        self.when.iter().all(|c| c.matches(e)) && takes_kind(&self.when, e)
    }

    /// Does this rule take notifications like `e` (see [`Subscription`])?
    pub fn subscribes(&self, e: &Event) -> Subscription {
        subscription(&self.when, e)
    }

    /// The channels this rule delivers to, for people.
    pub fn channels(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(f) = &self.forward {
            out.push(format!("forward to {}", f.to.join(", ")));
        }
        if let Some(w) = &self.webhook {
            out.push(format!("webhook {}", crate::secret::redact(&w.url)));
        }
        for c in &self.chat {
            out.push(format!("{} {}", c.service.as_str(), c.shown));
        }
        for d in &self.digests {
            out.push(format!("digest {d}"));
        }
        if out.is_empty() && self.stop {
            out.push("stop".into());
        }
        out
    }

    fn actions(&self, public_url: Option<&str>) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(f) = &self.forward {
            out.push(Action::Forward {
                rule: self.name.clone(),
                forward: f.clone(),
            });
        }
        if let Some(w) = &self.webhook {
            out.push(Action::Webhook {
                rule: self.name.clone(),
                webhook: w.clone(),
            });
        }
        for c in &self.chat {
            out.push(Action::Chat {
                rule: self.name.clone(),
                chat: c.clone(),
                public_url: public_url.map(str::to_string),
            });
        }
        for d in &self.digests {
            out.push(Action::Digest {
                rule: Some(self.name.clone()),
                digest: d.clone(),
            });
        }
        out
    }
}

impl Collect {
    /// Does this filter take notifications like `e`?
    pub fn subscribes(&self, e: &Event) -> Subscription {
        if self.when.is_empty() {
            Subscription::No
        } else {
            subscription(&self.when, e)
        }
    }
}

impl RuleSet {
    /// Every rule's verdict on the event, in order, honouring `stop`; then the digests
    /// whose own filters take the event.
    pub fn verdicts(&self, e: &Event) -> Vec<Verdict> {
        let rows = self.condition_rows(e);
        let mut out = Vec::new();
        let mut stopped = false;
        for rule in &self.rules {
            if stopped {
                out.push(Verdict {
                    rule: rule.name.clone(),
                    matched: false,
                    failed: None,
                    skipped: true,
                    actions: Vec::new(),
                });
                continue;
            }
            let failed = match rule.when.iter().find(|c| !c.matches_with(e, &rows)) {
                Some(c) => Some(describe_failure(c, e)),
                None if !takes_kind(&rule.when, e) => Some(TEST_ONLY_IF_ASKED.to_string()),
                None => None,
            };
            let matched = failed.is_none();
            out.push(Verdict {
                rule: rule.name.clone(),
                matched,
                failed,
                skipped: false,
                actions: if matched {
                    rule.actions(self.public_url.as_deref())
                } else {
                    Vec::new()
                },
            });
            stopped = matched && rule.stop;
        }
        out
    }

    /// The actions for a new event, each digest at most once.
    pub fn actions(&self, e: &Event) -> Vec<Action> {
        let mut actions: Vec<Action> = self
            .verdicts(e)
            .into_iter()
            .flat_map(|v| v.actions)
            .collect();
        for c in &self.collects {
            if !c.when.is_empty() && c.when.iter().all(|w| w.matches(e)) && takes_kind(&c.when, e) {
                actions.push(Action::Digest {
                    rule: None,
                    digest: c.digest.clone(),
                });
            }
        }
        let mut seen = Vec::new();
        actions.retain(|a| match a {
            Action::Digest { digest, .. } => {
                let first = !seen.contains(digest);
                seen.push(digest.clone());
                first
            }
            _ => true,
        });
        actions
    }

    /// The rows of the lookups that conditions name (`when."customer.plan"`), found
    /// for `e`: Null for a lookup that found nobody. A lookup that cannot be read (its
    /// file gone) is logged and counts as nobody found.
    fn condition_rows(&self, e: &Event) -> serde_json::Map<String, serde_json::Value> {
        let mut rows = serde_json::Map::new();
        if self.lookups.is_empty() {
            return rows;
        }
        let named = |l: &lookup::Lookup| {
            self.rules.iter().any(|r| {
                r.when
                    .iter()
                    .any(|c| c.field.split_once('.').is_some_and(|(h, _)| h == l.name))
            })
        };
        for l in self.lookups.iter().filter(|l| !l.is_remote() && named(l)) {
            rows.insert(l.name.clone(), self.local_row(l, e));
        }
        rows
    }

    /// What a csv or sql lookup finds for `e` (Null: nobody, or unreadable, logged).
    pub fn local_row(&self, l: &lookup::Lookup, e: &Event) -> serde_json::Value {
        match l.find(e.domain.as_deref()) {
            Ok(Some(row)) => serde_json::Value::Object(row),
            Ok(None) => serde_json::Value::Null,
            Err(err) => {
                tracing::warn!(lookup = %l.name, origin = %l.origin, error = %err, "lookup failed; taken as nobody found");
                serde_json::Value::Null
            }
        }
    }

    pub fn digest(&self, name: &str) -> Option<&Digest> {
        self.digests.iter().find(|d| d.name == name)
    }

    /// Does digest `name` collect notifications like `e` by its own filter?
    pub fn collects(&self, name: &str, e: &Event) -> Subscription {
        self.collects
            .iter()
            .find(|c| c.digest == name)
            .map_or(Subscription::No, |c| c.subscribes(e))
    }
}

fn describe_failure(c: &Condition, e: &Event) -> String {
    let actual = e
        .field(&c.field)
        .map(|v| match v {
            serde_json::Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        })
        .unwrap_or_else(|| "absent".into());
    format!("{} is {actual}", c.field)
}

/// An event standing in for any, to render template paths at load.
pub fn sample_event() -> Event {
    Event {
        registrar: crate::event::Registrar::Unknown,
        event_id: "sample".into(),
        kind: Kind::Event,
        object: "domain".into(),
        event_type: "sample".into(),
        topic: "domain.created".into(),
        domain: Some("example.com".into()),
        domains: vec!["example.com".into()],
        status: None,
        status_text: None,
        occurred_at: None,
        format: crate::event::Format::Json,
        data: serde_json::json!({}),
        authenticated: None,
        authentication: None,
        occurred_at_source: None,
        rules_skipped: None,
    }
}
