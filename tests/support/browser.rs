//! Headless Chromium (Debian's `chromium`, installed by `scripts/install-test-deps.sh`)
//! for tests of the web console: the DOM after the page loaded (`--dump-dom`, with any
//! script the page ran already run) and screenshots. Each call has its own profile
//! directory (calls may run side by side) and a timeout.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long one page may take, start of Chromium included.
const PAGE_TIMEOUT: Duration = Duration::from_secs(40);

fn chromium() -> Command {
    let bin = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {b}"))
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .unwrap_or_else(|| {
            panic!(
                "no chromium on PATH: run scripts/install-test-deps.sh (apt-get install chromium)"
            )
        });
    let mut c = Command::new(bin);
    c.args([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--timeout=15000",
    ]);
    c
}

/// Runs Chromium with `args` and `url`; its stdout.
fn run(args: &[String], url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = chromium()
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let finished = super::wait_child(&mut child, PAGE_TIMEOUT);
    assert!(
        finished,
        "chromium did not finish {url} within {PAGE_TIMEOUT:?}"
    );
    reader.join().unwrap()
}

/// The page's DOM after load, serialized.
pub fn dom(url: &str) -> String {
    let out = run(&["--dump-dom".into()], url);
    assert!(
        out.contains("<html"),
        "chromium gave no DOM for {url}: {out:?}"
    );
    out
}

/// Where screenshots go: `target/test-output/<suite>/`.
pub fn output_dir(suite: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("test-output")
        .join(suite);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A screenshot of `url` at `width` × `height` into `path` (PNG).
pub fn screenshot(url: &str, path: &Path, width: u32, height: u32) {
    shoot(url, path, width, height, false);
}

/// The DOM after load (as [`dom`]) and a screenshot, from one run of Chromium.
pub fn dom_and_screenshot(url: &str, path: &Path, width: u32, height: u32) -> String {
    let out = shoot(url, path, width, height, true);
    assert!(
        out.contains("<html"),
        "chromium gave no DOM for {url}: {out:?}"
    );
    out
}

fn shoot(url: &str, path: &Path, width: u32, height: u32, dom: bool) -> String {
    let _ = std::fs::remove_file(path);
    let mut args = vec![
        format!("--screenshot={}", path.display()),
        format!("--window-size={width},{height}"),
    ];
    if dom {
        args.push("--dump-dom".into());
    }
    let out = run(&args, url);
    let png = std::fs::read(path).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG"),
        "no screenshot of {url} at {}",
        path.display()
    );
    out
}
