//! Secrets printed by a command (`password_command`, `secret_command`): the command
//! runs under `sh -c` with a time limit, so a command waiting on a locked keyring or a
//! prompt can never hang mailroom. The value is never logged; a failure says which
//! secret, how the command ended and what it wrote on stderr. Also: comparing a
//! presented token in constant time, and URLs with their secrets cut out.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Equal in time whatever the first difference (tokens are compared this way).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// A URL without its query, fragment and password, for messages and listings: webhook
/// URLs often carry their token there.
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            if u.query().is_some() {
                u.set_query(Some("…"));
            }
            u.set_fragment(None);
            let _ = u.set_password(None);
            // The mark as a person reads it, not percent-encoded.
            u.to_string().replace("%E2%80%A6", "…")
        }
        Err(_) => "(bad URL)".into(),
    }
}

/// How long a secret command may run unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Most stderr kept for the error message, in bytes.
const MAX_STDERR: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{what}: the command could not be started: {source}")]
    Start {
        what: String,
        source: std::io::Error,
    },
    #[error("{what}: the command did not finish within {} s and was stopped", .timeout.as_secs_f64())]
    TimedOut { what: String, timeout: Duration },
    #[error("{what}: the command {status}{}", stderr_note(.stderr))]
    Failed {
        what: String,
        status: String,
        stderr: String,
    },
}

fn stderr_note(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

/// Runs `cmd` with `sh -c` and returns the first line it prints. `what` names the
/// secret in errors (`smtp password_command`). The command is killed (with its
/// process group) when it runs longer than `timeout`.
pub fn run_secret_command(cmd: &str, what: &str, timeout: Duration) -> Result<String, SecretError> {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own process group, so whatever it starts is stopped with it.
        command.process_group(0);
    }
    let mut child = command.spawn().map_err(|source| SecretError::Start {
        what: what.to_string(),
        source,
    })?;
    // Read both pipes on threads: a command filling a pipe must not block its own exit.
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                kill(&mut child);
                return Err(SecretError::TimedOut {
                    what: what.to_string(),
                    timeout,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(source) => {
                kill(&mut child);
                return Err(SecretError::Start {
                    what: what.to_string(),
                    source,
                });
            }
        }
    };
    // A child the command left running may still hold the pipes open: wait for them
    // only as long as the time limit allows.
    let deadline = started + timeout;
    let (Some(out), Some(err)) = (collect(stdout, deadline), collect(stderr, deadline)) else {
        kill(&mut child);
        return Err(SecretError::TimedOut {
            what: what.to_string(),
            timeout,
        });
    };
    if !status.success() {
        let status = match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "was killed by a signal".to_string(),
        };
        return Err(SecretError::Failed {
            what: what.to_string(),
            status,
            stderr: one_line(&err),
        });
    }
    let text = String::from_utf8_lossy(&out);
    Ok(text.lines().next().unwrap_or_default().to_string())
}

type Drain = Option<std::sync::mpsc::Receiver<Vec<u8>>>;

fn drain<R: Read + Send + 'static>(mut pipe: R) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.by_ref().take(1 << 20).read_to_end(&mut buf);
        // Keep reading (and discarding) so the writer never blocks on a full pipe.
        let _ = std::io::copy(&mut pipe, &mut std::io::sink());
        let _ = tx.send(buf);
    });
    rx
}

/// What a drain thread read, once the pipe closed; None when it stays open past
/// `deadline`.
fn collect(drain: Drain, deadline: Instant) -> Option<Vec<u8>> {
    let Some(rx) = drain else {
        return Some(Vec::new());
    };
    let left = deadline.saturating_duration_since(Instant::now());
    rx.recv_timeout(left.max(Duration::from_millis(100))).ok()
}

fn kill(child: &mut std::process::Child) {
    #[cfg(unix)]
    {
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: kill(2) on the process group this child leads; no memory involved.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// stderr as one short line: control characters and runs of white space become one
/// space, cut at [`MAX_STDERR`] bytes.
fn one_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_STDERR)]);
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_of_output() {
        let v = run_secret_command("printf 's3cret\\nmore\\n'", "test", DEFAULT_TIMEOUT).unwrap();
        assert_eq!(v, "s3cret");
    }

    #[test]
    fn a_hanging_command_is_stopped_at_the_timeout() {
        let started = Instant::now();
        let e = run_secret_command(
            "sleep 30",
            "smtp password_command",
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(matches!(e, SecretError::TimedOut { .. }), "{e}");
        assert!(e.to_string().starts_with("smtp password_command: "), "{e}");
    }

    #[test]
    fn a_background_child_holding_the_pipe_does_not_hang_it() {
        let started = Instant::now();
        let e =
            run_secret_command("sleep 30 & sleep 30", "x", Duration::from_millis(300)).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(matches!(e, SecretError::TimedOut { .. }), "{e}");
    }

    #[test]
    fn failure_carries_stderr() {
        let e = run_secret_command(
            "echo 'vault is sealed' >&2; exit 3",
            "imap password_command",
            DEFAULT_TIMEOUT,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "imap password_command: the command exited with status 3: vault is sealed"
        );
    }
}
