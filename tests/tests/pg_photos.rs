//! Photos on PostgreSQL: the photo store contract (`outpost_tests::photo_contract`), and
//! two `outpost-server` processes on one database acting as one photo server: an upload cut
//! midway through one process resumes through the other, both serve the whole photo and any
//! range, and both apply the same access rules.
//!
//! PostgreSQL only: `scripts/suites/postgres.sh` runs this target with
//! `OUTPOST_TEST_DATABASE` set (`test = false` in Cargo.toml keeps it out of plain `cargo
//! test`); without the variable every test fails and says why.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use outpost_core::sync::blobs::{BlobStatus, DEFAULT_CHUNK_BYTES, sha256_hex};
use outpost_core::sync::{SyncClient, SyncConfig, SyncListener, SyncProgress};
use outpost_core::{Category, NewCase, Urgency};
use outpost_server::blobs::{BlobStore, PostgresBlobStore, UploadPolicy};
use outpost_tests::harness::{Device, Server, TestDb, city, fast, http, test_database};
use outpost_tests::photo_contract::{Backend, photo};

fn pg() -> String {
    test_database().expect(
        "these tests need PostgreSQL: run scripts/suites/postgres.sh, or set \
         OUTPOST_TEST_DATABASE=postgres://user@host:port/postgres",
    )
}

/// A database of its own for each contract case; every store opened on it shares it.
struct Postgres(TestDb);

impl Backend for Postgres {
    fn open(&self, policy: UploadPolicy) -> Box<dyn BlobStore> {
        Box::new(PostgresBlobStore::open_with(&self.0.url, policy).expect("open photo store"))
    }
}

fn postgres() -> Postgres {
    Postgres(TestDb::create(&pg()))
}

mod contract {
    use super::postgres;
    outpost_tests::photo_contract_tests!(postgres);
}

/// Points the device at another server process.
fn via(d: &mut Device, s: &Server) {
    let url = s.url.clone();
    d.configure(|c| c.server_url = url);
}

fn status(s: &Server, token: &str, h: &str) -> (u16, Option<BlobStatus>) {
    let r = http(
        s.addr,
        "GET",
        &format!("/v1/blobs/{h}/status"),
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    )
    .unwrap();
    (r.status, serde_json::from_slice(&r.body).ok())
}

fn get(s: &Server, token: &str, h: &str, range: Option<&str>) -> outpost_tests::harness::Reply {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Authorization", auth.as_str())];
    if let Some(r) = range {
        headers.push(("Range", r));
    }
    http(s.addr, "GET", &format!("/v1/blobs/{h}"), &headers, b"").unwrap()
}

/// Stops a sync at its first acknowledged photo chunk.
struct FirstChunk(tokio::sync::Notify);

impl SyncListener for FirstChunk {
    fn progress(&self, p: &SyncProgress) {
        if p.blob_bytes_sent > 0 {
            self.0.notify_one();
        }
    }
}

#[test]
fn an_upload_cut_midway_through_one_process_resumes_through_the_other() {
    pg();
    let a = Server::start(&city());
    let b = a.start_replica(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut owner = Device::enroll(&a, &a.url, dir.path(), "member-a1");
    let viewer = Device::enroll(&a, &b.url, dir.path(), "member-a2");
    let lead = Device::enroll(&a, &a.url, dir.path(), "lead-c1");
    let stranger = Device::enroll(&a, &b.url, dir.path(), "member-b");

    // 2.3 MB: more than two of the pieces a download is streamed in.
    let bytes = photo(2_300_000, 77);
    let size = bytes.len();
    let h = sha256_hex(&bytes);
    let case = owner
        .store
        .create_case(NewCase::new(Category::Waste, Urgency::Normal, "堆物", "G1"))
        .unwrap();
    let file = dir.path().join("p.jpg");
    std::fs::write(&file, &bytes).unwrap();
    assert_eq!(owner.store.add_photo_to_case(&case, &file).unwrap(), h);

    // Through A: the document, then the upload, stopped after its first chunk.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = SyncClient::new(fast(SyncConfig::new(&a.url))).unwrap();
    let stop = FirstChunk(tokio::sync::Notify::new());
    rt.block_on(async {
        tokio::select! {
            r = client.sync(&owner.store, Some(&stop)) => { r.unwrap(); }
            _ = stop.0.notified() => {}
        }
    });
    drop(client);
    std::thread::sleep(Duration::from_millis(300)); // a chunk in flight may still land
    let token = owner.token();
    let auth = format!("Bearer {token}");
    let (code, st) = status(&a, &token, &h);
    assert_eq!(code, 200);
    let mut offset = st.unwrap().offset as usize;
    assert!(offset > 0 && offset < size, "stopped midway: {offset}");
    // Two more chunks by hand through A, then one cut off inside its body.
    for _ in 0..2 {
        let end = (offset + DEFAULT_CHUNK_BYTES).min(size);
        let digest = sha256_hex(&bytes[offset..end]);
        let r = http(
            a.addr,
            "PUT",
            &format!("/v1/blobs/{h}?offset={offset}&size={size}"),
            &[("Authorization", &auth), ("x-chunk-sha256", &digest)],
            &bytes[offset..end],
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.error_code());
        offset = end;
    }
    {
        let mut cut = TcpStream::connect(a.addr).unwrap();
        write!(
            cut,
            "PUT /v1/blobs/{h}?offset={offset}&size={size} HTTP/1.1\r\nHost: x\r\n\
             Authorization: {auth}\r\nContent-Length: {DEFAULT_CHUNK_BYTES}\r\n\r\n"
        )
        .unwrap();
        cut.write_all(&bytes[offset..offset + 10_000]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    // Both processes know the acknowledged offset: the cut chunk left nothing behind.
    for s in [&a, &b] {
        let (code, st) = status(s, &token, &h);
        assert_eq!((code, st.map(|x| x.offset)), (200, Some(offset as u64)));
    }

    // Meanwhile another device that sees the case squats the photo through B with a wrong
    // size and wrong bytes: its upload is its own, the owner's proceeds.
    let squat = photo(100_000, 3);
    let r = http(
        b.addr,
        "PUT",
        &format!("/v1/blobs/{h}?offset=0&size={}", size + 1),
        &[("Authorization", &format!("Bearer {}", viewer.token()))],
        &squat,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.error_code());

    // The device resumes through B from the acknowledged offset, sending nothing twice.
    via(&mut owner, &b);
    let report = owner.sync();
    assert_eq!(report.blobs_uploaded, 1, "{:?}", report.blobs_failed);
    assert_eq!(report.blob_bytes_sent, (size - offset) as u64);

    // Both processes serve the whole photo and any range, to those who see the case.
    let ranges: [(&str, usize, usize); 6] = [
        ("bytes=0-0", 0, 1),
        ("bytes=65535-65536", 65_535, 65_537),
        ("bytes=1048575-1048577", 1_048_575, 1_048_578),
        ("bytes=1000-2299999", 1000, size),
        ("bytes=2299999-", size - 1, size),
        ("bytes=2097150-", 2_097_150, size),
    ];
    for s in [&a, &b] {
        for dev in [&owner, &viewer, &lead] {
            let r = get(s, &dev.token(), &h, None);
            assert_eq!(r.status, 200, "{} via {}", dev.name, s.url);
            assert_eq!(r.body, bytes);
            assert_eq!(r.header("content-length"), Some(size.to_string().as_str()));
            assert_eq!(
                status(s, &dev.token(), &h).1,
                Some(BlobStatus {
                    offset: size as u64,
                    complete: true
                })
            );
        }
        for (range, from, to) in ranges {
            let r = get(s, &viewer.token(), &h, Some(range));
            assert_eq!(r.status, 206, "{range} via {}", s.url);
            assert_eq!(r.body, &bytes[from..to], "{range} via {}", s.url);
            assert_eq!(
                r.header("content-range"),
                Some(format!("bytes {from}-{}/{size}", to - 1).as_str())
            );
        }
        assert_eq!(
            get(s, &viewer.token(), &h, Some(&format!("bytes={size}-"))).status,
            416
        );
        // The same access rules on both: a device that may not see the case gets 403.
        assert_eq!(get(s, &stranger.token(), &h, None).status, 403);
        assert_eq!(status(s, &stranger.token(), &h).0, 403);
        let r = http(
            s.addr,
            "PUT",
            &format!("/v1/blobs/{h}?offset=0&size={size}"),
            &[("Authorization", &format!("Bearer {}", stranger.token()))],
            &bytes[..1000],
        )
        .unwrap();
        assert_eq!(r.status, 403);
    }
}
