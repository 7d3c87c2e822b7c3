//! `[[lookup]]` tables of the rule files: who a domain belongs to. A lookup finds a row
//! (column → value) by the event's domain — as given, in Unicode and in punycode — and
//! then by each parent (a notification about `www.example.de` finds `example.de`).
//!
//! - `csv`: a file with a header row, read again whenever it changes on disk;
//! - `sql`: one query on an SQLite database, `?1` bound to the name tried;
//! - `url`: a JSON object from an HTTP(S) endpoint, `{{ domain }}` in the URL. It needs
//!   the network, so it is never asked while an event is stored: mail using it is
//!   completed when it is sent, and a failing endpoint is retried through the outbox.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

/// One row: column → value.
pub type Row = Map<String, Value>;

pub use crate::action::LookupSpec as Spec;
pub use crate::filter::candidates;

/// A lookup of the rule files.
#[derive(Debug)]
pub struct Lookup {
    pub name: String,
    /// `file:line:column` of its `[[lookup]]`.
    pub origin: String,
    pub spec: Spec,
    csv: Mutex<Option<Arc<CsvTable>>>,
}

impl Clone for Lookup {
    fn clone(&self) -> Self {
        Lookup::new(self.name.clone(), self.origin.clone(), self.spec.clone())
    }
}

/// A CSV file as read: its header, its rows by key, and what the file was.
#[derive(Debug)]
pub struct CsvTable {
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
    by_key: HashMap<String, usize>,
    stamp: (Option<std::time::SystemTime>, u64),
}

impl Lookup {
    pub fn new(name: String, origin: String, spec: Spec) -> Lookup {
        Lookup {
            name,
            origin,
            spec,
            csv: Mutex::new(None),
        }
    }

    /// Whether finding a row needs the network (a `url` lookup).
    pub fn is_remote(&self) -> bool {
        matches!(self.spec, Spec::Url { .. })
    }

    /// The CSV table, read again when the file changed.
    pub fn csv_table(&self) -> Result<Arc<CsvTable>, String> {
        let Spec::Csv { path, key } = &self.spec else {
            return Err("not a csv lookup".into());
        };
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("{}: {}", path.display(), crate::reason::io(&e)))?;
        let stamp = (meta.modified().ok(), meta.len());
        let mut cached = self.csv.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = cached.as_ref().filter(|t| t.stamp == stamp) {
            return Ok(t.clone());
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: {}", path.display(), crate::reason::io(&e)))?;
        let table =
            Arc::new(read_csv(&text, key, stamp).map_err(|e| format!("{}: {e}", path.display()))?);
        *cached = Some(table.clone());
        Ok(table)
    }

    /// The row for `domain` (csv and sql lookups; a url lookup is found when sending).
    pub fn find(&self, domain: Option<&str>) -> Result<Option<Row>, String> {
        let Some(domain) = domain.filter(|d| !d.trim().is_empty()) else {
            return Ok(None);
        };
        match &self.spec {
            Spec::Csv { .. } => {
                let t = self.csv_table()?;
                Ok(candidates(domain)
                    .iter()
                    .find_map(|c| t.by_key.get(c))
                    .map(|i| t.rows[*i].clone()))
            }
            Spec::Sql { db, query } => {
                let conn = rusqlite::Connection::open_with_flags(
                    db,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .map_err(|e| format!("{}: {e}", db.display()))?;
                conn.busy_timeout(std::time::Duration::from_secs(5))
                    .map_err(|e| e.to_string())?;
                let mut stmt = conn
                    .prepare_cached(query)
                    .map_err(|e| format!("{}: {e}", db.display()))?;
                let names: Vec<String> =
                    stmt.column_names().iter().map(|s| s.to_string()).collect();
                for c in candidates(domain) {
                    let mut rows = stmt.query([&c]).map_err(|e| e.to_string())?;
                    if let Some(r) = rows.next().map_err(|e| e.to_string())? {
                        let mut row = Row::new();
                        for (i, n) in names.iter().enumerate() {
                            let v: rusqlite::types::Value = r.get(i).map_err(|e| e.to_string())?;
                            row.insert(n.clone(), sql_value(v));
                        }
                        return Ok(Some(row));
                    }
                }
                Ok(None)
            }
            Spec::Url { .. } => Err("a url lookup is found when sending".into()),
        }
    }

    /// The columns a row has, when known before any event (csv: the header; sql: the
    /// query's columns).
    pub fn columns(&self) -> Result<Option<Vec<String>>, String> {
        match &self.spec {
            Spec::Csv { .. } => Ok(Some(self.csv_table()?.columns.clone())),
            Spec::Sql { db, query } => {
                let conn = rusqlite::Connection::open_with_flags(
                    db,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .map_err(|e| format!("{}: {e}", db.display()))?;
                let stmt = conn
                    .prepare(query)
                    .map_err(|e| format!("{}: {e}", db.display()))?;
                if stmt.parameter_count() != 1 {
                    return Err(format!(
                        "the query takes {} parameters; it must take one, ?1 (the domain)",
                        stmt.parameter_count()
                    ));
                }
                Ok(Some(
                    stmt.column_names().iter().map(|s| s.to_string()).collect(),
                ))
            }
            Spec::Url { .. } => Ok(None),
        }
    }
}

fn sql_value(v: rusqlite::types::Value) -> Value {
    use rusqlite::types::Value as V;
    match v {
        V::Null => Value::Null,
        V::Integer(i) => Value::String(i.to_string()),
        V::Real(f) => Value::String(f.to_string()),
        V::Text(t) => Value::String(t),
        V::Blob(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
    }
}

/// Reads CSV (RFC 4180: quoted fields, doubled quotes, line breaks in quotes; a BOM and
/// CRLF or LF line ends); the header names the columns, `key` the one looked up.
fn read_csv(
    text: &str,
    key: &str,
    stamp: (Option<std::time::SystemTime>, u64),
) -> Result<CsvTable, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = parse_csv(text).into_iter();
    let columns: Vec<String> = records
        .next()
        .ok_or("empty: the first line must name the columns")?
        .into_iter()
        .map(|c| c.trim().to_string())
        .collect();
    let key_at = columns.iter().position(|c| c == key).ok_or_else(|| {
        format!(
            "no column {key:?} (the key); the header has {}",
            columns.join(", ")
        )
    })?;
    let mut rows = Vec::new();
    let mut by_key = HashMap::new();
    for record in records {
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let mut row = Row::new();
        for (i, c) in columns.iter().enumerate() {
            let v = record
                .get(i)
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            row.insert(c.clone(), Value::String(v));
        }
        if let Some(k) = record.get(key_at) {
            for form in crate::filter::domain_forms(k.trim()).0 {
                by_key.entry(form).or_insert(rows.len());
            }
        }
        rows.push(row);
    }
    Ok(CsvTable {
        columns,
        rows,
        by_key,
        stamp,
    })
}

fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                out.push(std::mem::take(&mut record));
                any = false;
            }
            c => field.push(c),
        }
    }
    if any {
        record.push(field);
        out.push(record);
    }
    out
}

/// A relative path in a rule file is relative to that file's folder.
pub fn beside(file: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        file.parent().unwrap_or(Path::new(".")).join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_is_found_by_its_spellings_then_its_parents() {
        assert_eq!(
            candidates("WWW.Bücher.example.de."),
            [
                "www.bücher.example.de",
                "www.xn--bcher-kva.example.de",
                "bücher.example.de",
                "xn--bcher-kva.example.de",
                "example.de"
            ]
        );
        assert_eq!(candidates("example.de"), ["example.de"]);
    }

    #[test]
    fn csv_quotes_and_line_ends() {
        let t = read_csv(
            "\u{feff}domain,email,note\r\nexample.de,a@example.de,\"x, \"\"y\"\"\nz\"\r\nxn--bcher-kva.de,b@example.de,\n\n",
            "domain",
            (None, 0),
        )
        .unwrap();
        assert_eq!(t.columns, ["domain", "email", "note"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0]["note"], "x, \"y\"\nz");
        // Punycode in the file is found by the Unicode name, and back.
        assert_eq!(t.by_key.get("bücher.de"), Some(&1));
        assert!(read_csv("email\nx@y\n", "domain", (None, 0)).is_err());
    }
}
