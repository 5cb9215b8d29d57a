//! Photos in the documents' PostgreSQL database, so that several server processes act as
//! one: any process takes any chunk of any upload and serves any range.
//!
//! Chunks are `bytea` rows (`photo_chunks`), one per uploaded chunk, not large objects:
//! they live and die with their upload row in ordinary transactions (`ON DELETE CASCADE`;
//! large objects would need `lo_unlink` and a vacuum of orphans), a range read picks its
//! rows by the `(upload, pos)` key, and the rows replicate and back up with the rest of
//! the database. The column is stored `EXTERNAL`: photos are compressed already, so TOAST
//! does not try again. See docs/ARCHITECTURE.md.
//!
//! # Concurrency
//! An append runs in one `READ COMMITTED` transaction that first takes a transaction-scoped
//! advisory lock on the uploading device (so its quota is counted exactly, whichever
//! process its requests reach), then locks its upload row with `SELECT … FOR UPDATE`. The
//! completing chunk hashes the whole upload in that transaction, reading 1 MiB of rows at a
//! time, and claims the photo with `INSERT … ON CONFLICT (hash) DO NOTHING`: when two
//! devices complete the same photo at once, the second waits for the first to commit and
//! then drops its own copy. A deadlock, serialization failure or unique-key race rolls the
//! transaction back and runs it again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, IsolationLevel, NoTls, Row, Statement, Transaction};

use super::{
    Append, Assembler, BlobStore, Chunk, Photo, Plan, READ_PIECE, UploadPolicy, UploadState,
    Verifier, plan,
};
use crate::storage::{Scope, StoreError, StoreResult};

const MIGRATIONS: &[&str] = &[r#"
    CREATE TABLE photo_uploads (
        id BIGSERIAL PRIMARY KEY,
        hash TEXT NOT NULL,
        device TEXT NOT NULL,
        size BIGINT NOT NULL,
        received BIGINT NOT NULL,
        mime TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        touched_at BIGINT NOT NULL,
        complete BOOLEAN NOT NULL
    );
    CREATE UNIQUE INDEX photo_uploads_open ON photo_uploads(hash, device) WHERE NOT complete;
    CREATE INDEX photo_uploads_device ON photo_uploads(device, touched_at) WHERE NOT complete;
    CREATE INDEX photo_uploads_idle ON photo_uploads(touched_at) WHERE NOT complete;
    CREATE TABLE photo_chunks (
        upload BIGINT NOT NULL REFERENCES photo_uploads(id) ON DELETE CASCADE,
        pos BIGINT NOT NULL,
        bytes BYTEA NOT NULL,
        PRIMARY KEY (upload, pos)
    );
    ALTER TABLE photo_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;
    CREATE TABLE photos (
        hash TEXT PRIMARY KEY,
        upload BIGINT NOT NULL REFERENCES photo_uploads(id),
        size BIGINT NOT NULL,
        mime TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    -- Which documents reference which photo (proven = false: a claim), and the scope keys
    -- those documents carry.
    CREATE TABLE photo_refs (
        hash TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        proven BOOLEAN NOT NULL,
        PRIMARY KEY (hash, doc_id)
    );
    CREATE TABLE photo_doc_keys (
        doc_id TEXT NOT NULL,
        key TEXT NOT NULL,
        PRIMARY KEY (doc_id, key)
    );
"#];

/// Advisory lock key that serializes the photo schema's migrations.
const MIGRATE_LOCK: i64 = 0x6f75_7470_6f73_7402;
/// Idle connections kept between requests.
const POOL: usize = 16;
/// Runs of a write transaction that lost a race.
const ATTEMPTS: u32 = 8;

struct Conn {
    client: Client,
    stmts: HashMap<&'static str, Statement>,
}

pub struct PostgresBlobStore {
    config: postgres::Config,
    pool: Mutex<Vec<Conn>>,
    policy: UploadPolicy,
}

enum Fail {
    Pg(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl Fail {
    fn retryable(&self) -> bool {
        let Fail::Pg(e) = self else { return false };
        matches!(
            e.code(),
            Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::UNIQUE_VIOLATION
        )
    }

    fn into_store(self) -> StoreError {
        match self {
            Fail::Pg(e) => StoreError::Db(match e.as_db_error() {
                Some(db) => format!("{}: {}", db.code().code(), db.message()),
                None => e.to_string(),
            }),
            Fail::Store(e) => e,
        }
    }
}

type Res<T> = Result<T, Fail>;

/// One transaction with its connection's prepared statements.
struct Cx<'a> {
    tx: Transaction<'a>,
    stmts: &'a mut HashMap<&'static str, Statement>,
}

impl Cx<'_> {
    fn stmt(&mut self, sql: &'static str) -> Res<Statement> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql)?;
        self.stmts.insert(sql, s.clone());
        Ok(s)
    }

    fn query(&mut self, sql: &'static str, p: &[&(dyn ToSql + Sync)]) -> Res<Vec<Row>> {
        let s = self.stmt(sql)?;
        Ok(self.tx.query(&s, p)?)
    }

    fn opt(&mut self, sql: &'static str, p: &[&(dyn ToSql + Sync)]) -> Res<Option<Row>> {
        let s = self.stmt(sql)?;
        Ok(self.tx.query_opt(&s, p)?)
    }

    fn one(&mut self, sql: &'static str, p: &[&(dyn ToSql + Sync)]) -> Res<Row> {
        let s = self.stmt(sql)?;
        Ok(self.tx.query_one(&s, p)?)
    }

    fn exec(&mut self, sql: &'static str, p: &[&(dyn ToSql + Sync)]) -> Res<u64> {
        let s = self.stmt(sql)?;
        Ok(self.tx.execute(&s, p)?)
    }
}

/// A stored count or offset; negative ones only come from a damaged row.
fn unsigned(v: i64) -> Res<u64> {
    u64::try_from(v).map_err(|_| Fail::Store(StoreError::Corrupt(format!("negative size {v}"))))
}

/// A count or offset as PostgreSQL's BIGINT (every one is bounded by the protocol).
fn signed(v: u64) -> Res<i64> {
    i64::try_from(v).map_err(|_| Fail::Store(StoreError::Invalid(format!("{v} is too large"))))
}

impl PostgresBlobStore {
    /// Connects to `url` (as [`crate::storage::PostgresStorage::open`] takes it) and brings
    /// the photo tables up to date, with the default policy.
    pub fn open(url: &str) -> StoreResult<PostgresBlobStore> {
        PostgresBlobStore::open_with(url, UploadPolicy::default())
    }

    pub fn open_with(url: &str, policy: UploadPolicy) -> StoreResult<PostgresBlobStore> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| StoreError::Invalid(format!("database URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("outpost-server photos");
        let store = PostgresBlobStore {
            config,
            pool: Mutex::new(Vec::new()),
            policy,
        };
        store.migrate()?;
        Ok(store)
    }

    fn run<R>(
        &self,
        isolation: IsolationLevel,
        read_only: bool,
        f: impl FnOnce(&mut Cx<'_>) -> Res<R>,
    ) -> Res<R> {
        let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) if !c.client.is_closed() => c,
            _ => Conn {
                client: self.config.connect(NoTls).map_err(|e| {
                    Fail::Store(StoreError::Db(format!(
                        "connect: {}",
                        Fail::Pg(e).into_store()
                    )))
                })?,
                stmts: HashMap::new(),
            },
        };
        let out = (|| {
            let tx = conn
                .client
                .build_transaction()
                .isolation_level(isolation)
                .read_only(read_only)
                .start()?;
            let mut cx = Cx {
                tx,
                stmts: &mut conn.stmts,
            };
            let out = f(&mut cx)?;
            cx.tx.commit()?;
            Ok(out)
        })();
        if !conn.client.is_closed() {
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < POOL {
                pool.push(conn);
            }
        }
        out
    }

    fn read<R>(&self, f: impl FnOnce(&mut Cx<'_>) -> Res<R>) -> StoreResult<R> {
        self.run(IsolationLevel::ReadCommitted, true, f)
            .map_err(Fail::into_store)
    }

    /// A write transaction, run again when it lost a race with another process.
    fn write<R>(&self, mut f: impl FnMut(&mut Cx<'_>) -> Res<R>) -> StoreResult<R> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.run(IsolationLevel::ReadCommitted, false, &mut f) {
                Err(e) if attempt < ATTEMPTS && e.retryable() => {
                    let jitter = u64::from(rand::random::<u8>() % 20);
                    std::thread::sleep(Duration::from_millis((1u64 << attempt.min(6)) + jitter));
                }
                other => return other.map_err(Fail::into_store),
            }
        }
    }

    fn migrate(&self) -> StoreResult<()> {
        self.run(IsolationLevel::ReadCommitted, false, |cx| {
            // Two processes starting at once: one migrates, the other waits and sees it done.
            cx.exec("SELECT pg_advisory_xact_lock($1)::text", &[&MIGRATE_LOCK])?;
            cx.tx
                .batch_execute("SET LOCAL client_min_messages = warning")?;
            cx.tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS photo_schema (id INT PRIMARY KEY, version BIGINT NOT NULL);
                 INSERT INTO photo_schema(id, version) VALUES (1, 0) ON CONFLICT DO NOTHING;",
            )?;
            let version: i64 = cx
                .one("SELECT version FROM photo_schema WHERE id = 1", &[])?
                .try_get(0)?;
            if version > MIGRATIONS.len() as i64 {
                return Err(StoreError::Invalid(format!(
                    "the photo tables were written by a newer server (schema {version})"
                ))
                .into());
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
                cx.tx.batch_execute(sql)?;
                cx.exec(
                    "UPDATE photo_schema SET version = $1 WHERE id = 1",
                    &[&(i as i64 + 1)],
                )?;
            }
            Ok(())
        })
        .map_err(Fail::into_store)
    }
}

fn photo_of(cx: &mut Cx<'_>, hash: &str) -> Res<Option<(i64, Photo)>> {
    let Some(r) = cx.opt(
        "SELECT upload, size, mime FROM photos WHERE hash = $1",
        &[&hash],
    )?
    else {
        return Ok(None);
    };
    Ok(Some((
        r.try_get(0)?,
        Photo {
            size: unsigned(r.try_get(1)?)?,
            mime: r.try_get(2)?,
        },
    )))
}

fn upload_row(r: Option<Row>) -> Res<Option<(i64, UploadState)>> {
    let Some(r) = r else { return Ok(None) };
    Ok(Some((
        r.try_get(0)?,
        UploadState {
            size: unsigned(r.try_get(1)?)?,
            received: unsigned(r.try_get(2)?)?,
        },
    )))
}

fn in_flight_of(cx: &mut Cx<'_>, device: &str, since: i64) -> Res<u64> {
    let n: i64 = cx
        .one(
            "SELECT coalesce(sum(received), 0)::BIGINT FROM photo_uploads
              WHERE device = $1 AND NOT complete AND touched_at >= $2",
            &[&device, &since],
        )?
        .try_get(0)?;
    unsigned(n)
}

/// Whether a document in `scope` references `hash` with this `proven` flag.
fn refs_in(cx: &mut Cx<'_>, hash: &str, scope: &Scope, proven: bool) -> Res<bool> {
    let row = match scope {
        Scope::All => cx.one(
            "SELECT EXISTS(SELECT 1 FROM photo_refs WHERE hash = $1 AND proven = $2)",
            &[&hash, &proven],
        )?,
        Scope::Keys(keys) => cx.one(
            "SELECT EXISTS(SELECT 1 FROM photo_refs r
               JOIN photo_doc_keys k ON k.doc_id = r.doc_id
              WHERE r.hash = $1 AND r.proven = $2 AND k.key = ANY($3))",
            &[&hash, &proven, keys],
        )?,
    };
    Ok(row.try_get(0)?)
}

impl BlobStore for PostgresBlobStore {
    fn policy(&self) -> UploadPolicy {
        self.policy
    }

    fn photo(&self, hash: &str) -> StoreResult<Option<Photo>> {
        self.read(|cx| Ok(photo_of(cx, hash)?.map(|(_, p)| p)))
    }

    fn upload(&self, hash: &str, device: &str, now: i64) -> StoreResult<Option<UploadState>> {
        let since = self.policy.expired_before(now);
        self.read(|cx| {
            let r = cx.opt(
                "SELECT id, size, received FROM photo_uploads
                  WHERE hash = $1 AND device = $2 AND NOT complete AND touched_at >= $3",
                &[&hash, &device, &since],
            )?;
            Ok(upload_row(r)?.map(|(_, u)| u))
        })
    }

    fn in_flight(&self, device: &str, now: i64) -> StoreResult<u64> {
        let since = self.policy.expired_before(now);
        self.read(|cx| in_flight_of(cx, device, since))
    }

    fn append(
        &self,
        device: &str,
        chunk: &Chunk<'_>,
        share: bool,
        now: i64,
    ) -> StoreResult<Append> {
        let since = self.policy.expired_before(now);
        self.write(|cx| {
            // One append per device at a time, across processes: its quota is exact.
            cx.exec(
                "SELECT pg_advisory_xact_lock(hashtextextended('outpost photo upload ' || $1, 0))::text",
                &[&device],
            )?;
            cx.exec(
                "DELETE FROM photo_uploads WHERE device = $1 AND NOT complete AND touched_at < $2",
                &[&device, &since],
            )?;
            if share && let Some((_, p)) = photo_of(cx, chunk.hash)? {
                cx.exec(
                    "DELETE FROM photo_uploads WHERE hash = $1 AND device = $2 AND NOT complete",
                    &[&chunk.hash, &device],
                )?;
                return Ok(Append::Stored {
                    received: p.size,
                    complete: true,
                });
            }
            let own = cx.opt(
                "SELECT id, size, received FROM photo_uploads
                  WHERE hash = $1 AND device = $2 AND NOT complete FOR UPDATE",
                &[&chunk.hash, &device],
            )?;
            let own = upload_row(own)?;
            let held = in_flight_of(cx, device, since)?;
            let (plan, end) = plan(own, chunk, held, &self.policy)?;
            let id: i64 = match plan {
                Plan::Refuse(answer) => return Ok(answer),
                Plan::Continue { id } => id,
                Plan::Start { drop } => {
                    if let Some(old) = drop {
                        cx.exec("DELETE FROM photo_uploads WHERE id = $1", &[&old])?;
                    }
                    cx.one(
                        "INSERT INTO photo_uploads
                           (hash, device, size, received, mime, started_at, touched_at, complete)
                         VALUES ($1, $2, $3, 0, $4, $5, $5, false) RETURNING id",
                        &[&chunk.hash, &device, &signed(chunk.size)?, &chunk.mime, &now],
                    )?
                    .try_get(0)?
                }
            };
            cx.exec(
                "INSERT INTO photo_chunks(upload, pos, bytes) VALUES ($1, $2, $3)",
                &[&id, &signed(chunk.offset)?, &chunk.bytes],
            )?;
            cx.exec(
                "UPDATE photo_uploads SET received = $2, touched_at = $3 WHERE id = $1",
                &[&id, &signed(end)?, &now],
            )?;
            if end < chunk.size {
                return Ok(Append::Stored {
                    received: end,
                    complete: false,
                });
            }
            // The last chunk: hash the whole upload in this transaction, 1 MiB of rows at a
            // time (a chunk is at most 1 MiB, so each window starts with the next chunk).
            let mut v = Verifier::new();
            while v.next() < chunk.size {
                let from = signed(v.next())?;
                let to = signed(v.next().saturating_add(READ_PIECE))?;
                let rows = cx.query(
                    "SELECT pos, bytes FROM photo_chunks
                      WHERE upload = $1 AND pos >= $2 AND pos < $3 ORDER BY pos",
                    &[&id, &from, &to],
                )?;
                if rows.is_empty() {
                    break;
                }
                for r in rows {
                    let bytes: &[u8] = r.try_get(1)?;
                    v.feed(unsigned(r.try_get(0)?)?, bytes)?;
                }
            }
            if !v.matches(chunk.size, chunk.hash)? {
                cx.exec("DELETE FROM photo_uploads WHERE id = $1", &[&id])?;
                return Ok(Append::HashMismatch);
            }
            let won = cx.exec(
                "INSERT INTO photos(hash, upload, size, mime, created_at)
                 SELECT hash, id, size, mime, $2 FROM photo_uploads WHERE id = $1
                 ON CONFLICT (hash) DO NOTHING",
                &[&id, &now],
            )?;
            if won == 1 {
                cx.exec(
                    "UPDATE photo_uploads SET complete = true WHERE id = $1",
                    &[&id],
                )?;
            } else {
                // Another upload won (or this was a proof): the bytes are stored already.
                cx.exec("DELETE FROM photo_uploads WHERE id = $1", &[&id])?;
            }
            Ok(Append::Stored {
                received: end,
                complete: true,
            })
        })
    }

    fn read(&self, hash: &str, start: u64, end: u64) -> StoreResult<Vec<u8>> {
        self.read(|cx| {
            let (upload, photo) = photo_of(cx, hash)?.ok_or_else(|| {
                Fail::Store(StoreError::Invalid(format!("photo {hash} is not complete")))
            })?;
            let mut a = Assembler::new(hash, start, end, photo.size)?;
            let rows = cx.query(
                "SELECT pos, bytes FROM photo_chunks
                  WHERE upload = $1 AND pos >= $2 AND pos < $3 ORDER BY pos",
                &[&upload, &signed(a.first_offset())?, &signed(end)?],
            )?;
            for r in rows {
                let bytes: &[u8] = r.try_get(1)?;
                a.feed(unsigned(r.try_get(0)?)?, bytes)?;
            }
            Ok(a.finish()?)
        })
    }

    fn sweep(&self, now: i64) -> StoreResult<u64> {
        let since = self.policy.expired_before(now);
        self.write(|cx| {
            cx.exec(
                "DELETE FROM photo_uploads WHERE NOT complete AND touched_at < $1",
                &[&since],
            )
        })
    }

    fn set_refs(
        &self,
        doc_id: &str,
        hashes: &[String],
        keys: &[String],
        pusher: &Scope,
    ) -> StoreResult<()> {
        self.write(|cx| {
            for h in hashes {
                let known: bool = cx
                    .one(
                        "SELECT EXISTS(SELECT 1 FROM photo_refs WHERE hash = $1 AND doc_id = $2)",
                        &[h, &doc_id],
                    )?
                    .try_get(0)?;
                if known {
                    continue;
                }
                // The first reference comes before the upload (documents go first); a later
                // one by someone who can see the photo already is as good.
                let exists: bool = cx
                    .one(
                        "SELECT EXISTS(SELECT 1 FROM photos WHERE hash = $1)
                             OR EXISTS(SELECT 1 FROM photo_uploads WHERE hash = $1)",
                        &[h],
                    )?
                    .try_get(0)?;
                let proven = !exists || refs_in(cx, h, pusher, true)?;
                cx.exec(
                    "INSERT INTO photo_refs(hash, doc_id, proven) VALUES ($1, $2, $3)
                     ON CONFLICT (hash, doc_id) DO NOTHING",
                    &[h, &doc_id, &proven],
                )?;
            }
            cx.exec("DELETE FROM photo_doc_keys WHERE doc_id = $1", &[&doc_id])?;
            for k in keys {
                cx.exec(
                    "INSERT INTO photo_doc_keys(doc_id, key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&doc_id, k],
                )?;
            }
            Ok(())
        })
    }

    fn visible(&self, hash: &str, scope: &Scope) -> StoreResult<bool> {
        self.read(|cx| refs_in(cx, hash, scope, true))
    }

    fn claimed(&self, hash: &str, scope: &Scope) -> StoreResult<bool> {
        self.read(|cx| refs_in(cx, hash, scope, false))
    }

    fn prove(&self, hash: &str, scope: &Scope) -> StoreResult<()> {
        self.write(|cx| {
            match scope {
                Scope::All => cx.exec(
                    "UPDATE photo_refs SET proven = true WHERE hash = $1",
                    &[&hash],
                )?,
                Scope::Keys(keys) => cx.exec(
                    "UPDATE photo_refs SET proven = true WHERE hash = $1 AND doc_id IN
                       (SELECT doc_id FROM photo_doc_keys WHERE key = ANY($2))",
                    &[&hash, keys],
                )?,
            };
            Ok(())
        })
    }
}
