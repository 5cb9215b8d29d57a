//! Photo transfer on loopback: chunked, resumable upload throughput against a raw HTTP PUT
//! of the same bytes, and the bytes re-sent when the connection is cut N times.
//!
//! `cargo bench -p outpost-tests --bench blobs` (`BLOB_MB` sets the photo size, default 8).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use outpost_core::sync::blobs::{BlobUploadReport, DEFAULT_CHUNK_BYTES};
use outpost_core::sync::{SyncClient, SyncConfig};
use outpost_core::{Category, NewCase, Urgency};
use outpost_tests::cut_proxy::CutProxy;
use outpost_tests::harness::{Device, Server, city, fast, http};
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

fn main() {
    let mb: usize = std::env::var("BLOB_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let size = mb << 20;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let dev = Device::enroll(&server, &server.url, dir.path(), "member-a1");

    // Baseline: one raw PUT of the same bytes to a bare HTTP sink, and to nothing at all.
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

    // Also returns the photo's bytes left to send when the timed upload starts (the
    // document's sync may have sent a chunk or two).
    let upload = |url: &str, chunk: usize, retries: u32| -> (BlobUploadReport, Duration, u64) {
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
        (r, t.elapsed(), size as u64 - before)
    };

    for chunk in [DEFAULT_CHUNK_BYTES, 256 << 10, 1 << 20] {
        let mut best = Duration::MAX;
        for _ in 0..2 {
            let (r, d, _) = upload(&server.url, chunk, 2);
            assert_eq!(r.uploaded, 1);
            best = best.min(d);
        }
        println!(
            "chunked upload, {mb} MiB in {} KiB chunks: {:.1} ms, {:.0} MiB/s ({:.0}% of raw PUT)",
            chunk >> 10,
            best.as_secs_f64() * 1e3,
            mbps(size, best),
            100.0 * raw.as_secs_f64() / best.as_secs_f64()
        );
    }

    // Interruptions: every connection is cut at a random byte within three chunks.
    for cut_percent in [0u32, 100] {
        let proxy = CutProxy::start(server.addr, cut_percent, 3 * DEFAULT_CHUNK_BYTES as u64);
        let (r, d, left) = upload(&proxy.url(), DEFAULT_CHUNK_BYTES, 1000);
        assert_eq!(r.uploaded, 1, "{r:?}");
        let (up, _) = proxy.bytes();
        let cuts = proxy.cuts();
        let extra = up.saturating_sub(left);
        println!(
            "through a proxy cutting {cut_percent}% of connections: {cuts} interruptions, {up} bytes up for {left} ({extra} extra, {:.1}% of the photo; {} per interruption), {:.0} ms",
            100.0 * extra as f64 / size as f64,
            extra
                .checked_div(cuts)
                .map(|b| format!("{b} B"))
                .unwrap_or_else(|| "-".into()),
            d.as_secs_f64() * 1e3
        );
    }
}
