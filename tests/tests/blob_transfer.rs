//! Photos over a bad network: a proxy cuts uploads and downloads at random bytes, and the
//! client is "restarted" (its store and client dropped and reopened) between chunks. Every
//! photo arrives complete and verified, and the bytes sent stay within a small bound of
//! the photos' size. Damaged chunks, damaged downloads and wrong hashes are caught, and
//! nothing damaged is stored or served.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use outpost_core::store::blobs::BlobState;
use outpost_core::sync::blobs::{BlobStatus, DEFAULT_CHUNK_BYTES, sha256_hex};
use outpost_core::sync::{SyncClient, SyncConfig, SyncListener, SyncProgress};
use outpost_core::{Category, NewCase, Store, Urgency};
use outpost_tests::harness::{Device, Server, city, fast, forge_photo_reference, http};
use outpost_tests::link::{CutAt, Link};
use rand::Rng;

fn photo(len: usize, seed: u8) -> Vec<u8> {
    let mut rng = rand::rng();
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, seed];
    v.extend((5..len).map(|_| rng.random::<u8>()));
    v
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Counts photo progress events and stops the transfer after `stop_after` of them.
struct Stopper {
    events: AtomicU64,
    stop_after: u64,
    sent: AtomicU64,
    received: AtomicU64,
    stop: tokio::sync::Notify,
}

impl SyncListener for Stopper {
    fn progress(&self, p: &SyncProgress) {
        self.sent.fetch_max(p.blob_bytes_sent, Ordering::SeqCst);
        self.received
            .fetch_max(p.blob_bytes_received, Ordering::SeqCst);
        if p.blob_bytes_sent > 0 || p.blob_bytes_received > 0 {
            let n = self.events.fetch_add(1, Ordering::SeqCst) + 1;
            if n == self.stop_after {
                self.stop.notify_one();
            }
        }
    }
}

fn stopper(stop_after: u64) -> Arc<Stopper> {
    Arc::new(Stopper {
        events: AtomicU64::new(0),
        stop_after,
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
        stop: tokio::sync::Notify::new(),
    })
}

fn sha(b: &[u8]) -> String {
    sha256_hex(b)
}

fn client(url: &str) -> SyncClient {
    let mut cfg = fast(SyncConfig::new(url));
    cfg.retries = 3;
    SyncClient::new(cfg).unwrap()
}

#[test]
fn photos_cut_at_random_bytes_and_restarted_between_chunks_arrive_whole() {
    let server = Server::start(&city());
    // Cuts land up to three chunks deep into a connection, so inside chunks and downloads.
    let proxy = Link::cutting(
        server.addr,
        60,
        CutAt::BothWays(3 * DEFAULT_CHUNK_BYTES as u64),
    );
    let dir = tempfile::tempdir().unwrap();
    let reporter = Device::enroll(&server, &server.url, dir.path(), "member-a1");
    let viewer = Device::enroll(&server, &server.url, dir.path(), "member-a2");

    // A life-safety case and a normal one, 3 photos, about 1.7 MB in all.
    let mut files = Vec::new();
    for (i, len) in [700_000usize, 600_000, 400_000].into_iter().enumerate() {
        let path = dir.path().join(format!("p{i}.jpg"));
        std::fs::write(&path, photo(len, i as u8)).unwrap();
        files.push(path);
    }
    let urgent = reporter
        .store
        .create_case_with_photos(
            NewCase::new(Category::FireHazard, Urgency::LifeSafety, "烟雾", "G1"),
            &files[..1],
        )
        .unwrap();
    let normal = reporter
        .store
        .create_case(NewCase::new(Category::Waste, Urgency::Normal, "堆物", "G1"))
        .unwrap();
    let mut hashes = vec![reporter.store.case(&urgent).unwrap().attachments[0].clone()];
    for f in &files[1..] {
        hashes.push(reporter.store.add_photo_to_case(&normal, f).unwrap());
    }
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    // Life-safety first.
    assert_eq!(reporter.store.pending_uploads().unwrap()[0].hash, hashes[0]);
    let db = reporter.db.clone();
    drop(reporter);

    // Upload: each pass is a fresh process's store and client, stopped after a few chunks.
    let rt = runtime();
    let mut rng = rand::rng();
    let (mut restarts, mut passes) = (0u64, 0);
    let mut seen_progress = 0u64;
    loop {
        passes += 1;
        assert!(passes < 200, "uploads never finished");
        let store = Store::open(&db).unwrap();
        if store.pending_uploads().unwrap().is_empty() {
            break;
        }
        let c = client(&proxy.url());
        let l = stopper(rng.random_range(1..6));
        let done = rt.block_on(async {
            tokio::select! {
                r = c.sync(&store, Some(&*l)) => Some(r),
                _ = l.stop.notified() => None,
            }
        });
        seen_progress = seen_progress.max(l.sent.load(Ordering::SeqCst));
        match done {
            None => restarts += 1,
            Some(Ok(r)) => assert!(r.blobs_failed.is_empty(), "{:?}", r.blobs_failed),
            Some(Err(_)) => {} // cut once too often in a row: the next pass goes on
        }
    }
    let (up, _) = proxy.bytes();
    let cuts_up = proxy.cuts();
    assert!(seen_progress > 0, "progress reports photo bytes");
    let store = Store::open(&db).unwrap();
    for h in &hashes {
        assert_eq!(store.blob(h).unwrap().unwrap().state, BlobState::Uploaded);
    }
    // Every interruption costs at most the chunk in flight (and request overhead).
    let bound = total + (cuts_up + restarts + 2) * (DEFAULT_CHUNK_BYTES as u64 + 2048) + 200_000;
    println!(
        "upload: {total} photo bytes, {up} bytes up through the proxy, {cuts_up} cuts, {restarts} restarts, {passes} passes, bound {bound}"
    );
    assert!(up >= total, "the photos went through the proxy");
    assert!(up <= bound, "sent {up} bytes for {total}");

    // The server has them whole: a direct full read hashes to the name.
    viewer.sync();
    for h in &hashes {
        let r = http(
            server.addr,
            "GET",
            &format!("/v1/blobs/{h}"),
            &[("Authorization", &format!("Bearer {}", viewer.token()))],
            b"",
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(&sha(&r.body), h);
        assert_eq!(r.header("content-type"), Some("image/jpeg"));
    }

    // Download through cuts, restarted mid-photo; the part file carries over.
    proxy.reset();
    let vdb = viewer.db.clone();
    drop(viewer);
    let mut restarts = 0u64;
    let mut read_by_client = 0u64;
    for h in &hashes {
        let mut passes = 0;
        loop {
            passes += 1;
            assert!(passes < 200, "download of {h} never finished");
            let store = Store::open(&vdb).unwrap();
            let c = client(&proxy.url());
            let l = stopper(rng.random_range(2..30));
            let got = rt.block_on(async {
                tokio::select! {
                    r = c.fetch_blob(&store, h, Some(&*l)) => Some(r),
                    _ = l.stop.notified() => None,
                }
            });
            read_by_client += l.received.load(Ordering::SeqCst);
            match got {
                Some(Ok(path)) => {
                    assert_eq!(&sha(&std::fs::read(&path).unwrap()), h);
                    break;
                }
                Some(Err(_)) => {}
                None => restarts += 1,
            }
        }
    }
    let (_, down) = proxy.bytes();
    let cuts = proxy.cuts();
    // What the client read is kept across cuts and restarts (the part file): it reads each
    // byte about once. The wire carries more: on loopback a stopped client leaves whole
    // socket buffers unread, so that bound is per interruption and loose.
    let bound = total + 64 * 1024;
    let wire_bound = total + (cuts + restarts + 3) * (4 << 20);
    println!(
        "download: {total} photo bytes, {read_by_client} read by the client, {down} bytes down the wire, {cuts} cuts, {restarts} restarts"
    );
    assert!(
        read_by_client <= bound,
        "read {read_by_client} bytes for {total}"
    );
    assert!(down <= wire_bound, "received {down} bytes for {total}");
    let store = Store::open(&vdb).unwrap();
    for h in &hashes {
        let info = store.blob(h).unwrap().unwrap();
        assert_eq!(info.state, BlobState::Cached);
        let p = store.photo_path(h).unwrap().unwrap();
        assert_eq!(&sha(&std::fs::read(p).unwrap()), h);
    }
    assert_no_part_files(&store.blob_dir());
}

fn assert_no_part_files(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".part"), "left over: {name}");
    }
}

#[test]
fn damaged_chunks_damaged_downloads_and_wrong_hashes_are_caught() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let dev = Device::enroll(&server, &server.url, dir.path(), "member-a1");
    let bytes = photo(300_000, 9);
    let path = dir.path().join("p.jpg");
    std::fs::write(&path, &bytes).unwrap();
    let case = dev
        .store
        .create_case(NewCase::new(Category::Waste, Urgency::Normal, "堆物", "G1"))
        .unwrap();
    let h = dev.store.add_photo_to_case(&case, &path).unwrap();
    // The document goes first (the server takes only photos a document references), but
    // upload by hand to damage it on the way.
    let rt = runtime();
    let c = client(&server.url);
    let auth = format!("Bearer {}", dev.token());
    let put = |offset: usize, size: usize, body: &[u8], digest: Option<String>| {
        let mut headers = vec![("Authorization", auth.as_str())];
        let d;
        if let Some(x) = digest {
            d = x;
            headers.push(("x-chunk-sha256", d.as_str()));
        }
        http(
            server.addr,
            "PUT",
            &format!("/v1/blobs/{h}?offset={offset}&size={size}"),
            &headers,
            body,
        )
        .unwrap()
    };
    let status = || -> BlobStatus {
        let r = http(
            server.addr,
            "GET",
            &format!("/v1/blobs/{h}/status"),
            &[("Authorization", auth.as_str())],
            b"",
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.error_code());
        serde_json::from_slice(&r.body).unwrap()
    };
    // Before its document reached the server, the photo is refused.
    assert_eq!(put(0, bytes.len(), &bytes[..1000], None).status, 403);
    // Sync the document only: the upload pass is cut short by a stopper at once.
    let l = stopper(1);
    rt.block_on(async {
        tokio::select! {
            r = c.sync(&dev.store, Some(&*l)) => { r.unwrap(); }
            _ = l.stop.notified() => {}
        }
    });
    // A chunk that was in flight when the client stopped may still land.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let start = status();
    assert!(!start.complete);
    let off = start.offset as usize;

    // A chunk damaged on the way: its digest does not match, nothing is stored.
    let mut chunk = bytes[off..off + 50_000].to_vec();
    let digest = sha(&chunk);
    chunk[100] ^= 1;
    let r = put(off, bytes.len(), &chunk, Some(digest));
    assert_eq!((r.status, r.error_code().as_str()), (422, "chunk_mismatch"));
    assert_eq!(status().offset as usize, off);

    // Bytes that do not hash to the name (no chunk digests to catch it early): the last
    // chunk fails the whole-photo check and everything is discarded.
    let mut wrong = bytes.clone();
    wrong[200_000] ^= 1;
    assert_eq!(
        put(off, bytes.len(), &wrong[off..150_000], None).status,
        200
    );
    let r = put(150_000, bytes.len(), &wrong[150_000..], None);
    assert_eq!((r.status, r.error_code().as_str()), (422, "hash_mismatch"));
    assert_eq!(status(), BlobStatus::default());
    let r = http(
        server.addr,
        "GET",
        &format!("/v1/blobs/{h}"),
        &[("Authorization", auth.as_str())],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 404, "nothing half-made is served");

    // The client itself then uploads it whole.
    let report = rt.block_on(c.sync(&dev.store, None)).unwrap();
    assert_eq!(report.blobs_uploaded, 1);
    assert!(status().complete);
    // A second upload of the same bytes is deduplicated: nothing is sent.
    let again = rt
        .block_on(c.upload_blobs(&dev.store, DEFAULT_CHUNK_BYTES, None))
        .unwrap();
    assert_eq!((again.uploaded, again.bytes_sent), (0, 0));

    // A download whose bytes are damaged on the way (a byte flipped in the reply on every
    // new connection) fails its hash check, is discarded and fetched again: the device
    // keeps only the true bytes.
    let proxy = Link::cutting(server.addr, 0, CutAt::BothWays(200_000));
    proxy.set_corrupt_percent(100);
    let viewer_dir = tempfile::tempdir().unwrap();
    let viewer = Device::enroll(&server, &server.url, viewer_dir.path(), "lead-c1");
    viewer.sync();
    let vc = client(&proxy.url());
    let l = stopper(u64::MAX);
    let path = rt
        .block_on(vc.fetch_blob(&viewer.store, &h, Some(&*l)))
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert!(proxy.corrupted() >= 1);
    assert!(
        l.received.load(Ordering::SeqCst) > bytes.len() as u64,
        "the damaged copy was thrown away and fetched again"
    );
    assert_no_part_files(&viewer.store.blob_dir());
    // A part file that is wrong and whole (a damaged disk) is caught the same way.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Device::enroll(&server, &server.url, other_dir.path(), "admin");
    std::fs::create_dir_all(other.store.blob_dir()).unwrap();
    std::fs::write(
        other.store.blob_dir().join(format!("{h}.part")),
        vec![0u8; bytes.len()],
    )
    .unwrap();
    let oc = client(&server.url);
    let path = rt.block_on(oc.fetch_blob(&other.store, &h, None)).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);

    // Refusals of type and size are typed.
    let text = b"not a photo at all, just words";
    let fake = sha(text);
    let r = http(
        server.addr,
        "PUT",
        &format!("/v1/blobs/{fake}?offset=0&size={}", text.len()),
        &[("Authorization", auth.as_str())],
        text,
    )
    .unwrap();
    assert_eq!(r.status, 403, "unreferenced: refused before anything else");
    // Referenced by a (hostile) document, it is still no photo.
    assert!(forge_photo_reference(&server, &dev, &case, &fake).ok);
    rt.block_on(c.sync(&dev.store, None)).unwrap();
    let r = http(
        server.addr,
        "PUT",
        &format!("/v1/blobs/{fake}?offset=0&size={}", text.len()),
        &[("Authorization", auth.as_str())],
        text,
    )
    .unwrap();
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (415, "unsupported_type")
    );
    let r = put(0, 30 << 20, &bytes[..1000], None);
    assert_eq!((r.status, r.error_code().as_str()), (413, "too_large"));
    let r = http(
        server.addr,
        "GET",
        "/v1/blobs/..%2f..%2fetc%2fpasswd",
        &[("Authorization", auth.as_str())],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 400);
}

/// A download is streamed from the store in bounded pieces, not buffered whole: eight
/// clients that request a 20 MiB photo and read nothing leave the server's memory almost
/// where it was (buffered, they would hold 160 MiB).
#[test]
fn downloads_are_streamed_in_bounded_pieces() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let dev = Device::enroll(&server, &server.url, dir.path(), "member-a1");
    let bytes = photo(20 << 20, 3);
    let path = dir.path().join("big.jpg");
    std::fs::write(&path, &bytes).unwrap();
    let case = dev
        .store
        .create_case(NewCase::new(Category::Waste, Urgency::Normal, "堆物", "G1"))
        .unwrap();
    let h = dev.store.add_photo_to_case(&case, &path).unwrap();
    let c = client(&server.url);
    let rt = runtime();
    rt.block_on(c.sync(&dev.store, None)).unwrap();
    let report = rt
        .block_on(c.upload_blobs(&dev.store, 1 << 20, None))
        .unwrap();
    assert!(
        dev.store.pending_uploads().unwrap().is_empty(),
        "{report:?}"
    );
    // One whole read first, so whatever the server keeps after a download is counted.
    let auth = format!("Bearer {}", dev.token());
    let whole = http(
        server.addr,
        "GET",
        &format!("/v1/blobs/{h}"),
        &[("Authorization", auth.as_str())],
        b"",
    )
    .unwrap();
    assert_eq!(whole.body.len(), bytes.len());
    assert_eq!(sha(&whole.body), h);
    let before = server.memory_kib();
    let stalled: Vec<std::net::TcpStream> = (0..8)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(server.addr).unwrap();
            std::io::Write::write_all(
                &mut s,
                format!("GET /v1/blobs/{h} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
            s
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let during = server.memory_kib();
    drop(stalled);
    println!("server memory: {before} KiB before, {during} KiB with 8 stalled 20 MiB downloads");
    assert!(before > 0, "the server's memory is read from /proc");
    assert!(
        during < before + 64 * 1024,
        "memory grew from {before} KiB to {during} KiB"
    );
}
