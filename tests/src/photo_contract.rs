//! The photo store contract ([`outpost_server::blobs::BlobStore`]), written once and run on
//! every backend: `tests/tests/blob_store.rs` on SQLite files (plain `cargo test`),
//! `tests/tests/pg_photos.rs` on PostgreSQL (`scripts/suites/postgres.sh`).
//! [`photo_contract_tests!`](crate::photo_contract_tests) turns each case into a `#[test]`.

use outpost_core::sync::blobs::sha256_hex;
use outpost_server::blobs::{
    Append, BlobStore, Chunk, ChunkRequest, DocRefs, READ_PIECE, UploadError, UploadPolicy,
    Uploader, apply_chunk,
};
use outpost_server::storage::Scope;

/// A place a backend keeps its data (a temp dir, a test database); every store opened on
/// it shares that data, like several server processes on one database.
pub trait Backend {
    fn open(&self, policy: UploadPolicy) -> Box<dyn BlobStore>;
}

/// A photo of `len` bytes: a JPEG signature, then bytes that differ with `seed`.
pub fn photo(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x as u8);
    }
    v.truncate(len);
    v
}

fn chunk<'a>(hash: &'a str, bytes: &'a [u8], offset: usize, size: usize) -> Chunk<'a> {
    Chunk {
        hash,
        offset: offset as u64,
        size: size as u64,
        mime: if offset == 0 { "image/jpeg" } else { "" },
        bytes,
    }
}

/// Appends `data[from..to]` as one chunk of `device`'s upload.
fn put(
    s: &dyn BlobStore,
    device: &str,
    data: &[u8],
    from: usize,
    to: usize,
    share: bool,
    now: i64,
) -> Append {
    let h = sha256_hex(data);
    s.append(
        device,
        &chunk(&h, &data[from..to], from, data.len()),
        share,
        now,
    )
    .unwrap()
}

/// Uploads all of `data` in chunks of `step`; returns the last outcome.
fn upload_all(s: &dyn BlobStore, device: &str, data: &[u8], step: usize, now: i64) -> Append {
    let mut at = 0;
    loop {
        let to = (at + step).min(data.len());
        let out = put(s, device, data, at, to, true, now);
        match out {
            Append::Stored { complete: true, .. } => return out,
            Append::Stored { received, .. } => at = received as usize,
            other => return other,
        }
    }
}

/// The whole photo, read in pieces of at most [`READ_PIECE`].
fn read_all(s: &dyn BlobStore, hash: &str, size: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < size {
        let to = size.min(at + READ_PIECE);
        out.extend(s.read(hash, at, to).unwrap());
        at = to;
    }
    out
}

fn stored(received: usize, complete: bool) -> Append {
    Append::Stored {
        received: received as u64,
        complete,
    }
}

/// A document referencing photo `hash` and carrying scope `key`.
fn refs(doc: &str, hash: &str, key: &str) -> DocRefs {
    (doc.into(), vec![hash.into()], vec![key.into()])
}

fn policy() -> UploadPolicy {
    UploadPolicy::default()
}

/// Chunks go in order; a chunk that does not start where the device's bytes end is refused
/// with the offset to continue from, also through another store on the same data (a
/// restarted or another server process); nothing is served before the whole is verified.
pub fn chunks_resume_from_the_acknowledged_offset(b: &dyn Backend) {
    let s = b.open(policy());
    let data = photo(10_000, 1);
    let h = sha256_hex(&data);
    assert_eq!(
        put(&*s, "dev-a", &data, 100, 200, true, 0),
        Append::OffsetMismatch { received: 0 }
    );
    assert_eq!(
        put(&*s, "dev-a", &data, 0, 4000, true, 0),
        stored(4000, false)
    );
    let state = s.upload(&h, "dev-a", 1).unwrap().unwrap();
    assert_eq!((state.size, state.received), (10_000, 4000));
    assert_eq!(s.in_flight("dev-a", 1).unwrap(), 4000);
    // A repeated chunk (its reply was lost) is refused with where to continue.
    assert_eq!(
        put(&*s, "dev-a", &data, 0, 4000, true, 1),
        Append::OffsetMismatch { received: 4000 }
    );
    assert_eq!(s.photo(&h).unwrap(), None);
    assert!(
        s.read(&h, 0, 10).is_err(),
        "incomplete photos are not served"
    );
    // Another store on the same data resumes where the first one stopped.
    let other = b.open(policy());
    assert_eq!(
        other.upload(&h, "dev-a", 2).unwrap().map(|u| u.received),
        Some(4000)
    );
    assert_eq!(
        put(&*other, "dev-a", &data, 4000, 7000, true, 2),
        stored(7000, false)
    );
    assert_eq!(
        put(&*s, "dev-a", &data, 4000, 7000, true, 3),
        Append::OffsetMismatch { received: 7000 }
    );
    assert_eq!(
        put(&*s, "dev-a", &data, 7000, 10_000, true, 3),
        stored(10_000, true)
    );
    let p = other.photo(&h).unwrap().unwrap();
    assert_eq!((p.size, p.mime.as_str()), (10_000, "image/jpeg"));
    assert_eq!(read_all(&*other, &h, 10_000), data);
    assert_eq!(read_all(&*s, &h, 10_000), data);
    assert_eq!(
        s.upload(&h, "dev-a", 4).unwrap(),
        None,
        "no longer in flight"
    );
    assert_eq!(s.in_flight("dev-a", 4).unwrap(), 0);
}

/// A complete photo is stored once: a device that may see it is told `complete` and
/// nothing is written; a claimant proves it by uploading every byte, which is verified and
/// dropped (the photo keeps its first bytes).
pub fn complete_photos_are_shared_and_deduplicated(b: &dyn Backend) {
    let s = b.open(policy());
    let data = photo(50_000, 2);
    let h = sha256_hex(&data);
    assert_eq!(
        upload_all(&*s, "dev-a", &data, 16_384, 0),
        stored(50_000, true)
    );
    assert_eq!(
        put(&*s, "dev-b", &data, 0, 1000, true, 1),
        stored(50_000, true)
    );
    assert_eq!(s.in_flight("dev-b", 1).unwrap(), 0);
    assert_eq!(s.upload(&h, "dev-b", 1).unwrap(), None);
    // The claimant's upload collects apart from the photo and is checked like any other.
    assert_eq!(
        put(&*s, "dev-c", &data, 0, 30_000, false, 2),
        stored(30_000, false)
    );
    assert_eq!(s.in_flight("dev-c", 2).unwrap(), 30_000);
    assert_eq!(
        put(&*s, "dev-c", &data, 30_000, 50_000, false, 2),
        stored(50_000, true)
    );
    assert_eq!(s.in_flight("dev-c", 3).unwrap(), 0);
    assert_eq!(s.upload(&h, "dev-c", 3).unwrap(), None);
    assert_eq!(read_all(&*s, &h, 50_000), data);
    // A device's own upload that another device's completion made needless is dropped as
    // soon as it sends again.
    let other = photo(20_000, 3);
    let ho = sha256_hex(&other);
    assert_eq!(
        put(&*s, "dev-d", &other, 0, 5000, true, 4),
        stored(5000, false)
    );
    assert_eq!(
        upload_all(&*s, "dev-e", &other, 8000, 4),
        stored(20_000, true)
    );
    assert_eq!(
        put(&*s, "dev-d", &other, 5000, 10_000, true, 5),
        stored(20_000, true)
    );
    assert_eq!(s.in_flight("dev-d", 5).unwrap(), 0);
    assert_eq!(read_all(&*s, &ho, 20_000), other);
}

/// Ranges at every boundary: around each chunk edge, the first and last byte, pieces that
/// span several chunks; ranges outside the photo or over [`READ_PIECE`] are errors.
pub fn ranges_are_served_at_every_boundary(b: &dyn Backend) {
    let s = b.open(policy());
    // 64 KiB chunks with a short last one; and 1 MiB chunks over more than two pieces.
    for (len, step, seed) in [
        (3 * 65_536 + 17, 65_536, 4),
        ((5 << 20) / 2 + 3, 1 << 20, 5),
    ] {
        let data = photo(len, seed);
        let h = sha256_hex(&data);
        assert_eq!(upload_all(&*s, "dev-a", &data, step, 0), stored(len, true));
        let mut points = vec![0, 1, len - 1, len];
        for edge in (step..len).step_by(step) {
            points.extend([edge - 1, edge, edge + 1]);
        }
        for &a in &points {
            for &z in &points {
                if a < z && (z - a) as u64 <= READ_PIECE {
                    assert_eq!(
                        s.read(&h, a as u64, z as u64).unwrap(),
                        &data[a..z],
                        "{a}..{z} of {len}"
                    );
                }
            }
        }
        let size = len as u64;
        for (a, z) in [
            (0, 0),
            (5, 4),
            (size, size + 1),
            (0, size + 1),
            (u64::MAX - 1, u64::MAX),
        ] {
            assert!(s.read(&h, a, z).is_err(), "{a}..{z} of {len}");
        }
        if size > READ_PIECE {
            assert!(s.read(&h, 0, READ_PIECE + 1).is_err(), "over one piece");
        }
        assert_eq!(read_all(&*s, &h, size), data);
    }
}

/// Bytes that do not hash to the name are discarded whole when the last chunk arrives; the
/// device may then upload the true bytes.
pub fn wrong_bytes_are_discarded(b: &dyn Backend) {
    let s = b.open(policy());
    let data = photo(30_000, 6);
    let h = sha256_hex(&data);
    let mut bad = data.clone();
    bad[25_000] ^= 0x40;
    let c = |from: usize, to: usize| chunk(&h, &bad[from..to], from, data.len());
    assert_eq!(
        s.append("dev-a", &c(0, 20_000), true, 0).unwrap(),
        stored(20_000, false)
    );
    assert_eq!(
        s.append("dev-a", &c(20_000, 30_000), true, 0).unwrap(),
        Append::HashMismatch
    );
    assert_eq!(s.upload(&h, "dev-a", 0).unwrap(), None);
    assert_eq!(s.photo(&h).unwrap(), None);
    assert_eq!(s.in_flight("dev-a", 0).unwrap(), 0);
    assert!(s.read(&h, 0, 100).is_err());
    assert_eq!(
        upload_all(&*s, "dev-a", &data, 7000, 1),
        stored(30_000, true)
    );
    assert_eq!(read_all(&*s, &h, 30_000), data);
}

/// Squatting: another device that starts the photo with a wrong size, or sends wrong
/// bytes, spoils only its own upload; the real one proceeds beside it, and the first to
/// complete with the right bytes wins.
pub fn squatters_spoil_only_their_own_upload(b: &dyn Backend) {
    let s = b.open(policy());
    let data = photo(40_000, 7);
    let h = sha256_hex(&data);
    let garbage = photo(40_001, 99);
    // The squatter announces another size and sends other bytes.
    assert_eq!(
        s.append(
            "squatter",
            &chunk(&h, &garbage[..10_000], 0, 40_001),
            true,
            0
        )
        .unwrap(),
        stored(10_000, false)
    );
    // The real uploader is not refused, not even with the other size announced.
    assert_eq!(
        put(&*s, "owner", &data, 0, 15_000, true, 1),
        stored(15_000, false)
    );
    assert_eq!(
        s.append(
            "squatter",
            &chunk(&h, &garbage[10_000..20_000], 10_000, 40_001),
            true,
            1
        )
        .unwrap(),
        stored(20_000, false)
    );
    // The squatter's own upload may not change size midway; it may start over.
    assert_eq!(
        s.append(
            "squatter",
            &chunk(&h, &garbage[20_000..30_000], 20_000, 40_000),
            true,
            2
        )
        .unwrap(),
        Append::SizeMismatch { size: 40_001 }
    );
    assert_eq!(
        s.append(
            "squatter",
            &chunk(&h, &garbage[..30_000], 0, 40_000),
            true,
            2
        )
        .unwrap(),
        stored(30_000, false)
    );
    assert_eq!(
        s.in_flight("squatter", 2).unwrap(),
        30_000,
        "the old bytes were dropped"
    );
    // Its wrong bytes fail the hash and are dropped; the owner's upload is untouched.
    assert_eq!(
        s.append(
            "squatter",
            &chunk(&h, &garbage[30_000..40_000], 30_000, 40_000),
            true,
            3
        )
        .unwrap(),
        Append::HashMismatch
    );
    assert_eq!(
        s.upload(&h, "owner", 3).unwrap().map(|u| u.received),
        Some(15_000)
    );
    assert_eq!(
        put(&*s, "owner", &data, 15_000, 40_000, true, 4),
        stored(40_000, true)
    );
    assert_eq!(read_all(&*s, &h, 40_000), data);
    // Two honest devices racing: the second to complete drops its copy, the photo stays.
    let race = photo(20_000, 8);
    let hr = sha256_hex(&race);
    assert_eq!(
        put(&*s, "a", &race, 0, 10_000, true, 5),
        stored(10_000, false)
    );
    assert_eq!(
        put(&*s, "b", &race, 0, 10_000, true, 5),
        stored(10_000, false)
    );
    assert_eq!(
        put(&*s, "a", &race, 10_000, 20_000, true, 6),
        stored(20_000, true)
    );
    // b did not ask in between (a proof upload, say): its bytes are verified, then dropped.
    assert_eq!(
        put(&*s, "b", &race, 10_000, 20_000, false, 6),
        stored(20_000, true)
    );
    assert_eq!(s.in_flight("b", 6).unwrap(), 0);
    assert_eq!(read_all(&*s, &hr, 20_000), race);
}

/// Uploads idle longer than the policy allows are gone: not resumed, not counted, swept.
pub fn idle_uploads_expire(b: &dyn Backend) {
    let p = UploadPolicy {
        idle_ms: 1000,
        ..UploadPolicy::default()
    };
    let s = b.open(p);
    let data = photo(20_000, 9);
    let h = sha256_hex(&data);
    assert_eq!(
        put(&*s, "dev-a", &data, 0, 5000, true, 0),
        stored(5000, false)
    );
    assert!(
        s.upload(&h, "dev-a", 1000).unwrap().is_some(),
        "idle for exactly the limit"
    );
    assert_eq!(s.upload(&h, "dev-a", 1001).unwrap(), None);
    assert_eq!(s.in_flight("dev-a", 1001).unwrap(), 0);
    // Lazily dropped when the device sends again: it starts over.
    assert_eq!(
        put(&*s, "dev-a", &data, 5000, 10_000, true, 2000),
        Append::OffsetMismatch { received: 0 }
    );
    // Every chunk keeps an upload alive.
    assert_eq!(
        put(&*s, "dev-b", &data, 0, 5000, true, 0),
        stored(5000, false)
    );
    assert_eq!(
        put(&*s, "dev-b", &data, 5000, 10_000, true, 900),
        stored(10_000, false)
    );
    assert_eq!(
        put(&*s, "dev-b", &data, 10_000, 15_000, true, 1800),
        stored(15_000, false)
    );
    assert_eq!(
        put(&*s, "dev-c", &data, 0, 5000, true, 1800),
        stored(5000, false)
    );
    // The sweeper drops what expired, whoever it belongs to, and nothing else.
    assert_eq!(s.sweep(2700).unwrap(), 0);
    assert_eq!(s.sweep(2801).unwrap(), 2, "dev-b's and dev-c's");
    assert_eq!(s.upload(&h, "dev-b", 0).unwrap(), None);
    // Complete photos never expire.
    assert_eq!(
        upload_all(&*s, "dev-c", &data, 20_000, 3000),
        stored(20_000, true)
    );
    s.sweep(i64::MAX).unwrap();
    assert_eq!(read_all(&*s, &h, 20_000), data);
}

/// One device's unfinished uploads hold at most the quota; other devices are not touched;
/// the chunk that completes an upload is always taken (its bytes then leave the count).
pub fn unfinished_uploads_have_a_quota_per_device(b: &dyn Backend) {
    let p = UploadPolicy {
        quota_bytes: 10_000,
        ..UploadPolicy::default()
    };
    let s = b.open(p);
    let (one, two, three) = (photo(8000, 10), photo(9000, 11), photo(5000, 12));
    let over = |in_flight| Append::OverQuota {
        in_flight,
        quota: 10_000,
    };
    assert_eq!(
        put(&*s, "dev-a", &one, 0, 6000, true, 0),
        stored(6000, false)
    );
    assert_eq!(put(&*s, "dev-a", &two, 0, 5000, true, 0), over(6000));
    assert_eq!(
        s.upload(&sha256_hex(&two), "dev-a", 0).unwrap(),
        None,
        "nothing stored"
    );
    // Another device is not touched by dev-a's quota.
    assert_eq!(
        put(&*s, "dev-b", &two, 0, 8000, true, 0),
        stored(8000, false)
    );
    assert_eq!(
        put(&*s, "dev-b", &two, 8000, 9000, true, 0),
        stored(9000, true)
    );
    // A proof upload counts like any other.
    assert_eq!(
        put(&*s, "dev-a", &two, 0, 4000, false, 0),
        stored(4000, false)
    );
    assert_eq!(s.in_flight("dev-a", 0).unwrap(), 10_000);
    assert_eq!(put(&*s, "dev-a", &three, 0, 1000, true, 0), over(10_000));
    // Completing an upload is taken over the quota, and frees its share.
    assert_eq!(
        put(&*s, "dev-a", &two, 4000, 9000, false, 0),
        stored(9000, true)
    );
    assert_eq!(s.in_flight("dev-a", 0).unwrap(), 6000);
    assert_eq!(
        put(&*s, "dev-a", &three, 0, 1000, true, 0),
        stored(1000, false)
    );
    assert_eq!(
        put(&*s, "dev-a", &one, 6000, 8000, true, 0),
        stored(8000, true)
    );
    assert_eq!(s.in_flight("dev-a", 0).unwrap(), 1000);
    // Starting over with another size frees the old bytes first.
    assert_eq!(
        s.append(
            "dev-a",
            &chunk(&sha256_hex(&three), &three[..3000], 0, 4999),
            true,
            0
        )
        .unwrap(),
        stored(3000, false)
    );
    assert_eq!(s.in_flight("dev-a", 0).unwrap(), 3000);
}

/// Offsets near `u64::MAX` are refused, never wrapped, at the request and in the store.
pub fn offsets_near_the_limit_do_not_overflow(b: &dyn Backend) {
    let s = b.open(policy());
    let data = photo(1000, 12);
    let h = sha256_hex(&data);
    for (offset, size) in [
        (u64::MAX, u64::MAX),
        (u64::MAX - 1, u64::MAX),
        (u64::MAX - 1, 100),
        (i64::MAX as u64, i64::MAX as u64 + 2),
        (0, u64::MAX),
    ] {
        let c = Chunk {
            hash: &h,
            offset,
            size,
            mime: "",
            bytes: &data[..2],
        };
        assert!(
            s.append("dev-a", &c, true, 0).is_err(),
            "{offset}+2 of {size}"
        );
        let q = format!("offset={offset}&size={size}");
        let err = ChunkRequest::parse(&h, Some(&q), None, data[..2].to_vec()).unwrap_err();
        assert!(
            matches!(err, UploadError::BadRange | UploadError::PhotoTooLarge),
            "{q}: {err:?}"
        );
    }
    assert_eq!(s.in_flight("dev-a", 0).unwrap(), 0);
    // The store is fine afterwards: the same photo goes up through the request path.
    let who = Uploader {
        device: "dev-a".into(),
        access: outpost_server::blobs::Access::Visible,
        scope: Scope::All,
    };
    let req = ChunkRequest::parse(&h, Some("offset=0&size=1000"), None, data.clone()).unwrap();
    assert_eq!(apply_chunk(&*s, &req, &who, 0).unwrap(), stored(1000, true));
    assert!(s.read(&h, u64::MAX - 1, u64::MAX).is_err());
    assert!(s.read(&h, 999, u64::MAX).is_err());
}

/// Knowing a hash opens nothing: the first reference counts, a later one by a device that
/// cannot see the photo is a claim until its bytes are uploaded (apply_chunk proves it).
pub fn references_by_strangers_are_claims_until_proven(b: &dyn Backend) {
    let s = b.open(policy());
    let data = photo(5000, 13);
    let h = sha256_hex(&data);
    let g1 = Scope::Keys(vec!["g:G1".into()]);
    let g2 = Scope::Keys(vec!["g:G2".into()]);
    s.set_refs(&[refs("case-1", &h, "g:G1")], &g1).unwrap();
    assert!(s.visible(&h, &g1).unwrap());
    assert!(!s.visible(&h, &g2).unwrap());
    assert!(s.visible(&h, &Scope::All).unwrap());
    // An upload under way is enough to make a stranger's reference a claim.
    assert_eq!(
        put(&*s, "dev-a", &data, 0, 2000, true, 0),
        stored(2000, false)
    );
    s.set_refs(&[refs("case-2", &h, "g:G2")], &g2).unwrap();
    assert!(!s.visible(&h, &g2).unwrap());
    assert!(s.claimed(&h, &g2).unwrap());
    assert!(!s.claimed(&h, &g1).unwrap());
    // Pushing again changes nothing; moving the document moves its visibility.
    s.set_refs(&[refs("case-2", &h, "g:G2")], &g2).unwrap();
    assert!(!s.visible(&h, &g2).unwrap());
    assert_eq!(
        put(&*s, "dev-a", &data, 2000, 5000, true, 0),
        stored(5000, true)
    );
    // The claimant uploads the bytes itself: a wrong copy proves nothing.
    let claimant = Uploader {
        device: "dev-b".into(),
        access: outpost_server::blobs::Access::Claimed,
        scope: g2.clone(),
    };
    let mut wrong = data.clone();
    wrong[4000] ^= 1;
    let req = |bytes: &[u8]| {
        ChunkRequest::parse(&h, Some("offset=0&size=5000"), None, bytes.to_vec()).unwrap()
    };
    assert_eq!(
        apply_chunk(&*s, &req(&wrong), &claimant, 1).unwrap(),
        Append::HashMismatch
    );
    assert!(!s.visible(&h, &g2).unwrap());
    assert_eq!(
        apply_chunk(&*s, &req(&data), &claimant, 1).unwrap(),
        stored(5000, true)
    );
    assert!(s.visible(&h, &g2).unwrap());
    assert!(!s.claimed(&h, &g2).unwrap());
    assert_eq!(read_all(&*s, &h, 5000), data);
    // A push's documents are recorded together: a first reference to a photo nobody has
    // yet opens it to the document's scope, a stranger's to a stored one is a claim.
    let fresh = sha256_hex(&photo(3000, 14));
    let g3 = Scope::Keys(vec!["g:G3".into()]);
    s.set_refs(
        &[refs("case-3", &fresh, "g:G3"), refs("case-4", &h, "g:G3")],
        &g3,
    )
    .unwrap();
    assert!(s.visible(&fresh, &g3).unwrap());
    assert!(!s.visible(&h, &g3).unwrap());
    assert!(s.claimed(&h, &g3).unwrap());
}

/// Two stores on the same data (two server processes) at once: the same chunk of one
/// upload sent to both is stored once, the other told where to continue; two devices that
/// complete the same photo at the same moment both hear `complete`, and one copy is kept.
pub fn concurrent_appends_serialize(b: &dyn Backend) {
    let stores = [b.open(policy()), b.open(policy())];
    for round in 0..8u64 {
        let data = photo(40_000, 100 + round);
        let gate = std::sync::Barrier::new(2);
        let outs: Vec<Append> = std::thread::scope(|t| {
            let runs: Vec<_> = stores
                .iter()
                .map(|s| {
                    let (gate, data) = (&gate, &data);
                    t.spawn(move || {
                        gate.wait();
                        put(&**s, "dev-a", data, 0, 20_000, true, 0)
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let stored_once = outs.iter().filter(|o| **o == stored(20_000, false)).count();
        let told = outs
            .iter()
            .filter(|o| **o == Append::OffsetMismatch { received: 20_000 })
            .count();
        assert_eq!((stored_once, told), (1, 1), "round {round}: {outs:?}");
        assert_eq!(stores[0].in_flight("dev-a", 0).unwrap(), 20_000);
        // Two devices finish the same photo at once, through different stores.
        assert_eq!(
            put(&*stores[1], "dev-b", &data, 0, 20_000, true, 0),
            stored(20_000, false)
        );
        let outs: Vec<Append> = std::thread::scope(|t| {
            let runs: Vec<_> = [("dev-a", &stores[0]), ("dev-b", &stores[1])]
                .into_iter()
                .map(|(dev, s)| {
                    let (gate, data) = (&gate, &data);
                    t.spawn(move || {
                        gate.wait();
                        put(&**s, dev, data, 20_000, 40_000, true, 1)
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert_eq!(outs, vec![stored(40_000, true); 2], "round {round}");
        let h = sha256_hex(&data);
        for s in &stores {
            assert_eq!(read_all(&**s, &h, 40_000), data);
            assert_eq!(s.in_flight("dev-a", 1).unwrap(), 0);
            assert_eq!(s.in_flight("dev-b", 1).unwrap(), 0);
        }
    }
}

/// Expands to one `#[test]` per contract case, each on a fresh backend from `$backend()`.
#[macro_export]
macro_rules! photo_contract_tests {
    ($backend:path) => {
        $crate::photo_contract_tests!(@each $backend;
            chunks_resume_from_the_acknowledged_offset,
            complete_photos_are_shared_and_deduplicated,
            ranges_are_served_at_every_boundary,
            wrong_bytes_are_discarded,
            squatters_spoil_only_their_own_upload,
            idle_uploads_expire,
            unfinished_uploads_have_a_quota_per_device,
            offsets_near_the_limit_do_not_overflow,
            references_by_strangers_are_claims_until_proven,
            concurrent_appends_serialize
        );
    };
    (@each $backend:path; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                let backend = $backend();
                $crate::photo_contract::$case(&backend);
            }
        )*
    };
}
