//! Event payloads (`events.data`, and copies in `event_conflicts`) compressed with a
//! dictionary trained on this database's own events.
//!
//! A payload is a few hundred bytes of JSON, mostly the same keys and values from one
//! event to the next: alone, zstd barely shrinks it; with a dictionary made from a
//! thousand earlier payloads it comes to about a fifth. A column value is either TEXT
//! (the JSON itself: rows from before the dictionary, or when compressing would not
//! save anything) or a BLOB holding one zstd frame, which names its dictionary (the
//! frame's dictionary id is the `dictionaries` row id). Dictionaries are trained once,
//! in a transaction of their own (see [`train_if_due`]), and never changed or removed,
//! so a frame can always be read back.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use super::db::{Arg, Dialect, Owned, Sql, Val, args};
use super::{Result, StoreError};
use crate::clock;

/// A dictionary is trained once the database holds this many uncompressed payloads.
pub const TRAIN_AT: usize = 1000;
/// Payloads it is trained on (the newest uncompressed ones).
const SAMPLES: usize = 2000;
/// Its size: 8–16 KiB does as well as 64 KiB on registrar payloads and trains in ~50 ms.
const DICT_SIZE: usize = 16 << 10;
/// zstd level (3 is zstd's default).
const LEVEL: i32 = 3;
/// No payload is larger than this; a frame claiming more is damaged.
const MAX_PAYLOAD: usize = 256 << 20;

/// A payload as stored.
pub enum Packed {
    Text(String),
    Frame(Vec<u8>),
}

impl Arg for Packed {
    fn val(&self) -> Val<'_> {
        match self {
            Packed::Text(s) => Val::Text(s),
            Packed::Frame(b) => Val::Blob(b),
        }
    }
}

/// The first bytes of every zstd frame. JSON text never starts so (0xB5 is no UTF-8
/// lead byte): PostgreSQL keeps both kinds of payload as bytes, told apart by this.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// SQL true for a payload column (`col`) holding JSON text rather than a frame.
fn is_text(d: Dialect, col: &str) -> String {
    match d {
        Dialect::Sqlite => format!("typeof({col}) = 'text'"),
        Dialect::Postgres => format!("substr({col}, 1, 4) <> '\\x28b52ffd'::bytea"),
    }
}

struct Dict {
    id: u32,
    compressor: Mutex<zstd::bulk::Compressor<'static>>,
    decompressor: Mutex<zstd::bulk::Decompressor<'static>>,
}

impl Dict {
    fn new(id: u32, bytes: &[u8]) -> std::io::Result<Dict> {
        Ok(Dict {
            id,
            compressor: Mutex::new(zstd::bulk::Compressor::with_dictionary(LEVEL, bytes)?),
            decompressor: Mutex::new(zstd::bulk::Decompressor::with_dictionary(bytes)?),
        })
    }
}

/// Dictionaries met in this process, by database file and id (ids are zstd's, drawn
/// from the dictionary's content: two databases may, however rarely, share one).
type Known = HashMap<(PathBuf, u32), Arc<Dict>>;

fn known() -> &'static Mutex<Known> {
    static KNOWN: OnceLock<Mutex<Known>> = OnceLock::new();
    KNOWN.get_or_init(Mutex::default)
}

/// The dictionary new payloads of each database are compressed with, once it has one.
fn current() -> &'static Mutex<HashMap<PathBuf, Arc<Dict>>> {
    static CURRENT: OnceLock<Mutex<HashMap<PathBuf, Arc<Dict>>>> = OnceLock::new();
    CURRENT.get_or_init(Mutex::default)
}

/// When each database was last found without a dictionary: asked again only after
/// [`ABSENT_FOR`] (until then new payloads are stored as text, which is always valid).
fn absent() -> &'static Mutex<HashMap<PathBuf, std::time::Instant>> {
    static ABSENT: OnceLock<Mutex<HashMap<PathBuf, std::time::Instant>>> = OnceLock::new();
    ABSENT.get_or_init(Mutex::default)
}

const ABSENT_FOR: std::time::Duration = std::time::Duration::from_secs(30);

fn db_key(conn: &impl Sql) -> PathBuf {
    PathBuf::from(conn.identity())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Forgets what this process knew of the database at `path` (opened anew: the file may
/// be another one now).
pub(super) fn forget(path: &std::path::Path) {
    lock(known()).retain(|(p, _), _| p != path);
    lock(current()).remove(path);
    lock(absent()).remove(path);
}

/// The dictionary `id` of this database, loaded once.
fn dict(conn: &impl Sql, id: u32) -> Result<Option<Arc<Dict>>> {
    let key = (db_key(conn), id);
    if let Some(d) = lock(known()).get(&key) {
        return Ok(Some(Arc::clone(d)));
    }
    let bytes: Option<Vec<u8>> = conn.row(
        "SELECT dict FROM dictionaries WHERE id = ?1",
        args![id],
        |r| r.get(0),
    )?;
    let Some(bytes) = bytes else { return Ok(None) };
    let d = Arc::new(Dict::new(id, &bytes).map_err(|e| damaged(id, &e))?);
    lock(known()).insert(key, Arc::clone(&d));
    Ok(Some(d))
}

fn damaged(id: u32, e: &dyn std::fmt::Display) -> StoreError {
    StoreError::File(format!("payload dictionary {id} cannot be used: {e}"))
}

/// The dictionary this database compresses new payloads with, if it has one.
fn newest(conn: &impl Sql) -> Result<Option<Arc<Dict>>> {
    let path = db_key(conn);
    if let Some(d) = lock(current()).get(&path) {
        return Ok(Some(Arc::clone(d)));
    }
    if lock(absent())
        .get(&path)
        .is_some_and(|at| at.elapsed() < ABSENT_FOR)
    {
        return Ok(None);
    }
    let id: Option<u32> = conn.row(
        "SELECT id FROM dictionaries ORDER BY created DESC, id DESC LIMIT 1",
        args![],
        |r| r.get(0),
    )?;
    let Some(id) = id else {
        lock(absent()).insert(path, std::time::Instant::now());
        return Ok(None);
    };
    let d = dict(conn, id)?;
    if let Some(d) = &d {
        lock(current()).insert(path, Arc::clone(d));
    }
    Ok(d)
}

/// The payload as it is to be stored: compressed when the database has a dictionary
/// and that makes it smaller.
pub fn pack(conn: &impl Sql, json: String) -> Result<Packed> {
    let Some(d) = newest(conn)? else {
        return Ok(Packed::Text(json));
    };
    let frame = lock(&d.compressor)
        .compress(json.as_bytes())
        .map_err(|e| StoreError::File(format!("cannot compress an event payload: {e}")))?;
    Ok(if frame.len() < json.len() {
        Packed::Frame(frame)
    } else {
        Packed::Text(json)
    })
}

/// The payload's JSON text, from a stored value (TEXT, or a frame of [`pack`]).
pub fn unpack(conn: &impl Sql, value: &Owned) -> Result<String> {
    match value {
        Owned::Text(t) => Ok(t.clone()),
        Owned::Blob(text)
            if conn.dialect() == Dialect::Postgres && !text.starts_with(&ZSTD_MAGIC) =>
        {
            Ok(String::from_utf8_lossy(text).into_owned())
        }
        Owned::Blob(frame) => {
            let id = zstd::zstd_safe::get_dict_id_from_frame(frame)
                .map(|id| id.get())
                .ok_or_else(|| StoreError::File("a stored event payload is damaged".into()))?;
            let d = dict(conn, id)?.ok_or_else(|| {
                StoreError::File(format!(
                    "a stored event payload needs dictionary {id}, which this database lacks"
                ))
            })?;
            let size = zstd::zstd_safe::get_frame_content_size(frame)
                .ok()
                .flatten()
                .filter(|&n| n as usize <= MAX_PAYLOAD)
                .ok_or_else(|| damaged(d.id, &"a payload frame gives no size"))?;
            let bytes = lock(&d.decompressor)
                .decompress(frame, size as usize)
                .map_err(|e| damaged(d.id, &e))?;
            String::from_utf8(bytes).map_err(|e| damaged(d.id, &e))
        }
        Owned::Null => Err(StoreError::File("a stored event payload is NULL".into())),
        Owned::Int(_) | Owned::Real(_) => Err(StoreError::File(
            "a stored event payload is a number".into(),
        )),
    }
}

/// Trains this database's dictionary, in a transaction of its own, once it holds
/// [`TRAIN_AT`] payloads and has none: true when it has one now. Writers call this
/// between their transactions (never inside one: a dictionary must be committed before
/// any payload that needs it).
pub fn train_if_due(conn: &impl Sql) -> Result<bool> {
    if newest(conn)?.is_some() {
        return Ok(true);
    }
    let text = is_text(conn.dialect(), "data");
    let enough: bool = conn.one(
        &format!(
            "SELECT count(*) >= ?1 FROM
               (SELECT 1 FROM events WHERE {text} ORDER BY id DESC LIMIT ?1) AS t"
        ),
        args![TRAIN_AT as i64],
    )?;
    if !enough {
        return Ok(false);
    }
    let tx = conn.write()?;
    lock(absent()).remove(&db_key(conn));
    if newest(&*tx)?.is_some() {
        return Ok(true);
    }
    let samples: Vec<String> = tx.rows(
        &format!("SELECT data FROM events WHERE {text} ORDER BY id DESC LIMIT ?1"),
        args![SAMPLES as i64],
        |r| r.get(0),
    )?;
    if samples.len() < TRAIN_AT {
        return Ok(false);
    }
    // Too little or too uniform material makes zstd refuse: payloads then stay text,
    // and the next writer tries again.
    let Ok(bytes) = zstd::dict::from_samples(&samples, DICT_SIZE) else {
        return Ok(false);
    };
    let Some(id) = zstd::zstd_safe::get_dict_id_from_dict(&bytes).map(|i| i.get()) else {
        return Ok(false);
    };
    tx.exec(
        "INSERT INTO dictionaries (id, dict, samples, created) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
        args![id, bytes, samples.len() as i64, clock::now_stamp()],
    )?;
    tx.commit()?;
    lock(absent()).remove(&db_key(conn));
    Ok(newest(conn)?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn payload(i: usize) -> String {
        format!(
            r#"{{"object_data":{{"domain_name":"d{i}.example.de","domain_id":"{i}"}},"object":"DOMAIN","event_id":"{:032x}","event":"RENEWED","event_date":"2026-09-09T21:16:22Z"}}"#,
            i * 7919
        )
    }

    fn add(conn: &rusqlite::Connection, i: usize) {
        let data = pack(conn, payload(i)).unwrap();
        conn.exec(
            "INSERT INTO events (registrar, event_id, event_key, kind, object, type, topic, format, data, message, first_seen)
             VALUES ('opensrs', ?1, ?3, 'event', 'domain', 'RENEWED', 'domain.renewed', 'json', ?2, 1, 'x')",
            args![
                i.to_string(),
                data,
                crate::store::event_key("opensrs", &i.to_string())
            ],
        )
        .unwrap();
    }

    #[test]
    fn payloads_are_compressed_once_trained_and_all_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut store = Store::open(&path).unwrap();
        for i in 0..TRAIN_AT - 1 {
            add(store.conn(), i);
        }
        assert!(
            !train_if_due(store.conn_mut()).unwrap(),
            "too few payloads yet"
        );
        add(store.conn(), TRAIN_AT - 1);
        assert!(train_if_due(store.conn_mut()).unwrap());
        for i in TRAIN_AT..TRAIN_AT + 500 {
            add(store.conn(), i);
        }
        let kinds: Vec<(String, i64, i64)> = store
            .conn()
            .prepare("SELECT typeof(data), count(*), sum(length(data)) FROM events GROUP BY 1 ORDER BY 1")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(kinds[0].0, "blob");
        assert_eq!(kinds[0].1, 500);
        assert_eq!((kinds[1].0.as_str(), kinds[1].1), ("text", TRAIN_AT as i64));
        let per_blob = kinds[0].2 / 500;
        let per_text = kinds[1].2 / TRAIN_AT as i64;
        assert!(per_blob * 3 < per_text, "{per_blob} vs {per_text} bytes");
        // Another connection (another process) reads every payload back as written.
        drop(store);
        let reader = Store::open_reader(&path).unwrap();
        let mut stmt = reader.prepare("SELECT event_id, data FROM events").unwrap();
        let mut rows = stmt.query([]).unwrap();
        let mut n = 0;
        while let Some(r) = rows.next().unwrap() {
            let i: String = r.get(0).unwrap();
            let value = match r.get_ref(1).unwrap() {
                rusqlite::types::ValueRef::Blob(b) => Owned::Blob(b.to_vec()),
                v => Owned::Text(v.as_str().unwrap().to_string()),
            };
            let json = unpack(&reader, &value).unwrap();
            assert_eq!(json, payload(i.parse().unwrap()));
            n += 1;
        }
        assert_eq!(n, TRAIN_AT + 500);
    }

    #[test]
    fn a_damaged_frame_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.db")).unwrap();
        for bad in [&b"\x28\xb5\x2f\xfd"[..], b"", b"\x00\x01\x02"] {
            assert!(unpack(store.conn(), &Owned::Blob(bad.to_vec())).is_err());
        }
    }
}
