//! One chunk upload, from the request's raw parts to the store, without HTTP: the handler
//! and the fuzz target for photo upload requests go through the same two steps,
//! [`ChunkRequest::parse`] (every bound checked before storage is touched) and
//! [`apply_chunk`] (the store's outcome, with a claim proven once its bytes are whole).

use axum::body::Bytes;
use axum::http::StatusCode;
use outpost_core::sync::blobs::{MAX_BLOB_BYTES, MAX_CHUNK_BYTES, is_blob_hash, sniff_mime};
use sha2::{Digest, Sha256};

use super::{Append, BlobStore, Chunk, end_of};
use crate::error::ApiError;
use crate::storage::{Scope, StoreResult};

/// Why an upload request was refused before it reached the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    #[error("a photo is named by its SHA-256 in lowercase hex")]
    BadHash,
    #[error("{0}")]
    BadQuery(String),
    #[error("a photo may have at most {MAX_BLOB_BYTES} bytes")]
    PhotoTooLarge,
    #[error("a chunk may have at most {MAX_CHUNK_BYTES} bytes")]
    ChunkTooLarge,
    #[error("the chunk must be non-empty and end within the announced size")]
    BadRange,
    #[error("the chunk does not match its x-chunk-sha256; it was not stored")]
    ChunkMismatch,
    #[error("photos must be JPEG, PNG, WebP or HEIC")]
    UnsupportedType,
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        let (status, code) = match e {
            UploadError::BadHash => (StatusCode::BAD_REQUEST, "bad_hash"),
            UploadError::BadQuery(_) => (StatusCode::BAD_REQUEST, "bad_query"),
            UploadError::PhotoTooLarge | UploadError::ChunkTooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
            }
            UploadError::BadRange => (StatusCode::BAD_REQUEST, "bad_range"),
            UploadError::ChunkMismatch => (StatusCode::UNPROCESSABLE_ENTITY, "chunk_mismatch"),
            UploadError::UnsupportedType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_type")
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// Checks a photo's name.
pub fn check_hash(hash: &str) -> Result<(), UploadError> {
    if is_blob_hash(hash) {
        Ok(())
    } else {
        Err(UploadError::BadHash)
    }
}

/// A chunk upload whose every number is within bounds: `offset < end <= size <= 20 MiB`,
/// `end - offset` = the body's length (1 byte to 1 MiB), the body matches its digest when
/// one was sent, and a first chunk starts like a photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkRequest {
    pub hash: String,
    pub offset: u64,
    pub size: u64,
    /// `offset + len`, computed once, without overflow.
    pub end: u64,
    /// The type sniffed from a first chunk; `""` for later ones.
    pub mime: &'static str,
    pub bytes: Bytes,
}

impl ChunkRequest {
    /// Parses `PUT /v1/blobs/{hash}?{query}` with body `body` and an optional
    /// `x-chunk-sha256` header value. `query` must hold exactly `offset` and `size`, decimal.
    pub fn parse(
        hash: &str,
        query: Option<&str>,
        chunk_sha256: Option<&[u8]>,
        body: impl Into<Bytes>,
    ) -> Result<ChunkRequest, UploadError> {
        let bytes: Bytes = body.into();
        check_hash(hash)?;
        let (offset, size) = parse_query(query.unwrap_or(""))?;
        if size > MAX_BLOB_BYTES {
            return Err(UploadError::PhotoTooLarge);
        }
        if bytes.len() > MAX_CHUNK_BYTES {
            return Err(UploadError::ChunkTooLarge);
        }
        let end = end_of(offset, bytes.len()).ok_or(UploadError::BadRange)?;
        if bytes.is_empty() || end > size {
            return Err(UploadError::BadRange);
        }
        if let Some(want) = chunk_sha256 {
            let got = hex::encode(Sha256::digest(&bytes));
            if !want.eq_ignore_ascii_case(got.as_bytes()) {
                return Err(UploadError::ChunkMismatch);
            }
        }
        // The type comes from the first bytes, whatever the name or headers say.
        let mime = if offset == 0 {
            sniff_mime(&bytes).ok_or(UploadError::UnsupportedType)?
        } else {
            ""
        };
        Ok(ChunkRequest {
            hash: hash.to_string(),
            offset,
            size,
            end,
            mime,
            bytes,
        })
    }

    /// The chunk as the store takes it.
    pub fn chunk(&self) -> Chunk<'_> {
        Chunk {
            hash: &self.hash,
            offset: self.offset,
            size: self.size,
            mime: self.mime,
            bytes: &self.bytes,
        }
    }
}

/// `offset=O&size=S`, in any order, each exactly once.
fn parse_query(q: &str) -> Result<(u64, u64), UploadError> {
    let bad = |m: &str| UploadError::BadQuery(m.to_string());
    let (mut offset, mut size) = (None, None);
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| bad("the query takes offset=…&size=…"))?;
        let slot = match k {
            "offset" => &mut offset,
            "size" => &mut size,
            _ => return Err(bad("the query takes only offset and size")),
        };
        if slot.is_some() {
            return Err(bad("offset and size may each appear once"));
        }
        if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("offset and size are decimal numbers"));
        }
        *slot = Some(
            v.parse::<u64>()
                .map_err(|_| bad("offset and size are decimal numbers"))?,
        );
    }
    match (offset, size) {
        (Some(o), Some(s)) => Ok((o, s)),
        _ => Err(bad("the query needs offset and size")),
    }
}

/// How a caller may reach a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A document in its scope references the photo.
    Visible,
    /// A document in its scope only claims it: the caller may upload the bytes as proof.
    Claimed,
}

/// Who uploads: the device, how it may reach the photo and what it sees.
#[derive(Debug, Clone, PartialEq)]
pub struct Uploader {
    pub device: String,
    pub access: Access,
    pub scope: Scope,
}

/// Stores the chunk in the uploader's own upload. A device that sees the photo shares a
/// complete one; a claimant uploads every byte, and once they are whole and verified its
/// claims count (the same bytes already stored are kept, not duplicated).
pub fn apply_chunk(
    store: &dyn BlobStore,
    req: &ChunkRequest,
    who: &Uploader,
    now: i64,
) -> StoreResult<Append> {
    let out = store.append(
        &who.device,
        &req.chunk(),
        who.access == Access::Visible,
        now,
    )?;
    if who.access == Access::Claimed
        && let Append::Stored { complete: true, .. } = out
    {
        store.prove(&req.hash, &who.scope)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "0000000000000000000000000000000000000000000000000000000000000000";
    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3];

    #[test]
    fn requests_are_bounded_before_anything_is_stored() {
        let ok = ChunkRequest::parse(H, Some("offset=0&size=7"), None, JPEG.to_vec()).unwrap();
        assert_eq!(
            (ok.offset, ok.end, ok.size, ok.mime),
            (0, 7, 7, "image/jpeg")
        );
        let later = ChunkRequest::parse(H, Some("size=9&offset=7"), None, vec![1, 2]).unwrap();
        assert_eq!((later.end, later.mime), (9, ""));
        let err = |h: &str, q: &str, body: &[u8]| {
            ChunkRequest::parse(h, Some(q), None, body.to_vec()).unwrap_err()
        };
        assert_eq!(err("ABC", "offset=0&size=7", JPEG), UploadError::BadHash);
        for q in [
            "",
            "offset=0",
            "offset=0&size=7&x=1",
            "offset=0&offset=0&size=7",
            "offset=-1&size=7",
            "offset=+1&size=7",
            "offset=99999999999999999999999&size=7",
            "offset&size=7",
        ] {
            assert!(matches!(err(H, q, JPEG), UploadError::BadQuery(_)), "{q:?}");
        }
        assert_eq!(err(H, "offset=0&size=0", b""), UploadError::BadRange);
        assert_eq!(err(H, "offset=0&size=3", JPEG), UploadError::BadRange);
        assert_eq!(
            err(H, "offset=0&size=20971521", JPEG),
            UploadError::PhotoTooLarge
        );
        assert_eq!(
            err(H, "offset=0&size=2000000", &vec![0xFF; (1 << 20) + 1]),
            UploadError::ChunkTooLarge
        );
        assert_eq!(
            err(H, "offset=0&size=7", b"textual"),
            UploadError::UnsupportedType
        );
        // Offsets near u64::MAX: the end would overflow, and is refused, not wrapped.
        let max = u64::MAX.to_string();
        assert_eq!(
            err(H, &format!("offset={max}&size=100"), b"xy"),
            UploadError::BadRange
        );
        assert_eq!(
            err(H, &format!("offset={}&size=100", u64::MAX - 1), b"xy"),
            UploadError::BadRange
        );
        let digest = hex::encode(Sha256::digest(JPEG));
        assert!(
            ChunkRequest::parse(
                H,
                Some("offset=0&size=7"),
                Some(digest.to_uppercase().as_bytes()),
                JPEG.to_vec()
            )
            .is_ok()
        );
        assert_eq!(
            ChunkRequest::parse(H, Some("offset=0&size=7"), Some(b"00"), JPEG.to_vec())
                .unwrap_err(),
            UploadError::ChunkMismatch
        );
    }
}
