//! The one place that opens a database file, checks that it is ours, sets the pragmas and
//! migrates it. Nothing is written to a file until it is known to be an Outpost store or
//! an empty file.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};

/// "OPST" in the SQLite header marks the file as ours.
const APPLICATION_ID: i64 = 0x4F50_5354;

/// Each entry moves the schema one version up; `user_version` says how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: documents, their changes, projections, search.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;

    -- One row per Automerge document: the last compacted snapshot plus the count of change
    -- rows written since. `heads` is what this replica has; `synced_heads` what the server
    -- acknowledged. `kind` stays NULL while a document's first change has not arrived.
    CREATE TABLE documents (
        id TEXT PRIMARY KEY,
        kind TEXT CHECK (kind IN ('case', 'inspection')),
        snapshot BLOB NOT NULL,
        pending INTEGER NOT NULL DEFAULT 0,
        heads BLOB NOT NULL,
        synced_heads BLOB NOT NULL DEFAULT x'',
        priority INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX documents_outbox ON documents(priority, updated_at) WHERE heads != synced_heads;

    CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        doc_id TEXT NOT NULL REFERENCES documents(id),
        hash BLOB NOT NULL,
        bytes BLOB NOT NULL,
        UNIQUE (doc_id, hash)
    ) STRICT;

    CREATE TABLE templates (
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (id, version)
    ) STRICT;

    CREATE TABLE cases (
        id TEXT PRIMARY KEY,
        category TEXT NOT NULL,
        urgency TEXT NOT NULL,
        urgency_rank INTEGER NOT NULL,
        status TEXT NOT NULL,
        is_open INTEGER NOT NULL,
        title TEXT NOT NULL,
        description TEXT NOT NULL,
        address TEXT,
        grid_id TEXT NOT NULL,
        reporter_id TEXT NOT NULL,
        assigned_unit TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        deadline INTEGER,
        conflicts INTEGER NOT NULL,
        source_inspection TEXT,
        source_item TEXT
    ) STRICT;
    CREATE INDEX cases_queue ON cases(is_open, urgency_rank, created_at, id);
    CREATE INDEX cases_reporter ON cases(reporter_id, created_at, id);
    CREATE INDEX cases_deadline ON cases(is_open, deadline) WHERE deadline IS NOT NULL;
    CREATE INDEX cases_grid ON cases(grid_id, category, created_at);

    -- Trigram tokens make substring search work for Chinese, which has no spaces.
    CREATE VIRTUAL TABLE cases_fts USING fts5(
        title, description, address, content='cases', content_rowid='rowid', tokenize='trigram'
    );
    CREATE TRIGGER cases_fts_insert AFTER INSERT ON cases BEGIN
        INSERT INTO cases_fts(rowid, title, description, address)
        VALUES (new.rowid, new.title, new.description, new.address);
    END;
    CREATE TRIGGER cases_fts_delete AFTER DELETE ON cases BEGIN
        INSERT INTO cases_fts(cases_fts, rowid, title, description, address)
        VALUES ('delete', old.rowid, old.title, old.description, old.address);
    END;
    CREATE TRIGGER cases_fts_update AFTER UPDATE OF title, description, address ON cases
    WHEN old.title IS NOT new.title OR old.description IS NOT new.description
      OR old.address IS NOT new.address
    BEGIN
        INSERT INTO cases_fts(cases_fts, rowid, title, description, address)
        VALUES ('delete', old.rowid, old.title, old.description, old.address);
        INSERT INTO cases_fts(rowid, title, description, address)
        VALUES (new.rowid, new.title, new.description, new.address);
    END;

    CREATE TABLE inspections (
        id TEXT PRIMARY KEY,
        template_id TEXT NOT NULL,
        title TEXT NOT NULL,
        site_name TEXT NOT NULL,
        grid_id TEXT NOT NULL,
        status TEXT NOT NULL,
        started_by TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        answered INTEGER NOT NULL,
        total INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        conflicts INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX inspections_status ON inspections(status, updated_at);
    "#,
    // 2: sync state (one row), and documents the server refused at given heads.
    r#"
    CREATE TABLE sync_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        server_url TEXT,
        token TEXT,
        device_id TEXT,
        cursor TEXT NOT NULL DEFAULT '',
        directory_version INTEGER NOT NULL DEFAULT -1,
        directory TEXT,
        last_attempt_at INTEGER,
        last_success_at INTEGER,
        last_error TEXT,
        pushed_total INTEGER NOT NULL DEFAULT 0,
        pulled_total INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    INSERT INTO sync_state(id) VALUES (1);

    -- A refused document is not pushed again until its heads move (a new local change).
    CREATE TABLE sync_refused (
        doc_id TEXT PRIMARY KEY,
        heads BLOB NOT NULL,
        code TEXT NOT NULL,
        reason TEXT NOT NULL,
        at INTEGER NOT NULL
    ) STRICT;
    "#,
    // 3: photos kept beside the database under their SHA-256 (`store/blobs.rs`).
    r#"
    -- `state`: local (not yet complete on the server, never evicted), uploaded, cached
    -- (fetched). `uploaded`: bytes the server acknowledged. A row means the file exists.
    CREATE TABLE blobs (
        hash TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mime TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('local', 'uploaded', 'cached')),
        uploaded INTEGER NOT NULL DEFAULT 0,
        priority INTEGER NOT NULL,
        last_used INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX blobs_upload ON blobs(priority, created_at) WHERE state = 'local';
    CREATE INDEX blobs_lru ON blobs(last_used) WHERE state != 'local';
    "#,
    // 4: the search index is kept by the store, a batch per transaction
    // (`projection::SearchIndex`), not by a trigger per row: FTS5 indexes a batch in one
    // statement at about a third of the cost.
    r#"
    DROP TRIGGER cases_fts_insert;
    DROP TRIGGER cases_fts_delete;
    DROP TRIGGER cases_fts_update;
    "#,
];

pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) fn open(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    // Reading the header first: a file that is not SQLite fails here, before any write.
    let app_id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| not_ours(path, e))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| not_ours(path, e))?;
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(|e| not_ours(path, e))?;
    let fresh = app_id == 0 && version == 0 && objects == 0;
    if !fresh && app_id != APPLICATION_ID {
        return Err(Error::NotAStore(format!(
            "{} (another application's database)",
            path.display()
        )));
    }
    if version > SCHEMA_VERSION {
        return Err(Error::TooNew {
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    // WAL with FULL sync: a commit that returned is on disk, also across power loss.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Storage(format!(
            "could not switch to WAL journal (got {mode})"
        )));
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA cache_size = -8000;",
    )?;
    migrate(&conn, version)?;
    Ok(conn)
}

fn not_ours(path: &Path, e: rusqlite::Error) -> Error {
    match Error::from(e) {
        Error::NotAStore(_) => Error::NotAStore(path.display().to_string()),
        other => other,
    }
}

fn migrate(conn: &Connection, from: i64) -> Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        let to = i as i64 + 1;
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {to};"
        ))?;
        tx.commit()?;
    }
    Ok(())
}
