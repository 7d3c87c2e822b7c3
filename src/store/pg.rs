//! The store in PostgreSQL: connecting (password from the config, never the URL; TLS
//! verified, required off loopback), and the schema, with the same tables, columns and
//! keys as the SQLite file's (so `migrate` copies row for row), plus what several
//! instances need: unique constraints that hold across writers, identity columns,
//! `leases` (which instance works which source) and `instances` (who is alive).

use std::path::PathBuf;

use super::db::{Pg, Sql, args};
use super::{Result, StoreError};

/// Where the PostgreSQL store is and how to log in.
#[derive(Clone)]
pub struct Target {
    /// `postgres://USER@HOST[:PORT]/DB[?sslmode=…]`.
    pub url: String,
    pub password: Option<String>,
    pub ca_file: Option<PathBuf>,
    /// How long the server may leave what was sent unacknowledged, or stay silent to
    /// keep-alive probes, before the connection counts as lost (TCP_USER_TIMEOUT and
    /// keep-alives): a server cut off by the network fails each step within this
    /// instead of after the system's 15 minutes. A third of `[store] lease` within
    /// 2-20 s, so an instance notices before its leases run out.
    pub dead_after: std::time::Duration,
    /// Connections go through a pool in transaction mode (`[store] pool_mode`):
    /// no startup options, no prepared statements, no LISTEN (delivery polls).
    pub pooled: bool,
}

impl Target {
    /// `dead_after` for a lease (see the field).
    pub fn dead_after_for(lease: std::time::Duration) -> std::time::Duration {
        (lease / 3).clamp(
            std::time::Duration::from_secs(2),
            std::time::Duration::from_secs(20),
        )
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.shown())
            .field("password", &self.password.as_ref().map(|_| "…"))
            .finish()
    }
}

impl Target {
    /// The URL as it may be shown: without a password.
    pub fn shown(&self) -> String {
        crate::secret::redact(&self.url)
    }

    /// A client connected to the database (not yet a store: see [`open`]).
    pub fn connect(&self) -> std::result::Result<postgres::Client, String> {
        let shown = self.shown();
        let mut config: postgres::Config = self.url.parse().map_err(|e: postgres::Error| {
            format!("{shown}: {}", super::to_postgres::pg_reason(&e))
        })?;
        if let Some(p) = &self.password {
            config.password(p.as_bytes());
        }
        let loopback = config.get_hosts().iter().all(|h| match h {
            postgres::config::Host::Tcp(name) => {
                name == "localhost"
                    || name
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            _ => true,
        });
        if !loopback && !self.url.contains("sslmode=") {
            config.ssl_mode(postgres::config::SslMode::Require);
        }
        config.connect_timeout(std::time::Duration::from_secs(15));
        // A query the server does not answer is given up rather than waited on forever
        // (a pool refuses startup options: its own query_timeout is for that).
        if !self.pooled {
            config.options(
                "-c statement_timeout=120000 -c idle_in_transaction_session_timeout=300000",
            );
        }
        config.tcp_user_timeout(self.dead_after);
        config.keepalives_idle(self.dead_after / 2);
        config.keepalives_interval(std::time::Duration::from_secs(1));
        config.keepalives_retries(3);
        let tls = crate::tls::client(self.ca_file.as_deref(), None).map_err(|e| e.to_string())?;
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls.rustls_config());
        super::db::off_runtime(|| config.connect(tls)).map_err(|e| {
            let reason = super::to_postgres::pg_reason(&e);
            // The password's origin is named where the server refused the login (or
            // asked for a password none was given for), not for a network fault.
            let login = e.code().is_some_and(|c| {
                *c == postgres::error::SqlState::INVALID_PASSWORD
                    || *c == postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            }) || reason.contains("password");
            if login {
                format!(
                    "connecting to {shown}: {reason} (the password comes from [store] password_env or password_command, else PGPASSWORD)"
                )
            } else if reason.contains("unsupported startup parameter") {
                // PgBouncer refuses the session settings sent at login.
                format!(
                    "connecting to {shown}: {reason} (a connection pool such as PgBouncer: set [store] pool_mode = \"transaction\", or \"session\" with the pool's ignore_startup_parameters = options)"
                )
            } else {
                format!("connecting to {shown}: {reason}")
            }
        })
    }
}

/// What a commit that queued deliveries notifies: every instance's delivery wakes.
pub const NOTIFY_CHANNEL: &str = "mailroom_outbox";

/// Whether `db` names a PostgreSQL database rather than an SQLite file.
pub fn is_url(db: &str) -> bool {
    crate::config::is_pg_url(db)
}

/// Connects and brings the schema up to date: a store ready for work.
pub fn open(target: &Target) -> std::result::Result<Pg, String> {
    let pg = Pg::new(target.connect()?, target.shown()).unnamed(target.pooled);
    migrate(&pg).map_err(|e| format!("{}: {e}", target.shown()))?;
    Ok(pg)
}

/// Migration `i` takes a database from version `i` to `i + 1`. Never edit a released
/// migration: add a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: everything SQLite's schema 13 has (but its search index), in PostgreSQL's
    // types: INTEGER as BIGINT, TEXT as TEXT, BLOB and an event's payload as BYTEA.
    // Text compares byte by byte (COLLATE "C", as SQLite's BINARY does), whatever the
    // database's locale: times sort as text and prefixes are found by range.
    r#"
    CREATE TABLE messages (
        id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        content_hash BYTEA NOT NULL UNIQUE,
        message_id   TEXT COLLATE "C",
        subject      TEXT COLLATE "C",
        sender       TEXT COLLATE "C",
        date         TEXT COLLATE "C",
        size         BIGINT NOT NULL,
        status       TEXT COLLATE "C" NOT NULL CHECK (status IN ('parsed', 'quarantined')),
        reason       TEXT COLLATE "C",
        event_count  BIGINT NOT NULL DEFAULT 0,
        first_seen   TEXT COLLATE "C" NOT NULL,
        last_seen    TEXT COLLATE "C",
        raw_block    BIGINT,
        raw_start    BIGINT,
        raw_len      BIGINT,
        raw_complete BIGINT
    );
    CREATE INDEX messages_quarantined ON messages (id) WHERE status = 'quarantined';
    CREATE INDEX messages_hash ON messages (substr(content_hash, 1, 8));
    CREATE TABLE raw_messages (
        message   BIGINT PRIMARY KEY,
        complete  BIGINT NOT NULL,
        raw       BYTEA NOT NULL
    );
    CREATE TABLE raw_blocks (
        id    BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        data  BYTEA NOT NULL
    );
    CREATE TABLE message_sources (
        id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        message     BIGINT NOT NULL,
        source      TEXT COLLATE "C" NOT NULL,
        uidvalidity BIGINT,
        uid         BIGINT,
        seen_at     TEXT COLLATE "C" NOT NULL
    );
    CREATE INDEX message_sources_message ON message_sources (message);
    CREATE TABLE events (
        id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        registrar   TEXT COLLATE "C" NOT NULL,
        event_id    TEXT COLLATE "C" NOT NULL,
        event_key   BIGINT NOT NULL,
        kind        TEXT COLLATE "C" NOT NULL,
        object      TEXT COLLATE "C" NOT NULL,
        type        TEXT COLLATE "C" NOT NULL,
        topic       TEXT COLLATE "C" NOT NULL,
        domain      TEXT COLLATE "C",
        domains     TEXT COLLATE "C",
        status      TEXT COLLATE "C",
        occurred_at TEXT COLLATE "C",
        format      TEXT COLLATE "C" NOT NULL,
        data        BYTEA NOT NULL,
        message     BIGINT NOT NULL,
        seen_count  BIGINT NOT NULL DEFAULT 1,
        first_seen  TEXT COLLATE "C" NOT NULL,
        last_seen   TEXT COLLATE "C",
        status_text TEXT COLLATE "C",
        authenticated BIGINT,
        authentication TEXT COLLATE "C",
        occurred_at_source TEXT COLLATE "C",
        rules_skipped TEXT COLLATE "C",
        UNIQUE (registrar, event_id)
    );
    CREATE INDEX events_key ON events (event_key);
    CREATE INDEX events_topic ON events (topic);
    CREATE INDEX events_domain ON events (domain);
    CREATE INDEX events_when ON events (COALESCE(occurred_at, first_seen), id);
    CREATE INDEX events_tally ON events (registrar, topic, seen_count);
    CREATE INDEX events_status ON events (status);
    CREATE TABLE event_sources (
        event    BIGINT NOT NULL,
        message  BIGINT NOT NULL,
        source   BIGINT NOT NULL,
        seen_at  TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (event, source)
    );
    CREATE INDEX event_sources_message ON event_sources (message);
    CREATE TABLE event_conflicts (
        id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        event         BIGINT NOT NULL,
        message       BIGINT NOT NULL,
        data          TEXT COLLATE "C" NOT NULL,
        authenticated BIGINT,
        authentication TEXT COLLATE "C",
        superseded    BIGINT NOT NULL DEFAULT 0,
        seen_at       TEXT COLLATE "C" NOT NULL
    );
    CREATE INDEX event_conflicts_event ON event_conflicts (event);
    CREATE TABLE outbox (
        id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        channel      TEXT COLLATE "C" NOT NULL CHECK (channel IN ('forward', 'webhook', 'digest', 'fallback')),
        rule         TEXT COLLATE "C",
        event        BIGINT,
        message      BIGINT,
        target       TEXT COLLATE "C" NOT NULL,
        payload      TEXT COLLATE "C" NOT NULL,
        state        TEXT COLLATE "C" NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
        attempts     BIGINT NOT NULL DEFAULT 0,
        next_attempt TEXT COLLATE "C" NOT NULL,
        window_start TEXT COLLATE "C" NOT NULL,
        lease_until  TEXT COLLATE "C",
        last_error   TEXT COLLATE "C",
        created      TEXT COLLATE "C" NOT NULL,
        done_at      TEXT COLLATE "C",
        claimed_by   TEXT COLLATE "C"
    );
    CREATE INDEX outbox_due ON outbox (next_attempt) WHERE state = 'pending';
    CREATE INDEX outbox_dead ON outbox (id) WHERE state = 'dead';
    CREATE INDEX outbox_event ON outbox (event);
    CREATE TABLE digest_runs (
        id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        digest       TEXT COLLATE "C" NOT NULL,
        period_start TEXT COLLATE "C",
        period_end   TEXT COLLATE "C" NOT NULL,
        events       BIGINT NOT NULL,
        outbox       BIGINT,
        created      TEXT COLLATE "C" NOT NULL,
        UNIQUE (digest, period_end)
    );
    CREATE TABLE digest_items (
        digest  TEXT COLLATE "C" NOT NULL,
        event   BIGINT NOT NULL,
        added   TEXT COLLATE "C" NOT NULL,
        run     BIGINT,
        PRIMARY KEY (digest, event)
    );
    CREATE INDEX digest_items_open ON digest_items (digest, added) WHERE run IS NULL;
    CREATE TABLE cursors (
        source       TEXT COLLATE "C" NOT NULL,
        folder       TEXT COLLATE "C" NOT NULL,
        uidvalidity  BIGINT,
        last_uid     BIGINT NOT NULL DEFAULT 0,
        messages     BIGINT NOT NULL DEFAULT 0,
        last_sync    TEXT COLLATE "C",
        last_error   TEXT COLLATE "C",
        last_error_at TEXT COLLATE "C",
        PRIMARY KEY (source, folder)
    );
    CREATE TABLE meta (
        key   TEXT COLLATE "C" PRIMARY KEY,
        value TEXT COLLATE "C" NOT NULL
    );
    CREATE TABLE consumers (
        name      TEXT COLLATE "C" PRIMARY KEY,
        acked     BIGINT NOT NULL DEFAULT 0,
        created   TEXT COLLATE "C" NOT NULL,
        updated   TEXT COLLATE "C" NOT NULL,
        last_poll TEXT COLLATE "C"
    );
    CREATE TABLE dictionaries (
        id      BIGINT PRIMARY KEY,
        dict    BYTEA NOT NULL,
        samples BIGINT NOT NULL,
        created TEXT COLLATE "C" NOT NULL
    );
    -- Which instance works which source (an IMAP folder, a local folder, a registrar
    -- poll) until when, on the database's clock (ms since 1970).
    CREATE TABLE leases (
        source  TEXT COLLATE "C" PRIMARY KEY,
        holder  TEXT COLLATE "C" NOT NULL,
        until   BIGINT NOT NULL,
        taken   BIGINT NOT NULL
    );
    -- Every running instance, and when it last said it was alive (the database's clock):
    -- a delivery claimed by an instance that stopped saying so is taken over.
    CREATE TABLE instances (
        id       TEXT COLLATE "C" PRIMARY KEY,
        host     TEXT COLLATE "C" NOT NULL,
        pid      BIGINT NOT NULL,
        started  BIGINT NOT NULL,
        seen     BIGINT NOT NULL
    );
    "#,
];

/// Brings the schema up to date, one migration per transaction, each under the write
/// lock every instance's writers take ([`Sql::write`]): several instances starting at
/// once take turns. That also makes `schema_version` once: `CREATE TABLE IF NOT EXISTS`
/// is not safe against itself in PostgreSQL (two sessions can both find no table, and
/// the second fails with "type schema_version already exists").
pub fn migrate(pg: &Pg) -> Result<()> {
    let known = MIGRATIONS.len() as i64;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let tx = pg.write()?;
        tx.batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
        let now: i64 = tx
            .row("SELECT version FROM schema_version", args![], |r| r.get(0))?
            .unwrap_or(0);
        if now > known {
            return Err(StoreError::Column(format!(
                "a database of schema version {now}, newer than this mailroom ({known}); upgrade mailroom"
            )));
        }
        if now > i as i64 {
            continue;
        }
        tx.batch(sql)?;
        tx.exec("DELETE FROM schema_version", args![])?;
        tx.exec(
            "INSERT INTO schema_version (version) VALUES (?1)",
            args![i as i64 + 1],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// After rows were copied in with their ids (`migrate`), each identity column goes on
/// after the largest id.
pub fn reset_identities(pg: &Pg) -> Result<()> {
    let tables: Vec<String> = pg.rows(
        "SELECT table_name FROM information_schema.columns
         WHERE table_schema = current_schema() AND column_name = 'id' AND is_identity = 'YES'",
        args![],
        |r| r.get(0),
    )?;
    for t in tables {
        pg.batch(&format!(
            "SELECT setval(pg_get_serial_sequence('{t}', 'id'), GREATEST((SELECT MAX(id) FROM \"{t}\"), 1))"
        ))?;
    }
    Ok(())
}

/// Milliseconds since 1970 on the database's clock: what every instance measures
/// leases and liveness by (their own clocks may disagree).
pub fn now_ms(conn: &impl Sql) -> Result<i64> {
    match conn.dialect() {
        super::db::Dialect::Postgres => conn.one(
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
            args![],
        ),
        super::db::Dialect::Sqlite => Ok(crate::clock::now().timestamp_millis()),
    }
}

/// The PostgreSQL stores this process was configured with, by URL: how `Store::open`
/// (given the URL where a file path would be) finds the password and CA the config
/// gave, and where idle reader connections wait for their next use.
struct Known {
    target: Target,
    idle: Vec<Pg>,
}

fn known() -> &'static std::sync::Mutex<Vec<Known>> {
    static KNOWN: std::sync::OnceLock<std::sync::Mutex<Vec<Known>>> = std::sync::OnceLock::new();
    KNOWN.get_or_init(Default::default)
}

fn lock() -> std::sync::MutexGuard<'static, Vec<Known>> {
    known().lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes `target` the way to reach its URL in this process.
pub fn register(target: Target) {
    let mut k = lock();
    k.retain(|t| t.target.url != target.url);
    k.push(Known {
        target,
        idle: Vec::new(),
    });
}

/// The registered target of `url`, else one with `PGPASSWORD` (a command given the URL
/// directly, without a config).
pub fn target(url: &str) -> Target {
    lock()
        .iter()
        .find(|k| k.target.url == url)
        .map(|k| k.target.clone())
        .unwrap_or_else(|| Target {
            url: url.to_string(),
            password: std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()),
            ca_file: None,
            dead_after: Target::dead_after_for(std::time::Duration::from_secs(30)),
            pooled: false,
        })
}

/// Idle connections kept per database for readers (the web server's requests).
const IDLE_READERS: usize = 8;

/// A reader connection: an idle one if there is one, else a new one.
pub fn take_reader(url: &str) -> std::result::Result<Pg, String> {
    let idle = lock()
        .iter_mut()
        .find(|k| k.target.url == url)
        .and_then(|k| k.idle.pop());
    match idle {
        Some(pg) if !pg.is_closed() => Ok(pg),
        _ => {
            let t = target(url);
            Ok(Pg::new(t.connect()?, t.shown()).unnamed(t.pooled))
        }
    }
}

/// Gives a reader connection back for the next one (dropped when broken, inside a
/// transaction, or when enough wait).
pub fn give_back(url: &str, pg: Pg) {
    if pg.is_closed() || pg.in_transaction() {
        return;
    }
    if let Some(k) = lock().iter_mut().find(|k| k.target.url == url)
        && k.idle.len() < IDLE_READERS
    {
        k.idle.push(pg);
    }
}
