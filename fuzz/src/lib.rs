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
    /// `BlobStore::append` of `payload[from..from + len]` (clamped) at `offset` of an upload
    /// announced as `size` bytes, to the photo's own key or its proof key.
    Append {
        proof: bool,
        offset: u64,
        size: u64,
        from: u64,
        len: u64,
    },
    /// The same with chunk bytes of its own, not the photo's.
    AppendBytes {
        proof: bool,
        offset: u64,
        size: u64,
        bytes: Vec<u8>,
    },
    /// `BlobStore::read` of a range, as the download handler would ask it of a complete blob.
    Read { start: u64, end: u64 },
    /// `BlobStore::delete` of the photo's key or its proof key.
    Delete { proof: bool },
}

/// `photo_upload` inputs: the photo's bytes (u16 length, little-endian, then the bytes; its
/// SHA-256 names it), then steps, each a tag byte (low two bits the kind, bit 2 the proof
/// key) and uLEB128 numbers.
pub fn decode_upload(data: &[u8]) -> Option<(&[u8], Vec<Upload>)> {
    let mut r = Cursor { data, pos: 0 };
    let len = u16::from_le_bytes([r.byte()?, r.byte()?]) as usize;
    let payload = r.take(len)?;
    let mut steps = Vec::new();
    while let Some(tag) = r.byte() {
        let proof = tag & 4 != 0;
        let step = match tag & 3 {
            0 if tag & 8 == 0 => Upload::Append {
                proof,
                offset: r.uleb()?,
                size: r.uleb()?,
                from: r.uleb()?,
                len: r.uleb()?,
            },
            0 => {
                let (offset, size) = (r.uleb()?, r.uleb()?);
                let n = r.uleb()?.min(1 << 16) as usize;
                Upload::AppendBytes {
                    proof,
                    offset,
                    size,
                    bytes: r.take(n.min(r.data.len() - r.pos))?.to_vec(),
                }
            }
            1 => Upload::Read {
                start: r.uleb()?,
                end: r.uleb()?,
            },
            2 => Upload::Delete { proof },
            _ => continue,
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
            Upload::Append {
                proof,
                offset,
                size,
                from,
                len,
            } => {
                out.push(u8::from(*proof) << 2);
                for v in [offset, size, from, len] {
                    push_uleb(&mut out, *v);
                }
            }
            Upload::AppendBytes {
                proof,
                offset,
                size,
                bytes,
            } => {
                out.push(8 | u8::from(*proof) << 2);
                for v in [*offset, *size, bytes.len() as u64] {
                    push_uleb(&mut out, v);
                }
                out.extend_from_slice(bytes);
            }
            Upload::Read { start, end } => {
                out.push(1);
                push_uleb(&mut out, *start);
                push_uleb(&mut out, *end);
            }
            Upload::Delete { proof } => out.push(2 | u8::from(*proof) << 2),
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
        let steps = vec![
            Upload::Append {
                proof: false,
                offset: 0,
                size: 300,
                from: 0,
                len: 200,
            },
            Upload::AppendBytes {
                proof: true,
                offset: 200,
                size: 300,
                bytes: vec![1, 2, 3],
            },
            Upload::Read {
                start: 5,
                end: 1 << 40,
            },
            Upload::Delete { proof: true },
        ];
        let bytes = encode_upload(b"photo", &steps);
        assert_eq!(decode_upload(&bytes), Some((&b"photo"[..], steps)));
    }
}
