//! Photos on the wire (docs/PROTOCOL.md, "Photos"): content-addressed, chunked, resumable
//! uploads after the documents, life-safety first; downloads on demand with HTTP ranges into
//! a `.part` file that becomes visible only once its SHA-256 matches.
//!
//! - `GET /v1/blobs/{hash}/status` → [`BlobStatus`]: how many bytes the server holds.
//! - `PUT /v1/blobs/{hash}?offset=O&size=S` with one chunk as the body and its SHA-256 in
//!   `x-chunk-sha256` → [`BlobStatus`]. The server verifies the whole hash on the last chunk.
//! - `GET /v1/blobs/{hash}` with an optional `Range: bytes=N-` → the bytes (200 or 206).
//!
//! Within a sync, chunks are sized to the link like the documents' round trips; every
//! request runs under the same progress watchdog.

use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::RangeBounds;
use std::path::PathBuf;
use std::time::Instant;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::client::{SyncClient, SyncError, SyncListener, token_of};
use super::http::{Watch, backoff, classify, status_error, too_much};
use super::pace::Pace;
use crate::error::Error;
use crate::photo::hash_file;
pub use crate::photo::{MAX_BLOB_BYTES, is_blob_hash, sha256_hex, sniff_mime};
use crate::store::Store;
use crate::store::blobs::BlobInfo;

/// Largest chunk the server takes in one request.
pub const MAX_CHUNK_BYTES: usize = 1 << 20;
/// Largest chunk the client uploads with: small enough that a cut on 2G costs little. On a
/// slower link chunks are sized down to what a round trip moves in a few seconds.
pub const DEFAULT_CHUNK_BYTES: usize = 64 << 10;
/// Smallest chunk when chunks are sized to the link (bad 2G: about 2 s).
const MIN_LINK_CHUNK: usize = 8 << 10;
/// Header carrying the chunk's SHA-256, hex.
pub const CHUNK_SHA256: &str = "x-chunk-sha256";

/// What the server holds of a blob.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobStatus {
    /// Bytes received so far (the whole size once complete).
    pub offset: u64,
    /// Verified and stored: the upload is done.
    pub complete: bool,
}

/// Photos moved by one upload pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlobUploadReport {
    /// Photos now complete on the server.
    pub uploaded: usize,
    /// Chunk bytes sent, re-sent ones included.
    pub bytes_sent: u64,
    /// Photos that could not go and why (refused by the server, damaged on the device);
    /// they stay on the device and are tried again next time.
    pub failed: Vec<(String, String)>,
}

impl SyncClient {
    /// Uploads every photo the server does not have yet, life-safety first, in chunks of
    /// `chunk` bytes, each resumed from the offset the server acknowledged. Call after the
    /// documents are synced: the server takes only photos a document it holds references.
    pub async fn upload_blobs(
        &self,
        store: &Store,
        chunk: usize,
        listener: Option<&dyn SyncListener>,
    ) -> Result<BlobUploadReport, SyncError> {
        let w = Watch::new(listener);
        let mut pace = Pace::new(self.cfg.round_target);
        let mut out = BlobUploadReport::default();
        self.upload_pending(store, &w, &mut pace, Some(chunk), &.., &mut out)
            .await?;
        Ok(out)
    }

    /// Uploads the waiting photos whose priority is in `priorities`, in chunks of `chunk`
    /// bytes or, for `None`, sized to the link. A photo the server refuses, or one damaged
    /// on the device, is listed in `out` and the others go; a failing link ends the pass.
    pub(super) async fn upload_pending(
        &self,
        store: &Store,
        w: &Watch<'_>,
        pace: &mut Pace,
        chunk: Option<usize>,
        priorities: &impl RangeBounds<i64>,
        out: &mut BlobUploadReport,
    ) -> Result<(), SyncError> {
        let pending: Vec<BlobInfo> = store
            .pending_uploads()?
            .into_iter()
            .filter(|b| priorities.contains(&b.priority))
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let token = token_of(store)?;
        for blob in pending {
            match self
                .upload_one(store, w, pace, &token, &blob, chunk, out)
                .await
            {
                Ok(()) => out.uploaded += 1,
                // Refused or damaged: this photo waits, the others go.
                Err(SyncError::Rejected { message, .. }) => out.failed.push((blob.hash, message)),
                Err(SyncError::Store(m)) => out.failed.push((blob.hash, m)),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn upload_one(
        &self,
        store: &Store,
        w: &Watch<'_>,
        pace: &mut Pace,
        token: &str,
        blob: &BlobInfo,
        chunk: Option<usize>,
        out: &mut BlobUploadReport,
    ) -> Result<(), SyncError> {
        let path = store.blob_file(&blob.hash);
        let (actual, size, _) = hash_file(&path)
            .map_err(|e| SyncError::Store(format!("photo {} cannot be read: {e}", blob.hash)))?;
        if actual != blob.hash || size != blob.size {
            return Err(SyncError::Store(format!(
                "photo {} is damaged on this device",
                blob.hash
            )));
        }
        let url = format!("{}/v1/blobs/{}", self.cfg.server_url, blob.hash);
        let mut file = std::fs::File::open(&path).map_err(Error::from)?;
        let mut failures = 0u32;
        'resume: loop {
            let status = self.blob_status(w, &url, token).await?;
            if status.complete {
                store.mark_uploaded(&blob.hash)?;
                return Ok(());
            }
            let mut offset = status.offset.min(size);
            store.set_upload_offset(&blob.hash, offset)?;
            loop {
                let piece = chunk
                    .map(|c| c.clamp(1024, MAX_CHUNK_BYTES))
                    .unwrap_or_else(|| {
                        pace.chunk_bytes()
                            .clamp(MIN_LINK_CHUNK, DEFAULT_CHUNK_BYTES)
                    });
                let n = ((size - offset) as usize).min(piece);
                let mut body = vec![0u8; n];
                file.seek(SeekFrom::Start(offset)).map_err(Error::from)?;
                file.read_exact(&mut body).map_err(Error::from)?;
                let digest = hex::encode(Sha256::digest(&body));
                out.bytes_sent += n as u64;
                let req = self
                    .http
                    .put(format!("{url}?offset={offset}&size={size}"))
                    .header(AUTHORIZATION, format!("Bearer {token}"))
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CHUNK_SHA256, digest);
                let began = Instant::now();
                let reply = self.call_as(w, true, req, Some(body)).await;
                match reply {
                    Ok((bytes, _)) => {
                        pace.round_trip((n + bytes.len()) as u64, began.elapsed());
                        let s: BlobStatus = serde_json::from_slice(&bytes)
                            .map_err(|e| SyncError::Protocol(e.to_string()))?;
                        failures = 0;
                        w.photo_bytes(n as u64, 0, !s.complete);
                        if s.complete {
                            store.mark_uploaded(&blob.hash)?;
                            return Ok(());
                        }
                        if s.offset <= offset || s.offset > size {
                            return Err(SyncError::Protocol(format!(
                                "the server acknowledged offset {} after {offset}",
                                s.offset
                            )));
                        }
                        offset = s.offset;
                        store.set_upload_offset(&blob.hash, offset)?;
                    }
                    // Someone else (an earlier attempt whose reply was lost) moved the
                    // offset: ask where it stands.
                    Err(SyncError::Rejected { status: 409, .. }) => continue 'resume,
                    // A chunk damaged on the way was refused (or, without its digest, the
                    // whole upload discarded): send again from where the server stands.
                    Err(e)
                        if self.may_retry(w, &e, failures)
                            || (damaged_in_transit(&e) && failures < self.cfg.retries) =>
                    {
                        if too_much(&e) {
                            pace.failed();
                        }
                        tokio::time::sleep(backoff(&self.cfg, failures)).await;
                        failures += 1;
                        continue 'resume;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }

    async fn blob_status(
        &self,
        w: &Watch<'_>,
        url: &str,
        token: &str,
    ) -> Result<BlobStatus, SyncError> {
        let (bytes, _) = self
            .call_retrying(w, || {
                let r = self
                    .http
                    .get(format!("{url}/status"))
                    .header(AUTHORIZATION, format!("Bearer {token}"));
                (r, None)
            })
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| SyncError::Protocol(e.to_string()))
    }

    /// The file of photo `hash`, fetched from the server if this device does not hold it.
    /// A cut download resumes where it stopped (HTTP range); the bytes become visible only
    /// once their SHA-256 matches. Access follows the documents: the server answers only if
    /// a document this device may see references the photo.
    pub async fn fetch_blob(
        &self,
        store: &Store,
        hash: &str,
        listener: Option<&dyn SyncListener>,
    ) -> Result<PathBuf, SyncError> {
        if let Some(p) = store.photo_path(hash)? {
            return Ok(p);
        }
        if !is_blob_hash(hash) {
            return Err(SyncError::Store(format!("{hash} is not a photo hash")));
        }
        let token = token_of(store)?;
        let url = format!("{}/v1/blobs/{hash}", self.cfg.server_url);
        std::fs::create_dir_all(store.blob_dir()).map_err(Error::from)?;
        let part = store.blob_part_file(hash);
        let w = Watch::new(listener);
        let mut failures = 0u32;
        loop {
            let attempt = self.fetch_range(&w, &url, &token, &part).await;
            let err = match attempt {
                Ok(true) => match store.finish_download(hash) {
                    Ok(path) => return Ok(path),
                    // Corrupt bytes were discarded: fetch again from the start.
                    Err(Error::Corrupt(m)) => SyncError::Protocol(m),
                    Err(e) => return Err(e.into()),
                },
                Ok(false) => SyncError::Closed("the download stopped early".into()),
                Err(e) => e,
            };
            let again = (matches!(err, SyncError::Protocol(_)) && failures < self.cfg.retries)
                || self.may_retry(&w, &err, failures);
            if !again {
                return Err(err);
            }
            tokio::time::sleep(backoff(&self.cfg, failures)).await;
            failures += 1;
        }
    }

    /// One GET from where the part file ends. `Ok(true)`: the part file is whole.
    async fn fetch_range(
        &self,
        w: &Watch<'_>,
        url: &str,
        token: &str,
        part: &std::path::Path,
    ) -> Result<bool, SyncError> {
        let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let mut req = self
            .http
            .get(url)
            .header(AUTHORIZATION, format!("Bearer {token}"));
        if have > 0 {
            req = req.header(RANGE, format!("bytes={have}-"));
        }
        let meter = w.meter.clone();
        self.watched(w, true, async move {
            let mut resp = req.send().await.map_err(classify)?;
            meter.mark();
            let (start, total) = match resp.status() {
                StatusCode::OK => {
                    let total = resp
                        .headers()
                        .get(CONTENT_LENGTH)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .ok_or_else(|| SyncError::Protocol("no Content-Length".into()))?;
                    (0, total)
                }
                StatusCode::PARTIAL_CONTENT => {
                    let cr = resp
                        .headers()
                        .get(CONTENT_RANGE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_content_range)
                        .ok_or_else(|| SyncError::Protocol("bad Content-Range".into()))?;
                    if cr.0 != have {
                        return Err(SyncError::Protocol(format!(
                            "asked for bytes from {have}, got from {}",
                            cr.0
                        )));
                    }
                    cr
                }
                StatusCode::RANGE_NOT_SATISFIABLE => {
                    // The part file is longer than the photo: it is wrong, start over.
                    let _ = std::fs::remove_file(part);
                    return Err(SyncError::Protocol(
                        "the partial download was too long".into(),
                    ));
                }
                status => {
                    let mut body = Vec::new();
                    while let Some(c) = resp.chunk().await.map_err(classify)? {
                        if body.len() < 4096 {
                            body.extend_from_slice(&c);
                        }
                    }
                    return Err(match status_error(status, &body) {
                        e @ (SyncError::Rejected { .. }
                        | SyncError::Server { .. }
                        | SyncError::Unauthorized(_)) => e,
                        _ => SyncError::Protocol("unexpected reply to a download".into()),
                    });
                }
            };
            if total > MAX_BLOB_BYTES {
                return Err(SyncError::Protocol(format!(
                    "the photo is {total} bytes, over the limit"
                )));
            }
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(start > 0)
                .write(true)
                .truncate(start == 0)
                .open(part)
                .map_err(Error::from)?;
            let mut at = start;
            let outcome = loop {
                match resp.chunk().await {
                    Ok(Some(bytes)) => {
                        if at + bytes.len() as u64 > total {
                            break Err(SyncError::Protocol("more bytes than announced".into()));
                        }
                        file.write_all(&bytes).map_err(Error::from)?;
                        meter.add_received(bytes.len());
                        at += bytes.len() as u64;
                        w.photo_bytes(0, bytes.len() as u64, at < total);
                    }
                    Ok(None) => break Ok(at == total),
                    Err(e) => break Err(classify(e)),
                }
            };
            // What arrived is kept for the next attempt; it is checked before it is used.
            file.flush().map_err(Error::from)?;
            outcome
        })
        .await
    }
}

fn damaged_in_transit(e: &SyncError) -> bool {
    matches!(e, SyncError::Rejected { status: 422, code, .. }
        if code == "chunk_mismatch" || code == "hash_mismatch")
}

/// `bytes START-END/TOTAL` → (START, TOTAL).
fn parse_content_range(v: &str) -> Option<(u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let (start, end, total) = (
        start.parse::<u64>().ok()?,
        end.parse::<u64>().ok()?,
        total.parse::<u64>().ok()?,
    );
    (start <= end && end < total).then_some((start, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse_and_nonsense_does_not() {
        assert_eq!(parse_content_range("bytes 10-19/20"), Some((10, 20)));
        assert_eq!(parse_content_range("bytes 10-20/20"), None);
        assert_eq!(parse_content_range("bytes 5-1/20"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }
}
