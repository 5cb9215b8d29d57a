//! The server's handling of photo upload requests, as a hostile device reaches it: the
//! `PUT /v1/blobs/{hash}` handler's two steps, [`ChunkRequest::parse`] (hash, query, size
//! and chunk caps, range, `x-chunk-sha256`, type sniffing) and [`apply_chunk`] (offset and
//! size against the device's own upload, quota, expiry, appending, the hash check when the
//! last chunk arrives, proving a claim), on a fresh SQLite photo store per input. Four
//! devices upload the photo, or a name its bytes do not hash to, while the clock moves and
//! the sweeper runs; downloads read what completed.
//!
//! Every outcome is checked against a model of the devices' uploads (the bytes each holds,
//! its announced size, when it was last touched): the store must answer what the model
//! expects, hold what the model holds, count it against the quota, expire it when the model
//! does, and serve a photo only once it is complete and hashes to its name.
//! `OUTPOST_FUZZ_STRICT=1` also hands the store the chunks parsing refused as out of bounds:
//! its own re-check must refuse them.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use outpost_core::sync::blobs::{MAX_BLOB_BYTES, MAX_CHUNK_BYTES};
use outpost_fuzz::{ChunkDigest, Put, Query, Upload, decode_upload};
use outpost_server::blobs::{
    Access, Append, BlobStore, Chunk, ChunkRequest, SqliteBlobStore, UploadPolicy, UploadState,
    Uploader, apply_chunk,
};
use outpost_server::storage::Scope;
use sha2::{Digest, Sha256};

/// Small enough that inputs reach the quota and expiry.
const POLICY: UploadPolicy = UploadPolicy {
    idle_ms: 60_000,
    quota_bytes: 16 << 10,
};
const T0: i64 = 1_780_000_000_000;
const DEVICES: [&str; 4] = ["phone-a", "phone-b", "phone-c", "phone-d"];

/// What the model says one device's unfinished upload of one name holds.
#[derive(Clone)]
struct Held {
    size: u64,
    bytes: Vec<u8>,
    touched: i64,
}

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn scratch() -> tempfile::TempDir {
    // SQLite syncs every append (`synchronous = FULL`): on tmpfs that costs nothing.
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::tempdir_in(shm)
    {
        return d;
    }
    tempfile::tempdir().expect("a temporary directory")
}

/// An empty store file, migrated once: each input starts from a copy of it.
fn template() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = scratch();
        let path = dir.path().join("blobs.db");
        // Closing the store checkpoints its WAL into the file.
        drop(SqliteBlobStore::open_with(&path, POLICY).expect("a store"));
        std::fs::read(&path).expect("the store file")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((payload, steps)) = decode_upload(data) else {
        return;
    };
    let dir = scratch();
    let path = dir.path().join("blobs.db");
    std::fs::write(&path, template()).expect("a store file");
    let s = SqliteBlobStore::open_with(&path, POLICY).expect("a store");
    let real = sha_hex(payload);
    // The same name with its first nibble changed: no bytes here hash to it.
    let mut other = real.clone().into_bytes();
    other[0] = if other[0] == b'0' { b'1' } else { b'0' };
    let other = String::from_utf8(other).expect("hex");
    let names = [real.as_str(), other.as_str()];
    // model[name][device]
    let mut model: [[Option<Held>; 4]; 2] = Default::default();
    let mut now = T0;
    for step in steps {
        match step {
            Upload::Put(p) => put(&s, &p, payload, names, &mut model, now),
            Upload::Read { start, end } => match s.photo(&real).unwrap() {
                Some(photo) if photo.size > 0 => {
                    // The download handler asks for start < end <= size.
                    let start = start % photo.size;
                    let end = start + 1 + end % (photo.size - start);
                    let got = s.read(&real, start, end).unwrap();
                    assert_eq!(got, &payload[start as usize..end as usize]);
                }
                _ => assert!(s.read(&real, 0, 1).is_err(), "an incomplete photo served"),
            },
            Upload::Advance { ms } => {
                now = now.saturating_add(ms.min(10 * POLICY.idle_ms as u64) as i64);
            }
            Upload::Sweep => {
                s.sweep(now).unwrap();
            }
        }
        // Uploads idle too long are gone, whether or not anything swept them yet.
        let since = POLICY.expired_before(now);
        for held in model.iter_mut().flatten() {
            if held.as_ref().is_some_and(|h| h.touched < since) {
                *held = None;
            }
        }
        for (d, device) in DEVICES.iter().enumerate() {
            for (n, name) in names.iter().enumerate() {
                let want = model[n][d].as_ref().map(|h| UploadState {
                    size: h.size,
                    received: h.bytes.len() as u64,
                });
                assert_eq!(
                    s.upload(name, device, now).unwrap(),
                    want,
                    "upload of {device}"
                );
            }
            let held: u64 = (0..2)
                .filter_map(|n| model[n][d].as_ref())
                .map(|h| h.bytes.len() as u64)
                .sum();
            assert_eq!(
                s.in_flight(device, now).unwrap(),
                held,
                "bytes {device} holds"
            );
        }
        assert!(
            s.read(&other, 0, 1).is_err(),
            "a photo of other bytes served"
        );
    }
});

fn put(
    s: &SqliteBlobStore,
    p: &Put,
    payload: &[u8],
    names: [&str; 2],
    model: &mut [[Option<Held>; 4]; 2],
    now: i64,
) {
    let n = usize::from(p.other_name);
    let d = usize::from(p.device);
    let hash = names[n];
    let body = p.body(payload);
    let digest = match p.digest {
        ChunkDigest::None => None,
        ChunkDigest::Right => Some(sha_hex(&body)),
        ChunkDigest::Upper => Some(sha_hex(&body).to_uppercase()),
        ChunkDigest::Wrong => Some(sha_hex(&[&body[..], b"!"].concat())),
    };
    let query = p.query();
    let Ok(req) = ChunkRequest::parse(
        hash,
        Some(&query),
        digest.as_deref().map(str::as_bytes),
        body.clone(),
    ) else {
        strict_bounds(s, p, hash, &body, now);
        return;
    };
    // What parsing promises the store.
    assert!(p.digest != ChunkDigest::Wrong, "a chunk of another digest");
    if let Query::Numbers { offset, size } = p.query {
        assert_eq!((req.offset, req.size), (offset, size));
    }
    assert_eq!(req.bytes, body);
    assert!(!body.is_empty() && body.len() <= MAX_CHUNK_BYTES);
    assert!(req.size <= MAX_BLOB_BYTES && req.end <= req.size);
    assert_eq!(req.end, req.offset + body.len() as u64);
    assert_eq!(req.mime.is_empty(), req.offset != 0);

    let who = Uploader {
        device: DEVICES[d].to_string(),
        access: if p.claimed {
            Access::Claimed
        } else {
            Access::Visible
        },
        scope: Scope::Keys(vec!["fuzz".into()]),
    };
    let photo = s.photo(hash).unwrap();
    let want = expect(
        &req,
        p.claimed,
        photo.as_ref().map(|p| p.size),
        model,
        n,
        d,
        now,
    );
    let got = apply_chunk(s, &req, &who, now).unwrap();
    assert_eq!(got, want, "the store and the model disagree");
    if let Append::Stored { complete: true, .. } = got {
        let photo = s.photo(hash).unwrap().expect("a complete photo");
        assert_eq!(hash, names[0], "a photo that does not hash to its name");
        assert!(!photo.mime.is_empty());
        let all = s.read(hash, 0, photo.size).unwrap();
        assert_eq!(all, payload, "a complete photo of other bytes");
    }
}

/// With `OUTPOST_FUZZ_STRICT`, a chunk out of bounds that parsing refused goes to the store
/// anyway: its own re-check must refuse it (an error), storing nothing (the checks after
/// each step see the uploads unchanged).
fn strict_bounds(s: &SqliteBlobStore, p: &Put, hash: &str, body: &[u8], now: i64) {
    let Query::Numbers { offset, size } = p.query else {
        return;
    };
    let in_bounds = offset
        .checked_add(body.len() as u64)
        .is_some_and(|end| end <= size)
        && size <= MAX_BLOB_BYTES
        && !body.is_empty()
        && body.len() <= MAX_CHUNK_BYTES;
    if in_bounds || std::env::var_os("OUTPOST_FUZZ_STRICT").is_none() {
        return;
    }
    let chunk = Chunk {
        hash,
        offset,
        size,
        mime: "",
        bytes: body,
    };
    let out = s.append(DEVICES[usize::from(p.device)], &chunk, !p.claimed, now);
    assert!(
        out.is_err(),
        "the store took a chunk out of bounds: {out:?}"
    );
}

/// The answer to `req` by the model, which it then updates.
fn expect(
    req: &ChunkRequest,
    claimed: bool,
    photo: Option<u64>,
    model: &mut [[Option<Held>; 4]; 2],
    n: usize,
    d: usize,
    now: i64,
) -> Append {
    if !claimed && let Some(size) = photo {
        // A device that sees a complete photo shares it; its own upload goes.
        model[n][d] = None;
        return Append::Stored {
            received: size,
            complete: true,
        };
    }
    let in_flight: u64 = (0..2)
        .filter_map(|k| model[k][d].as_ref())
        .map(|h| h.bytes.len() as u64)
        .sum();
    let own = model[n][d].clone();
    let (mut bytes, held) = match own {
        Some(h) if h.size != req.size => {
            if req.offset != 0 {
                return Append::SizeMismatch { size: h.size };
            }
            (Vec::new(), in_flight - h.bytes.len() as u64)
        }
        Some(h) if req.offset != h.bytes.len() as u64 => {
            return Append::OffsetMismatch {
                received: h.bytes.len() as u64,
            };
        }
        Some(h) => (h.bytes, in_flight),
        None if req.offset != 0 => return Append::OffsetMismatch { received: 0 },
        None => (Vec::new(), in_flight),
    };
    let len = req.bytes.len() as u64;
    if req.end < req.size && held + len > POLICY.quota_bytes {
        return Append::OverQuota {
            in_flight: held,
            quota: POLICY.quota_bytes,
        };
    }
    bytes.extend_from_slice(&req.bytes);
    if req.end < req.size {
        model[n][d] = Some(Held {
            size: req.size,
            bytes,
            touched: now,
        });
        return Append::Stored {
            received: req.end,
            complete: false,
        };
    }
    model[n][d] = None;
    if sha_hex(&bytes) == req.hash {
        Append::Stored {
            received: req.end,
            complete: true,
        }
    } else {
        Append::HashMismatch
    }
}
