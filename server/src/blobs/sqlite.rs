//! Photos in their own SQLite file beside the documents' (`outpost-blobs.db`), opened with
//! the same settings ([`crate::open::SqlitePool`]: WAL, `synchronous = FULL`): an offset
//! the server acknowledged is on disk. One connection writes; reads (ranges, status) take a
//! connection from a small pool and run beside the writer. The append itself is written
//! once for both backends (`super::tx`).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::tx::{Assembler, PhotoTx, Verifier, append_in, set_refs_in};
use super::{Append, BlobStore, Chunk, DocRefs, Photo, UploadPolicy, UploadState};
use crate::open::SqlitePool;
use crate::storage::{Scope, StoreError, StoreResult};

const MIGRATIONS: &[&str] = &[
    r#"
    -- One row per blob being uploaded or complete; its bytes in chunk rows.
    CREATE TABLE blobs (
        hash TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        received INTEGER NOT NULL,
        complete INTEGER NOT NULL,
        mime TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE blob_chunks (
        hash TEXT NOT NULL REFERENCES blobs(hash) ON DELETE CASCADE,
        offset INTEGER NOT NULL,
        bytes BLOB NOT NULL,
        PRIMARY KEY (hash, offset)
    ) STRICT, WITHOUT ROWID;
    -- Which documents reference which photo, and the scope keys those documents carry.
    CREATE TABLE blob_refs (
        hash TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        PRIMARY KEY (hash, doc_id)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE blob_doc_keys (
        doc_id TEXT NOT NULL,
        key TEXT NOT NULL,
        PRIMARY KEY (doc_id, key)
    ) STRICT, WITHOUT ROWID;
"#,
    r#"
    -- 0: a claim, made by someone who could not see the photo; it opens nothing until the
    -- claimant uploads the bytes.
    ALTER TABLE blob_refs ADD COLUMN proven INTEGER NOT NULL DEFAULT 1;
"#,
    r#"
    -- Uploads per (photo, device): one device's wrong size or bytes spoil only its own.
    -- A complete upload is the photo's bytes (`photos.upload`) and is never dropped.
    CREATE TABLE photo_uploads (
        id INTEGER PRIMARY KEY,
        hash TEXT NOT NULL,
        device TEXT NOT NULL,
        size INTEGER NOT NULL,
        received INTEGER NOT NULL,
        mime TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        touched_at INTEGER NOT NULL,
        complete INTEGER NOT NULL
    ) STRICT;
    CREATE UNIQUE INDEX photo_uploads_open ON photo_uploads(hash, device) WHERE complete = 0;
    CREATE INDEX photo_uploads_device ON photo_uploads(device, touched_at) WHERE complete = 0;
    CREATE INDEX photo_uploads_idle ON photo_uploads(touched_at) WHERE complete = 0;
    -- Chunks are large: a rowid table keeps them in overflow pages, off the index.
    CREATE TABLE photo_chunks (
        upload INTEGER NOT NULL REFERENCES photo_uploads(id) ON DELETE CASCADE,
        offset INTEGER NOT NULL,
        bytes BLOB NOT NULL,
        PRIMARY KEY (upload, offset)
    ) STRICT;
    CREATE TABLE photos (
        hash TEXT PRIMARY KEY,
        upload INTEGER NOT NULL REFERENCES photo_uploads(id),
        size INTEGER NOT NULL,
        mime TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    -- Complete photos of the earlier layout move over (their uploader is unknown); the
    -- unfinished uploads and proof uploads are dropped: devices resume from offset 0.
    INSERT INTO photo_uploads(hash, device, size, received, mime, started_at, touched_at, complete)
        SELECT hash, '', size, received, mime, created_at, created_at, 1 FROM blobs
         WHERE complete = 1 AND length(hash) = 64;
    INSERT INTO photo_chunks(upload, offset, bytes)
        SELECT u.id, c.offset, c.bytes FROM blob_chunks c JOIN photo_uploads u ON u.hash = c.hash;
    INSERT INTO photos(hash, upload, size, mime, created_at)
        SELECT hash, id, size, mime, started_at FROM photo_uploads;
    DROP TABLE blob_chunks;
    DROP TABLE blobs;
"#,
];

/// Readers kept open between requests.
const POOL: usize = 8;

pub struct SqliteBlobStore {
    db: SqlitePool,
    policy: UploadPolicy,
}

impl SqliteBlobStore {
    /// Opens (creating or upgrading) the photo store at `path` with the default policy.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<SqliteBlobStore> {
        SqliteBlobStore::open_with(path, UploadPolicy::default())
    }

    pub fn open_with(path: impl AsRef<Path>, policy: UploadPolicy) -> StoreResult<SqliteBlobStore> {
        Ok(SqliteBlobStore {
            db: SqlitePool::open(path.as_ref(), MIGRATIONS, POOL)?,
            policy,
        })
    }
}

/// Column `i` of a chunk row, borrowed from SQLite's row buffer (not copied).
fn blob<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> StoreResult<&'r [u8]> {
    r.get_ref(i)?
        .as_blob()
        .map_err(|e| StoreError::Corrupt(format!("photo chunk: {e}")))
}

fn photo_row(c: &Connection, hash: &str) -> StoreResult<Option<(i64, Photo)>> {
    Ok(
        c.prepare_cached("SELECT upload, size, mime FROM photos WHERE hash = ?1")?
            .query_row([hash], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    Photo {
                        size: r.get::<_, i64>(1)? as u64,
                        mime: r.get(2)?,
                    },
                ))
            })
            .optional()?,
    )
}

fn upload_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, UploadState)> {
    Ok((
        r.get::<_, i64>(0)?,
        UploadState {
            size: r.get::<_, i64>(1)? as u64,
            received: r.get::<_, i64>(2)? as u64,
        },
    ))
}

/// The statements of one transaction (writers are serialized by SQLite itself).
struct Sql<'a>(&'a Connection);

impl PhotoTx for Sql<'_> {
    type E = StoreError;

    fn lock_device(&mut self, _device: &str) -> StoreResult<()> {
        Ok(())
    }

    fn drop_expired(&mut self, device: &str, since: i64) -> StoreResult<()> {
        self.0
            .prepare_cached(
                "DELETE FROM photo_uploads WHERE device = ?1 AND complete = 0 AND touched_at < ?2",
            )?
            .execute(params![device, since])?;
        Ok(())
    }

    fn photo(&mut self, hash: &str) -> StoreResult<Option<Photo>> {
        Ok(photo_row(self.0, hash)?.map(|(_, p)| p))
    }

    fn own_upload(&mut self, hash: &str, device: &str) -> StoreResult<Option<(i64, UploadState)>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT id, size, received FROM photo_uploads
                  WHERE hash = ?1 AND device = ?2 AND complete = 0",
            )?
            .query_row([hash, device], upload_row)
            .optional()?)
    }

    fn in_flight(&mut self, device: &str, since: i64) -> StoreResult<u64> {
        let n: i64 = self
            .0
            .prepare_cached(
                "SELECT coalesce(sum(received), 0) FROM photo_uploads
                  WHERE device = ?1 AND complete = 0 AND touched_at >= ?2",
            )?
            .query_row(params![device, since], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    fn drop_upload(&mut self, id: i64) -> StoreResult<()> {
        self.0
            .prepare_cached("DELETE FROM photo_uploads WHERE id = ?1")?
            .execute([id])?;
        Ok(())
    }

    fn start_upload(&mut self, device: &str, c: &Chunk<'_>, now: i64) -> StoreResult<i64> {
        Ok(self
            .0
            .prepare_cached(
                "INSERT INTO photo_uploads
                   (hash, device, size, received, mime, started_at, touched_at, complete)
                 VALUES (?1, ?2, ?3, 0, ?4, ?5, ?5, 0) RETURNING id",
            )?
            .query_row(params![c.hash, device, c.size as i64, c.mime, now], |r| {
                r.get(0)
            })?)
    }

    fn put_chunk(&mut self, id: i64, c: &Chunk<'_>, end: u64, now: i64) -> StoreResult<()> {
        self.0
            .prepare_cached("INSERT INTO photo_chunks(upload, offset, bytes) VALUES (?1, ?2, ?3)")?
            .execute(params![id, c.offset as i64, c.bytes])?;
        self.0
            .prepare_cached(
                "UPDATE photo_uploads SET received = ?2, touched_at = ?3 WHERE id = ?1",
            )?
            .execute(params![id, end as i64, now])?;
        Ok(())
    }

    fn hash_chunks(&mut self, id: i64, _size: u64, v: &mut Verifier) -> StoreResult<()> {
        // SQLite steps through the rows one at a time: one chunk is in memory.
        let mut stmt = self.0.prepare_cached(
            "SELECT offset, bytes FROM photo_chunks WHERE upload = ?1 ORDER BY offset",
        )?;
        let mut rows = stmt.query([id])?;
        while let Some(r) = rows.next()? {
            v.feed(r.get::<_, i64>(0)? as u64, blob(r, 1)?)?;
        }
        Ok(())
    }

    fn claim_photo(&mut self, id: i64, now: i64) -> StoreResult<bool> {
        let won = self
            .0
            .prepare_cached(
                "INSERT INTO photos(hash, upload, size, mime, created_at)
                 SELECT hash, id, size, mime, ?2 FROM photo_uploads WHERE id = ?1
                 ON CONFLICT (hash) DO NOTHING",
            )?
            .execute(params![id, now])?
            == 1;
        if won {
            self.0
                .prepare_cached("UPDATE photo_uploads SET complete = 1 WHERE id = ?1")?
                .execute([id])?;
        }
        Ok(won)
    }

    fn ref_known(&mut self, hash: &str, doc_id: &str) -> StoreResult<bool> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM blob_refs WHERE hash = ?1 AND doc_id = ?2)",
            )?
            .query_row([hash, doc_id], |r| r.get(0))?)
    }

    fn photo_or_upload(&mut self, hash: &str) -> StoreResult<bool> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM photos WHERE hash = ?1)
                     OR EXISTS(SELECT 1 FROM photo_uploads WHERE hash = ?1)",
            )?
            .query_row([hash], |r| r.get(0))?)
    }

    fn refs_in(&mut self, hash: &str, scope: &Scope, proven: bool) -> StoreResult<bool> {
        match scope {
            Scope::All => Ok(self
                .0
                .prepare_cached(
                    "SELECT EXISTS(SELECT 1 FROM blob_refs WHERE hash = ?1 AND proven = ?2)",
                )?
                .query_row(params![hash, proven], |r| r.get(0))?),
            Scope::Keys(keys) => {
                let mut stmt = self.0.prepare_cached(
                    "SELECT EXISTS(SELECT 1 FROM blob_refs r
                       JOIN blob_doc_keys k ON k.doc_id = r.doc_id
                      WHERE r.hash = ?1 AND r.proven = ?3 AND k.key = ?2)",
                )?;
                for k in keys {
                    if stmt.query_row(params![hash, k, proven], |r| r.get::<_, bool>(0))? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }

    fn insert_ref(&mut self, hash: &str, doc_id: &str, proven: bool) -> StoreResult<()> {
        self.0
            .prepare_cached("INSERT INTO blob_refs(hash, doc_id, proven) VALUES (?1, ?2, ?3)")?
            .execute(params![hash, doc_id, proven])?;
        Ok(())
    }

    fn set_doc_keys(&mut self, doc_id: &str, keys: &[String]) -> StoreResult<()> {
        self.0
            .prepare_cached("DELETE FROM blob_doc_keys WHERE doc_id = ?1")?
            .execute([doc_id])?;
        let mut stmt = self
            .0
            .prepare_cached("INSERT OR IGNORE INTO blob_doc_keys(doc_id, key) VALUES (?1, ?2)")?;
        for k in keys {
            stmt.execute([doc_id, k])?;
        }
        Ok(())
    }
}

impl BlobStore for SqliteBlobStore {
    fn policy(&self) -> UploadPolicy {
        self.policy
    }

    fn photo(&self, hash: &str) -> StoreResult<Option<Photo>> {
        self.db.read(|c| Sql(c).photo(hash))
    }

    fn upload(&self, hash: &str, device: &str, now: i64) -> StoreResult<Option<UploadState>> {
        let since = self.policy.expired_before(now);
        self.db.read(|c| {
            Ok(c.prepare_cached(
                "SELECT id, size, received FROM photo_uploads
                  WHERE hash = ?1 AND device = ?2 AND complete = 0 AND touched_at >= ?3",
            )?
            .query_row(params![hash, device, since], upload_row)
            .optional()?
            .map(|(_, u)| u))
        })
    }

    fn in_flight(&self, device: &str, now: i64) -> StoreResult<u64> {
        let since = self.policy.expired_before(now);
        self.db.read(|c| Sql(c).in_flight(device, since))
    }

    fn append(
        &self,
        device: &str,
        chunk: &Chunk<'_>,
        share: bool,
        now: i64,
    ) -> StoreResult<Append> {
        self.db
            .write(|tx| append_in(&mut Sql(tx), device, chunk, share, now, &self.policy))
    }

    fn read(&self, hash: &str, start: u64, end: u64) -> StoreResult<Vec<u8>> {
        self.db.read(|c| {
            let (upload, photo) = photo_row(c, hash)?
                .ok_or_else(|| StoreError::Invalid(format!("photo {hash} is not complete")))?;
            let mut a = Assembler::new(hash, start, end, photo.size)?;
            let mut stmt = c.prepare_cached(
                "SELECT offset, bytes FROM photo_chunks
                  WHERE upload = ?1 AND offset >= ?2 AND offset < ?3 ORDER BY offset",
            )?;
            let mut rows = stmt.query(params![upload, a.first_offset() as i64, end as i64])?;
            while let Some(r) = rows.next()? {
                a.feed(r.get::<_, i64>(0)? as u64, blob(r, 1)?)?;
            }
            a.finish()
        })
    }

    fn sweep(&self, now: i64) -> StoreResult<u64> {
        let since = self.policy.expired_before(now);
        self.db.write(|tx| {
            Ok(tx
                .prepare_cached("DELETE FROM photo_uploads WHERE complete = 0 AND touched_at < ?1")?
                .execute([since])? as u64)
        })
    }

    fn set_refs(&self, docs: &[DocRefs], pusher: &Scope) -> StoreResult<()> {
        self.db.write(|tx| set_refs_in(&mut Sql(tx), docs, pusher))
    }

    fn visible(&self, hash: &str, scope: &Scope) -> StoreResult<bool> {
        self.db.read(|c| Sql(c).refs_in(hash, scope, true))
    }

    fn claimed(&self, hash: &str, scope: &Scope) -> StoreResult<bool> {
        self.db.read(|c| Sql(c).refs_in(hash, scope, false))
    }

    fn prove(&self, hash: &str, scope: &Scope) -> StoreResult<()> {
        self.db.write(|tx| {
            match scope {
                Scope::All => {
                    tx.execute("UPDATE blob_refs SET proven = 1 WHERE hash = ?1", [hash])?;
                }
                Scope::Keys(keys) => {
                    let mut stmt = tx.prepare_cached(
                        "UPDATE blob_refs SET proven = 1 WHERE hash = ?1 AND doc_id IN
                           (SELECT doc_id FROM blob_doc_keys WHERE key = ?2)",
                    )?;
                    for k in keys {
                        stmt.execute([hash, k])?;
                    }
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::open::{migrate, open_sqlite};

    /// A photo store of the earlier layout (one upload per hash, proof uploads under their
    /// own keys) keeps its complete photos and references; unfinished uploads start over.
    #[test]
    fn an_earlier_store_keeps_its_complete_photos() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outpost-blobs.db");
        let data: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
        let h = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
        let partial = "ab".repeat(32);
        {
            let c = open_sqlite(&path).unwrap();
            migrate(&c, &MIGRATIONS[..2], &path).unwrap();
            c.execute_batch(&format!(
                "INSERT INTO blobs VALUES ('{h}', 3000, 3000, 1, 'image/jpeg', 5);
                 INSERT INTO blobs VALUES ('{partial}', 9000, 1000, 0, 'image/png', 6);
                 INSERT INTO blobs VALUES ('{h}.proof.dev', 3000, 1000, 0, 'image/jpeg', 7);
                 INSERT INTO blob_refs(hash, doc_id, proven) VALUES ('{h}', 'case-1', 1);
                 INSERT INTO blob_doc_keys VALUES ('case-1', 'g:G1');"
            ))
            .unwrap();
            let mut ins = c
                .prepare("INSERT INTO blob_chunks VALUES (?1, ?2, ?3)")
                .unwrap();
            ins.execute(params![h, 0, &data[..1000]]).unwrap();
            ins.execute(params![h, 1000, &data[1000..]]).unwrap();
            ins.execute(params![partial, 0, &data[..1000]]).unwrap();
        }
        let s = SqliteBlobStore::open(&path).unwrap();
        assert_eq!(
            s.photo(&h).unwrap(),
            Some(Photo {
                size: 3000,
                mime: "image/jpeg".into()
            })
        );
        assert_eq!(BlobStore::read(&s, &h, 0, 3000).unwrap(), data);
        assert_eq!(s.photo(&partial).unwrap(), None);
        assert!(s.visible(&h, &Scope::Keys(vec!["g:G1".into()])).unwrap());
        let left: i64 =
            s.db.read(|c| Ok(c.query_row("SELECT count(*) FROM photo_uploads", [], |r| r.get(0))?))
                .unwrap();
        assert_eq!(left, 1, "only the complete photo moved over");
    }
}
