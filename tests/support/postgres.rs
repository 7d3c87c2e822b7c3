//! A PostgreSQL server of the test's own, from Debian's packages
//! (`scripts/install-test-deps.sh` installs them): `initdb` in a temp dir (as the
//! `postgres` user when the tests run as root, which initdb refuses), password
//! authentication (SCRAM) on a loopback port, a database `mailroom` owned by the role
//! `mailroom`. Stopped (fast shutdown) when dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::free_port;

pub struct Postgres {
    tmp: TempDir,
    port: u16,
    bin: PathBuf,
}

pub const PASSWORD: &str = "pg-t3st-pass-word";

/// Where Debian puts the server programs (the newest version installed).
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.sort();
    versions.pop().filter(|p| p.join("initdb").exists()).unwrap_or_else(|| {
        panic!("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb): run scripts/install-test-deps.sh")
    })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `program args…`, as the postgres user when we are root.
fn run(bin: &Path, program: &str, args: &[&str]) -> std::process::Output {
    let exe = bin.join(program);
    let mut c = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    c.args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"))
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let tmp = tempfile::Builder::new()
            .prefix("mr-pg-")
            .tempdir()
            .expect("tempdir");
        let dir = tmp.path();
        let data = dir.join("data");
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "chown postgres {}", dir.display());
        }
        let out = run(
            &bin,
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "mailroom",
                "--pwfile",
                pwfile.to_str().unwrap(),
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let opts = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c full_page_writes=off",
            dir.display()
        );
        let log = dir.join("server.log");
        let out = run(
            &bin,
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let pg = Postgres { tmp, port, bin };
        pg.psql("postgres", "CREATE DATABASE mailroom OWNER mailroom");
        pg
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of the `mailroom` database, without the password (give it by
    /// `[store] password_env` or PGPASSWORD).
    pub fn url(&self) -> String {
        format!("postgres://mailroom@127.0.0.1:{}/mailroom", self.port)
    }

    /// A new, empty database `name` owned by `mailroom`; its URL (no password).
    pub fn database(&self, name: &str) -> String {
        self.psql(
            "postgres",
            &format!("CREATE DATABASE {name} OWNER mailroom"),
        );
        format!("postgres://mailroom@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs SQL as the `mailroom` role over the local socket; its output (unaligned,
    /// tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let sock = self.tmp.path().display().to_string();
        let port = self.port.to_string();
        let out = run(
            &self.bin,
            "psql",
            &[
                "-h",
                &sock,
                "-p",
                &port,
                "-U",
                "mailroom",
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                sql,
            ],
        );
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The first value of `sql` as a number.
    pub fn count(&self, sql: &str) -> i64 {
        self.psql("mailroom", sql).parse().unwrap_or(-1)
    }

    pub fn log_tail(&self) -> String {
        super::file_tail(&self.tmp.path().join("server.log"), 40)
    }

    /// Stops the server (fast shutdown: every connection cut) and starts it again.
    pub fn restart(&self) {
        let data = self.tmp.path().join("data");
        let log = self.tmp.path().join("server.log");
        let out = run(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "-t",
                "30",
                "restart",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl restart: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
    }

    /// Stops (SIGSTOP) or continues (SIGCONT) the server and every process of it: a
    /// server that takes packets but answers nothing, then answers again.
    pub fn signal_all(&self, signal: &str) {
        let pid = std::fs::read_to_string(self.tmp.path().join("data/postmaster.pid"))
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        assert!(!pid.is_empty(), "no postmaster.pid");
        let children = Command::new("pgrep")
            .args(["-P", &pid])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let mut all: Vec<&str> = children.split_whitespace().collect();
        all.push(&pid);
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .args(&all)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{signal} {all:?}");
    }

    /// Waits until the server answers on its port.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "postgres did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.tmp.path().join("data");
        let _ = run(
            &self.bin,
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
    }
}

/// PgBouncer (Debian's package; `scripts/install-test-deps.sh` installs it) before a
/// [`Postgres`], pooling in transaction mode on a loopback port of its own: a few
/// server connections shared by every client, a server connection per transaction.
pub struct PgBouncer {
    tmp: TempDir,
    port: u16,
    child: std::process::Child,
}

impl PgBouncer {
    /// Pools the `mailroom` database of `pg` in transaction mode with `pool_size`
    /// server connections. Clients log in with the `mailroom` password (SCRAM, checked
    /// by PgBouncer against `auth_file`).
    pub fn start(pg: &Postgres, pool_size: usize) -> PgBouncer {
        let tmp = tempfile::Builder::new()
            .prefix("mr-pgbouncer-")
            .tempdir()
            .expect("tempdir");
        let port = free_port();
        let dir = tmp.path();
        std::fs::write(
            dir.join("users.txt"),
            format!("\"mailroom\" \"{PASSWORD}\"\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join("pgbouncer.ini"),
            format!(
                "[databases]\nmailroom = host=127.0.0.1 port={pg} dbname=mailroom user=mailroom password={PASSWORD}\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = scram-sha-256\nauth_file = {users}\npool_mode = transaction\n\
                 default_pool_size = {pool_size}\nmax_client_conn = 200\n\
                 logfile = {log}\n",
                pg = pg.port(),
                users = dir.join("users.txt").display(),
                log = dir.join("pgbouncer.log").display(),
            ),
        )
        .unwrap();
        if is_root() {
            let _ = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir)
                .status();
        }
        let exe = "/usr/sbin/pgbouncer";
        assert!(
            Path::new(exe).exists(),
            "PgBouncer is not installed ({exe}): run scripts/install-test-deps.sh"
        );
        let mut c = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", exe]);
            c
        } else {
            Command::new(exe)
        };
        let child = c
            .arg(dir.join("pgbouncer.ini"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pgbouncer");
        let bouncer = PgBouncer { tmp, port, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "pgbouncer did not come up:\n{}",
                bouncer.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        bouncer
    }

    /// The URL of the pooled `mailroom` database (no password).
    pub fn url(&self) -> String {
        format!("postgres://mailroom@127.0.0.1:{}/mailroom", self.port)
    }

    pub fn log_tail(&self) -> String {
        super::file_tail(&self.tmp.path().join("pgbouncer.log"), 40)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // runuser passes signals on; SIGKILL of runuser would leave pgbouncer behind.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
