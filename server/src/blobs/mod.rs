//! Photos: content-addressed, uploaded in chunks that resume from the offset the server
//! acknowledged, verified against their SHA-256 when the last chunk arrives, served with
//! HTTP ranges. Access follows the documents: a device may upload or fetch a photo only if
//! a document in its scope references it (docs/PROTOCOL.md, "Photos").
//!
//! An upload belongs to the device that started it: uploads are kept per (photo, device),
//! so a device that announces a wrong size or sends wrong bytes spoils only its own upload.
//! The first upload that completes with bytes hashing to the name becomes the photo, which
//! every device that may see it then shares. Uploads left idle expire, and the bytes one
//! device's unfinished uploads hold are capped ([`UploadPolicy`]).
//!
//! The store sits beside the documents' [`crate::storage::Storage`], behind its own trait,
//! in the same database the documents use: [`SqliteBlobStore`] in a file beside theirs,
//! [`PostgresBlobStore`] in their PostgreSQL database, so that several server processes
//! share every upload and every photo. It keeps, besides the bytes, which documents
//! reference which photo and the scope keys of those documents, both refreshed from every
//! accepted push (`note_refs`).

mod http;
mod postgres;
mod sqlite;
mod tx;
pub mod upload;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use outpost_core::sync::blobs::is_blob_hash;
use outpost_core::sync::validate::DocView;
use outpost_core::sync::wire::Ack;

pub use http::routes;
pub use postgres::PostgresBlobStore;
pub use sqlite::SqliteBlobStore;
pub use upload::{Access, ChunkRequest, UploadError, Uploader, apply_chunk};

use crate::api::App;
use crate::error::ApiError;
use crate::scope::doc_keys;
use crate::storage::{Scope, StoreResult};

/// Largest piece [`BlobStore::read`] returns in one call: downloads are streamed in pieces
/// of this size, so a 20 MiB photo never sits whole in the server's memory.
pub const READ_PIECE: u64 = 1 << 20;

/// How long an unfinished upload may stay idle, and how many bytes one device's unfinished
/// uploads may hold, before the server drops them or refuses more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadPolicy {
    /// An upload untouched for this long is dropped (milliseconds).
    pub idle_ms: i64,
    /// Bytes all unfinished uploads of one device may hold together.
    pub quota_bytes: u64,
}

impl Default for UploadPolicy {
    fn default() -> Self {
        UploadPolicy {
            idle_ms: 24 * 3600 * 1000,
            quota_bytes: 64 << 20,
        }
    }
}

impl UploadPolicy {
    /// Uploads last touched before this instant have expired at `now`.
    pub fn expired_before(&self, now: i64) -> i64 {
        now.saturating_sub(self.idle_ms)
    }
}

/// A complete, verified photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    pub size: u64,
    /// Sniffed from its first bytes.
    pub mime: String,
}

/// An unfinished upload of one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadState {
    /// The size the device announced.
    pub size: u64,
    /// Bytes stored so far: the offset the next chunk must start at.
    pub received: u64,
}

/// One chunk to store, already checked against the protocol's limits ([`ChunkRequest`]).
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    /// The photo's name: the SHA-256 its bytes must hash to.
    pub hash: &'a str,
    pub offset: u64,
    /// The whole photo's announced size.
    pub size: u64,
    /// The type sniffed from the first chunk (`""` on later ones).
    pub mime: &'a str,
    pub bytes: &'a [u8],
}

/// The outcome of storing one chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Append {
    /// Stored; `complete` once the photo is whole and verified (or was complete already and
    /// the device may share it: nothing written).
    Stored { received: u64, complete: bool },
    /// The chunk does not start where this device's stored bytes end.
    OffsetMismatch { received: u64 },
    /// This device's upload announced another size (it may restart at offset 0).
    SizeMismatch { size: u64 },
    /// The last chunk arrived and the bytes do not hash to the name: all were discarded.
    HashMismatch,
    /// Storing the chunk would take the device's unfinished uploads past the quota.
    OverQuota { in_flight: u64, quota: u64 },
}

/// Where photos live. Methods are blocking; handlers call them on tokio's blocking pool.
///
/// A backend must: append a chunk and move the upload's offset in one durable transaction
/// (an acknowledged offset survives a power cut); keep uploads apart per (photo, device);
/// verify the SHA-256 of the whole photo in the transaction that marks it complete, reading
/// the chunks in bounded pieces, and discard the upload on a mismatch; let the first
/// verified upload become the photo and drop later ones; serve only complete photos;
/// compute every offset with checked arithmetic; enforce the [`UploadPolicy`] it was opened
/// with. `tests/src/photo_contract.rs` checks all of this on every backend.
pub trait BlobStore: Send + Sync + 'static {
    /// The policy this store enforces.
    fn policy(&self) -> UploadPolicy;
    /// A complete photo.
    fn photo(&self, hash: &str) -> StoreResult<Option<Photo>>;
    /// The unfinished upload of `hash` by `device` (none once it expired at `now`).
    fn upload(&self, hash: &str, device: &str, now: i64) -> StoreResult<Option<UploadState>>;
    /// Bytes the unfinished uploads of `device` hold at `now`.
    fn in_flight(&self, device: &str, now: i64) -> StoreResult<u64>;
    /// Stores `chunk` in the upload of `device`. With `share`, a photo that is complete
    /// already answers complete and nothing is stored (the device may see it); without, the
    /// device uploads every byte itself (a proof of a claim).
    fn append(&self, device: &str, chunk: &Chunk<'_>, share: bool, now: i64)
    -> StoreResult<Append>;
    /// Bytes `start..end` of a complete photo, at most [`READ_PIECE`] of them.
    fn read(&self, hash: &str, start: u64, end: u64) -> StoreResult<Vec<u8>>;
    /// Drops every unfinished upload idle since before the policy allows; returns how many.
    fn sweep(&self, now: i64) -> StoreResult<u64>;
    /// Records, in one transaction, that each document (id, photo hashes, scope keys)
    /// references those photos and now carries those keys, as pushed by a device seeing
    /// `pusher`. A new reference to a photo the server already has (or is receiving), by
    /// someone who cannot see it, is a mere claim until its bytes are uploaded again:
    /// knowing a hash must not open a photo.
    fn set_refs(&self, docs: &[DocRefs], pusher: &Scope) -> StoreResult<()>;
    /// Whether a document visible in `scope` references `hash` (claims do not count).
    fn visible(&self, hash: &str, scope: &Scope) -> StoreResult<bool>;
    /// Whether a document visible in `scope` claims `hash`.
    fn claimed(&self, hash: &str, scope: &Scope) -> StoreResult<bool>;
    /// The claims on `hash` in `scope` were proven by their bytes.
    fn prove(&self, hash: &str, scope: &Scope) -> StoreResult<()>;
}

/// `offset + len`, or `None` past `u64::MAX`.
pub(crate) fn end_of(offset: u64, len: usize) -> Option<u64> {
    offset.checked_add(u64::try_from(len).ok()?)
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
        let ok: HashSet<&str> = acks
            .iter()
            .filter(|a| a.ok)
            .map(|a| a.id.as_str())
            .collect();
        let stored: Vec<DocRefs> = docs
            .into_iter()
            .filter(|(id, _, _)| ok.contains(id.as_str()))
            .collect();
        if stored.is_empty() {
            return Ok(());
        }
        // One transaction (one commit) for the whole push.
        on_pool(store, move |s| s.set_refs(&stored, &pusher)).await
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

/// Drops expired uploads every `every` for as long as the runtime runs (each device's own
/// expired uploads also go whenever it uploads, so the quota never counts them).
pub fn spawn_sweeper(store: Arc<dyn BlobStore>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let s = store.clone();
            match tokio::task::spawn_blocking(move || s.sweep(crate::api::now_ms())).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(uploads = n, "expired photo uploads dropped"),
                Ok(Err(e)) => tracing::warn!(error = %e, "sweeping expired photo uploads"),
                Err(e) => tracing::warn!(error = %e, "photo upload sweeper"),
            }
        }
    })
}

/// The photo store beside the documents: in the PostgreSQL database at `database`, or in
/// `outpost-blobs.db` in `data_dir`.
pub fn open_blob_store(
    data_dir: &std::path::Path,
    database: Option<&str>,
    policy: UploadPolicy,
) -> StoreResult<Arc<dyn BlobStore>> {
    Ok(match database {
        Some(url) => Arc::new(PostgresBlobStore::open_with(url, policy)?),
        None => Arc::new(SqliteBlobStore::open_with(
            data_dir.join("outpost-blobs.db"),
            policy,
        )?),
    })
}
