//! The embedded backend: one SQLite file in WAL mode. One connection writes (SQLite has one
//! writer anyway); reads take a connection from a pool. Writers are serialized, so a change
//! row's id, given inside the write transaction, already is its feed position.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior};

use super::sql::{self, Backend, Param, Row, Sql, Value};
use super::{StoreError, StoreResult, feed};

const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
    INSERT INTO meta(key, value) VALUES ('directory_version', 0);

    CREATE TABLE grids (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, level TEXT NOT NULL, parent TEXT
    ) STRICT;
    CREATE TABLE units (id TEXT PRIMARY KEY, name TEXT NOT NULL) STRICT;
    CREATE TABLE members (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, grids TEXT NOT NULL,
        unit TEXT
    ) STRICT;
    CREATE TABLE templates (
        id TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (id, version)
    ) STRICT;

    -- Codes and tokens are stored as SHA-256 hashes only.
    CREATE TABLE invites (
        code_hash BLOB PRIMARY KEY, member_id TEXT NOT NULL, created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL, used_at INTEGER, device_id TEXT
    ) STRICT;
    CREATE TABLE devices (
        id TEXT PRIMARY KEY, member_id TEXT NOT NULL, actor TEXT NOT NULL,
        token_hash BLOB NOT NULL UNIQUE, name TEXT NOT NULL, created_at INTEGER NOT NULL,
        revoked_at INTEGER
    ) STRICT;
    CREATE INDEX devices_actor ON devices(actor) WHERE revoked_at IS NULL;

    -- The feed: one row per change; seq is the feed position.
    CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        doc_id TEXT NOT NULL,
        hash BLOB NOT NULL,
        actor BLOB NOT NULL,
        bytes BLOB NOT NULL,
        UNIQUE (doc_id, hash)
    ) STRICT;

    -- Current state of every document, with the fields the workstation lists and counts.
    CREATE TABLE docs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        snapshot BLOB NOT NULL,
        grid_id TEXT NOT NULL,
        category TEXT,
        urgency TEXT,
        urgency_rank INTEGER,
        status TEXT NOT NULL,
        is_open INTEGER NOT NULL,
        title TEXT NOT NULL,
        reporter_id TEXT NOT NULL,
        assigned_unit TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        accepted_at INTEGER,
        resolved_at INTEGER,
        deadline INTEGER,
        satisfaction INTEGER
    ) STRICT;
    CREATE INDEX docs_grid ON docs(kind, grid_id);

    -- Who may see a document: keys like g:<grid>, r:<reporter>, u:<unit>. `since` is the
    -- feed position at which the key (last) became current: a device that gains a document
    -- then receives its whole history.
    CREATE TABLE doc_scopes (
        doc_id TEXT NOT NULL, key TEXT NOT NULL, since INTEGER NOT NULL, current INTEGER NOT NULL,
        PRIMARY KEY (doc_id, key)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX doc_scopes_key ON doc_scopes(key, current, since);
"#,
    r#"
    -- Snapshots apart from the projection, which lists and figures read row by row; `heads`
    -- is what a push was judged against (empty for documents stored before).
    CREATE TABLE doc_states (id TEXT PRIMARY KEY, heads BLOB NOT NULL, snapshot BLOB NOT NULL) STRICT;
    INSERT INTO doc_states(id, heads, snapshot) SELECT id, X'', snapshot FROM docs;
    DROP INDEX docs_grid;
    ALTER TABLE docs DROP COLUMN snapshot;
    ALTER TABLE docs ADD COLUMN accept_ms INTEGER;
    ALTER TABLE docs ADD COLUMN response_ms INTEGER;
    ALTER TABLE docs ADD COLUMN resolve_ms INTEGER;
    ALTER TABLE docs ADD COLUMN rectification INTEGER NOT NULL DEFAULT 0;
    -- The row id the shared code numbers: here the position itself.
    ALTER TABLE changes ADD COLUMN id INTEGER GENERATED ALWAYS AS (seq) VIRTUAL;
    CREATE INDEX changes_doc ON changes(doc_id, seq);
    -- A document's latest position under each of its keys: what changed in a scope.
    ALTER TABLE doc_scopes ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
    UPDATE doc_scopes SET last_seq =
        coalesce((SELECT max(seq) FROM changes c WHERE c.doc_id = doc_scopes.doc_id), 0);
    DROP INDEX doc_scopes_key;
    INSERT INTO meta(key, value) VALUES ('projection', 0);
"#,
    r#"
    -- Stored documents whose snapshot does not load (damaged): never loaded again, pushes
    -- to them refused, until an operator repairs them (server README).
    CREATE TABLE quarantine (doc_id TEXT PRIMARY KEY, reason TEXT NOT NULL, at INTEGER NOT NULL) STRICT;
"#,
    // Version 4: only shared statements (the console's tables, `sql::SHARED_MIGRATIONS`).
    "",
];

pub struct SqliteStorage {
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    path: PathBuf,
}

/// Readers kept open between requests: opening one costs far more than a query.
const POOL: usize = 32;
/// Statements each connection keeps prepared.
const STATEMENTS: usize = 256;

/// A connection to the server's database file, from the one SQLite opening helper (WAL,
/// `synchronous=FULL`: a change the server acknowledged survives a power cut), keeping the
/// statements the shared code uses prepared.
fn connect(path: &Path) -> StoreResult<Connection> {
    let conn = crate::open::open_sqlite(path)?;
    conn.set_prepared_statement_cache_capacity(STATEMENTS);
    Ok(conn)
}

impl SqliteStorage {
    pub fn open(path: impl AsRef<Path>) -> StoreResult<SqliteStorage> {
        let path = path.as_ref().to_path_buf();
        let conn = connect(&path)?;
        // Each version: the backend's own statements, then the shared ones (indexes).
        let versions: Vec<String> = MIGRATIONS
            .iter()
            .enumerate()
            .map(|(i, own)| format!("{own}\n{}", sql::SHARED_MIGRATIONS.get(i).unwrap_or(&"")))
            .collect();
        let versions: Vec<&str> = versions.iter().map(String::as_str).collect();
        crate::open::migrate(&conn, &versions, &path)?;
        let storage = SqliteStorage {
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            path,
        };
        feed::reproject(&storage)?;
        Ok(storage)
    }
}

/// A connection speaking the shared dialect.
struct Lite<'a>(&'a Connection);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value as V;
        let json = |v: Result<String, serde_json::Error>| {
            v.map(|s| ToSqlOutput::Owned(V::Text(s)))
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
        };
        Ok(match *self {
            Param::Null => ToSqlOutput::Owned(V::Null),
            Param::Int(v) => ToSqlOutput::Owned(V::Integer(v)),
            Param::Bool(v) => ToSqlOutput::Owned(V::Integer(i64::from(v))),
            Param::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Param::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Param::Texts(v) => return json(serde_json::to_string(v)),
            Param::Ints(v) => return json(serde_json::to_string(v)),
        })
    }
}

/// `IN LIST(?N)`: the members of a JSON array.
fn dialect(sql: &str) -> Cow<'_, str> {
    if sql.contains("IN LIST(") {
        Cow::Owned(sql::expand_lists(sql, |n| {
            format!("IN (SELECT value FROM json_each(?{n}))")
        }))
    } else {
        Cow::Borrowed(sql)
    }
}

fn value(v: ValueRef<'_>) -> StoreResult<Value> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(
            std::str::from_utf8(t)
                .map_err(|e| StoreError::Corrupt(format!("text column: {e}")))?
                .to_string(),
        ),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    })
}

impl Sql for Lite<'_> {
    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<Vec<Row>> {
        let mut stmt = self.0.prepare_cached(&dialect(sql))?;
        let n = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(value(r.get_ref(i)?)?);
            }
            out.push(Row(row));
        }
        Ok(out)
    }

    fn exec(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<u64> {
        let mut stmt = self.0.prepare_cached(&dialect(sql))?;
        Ok(stmt.execute(rusqlite::params_from_iter(params))? as u64)
    }

    /// Positions are row ids given by the one writer: the highest committed one.
    fn head_sql(&self) -> &'static str {
        "(SELECT coalesce(max(seq), 0) FROM changes)"
    }

    /// The one writer connection holds every document already.
    fn lock_docs(&mut self, _ids: &[String]) -> StoreResult<()> {
        Ok(())
    }

    /// Row ids are positions, handed out by the one writer in commit order.
    fn number(&mut self, rows: &[i64]) -> StoreResult<Vec<u64>> {
        Ok(rows.iter().map(|r| (*r).max(0) as u64).collect())
    }
}

impl Backend for SqliteStorage {
    fn read<R>(&self, f: impl FnOnce(&mut dyn Sql) -> StoreResult<R>) -> StoreResult<R> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => connect(&self.path)?,
        };
        let out = f(&mut Lite(&conn));
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < POOL {
            pool.push(conn);
        }
        out
    }

    fn write<R>(&self, mut f: impl FnMut(&mut dyn Sql) -> StoreResult<R>) -> StoreResult<R> {
        // A panic while writing rolled its transaction back; the connection is fine.
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&mut Lite(&tx))?;
        tx.commit()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{PushContext, Scope, Storage};
    use automerge::{AutoCommit, Change};
    use outpost_core::sync::validate::{Known, check_push};
    use outpost_core::{Category, EventKind, Member, NewCase, Role, Store, Urgency};

    struct Anything;
    impl Known for Anything {
        fn grid(&self, _: &str) -> bool {
            true
        }
        fn unit(&self, _: &str) -> bool {
            true
        }
    }

    #[test]
    fn a_database_of_the_first_schema_opens_with_its_documents() {
        let dir = tempfile::tempdir().unwrap();
        let phone = Store::open(dir.path().join("phone.db")).unwrap();
        let member = Member::new("m", "M", Role::GridMember, ["G1"]);
        phone.set_member(&member).unwrap();
        let id = phone
            .create_case(NewCase::new(Category::Waste, Urgency::Urgent, "old", "G1"))
            .unwrap();
        let raw = phone.changes_since(&id, &[]).unwrap();
        let mut doc = AutoCommit::new();
        doc.apply_changes(raw.iter().map(|b| Change::from_bytes(b.clone()).unwrap()))
            .unwrap();
        // The file as the first schema left it.
        let path = dir.path().join("server.db");
        {
            let c = connect(&path).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.execute_batch("PRAGMA user_version = 1").unwrap();
            let mut last = 0i64;
            for b in &raw {
                let ch = Change::from_bytes(b.clone()).unwrap();
                last = c
                    .query_row(
                        "INSERT INTO changes(doc_id, hash, actor, bytes) VALUES (?1, ?2, ?3, ?4)
                         RETURNING seq",
                        rusqlite::params![id, ch.hash().0.to_vec(), ch.actor_id().to_bytes(), b],
                        |r| r.get(0),
                    )
                    .unwrap();
            }
            c.execute(
                "INSERT INTO docs(id, kind, snapshot, grid_id, category, urgency, urgency_rank,
                     status, is_open, title, reporter_id, created_at, updated_at)
                 VALUES (?1, 'case', ?2, 'G1', 'waste', 'urgent', 1, 'new', 1, 'old', 'm', 5, 6)",
                rusqlite::params![id, doc.save()],
            )
            .unwrap();
            c.execute(
                "INSERT INTO doc_scopes(doc_id, key, since, current) VALUES (?1, 'g:G1', ?2, 1)",
                rusqlite::params![id, last],
            )
            .unwrap();
        }
        let s = SqliteStorage::open(&path).unwrap();
        let grid = Scope::Keys(vec!["g:G1".into()]);
        let page = s.pull(&grid, 0, usize::MAX, &[]).unwrap();
        assert_eq!(page.docs.len(), 1);
        assert_eq!(page.docs[0].changes.len(), raw.len());
        let rows = s.cases(None).unwrap();
        assert_eq!(
            (rows[0].urgency.as_str(), rows[0].rectification),
            ("urgent", false)
        );
        // A push on top of the old document (stored before heads were) is judged and stored.
        phone
            .record(&id, EventKind::Comment { text: "new".into() })
            .unwrap();
        let actor = phone.actor_id().unwrap();
        let check = |id: &str, existing, changes: &[Vec<u8>]| {
            check_push(&member, &actor, id, existing, changes, &Anything)
        };
        let push = vec![outpost_core::sync::wire::PushDoc {
            id: id.clone(),
            changes: phone
                .changes_since(&id, &[])
                .unwrap()
                .into_iter()
                .map(serde_bytes::ByteBuf::from)
                .collect(),
        }];
        let acks = s.push(&push, &check, &PushContext::at(7)).unwrap();
        assert!(acks[0].ok && acks[0].stored == 1, "{acks:?}");
        let next = s.pull(&grid, page.cursor, usize::MAX, &[]).unwrap();
        assert_eq!(next.docs.len(), 1);
        assert_eq!(next.docs[0].changes.len(), 1);
        // Opening again changes nothing.
        drop(s);
        let s = SqliteStorage::open(&path).unwrap();
        assert_eq!(s.change_count(Some(&id)).unwrap(), raw.len() as u64 + 1);
    }
}
