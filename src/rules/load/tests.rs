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

fn load_in(dir: &Path, src: &str) -> Result<RuleSet, LoadError> {
    std::fs::write(dir.join("10.toml"), src).unwrap();
    load_dir(dir)
}

#[test]
fn chat_destinations_are_checked_at_load() {
    let e = load(
        r##"
[[rule]]
name = "c"
chat = [
  { service = "slack", url = "https://hooks.slack.com/services/T/B/x" },
  { service = "skype", url_env = "X" },
  { service = "matrix", homeserver = "https://m.example", room = "#alias:m.example", token_env = "HOME" },
  { service = "telegram", bot_token_env = "HOME" },
  { service = "slack", url_env = "MAILROOM_TEST_UNSET_VARIABLE" },
  { service = "ntfy", url = "https://ntfy.example/t", room = "!x:y" },
]
"##,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("rules/10-test.toml:5:"), "{e}");
    assert!(e.contains("a slack webhook URL is a secret"), "{e}");
    assert!(
        e.contains("service \"skype\" is not one of slack, mattermost"),
        "{e}"
    );
    assert!(
        e.contains("room \"#alias:m.example\" is not a room id"),
        "{e}"
    );
    assert!(e.contains("chat telegram needs chat_id"), "{e}");
    assert!(
        e.contains("environment variable MAILROOM_TEST_UNSET_VARIABLE is not set"),
        "{e}"
    );
    assert!(e.contains("chat ntfy: room does not apply"), "{e}");
    // A good one: the secret URL is read to show its origin, never kept whole.
    // SAFETY of the test: the variable is this test's own.
    unsafe {
        std::env::set_var(
            "MAILROOM_TEST_SLACK_URL",
            "https://hooks.slack.example/services/T/B/s3cret",
        )
    };
    let set = load(
        "[[rule]]\nname = \"c\"\nchat = [{ service = \"slack\", url_env = \"MAILROOM_TEST_SLACK_URL\" }, { service = \"telegram\", bot_token_env = \"MAILROOM_TEST_SLACK_URL\", chat_id = -100123 }]\n",
    )
    .unwrap();
    let chat = &set.rules[0].chat;
    assert_eq!(
        chat[0].shown,
        "https://hooks.slack.example/… (MAILROOM_TEST_SLACK_URL)"
    );
    assert_eq!(chat[1].chat_id.as_deref(), Some("-100123"));
    assert!(!format!("{:?}", set.rules[0]).contains("s3cret"));
}

#[test]
fn customer_forwards_need_missing_to_existing_templates_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("templates")).unwrap();
    std::fs::write(
        d.join("customers.csv"),
        "domain,email,language,plan\nexample.de,kunde@example.de,de,premium\nexample.fr,client@example.fr,fr,basic\n",
    )
    .unwrap();
    std::fs::write(
        d.join("templates/t.en.txt"),
        "Subject: Your domain {{ domain }}\n\nDear {{ customer.email }}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("templates/t.de.txt"),
        "Subject: Ihre Domain {{ domain }}\n\nHallo\n",
    )
    .unwrap();
    let rules = |forward: &str| {
        format!(
            "[[lookup]]\nname = \"customer\"\ncsv = \"customers.csv\"\n\n[[rule]]\nname = \"tell\"\nwhen.topic = \"transfer.out\"\nforward = {forward}\n"
        )
    };
    // No missing_to with a looked-up recipient.
    let e = load_in(d, &rules("{ to = [\"{{ customer.email }}\"] }"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("10.toml:8:11: forward.to is a template that may render to no address"),
        "{e}"
    );
    // A language with no template file (fr), named with the row that needs it.
    let with = |t: &str| {
        rules(&format!(
            "{{ to = [\"{{{{ customer.email }}}}\"], missing_to = [\"support@acme.example\"], template = \"{t}\" }}"
        ))
    };
    let e = load_in(
        d,
        &with("templates/t.{{ customer.language | default('en') }}.txt"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("for customer example.fr"), "{e}");
    assert!(e.contains("t.fr.txt"), "{e}");
    std::fs::write(
        d.join("templates/t.fr.txt"),
        "Subject: Votre domaine\n\n{{ customer.emial }}\n",
    )
    .unwrap();
    let e = load_in(
        d,
        &with("templates/t.{{ customer.language | default('en') }}.txt"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("lookup \"customer\" has no column \"emial\""),
        "{e}"
    );
    std::fs::write(
        d.join("templates/t.fr.txt"),
        "Subject: Votre domaine\n\nBonjour\n",
    )
    .unwrap();
    let set = load_in(
        d,
        &with("templates/t.{{ customer.language | default('en') }}.txt"),
    )
    .unwrap();
    let f = set.rules[0].forward.as_ref().unwrap();
    assert!(f.is_customer_mail());
    assert_eq!(f.lookups, ["customer"]);
    // Conditions on lookup columns: a column that does not exist is refused.
    let e = load_in(
        d,
        "[[lookup]]\nname = \"customer\"\ncsv = \"customers.csv\"\n[[rule]]\nname = \"p\"\nwhen.\"customer.plann\" = \"premium\"\nstop = true\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("has no column \"plann\""), "{e}");
    let set = load_in(
        d,
        "[[lookup]]\nname = \"customer\"\ncsv = \"customers.csv\"\n[[rule]]\nname = \"p\"\nwhen.\"customer.plan\" = \"premium\"\nstop = true\n",
    )
    .unwrap();
    let mut ev = event();
    ev.domain = Some("www.example.de".into());
    assert!(
        set.verdicts(&ev)[0].matched,
        "the parent domain's row is found"
    );
    ev.domain = Some("example.fr".into());
    assert!(!set.verdicts(&ev)[0].matched);
    // The CSV is read again when it changes.
    std::fs::write(
        d.join("customers.csv"),
        "domain,email,language,plan\nexample.fr,client@example.fr,fr,premium\n",
    )
    .unwrap();
    assert!(set.verdicts(&ev)[0].matched);
}

#[test]
fn a_webhook_body_template_gives_the_json_a_ticket_system_wants() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("templates")).unwrap();
    std::fs::write(
        d.join("templates/zammad.json.j2"),
        "{\"title\": {{ (registrar ~ ': ' ~ type ~ ' ' ~ domain) | tojson }}, \"group\": \"Domains\",\n \"article\": {\"body\": {{ (status_text or status) | tojson }}, \"type\": \"note\"}}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("templates/bad.json.j2"),
        "{\"title\": {{ domain }}}\n",
    )
    .unwrap();
    let rule = |body: &str| {
        format!(
            "[[rule]]\nname = \"tickets\"\nwebhook = {{ url = \"https://zammad.example/api/v1/tickets\", body = \"{body}\", content_type = \"application/json; charset=utf-8\" }}\n"
        )
    };
    let e = load_in(d, &rule("templates/bad.json.j2"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not render to JSON"), "{e}");
    assert!(e.contains("10.toml:3:"), "{e}");
    let e = load_in(d, &rule("templates/none.json.j2"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("none.json.j2"), "{e}");
    let set = load_in(d, &rule("templates/zammad.json.j2")).unwrap();
    let w = set.rules[0].webhook.as_ref().unwrap();
    let mut ev = event();
    ev.domain = Some("sh\"op.de".into());
    let call = crate::action::webhook(&ev, w, "tickets");
    assert_eq!(call["content_type"], "application/json; charset=utf-8");
    let body: serde_json::Value = serde_json::from_str(call["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["title"], "opensrs: STATUS_CHANGE sh\"op.de");
    assert_eq!(body["article"]["body"], "completed");
}
