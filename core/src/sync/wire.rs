//! The sync protocol's messages, shared by the client here and by the server. Bodies of
//! `POST /v1/sync` are CBOR (RFC 8949), optionally gzip-compressed; Automerge changes travel
//! as raw (uncompressed) change bytes so that gzip over the whole body finds the field names
//! and values that changes of many documents share. docs/PROTOCOL.md describes every field.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::member::Member;
use crate::template::Template;

/// Protocol version carried in every sync body; the server refuses others with 400.
pub const PROTOCOL_VERSION: u32 = 1;

/// Bodies smaller than this are sent uncompressed: gzip's header costs more than it saves.
pub const COMPRESS_ABOVE: usize = 256;

/// Smallest reply page, in change bytes, a server gives when asked for less (a page always
/// holds at least one feed position). Small, so a device on a bad link can ask for a page
/// that arrives in a few seconds, and a life-safety push is not held up by the feed.
pub const MIN_PAGE_BYTES: u64 = 2 << 10;

/// A device's request: its changes the server has not acknowledged, and where its view of
/// the feed stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub v: u32,
    /// Opaque feed position from the previous reply; empty on the first sync.
    pub cursor: String,
    /// Upper bound on the change bytes the reply should carry (the server caps it too).
    #[serde(default)]
    pub max_bytes: u64,
    pub push: Vec<PushDoc>,
}

/// Changes of one document, in causal order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushDoc {
    pub id: String,
    pub changes: Vec<serde_bytes::ByteBuf>,
}

/// The server's reply to one sync request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncResponse {
    pub v: u32,
    /// One entry per pushed document, in request order.
    pub acks: Vec<Ack>,
    /// Changes in the device's scope after its cursor, grouped by document, feed order.
    pub docs: Vec<PulledDoc>,
    /// Where the next request continues. Never behind the request's cursor.
    pub cursor: String,
    /// More changes wait beyond this page: sync again at once.
    pub more: bool,
    /// Version of the directory (grids, units, members, templates); a device that holds an
    /// older one fetches `GET /v1/directory`.
    pub directory_version: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub id: String,
    /// `true`: every pushed change of this document is stored (some may have been stored
    /// before). `false`: none of them is, see `code` and `reason`.
    pub ok: bool,
    /// Changes stored for the first time by this request.
    pub stored: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<RefusalCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why a pushed document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// A change was made by another Automerge actor than this device's.
    WrongActor,
    /// The device's member may not make this change (role, scope or state).
    Forbidden,
    /// After the change the document no longer follows its schema.
    Invalid,
    /// The bytes are not Automerge changes, or their dependencies are missing.
    Malformed,
}

impl RefusalCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalCode::WrongActor => "wrong_actor",
            RefusalCode::Forbidden => "forbidden",
            RefusalCode::Invalid => "invalid",
            RefusalCode::Malformed => "malformed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PulledDoc {
    pub id: String,
    pub changes: Vec<serde_bytes::ByteBuf>,
}

/// `POST /v1/enroll`, JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub code: String,
    /// The device store's Automerge actor id, hex. Every change the device pushes must carry it.
    pub actor: String,
    #[serde(default)]
    pub device_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub device_id: String,
    /// Bearer token for every later request. Shown once; the server keeps only its hash.
    pub token: String,
    pub directory: DirectoryView,
}

/// What a device learns from the directory: who it is, the grid tree and units, templates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoryView {
    pub version: i64,
    /// The device's member, its grids already expanded to every sub-grid.
    pub member: Member,
    pub grids: Vec<GridInfo>,
    pub units: Vec<UnitInfo>,
    pub templates: Vec<Template>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridInfo {
    pub id: String,
    pub name: String,
    pub level: GridLevel,
    #[serde(default)]
    pub parent: Option<String>,
}

/// street → comprehensive grid → grid → micro-grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GridLevel {
    Street,
    Comprehensive,
    Grid,
    Micro,
}

impl GridLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            GridLevel::Street => "street",
            GridLevel::Comprehensive => "comprehensive",
            GridLevel::Grid => "grid",
            GridLevel::Micro => "micro",
        }
    }

    pub fn parse(s: &str) -> Option<GridLevel> {
        Some(match s {
            "street" => GridLevel::Street,
            "comprehensive" => GridLevel::Comprehensive,
            "grid" => GridLevel::Grid,
            "micro" => GridLevel::Micro,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitInfo {
    pub id: String,
    pub name: String,
}

/// Error body of every non-2xx reply, JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("the body is larger than {0} bytes once decompressed")]
    TooLarge(usize),
    #[error("the body is not valid gzip: {0}")]
    Gzip(String),
    #[error("the body is not a valid message: {0}")]
    Cbor(String),
}

/// Encodes a message as CBOR.
pub fn to_cbor<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing plain data into a Vec cannot fail.
    let _ = ciborium::into_writer(msg, &mut out);
    out
}

pub fn from_cbor<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, DecodeError> {
    ciborium::from_reader(bytes).map_err(|e| DecodeError::Cbor(e.to_string()))
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

/// Decompresses at most `limit` bytes, so a small hostile body cannot expand without bound.
pub fn gunzip(bytes: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let mut dec = flate2::read::GzDecoder::new(bytes).take(limit as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| DecodeError::Gzip(e.to_string()))?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge(limit));
    }
    Ok(out)
}

/// Decodes a body given its `Content-Encoding` (`gzip` or none).
pub fn decode_body<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    gzipped: bool,
    limit: usize,
) -> Result<T, DecodeError> {
    if gzipped {
        from_cbor(&gunzip(bytes, limit)?)
    } else if bytes.len() > limit {
        Err(DecodeError::TooLarge(limit))
    } else {
        from_cbor(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_through_cbor_and_gzip() {
        let req = SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: "3.17".into(),
            max_bytes: 1000,
            push: vec![PushDoc {
                id: "a".into(),
                changes: vec![serde_bytes::ByteBuf::from(vec![1u8, 2, 3])],
            }],
        };
        let body = gzip(&to_cbor(&req));
        let back: SyncRequest = decode_body(&body, true, 1 << 20).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        let big = gzip(&vec![0u8; 1 << 20]);
        assert!(big.len() < 4096);
        assert_eq!(gunzip(&big, 1000).unwrap_err(), DecodeError::TooLarge(1000));
        assert!(matches!(
            decode_body::<SyncRequest>(b"\xff\x00garbage", false, 100),
            Err(DecodeError::Cbor(_))
        ));
    }
}
