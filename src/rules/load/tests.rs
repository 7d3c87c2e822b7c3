use super::*;
use crate::event::{Event, Format, Kind, Registrar};
use serde_json::json;

fn event() -> Event {
    Event {
        registrar: Registrar::Opensrs,
        event_id: "e1".into(),
        kind: Kind::Event,
        object: "transfer".into(),
        event_type: "STATUS_CHANGE".into(),
        topic: "transfer.in".into(),
        domain: Some("shop.de".into()),
        domains: vec!["shop.de".into()],
        status: Some("completed".into()),
        status_text: None,
        occurred_at: None,
        format: Format::Json,
        data: json!({"object_data": {"transfer_status": "completed", "ns": ["a", "b"]}}),
        authenticated: None,
        authentication: None,
        occurred_at_source: None,
        rules_skipped: None,
    }
}

fn load(src: &str) -> Result<RuleSet, LoadError> {
    load_str(Path::new("rules/10-test.toml"), src)
}

#[test]
fn design_example_matches() {
    let set = load(
        r#"
[[rule]]
name = "transfers"
when.topic = ["transfer.in", "transfer.out"]
when.registrar = "OpenSRS"
when.domain = "/\\.(de|fr)$/"
when."data.object_data.transfer_status" = "completed"
when.occurred_at = false
when."data.object_data.ns" = "b"
forward = { to = ["ops@example.com"], subject = "{{ registrar }}: {{ type }} {{ domain }}" }
webhook = { url = "https://hooks.example.com/registrar", secret_env = "HOOK_SECRET" }
digest = "daily"
stop = true

[[rule]]
name = "never reached"
forward = { to = "x@example.com" }

[[digest]]
name = "daily"
at = "08:00"
timezone = "Europe/Berlin"
to = ["owner@example.com"]
"#,
    )
    .unwrap();
    let e = event();
    let actions = set.actions(&e);
    assert_eq!(actions.len(), 3, "{actions:?}");
    let v = set.verdicts(&e);
    assert!(v[0].matched && v[1].skipped);
    let mut other = e.clone();
    other.domain = Some("shop.com".into());
    let v = set.verdicts(&other);
    assert!(!v[0].matched);
    assert_eq!(v[0].failed.as_deref(), Some("domain is \"shop.com\""));
    assert!(v[1].matched);
}

#[test]
fn negation_and_presence() {
    let m = |v: &str| {
        Matcher::parse(&toml::from_str::<toml::Table>(&format!("x = {v}")).unwrap()["x"]).unwrap()
    };
    let s = json!("pending");
    assert!(m("\"!completed\"").matches(Some(&s)));
    assert!(!m("{ not = [\"pending\", \"done\"] }").matches(Some(&s)));
    assert!(m("true").matches(Some(&s)));
    assert!(m("false").matches(None));
    assert!(!m("false").matches(Some(&s)));
    assert!(m("\"/^PEND/i\"").matches(Some(&s)));
    assert!(!m("\"/^PEND/\"").matches(Some(&s)));
}

#[test]
fn errors_carry_file_line_and_column() {
    let src =
        "[[rule]]\nname = \"a\"\nwhen.colour = \"red\"\nforward = { to = \"ops@example.com\" }\n";
    let e = load(src).unwrap_err();
    assert_eq!(e.errors.len(), 1);
    let first = &e.errors[0];
    assert_eq!((first.line, first.column), (3, 6), "{first}");
    assert!(
        first
            .to_string()
            .starts_with("rules/10-test.toml:3:6: unknown field \"colour\""),
        "{first}"
    );

    let e = load("[[rule]]\nname = \"a\"\nwhen.domain = \"/([a-z/\"\ndigest = \"weekly\"\n")
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("rules/10-test.toml:3:15: when.domain: bad regular expression"),
        "{text}"
    );
    assert!(
        text.contains("rules/10-test.toml:4:10: digest \"weekly\" is not defined"),
        "{text}"
    );

    let e = load("[[rule]]\nname = \"a\"\nforward = { to = [\"not an address\"] }\n").unwrap_err();
    assert!(
        e.to_string()
            .contains(":3:11: forward.to: \"not an address\" is not an email address"),
        "{e}"
    );

    let e =
        load("[[rule]]\nname = \"a\"\nforward = { to = \"a@b.c\", subject = \"{{ registrar \" }\n")
            .unwrap_err();
    assert!(
        e.to_string().contains("forward.subject: template error"),
        "{e}"
    );

    let e = load("[[rule]]\nname = \"a\"\nforwrd = { to = \"a@b.c\" }\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("rules/10-test.toml:3:1: unknown field `forwrd`"),
        "{e}"
    );

    let e = load("[[digest]]\nname = \"d\"\nat = \"8am\"\nto = \"a@b.c\"\n").unwrap_err();
    assert!(e.to_string().contains(":3:6: bad time"), "{e}");
}

#[test]
fn a_test_message_reaches_only_rules_that_ask_for_kind_test() {
    let set = load(
        r#"
[[rule]]
name = "every gandi notification"
when.registrar = "gandi"
forward = { to = "ops@example.com" }
digest = "daily"

[[rule]]
name = "gandi tests"
when.registrar = "gandi"
when.kind = "test"
webhook = { url = "https://hooks.example.com/tests" }

[[digest]]
name = "daily"
at = "08:00"
to = ["owner@example.com"]
when.registrar = "gandi"
"#,
    )
    .unwrap();
    let mut test = event();
    test.registrar = Registrar::Gandi;
    test.kind = Kind::Test;
    test.topic = "test".into();
    test.event_type = "paas.create".into();
    let actions = set.actions(&test);
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert!(
        matches!(&actions[0], crate::rules::Action::Webhook { rule, .. } if rule == "gandi tests")
    );
    let v = set.verdicts(&test);
    assert!(!v[0].matched);
    assert!(
        v[0].failed
            .as_deref()
            .unwrap()
            .contains("when.kind = \"test\"")
    );
    // The same notification for real: the first rule and the digest take it.
    let mut real = test.clone();
    real.kind = Kind::Event;
    real.topic = "hosting.created".into();
    let actions = set.actions(&real);
    assert_eq!(actions.len(), 2, "{actions:?}");
}
