//! Sync over links like a phone's, against real server processes: a life-safety flag does
//! not wait behind the outbox; a backlog of Chinese reports goes both ways on bad 2G in
//! round trips well within the time limit; stalls, refusals, closed connections and TLS
//! failures end in bounded time with messages that say which; a photo that cannot go does
//! not fail the documents; a fresh device's memory does not grow with what it syncs.
//!
//! Bounds are ratios and limits with margin: these run on a loaded 2-core machine. The
//! figures themselves are in `cargo bench -p outpost-tests --bench sync` (`links`).

use std::io::Read;
use std::net::TcpListener;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use outpost_core::sync::{SyncClient, SyncConfig, SyncError, SyncListener, SyncProgress};
use outpost_core::{Category, NewCase, Urgency};
use outpost_server::Storage;
use outpost_tests::arrival::time_to_server;
use outpost_tests::backlog;
use outpost_tests::harness::{Device, Server, city};
use outpost_tests::link::{Link, Profile, Stall};
use outpost_tests::process::{self, DeviceBin};

/// A device enrolled directly, whose client then talks through `link` with the default
/// settings (or `tune`d ones).
fn on_link(
    server: &Server,
    link: &Link,
    dir: &std::path::Path,
    member: &str,
    tune: impl FnOnce(&mut SyncConfig),
) -> Device {
    let mut d = Device::enroll(server, &server.url, dir, member);
    let url = link.url();
    d.configure(|c| {
        *c = SyncConfig::new(&url);
        tune(c);
    });
    d
}

fn client(url: &str, tune: impl FnOnce(&mut SyncConfig)) -> SyncClient {
    let mut cfg = SyncConfig::new(url);
    tune(&mut cfg);
    SyncClient::new(cfg).expect("client")
}

#[test]
fn a_life_safety_flag_behind_500_waiting_changes_arrives_about_as_fast_as_alone_on_2g() {
    let server = Server::start(&city());
    let link = Link::start(server.addr, Profile::EDGE);
    let dir = tempfile::tempdir().unwrap();
    let c = client(&link.url(), |_| {});
    let limit = Duration::from_secs(120);

    let alone = Device::enroll(&server, &server.url, dir.path(), "courier-1");
    let flag = alone
        .store
        .flag_person_in_distress("G1", None, Some("老人倒地"), None)
        .unwrap();
    let t_alone = time_to_server(&server, &c, &alone.store, &flag, limit);

    let busy = Device::enroll(&server, &server.url, dir.path(), "courier-2");
    backlog::reports(&busy.store, 500, "G1", 60);
    let flag = busy
        .store
        .flag_person_in_distress("G1", None, Some("老人倒地"), None)
        .unwrap();
    let t_behind = time_to_server(&server, &c, &busy.store, &flag, limit);
    eprintln!("2G: the flag alone {t_alone:?}, behind 500 changes {t_behind:?}");
    assert!(
        t_behind.as_secs_f64() <= 1.5 * t_alone.as_secs_f64(),
        "behind 500 changes the flag took {t_behind:?}, alone {t_alone:?}"
    );
}

/// Listens for progress: rounds and bytes in flight.
#[derive(Default)]
struct Seen {
    events: Mutex<Vec<SyncProgress>>,
}

impl SyncListener for Seen {
    fn progress(&self, p: &SyncProgress) {
        self.events.lock().unwrap().push(p.clone());
    }
}

#[test]
fn a_backlog_of_300_chinese_reports_is_pushed_on_bad_2g_in_round_trips_within_the_limit() {
    let server = Server::start(&city());
    let link = Link::start(server.addr, Profile::BAD_EDGE);
    let dir = tempfile::tempdir().unwrap();
    let writer = on_link(&server, &link, dir.path(), "member-b", |_| {});
    backlog::reports(&writer.store, 300, "G2", 600);
    let seen = Seen::default();
    let c = client(&link.url(), |_| {});
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(c.sync(&writer.store, Some(&seen))).unwrap();
    let (up, down) = link.bytes();
    let took = started.elapsed();
    let ideal = Profile::BAD_EDGE.ideal(up + down, r.round_trips);
    eprintln!(
        "bad 2G push: {took:?} (ideal {ideal:?}), {} round trips, longest {} ms, {} retries, {up} B up, {down} B down",
        r.round_trips, r.longest_round_ms, r.retries
    );
    assert_eq!(r.pushed_docs, 300);
    assert_eq!(r.timeouts, 0, "no request timed out: {r:?}");
    // The server gives a request 60 s; each took well under half of that.
    assert!(r.longest_round_ms < 30_000, "{r:?}");
    assert!(r.round_trips > 3, "a bad link gets small round trips");
    let on_server = server.storage().cases(Some(&["G2".to_string()])).unwrap();
    assert_eq!(on_server.len(), 300);
    assert!(writer.store.outbox(10).unwrap().is_empty());
    // Progress came while bodies moved, not only after each round trip.
    let events = seen.events.lock().unwrap();
    assert!(
        events.iter().any(|p| p.in_flight && p.bytes_sent > 0),
        "no progress while a request was being sent"
    );
    assert!(events.iter().filter(|p| !p.in_flight).count() >= r.round_trips);
}

#[test]
fn a_new_phone_pulls_300_chinese_reports_on_bad_2g_in_pages_within_the_limit() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    // The history is on the server already (pushed over loopback).
    let writer = Device::enroll(&server, &server.url, dir.path(), "member-b");
    let ids = backlog::reports(&writer.store, 300, "G2", 600);
    writer.sync();
    let link = Link::start(server.addr, Profile::BAD_EDGE);
    let reader = on_link(&server, &link, dir.path(), "lead-b", |_| {});
    let started = Instant::now();
    let r = reader.sync();
    let (up, down) = link.bytes();
    let took = started.elapsed();
    eprintln!(
        "bad 2G pull: {took:?} (ideal {:?}), {} round trips, longest {} ms, {} retries, {up} B up, {down} B down",
        Profile::BAD_EDGE.ideal(up + down, r.round_trips),
        r.round_trips,
        r.longest_round_ms,
        r.retries
    );
    assert_eq!(r.pulled_docs, 300);
    assert_eq!(r.timeouts, 0, "no request timed out: {r:?}");
    assert!(r.longest_round_ms < 30_000, "{r:?}");
    for id in &ids {
        assert_eq!(
            reader.store.case(id).unwrap(),
            writer.store.case(id).unwrap()
        );
    }
}

#[test]
fn a_stall_fails_within_a_minute_saying_it_timed_out_and_a_trickle_is_no_progress() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    // The server takes the request and never answers: default settings.
    let silent = Link::start(server.addr, Profile::NONE);
    let d = on_link(&server, &silent, dir.path(), "member-a1", |_| {});
    d.store
        .create_case(NewCase::new(Category::Waste, Urgency::Normal, "堆物", "G1"))
        .unwrap();
    silent.set_stalls(100, Stall::Silent { after: 0 });
    // Meanwhile: a server dripping a byte a second, with short limits.
    let drip = Link::start(server.addr, Profile::NONE);
    let e = on_link(&server, &drip, dir.path(), "member-a2", |c| {
        c.timeout = Duration::from_secs(3);
        c.give_up_after = Duration::from_secs(7);
    });
    drip.set_stalls(
        100,
        Stall::Drip {
            after: 0,
            every: Duration::from_millis(500),
        },
    );
    let dripping = std::thread::spawn(move || {
        let t = Instant::now();
        let err = e.try_sync().unwrap_err();
        (t.elapsed(), err)
    });
    let t = Instant::now();
    let err = d.try_sync().unwrap_err();
    let took = t.elapsed();
    eprintln!("stalled server: {took:?}: {err}");
    assert!(matches!(err, SyncError::TimedOut(_)), "{err:?}");
    assert!(err.to_string().starts_with("timed out"), "{err}");
    assert!(
        took >= Duration::from_secs(25) && took < Duration::from_secs(60),
        "gave up after {took:?}"
    );
    assert!(silent.stalls() >= 2, "it tried again before giving up");
    let (took, err) = dripping.join().unwrap();
    eprintln!("dripping server: {took:?}: {err}");
    assert!(matches!(err, SyncError::TimedOut(_)), "{err:?}");
    assert!(took < Duration::from_secs(12), "{took:?}");
}

/// A loopback listener that answers every connection with `answer` (nothing: hang up
/// after reading the request).
fn fake_server(answer: &'static [u8]) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = std::io::Write::write_all(&mut c, answer);
        }
    });
    addr
}

#[test]
fn refused_closed_tls_and_server_failures_each_say_what_happened() {
    let server = Server::start_with(&city(), &["--max-body", "4096"]);
    let dir = tempfile::tempdir().unwrap();
    let d = Device::enroll(&server, &server.url, dir.path(), "member-a1");
    let quick = |c: &mut SyncConfig| {
        c.retries = 1;
        c.backoff_base = Duration::from_millis(5);
        c.backoff_max = Duration::from_millis(10);
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sync_via = |url: &str| -> SyncError {
        rt.block_on(client(url, quick).sync(&d.store, None))
            .unwrap_err()
    };
    // Nothing listens.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let refused = sync_via(&format!("http://127.0.0.1:{port}"));
    // Something listens, reads the request and hangs up.
    let closed = sync_via(&format!("http://{}", fake_server(b"")));
    // A plain HTTP server spoken to with TLS.
    let tls = sync_via(&format!("https://{}", server.addr));
    // A server that fails, saying why.
    let failing = fake_server(
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 56\r\nconnection: close\r\n\r\n{\"error\":\"unavailable\",\"message\":\"the database is away\"}",
    );
    let failed = sync_via(&format!("http://{failing}"));
    // A report too large for the server's body limit, alone in its request.
    let mut c = NewCase::new(Category::Waste, Urgency::Normal, "堆物", "G1");
    c.description = backlog::chinese_text(3000, 1);
    d.store.create_case(c).unwrap();
    let too_large = sync_via(&server.url);
    for e in [&refused, &closed, &tls, &failed, &too_large] {
        eprintln!("{e:?}\n  {e}");
    }
    assert!(matches!(refused, SyncError::Refused(_)), "{refused:?}");
    assert!(
        refused.to_string().contains("refused the connection"),
        "{refused}"
    );
    assert!(matches!(closed, SyncError::Closed(_)), "{closed:?}");
    assert!(closed.to_string().contains("closed"), "{closed}");
    assert!(matches!(tls, SyncError::Tls(_)), "{tls:?}");
    assert!(tls.to_string().contains("TLS"), "{tls}");
    assert!(
        matches!(&failed, SyncError::Server { status: 503, code, .. } if code == "unavailable"),
        "{failed:?}"
    );
    assert!(
        failed.to_string().contains("503, unavailable") && failed.to_string().contains("away"),
        "{failed}"
    );
    assert!(
        matches!(&too_large, SyncError::Rejected { status: 413, code, .. } if code == "too_large"),
        "{too_large:?}"
    );
    let texts: std::collections::BTreeSet<String> = [&refused, &closed, &tls, &failed]
        .iter()
        .map(|e| e.to_string().split(':').next().unwrap().to_string())
        .collect();
    assert_eq!(texts.len(), 4, "each failure reads differently: {texts:?}");
}

#[test]
fn a_push_over_the_servers_body_limit_goes_again_in_smaller_requests() {
    let server = Server::start_with(&city(), &["--max-body", "65536"]);
    let dir = tempfile::tempdir().unwrap();
    let d = Device::enroll(&server, &server.url, dir.path(), "member-a1");
    for i in 0..60 {
        let mut c = NewCase::new(Category::Waste, Urgency::Normal, "堆物", "G1");
        c.description = backlog::chinese_text(2000, i);
        d.store.create_case(c).unwrap();
    }
    let r = d.sync();
    assert_eq!(r.pushed_docs, 60, "{r:?}");
    assert!(r.bytes_sent > 65_536, "together over the limit: {r:?}");
}

#[test]
fn life_safety_photos_go_before_other_documents_and_a_failed_photo_does_not_fail_the_sync() {
    let server = Server::start(&city());
    let link = Link::start(server.addr, Profile::NONE);
    let dir = tempfile::tempdir().unwrap();
    let d = on_link(&server, &link, dir.path(), "member-a1", |c| {
        c.retries = 2;
        c.backoff_base = Duration::from_millis(5);
        c.backoff_max = Duration::from_millis(20);
    });
    let photo = |i: u8| {
        let p = dir.path().join(format!("p{i}.jpg"));
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
        bytes.extend((0..40_000u32).map(|k| (k as u8).wrapping_mul(13) ^ i));
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let fire = d
        .store
        .create_case_with_photos(
            NewCase::new(Category::FireHazard, Urgency::LifeSafety, "楼道起火", "G1"),
            &[photo(1)],
        )
        .unwrap();
    let normal = d
        .store
        .create_case_with_photos(
            NewCase::new(Category::Waste, Urgency::Normal, "堆物", "G1"),
            &[photo(2)],
        )
        .unwrap();
    backlog::reports(&d.store, 30, "G1", 60);

    /// Loses the signal once the documents are through and the photo pass begins.
    struct Order<'a> {
        link: &'a Link,
        events: Mutex<Vec<SyncProgress>>,
        cut_after_docs: bool,
    }
    impl SyncListener for Order<'_> {
        fn progress(&self, p: &SyncProgress) {
            let mut ev = self.events.lock().unwrap();
            ev.push(p.clone());
            // After the last documents' round trip, before the other photos.
            if self.cut_after_docs && !p.in_flight && !p.more && p.pushed_docs == 32 {
                self.link.sever();
            }
        }
    }
    let l = Order {
        link: &link,
        events: Mutex::new(Vec::new()),
        cut_after_docs: true,
    };
    let c = client(&link.url(), |c| {
        c.retries = 2;
        c.backoff_base = Duration::from_millis(5);
        c.backoff_max = Duration::from_millis(20);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(c.sync(&d.store, Some(&l))).unwrap();
    // The life-safety photo went while only the life-safety case was pushed.
    let events = l.events.lock().unwrap();
    let first_photo = events.iter().find(|p| p.blob_bytes_sent > 0).unwrap();
    assert_eq!(first_photo.pushed_docs, 1, "{events:?}");
    drop(events);
    // The signal went when the second photo's upload began: the documents are all
    // acknowledged, the failure is reported, and the photo waits.
    assert_eq!(r.pushed_docs, 32);
    assert_eq!(r.blobs_uploaded, 1, "{r:?}");
    let err = r.blob_error.clone().expect("the failed upload is reported");
    eprintln!("photo upload stopped: {err}");
    assert!(
        matches!(
            err,
            SyncError::Closed(_) | SyncError::Network(_) | SyncError::Refused(_)
        ),
        "{err:?}"
    );
    let waiting = d.store.pending_uploads().unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(
        d.store.case(&normal).unwrap().attachments,
        [waiting[0].hash.clone()]
    );
    assert!(server.storage().change_count(Some(&fire)).unwrap() > 0);
    // Signal back: the photo goes.
    link.set_cut_percent(0);
    let r = rt.block_on(c.sync(&d.store, None)).unwrap();
    assert_eq!((r.blobs_uploaded, r.blob_error), (1, None));
    assert!(d.store.pending_uploads().unwrap().is_empty());
}

#[test]
fn a_fresh_devices_peak_memory_does_not_grow_with_the_cases_it_pulls_or_pushes() {
    const LIMIT_KB: u64 = 64 * 1000 * 1000 / 1024;
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let writer = Device::enroll(&server, &server.url, dir.path(), "member-a1");
    backlog::reports(&writer.store, 1000, "G1", 200);
    writer.sync();
    // A fresh device process pulls all of it.
    let reader = Device::enroll(&server, &server.url, dir.path(), "member-a2");
    let db = reader.db.clone();
    drop(reader);
    let pull = process::sync(&DeviceBin::Current, &db);
    assert!(pull.ok, "{}", pull.output);
    // Another pushes 1,000 of its own.
    let pusher = Device::enroll(&server, &server.url, dir.path(), "lead-c1");
    backlog::reports(&pusher.store, 1000, "G2", 200);
    let db = pusher.db.clone();
    drop(pusher);
    let push = process::sync(&DeviceBin::Current, &db);
    assert!(push.ok, "{}", push.output);
    let (pulled, pushed) = (pull.peak_rss_kb.unwrap(), push.peak_rss_kb.unwrap());
    eprintln!("peak RSS: pulling 1,000 cases {pulled} KiB, pushing 1,000 {pushed} KiB");
    assert!(pull.output.contains("pulled=1000"), "{}", pull.output);
    assert!(push.output.contains("pushed=1000"), "{}", push.output);
    assert!(pulled <= LIMIT_KB, "pulling 1,000 cases took {pulled} KiB");
    assert!(pushed <= LIMIT_KB, "pushing 1,000 cases took {pushed} KiB");
}
