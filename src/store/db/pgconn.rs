//! The PostgreSQL side of [`Sql`](super::Sql): the synchronous `postgres` client with
//! its statements prepared once, parameters and values converted the way SQLite types
//! them, and every call kept off the async runtime's threads.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use super::{Arg, Dialect, Owned, Row, Sql, Val};
use crate::store::{Result, StoreError};

/// A PostgreSQL connection for the store: the synchronous client, its prepared
/// statements kept by their text.
pub struct Pg {
    /// Always `Some` until dropped (see `Drop`).
    client: RefCell<Option<postgres::Client>>,
    prepared: RefCell<HashMap<String, postgres::Statement>>,
    /// Statements run since the connection was made (for tests of batching).
    statements: Cell<u64>,
    /// A transaction is open (begun by `BEGIN`, ended by `COMMIT` or `ROLLBACK`).
    in_tx: Cell<bool>,
    name: String,
    /// No named (prepared) statements: each statement is parsed with its parameters'
    /// types given, in the same round trip as its execution, as a pool in transaction
    /// mode (PgBouncer before 1.21) needs: a statement prepared on one of its server
    /// connections is not there on the next.
    unnamed: bool,
}

impl Pg {
    /// `name` says which database it is (its URL without a password).
    pub fn new(client: postgres::Client, name: String) -> Pg {
        Pg {
            name,
            client: RefCell::new(Some(client)),
            prepared: RefCell::new(HashMap::new()),
            statements: Cell::new(0),
            in_tx: Cell::new(false),
            unnamed: false,
        }
    }

    /// Statements unnamed, never prepared (see the field).
    pub fn unnamed(mut self, yes: bool) -> Pg {
        self.unnamed = yes;
        self
    }

    /// The client itself, for what the shared SQL cannot say (COPY, LISTEN). Call it
    /// off the async runtime's threads (see [`off_runtime`]).
    pub fn client(&self) -> std::cell::RefMut<'_, postgres::Client> {
        std::cell::RefMut::map(self.client.borrow_mut(), |c| {
            c.as_mut().expect("a Pg holds its client until dropped")
        })
    }

    pub fn statements(&self) -> u64 {
        self.statements.get()
    }

    /// Whether the connection is gone (the server closed it, the network dropped it).
    pub fn is_closed(&self) -> bool {
        self.client.borrow().as_ref().is_none_or(|c| c.is_closed())
    }

    fn statement(&self, sql: &str) -> Result<postgres::Statement> {
        self.statements.set(self.statements.get() + 1);
        if let Some(s) = self.prepared.borrow().get(sql) {
            return Ok(s.clone());
        }
        let stmt =
            off_runtime(|| self.client().prepare(&placeholders(sql))).map_err(StoreError::Pg)?;
        self.prepared
            .borrow_mut()
            .insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }
}

/// A parameter's type as its value gives it, for unnamed statements; NULL leaves it
/// to the server (type 0: unspecified).
fn typed<'a>(vals: &'a [PgArg<'a>]) -> Vec<(&'a (dyn ToSql + Sync), Type)> {
    vals.iter()
        .map(|v| {
            let ty = match v.0 {
                Val::Int(_) => Type::INT8,
                Val::Real(_) => Type::FLOAT8,
                Val::Text(_) => Type::TEXT,
                Val::Blob(_) => Type::BYTEA,
                Val::Null => Type::new(
                    "unspecified".into(),
                    0,
                    postgres::types::Kind::Pseudo,
                    "pg_catalog".into(),
                ),
            };
            (v as &(dyn ToSql + Sync), ty)
        })
        .collect()
}

impl Sql for Pg {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }
    fn exec(&self, sql: &str, args: &[&dyn Arg]) -> Result<u64> {
        let vals: Vec<PgArg<'_>> = args.iter().map(|a| PgArg(a.val())).collect();
        if self.unnamed {
            self.statements.set(self.statements.get() + 1);
            let params = typed(&vals);
            return off_runtime(|| self.client().execute_typed(&placeholders(sql), &params))
                .map_err(StoreError::Pg);
        }
        let stmt = self.statement(sql)?;
        let refs: Vec<&(dyn ToSql + Sync)> = vals.iter().map(|v| v as _).collect();
        off_runtime(|| self.client().execute(&stmt, &refs)).map_err(StoreError::Pg)
    }
    fn each(
        &self,
        sql: &str,
        args: &[&dyn Arg],
        each: &mut dyn FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        let vals: Vec<PgArg<'_>> = args.iter().map(|a| PgArg(a.val())).collect();
        let rows = if self.unnamed {
            self.statements.set(self.statements.get() + 1);
            let params = typed(&vals);
            off_runtime(|| self.client().query_typed(&placeholders(sql), &params))
        } else {
            let stmt = self.statement(sql)?;
            let refs: Vec<&(dyn ToSql + Sync)> = vals.iter().map(|v| v as _).collect();
            off_runtime(|| self.client().query(&stmt, &refs))
        }
        .map_err(StoreError::Pg)?;
        for r in &rows {
            each(&Row::Pg(r))?;
        }
        Ok(())
    }
    fn batch(&self, sql: &str) -> Result<()> {
        self.statements.set(self.statements.get() + 1);
        let done = off_runtime(|| self.client().batch_execute(sql)).map_err(StoreError::Pg);
        match sql {
            "BEGIN" if done.is_ok() => self.in_tx.set(true),
            "COMMIT" | "ROLLBACK" => self.in_tx.set(false),
            _ => {}
        }
        done
    }
    fn in_transaction(&self) -> bool {
        self.in_tx.get()
    }
    fn identity(&self) -> String {
        self.name.clone()
    }
}

impl Drop for Pg {
    /// The synchronous client runs a runtime of its own, which must not be dropped on
    /// a thread of another runtime: it is closed on a thread of its own.
    fn drop(&mut self) {
        if let Some(client) = self.client.get_mut().take() {
            let _ = std::thread::Builder::new()
                .name("pg-close".into())
                .spawn(move || drop(client));
        }
    }
}

/// Runs a step that blocks (the PostgreSQL client waits on its own runtime) where it is
/// called: on a thread of the multi-threaded async runtime, that thread's other tasks
/// are handed to another first (`block_in_place`); elsewhere it just runs.
pub fn off_runtime<T>(step: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(step)
        }
        _ => step(),
    }
}

/// `?1`, `?2` (and bare `?`) as PostgreSQL's `$1`, `$2`; quoted text left alone. A
/// bare `?` is numbered as SQLite numbers it: one more than the largest number so far.
pub fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quoted: Option<char> = None;
    let mut largest: u32 = 0;
    while let Some(c) = chars.next() {
        if let Some(q) = quoted {
            out.push(c);
            if c == q {
                quoted = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quoted = Some(c);
                out.push(c);
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let n = digits.parse::<u32>().unwrap_or(largest + 1);
                largest = largest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
            }
            c => out.push(c),
        }
    }
    out
}

/// A parameter as the PostgreSQL column takes it: numbers into integer, boolean, real
/// or text columns; text into text or bytes; bytes into bytes or (UTF-8) text.
#[derive(Debug)]
struct PgArg<'a>(Val<'a>);

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for PgArg<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, BoxError> {
        let wrong = |what: &str| -> BoxError { format!("{what} for a {ty} parameter").into() };
        match self.0 {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                Type::FLOAT8 => (i as f64).to_sql(ty, out),
                Type::FLOAT4 => (i as f32).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::UNKNOWN => i.to_string().to_sql(ty, out),
                _ => Err(wrong("a number")),
            },
            Val::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (f as f32).to_sql(ty, out),
                Type::INT8 => (f as i64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::UNKNOWN => f.to_string().to_sql(ty, out),
                _ => Err(wrong("a real number")),
            },
            Val::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::UNKNOWN | Type::NAME | Type::BPCHAR => {
                    s.to_sql(ty, out)
                }
                Type::BYTEA => s.as_bytes().to_sql(ty, out),
                Type::INT8 => s.trim().parse::<i64>()?.to_sql(ty, out),
                _ => Err(wrong("text")),
            },
            Val::Blob(b) => match *ty {
                Type::BYTEA => b.to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::UNKNOWN => {
                    std::str::from_utf8(b)?.to_sql(ty, out)
                }
                _ => Err(wrong("bytes")),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Any PostgreSQL value as SQLite would type it.
pub(super) struct PgAny(pub(super) Owned);

impl<'a> FromSql<'a> for PgAny {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        Ok(PgAny(match *ty {
            Type::INT8 => Owned::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Owned::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT2 => Owned::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::OID => Owned::Int(i64::from(u32::from_sql(ty, raw)?)),
            Type::BOOL => Owned::Int(i64::from(bool::from_sql(ty, raw)?)),
            Type::FLOAT8 => Owned::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Owned::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::BYTEA => Owned::Blob(raw.to_vec()),
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR | Type::UNKNOWN => {
                Owned::Text(String::from_sql(ty, raw)?)
            }
            _ => return Err(format!("a {ty} column (cast it in the query)").into()),
        }))
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, BoxError> {
        Ok(PgAny(Owned::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}
