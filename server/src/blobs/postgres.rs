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
//! transaction back and runs it again (`crate::pg`). The append itself is written once for
//! both backends (`super::tx`).

use postgres::IsolationLevel;
use postgres::Row;

use super::tx::{Assembler, PhotoTx, Verifier, append_in, set_refs_in};
use super::{Append, BlobStore, Chunk, DocRefs, Photo, READ_PIECE, UploadPolicy, UploadState};
use crate::pg::{Cx, Fail, PgPool, Res};
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

pub struct PostgresBlobStore {
    pool: PgPool,
    policy: UploadPolicy,
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
        let store = PostgresBlobStore {
            pool: PgPool::new(url, "outpost-server photos", POOL)?,
            policy,
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&self) -> StoreResult<()> {
        self.pool
            .run(IsolationLevel::ReadCommitted, false, |cx| {
                // Two processes starting at once: one migrates, the other waits and sees it
                // done.
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

fn photo_row(cx: &mut Cx<'_>, hash: &str) -> Res<Option<(i64, Photo)>> {
    let sql = "SELECT upload, size, mime FROM photos WHERE hash = $1";
    let Some(r) = cx.opt(sql, &[&hash])? else {
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

impl PhotoTx for Cx<'_> {
    type E = Fail;

    fn lock_device(&mut self, device: &str) -> Res<()> {
        // One append per device at a time, across processes: its quota is exact.
        self.exec(
            "SELECT pg_advisory_xact_lock(hashtextextended('outpost photo upload ' || $1, 0))::text",
            &[&device],
        )?;
        Ok(())
    }

    fn drop_expired(&mut self, device: &str, since: i64) -> Res<()> {
        self.exec(
            "DELETE FROM photo_uploads WHERE device = $1 AND NOT complete AND touched_at < $2",
            &[&device, &since],
        )?;
        Ok(())
    }

    fn photo(&mut self, hash: &str) -> Res<Option<Photo>> {
        Ok(photo_row(self, hash)?.map(|(_, p)| p))
    }

    fn own_upload(&mut self, hash: &str, device: &str) -> Res<Option<(i64, UploadState)>> {
        let r = self.opt(
            "SELECT id, size, received FROM photo_uploads
              WHERE hash = $1 AND device = $2 AND NOT complete FOR UPDATE",
            &[&hash, &device],
        )?;
        upload_row(r)
    }

    fn in_flight(&mut self, device: &str, since: i64) -> Res<u64> {
        let n: i64 = self
            .one(
                "SELECT coalesce(sum(received), 0)::BIGINT FROM photo_uploads
                  WHERE device = $1 AND NOT complete AND touched_at >= $2",
                &[&device, &since],
            )?
            .try_get(0)?;
        unsigned(n)
    }

    fn drop_upload(&mut self, id: i64) -> Res<()> {
        self.exec("DELETE FROM photo_uploads WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn start_upload(&mut self, device: &str, c: &Chunk<'_>, now: i64) -> Res<i64> {
        Ok(self
            .one(
                "INSERT INTO photo_uploads
                   (hash, device, size, received, mime, started_at, touched_at, complete)
                 VALUES ($1, $2, $3, 0, $4, $5, $5, false) RETURNING id",
                &[&c.hash, &device, &signed(c.size)?, &c.mime, &now],
            )?
            .try_get(0)?)
    }

    fn put_chunk(&mut self, id: i64, c: &Chunk<'_>, end: u64, now: i64) -> Res<()> {
        self.exec(
            "INSERT INTO photo_chunks(upload, pos, bytes) VALUES ($1, $2, $3)",
            &[&id, &signed(c.offset)?, &c.bytes],
        )?;
        self.exec(
            "UPDATE photo_uploads SET received = $2, touched_at = $3 WHERE id = $1",
            &[&id, &signed(end)?, &now],
        )?;
        Ok(())
    }

    fn hash_chunks(&mut self, id: i64, size: u64, v: &mut Verifier) -> Res<()> {
        // 1 MiB of rows at a time: a chunk is at most 1 MiB, so each window starts with the
        // next chunk, and at most 2 MiB are in memory.
        while v.next() < size {
            let from = signed(v.next())?;
            let to = signed(v.next().saturating_add(READ_PIECE))?;
            let rows = self.query(
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
        Ok(())
    }

    fn claim_photo(&mut self, id: i64, now: i64) -> Res<bool> {
        // Of two uploads completing at once, the second waits here for the first to commit
        // and then inserts nothing.
        let won = self.exec(
            "INSERT INTO photos(hash, upload, size, mime, created_at)
             SELECT hash, id, size, mime, $2 FROM photo_uploads WHERE id = $1
             ON CONFLICT (hash) DO NOTHING",
            &[&id, &now],
        )? == 1;
        if won {
            self.exec(
                "UPDATE photo_uploads SET complete = true WHERE id = $1",
                &[&id],
            )?;
        }
        Ok(won)
    }

    fn ref_known(&mut self, hash: &str, doc_id: &str) -> Res<bool> {
        Ok(self
            .one(
                "SELECT EXISTS(SELECT 1 FROM photo_refs WHERE hash = $1 AND doc_id = $2)",
                &[&hash, &doc_id],
            )?
            .try_get(0)?)
    }

    fn photo_or_upload(&mut self, hash: &str) -> Res<bool> {
        Ok(self
            .one(
                "SELECT EXISTS(SELECT 1 FROM photos WHERE hash = $1)
                     OR EXISTS(SELECT 1 FROM photo_uploads WHERE hash = $1)",
                &[&hash],
            )?
            .try_get(0)?)
    }

    fn refs_in(&mut self, hash: &str, scope: &Scope, proven: bool) -> Res<bool> {
        let row = match scope {
            Scope::All => self.one(
                "SELECT EXISTS(SELECT 1 FROM photo_refs WHERE hash = $1 AND proven = $2)",
                &[&hash, &proven],
            )?,
            Scope::Keys(keys) => self.one(
                "SELECT EXISTS(SELECT 1 FROM photo_refs r
                   JOIN photo_doc_keys k ON k.doc_id = r.doc_id
                  WHERE r.hash = $1 AND r.proven = $2 AND k.key = ANY($3))",
                &[&hash, &proven, keys],
            )?,
        };
        Ok(row.try_get(0)?)
    }

    fn insert_ref(&mut self, hash: &str, doc_id: &str, proven: bool) -> Res<()> {
        self.exec(
            "INSERT INTO photo_refs(hash, doc_id, proven) VALUES ($1, $2, $3)
             ON CONFLICT (hash, doc_id) DO NOTHING",
            &[&hash, &doc_id, &proven],
        )?;
        Ok(())
    }

    fn set_doc_keys(&mut self, doc_id: &str, keys: &[String]) -> Res<()> {
        self.exec("DELETE FROM photo_doc_keys WHERE doc_id = $1", &[&doc_id])?;
        self.exec(
            "INSERT INTO photo_doc_keys(doc_id, key) SELECT $1, unnest($2::TEXT[])
             ON CONFLICT DO NOTHING",
            &[&doc_id, &keys],
        )?;
        Ok(())
    }
}

impl BlobStore for PostgresBlobStore {
    fn policy(&self) -> UploadPolicy {
        self.policy
    }

    fn photo(&self, hash: &str) -> StoreResult<Option<Photo>> {
        self.pool.read(|cx| cx.photo(hash))
    }

    fn upload(&self, hash: &str, device: &str, now: i64) -> StoreResult<Option<UploadState>> {
        let since = self.policy.expired_before(now);
        self.pool.read(|cx| {
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
        self.pool.read(|cx| cx.in_flight(device, since))
    }

    fn append(
        &self,
        device: &str,
        chunk: &Chunk<'_>,
        share: bool,
        now: i64,
    ) -> StoreResult<Append> {
        self.pool
            .write(|cx| append_in(cx, device, chunk, share, now, &self.policy))
    }

    fn read(&self, hash: &str, start: u64, end: u64) -> StoreResult<Vec<u8>> {
        self.pool.read(|cx| {
            let (upload, photo) = photo_row(cx, hash)?.ok_or_else(|| {
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
        self.pool.write(|cx| {
            cx.exec(
                "DELETE FROM photo_uploads WHERE NOT complete AND touched_at < $1",
                &[&since],
            )
        })
    }

    fn set_refs(&self, docs: &[DocRefs], pusher: &Scope) -> StoreResult<()> {
        self.pool.write(|cx| set_refs_in(cx, docs, pusher))
    }

    fn visible(&self, hash: &str, scope: &Scope) -> StoreResult<bool> {
        self.pool.read(|cx| cx.refs_in(hash, scope, true))
    }

    fn claimed(&self, hash: &str, scope: &Scope) -> StoreResult<bool> {
        self.pool.read(|cx| cx.refs_in(hash, scope, false))
    }

    fn prove(&self, hash: &str, scope: &Scope) -> StoreResult<()> {
        self.pool.write(|cx| {
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
