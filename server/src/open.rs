//! The one way the server opens a SQLite file: the documents' database and the photo store
//! get the same durability and concurrency settings, so neither acknowledges a write that a
//! power cut could take back.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::storage::{StoreError, StoreResult};

/// How long a connection waits for another one's write lock before it gives up.
pub const BUSY_TIMEOUT_MS: u32 = 10_000;
/// Page cache per connection, KiB.
pub const CACHE_KIB: u32 = 32_000;

/// Opens (creating if needed) the SQLite file at `path`: WAL journal, `synchronous = FULL`
/// (a commit is on disk before the call returns, so an acknowledged write survives a power
/// cut), foreign keys enforced, a busy timeout and a page cache. The connection is meant for
/// one thread at a time (the callers guard it with a mutex or keep it in a pool).
pub fn open_sqlite(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Invalid(format!(
            "{} cannot use a write-ahead log (journal mode {mode})",
            path.display()
        )));
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};
         PRAGMA cache_size = -{CACHE_KIB};"
    ))?;
    Ok(conn)
}

/// Runs the `migrations` that `conn` has not run yet, each in its own transaction, counting
/// them in `PRAGMA user_version`. A file written by a newer server is refused.
pub fn migrate(conn: &Connection, migrations: &[&str], path: &Path) -> StoreResult<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > migrations.len() as i64 {
        return Err(StoreError::Invalid(format!(
            "{} was written by a newer server (schema {version})",
            path.display()
        )));
    }
    for (i, sql) in migrations.iter().enumerate().skip(version.max(0) as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
    }
    Ok(())
}

/// One SQLite file: one connection writes (SQLite has one writer anyway), reads take a
/// connection from a small pool and run beside it (WAL).
pub struct SqlitePool {
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    path: PathBuf,
    keep: usize,
}

impl SqlitePool {
    /// Opens `path`, runs its `migrations`, and keeps up to `keep` idle readers.
    pub fn open(path: &Path, migrations: &[&str], keep: usize) -> StoreResult<SqlitePool> {
        let conn = open_sqlite(path)?;
        migrate(&conn, migrations, path)?;
        Ok(SqlitePool {
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            path: path.to_path_buf(),
            keep,
        })
    }

    /// `f` in one write transaction (taken at once, `IMMEDIATE`), committed if it succeeds.
    pub fn write<R>(&self, f: impl FnOnce(&Transaction<'_>) -> StoreResult<R>) -> StoreResult<R> {
        // A panic mid-transaction rolled it back; the connection is fine.
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// `f` in one read transaction: every query sees the same snapshot.
    pub fn read<R>(&self, f: impl FnOnce(&Transaction<'_>) -> StoreResult<R>) -> StoreResult<R> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => open_sqlite(&self.path)?,
        };
        let out = {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let out = f(&tx);
            tx.finish()?;
            out
        };
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < self.keep {
            pool.push(conn);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_open_durable_and_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let c = open_sqlite(&path).unwrap();
        let sync: i64 = c.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!(sync, 2, "FULL");
        let fk: i64 = c
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        let mode: String = c
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        migrate(&c, &["CREATE TABLE a(x)", "CREATE TABLE b(y)"], &path).unwrap();
        migrate(&c, &["CREATE TABLE a(x)", "CREATE TABLE b(y)"], &path).unwrap();
        let err = migrate(&c, &["CREATE TABLE a(x)"], &path).unwrap_err();
        assert!(err.to_string().contains("newer server"), "{err}");
    }
}
