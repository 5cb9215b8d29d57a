//! Photos: the [`Photos`] area of a store, and the photo listener.
//!
//! The camera code hands core a file path (`Cases.create_with_photos`, `Cases.add_photo`,
//! `Inspections.answer_with_photos`, the flag's `photo_path`); core checks the file (JPEG,
//! PNG, WebP, HEIC, at most 20 MiB), copies it beside the database under its SHA-256 and
//! records the reference in the same transaction as the action. Syncs upload what the
//! server lacks, in resumable chunks after the documents; [`Photos::fetch`] downloads a
//! photo this phone does not hold, resuming a cut download and checking its hash before the
//! file appears. [`PhotoListener`]s hear both.

use std::sync::Arc;

use outpost_core::store::blobs::{BlobInfo, BlobState};
use outpost_core::sync::blobs::is_blob_hash;
use outpost_core::sync::{self as core_sync};

use crate::error::{OutpostError, Result};
use crate::listener::{ListenerError, Listeners, Subscription};
use crate::runtime::{blocking, spawn};
use crate::store::Shared;

/// Where a photo stands on this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PhotoState {
    /// Taken here, not yet complete on the server: kept until it is.
    Waiting,
    /// Taken here and complete on the server: may be evicted from the cache.
    Uploaded,
    /// Fetched from the server: may be evicted from the cache.
    Cached,
}

impl From<BlobState> for PhotoState {
    fn from(s: BlobState) -> Self {
        match s {
            BlobState::Local => PhotoState::Waiting,
            BlobState::Uploaded => PhotoState::Uploaded,
            BlobState::Cached => PhotoState::Cached,
        }
    }
}

/// A photo this device holds.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PhotoInfo {
    /// SHA-256 of the bytes, lowercase hex: how cases and answers refer to it.
    pub hash: String,
    pub size: i64,
    /// `image/jpeg`, `image/png`, `image/webp`, `image/heic` or `image/heif`.
    pub mime: String,
    pub state: PhotoState,
    /// Bytes the server has acknowledged, for a waiting photo's progress bar.
    pub uploaded_bytes: i64,
}

impl From<BlobInfo> for PhotoInfo {
    fn from(b: BlobInfo) -> Self {
        PhotoInfo {
            hash: b.hash,
            size: i64::try_from(b.size).unwrap_or(i64::MAX),
            mime: b.mime,
            state: b.state.into(),
            uploaded_bytes: i64::try_from(b.uploaded).unwrap_or(i64::MAX),
        }
    }
}

/// Bytes of photos on this device.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PhotoUsage {
    /// Not yet on the server: never evicted.
    pub waiting_bytes: i64,
    /// Uploaded or fetched: kept up to the cache limit, least recently used evicted first.
    pub cached_bytes: i64,
}

/// What a photo listener hears.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum PhotoEvent {
    /// During a sync, after each chunk the server acknowledged. `bytes_sent` counts this
    /// sync's photo bytes so far (re-sent chunks included); `waiting` the photos not yet
    /// complete on the server.
    Uploading { bytes_sent: i64, waiting: i64 },
    /// A download in progress: bytes of this photo received so far by this fetch.
    Fetching { hash: String, bytes_received: i64 },
    /// The photo is on this device, checked against its hash, at `path`.
    Fetched { hash: String, path: String },
    /// The fetch stopped; the bytes received so far are kept for the next try.
    FetchFailed { hash: String, reason: String },
}

/// Implemented in Kotlin or Swift, e.g. for upload badges and download progress. Called on
/// a background thread: keep it short.
#[uniffi::export(foreign)]
pub trait PhotoListener: Send + Sync {
    /// An exception thrown here is caught and ignored.
    fn on_photo(&self, event: PhotoEvent) -> Result<(), ListenerError>;
}

impl Listeners<dyn PhotoListener> {
    pub(crate) fn send(&self, event: PhotoEvent) {
        self.each(|l| {
            let _ignored = l.on_photo(event.clone());
        });
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Core's upload progress as photo events: any sync progress once photo bytes went (core
/// reports them on the sync's progress, after the documents' rounds, chunk by chunk and
/// while a chunk is in flight).
pub(crate) fn upload_progress(shared: &Shared, p: &core_sync::SyncProgress) {
    if p.blob_bytes_sent == 0 || shared.photo_listeners.len() == 0 {
        return;
    }
    // Reported before the finished photo is marked uploaded: it no longer waits.
    let waiting = shared
        .store
        .pending_uploads()
        .map(|w| w.len().saturating_sub(usize::from(!p.more)))
        .unwrap_or(0);
    shared.photo_listeners.send(PhotoEvent::Uploading {
        bytes_sent: count(p.blob_bytes_sent),
        waiting: i64::try_from(waiting).unwrap_or(i64::MAX),
    });
}

/// Passes one fetch's progress to the photo listeners.
struct FetchProgress<'a> {
    listeners: &'a Listeners<dyn PhotoListener>,
    hash: &'a str,
}

impl core_sync::SyncListener for FetchProgress<'_> {
    fn progress(&self, p: &core_sync::SyncProgress) {
        self.listeners.send(PhotoEvent::Fetching {
            hash: self.hash.to_string(),
            bytes_received: count(p.blob_bytes_received),
        });
    }
}

fn path_string(p: std::path::PathBuf) -> String {
    p.to_string_lossy().into_owned()
}

fn checked_hash(hash: &str) -> Result<()> {
    if is_blob_hash(hash) {
        Ok(())
    } else {
        Err(OutpostError::invalid(format!(
            "'{hash}' is not a valid photo reference (expected a SHA-256 hex digest)"
        )))
    }
}

/// Photos on this device and from the server. Get it from `Store.photos()`.
#[derive(uniffi::Object)]
pub struct Photos {
    pub(crate) shared: Arc<Shared>,
}

#[uniffi::export]
impl Photos {
    /// The file of a photo this device holds (marked as recently used), or null if it must
    /// be fetched first.
    pub fn path(&self, hash: String) -> Result<Option<String>> {
        Ok(self.shared.store.photo_path(&hash)?.map(path_string))
    }

    /// The file of photo `hash`, downloaded from the server if this device does not hold it:
    /// resumed where an earlier try stopped, checked against the hash before it appears.
    /// Listeners hear `Fetching` as bytes arrive, then `Fetched` or `FetchFailed`. The
    /// server answers only if a document this member may see references the photo
    /// (`Rejected` otherwise, or while its owner has not uploaded it yet).
    pub async fn fetch(&self, hash: String) -> Result<String> {
        checked_hash(&hash)?;
        let shared = self.shared.clone();
        spawn(async move {
            if let Some(p) = shared.store.photo_path(&hash)? {
                return Ok(path_string(p));
            }
            // One download at a time per store: two would write the same part file.
            let _one = shared.fetching.lock().await;
            let outcome = match shared.enrolled_client() {
                Ok(client) => {
                    let progress = FetchProgress {
                        listeners: &shared.photo_listeners,
                        hash: &hash,
                    };
                    client
                        .fetch_blob(&shared.store, &hash, Some(&progress))
                        .await
                        .map(path_string)
                        .map_err(OutpostError::from)
                }
                Err(e) => Err(e),
            };
            shared.photo_listeners.send(match &outcome {
                Ok(path) => PhotoEvent::Fetched {
                    hash: hash.clone(),
                    path: path.clone(),
                },
                Err(e) => PhotoEvent::FetchFailed {
                    hash: hash.clone(),
                    reason: e.to_string(),
                },
            });
            outcome
        })
        .await
    }

    /// A photo this device holds, or null.
    pub fn info(&self, hash: String) -> Result<Option<PhotoInfo>> {
        Ok(self.shared.store.blob(&hash)?.map(Into::into))
    }

    /// Photos not yet complete on the server, in upload order (life-safety first).
    pub fn waiting(&self) -> Result<Vec<PhotoInfo>> {
        Ok(self
            .shared
            .store
            .pending_uploads()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub fn usage(&self) -> Result<PhotoUsage> {
        let (waiting, cached) = self.shared.store.blob_bytes()?;
        Ok(PhotoUsage {
            waiting_bytes: count(waiting),
            cached_bytes: count(cached),
        })
    }

    /// How many bytes of uploaded and fetched photos to keep (200 MiB unless set); evicts
    /// down to it now, off the caller's thread. Photos not yet uploaded are never evicted.
    pub async fn set_cache_limit(&self, bytes: i64) -> Result<()> {
        let bytes = u64::try_from(bytes).map_err(|_| {
            OutpostError::invalid(format!(
                "the cache limit must not be negative (got {bytes})"
            ))
        })?;
        let shared = self.shared.clone();
        blocking(move || Ok(shared.store.set_blob_cache_limit(bytes)?)).await
    }

    /// Calls `listener` with upload and fetch progress until the returned subscription is
    /// cancelled, closed or collected.
    pub fn subscribe(&self, listener: Arc<dyn PhotoListener>) -> Arc<Subscription> {
        Arc::new(Subscription::photo(&self.shared, listener))
    }

    /// How many photo listeners are registered now.
    pub fn listener_count(&self) -> u32 {
        u32::try_from(self.shared.photo_listeners.len()).unwrap_or(u32::MAX)
    }
}
