//! What the fuzz targets share with each other and with the corpus maker: how each target
//! reads its input, and the server-side state it runs against (fuzz/fixture/, written by
//! `examples/make_corpus.rs` from core's own store).

use std::borrow::Cow;
use std::sync::OnceLock;

use automerge::AutoCommit;
use outpost_core::Member;
use outpost_core::sync::validate::Known;
use outpost_core::untrusted::{Malformed, seal_chunk};
use serde::{Deserialize, Serialize};

/// The grid and unit of the test city; the fixture's members work there.
pub const GRID: &str = "yinhang-1-3";
pub const UNIT: &str = "chengguan";

/// Chunk inputs (targets `change`, `document`): the first byte says how to read the rest.
/// Odd: the rest is a chunk *body*, sealed here with a valid checksum so that mutations
/// reach the columns instead of stopping at the checksum. Even: the rest as it is.
pub fn chunk_input(data: &[u8], kind: u8) -> Option<Cow<'_, [u8]>> {
    let (&mode, rest) = data.split_first()?;
    Some(if mode & 1 == 1 {
        Cow::Owned(seal_chunk(kind, rest))
    } else {
        Cow::Borrowed(rest)
    })
}

/// The two seeds of a real chunk: its body to be sealed, and the chunk as it is.
pub fn chunk_seeds(chunk: &[u8]) -> [Vec<u8>; 2] {
    let mut at = 9;
    while chunk[at] & 0x80 != 0 {
        at += 1;
    }
    let mut sealed = vec![1u8];
    sealed.extend_from_slice(&chunk[at + 1..]);
    let mut raw = vec![0u8];
    raw.extend_from_slice(chunk);
    [sealed, raw]
}

/// With `OUTPOST_FUZZ_STRICT` set, a panic that [`outpost_core::untrusted::guard`] caught
/// inside automerge, on bytes the inspection let through, is a crash too. Without it such
/// panics count as handled: the guard is what production relies on for them.
pub fn strict(result: &Result<impl Sized, Malformed>) {
    if let Err(Malformed::Panicked { what, message }) = result
        && std::env::var_os("OUTPOST_FUZZ_STRICT").is_some()
    {
        panic!("guarded panic while {what}: {message}");
    }
}

/// A device of the fixture: its member and its Automerge actor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Device {
    pub member: Member,
    pub actor: String,
}

/// The server side of the `sync_body` target: one document it holds, the devices that
/// may push.
pub struct Fixture {
    pub doc_id: String,
    pub doc: AutoCommit,
    pub devices: Vec<Device>,
}

#[derive(Serialize, Deserialize)]
pub struct FixtureFile {
    pub doc_id: String,
    pub devices: Vec<Device>,
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let file: FixtureFile = serde_json::from_slice(include_bytes!("../fixture/devices.json"))
            .expect("fuzz/fixture/devices.json: run examples/make_corpus.rs");
        let doc = AutoCommit::load(include_bytes!("../fixture/server-doc.automerge"))
            .expect("fuzz/fixture/server-doc.automerge: run examples/make_corpus.rs");
        Fixture {
            doc_id: file.doc_id,
            doc,
            devices: file.devices,
        }
    })
}

/// The directory of the test city.
pub struct City;

impl Known for City {
    fn grid(&self, id: &str) -> bool {
        id == GRID
    }
    fn unit(&self, id: &str) -> bool {
        id == UNIT
    }
}

/// `sync_body` inputs: the first byte's low bit says the body is gzipped; its next bits
/// pick the device that pushes; the rest is the body.
pub fn sync_input(data: &[u8]) -> Option<(bool, usize, &[u8])> {
    let (&flags, body) = data.split_first()?;
    Some((flags & 1 == 1, usize::from(flags >> 1), body))
}

pub fn sync_seed(gzipped: bool, device: usize, body: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::from(gzipped) | (device as u8) << 1];
    out.extend_from_slice(body);
    out
}

/// One step of a `photo_upload` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upload {
    /// `PUT /v1/blobs/{hash}?{query}` by one of the input's devices.
    Put(Put),
    /// `BlobStore::read` of a range of the photo, as the download handler asks it.
    Read { start: u64, end: u64 },
    /// The server's clock moves on this many milliseconds (uploads expire).
    Advance { ms: u64 },
    /// The sweeper runs.
    Sweep,
}

/// One upload request, as its handler receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    /// Which of four devices sends it.
    pub device: u8,
    /// The device only claims the photo (it uploads every byte as proof) instead of seeing
    /// it.
    pub claimed: bool,
    /// The request names another photo than the payload's (one nibble of the hash changed):
    /// its upload can only end in a hash mismatch.
    pub other_name: bool,
    pub digest: ChunkDigest,
    pub query: Query,
    pub body: Body,
}

/// The `x-chunk-sha256` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkDigest {
    None,
    /// The body's SHA-256 in lowercase hex.
    Right,
    /// The same in uppercase.
    Upper,
    /// Another digest.
    Wrong,
}

/// The query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// `offset={offset}&size={size}`.
    Numbers { offset: u64, size: u64 },
    /// Any bytes (read as UTF-8, lossily, as the router hands it over).
    Raw(Vec<u8>),
}

/// The request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// `payload[from..from + len]`, clamped to the payload.
    Slice { from: u64, len: u64 },
    /// Bytes of its own.
    Bytes(Vec<u8>),
}

impl Put {
    /// The query string the handler receives.
    pub fn query(&self) -> String {
        match &self.query {
            Query::Numbers { offset, size } => format!("offset={offset}&size={size}"),
            Query::Raw(q) => String::from_utf8_lossy(q).into_owned(),
        }
    }

    /// The body the handler receives.
    pub fn body(&self, payload: &[u8]) -> Vec<u8> {
        match &self.body {
            Body::Slice { from, len } => {
                let from = usize::try_from(*from)
                    .unwrap_or(usize::MAX)
                    .min(payload.len());
                let len = usize::try_from(*len).unwrap_or(usize::MAX);
                payload[from..from.saturating_add(len).min(payload.len())].to_vec()
            }
            Body::Bytes(b) => b.clone(),
        }
    }
}

/// `photo_upload` inputs: the photo's bytes (u16 length, little-endian, then the bytes; its
/// SHA-256 names it), then steps. A step is a tag byte (low two bits the kind) and uLEB128
/// numbers; a `Put` tag has bit 2 for a raw query and bit 3 for a body of its own, then a
/// flags byte (bits 0-1 the device, 2 claimed, 3 another name, 4-5 the digest header).
pub fn decode_upload(data: &[u8]) -> Option<(&[u8], Vec<Upload>)> {
    let mut r = Cursor { data, pos: 0 };
    let len = u16::from_le_bytes([r.byte()?, r.byte()?]) as usize;
    let payload = r.take(len)?;
    let mut steps = Vec::new();
    while let Some(tag) = r.byte() {
        let step = match tag & 3 {
            0 => {
                let flags = r.byte()?;
                let query = if tag & 4 == 0 {
                    Query::Numbers {
                        offset: r.uleb()?,
                        size: r.uleb()?,
                    }
                } else {
                    Query::Raw(r.bytes()?.to_vec())
                };
                let body = if tag & 8 == 0 {
                    Body::Slice {
                        from: r.uleb()?,
                        len: r.uleb()?,
                    }
                } else {
                    Body::Bytes(r.bytes()?.to_vec())
                };
                Upload::Put(Put {
                    device: flags & 3,
                    claimed: flags & 4 != 0,
                    other_name: flags & 8 != 0,
                    digest: match (flags >> 4) & 3 {
                        0 => ChunkDigest::None,
                        1 => ChunkDigest::Right,
                        2 => ChunkDigest::Upper,
                        _ => ChunkDigest::Wrong,
                    },
                    query,
                    body,
                })
            }
            1 => Upload::Read {
                start: r.uleb()?,
                end: r.uleb()?,
            },
            2 => Upload::Advance { ms: r.uleb()? },
            _ => Upload::Sweep,
        };
        steps.push(step);
    }
    Some((payload, steps))
}

pub fn encode_upload(payload: &[u8], steps: &[Upload]) -> Vec<u8> {
    let mut out = (payload.len() as u16).to_le_bytes().to_vec();
    out.extend_from_slice(payload);
    for s in steps {
        match s {
            Upload::Put(p) => {
                let raw_query = matches!(p.query, Query::Raw(_));
                let own_body = matches!(p.body, Body::Bytes(_));
                out.push(u8::from(raw_query) << 2 | u8::from(own_body) << 3);
                let digest = match p.digest {
                    ChunkDigest::None => 0,
                    ChunkDigest::Right => 1,
                    ChunkDigest::Upper => 2,
                    ChunkDigest::Wrong => 3,
                };
                out.push(
                    (p.device & 3)
                        | u8::from(p.claimed) << 2
                        | u8::from(p.other_name) << 3
                        | digest << 4,
                );
                match &p.query {
                    Query::Numbers { offset, size } => {
                        push_uleb(&mut out, *offset);
                        push_uleb(&mut out, *size);
                    }
                    Query::Raw(q) => push_bytes(&mut out, q),
                }
                match &p.body {
                    Body::Slice { from, len } => {
                        push_uleb(&mut out, *from);
                        push_uleb(&mut out, *len);
                    }
                    Body::Bytes(b) => push_bytes(&mut out, b),
                }
            }
            Upload::Read { start, end } => {
                out.push(1);
                push_uleb(&mut out, *start);
                push_uleb(&mut out, *end);
            }
            Upload::Advance { ms } => {
                out.push(2);
                push_uleb(&mut out, *ms);
            }
            Upload::Sweep => out.push(3),
        }
    }
    out
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.data.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    /// A uLEB128 length (at most 64 KiB, cut to what is left), then that many bytes.
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.uleb()?.min(1 << 16) as usize;
        self.take(n.min(self.data.len() - self.pos))
    }

    /// Any LEB128 of up to 10 bytes; higher bits are dropped.
    fn uleb(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f).checked_shl(7 * i).unwrap_or(0);
            if b & 0x80 == 0 {
                break;
            }
        }
        Some(v)
    }
}

fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    push_uleb(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn push_uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_inputs_round_trip() {
        let put = |device, query, body| {
            Upload::Put(Put {
                device,
                claimed: device == 2,
                other_name: device == 3,
                digest: ChunkDigest::Upper,
                query,
                body,
            })
        };
        let steps = vec![
            put(
                0,
                Query::Numbers {
                    offset: 0,
                    size: 300,
                },
                Body::Slice { from: 0, len: 200 },
            ),
            put(
                3,
                Query::Raw(b"offset=1&size=x".to_vec()),
                Body::Bytes(vec![1, 2, 3]),
            ),
            Upload::Read {
                start: 5,
                end: 1 << 40,
            },
            Upload::Advance { ms: u64::MAX },
            Upload::Sweep,
        ];
        let bytes = encode_upload(b"photo", &steps);
        assert_eq!(decode_upload(&bytes), Some((&b"photo"[..], steps)));
    }
}
