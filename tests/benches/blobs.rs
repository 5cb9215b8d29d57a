//! Photo transfer on loopback, on SQLite and (with `OUTPOST_TEST_DATABASE`) PostgreSQL in
//! the same run: chunked, resumable upload throughput against a raw HTTP PUT of the same
//! bytes to a bare sink, a streamed whole-photo download, and the bytes re-sent when the
//! connection is cut N times.
//!
//! `cargo bench -p outpost-tests --bench blobs` (`BLOB_MB` sets the photo size, default 8;
//! `scripts/suites/postgres.sh` shows how to get a throwaway PostgreSQL).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use outpost_core::sync::blobs::{BlobUploadReport, DEFAULT_CHUNK_BYTES};
use outpost_core::sync::{SyncClient, SyncConfig};
use outpost_core::{Category, NewCase, Urgency};
use outpost_tests::harness::{Device, Server, city, fast, http, test_database};
use outpost_tests::link::{CutAt, Link};
use rand::Rng;

fn photo(len: usize) -> Vec<u8> {
    let mut rng = rand::rng();
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
    v.extend((4..len).map(|_| rng.random::<u8>()));
    v
}

/// A bare HTTP/1.1 sink: reads one request's body per connection and answers 200.
fn raw_sink() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                {
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some(v) = l
                            .to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_string())
                        {
                            len = v.parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0u8; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let _ = w.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    );
                }
            });
        }
    });
    addr
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / (1 << 20) as f64
}

/// What one backend's run measured, for the closing table.
struct Figures {
    backend: &'static str,
    /// (chunk size, MiB/s) of the chunked uploads.
    uploads: Vec<(usize, f64)>,
    /// MiB/s of a whole-photo download (streamed in pieces).
    download: f64,
}

fn main() {
    let mb: usize = std::env::var("BLOB_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let size = mb << 20;
    // Baseline: one raw PUT of the same bytes to a bare HTTP sink, best of three.
    let sink = raw_sink();
    let bytes = photo(size);
    let mut raw = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let resp = http(sink, "PUT", "/x", &[], &bytes).unwrap();
        assert_eq!(resp.status, 200);
        raw = raw.min(t.elapsed());
    }
    println!(
        "raw HTTP PUT, {mb} MiB to a bare sink: {:.1} ms, {:.0} MiB/s",
        raw.as_secs_f64() * 1e3,
        mbps(size, raw)
    );
    let pg = test_database();
    // SQLite first, with the variable hidden from the harness.
    // SAFETY: set before any thread of this program reads the environment (the sink
    // thread only serves sockets).
    unsafe { std::env::remove_var("OUTPOST_TEST_DATABASE") };
    let mut all = vec![backend("sqlite", mb, raw)];
    match pg {
        Some(url) => {
            // SAFETY: the threads of the previous run read no environment.
            unsafe { std::env::set_var("OUTPOST_TEST_DATABASE", &url) };
            all.push(backend("postgres", mb, raw));
        }
        None => println!("(set OUTPOST_TEST_DATABASE=postgres://… for PostgreSQL)"),
    }
    println!("\n| backend | upload 64 KiB chunks | 256 KiB | 1 MiB | raw PUT | download |");
    println!("|---|---|---|---|---|---|");
    for f in &all {
        let cells: Vec<String> = f
            .uploads
            .iter()
            .map(|(_, m)| format!("{m:.0} MiB/s ({:.0}%)", 100.0 * m / mbps(size, raw)))
            .collect();
        println!(
            "| {} | {} | {:.0} MiB/s | {:.0} MiB/s |",
            f.backend,
            cells.join(" | "),
            mbps(size, raw),
            f.download
        );
    }
}

/// Uploads and downloads of `mb` MiB photos on a server of this backend.
fn backend(name: &'static str, mb: usize, raw: Duration) -> Figures {
    let size = mb << 20;
    println!("== {name}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let dev = Device::enroll(&server, &server.url, dir.path(), "member-a1");

    // Also returns the photo's hash and bytes left to send when the timed upload starts
    // (the document's sync may have sent a chunk or two).
    let upload =
        |url: &str, chunk: usize, retries: u32| -> (BlobUploadReport, Duration, u64, String) {
            let path = dir.path().join(format!("{}.jpg", rand::random::<u64>()));
            std::fs::write(&path, photo(size)).unwrap();
            dev.store
                .create_case_with_photos(
                    NewCase::new(Category::Waste, Urgency::Normal, "bench", "G1"),
                    &[&path],
                )
                .unwrap();
            let mut cfg = fast(SyncConfig::new(url));
            cfg.retries = retries;
            cfg.backoff_base = Duration::from_millis(1);
            cfg.backoff_max = Duration::from_millis(2);
            let c = SyncClient::new(cfg).unwrap();
            // The document first (not timed), then the photo.
            let direct = SyncClient::new(fast(SyncConfig::new(&server.url))).unwrap();
            let pending = dev.store.pending_uploads().unwrap();
            assert_eq!(pending.len(), 1);
            let _ = rt.block_on(async {
                // A sync pushes the case and would upload too; stop it at the first chunk.
                let stop = tokio::sync::Notify::new();
                struct L<'a>(&'a tokio::sync::Notify);
                impl outpost_core::sync::SyncListener for L<'_> {
                    fn progress(&self, p: &outpost_core::sync::SyncProgress) {
                        if p.blob_bytes_sent > 0 {
                            self.0.notify_one();
                        }
                    }
                }
                let l = L(&stop);
                tokio::select! {
                    r = direct.sync(&dev.store, Some(&l)) => r.map(|_| ()),
                    _ = stop.notified() => Ok(()),
                }
            });
            let before = dev.store.blob(&pending[0].hash).unwrap().unwrap().uploaded;
            let t = Instant::now();
            let r = rt
                .block_on(c.upload_blobs(&dev.store, chunk, None))
                .unwrap();
            (
                r,
                t.elapsed(),
                size as u64 - before,
                pending[0].hash.clone(),
            )
        };

    // One untimed upload first: connections, statement caches and the database's pages
    // warm up before anything is measured.
    let (r, _, _, _) = upload(&server.url, DEFAULT_CHUNK_BYTES, 2);
    assert_eq!(r.uploaded, 1);
    let mut uploads = Vec::new();
    let mut last = String::new();
    for chunk in [DEFAULT_CHUNK_BYTES, 256 << 10, 1 << 20] {
        let mut best = f64::MAX;
        for _ in 0..3 {
            let (r, d, left, hash) = upload(&server.url, chunk, 2);
            assert_eq!(r.uploaded, 1);
            // MiB/s of what this timed upload sent.
            best = best.min(d.as_secs_f64() / left as f64);
            last = hash;
        }
        let speed = 1.0 / best / (1 << 20) as f64;
        println!(
            "{name}: chunked upload, {mb} MiB in {} KiB chunks: {:.0} MiB/s ({:.0}% of raw PUT)",
            chunk >> 10,
            speed,
            100.0 * speed / mbps(size, raw)
        );
        uploads.push((chunk, speed));
    }

    // A whole-photo download, streamed from the store in pieces.
    let auth = format!("Bearer {}", dev.token());
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let r = http(
            server.addr,
            "GET",
            &format!("/v1/blobs/{last}"),
            &[("Authorization", auth.as_str())],
            b"",
        )
        .unwrap();
        assert_eq!((r.status, r.body.len()), (200, size));
        best = best.min(t.elapsed());
    }
    let download = mbps(size, best);
    println!("{name}: download of {mb} MiB: {download:.0} MiB/s");

    // Interruptions: every connection is cut at a random byte within three chunks.
    for cut_percent in [0u32, 100] {
        let proxy = Link::cutting(
            server.addr,
            cut_percent,
            CutAt::BothWays(3 * DEFAULT_CHUNK_BYTES as u64),
        );
        let (r, d, left, _) = upload(&proxy.url(), DEFAULT_CHUNK_BYTES, 1000);
        assert_eq!(r.uploaded, 1, "{r:?}");
        let (up, _) = proxy.bytes();
        let cuts = proxy.cuts();
        let extra = up.saturating_sub(left);
        println!(
            "{name}: through a proxy cutting {cut_percent}% of connections: {cuts} interruptions, {up} bytes up for {left} ({extra} extra, {:.1}% of the photo; {} per interruption), {:.0} ms",
            100.0 * extra as f64 / size as f64,
            extra
                .checked_div(cuts)
                .map(|b| format!("{b} B"))
                .unwrap_or_else(|| "-".into()),
            d.as_secs_f64() * 1e3
        );
    }
    Figures {
        backend: name,
        uploads,
        download,
    }
}
