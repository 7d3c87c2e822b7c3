//! The database schema as a list of migrations. The program brings any older file up to
//! date at open; `schema_version` records how far a file has come. Never edit a
//! released migration: add a new one.

/// Migration `i` takes a file from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: messages, their sources, events and where each event was seen.
    r#"
    CREATE TABLE messages (
        id           INTEGER PRIMARY KEY,
        content_hash TEXT NOT NULL UNIQUE,      -- sha256 hex of the raw bytes
        message_id   TEXT,                      -- the Message-ID header
        subject      TEXT,
        sender       TEXT,
        date         TEXT,                      -- the Date header, RFC 3339
        size         INTEGER NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('parsed', 'quarantined')),
        reason       TEXT,                      -- why it is quarantined
        event_count  INTEGER NOT NULL DEFAULT 0,
        first_seen   TEXT NOT NULL,
        last_seen    TEXT NOT NULL
    );
    CREATE INDEX messages_quarantined ON messages (id) WHERE status = 'quarantined';

    -- The raw message for reparse: whole up to the size limit, else headers only.
    CREATE TABLE raw_messages (
        message   INTEGER PRIMARY KEY REFERENCES messages (id),
        complete  INTEGER NOT NULL,             -- 1 whole message, 0 headers only
        raw       BLOB NOT NULL
    );

    -- Every place a message was found: a file, a Maildir entry, an mbox position, an
    -- IMAP folder UID.
    CREATE TABLE message_sources (
        id          INTEGER PRIMARY KEY,
        message     INTEGER NOT NULL REFERENCES messages (id),
        source      TEXT NOT NULL,              -- canonical key, e.g. imap:acct/INBOX;uidvalidity=1;uid=7
        account     TEXT,
        folder      TEXT,
        uidvalidity INTEGER,
        uid         INTEGER,
        path        TEXT,
        seen_at     TEXT NOT NULL,
        UNIQUE (message, source)
    );

    CREATE TABLE events (
        id          INTEGER PRIMARY KEY,
        registrar   TEXT NOT NULL,
        event_id    TEXT NOT NULL,
        kind        TEXT NOT NULL,
        object      TEXT NOT NULL,
        type        TEXT NOT NULL,
        topic       TEXT NOT NULL,
        domain      TEXT,
        domains     TEXT NOT NULL,              -- JSON array
        status      TEXT,
        occurred_at TEXT,
        format      TEXT NOT NULL,
        data        TEXT NOT NULL,              -- JSON
        message     INTEGER NOT NULL REFERENCES messages (id),   -- where first seen
        seen_count  INTEGER NOT NULL DEFAULT 1, -- distinct sources it was seen at
        first_seen  TEXT NOT NULL,
        last_seen   TEXT NOT NULL,
        UNIQUE (registrar, event_id)
    );
    CREATE INDEX events_topic ON events (topic);
    CREATE INDEX events_domain ON events (domain);

    CREATE TABLE event_sources (
        event    INTEGER NOT NULL REFERENCES events (id),
        message  INTEGER NOT NULL REFERENCES messages (id),
        source   INTEGER NOT NULL REFERENCES message_sources (id),
        seen_at  TEXT NOT NULL,
        PRIMARY KEY (event, source)
    ) WITHOUT ROWID;
    CREATE INDEX event_sources_message ON event_sources (message);
    "#,
];
