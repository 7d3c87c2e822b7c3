//! `mailroom::oauth2` against a real OAuth2 authorization server (tests/support/
//! oauth2_server.py): access tokens cached and refreshed, rotated refresh tokens saved,
//! refusals and outages told apart, and the two sign-in flows (device code, browser
//! with PKCE) each giving a refresh token that works.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mailroom::oauth2::login::{Flow, login};
use mailroom::oauth2::{OAuthError, Settings, Source, Tokens, read_token_file, write_token_file};
use support::oauth2::{OAuth2Options, OAuth2Server};

/// What `oauth2::Tokens` keeps before an access token's end (src/oauth2/mod.rs MARGIN).
const MARGIN: u64 = 60;
const USER: &str = "notifications@reseller.example";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn settings(oauth: &OAuth2Server, source: Source) -> Settings {
    Settings {
        name: "m365".into(),
        token_url: oauth.token_url(),
        client_id: oauth.options().client_id.clone(),
        client_secret: oauth.options().client_secret.clone(),
        scope: Some("https://outlook.office.com/IMAP.AccessAsUser.All offline_access".into()),
        source,
        timeout: Duration::from_secs(5),
    }
}

/// Outcomes of the refresh_token grants so far, oldest first ("ok", "invalid_grant").
fn refresh_results(oauth: &OAuth2Server) -> Vec<String> {
    oauth
        .events()
        .iter()
        .filter(|e| e["grant_type"] == "refresh_token")
        .map(|e| e["result"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn access_tokens_are_kept_until_shortly_before_they_end_then_refreshed() {
    // Lives MARGIN + 2 s: kept for about 2 s.
    let oauth = OAuth2Server::start(OAuth2Options::default().expires_in(MARGIN + 2));
    let rt = oauth.refresh_token_for(USER);
    let rt_ = runtime();
    let tokens = Tokens::new(settings(&oauth, Source::Fixed(rt))).unwrap();
    let started = Instant::now();
    let first = rt_.block_on(tokens.access_token()).unwrap();
    assert!(oauth.is_live_for(&first, USER));
    assert_eq!(rt_.block_on(tokens.access_token()).unwrap(), first);
    assert_eq!(oauth.grants(), 1, "the second call is served from memory");
    // The scope asked is the one configured.
    let asked = oauth
        .events()
        .into_iter()
        .rfind(|e| e["grant_type"] == "refresh_token");
    assert_eq!(
        asked.unwrap()["scope"],
        "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"
    );
    // Within MARGIN of its end: a new one.
    std::thread::sleep(Duration::from_millis(2100).saturating_sub(started.elapsed()));
    let second = rt_.block_on(tokens.access_token()).unwrap();
    assert_ne!(second, first);
    assert_eq!(oauth.grants(), 2);
    assert!(oauth.is_live_for(&second, USER));
    // After a refusal by the mail server: a new one at once.
    rt_.block_on(tokens.invalidate());
    let third = rt_.block_on(tokens.access_token()).unwrap();
    assert_ne!(third, second);
    assert_eq!(oauth.grants(), 3);
}

#[test]
fn a_rotated_refresh_token_is_saved_to_the_token_file_and_used_next() {
    let oauth = OAuth2Server::start(OAuth2Options::default().rotate(true));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m365.token");
    let rt1 = oauth.refresh_token_for(USER);
    write_token_file(&file, &rt1).unwrap();
    let rt_ = runtime();
    let tokens = Tokens::new(settings(&oauth, Source::File(file.clone()))).unwrap();

    let a1 = rt_.block_on(tokens.access_token()).unwrap();
    assert!(oauth.is_live_for(&a1, USER));
    let rt2 = read_token_file(&file).unwrap();
    assert_ne!(rt2, rt1, "the rotated refresh token is saved");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );

    // The next refresh uses the new token (the old one is void at the server).
    rt_.block_on(tokens.invalidate());
    let a2 = rt_.block_on(tokens.access_token()).unwrap();
    assert_ne!(a2, a1);
    let rt3 = read_token_file(&file).unwrap();
    assert_ne!(rt3, rt2);
    assert_eq!(refresh_results(&oauth), ["ok", "ok"]);

    // A later process starts from the file.
    let again = Tokens::new(settings(&oauth, Source::File(file.clone()))).unwrap();
    assert!(oauth.is_live_for(&rt_.block_on(again.access_token()).unwrap(), USER));
    assert_eq!(refresh_results(&oauth), ["ok", "ok", "ok"]);
    let rt4 = read_token_file(&file).unwrap();

    // `mailroom oauth2 login` wrote a new token meanwhile and the old grant was
    // revoked: the refusal makes the running process read the file again.
    let relogin = oauth.refresh_token_for(USER);
    write_token_file(&file, &relogin).unwrap();
    assert_eq!(oauth.revoke(&rt4), 1);
    rt_.block_on(again.invalidate());
    let a = rt_.block_on(again.access_token()).unwrap();
    assert!(oauth.is_live_for(&a, USER));
    assert_eq!(
        refresh_results(&oauth),
        ["ok", "ok", "ok", "invalid_grant", "ok"]
    );
    assert_ne!(read_token_file(&file).unwrap(), relogin, "rotated again");
}

#[test]
fn a_revoked_refresh_token_says_to_sign_in_again_and_shows_no_secret() {
    let secret = "client-s3cret-value";
    let oauth = OAuth2Server::start(OAuth2Options::default().confidential(secret));
    let rt = oauth.refresh_token_for(USER);
    let rt_ = runtime();
    let s = settings(&oauth, Source::Fixed(rt.clone()));
    let tokens = Tokens::new(s.clone()).unwrap();
    let access = rt_.block_on(tokens.access_token()).unwrap();

    oauth.revoke(&rt);
    rt_.block_on(tokens.invalidate());
    let e = rt_.block_on(tokens.access_token()).unwrap_err();
    assert!(matches!(e, OAuthError::Refused { .. }), "{e:?}");
    assert!(e.needs_a_person());
    let text = e.to_string();
    assert!(text.contains("mailroom oauth2 login m365"), "{text}");
    assert!(text.contains("invalid_grant"), "{text}");
    assert!(text.contains(&oauth.token_url()), "{text}");
    let debug = format!("{e:?} {s:?}");
    for secret_text in [rt.as_str(), secret, access.as_str()] {
        assert!(
            !text.contains(secret_text) && !debug.contains(secret_text),
            "{text}\n{debug}"
        );
    }

    // The same from a token file nobody renewed.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t");
    write_token_file(&file, &rt).unwrap();
    let from_file = Tokens::new(settings(&oauth, Source::File(file))).unwrap();
    let e = rt_.block_on(from_file.access_token()).unwrap_err();
    assert!(matches!(e, OAuthError::Refused { .. }), "{e:?}");

    // A wrong client secret is a setting to fix, not a sign-in.
    let mut wrong = settings(&oauth, Source::Fixed(oauth.refresh_token_for(USER)));
    wrong.client_secret = Some("not-it".into());
    let e = rt_
        .block_on(Tokens::new(wrong).unwrap().access_token())
        .unwrap_err();
    assert!(matches!(e, OAuthError::Client { .. }), "{e:?}");
    assert!(e.to_string().contains("invalid_client"), "{e}");
    assert!(!e.to_string().contains("not-it"), "{e}");
}

#[test]
fn a_token_endpoint_that_is_down_is_an_outage_to_retry() {
    let rt_ = runtime();
    let mut oauth = OAuth2Server::start(OAuth2Options::default());
    let rt = oauth.refresh_token_for(USER);
    let tokens = Tokens::new(settings(&oauth, Source::Fixed(rt.clone()))).unwrap();

    // Nothing listening.
    oauth.stop();
    let e = rt_.block_on(tokens.access_token()).unwrap_err();
    assert!(matches!(e, OAuthError::Unreachable { .. }), "{e:?}");
    assert!(!e.needs_a_person(), "{e}");
    assert!(e.to_string().contains("could not connect"), "{e}");
    assert!(!e.to_string().contains(&rt), "{e}");
    // Back (same state): the same refresh token works.
    oauth.start_again();
    assert!(oauth.is_live_for(&rt_.block_on(tokens.access_token()).unwrap(), USER));

    // HTTP 503 with an HTML page.
    rt_.block_on(tokens.invalidate());
    oauth.fail_next(1);
    let e = rt_.block_on(tokens.access_token()).unwrap_err();
    assert!(matches!(e, OAuthError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("503"), "{e}");
    assert!(
        rt_.block_on(tokens.access_token()).is_ok(),
        "and then it works"
    );

    // No answer within the timeout.
    let mut s = settings(&oauth, Source::Fixed(rt));
    s.timeout = Duration::from_millis(500);
    let slow = Tokens::new(s).unwrap();
    oauth.configure(serde_json::json!({"delay": 1.5}));
    let started = Instant::now();
    let e = rt_.block_on(slow.access_token()).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    oauth.configure(serde_json::json!({"delay": 0}));
    assert!(matches!(e, OAuthError::Unreachable { .. }), "{e:?}");
    assert!(!e.needs_a_person());
}

/// Runs `login` on `rt_` and hands back what it says and its result.
fn start_login(
    rt_: &tokio::runtime::Runtime,
    s: Settings,
    flow: Flow,
) -> (
    mpsc::Receiver<String>,
    tokio::task::JoinHandle<Result<String, OAuthError>>,
) {
    let (tx, rx) = mpsc::channel();
    let handle = rt_.spawn(async move {
        let mut say = move |line: &str| {
            let _ = tx.send(line.to_string());
        };
        login(&s, &flow, Duration::from_secs(30), &mut say).await
    });
    (rx, handle)
}

fn finish(
    rt_: &tokio::runtime::Runtime,
    handle: tokio::task::JoinHandle<Result<String, OAuthError>>,
) -> Result<String, OAuthError> {
    rt_.block_on(async { tokio::time::timeout(Duration::from_secs(20), handle).await })
        .expect("the login did not finish")
        .unwrap()
}

#[test]
fn the_device_flow_gives_a_refresh_token_once_the_user_approves() {
    let oauth = OAuth2Server::start(
        OAuth2Options::default()
            .offline_access_required(true)
            .authorize_user(USER),
    );
    let rt_ = runtime();
    let flow = Flow::Device {
        device_url: oauth.device_url(),
    };
    let (said, handle) = start_login(
        &rt_,
        settings(&oauth, Source::Fixed(String::new())),
        flow.clone(),
    );
    let code = oauth.wait_device(Duration::from_secs(10));
    let line = said.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        line.contains(&code) && line.contains(&format!("{}/device", oauth.url())),
        "{line}"
    );
    // Let it poll while the user has not approved yet.
    let deadline = Instant::now() + Duration::from_secs(10);
    while oauth.counter("device_polls") < 1 {
        assert!(Instant::now() < deadline, "no poll");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The user opens the verification page and enters the code.
    let page = support::http(oauth.port(), "GET", "/device", "", b"");
    assert_eq!(page.status, 200);
    let form = support::oauth2::url_form(&[("user_code", &code), ("action", "approve")]);
    let answer = support::http(
        oauth.port(),
        "POST",
        "/device",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        form.as_bytes(),
    );
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let refresh = finish(&rt_, handle).unwrap();
    assert_eq!(oauth.counter("device_grants"), 1);
    assert_eq!(
        oauth.counter("slow_downs"),
        0,
        "the client keeps the interval"
    );
    // The refresh token it gave works for the user who approved.
    let tokens = Tokens::new(settings(&oauth, Source::Fixed(refresh))).unwrap();
    assert!(oauth.is_live_for(&rt_.block_on(tokens.access_token()).unwrap(), USER));

    // Declined: an error that says so.
    let (_said, handle) = start_login(&rt_, settings(&oauth, Source::Fixed(String::new())), flow);
    let code = oauth.wait_device(Duration::from_secs(10));
    oauth.deny_device(&code);
    let e = finish(&rt_, handle).unwrap_err();
    assert!(e.to_string().contains("declined"), "{e}");
}

#[test]
fn the_browser_flow_with_pkce_gives_a_refresh_token() {
    let oauth = OAuth2Server::start(OAuth2Options::default().authorize_user(USER));
    let rt_ = runtime();
    let flow = Flow::Browser {
        auth_url: oauth.authorize_url(),
    };
    let s = settings(&oauth, Source::Fixed(String::new()));
    let (said, handle) = start_login(&rt_, s.clone(), flow.clone());
    let text = said.recv_timeout(Duration::from_secs(10)).unwrap();
    let url = text.lines().last().unwrap();
    assert!(url.starts_with(&oauth.authorize_url()), "{text}");

    // The test is the browser: the authorization page answers 302 to the loopback
    // redirect, which mailroom answers.
    let location = browse(url, 302)
        .unwrap_or_else(|| panic!("no Location from {url}\n{}", oauth.log_tail(10)));
    let redirect = reqwest::Url::parse(&location).unwrap();
    assert_eq!(redirect.host_str(), Some("127.0.0.1"), "{location}");
    // A request without the right state is turned away; the login keeps waiting.
    let port = redirect.port().unwrap();
    let stray = support::http(port, "GET", "/?code=forged&state=wrong", "", b"");
    assert_eq!(stray.status, 400);
    browse(&location, 200);
    let refresh = finish(&rt_, handle).unwrap();
    assert_eq!(oauth.counter("code_grants"), 1);
    let authorized = oauth
        .events()
        .into_iter()
        .find(|e| e["endpoint"] == "authorize")
        .unwrap();
    assert_eq!(authorized["scope"], s.scope.clone().unwrap().as_str());
    let tokens = Tokens::new(settings(&oauth, Source::Fixed(refresh))).unwrap();
    assert!(oauth.is_live_for(&rt_.block_on(tokens.access_token()).unwrap(), USER));

    // The user says no at the provider: the login ends with that.
    oauth.deny_authorize(true);
    let (said, handle) = start_login(&rt_, s, flow);
    let text = said.recv_timeout(Duration::from_secs(10)).unwrap();
    let location = browse(text.lines().last().unwrap(), 302).unwrap();
    assert!(location.contains("error=access_denied"), "{location}");
    browse(&location, 400);
    let e = finish(&rt_, handle).unwrap_err();
    assert!(e.to_string().contains("access_denied"), "{e}");
}

/// GETs `url` (on 127.0.0.1) as a browser would; asserts the status, returns Location.
fn browse(url: &str, status: u16) -> Option<String> {
    let u = reqwest::Url::parse(url).unwrap();
    let target = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    };
    let reply = support::http(u.port().unwrap(), "GET", &target, "", b"");
    assert_eq!(
        reply.status,
        status,
        "GET {url}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("location")
            .then(|| v.trim().to_string())
    })
}
