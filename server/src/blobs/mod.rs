//! Photos: content-addressed, uploaded in chunks that resume from the offset the server
//! acknowledged, verified against their SHA-256 when the last chunk arrives, served with
//! HTTP ranges. Access follows the documents: a device may upload or fetch a photo only if
//! a document in its scope references it (docs/PROTOCOL.md, "Photos").
//!
//! The blob store sits beside the documents' [`crate::storage::Storage`], behind its own
//! trait. It keeps, besides the bytes, which documents reference which photo and the scope
//! keys of those documents, both refreshed from every accepted push (`note_refs`).

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::header::{ACCEPT_RANGES, CACHE_CONTROL, CONTENT_RANGE, CONTENT_TYPE, ETAG, RANGE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use outpost_core::sync::blobs::{
    BlobStatus, CHUNK_SHA256, MAX_BLOB_BYTES, MAX_CHUNK_BYTES, is_blob_hash, sniff_mime,
};
use outpost_core::sync::validate::DocView;
use outpost_core::sync::wire::Ack;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::api::{App, Caller};
use crate::error::ApiError;
use crate::scope::{doc_keys, member_scope};
use crate::storage::{Scope, StoreError, StoreResult};

/// What the server holds of one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    /// The size the uploader announced (the whole blob's).
    pub size: u64,
    pub received: u64,
    pub complete: bool,
    pub mime: String,
}

/// The outcome of storing one chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Append {
    /// Stored (or the blob was already complete: nothing written).
    Stored(BlobMeta),
    /// The chunk does not start where the stored bytes end.
    OffsetMismatch { received: u64 },
    /// Another upload of this hash announced another size.
    SizeMismatch { size: u64 },
    /// The last chunk arrived and the bytes do not hash to the name: all were discarded.
    HashMismatch,
}

/// Where photos live. Methods are blocking; handlers call them on tokio's blocking pool.
///
/// A backend must: append a chunk and move the received offset in one transaction (an
/// acknowledged offset is durable); verify the SHA-256 of the whole blob in the
/// transaction that marks it complete, and discard it on a mismatch; serve only complete
/// blobs.
pub trait BlobStore: Send + Sync + 'static {
    fn meta(&self, hash: &str) -> StoreResult<Option<BlobMeta>>;
    /// Stores `bytes` at `offset` of the upload `key` of `size` bytes, which must hash to
    /// `hash` (`key` is the hash itself, or a proof upload's key); `mime` names a new one.
    #[allow(clippy::too_many_arguments)]
    fn append(
        &self,
        key: &str,
        hash: &str,
        offset: u64,
        size: u64,
        mime: &str,
        bytes: &[u8],
        now: i64,
    ) -> StoreResult<Append>;
    /// Bytes `start..end` of a complete blob.
    fn read(&self, hash: &str, start: u64, end: u64) -> StoreResult<Vec<u8>>;
    /// Drops an upload (a finished proof).
    fn delete(&self, key: &str) -> StoreResult<()>;
    /// Records that document `doc_id` references `hashes` and now carries scope `keys`, as
    /// pushed by a device seeing `pusher`. A new reference to a photo the server already
    /// has, by someone who cannot see it, is a mere claim until its bytes are uploaded
    /// again: knowing a hash must not open a photo.
    fn set_refs(
        &self,
        doc_id: &str,
        hashes: &[String],
        keys: &[String],
        pusher: &Scope,
    ) -> StoreResult<()>;
    /// Whether a document visible in `scope` references `hash` (claims do not count).
    fn visible(&self, hash: &str, scope: &Scope) -> StoreResult<bool>;
    /// Whether a document visible in `scope` claims `hash`.
    fn claimed(&self, hash: &str, scope: &Scope) -> StoreResult<bool>;
    /// The claims on `hash` in `scope` were proven by their bytes.
    fn prove(&self, hash: &str, scope: &Scope) -> StoreResult<()>;
}

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
];

/// Blobs in their own SQLite file beside the documents' (`outpost-blobs.db`).
pub struct SqliteBlobStore {
    conn: Mutex<Connection>,
}

impl SqliteBlobStore {
    pub fn open(path: impl AsRef<Path>) -> StoreResult<SqliteBlobStore> {
        let conn = Connection::open(path.as_ref())?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))?;
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
        )?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > MIGRATIONS.len() as i64 {
            return Err(StoreError::Invalid(format!(
                "{} was written by a newer server (schema {version})",
                path.as_ref().display()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(sql)?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
            tx.commit()?;
        }
        Ok(SqliteBlobStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic mid-transaction rolled it back; the connection is fine.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn meta_of(c: &Connection, hash: &str) -> StoreResult<Option<BlobMeta>> {
    Ok(
        c.prepare_cached("SELECT size, received, complete, mime FROM blobs WHERE hash = ?1")?
            .query_row([hash], |r| {
                Ok(BlobMeta {
                    size: r.get::<_, i64>(0)? as u64,
                    received: r.get::<_, i64>(1)? as u64,
                    complete: r.get(2)?,
                    mime: r.get(3)?,
                })
            })
            .optional()?,
    )
}

impl BlobStore for SqliteBlobStore {
    fn meta(&self, hash: &str) -> StoreResult<Option<BlobMeta>> {
        meta_of(&self.conn(), hash)
    }

    fn append(
        &self,
        key: &str,
        hash: &str,
        offset: u64,
        size: u64,
        mime: &str,
        bytes: &[u8],
        now: i64,
    ) -> StoreResult<Append> {
        let mut conn = self.conn();
        // A chunk's offset lost in a power cut only sends the client back to an earlier
        // offset (it asks again on a 409): chunks commit without fsync. The chunk that
        // completes a blob is fsynced, since the device may then evict its copy.
        let last = offset + bytes.len() as u64 == size;
        conn.pragma_update(None, "synchronous", if last { "FULL" } else { "NORMAL" })?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let meta = match meta_of(&tx, key)? {
            Some(m) if m.complete => return Ok(Append::Stored(m)),
            Some(m) if m.size != size => return Ok(Append::SizeMismatch { size: m.size }),
            Some(m) => m,
            None => {
                if offset != 0 {
                    return Ok(Append::OffsetMismatch { received: 0 });
                }
                tx.execute(
                    "INSERT INTO blobs(hash, size, received, complete, mime, created_at)
                     VALUES (?1, ?2, 0, 0, ?3, ?4)",
                    params![key, size as i64, mime, now],
                )?;
                BlobMeta {
                    size,
                    received: 0,
                    complete: false,
                    mime: mime.to_string(),
                }
            }
        };
        if offset != meta.received {
            return Ok(Append::OffsetMismatch {
                received: meta.received,
            });
        }
        let received = offset + bytes.len() as u64;
        tx.execute(
            "INSERT INTO blob_chunks(hash, offset, bytes) VALUES (?1, ?2, ?3)",
            params![key, offset as i64, bytes],
        )?;
        let complete = received == size;
        if complete {
            let mut hasher = Sha256::new();
            {
                let mut stmt =
                    tx.prepare("SELECT bytes FROM blob_chunks WHERE hash = ?1 ORDER BY offset")?;
                let mut rows = stmt.query([key])?;
                while let Some(r) = rows.next()? {
                    hasher.update(r.get_ref(0)?.as_blob().map_err(corrupt)?);
                }
            }
            if hex::encode(hasher.finalize()) != hash {
                tx.execute("DELETE FROM blobs WHERE hash = ?1", [key])?;
                tx.commit()?;
                return Ok(Append::HashMismatch);
            }
        }
        tx.execute(
            "UPDATE blobs SET received = ?2, complete = ?3 WHERE hash = ?1",
            params![key, received as i64, complete],
        )?;
        tx.commit()?;
        Ok(Append::Stored(BlobMeta {
            received,
            complete,
            ..meta
        }))
    }

    fn read(&self, hash: &str, start: u64, end: u64) -> StoreResult<Vec<u8>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT c.offset, c.bytes FROM blob_chunks c JOIN blobs b ON b.hash = c.hash
             WHERE c.hash = ?1 AND b.complete = 1
               AND c.offset < ?3 AND c.offset + length(c.bytes) > ?2
             ORDER BY c.offset",
        )?;
        let mut rows = stmt.query(params![hash, start as i64, end as i64])?;
        let mut out = Vec::with_capacity((end - start) as usize);
        while let Some(r) = rows.next()? {
            let at = r.get::<_, i64>(0)? as u64;
            let bytes = r.get_ref(1)?.as_blob().map_err(corrupt)?;
            let from = start.saturating_sub(at) as usize;
            let to = ((end - at) as usize).min(bytes.len());
            if at + from as u64 != start + out.len() as u64 {
                return Err(StoreError::Corrupt(format!("blob {hash} has a gap")));
            }
            out.extend_from_slice(&bytes[from..to]);
        }
        if out.len() as u64 != end - start {
            return Err(StoreError::Corrupt(format!("blob {hash} is short")));
        }
        Ok(out)
    }

    fn delete(&self, key: &str) -> StoreResult<()> {
        self.conn()
            .execute("DELETE FROM blobs WHERE hash = ?1", [key])?;
        Ok(())
    }

    fn set_refs(
        &self,
        doc_id: &str,
        hashes: &[String],
        keys: &[String],
        pusher: &Scope,
    ) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for h in hashes {
            let known: bool = tx
                .prepare_cached(
                    "SELECT EXISTS(SELECT 1 FROM blob_refs WHERE hash = ?1 AND doc_id = ?2)",
                )?
                .query_row([h, doc_id], |r| r.get(0))?;
            if known {
                continue;
            }
            // The first reference comes before the upload (documents go first); a later
            // one by someone who can see the photo already is as good.
            let exists: bool = tx
                .prepare_cached("SELECT EXISTS(SELECT 1 FROM blobs WHERE hash = ?1)")?
                .query_row([h], |r| r.get(0))?;
            let proven = !exists || visible_in(&tx, h, pusher)?;
            tx.prepare_cached("INSERT INTO blob_refs(hash, doc_id, proven) VALUES (?1, ?2, ?3)")?
                .execute(params![h, doc_id, proven])?;
        }
        tx.prepare_cached("DELETE FROM blob_doc_keys WHERE doc_id = ?1")?
            .execute([doc_id])?;
        for k in keys {
            tx.prepare_cached("INSERT OR IGNORE INTO blob_doc_keys(doc_id, key) VALUES (?1, ?2)")?
                .execute([doc_id, k])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn visible(&self, hash: &str, scope: &Scope) -> StoreResult<bool> {
        visible_in(&self.conn(), hash, scope)
    }

    fn claimed(&self, hash: &str, scope: &Scope) -> StoreResult<bool> {
        refs_in(&self.conn(), hash, scope, 0)
    }

    fn prove(&self, hash: &str, scope: &Scope) -> StoreResult<()> {
        let conn = self.conn();
        match scope {
            Scope::All => {
                conn.execute("UPDATE blob_refs SET proven = 1 WHERE hash = ?1", [hash])?;
            }
            Scope::Keys(keys) => {
                let mut stmt = conn.prepare_cached(
                    "UPDATE blob_refs SET proven = 1 WHERE hash = ?1 AND doc_id IN
                       (SELECT doc_id FROM blob_doc_keys WHERE key = ?2)",
                )?;
                for k in keys {
                    stmt.execute([hash, k])?;
                }
            }
        }
        Ok(())
    }
}

fn visible_in(c: &Connection, hash: &str, scope: &Scope) -> StoreResult<bool> {
    refs_in(c, hash, scope, 1)
}

/// Whether a document in `scope` references `hash` with this `proven` flag.
fn refs_in(c: &Connection, hash: &str, scope: &Scope, proven: i64) -> StoreResult<bool> {
    match scope {
        Scope::All => Ok(c
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM blob_refs WHERE hash = ?1 AND proven = ?2)",
            )?
            .query_row(params![hash, proven], |r| r.get(0))?),
        Scope::Keys(keys) => {
            let mut stmt = c.prepare_cached(
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

fn corrupt(e: rusqlite::types::FromSqlError) -> StoreError {
    StoreError::Corrupt(format!("blob chunk: {e}"))
}

/// The photos a document references: a case's attachments, every answer's photos.
pub fn photo_refs(view: &DocView) -> Vec<String> {
    let mut out: Vec<String> = match view {
        DocView::Case(c) => c.attachments.clone(),
        DocView::Inspection(i) => i
            .answers
            .iter()
            .flat_map(|a| a.answers.iter().flat_map(|x| x.photos.iter().cloned()))
            .collect(),
    };
    out.retain(|h| is_blob_hash(h));
    out.sort();
    out.dedup();
    out
}

/// Photo references and scope keys of the documents a push accepted, gathered while the
/// push is judged and recorded once it is stored.
pub struct RefNotes {
    pusher: Scope,
    docs: Mutex<Vec<DocRefs>>,
}

/// A document id, the photos it references and its scope keys.
pub type DocRefs = (String, Vec<String>, Vec<String>);

impl RefNotes {
    /// Notes for a push by a device that sees `pusher`.
    pub fn new(pusher: Scope) -> RefNotes {
        RefNotes {
            pusher,
            docs: Mutex::new(Vec::new()),
        }
    }

    pub fn note(&self, id: &str, view: &DocView) {
        let entry = (id.to_string(), photo_refs(view), doc_keys(view));
        self.docs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(entry);
    }

    fn into_parts(self) -> (Scope, Vec<DocRefs>) {
        let docs = self.docs.into_inner().unwrap_or_else(|p| p.into_inner());
        (self.pusher, docs)
    }
}

impl App {
    /// Sets where photos live; without one the photo endpoints answer 503.
    pub fn set_blob_store(&self, blobs: Arc<dyn BlobStore>) {
        let _ = self.blobs.set(blobs);
    }

    fn blob_store(&self) -> Result<Arc<dyn BlobStore>, ApiError> {
        self.blobs.get().cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "this server stores no photos",
            )
        })
    }

    /// Records the photo references of the documents a push stored, before the reply goes
    /// out: a lost reply makes the device push again, which records them again.
    pub(crate) async fn note_refs(&self, acks: &[Ack], notes: RefNotes) -> Result<(), ApiError> {
        let Some(store) = self.blobs.get().cloned() else {
            return Ok(());
        };
        let (pusher, docs) = notes.into_parts();
        let stored: Vec<_> = docs
            .into_iter()
            .filter(|(id, _, _)| acks.iter().any(|a| a.ok && &a.id == id))
            .collect();
        if stored.is_empty() {
            return Ok(());
        }
        on_pool(store, move |s| {
            for (id, hashes, keys) in &stored {
                s.set_refs(id, hashes, keys, &pusher)?;
            }
            Ok(())
        })
        .await
    }
}

async fn on_pool<R: Send + 'static>(
    store: Arc<dyn BlobStore>,
    f: impl FnOnce(&dyn BlobStore) -> StoreResult<R> + Send + 'static,
) -> Result<R, ApiError> {
    tokio::task::spawn_blocking(move || f(&*store))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/blobs/{hash}", get(download).put(upload))
        .route("/v1/blobs/{hash}/status", get(status))
}

/// How a caller may reach a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// A document in its scope references the photo.
    Visible,
    /// A document in its scope claims it: the caller may upload the bytes as proof.
    Claimed,
}

/// The caller may touch `hash` only through a document in its scope. A photo outside it
/// gets the same answer whether it exists or not.
async fn authorize(
    app: &App,
    caller: &Caller,
    hash: &str,
) -> Result<(Arc<dyn BlobStore>, Access, Scope), ApiError> {
    if !is_blob_hash(hash) {
        return Err(ApiError::bad_request(
            "bad_hash",
            "a photo is named by its SHA-256 in lowercase hex",
        ));
    }
    let store = app.blob_store()?;
    let scope = member_scope(&caller.member);
    let (h, sc) = (hash.to_string(), scope.clone());
    let access = on_pool(store.clone(), move |s| {
        Ok(if s.visible(&h, &sc)? {
            Some(Access::Visible)
        } else if s.claimed(&h, &sc)? {
            Some(Access::Claimed)
        } else {
            None
        })
    })
    .await?
    .ok_or_else(|| ApiError::forbidden("no document you may see references this photo"))?;
    Ok((store, access, scope))
}

/// Where a claimant's proof upload collects.
fn proof_key(hash: &str, caller: &Caller) -> String {
    format!("{hash}.proof.{}", caller.device.id)
}

async fn status(
    State(app): State<Arc<App>>,
    caller: Caller,
    UrlPath(hash): UrlPath<String>,
) -> Result<Json<BlobStatus>, ApiError> {
    let (store, access, _) = authorize(&app, &caller, &hash).await?;
    let key = match access {
        Access::Visible => hash,
        Access::Claimed => proof_key(&hash, &caller),
    };
    let meta = on_pool(store, move |s| s.meta(&key)).await?;
    Ok(Json(match meta {
        Some(m) => BlobStatus {
            offset: m.received,
            complete: m.complete,
        },
        None => BlobStatus::default(),
    }))
}

#[derive(Debug, Deserialize)]
struct ChunkQuery {
    offset: u64,
    size: u64,
}

async fn upload(
    State(app): State<Arc<App>>,
    caller: Caller,
    UrlPath(hash): UrlPath<String>,
    Query(q): Query<ChunkQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BlobStatus>, ApiError> {
    let body = body?;
    if q.size > MAX_BLOB_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("a photo may have at most {MAX_BLOB_BYTES} bytes"),
        ));
    }
    if body.len() > MAX_CHUNK_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("a chunk may have at most {MAX_CHUNK_BYTES} bytes"),
        ));
    }
    if body.is_empty() || q.offset + body.len() as u64 > q.size {
        return Err(ApiError::bad_request(
            "bad_range",
            "the chunk must be non-empty and end within the announced size",
        ));
    }
    if let Some(want) = headers.get(CHUNK_SHA256) {
        let got = hex::encode(Sha256::digest(&body));
        if !want.as_bytes().eq_ignore_ascii_case(got.as_bytes()) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "chunk_mismatch",
                "the chunk does not match its x-chunk-sha256; it was not stored",
            ));
        }
    }
    let (store, access, scope) = authorize(&app, &caller, &hash).await?;
    let key = match access {
        Access::Visible => hash.clone(),
        Access::Claimed => proof_key(&hash, &caller),
    };
    // The type comes from the first bytes, whatever the name or headers say.
    let mime = if q.offset == 0 {
        sniff_mime(&body).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_type",
                "photos must be JPEG, PNG, WebP or HEIC",
            )
        })?
    } else {
        ""
    };
    let (offset, size) = (q.offset, q.size);
    let h = hash.clone();
    let outcome = on_pool(store, move |s| {
        let out = s.append(&key, &h, offset, size, mime, &body, crate::api::now_ms())?;
        if access == Access::Claimed
            && let Append::Stored(m) = &out
            && m.complete
        {
            // The claimant has the bytes: its documents now open the photo. The real copy
            // is stored already or arrives from its first uploader.
            s.prove(&h, &scope)?;
            s.delete(&key)?;
        }
        Ok(out)
    })
    .await?;
    match outcome {
        Append::Stored(m) => Ok(Json(BlobStatus {
            offset: m.received,
            complete: m.complete,
        })),
        Append::OffsetMismatch { received } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "offset_mismatch",
            format!("the server holds {received} bytes of this photo; continue from there"),
        )),
        Append::SizeMismatch { size } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "size_mismatch",
            format!("this photo is being uploaded with size {size}"),
        )),
        Append::HashMismatch => {
            tracing::warn!(device = %caller.device.id, %hash, "uploaded photo does not match its hash");
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "hash_mismatch",
                "the uploaded bytes do not hash to the photo's name; they were discarded",
            ))
        }
    }
}

/// `bytes=N-` or `bytes=N-M` (one range). `None`: no usable range, serve it all.
fn parse_range(v: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let start: u64 = a.trim().parse().ok()?;
    let end = match b.trim() {
        "" => size,
        e => e.parse::<u64>().ok()?.saturating_add(1).min(size),
    };
    if start >= size || start >= end {
        return Some(Err(()));
    }
    Some(Ok((start, end)))
}

async fn download(
    State(app): State<Arc<App>>,
    caller: Caller,
    UrlPath(hash): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (store, access, _) = authorize(&app, &caller, &hash).await?;
    if access != Access::Visible {
        return Err(ApiError::forbidden(
            "no document you may see references this photo",
        ));
    }
    let h = hash.clone();
    let meta = on_pool(store.clone(), move |s| s.meta(&h))
        .await?
        .filter(|m| m.complete)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "this photo has not been uploaded yet",
            )
        })?;
    let range = headers
        .get(RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_range(v, meta.size));
    let (start, end, partial) = match range {
        None => (0, meta.size, false),
        Some(Ok((s, e))) => (s, e, true),
        Some(Err(())) => {
            let mut resp = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "bad_range",
                format!("the photo has {} bytes", meta.size),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", meta.size)) {
                resp.headers_mut().insert(CONTENT_RANGE, v);
            }
            return Ok(resp);
        }
    };
    let h = hash.clone();
    let bytes = on_pool(store, move |s| s.read(&h, start, end)).await?;
    let mut resp = bytes.into_response();
    let hdrs = resp.headers_mut();
    let mime = HeaderValue::from_str(&meta.mime)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    hdrs.insert(CONTENT_TYPE, mime);
    hdrs.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    hdrs.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{hash}\"")) {
        hdrs.insert(ETAG, v);
    }
    if partial {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{}", end - 1, meta.size)) {
            resp.headers_mut().insert(CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    #[test]
    fn chunks_resume_verify_and_deduplicate() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteBlobStore::open(dir.path().join("b.db")).unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let h = hash(&data);
        let size = data.len() as u64;
        assert_eq!(
            s.append(&h, &h, 100, size, "image/jpeg", &data[100..200], 0)
                .unwrap(),
            Append::OffsetMismatch { received: 0 }
        );
        assert!(matches!(
            s.append(&h, &h, 0, size, "image/jpeg", &data[..4000], 0)
                .unwrap(),
            Append::Stored(BlobMeta {
                received: 4000,
                complete: false,
                ..
            })
        ));
        // A repeated chunk (its reply was lost) is refused with where to continue.
        assert_eq!(
            s.append(&h, &h, 0, size, "image/jpeg", &data[..4000], 0)
                .unwrap(),
            Append::OffsetMismatch { received: 4000 }
        );
        assert!(
            s.read(&h, 0, 10).is_err(),
            "incomplete blobs are not served"
        );
        assert!(matches!(
            s.append(&h, &h, 4000, size, "", &data[4000..], 0).unwrap(),
            Append::Stored(BlobMeta { complete: true, .. })
        ));
        assert_eq!(s.read(&h, 0, size).unwrap(), data);
        assert_eq!(s.read(&h, 3990, 4010).unwrap(), &data[3990..4010]);
        // Uploading it again stores nothing.
        assert!(matches!(
            s.append(&h, &h, 0, size, "image/jpeg", &data[..10], 0)
                .unwrap(),
            Append::Stored(BlobMeta { complete: true, .. })
        ));
    }

    #[test]
    fn bytes_that_do_not_match_their_name_are_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteBlobStore::open(dir.path().join("b.db")).unwrap();
        let data = vec![1u8; 3000];
        let h = hash(&data);
        let mut bad = data.clone();
        bad[2500] ^= 0x40;
        s.append(&h, &h, 0, 3000, "image/jpeg", &bad[..2000], 0)
            .unwrap();
        assert_eq!(
            s.append(&h, &h, 2000, 3000, "", &bad[2000..], 0).unwrap(),
            Append::HashMismatch
        );
        assert_eq!(s.meta(&h).unwrap(), None);
        assert!(s.read(&h, 0, 3000).is_err());
    }

    #[test]
    fn ranges_parse_like_http_says() {
        assert_eq!(parse_range("bytes=10-", 100), Some(Ok((10, 100))));
        assert_eq!(parse_range("bytes=10-19", 100), Some(Ok((10, 20))));
        assert_eq!(parse_range("bytes=10-1000", 100), Some(Ok((10, 100))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
