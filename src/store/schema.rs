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
    // 2: the outbox (what rules asked for, until delivered) and digests.
    r#"
    CREATE TABLE outbox (
        id           INTEGER PRIMARY KEY,
        channel      TEXT NOT NULL CHECK (channel IN ('forward', 'webhook', 'digest', 'fallback')),
        rule         TEXT,
        event        INTEGER REFERENCES events (id),
        message      INTEGER REFERENCES messages (id),   -- attached to forwards
        target       TEXT NOT NULL,             -- recipients or URL, for people
        payload      TEXT NOT NULL,             -- JSON: what exactly to send
        state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        next_attempt TEXT NOT NULL,
        window_start TEXT NOT NULL,             -- the give-up window runs from here
        lease_until  TEXT,                      -- a deliverer is working on it until then
        last_error   TEXT,
        created      TEXT NOT NULL,
        done_at      TEXT
    );
    CREATE INDEX outbox_due ON outbox (next_attempt) WHERE state = 'pending';

    -- Events waiting for (or included in) a digest run.
    CREATE TABLE digest_items (
        digest  TEXT NOT NULL,
        event   INTEGER NOT NULL REFERENCES events (id),
        added   TEXT NOT NULL,
        run     INTEGER REFERENCES digest_runs (id),
        PRIMARY KEY (digest, event)
    );
    CREATE INDEX digest_items_open ON digest_items (digest, added) WHERE run IS NULL;

    -- One row per digest period sent: the unique period end makes it once per period.
    CREATE TABLE digest_runs (
        id           INTEGER PRIMARY KEY,
        digest       TEXT NOT NULL,
        period_start TEXT,
        period_end   TEXT NOT NULL,
        events       INTEGER NOT NULL,
        outbox       INTEGER REFERENCES outbox (id),
        created      TEXT NOT NULL,
        UNIQUE (digest, period_end)
    );
    "#,
    // 3: where each watched folder stands, and how its last sync went.
    r#"
    CREATE TABLE cursors (
        source       TEXT NOT NULL,             -- account or maildir name
        folder       TEXT NOT NULL,
        uidvalidity  INTEGER,
        last_uid     INTEGER NOT NULL DEFAULT 0,
        messages     INTEGER NOT NULL DEFAULT 0, -- messages read from here in all
        last_sync    TEXT,
        last_error   TEXT,
        last_error_at TEXT,
        PRIMARY KEY (source, folder)
    );
    "#,
    // 4: the registrar's own words for what it reports (AutoDNS job and EPP texts).
    r#"
    ALTER TABLE events ADD COLUMN status_text TEXT;
    "#,
    // 5: a delivery claim names the process holding it (stale only when that process is
    // gone), and the database's own identity (Message-IDs do not depend on its path).
    r#"
    ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    "#,
    // 6: whether the message vouched for the event (DESIGN §8), and copies of an event
    // whose payload differs from the one stored.
    r#"
    ALTER TABLE events ADD COLUMN authenticated INTEGER;
    ALTER TABLE events ADD COLUMN authentication TEXT;
    CREATE TABLE event_conflicts (
        id            INTEGER PRIMARY KEY,
        event         INTEGER NOT NULL REFERENCES events (id),
        message       INTEGER NOT NULL REFERENCES messages (id),
        data          TEXT NOT NULL,             -- the other payload (JSON)
        authenticated INTEGER,
        authentication TEXT,
        superseded    INTEGER NOT NULL DEFAULT 0, -- 1: this was the stored copy, replaced
        seen_at       TEXT NOT NULL
    );
    CREATE INDEX event_conflicts_event ON event_conflicts (event);
    "#,
    // 7: named consumers of the event feed (`/api/v1/consumers/NAME`): each one's
    // acknowledged position in store order (events.id), never moved back.
    r#"
    CREATE TABLE consumers (
        name      TEXT PRIMARY KEY,
        acked     INTEGER NOT NULL DEFAULT 0,   -- events.id of the last event handled
        created   TEXT NOT NULL,
        updated   TEXT NOT NULL,                -- when acked last moved
        last_poll TEXT
    );
    "#,
    // 8: content hashes as 32-byte blobs (half the size of hex, in the table and its
    // unique index); raw messages compressed in blocks kept out of the hot tables (see
    // store/raw.rs; rows stored before stay in raw_messages).
    r#"
    UPDATE messages SET content_hash = unhex(content_hash) WHERE typeof(content_hash) = 'text';
    CREATE TABLE raw_blocks (
        id    INTEGER PRIMARY KEY,
        data  BLOB NOT NULL                     -- one zstd frame: raw messages end to end
    );
    ALTER TABLE messages ADD COLUMN raw_block INTEGER REFERENCES raw_blocks (id);
    ALTER TABLE messages ADD COLUMN raw_start INTEGER;   -- offset in the block's content
    ALTER TABLE messages ADD COLUMN raw_len INTEGER;
    ALTER TABLE messages ADD COLUMN raw_complete INTEGER; -- 1 whole message, 0 headers only
    "#,
    // 9: smaller rows and indexes. The content hash is found through an index on its
    // first 8 bytes (a quarter of the full key; the full hash is compared in the row, and
    // every writer checks before it inserts, inside its write transaction). `last_seen`
    // is no longer written (it is the newest `seen_at` of the sources: rows that never
    // grow keep their pages full); `domains` is NULL while it is just `[domain]` (or
    // `[]` without one). Event payloads may be stored compressed (store/packed.rs)
    // with a dictionary of this database's own (`dictionaries`). Message sources lose
    // the columns nothing wrote since schema 8 and their unique index (writers check).
    r#"
    CREATE TABLE messages_new (
        id           INTEGER PRIMARY KEY,
        content_hash BLOB NOT NULL,             -- SHA-256 of the raw bytes
        message_id   TEXT,                      -- the Message-ID header
        subject      TEXT,
        sender       TEXT,
        date         TEXT,                      -- the Date header, RFC 3339
        size         INTEGER NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('parsed', 'quarantined')),
        reason       TEXT,                      -- why it is quarantined
        event_count  INTEGER NOT NULL DEFAULT 0,
        first_seen   TEXT NOT NULL,
        last_seen    TEXT,                      -- before schema 9; now max(message_sources.seen_at)
        raw_block    INTEGER REFERENCES raw_blocks (id),
        raw_start    INTEGER,                   -- offset in the block's content
        raw_len      INTEGER,
        raw_complete INTEGER                    -- 1 whole message, 0 headers only
    );
    INSERT INTO messages_new
        SELECT id, content_hash, message_id, subject, sender, date, size, status, reason,
               event_count, first_seen, NULLIF(last_seen, first_seen),
               raw_block, raw_start, raw_len, raw_complete
        FROM messages ORDER BY id;
    DROP TABLE messages;
    ALTER TABLE messages_new RENAME TO messages;
    CREATE INDEX messages_quarantined ON messages (id) WHERE status = 'quarantined';
    CREATE INDEX messages_hash ON messages (substr(content_hash, 1, 8));

    CREATE TABLE events_new (
        id          INTEGER PRIMARY KEY,
        registrar   TEXT NOT NULL,
        event_id    TEXT NOT NULL,
        kind        TEXT NOT NULL,
        object      TEXT NOT NULL,
        type        TEXT NOT NULL,
        topic       TEXT NOT NULL,
        domain      TEXT,
        domains     TEXT,                       -- JSON array; NULL: [domain], or [] without one
        status      TEXT,
        occurred_at TEXT,
        format      TEXT NOT NULL,
        data        NOT NULL,                   -- JSON text, or a zstd frame (store/packed.rs)
        message     INTEGER NOT NULL REFERENCES messages (id),   -- where first seen
        seen_count  INTEGER NOT NULL DEFAULT 1, -- distinct sources it was seen at
        first_seen  TEXT NOT NULL,
        last_seen   TEXT,                       -- before schema 9; now max(event_sources.seen_at)
        status_text TEXT,
        authenticated INTEGER,
        authentication TEXT,
        UNIQUE (registrar, event_id)
    );
    INSERT INTO events_new
        SELECT id, registrar, event_id, kind, object, type, topic, domain,
               CASE WHEN domains = json_array(domain) OR (domain IS NULL AND domains = '[]')
                    THEN NULL ELSE domains END,
               status, occurred_at, format, data, message, seen_count, first_seen,
               NULLIF(last_seen, first_seen), status_text, authenticated, authentication
        FROM events ORDER BY id;
    DROP TABLE events;
    ALTER TABLE events_new RENAME TO events;
    CREATE INDEX events_topic ON events (topic);
    CREATE INDEX events_domain ON events (domain);

    CREATE TABLE message_sources_new (
        id          INTEGER PRIMARY KEY,
        message     INTEGER NOT NULL REFERENCES messages (id),
        source      TEXT NOT NULL,              -- canonical key, e.g. imap:acct/INBOX;uidvalidity=1;uid=7
        uidvalidity INTEGER,
        uid         INTEGER,
        seen_at     TEXT NOT NULL
    );
    INSERT INTO message_sources_new
        SELECT id, message, source, uidvalidity, uid, seen_at FROM message_sources ORDER BY id;
    DROP TABLE message_sources;
    ALTER TABLE message_sources_new RENAME TO message_sources;
    -- A message has few places: they are found by the message and the key compared in
    -- the row (a unique (message, source) index held every key a second time).
    CREATE INDEX message_sources_message ON message_sources (message);

    CREATE TABLE dictionaries (
        id      INTEGER PRIMARY KEY,            -- the zstd dictionary id in each frame
        dict    BLOB NOT NULL,
        samples INTEGER NOT NULL,               -- payloads it was trained on
        created TEXT NOT NULL
    );
    "#,
    // 10: events are found by a 64-bit key made from `(registrar, event_id)` (the first 8
    // bytes of its SHA-256: `ingest::event_key`, registered for this migration as
    // `mailroom_event_key`), through an index a third the size of the unique index on
    // both texts it replaces; the texts are compared in the row. A big import touches
    // that index at random: small, it stays in the page cache. Every writer checks
    // before it inserts, inside its write transaction, so each pair is still stored once.
    r#"
    CREATE TABLE events_new (
        id          INTEGER PRIMARY KEY,
        registrar   TEXT NOT NULL,
        event_id    TEXT NOT NULL,
        event_key   INTEGER NOT NULL,           -- ingest::event_key(registrar, event_id)
        kind        TEXT NOT NULL,
        object      TEXT NOT NULL,
        type        TEXT NOT NULL,
        topic       TEXT NOT NULL,
        domain      TEXT,
        domains     TEXT,                       -- JSON array; NULL: [domain], or [] without one
        status      TEXT,
        occurred_at TEXT,
        format      TEXT NOT NULL,
        data        NOT NULL,                   -- JSON text, or a zstd frame (store/packed.rs)
        message     INTEGER NOT NULL REFERENCES messages (id),   -- where first seen
        seen_count  INTEGER NOT NULL DEFAULT 1, -- distinct sources it was seen at
        first_seen  TEXT NOT NULL,
        last_seen   TEXT,                       -- before schema 9; now max(event_sources.seen_at)
        status_text TEXT,
        authenticated INTEGER,
        authentication TEXT
    );
    INSERT INTO events_new
        SELECT id, registrar, event_id, mailroom_event_key(registrar, event_id), kind, object,
               type, topic, domain, domains, status, occurred_at, format, data, message,
               seen_count, first_seen, last_seen, status_text, authenticated, authentication
        FROM events ORDER BY id;
    DROP TABLE events;
    ALTER TABLE events_new RENAME TO events;
    CREATE INDEX events_key ON events (event_key);
    CREATE INDEX events_topic ON events (topic);
    CREATE INDEX events_domain ON events (domain);
    "#,
    // 11: where an event's time came from (`payload`, `mail-date`, `received`: an event
    // whose payload gives no time is no longer shown as if it happened when it was
    // stored), and why no rule acted on it (`[limits] max_event_age`). Events stored
    // before get their message's Date, else their first sighting, and say so.
    r#"
    ALTER TABLE events ADD COLUMN occurred_at_source TEXT;
    ALTER TABLE events ADD COLUMN rules_skipped TEXT;
    UPDATE events SET occurred_at_source = 'payload' WHERE occurred_at IS NOT NULL;
    UPDATE events SET
        occurred_at = (SELECT strftime('%Y-%m-%dT%H:%M:%fZ', m.date) FROM messages m WHERE m.id = events.message),
        occurred_at_source = 'mail-date'
    WHERE occurred_at IS NULL
      AND (SELECT strftime('%Y-%m-%dT%H:%M:%fZ', m.date) FROM messages m WHERE m.id = events.message) IS NOT NULL;
    UPDATE events SET occurred_at = first_seen, occurred_at_source = 'received'
    WHERE occurred_at IS NULL;
    CREATE INDEX outbox_dead ON outbox (id) WHERE state = 'dead';
    "#,
    // 12: what the HTTP server reads at 100k events, each under 100 ms (docs/BENCHMARKS.md):
    // the console's event list newest first, paged by key (`events_when`, the order
    // `store::views` sorts by); feed consumers' lag counted on a narrow index in store
    // order (`events_order`); `/metrics` counts by registrar and topic, and the list of
    // statuses, from indexes instead of the table (`events_tally`, `events_status`).
    r#"
    CREATE INDEX IF NOT EXISTS events_when ON events (COALESCE(occurred_at, first_seen), id);
    CREATE INDEX IF NOT EXISTS events_order ON events (id);
    CREATE INDEX IF NOT EXISTS events_tally ON events (registrar, topic, seen_count);
    CREATE INDEX IF NOT EXISTS events_status ON events (status);
    "#,
    // 13: substring search over events (store/search.rs): a contentless FTS5 index of
    // three-character pieces of each event's domains, its message's subject and the
    // registrar's words, filled after the fact up to `search_state.last_id`.
    r#"
    CREATE VIRTUAL TABLE IF NOT EXISTS event_search USING fts5(
        domain, subject, words, tokenize = 'trigram', content = '', contentless_delete = 1
    );
    CREATE TABLE IF NOT EXISTS search_state (
        one     INTEGER PRIMARY KEY CHECK (one = 1),
        last_id INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS outbox_event ON outbox (event);
    -- What is stored already is indexed now, once (as store::search::catch_up does).
    INSERT INTO event_search (rowid, domain, subject, words)
        SELECT e.id,
               COALESCE(e.domain, '') || ' ' || COALESCE(e.domains, ''),
               COALESCE(m.subject, ''),
               COALESCE(e.status_text, '') || ' ' || e.type || ' ' || e.topic
        FROM events e LEFT JOIN messages m ON m.id = e.message ORDER BY e.id;
    INSERT OR REPLACE INTO search_state (one, last_id)
        SELECT 1, COALESCE(MAX(id), 0) FROM events;
    "#,
    // 14: several instances on one database (PostgreSQL, store/leases.rs): which instance
    // works which source until when, and which instances are alive. An SQLite file has
    // one `watch` at a time; it keeps the same rows so that `status` reads the same.
    r#"
    CREATE TABLE IF NOT EXISTS leases (
        source  TEXT PRIMARY KEY,
        holder  TEXT NOT NULL,
        until   INTEGER NOT NULL,               -- ms since 1970
        taken   INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS instances (
        id       TEXT PRIMARY KEY,
        host     TEXT NOT NULL,
        pid      INTEGER NOT NULL,
        started  INTEGER NOT NULL,
        seen     INTEGER NOT NULL
    );
    "#,
];
