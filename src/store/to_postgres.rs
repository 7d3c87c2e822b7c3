//! Moving a store to PostgreSQL (`mailroom migrate --to postgres://…`): every table of
//! the SQLite database — events, messages, raw blocks, outbox, cursors, consumers,
//! digests, dictionaries, and the rest — copied into the same tables in PostgreSQL
//! with the same keys, in batches by rowid, each batch and its progress mark committed
//! together; interrupted, it resumes after the last committed batch; at the end the
//! row counts of every table are compared.
//!
//! The SQLite-only search index (`event_search`, rebuilt from events) is not copied,
//! nor the schema version (PostgreSQL's schema has versions of its own: `store::pg`).
//! Column types follow SQLite's declarations: INTEGER as BIGINT, TEXT as TEXT, BLOB
//! and undeclared (an event's payload: JSON text or a zstd frame) as BYTEA.

use std::path::Path;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use rusqlite::types::Value as SqlValue;

/// Tables left out: SQLite's own and the search index (rebuilt from events).
fn copied(table: &str) -> bool {
    !(table.starts_with("sqlite_")
        || table.starts_with("event_search")
        || table == "search_state"
        || table == "schema_version")
}

/// One column as SQLite declares it.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    pg: Type,
    not_null: bool,
    pk: i64,
}

#[derive(Debug, Clone)]
struct Table {
    name: String,
    columns: Vec<Column>,
    uniques: Vec<Vec<String>>,
    /// What batches are ordered and resumed by: `rowid`, or the primary key of a
    /// table without rowids.
    key: Vec<String>,
}

/// What a run did, per table: rows in SQLite, rows in PostgreSQL.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub tables: Vec<(String, i64, i64)>,
    /// Tables already copied by an earlier, interrupted run.
    pub resumed: Vec<String>,
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn tables(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<Table>> {
    let names: Vec<(String, String)> = conn
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")?
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for (name, sql) in names.into_iter().filter(|(n, _)| copied(n)) {
        let without_rowid = sql.to_ascii_uppercase().contains("WITHOUT ROWID");
        let mut columns = Vec::new();
        let mut stmt = conn.prepare(&format!("PRAGMA table_info({})", quote(&name)))?;
        let rows = stmt.query_map([], |r| {
            let decl: String = r.get(2)?;
            Ok(Column {
                name: r.get(1)?,
                pg: match decl.to_ascii_uppercase().as_str() {
                    d if d.contains("INT") => Type::INT8,
                    d if d.contains("TEXT") || d.contains("CHAR") => Type::TEXT,
                    _ => Type::BYTEA,
                },
                not_null: r.get::<_, i64>(3)? != 0,
                pk: r.get(5)?,
            })
        })?;
        for c in rows {
            columns.push(c?);
        }
        let mut uniques = Vec::new();
        let indexes: Vec<(String, bool, String)> = conn
            .prepare(&format!("PRAGMA index_list({})", quote(&name)))?
            .query_map([], |r| Ok((r.get(1)?, r.get::<_, i64>(2)? != 0, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (index, unique, origin) in indexes {
            if unique && origin == "u" {
                let cols: Vec<String> = conn
                    .prepare(&format!("PRAGMA index_info({})", quote(&index)))?
                    .query_map([], |r| r.get(2))?
                    .collect::<rusqlite::Result<_>>()?;
                uniques.push(cols);
            }
        }
        let key = if without_rowid {
            let mut pk: Vec<&Column> = columns.iter().filter(|c| c.pk > 0).collect();
            pk.sort_by_key(|c| c.pk);
            pk.iter().map(|c| quote(&c.name)).collect()
        } else {
            vec!["rowid".to_string()]
        };
        out.push(Table {
            name,
            columns,
            uniques,
            key,
        });
    }
    Ok(out)
}

fn create_sql(t: &Table) -> String {
    let mut parts: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            format!(
                "{} {}{}",
                quote(&c.name),
                match c.pg {
                    Type::INT8 => "BIGINT",
                    Type::TEXT => "TEXT",
                    _ => "BYTEA",
                },
                if c.not_null { " NOT NULL" } else { "" }
            )
        })
        .collect();
    let mut pk: Vec<&Column> = t.columns.iter().filter(|c| c.pk > 0).collect();
    pk.sort_by_key(|c| c.pk);
    if !pk.is_empty() {
        let cols: Vec<String> = pk.iter().map(|c| quote(&c.name)).collect();
        parts.push(format!("PRIMARY KEY ({})", cols.join(", ")));
    }
    for u in &t.uniques {
        let cols: Vec<String> = u.iter().map(|c| quote(c)).collect();
        parts.push(format!("UNIQUE ({})", cols.join(", ")));
    }
    format!(
        "CREATE TABLE IF NOT EXISTS {} ({})",
        quote(&t.name),
        parts.join(", ")
    )
}

/// A SQLite value as the PostgreSQL column type takes it.
fn convert(v: SqlValue, ty: &Type) -> Result<Box<dyn ToSql + Sync>, String> {
    Ok(match (v, ty) {
        (SqlValue::Null, t) if *t == Type::INT8 => Box::new(None::<i64>),
        (SqlValue::Null, t) if *t == Type::TEXT => Box::new(None::<String>),
        (SqlValue::Null, _) => Box::new(None::<Vec<u8>>),
        (SqlValue::Integer(i), t) if *t == Type::INT8 => Box::new(i),
        (SqlValue::Integer(i), t) if *t == Type::TEXT => Box::new(i.to_string()),
        (SqlValue::Integer(i), _) => Box::new(i.to_string().into_bytes()),
        (SqlValue::Real(f), t) if *t == Type::TEXT => Box::new(f.to_string()),
        (SqlValue::Real(f), t) if *t == Type::INT8 => Box::new(f as i64),
        (SqlValue::Real(f), _) => Box::new(f.to_string().into_bytes()),
        (SqlValue::Text(s), t) if *t == Type::INT8 => Box::new(
            s.trim()
                .parse::<i64>()
                .map_err(|_| format!("{s:?} in an INTEGER column"))?,
        ),
        (SqlValue::Text(s), t) if *t == Type::TEXT => Box::new(s),
        (SqlValue::Text(s), _) => Box::new(s.into_bytes()),
        (SqlValue::Blob(b), t) if *t == Type::TEXT => {
            Box::new(String::from_utf8(b).map_err(|_| "bytes in a TEXT column".to_string())?)
        }
        (SqlValue::Blob(_), t) if *t == Type::INT8 => {
            return Err("bytes in an INTEGER column".into());
        }
        (SqlValue::Blob(b), _) => Box::new(b),
    })
}

/// Copies `sqlite` into the database `pg` is connected to, `batch` rows per commit;
/// `progress(table, copied so far, rows)` after each batch.
pub fn copy(
    sqlite: &rusqlite::Connection,
    pg: &mut postgres::Client,
    batch: i64,
    mut progress: impl FnMut(&str, i64, i64),
) -> Result<Report, String> {
    let sql_err = |e: rusqlite::Error| format!("the SQLite database: {e}");
    let pg_err = |e: postgres::Error| format!("PostgreSQL: {}", pg_reason(&e));
    let all = tables(sqlite).map_err(sql_err)?;
    pg.batch_execute(
        "CREATE TABLE IF NOT EXISTS mailroom_migration (
             tbl TEXT PRIMARY KEY, last_key TEXT, done BOOLEAN NOT NULL)",
    )
    .map_err(pg_err)?;
    let mut report = Report {
        tables: Vec::new(),
        resumed: Vec::new(),
    };
    for t in &all {
        pg.batch_execute(&create_sql(t)).map_err(pg_err)?;
        let state = pg
            .query_opt(
                "SELECT last_key, done FROM mailroom_migration WHERE tbl = $1",
                &[&t.name],
            )
            .map_err(pg_err)?;
        let (last_key, done): (Option<String>, bool) =
            state.map_or((None, false), |r| (r.get(0), r.get(1)));
        let mut last: Option<Vec<SqlValue>> = last_key
            .as_deref()
            .and_then(|k| serde_json::from_str::<Vec<serde_json::Value>>(k).ok())
            .map(|vs| vs.into_iter().map(from_json).collect());
        let total: i64 = sqlite
            .query_row(
                &format!("SELECT COUNT(*) FROM {}", quote(&t.name)),
                [],
                |r| r.get(0),
            )
            .map_err(sql_err)?;
        if done {
            report.resumed.push(t.name.clone());
        } else {
            let cols: Vec<String> = t.columns.iter().map(|c| quote(&c.name)).collect();
            let types: Vec<Type> = t.columns.iter().map(|c| c.pg.clone()).collect();
            let k = t.key.len();
            let keys = t.key.join(", ");
            let marks: Vec<String> = (1..=k).map(|i| format!("?{i}")).collect();
            let first = format!(
                "SELECT {keys}, {} FROM {} ORDER BY {keys} LIMIT ?1",
                cols.join(", "),
                quote(&t.name)
            );
            let next = format!(
                "SELECT {keys}, {} FROM {} WHERE ({keys}) > ({}) ORDER BY {keys} LIMIT ?{}",
                cols.join(", "),
                quote(&t.name),
                marks.join(", "),
                k + 1
            );
            let mut first = sqlite.prepare(&first).map_err(sql_err)?;
            let mut next = sqlite.prepare(&next).map_err(sql_err)?;
            let mut copied_rows: i64 = pg
                .query_one(&format!("SELECT COUNT(*) FROM {}", quote(&t.name)), &[])
                .map_err(pg_err)?
                .get(0);
            loop {
                let mut rows: Vec<(Vec<SqlValue>, Vec<SqlValue>)> = Vec::new();
                let mut q = match &last {
                    None => first.query(rusqlite::params![batch]).map_err(sql_err)?,
                    Some(key) => {
                        let mut args: Vec<SqlValue> = key.clone();
                        args.push(SqlValue::Integer(batch));
                        next.query(rusqlite::params_from_iter(args))
                            .map_err(sql_err)?
                    }
                };
                while let Some(r) = q.next().map_err(sql_err)? {
                    let mut key = Vec::with_capacity(k);
                    for i in 0..k {
                        key.push(r.get::<_, SqlValue>(i).map_err(sql_err)?);
                    }
                    let mut values = Vec::with_capacity(cols.len());
                    for i in 0..cols.len() {
                        values.push(r.get::<_, SqlValue>(k + i).map_err(sql_err)?);
                    }
                    rows.push((key, values));
                }
                drop(q);
                let n = rows.len() as i64;
                let mut tx = pg.transaction().map_err(pg_err)?;
                if n > 0 {
                    let sink = tx
                        .copy_in(&format!(
                            "COPY {} ({}) FROM STDIN BINARY",
                            quote(&t.name),
                            cols.join(", ")
                        ))
                        .map_err(pg_err)?;
                    let mut writer = BinaryCopyInWriter::new(sink, &types);
                    for (key, values) in rows {
                        let mut boxed = Vec::with_capacity(values.len());
                        for (v, ty) in values.into_iter().zip(&types) {
                            boxed.push(
                                convert(v, ty).map_err(|e| {
                                    format!("{} row {}: {e}", t.name, to_json(&key))
                                })?,
                            );
                        }
                        let refs: Vec<&(dyn ToSql + Sync)> =
                            boxed.iter().map(|b| b.as_ref()).collect();
                        writer.write(&refs).map_err(pg_err)?;
                        last = Some(key);
                    }
                    writer.finish().map_err(pg_err)?;
                }
                let finished = n < batch;
                let last_key = last.as_ref().map(|k| to_json(k));
                tx.execute(
                    "INSERT INTO mailroom_migration (tbl, last_key, done) VALUES ($1, $2, $3)
                     ON CONFLICT (tbl) DO UPDATE SET last_key = $2, done = $3",
                    &[&t.name, &last_key, &finished],
                )
                .map_err(pg_err)?;
                tx.commit().map_err(pg_err)?;
                copied_rows += n;
                progress(&t.name, copied_rows, total);
                if finished {
                    break;
                }
            }
        }
        let there: i64 = pg
            .query_one(&format!("SELECT COUNT(*) FROM {}", quote(&t.name)), &[])
            .map_err(pg_err)?
            .get(0);
        report.tables.push((t.name.clone(), total, there));
    }
    Ok(report)
}

/// A batch key as stored in the progress table: a JSON array.
fn to_json(key: &[SqlValue]) -> String {
    let values: Vec<serde_json::Value> = key
        .iter()
        .map(|v| match v {
            SqlValue::Integer(i) => serde_json::Value::from(*i),
            SqlValue::Real(f) => serde_json::Value::from(*f),
            SqlValue::Text(s) => serde_json::Value::from(s.clone()),
            SqlValue::Blob(b) => serde_json::Value::from(crate::text::to_hex(b)),
            SqlValue::Null => serde_json::Value::Null,
        })
        .collect();
    serde_json::Value::from(values).to_string()
}

fn from_json(v: serde_json::Value) -> SqlValue {
    match v {
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(SqlValue::Integer)
            .unwrap_or_else(|| SqlValue::Real(n.as_f64().unwrap_or_default())),
        serde_json::Value::String(s) => SqlValue::Text(s),
        _ => SqlValue::Null,
    }
}

/// PostgreSQL's own words for an error (its message, detail and hint), or the
/// connection's.
pub fn pg_reason(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = db.message().to_string();
            if let Some(d) = db.detail() {
                s.push_str(&format!(" ({d})"));
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!("; {h}"));
            }
            s
        }
        None => crate::reason::chain(e),
    }
}

/// Opens the SQLite database to copy (it must exist; its schema is brought up to date).
pub fn open_source(path: &Path) -> Result<super::Store, String> {
    super::Store::open_existing(path).map_err(|e| e.to_string())
}
