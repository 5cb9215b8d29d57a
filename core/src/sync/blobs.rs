//! Photos on the wire (docs/PROTOCOL.md, "Photos"): content-addressed, chunked, resumable
//! uploads after the documents, life-safety first; downloads on demand with HTTP ranges into
//! a `.part` file that becomes visible only once its SHA-256 matches.
//!
//! - `GET /v1/blobs/{hash}/status` → [`BlobStatus`]: how many bytes the server holds.
//! - `PUT /v1/blobs/{hash}?offset=O&size=S` with one chunk as the body and its SHA-256 in
//!   `x-chunk-sha256` → [`BlobStatus`]. The server verifies the whole hash on the last chunk.
//! - `GET /v1/blobs/{hash}` with an optional `Range: bytes=N-` → the bytes (200 or 206).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::client::{SyncClient, SyncError, SyncListener, SyncProgress, SyncReport};
use super::client::{backoff, net, read_ok, retryable, token_of};
use crate::error::Error;
use crate::store::Store;
use crate::store::blobs::{BlobInfo, hash_file};

/// Largest photo, in bytes, a device attaches and the server accepts.
pub const MAX_BLOB_BYTES: u64 = 20 << 20;
/// Largest chunk the server takes in one request.
pub const MAX_CHUNK_BYTES: usize = 1 << 20;
/// Chunk size the client uploads with: small enough that a cut on 2G costs little.
pub const DEFAULT_CHUNK_BYTES: usize = 64 << 10;
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

/// A blob's name: the SHA-256 of its bytes in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `s` is a blob name: a SHA-256 in lowercase hex.
pub fn is_blob_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The photo type from its first bytes (not its file name): JPEG, PNG, WebP or HEIC/HEIF.
pub fn sniff_mime(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some("image/jpeg");
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return match &head[8..12] {
            b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" => Some("image/heic"),
            b"mif1" | b"msf1" => Some("image/heif"),
            _ => None,
        };
    }
    None
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
        let token = token_of(store)?;
        let chunk = chunk.clamp(1024, MAX_CHUNK_BYTES);
        let mut out = BlobUploadReport::default();
        for blob in store.pending_uploads()? {
            match self
                .upload_one(store, &token, &blob, chunk, &mut out, listener)
                .await
            {
                Ok(()) => out.uploaded += 1,
                // Refused or damaged: this photo waits, the others go.
                Err(SyncError::Rejected { message, .. }) => out.failed.push((blob.hash, message)),
                Err(SyncError::Store(m)) => out.failed.push((blob.hash, m)),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn upload_one(
        &self,
        store: &Store,
        token: &str,
        blob: &BlobInfo,
        chunk: usize,
        out: &mut BlobUploadReport,
        listener: Option<&dyn SyncListener>,
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
        let mut buf = vec![0u8; chunk];
        let mut failures = 0u32;
        'resume: loop {
            let status = self.blob_status(&url, token).await?;
            if status.complete {
                store.mark_uploaded(&blob.hash)?;
                return Ok(());
            }
            let mut offset = status.offset.min(size);
            store.set_upload_offset(&blob.hash, offset)?;
            loop {
                let n = ((size - offset) as usize).min(chunk);
                file.seek(SeekFrom::Start(offset)).map_err(Error::from)?;
                file.read_exact(&mut buf[..n]).map_err(Error::from)?;
                let body = buf[..n].to_vec();
                let digest = hex::encode(Sha256::digest(&body));
                out.bytes_sent += n as u64;
                let sent = self
                    .http
                    .put(format!("{url}?offset={offset}&size={size}"))
                    .header(AUTHORIZATION, format!("Bearer {token}"))
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CHUNK_SHA256, digest)
                    .body(body)
                    .send()
                    .await;
                let reply = match sent {
                    Ok(resp) => read_ok(resp).await,
                    Err(e) => Err(net(e)),
                };
                match reply {
                    Ok(bytes) => {
                        let s: BlobStatus = serde_json::from_slice(&bytes)
                            .map_err(|e| SyncError::Protocol(e.to_string()))?;
                        failures = 0;
                        if let Some(l) = listener {
                            l.progress(&SyncProgress {
                                blob_bytes_sent: out.bytes_sent,
                                more: !s.complete,
                                ..SyncProgress::default()
                            });
                        }
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
                        if (retryable(&e) || damaged_in_transit(&e))
                            && failures < self.cfg.retries =>
                    {
                        tokio::time::sleep(backoff(&self.cfg, failures)).await;
                        failures += 1;
                        continue 'resume;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }

    async fn blob_status(&self, url: &str, token: &str) -> Result<BlobStatus, SyncError> {
        let mut attempt = 0u32;
        loop {
            let outcome = match self
                .http
                .get(format!("{url}/status"))
                .header(AUTHORIZATION, format!("Bearer {token}"))
                .send()
                .await
            {
                Ok(resp) => read_ok(resp).await,
                Err(e) => Err(net(e)),
            };
            match outcome {
                Ok(bytes) => {
                    return serde_json::from_slice(&bytes)
                        .map_err(|e| SyncError::Protocol(e.to_string()));
                }
                Err(e) if retryable(&e) && attempt < self.cfg.retries => {
                    tokio::time::sleep(backoff(&self.cfg, attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
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
        let mut failures = 0u32;
        let mut received = 0u64;
        loop {
            let attempt = self
                .fetch_range(&url, &token, &part, &mut received, listener)
                .await;
            let err = match attempt {
                Ok(true) => match store.finish_download(hash) {
                    Ok(path) => return Ok(path),
                    // Corrupt bytes were discarded: fetch again from the start.
                    Err(Error::Corrupt(m)) => SyncError::Protocol(m),
                    Err(e) => return Err(e.into()),
                },
                Ok(false) => SyncError::Network("the download stopped early".into()),
                Err(e) => e,
            };
            let again = matches!(err, SyncError::Protocol(_)) || retryable(&err);
            if !again || failures >= self.cfg.retries {
                return Err(err);
            }
            tokio::time::sleep(backoff(&self.cfg, failures)).await;
            failures += 1;
        }
    }

    /// One GET from where the part file ends. `Ok(true)`: the part file is whole.
    async fn fetch_range(
        &self,
        url: &str,
        token: &str,
        part: &std::path::Path,
        received: &mut u64,
        listener: Option<&dyn SyncListener>,
    ) -> Result<bool, SyncError> {
        let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let mut req = self
            .http
            .get(url)
            .header(AUTHORIZATION, format!("Bearer {token}"));
        if have > 0 {
            req = req.header(RANGE, format!("bytes={have}-"));
        }
        let mut resp = req.send().await.map_err(net)?;
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
            _ => {
                read_ok(resp).await?;
                return Err(SyncError::Protocol("unexpected reply to a download".into()));
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
                    at += bytes.len() as u64;
                    *received += bytes.len() as u64;
                    if let Some(l) = listener {
                        l.progress(&SyncProgress {
                            blob_bytes_received: *received,
                            more: at < total,
                            ..SyncProgress::default()
                        });
                    }
                }
                Ok(None) => break Ok(at == total),
                Err(e) => break Err(net(e)),
            }
        };
        // What arrived is kept for the next attempt; it is checked before it is used.
        file.flush().map_err(Error::from)?;
        outcome
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

/// Adds an upload pass to a finished document sync (called by `SyncClient::sync`).
pub(super) async fn upload_after_sync(
    client: &SyncClient,
    store: &Store,
    listener: Option<&dyn SyncListener>,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    let up = client
        .upload_blobs(store, DEFAULT_CHUNK_BYTES, listener)
        .await?;
    report.blobs_uploaded += up.uploaded;
    report.blob_bytes_sent += up.bytes_sent;
    report.blobs_failed.extend(up.failed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_types_come_from_their_bytes() {
        assert_eq!(sniff_mime(&[0xFF, 0xD8, 0xFF, 0xE1]), Some("image/jpeg"));
        assert_eq!(sniff_mime(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff_mime(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_mime(b"\0\0\0\x18ftypheic\0\0"), Some("image/heic"));
        assert_eq!(sniff_mime(b"\0\0\0\x18ftypmp42\0\0"), None);
        assert_eq!(sniff_mime(b"GIF89a"), None);
        assert_eq!(sniff_mime(b""), None);
    }

    #[test]
    fn content_ranges_parse_and_nonsense_does_not() {
        assert_eq!(parse_content_range("bytes 10-19/20"), Some((10, 20)));
        assert_eq!(parse_content_range("bytes 10-20/20"), None);
        assert_eq!(parse_content_range("bytes 5-1/20"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
        assert!(is_blob_hash(&"a".repeat(64)));
        assert!(!is_blob_hash(&"A".repeat(64)));
        assert!(!is_blob_hash("../etc/passwd"));
    }
}
