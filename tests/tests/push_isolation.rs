//! One device's push cannot hold anyone else's: pushes are judged outside the write lock,
//! written in short transactions, one at a time per device, and the work of a push whose
//! request timed out stops. Against a real server process on loopback.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use outpost_core::sync::wire::{PROTOCOL_VERSION, PushDoc, SyncRequest};
use outpost_core::{Category, EventKind, NewCase, Urgency};
use outpost_server::Storage;
use outpost_tests::harness::{Device, Reply, Server, city, parse_reply, raw_sync};

/// A courier's many cases, each with a long history: a push that is expensive to judge.
fn heavy_push(d: &Device, cases: usize, comments: usize) -> Vec<PushDoc> {
    let news: Vec<NewCase> = (0..cases)
        .map(|i| NewCase::new(Category::Noise, Urgency::Normal, &format!("吵闹 {i}"), "G2"))
        .collect();
    let ids = d.store.create_cases(&news).unwrap();
    for id in &ids {
        for k in 0..comments {
            d.store
                .record(
                    id,
                    EventKind::Comment {
                        text: format!("又开始了，第{k}次"),
                    },
                )
                .unwrap();
        }
    }
    ids.iter()
        .map(|id| PushDoc {
            id: id.clone(),
            changes: d
                .store
                .changes_since(id, &[])
                .unwrap()
                .into_iter()
                .map(serde_bytes::ByteBuf::from)
                .collect(),
        })
        .collect()
}

/// A sync request that may take long: the harness's client gives up after 20 s.
fn long_sync(addr: std::net::SocketAddr, token: &str, req: &SyncRequest) -> Reply {
    use std::io::{Read, Write};
    let body = outpost_core::sync::wire::to_cbor(req);
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
    let head = format!(
        "POST /v1/sync HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/cbor\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_reply(&raw).unwrap()
}

fn push_request(docs: Vec<PushDoc>) -> SyncRequest {
    SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: String::new(),
        max_bytes: 16 << 10,
        push: docs,
    }
}

/// A new small case, synced: a tiny push, the same work every time. Its latency.
fn tiny_push(d: &Device, n: usize) -> Duration {
    d.store
        .create_case(NewCase::new(
            Category::Waste,
            Urgency::Normal,
            &format!("楼道堆物 {n}"),
            "G1",
        ))
        .unwrap();
    let t = Instant::now();
    let r = d.sync();
    let took = t.elapsed();
    assert_eq!((r.pushed_changes, r.refused.len()), (1, 0));
    took
}

/// The tests of this file measure time: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[((v.len() as f64 * 0.99) as usize).min(v.len() - 1)]
}

/// One measurement: the tiny push's usual p99, then its latencies while a hostile push is
/// judged and stored.
struct Round {
    usual: Duration,
    during: Vec<Duration>,
    hostile_changes: usize,
    hostile_took: Duration,
}

const SAMPLES: usize = 60;

fn measure(server: &Server, hostile: &Device, member: &Device, first: usize) -> Round {
    let t = Instant::now();
    let docs = heavy_push(hostile, 200, 12);
    let hostile_changes: usize = docs.iter().map(|d| d.changes.len()).sum();
    println!(
        "{hostile_changes} hostile changes made in {:?}",
        t.elapsed()
    );

    // The tiny push's usual latency, in this run.
    let usual: Vec<Duration> = (first..first + SAMPLES)
        .map(|n| tiny_push(member, n))
        .collect();
    let usual = p99(usual);

    // The same while the hostile push is judged and stored.
    let busy = AtomicBool::new(true);
    let (during, hostile_took) = std::thread::scope(|s| {
        let token = hostile.token();
        let addr = server.addr;
        let busy = &busy;
        let heavy = s.spawn(move || {
            let t = Instant::now();
            let reply = long_sync(addr, &token, &push_request(docs));
            busy.store(false, Ordering::SeqCst);
            assert_eq!(reply.status, 200, "{}", reply.error_code());
            let acks = outpost_core::sync::wire::decode_body::<
                outpost_core::sync::wire::SyncResponse,
            >(&reply.body, false, 64 << 20)
            .unwrap()
            .acks;
            assert!(
                acks.iter().all(|a| a.ok),
                "{:?}",
                acks.iter().find(|a| !a.ok)
            );
            t.elapsed()
        });
        // Let the hostile push start its work first.
        std::thread::sleep(Duration::from_millis(300));
        let mut during = Vec::new();
        let mut n = first + SAMPLES;
        while busy.load(Ordering::SeqCst) && during.len() < SAMPLES {
            during.push(tiny_push(member, n));
            n += 1;
        }
        (during, heavy.join().unwrap())
    });
    assert!(
        during.len() >= 20,
        "the hostile push ({hostile_changes} changes) took only {hostile_took:?}: too short to measure"
    );
    Round {
        usual,
        during,
        hostile_changes,
        hostile_took,
    }
}

#[test]
fn a_hostile_push_does_not_hold_another_devices_tiny_push() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let hostile = Device::enroll(&server, &server.url, dir.path(), "courier-1");
    let member = Device::enroll(&server, &server.url, dir.path(), "member-a1");
    tiny_push(&member, 0);
    // A push that held the others would hold a tiny push for a good part of its own time
    // (seconds); sharing the CPU and the writer with it costs milliseconds. The bound is
    // a tenth of the hostile push's time, so a busy machine does not decide the outcome;
    // up to three rounds, the first within it passes. The p99 against the usual one is
    // printed as the figure.
    let (mut hostile_changes, mut tiny_pushes) = (0, 1);
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let round = measure(&server, &hostile, &member, tiny_pushes);
        hostile_changes += round.hostile_changes;
        tiny_pushes += SAMPLES + round.during.len();
        let slowest = round.during.iter().copied().max().unwrap_or_default();
        println!(
            "tiny push p99: usual {:?}, during a {}-change push ({:?}) {:?}, slowest {slowest:?}, over {} samples",
            round.usual,
            round.hostile_changes,
            round.hostile_took,
            p99(round.during.clone()),
            round.during.len()
        );
        let within = slowest * 10 <= round.hostile_took;
        rounds.push((slowest, round.hostile_took));
        if within {
            break;
        }
    }
    let (slowest, hostile_took) = *rounds.last().expect("a round");
    assert!(
        slowest * 10 <= hostile_took,
        "a tiny push waited more than a tenth of a hostile push's time in every round \
         (slowest tiny push, hostile push): {rounds:?}"
    );
    // Everything of both is stored: every small case, every hostile push whole.
    assert_eq!(
        server.storage().change_count(None).unwrap() as usize,
        hostile_changes + tiny_pushes
    );
}

#[test]
fn a_push_whose_request_timed_out_stops_working() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // One second for a push that takes several to judge.
    let server = Server::start_with(&city(), &["--request-timeout-secs", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let hostile = Device::enroll(&server, &server.url, dir.path(), "courier-1");
    let docs = heavy_push(&hostile, 150, 40);
    let changes: usize = docs.iter().map(|d| d.changes.len()).sum();
    let storage = server.storage();
    let reply = long_sync(server.addr, &hostile.token(), &push_request(docs.clone()));
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (408, "timeout")
    );
    // Within a document's time of the answer, the work stops: nothing more is stored, the
    // server goes idle.
    std::thread::sleep(Duration::from_millis(500));
    let stored = storage.change_count(None).unwrap() as usize;
    let cpu = server.cpu_time();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        storage.change_count(None).unwrap() as usize,
        stored,
        "still storing after the timeout"
    );
    let busy = server.cpu_time() - cpu;
    assert!(
        busy < Duration::from_millis(300),
        "the server kept working: {busy:?} of CPU"
    );
    assert!(
        stored < changes,
        "the whole push was done ({stored} of {changes})"
    );
    // The device's next push is not held by the abandoned one: what the abandoned push
    // stored is acknowledged as stored, the rest is stored now.
    let before = storage.change_count(None).unwrap();
    let two = vec![docs[0].clone(), docs[docs.len() - 1].clone()];
    let (reply, parsed) = raw_sync(server.addr, &hostile.token(), &push_request(two.clone()));
    assert_eq!(reply.status, 200, "{}", reply.error_code());
    let acks = parsed.unwrap().acks;
    assert!(acks.iter().all(|a| a.ok), "{acks:?}");
    let now_stored: u64 = acks.iter().map(|a| u64::from(a.stored)).sum();
    assert_eq!(storage.change_count(None).unwrap(), before + now_stored);
    for d in &two {
        assert_eq!(
            storage.change_count(Some(&d.id)).unwrap() as usize,
            d.changes.len()
        );
    }
}
