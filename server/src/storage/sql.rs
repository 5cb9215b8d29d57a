//! What a backend gives the code above it: statements in one SQL dialect, rows of plain
//! values, and the few steps that are about locking rather than SQL.
//!
//! Everything a backend does not have to know — the feed (`feed.rs`), devices and the
//! directory (`registry.rs`), the workstation's figures (`crate::stats`) — is written once
//! against [`Sql`]. A backend is a connection pool, a transaction wrapper, the schema, the
//! conversion of [`Param`] and [`Value`], and the steps that keep the feed gap free
//! ([`Sql::head_sql`], [`Sql::lock_docs`], [`Sql::number`]).
//!
//! # The dialect
//! Statements are written in the part of SQL that SQLite and PostgreSQL share (`ON
//! CONFLICT … DO UPDATE`, `RETURNING`, `count(*) FILTER (WHERE …)`, `TRUE`/`FALSE`,
//! `CAST(… AS BIGINT)`), with two conventions a backend translates:
//! - parameters are `?1`, `?2`, … (PostgreSQL: `$1`, `$2`, …);
//! - `IN LIST(?N)` tests membership in a list parameter ([`Param::Texts`], [`Param::Ints`]);
//!   SQLite reads it from a JSON array, PostgreSQL as `= ANY($N)`. Both use an index on the
//!   column.

use super::{StoreError, StoreResult};

/// A statement parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Param<'a> {
    Null,
    Int(i64),
    /// An integer 0/1 in SQLite, a `BOOLEAN` in PostgreSQL.
    Bool(bool),
    Text(&'a str),
    Blob(&'a [u8]),
    /// A list for `IN LIST(?N)`.
    Texts(&'a [String]),
    /// A list of integers for `IN LIST(?N)`.
    Ints(&'a [i64]),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<u64> for Param<'_> {
    fn from(v: u64) -> Self {
        Param::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<usize> for Param<'_> {
    fn from(v: usize) -> Self {
        Param::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Param<'_> {
    fn from(v: bool) -> Self {
        Param::Bool(v)
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(v: &'a [u8]) -> Self {
        Param::Blob(v)
    }
}

impl<'a> From<&'a Vec<u8>> for Param<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Param::Blob(v)
    }
}

impl<'a> From<&'a [String]> for Param<'a> {
    fn from(v: &'a [String]) -> Self {
        Param::Texts(v)
    }
}

impl<'a> From<&'a [i64]> for Param<'a> {
    fn from(v: &'a [i64]) -> Self {
        Param::Ints(v)
    }
}

impl<'a> From<&'a Vec<String>> for Param<'a> {
    fn from(v: &'a Vec<String>) -> Self {
        Param::Texts(v)
    }
}

impl<'a, T: Into<Param<'a>>> From<Option<T>> for Param<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Param::Null, Into::into)
    }
}

impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().map_or(Param::Null, Param::Text)
    }
}

/// A value read back. Booleans arrive as `Int` 0/1 from either backend.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> StoreResult<&Value> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {i} in a result row")))
    }

    fn wrong(i: usize, want: &str, got: &Value) -> StoreError {
        StoreError::Corrupt(format!("column {i}: expected {want}, found {got:?}"))
    }

    pub fn opt_int(&self, i: usize) -> StoreResult<Option<i64>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            other => Err(Row::wrong(i, "an integer", other)),
        }
    }

    pub fn int(&self, i: usize) -> StoreResult<i64> {
        self.opt_int(i)?
            .ok_or_else(|| Row::wrong(i, "an integer", &Value::Null))
    }

    /// A count or feed position: never negative.
    pub fn count(&self, i: usize) -> StoreResult<u64> {
        Ok(self.int(i)?.max(0) as u64)
    }

    pub fn bool(&self, i: usize) -> StoreResult<bool> {
        Ok(self.int(i)? != 0)
    }

    pub fn opt_real(&self, i: usize) -> StoreResult<Option<f64>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v as f64)),
            Value::Real(v) => Ok(Some(*v)),
            other => Err(Row::wrong(i, "a number", other)),
        }
    }

    /// Takes a text column out of the row.
    pub fn opt_text(&mut self, i: usize) -> StoreResult<Option<String>> {
        let len = self.0.len();
        let v = self
            .0
            .get_mut(i)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {i} of {len}")))?;
        match std::mem::replace(v, Value::Null) {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s)),
            other => Err(Row::wrong(i, "text", &other)),
        }
    }

    pub fn text(&mut self, i: usize) -> StoreResult<String> {
        self.opt_text(i)?
            .ok_or_else(|| Row::wrong(i, "text", &Value::Null))
    }

    /// Takes a blob column out of the row.
    pub fn blob(&mut self, i: usize) -> StoreResult<Vec<u8>> {
        let len = self.0.len();
        let v = self
            .0
            .get_mut(i)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {i} of {len}")))?;
        match std::mem::replace(v, Value::Null) {
            Value::Blob(b) => Ok(b),
            other => Err(Row::wrong(i, "bytes", &other)),
        }
    }
}

/// A connection, inside a write transaction or not, speaking the dialect above.
pub trait Sql {
    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<Vec<Row>>;
    fn exec(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<u64>;

    /// The highest feed position a reader may use — every position up to it is visible
    /// now, and none below it can appear later (the rule in [`super`]) — as an SQL
    /// expression, so that a statement can read it with other data in one snapshot.
    fn head_sql(&self) -> &'static str;
    /// In a write: holds these documents against other writers until the transaction ends.
    fn lock_docs(&mut self, ids: &[String]) -> StoreResult<()>;
    /// In a write: gives the change rows `rows` (ids from `INSERT … RETURNING id`) their
    /// feed positions, in this order, such that positions become visible in increasing
    /// order. Returns the positions.
    fn number(&mut self, rows: &[i64]) -> StoreResult<Vec<u64>>;
    /// In a write: once it commits, tells every server process on this database that
    /// scope `keys` changed, up to position `at` ([`super::watch`]). A backend served by
    /// one process has nobody to tell.
    fn announce_feed(&mut self, _at: u64, _keys: &[&str]) -> StoreResult<()> {
        Ok(())
    }
    /// In a write: once it commits, tells every server process that devices or the
    /// directory changed ([`super::watch`]).
    fn announce_directory(&mut self) -> StoreResult<()> {
        Ok(())
    }
}

impl dyn Sql + '_ {
    /// The feed's head (see [`Sql::head_sql`]).
    pub fn head(&mut self) -> StoreResult<u64> {
        let sql = format!("SELECT {}", self.head_sql());
        self.one(&sql, &[])?.count(0)
    }

    pub fn opt(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    pub fn one(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<Row> {
        self.opt(sql, params)?
            .ok_or_else(|| StoreError::Corrupt(format!("no row from: {}", first_line(sql))))
    }
}

fn first_line(sql: &str) -> &str {
    sql.trim().lines().next().unwrap_or_default()
}

/// A database the shared code runs on.
pub trait Backend: Send + Sync + 'static {
    /// Runs `f` on a connection outside any write. Each statement sees committed data; a
    /// reader that needs several statements to agree bounds them by [`Sql::head`].
    fn read<R>(&self, f: impl FnOnce(&mut dyn Sql) -> StoreResult<R>) -> StoreResult<R>;
    /// Runs `f` in one write transaction, committed when it returns `Ok`. A backend may
    /// run `f` again after a lost race with another process ([`StoreError::Retry`]).
    fn write<R>(&self, f: impl FnMut(&mut dyn Sql) -> StoreResult<R>) -> StoreResult<R>;
    /// See [`super::Storage::start_watch`].
    fn start_watch(&self) -> Option<std::sync::Arc<super::watch::FeedWatch>> {
        None
    }
}

/// Portable statements each schema version adds after the backend's own (index `i`: version
/// `i + 1`): the indexes the shared queries are planned on.
pub const SHARED_MIGRATIONS: &[&str] = &[
    "",
    r#"
    -- pull: documents in a scope changed after a cursor.
    CREATE INDEX doc_scopes_changed ON doc_scopes(key, current, last_seq);
    -- queues: open cases per grid by urgency and age, and by deadline (and everywhere);
    -- overdue counts.
    CREATE INDEX docs_open ON docs(kind, is_open, grid_id, urgency_rank, created_at, id);
    CREATE INDEX docs_open_all ON docs(kind, is_open, urgency_rank, created_at, id);
    CREATE INDEX docs_deadline ON docs(kind, is_open, grid_id, deadline, id, rectification,
        assigned_unit);
    CREATE INDEX docs_deadline_all ON docs(kind, is_open, deadline, id);
    -- figures, each a narrow covering index (the unit last, for the figures per unit):
    -- counts by status, category, urgency and score;
    CREATE INDEX docs_counts ON docs(kind, grid_id, status, category, urgency, satisfaction,
        assigned_unit);
    -- responses per urgency: those that responded, those past their standard without;
    CREATE INDEX docs_urgency ON docs(kind, grid_id, urgency, response_ms, created_at, status,
        assigned_unit);
    -- cases with each time, and the medians walked to per grid and per unit;
    CREATE INDEX docs_accept ON docs(kind, grid_id, accept_ms, assigned_unit);
    CREATE INDEX docs_response ON docs(kind, grid_id, response_ms, assigned_unit);
    CREATE INDEX docs_resolve ON docs(kind, grid_id, resolve_ms, assigned_unit);
    CREATE INDEX docs_unit_accept ON docs(kind, assigned_unit, accept_ms, grid_id);
    CREATE INDEX docs_unit_response ON docs(kind, assigned_unit, response_ms, grid_id);
    CREATE INDEX docs_unit_resolve ON docs(kind, assigned_unit, resolve_ms, grid_id);
    -- the weekly trend, a range per week.
    CREATE INDEX docs_created ON docs(kind, grid_id, created_at, assigned_unit);
    CREATE INDEX docs_resolved ON docs(kind, grid_id, resolved_at, assigned_unit);
"#,
    // Version 3: the backends' own statements only (quarantine).
    "",
    r#"
    -- The workstation console (server/src/console): sessions found by the SHA-256 of their
    -- cookie (hex), each with its synchronizer CSRF token and the Automerge actor the
    -- server writes the member's actions with; one-time sign-in codes (hashed) and
    -- administrator-set passwords (argon2 PHC strings).
    CREATE TABLE console_sessions (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        member_id TEXT NOT NULL,
        actor TEXT NOT NULL UNIQUE,
        csrf TEXT NOT NULL,
        client TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        seen_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT
    );
    CREATE INDEX console_sessions_member ON console_sessions(member_id, revoked_at);
    CREATE TABLE console_codes (
        code_hash TEXT PRIMARY KEY,
        member_id TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT
    );
    CREATE TABLE console_passwords (
        member_id TEXT PRIMARY KEY,
        phc TEXT NOT NULL,
        set_at BIGINT NOT NULL
    );
    -- The console's case search (console/search.rs): each case's normalized text and its
    -- character bigrams, indexed up to the feed position meta.console_search.
    CREATE TABLE console_search (
        doc_id TEXT PRIMARY KEY,
        grid_id TEXT NOT NULL,
        text TEXT NOT NULL
    );
    CREATE TABLE console_grams (
        gram TEXT NOT NULL,
        grid_id TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        PRIMARY KEY (gram, grid_id, doc_id)
    );
    CREATE INDEX console_grams_doc ON console_grams(doc_id);
    INSERT INTO meta(key, value) VALUES ('console_search', 0);
"#,
];

/// Rewrites a statement's `IN LIST(?N)` with `expand(N)`; parameters are left alone.
pub fn expand_lists(sql: &str, expand: impl Fn(&str) -> String) -> String {
    const MARK: &str = "IN LIST(?";
    let mut out = String::with_capacity(sql.len() + 32);
    let mut rest = sql;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let after = &rest[at + MARK.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match after[digits..].strip_prefix(')') {
            Some(tail) if digits > 0 => {
                out.push_str(&expand(&after[..digits]));
                rest = tail;
            }
            _ => {
                out.push_str(MARK);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_expand_and_other_text_stays() {
        let sql = "SELECT 1 WHERE a IN LIST(?1) AND b = ?2 OR c IN LIST(?12)";
        assert_eq!(
            expand_lists(sql, |n| format!("= ANY(${n})")),
            "SELECT 1 WHERE a = ANY($1) AND b = ?2 OR c = ANY($12)"
        );
        assert_eq!(expand_lists("IN LIST(?x)", |_| "!".into()), "IN LIST(?x)");
    }
}
