//! One way to speak SQL to either store: the embedded SQLite file or a shared PostgreSQL
//! database. Store functions take `&impl Sql` and write their statements once, in the
//! part of SQL both engines share (`?1` placeholders, `ON CONFLICT`, `RETURNING`,
//! `COALESCE`, `CAST(… AS BIGINT)`); where the engines differ a function asks
//! [`Sql::dialect`]. Values go in as [`Arg`]s and come out through [`Row::get`] the
//! way SQLite types them (an integer, a real, text, bytes or NULL), whatever the
//! PostgreSQL column's type.
//!
//! The PostgreSQL side is the synchronous `postgres` client, like rusqlite's: store
//! work runs on blocking threads, never on the async runtime's.

use super::{Result, StoreError};

mod pgconn;
use pgconn::PgAny;
pub use pgconn::{Pg, off_runtime, placeholders};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The text at `key` of the JSON text in column `col` (NULL when absent).
    pub fn json_text(self, col: &str, key: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_extract({col}, '$.{key}')"),
            Dialect::Postgres => format!("(CAST({col} AS jsonb) ->> '{key}')"),
        }
    }
}

/// A value passed to a statement, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub enum Val<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A value read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Owned {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// What a statement takes as a parameter.
pub trait Arg {
    fn val(&self) -> Val<'_>;
}

/// `args![a, b, c]`: parameters for [`Sql`] statements, in `?1`, `?2`, … order.
#[macro_export]
macro_rules! args {
    () => { &[] as &[&dyn $crate::store::db::Arg] };
    ($($a:expr),+ $(,)?) => { &[$(&$a as &dyn $crate::store::db::Arg),+] as &[&dyn $crate::store::db::Arg] };
}
pub use args;

impl Arg for i64 {
    fn val(&self) -> Val<'_> {
        Val::Int(*self)
    }
}
impl Arg for i32 {
    fn val(&self) -> Val<'_> {
        Val::Int(i64::from(*self))
    }
}
impl Arg for u8 {
    fn val(&self) -> Val<'_> {
        Val::Int(i64::from(*self))
    }
}
impl Arg for u16 {
    fn val(&self) -> Val<'_> {
        Val::Int(i64::from(*self))
    }
}
impl Arg for u32 {
    fn val(&self) -> Val<'_> {
        Val::Int(i64::from(*self))
    }
}
impl Arg for usize {
    fn val(&self) -> Val<'_> {
        Val::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl Arg for u64 {
    fn val(&self) -> Val<'_> {
        Val::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl Arg for bool {
    fn val(&self) -> Val<'_> {
        Val::Int(i64::from(*self))
    }
}
impl Arg for f64 {
    fn val(&self) -> Val<'_> {
        Val::Real(*self)
    }
}
impl Arg for str {
    fn val(&self) -> Val<'_> {
        Val::Text(self)
    }
}
impl Arg for String {
    fn val(&self) -> Val<'_> {
        Val::Text(self)
    }
}
impl Arg for [u8] {
    fn val(&self) -> Val<'_> {
        Val::Blob(self)
    }
}
impl Arg for Vec<u8> {
    fn val(&self) -> Val<'_> {
        Val::Blob(self)
    }
}
impl<const N: usize> Arg for [u8; N] {
    fn val(&self) -> Val<'_> {
        Val::Blob(self)
    }
}
impl<T: Arg + ?Sized> Arg for &T {
    fn val(&self) -> Val<'_> {
        (**self).val()
    }
}
impl<T: Arg> Arg for Option<T> {
    fn val(&self) -> Val<'_> {
        match self {
            Some(v) => v.val(),
            None => Val::Null,
        }
    }
}
impl Arg for Owned {
    fn val(&self) -> Val<'_> {
        match self {
            Owned::Null => Val::Null,
            Owned::Int(i) => Val::Int(*i),
            Owned::Real(f) => Val::Real(*f),
            Owned::Text(s) => Val::Text(s),
            Owned::Blob(b) => Val::Blob(b),
        }
    }
}

/// A list of owned values as statement parameters.
pub fn arg_list(values: &[Owned]) -> Vec<&dyn Arg> {
    values.iter().map(|v| v as &dyn Arg).collect()
}

impl Arg for Val<'_> {
    fn val(&self) -> Val<'_> {
        *self
    }
}

/// What a column is read as.
pub trait Col: Sized {
    fn from_owned(v: Owned) -> std::result::Result<Self, String>;
}

impl Col for i64 {
    fn from_owned(v: Owned) -> std::result::Result<Self, String> {
        match v {
            Owned::Int(i) => Ok(i),
            Owned::Real(f) => Ok(f as i64),
            Owned::Text(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not a number")),
            Owned::Null => Err("NULL where a number was expected".into()),
            Owned::Blob(_) => Err("bytes where a number was expected".into()),
        }
    }
}
macro_rules! col_int {
    ($($t:ty),*) => {$(
        impl Col for $t {
            fn from_owned(v: Owned) -> std::result::Result<Self, String> {
                let i = i64::from_owned(v)?;
                <$t>::try_from(i).map_err(|_| format!("{i} is out of range"))
            }
        }
    )*};
}
col_int!(i32, u32, u64, usize, u16, u8);

impl Col for f64 {
    fn from_owned(v: Owned) -> std::result::Result<Self, String> {
        match v {
            Owned::Int(i) => Ok(i as f64),
            Owned::Real(f) => Ok(f),
            Owned::Text(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not a number")),
            _ => Err("no number".into()),
        }
    }
}
impl Col for bool {
    fn from_owned(v: Owned) -> std::result::Result<Self, String> {
        i64::from_owned(v).map(|i| i != 0)
    }
}
impl Col for String {
    fn from_owned(v: Owned) -> std::result::Result<Self, String> {
        match v {
            Owned::Text(s) => Ok(s),
            Owned::Int(i) => Ok(i.to_string()),
            Owned::Real(f) => Ok(f.to_string()),
            Owned::Blob(b) => String::from_utf8(b).map_err(|_| "bytes that are not UTF-8".into()),
            Owned::Null => Err("NULL where text was expected".into()),
        }
    }
}
impl Col for Vec<u8> {
    fn from_owned(v: Owned) -> std::result::Result<Self, String> {
        match v {
            Owned::Blob(b) => Ok(b),
            Owned::Text(s) => Ok(s.into_bytes()),
            Owned::Null => Err("NULL where bytes were expected".into()),
            _ => Err("a number where bytes were expected".into()),
        }
    }
}
impl Col for Owned {
    fn from_owned(v: Owned) -> std::result::Result<Self, String> {
        Ok(v)
    }
}
impl<T: Col> Col for Option<T> {
    fn from_owned(v: Owned) -> std::result::Result<Self, String> {
        match v {
            Owned::Null => Ok(None),
            v => T::from_owned(v).map(Some),
        }
    }
}

/// One row of a result.
pub enum Row<'a> {
    Lite(&'a rusqlite::Row<'a>),
    Pg(&'a postgres::Row),
}

impl Row<'_> {
    /// Column `i` (from 0) as `T`.
    pub fn get<T: Col>(&self, i: usize) -> Result<T> {
        let v = match self {
            Row::Lite(r) => owned_lite(r.get_ref(i)?),
            Row::Pg(r) => r.try_get::<_, PgAny>(i).map_err(StoreError::Pg)?.0,
        };
        T::from_owned(v).map_err(|why| StoreError::Column(format!("column {i}: {why}")))
    }
}

fn owned_lite(v: rusqlite::types::ValueRef<'_>) -> Owned {
    use rusqlite::types::ValueRef as V;
    match v {
        V::Null => Owned::Null,
        V::Integer(i) => Owned::Int(i),
        V::Real(f) => Owned::Real(f),
        V::Text(t) => Owned::Text(String::from_utf8_lossy(t).into_owned()),
        V::Blob(b) => Owned::Blob(b.to_vec()),
    }
}

/// A connection to either store, or a transaction on one.
pub trait Sql {
    fn dialect(&self) -> Dialect;
    /// Runs one statement; the number of rows it changed.
    fn exec(&self, sql: &str, args: &[&dyn Arg]) -> Result<u64>;
    /// Runs one statement, `each` row in turn.
    fn each(
        &self,
        sql: &str,
        args: &[&dyn Arg],
        each: &mut dyn FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()>;
    /// Runs statements without parameters, separated by `;`.
    fn batch(&self, sql: &str) -> Result<()>;
    /// Inside a PostgreSQL transaction: its commit does not wait for the server's disk
    /// (`SET LOCAL synchronous_commit = off`; see [`Db::unsynced`] for when that is
    /// right). Nothing on SQLite.
    fn commit_unsynced(&self) -> Result<()> {
        match self.dialect() {
            Dialect::Postgres => self.batch("SET LOCAL synchronous_commit = off"),
            Dialect::Sqlite => Ok(()),
        }
    }
    /// Whether a transaction is open on this connection.
    fn in_transaction(&self) -> bool;
    /// Which database this is (its file, or its URL without a password): what caches
    /// of its contents are kept by.
    fn identity(&self) -> String;

    /// Every row, each turned into a `T`.
    fn rows<T>(
        &self,
        sql: &str,
        args: &[&dyn Arg],
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>>
    where
        Self: Sized,
    {
        let mut out = Vec::new();
        self.each(sql, args, &mut |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row, if any.
    fn row<T>(
        &self,
        sql: &str,
        args: &[&dyn Arg],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>>
    where
        Self: Sized,
    {
        let mut f = Some(f);
        let mut out = None;
        self.each(sql, args, &mut |r| {
            if let Some(f) = f.take() {
                out = Some(f(r)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row (an error when there is none).
    fn only<T>(
        &self,
        sql: &str,
        args: &[&dyn Arg],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T>
    where
        Self: Sized,
    {
        self.row(sql, args, f)?
            .ok_or_else(|| StoreError::Column("the query returned no row".into()))
    }

    /// The first column of the first row (an error when there is no row).
    fn one<T: Col>(&self, sql: &str, args: &[&dyn Arg]) -> Result<T>
    where
        Self: Sized,
    {
        self.row(sql, args, |r| r.get(0))?
            .ok_or_else(|| StoreError::Column("the query returned no row".into()))
    }

    /// Begins a transaction that takes the write lock up front: in SQLite `BEGIN
    /// IMMEDIATE`; in PostgreSQL a transaction-scoped advisory lock, so that writers on
    /// every instance take turns the way SQLite's do (checks before inserts stay
    /// sound; a pooler in transaction mode keeps it). Rolled back unless committed.
    fn write(&self) -> Result<Tx<'_, Self>>
    where
        Self: Sized,
    {
        if self.in_transaction() {
            // Inside the caller's transaction: its commit is the one that counts.
            return Ok(Tx {
                conn: self,
                open: false,
            });
        }
        match self.dialect() {
            Dialect::Sqlite => self.batch("BEGIN IMMEDIATE")?,
            Dialect::Postgres => {
                self.batch("BEGIN")?;
                if let Err(e) = self.batch(&format!("SELECT pg_advisory_xact_lock({WRITE_LOCK})")) {
                    let _ = self.batch("ROLLBACK");
                    return Err(e);
                }
            }
        }
        Ok(Tx {
            conn: self,
            open: true,
        })
    }

    /// Begins a transaction without the write lock (reads that must agree; claims made
    /// with row locks).
    fn begin(&self) -> Result<Tx<'_, Self>>
    where
        Self: Sized,
    {
        if self.in_transaction() {
            return Ok(Tx {
                conn: self,
                open: false,
            });
        }
        self.batch(match self.dialect() {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        })?;
        Ok(Tx {
            conn: self,
            open: true,
        })
    }
}

/// The advisory lock every PostgreSQL writer takes for its transaction ("mailroom" as
/// a number).
pub const WRITE_LOCK: i64 = 0x6d61_696c_726f_6f6d;

/// A transaction begun by [`Sql::write`] or [`Sql::begin`]: it derefs to the
/// connection; dropped without [`Tx::commit`], it is rolled back.
pub struct Tx<'a, S: Sql> {
    conn: &'a S,
    open: bool,
}

impl<S: Sql> Tx<'_, S> {
    pub fn commit(mut self) -> Result<()> {
        if !self.open {
            return Ok(());
        }
        self.open = false;
        self.conn.batch("COMMIT")
    }
}

impl<S: Sql> std::ops::Deref for Tx<'_, S> {
    type Target = S;
    fn deref(&self) -> &S {
        self.conn
    }
}

/// `Sql` for a type that derefs to a connection: each method the connection's.
macro_rules! sql_through_deref {
    ($([$($g:tt)*] $t:ty;)*) => {$(
        impl<$($g)*> Sql for $t {
            fn dialect(&self) -> Dialect {
                (**self).dialect()
            }
            fn exec(&self, sql: &str, args: &[&dyn Arg]) -> Result<u64> {
                (**self).exec(sql, args)
            }
            fn each(
                &self,
                sql: &str,
                args: &[&dyn Arg],
                each: &mut dyn FnMut(&Row<'_>) -> Result<()>,
            ) -> Result<()> {
                (**self).each(sql, args, each)
            }
            fn batch(&self, sql: &str) -> Result<()> {
                (**self).batch(sql)
            }
            fn in_transaction(&self) -> bool {
                (**self).in_transaction()
            }
            fn identity(&self) -> String {
                (**self).identity()
            }
        }
    )*};
}

sql_through_deref! {
    [S: Sql] Tx<'_, S>;
    [] rusqlite::Transaction<'_>;
    [] super::Reader;
}

impl<S: Sql> Drop for Tx<'_, S> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.batch("ROLLBACK");
        }
    }
}

struct LiteArg<'a>(&'a dyn Arg);

impl rusqlite::ToSql for LiteArg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match self.0.val() {
            Val::Null => ToSqlOutput::Owned(Value::Null),
            Val::Int(i) => ToSqlOutput::Owned(Value::Integer(i)),
            Val::Real(f) => ToSqlOutput::Owned(Value::Real(f)),
            Val::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Val::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn lite_execute(conn: &rusqlite::Connection, sql: &str, args: &[&dyn Arg]) -> Result<u64> {
    let mut stmt = conn.prepare_cached(sql)?;
    let n = stmt.execute(rusqlite::params_from_iter(args.iter().map(|a| LiteArg(*a))))?;
    Ok(n as u64)
}

fn lite_each(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[&dyn Arg],
    each: &mut dyn FnMut(&Row<'_>) -> Result<()>,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args.iter().map(|a| LiteArg(*a))))?;
    while let Some(r) = rows.next()? {
        each(&Row::Lite(r))?;
    }
    Ok(())
}

impl Sql for rusqlite::Connection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
    fn exec(&self, sql: &str, args: &[&dyn Arg]) -> Result<u64> {
        lite_execute(self, sql, args)
    }
    fn each(
        &self,
        sql: &str,
        args: &[&dyn Arg],
        each: &mut dyn FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        lite_each(self, sql, args, each)
    }
    fn batch(&self, sql: &str) -> Result<()> {
        Ok(self.execute_batch(sql)?)
    }
    fn in_transaction(&self) -> bool {
        !self.is_autocommit()
    }
    fn identity(&self) -> String {
        self.path().unwrap_or_default().to_string()
    }
}

/// A connection to either store: what a [`super::Store`] holds.
pub enum Db {
    Lite(rusqlite::Connection),
    Pg(Box<Pg>),
}

impl Db {
    /// The SQLite connection, for what only SQLite has (checkpoints, its own readers).
    pub fn lite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Db::Lite(c) => Some(c),
            Db::Pg(_) => None,
        }
    }

    pub fn pg(&self) -> Option<&Pg> {
        match self {
            Db::Pg(p) => Some(p),
            Db::Lite(_) => None,
        }
    }

    /// Runs `f` with SQLite's commits not waiting for the disk (`synchronous = NORMAL`
    /// under WAL): what they record survives a crash or kill of this process, and may
    /// be lost to a power cut or a crash of the machine. For what may be done twice
    /// (a delivery's outcome), never for what acknowledges a source. On PostgreSQL the
    /// transaction asks for it itself ([`Sql::commit_unsynced`]).
    pub fn unsynced<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let Db::Lite(c) = self else {
            return f();
        };
        c.pragma_update(None, "synchronous", "NORMAL")?;
        let out = f();
        let back = c.pragma_update(None, "synchronous", "FULL");
        let out = out?;
        back?;
        Ok(out)
    }
}

impl Sql for Db {
    fn dialect(&self) -> Dialect {
        match self {
            Db::Lite(_) => Dialect::Sqlite,
            Db::Pg(_) => Dialect::Postgres,
        }
    }
    fn exec(&self, sql: &str, args: &[&dyn Arg]) -> Result<u64> {
        match self {
            Db::Lite(c) => lite_execute(c, sql, args),
            Db::Pg(p) => p.exec(sql, args),
        }
    }
    fn each(
        &self,
        sql: &str,
        args: &[&dyn Arg],
        each: &mut dyn FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        match self {
            Db::Lite(c) => lite_each(c, sql, args, each),
            Db::Pg(p) => p.each(sql, args, each),
        }
    }
    fn batch(&self, sql: &str) -> Result<()> {
        match self {
            Db::Lite(c) => Ok(c.execute_batch(sql)?),
            Db::Pg(p) => p.batch(sql),
        }
    }
    fn in_transaction(&self) -> bool {
        match self {
            Db::Lite(c) => !c.is_autocommit(),
            Db::Pg(p) => p.in_transaction(),
        }
    }
    fn identity(&self) -> String {
        match self {
            Db::Lite(c) => c.identity(),
            Db::Pg(p) => p.identity(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_numbered_bare_and_quoted() {
        assert_eq!(
            placeholders("SELECT ?1, ?2 WHERE a = ?1"),
            "SELECT $1, $2 WHERE a = $1"
        );
        assert_eq!(placeholders("VALUES (?, ?)"), "VALUES ($1, $2)");
        assert_eq!(
            placeholders("a = ?2 AND b = ? AND c = ?1"),
            "a = $2 AND b = $3 AND c = $1"
        );
        assert_eq!(
            placeholders("SELECT '?1', \"a?\" FROM t WHERE b = ?3"),
            "SELECT '?1', \"a?\" FROM t WHERE b = $3"
        );
    }

    #[test]
    fn sqlite_round_trip_and_rollback() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.batch("CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, b BLOB, n INTEGER)")
            .unwrap();
        let id: i64 = conn
            .one(
                "INSERT INTO t (s, b, n) VALUES (?1, ?2, ?3) RETURNING id",
                args!["x", vec![1u8, 2], None::<i64>],
            )
            .unwrap();
        assert_eq!(id, 1);
        {
            let tx = conn.write().unwrap();
            tx.exec("INSERT INTO t (s) VALUES (?1)", args!["gone"])
                .unwrap();
        }
        let all: Vec<(String, Option<Vec<u8>>, Option<i64>)> = conn
            .rows("SELECT s, b, n FROM t ORDER BY id", args![], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(all, vec![("x".to_string(), Some(vec![1, 2]), None)]);
        let err = conn.one::<i64>("SELECT s FROM t", args![]).unwrap_err();
        assert!(err.to_string().contains("not a number"), "{err}");
    }
}
