//! Sync benchmarks against a real server process on loopback, each printed beside a
//! baseline measured in the same run:
//!
//! - a sync with nothing new: round trips and bytes on the wire (headers included, counted by
//!   a proxy), beside a bare `GET /health` exchange;
//! - 1,000 new cases pushed by one device and pulled by another: bytes on the wire beside
//!   the cases' raw JSON (and that JSON gzipped), and the time taken;
//! - server throughput with many simulated devices: no-change syncs per second and pushed
//!   cases per second, beside `GET /health` requests per second.
//!
//! `cargo bench -p outpost-tests --bench sync`

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use outpost_core::{Category, NewCase, Urgency};
use outpost_server::Storage;
use outpost_tests::harness::{Device, Server, city, http};
use outpost_tests::link::{Link, Profile};

fn kb(b: u64) -> String {
    format!("{:.1} KB", b as f64 / 1000.0)
}

fn case(i: usize) -> NewCase {
    let mut c = NewCase::new(
        if i.is_multiple_of(3) {
            Category::FireHazard
        } else {
            Category::Waste
        },
        Urgency::Normal,
        &format!("楼道堆物 · 殷行路650弄{}号 二楼", i % 97),
        "G1",
    );
    // Text that varies like real reports do, so compression is not flattered.
    let noise: u64 = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    c.description = format!(
        "纸箱和旧家具堆在楼梯口，影响通行（第{i}处，门牌{}，编号{noise:016x}）",
        noise % 1000
    );
    c
}

/// Each device makes `rounds` cases offline, then all sync at once, one case per request
/// (with the pull every request carries); returns the wall time of the syncs.
fn timed_pushes(server: &Server, devices: &mut [Device], rounds: usize) -> Duration {
    for d in devices.iter_mut() {
        let grid = if d.name == "member-b" { "G2" } else { "G1" };
        for i in 0..rounds {
            let mut c = case(i);
            c.grid_id = grid.into();
            d.store.create_case(c).expect("case");
        }
        d.configure(|c| c.push_bytes = 1);
    }
    let before = server.storage().change_count(None).expect("count");
    let barrier = Arc::new(Barrier::new(devices.len() + 1));
    let started = std::thread::scope(|s| {
        for d in devices.iter() {
            let b = barrier.clone();
            s.spawn(move || {
                b.wait();
                let r = d.sync();
                assert_eq!(r.pushed_docs, rounds);
            });
        }
        barrier.wait();
        Instant::now()
    });
    let took = started.elapsed();
    let stored = server.storage().change_count(None).expect("count") - before;
    assert_eq!(stored as usize, devices.len() * rounds);
    took
}

fn main() {
    let server = Server::start(&city());
    let proxy = Link::start(server.addr, Profile::NONE);
    let dir = tempfile::tempdir().expect("temp dir");

    // 1. A sync with nothing new.
    let idle = Device::enroll(&server, &proxy.url(), dir.path(), "courier-1");
    idle.sync();
    proxy.reset();
    let t = Instant::now();
    let r = idle.sync();
    let idle_time = t.elapsed();
    let (up, down) = proxy.bytes();
    proxy.reset();
    let t = Instant::now();
    let health = http(proxy.addr, "GET", "/health", &[], b"").expect("health");
    let health_time = t.elapsed();
    assert_eq!(health.status, 200);
    let (hup, hdown) = proxy.bytes();
    println!("== no-change sync (target: 1 round trip, under 1 KB each way)");
    println!(
        "   sync:     {} round trip(s), {up} B up, {down} B down (bodies {} B / {} B), {:?}",
        r.round_trips, r.bytes_sent, r.bytes_received, idle_time
    );
    println!("   baseline: GET /health {hup} B up, {hdown} B down, {health_time:?}");

    // 2. 1,000 new cases.
    let writer = Device::enroll(&server, &proxy.url(), dir.path(), "member-a1");
    let reader = Device::enroll(&server, &proxy.url(), dir.path(), "member-a2");
    let t = Instant::now();
    let ids: Vec<String> = (0..1000)
        .map(|i| writer.store.create_case(case(i)).expect("case"))
        .collect();
    let create_time = t.elapsed();
    let json: Vec<u8> = ids
        .iter()
        .flat_map(|id| serde_json::to_vec(&writer.store.case(id).expect("case")).expect("json"))
        .collect();
    let json_gz = outpost_core::sync::wire::gzip(&json).len() as u64;
    let json = json.len() as u64;
    proxy.reset();
    let t = Instant::now();
    let pushed = writer.sync();
    let push_time = t.elapsed();
    let (push_up, push_down) = proxy.bytes();
    proxy.reset();
    let t = Instant::now();
    let pulled = reader.sync();
    let pull_time = t.elapsed();
    let (pull_up, pull_down) = proxy.bytes();
    assert_eq!(pushed.pushed_docs, 1000);
    assert_eq!(pulled.pulled_docs, 1000);
    println!("== 1,000 new cases (target: wire ≤ 1.5 × raw JSON)");
    println!(
        "   baseline: raw JSON {} ({} gzipped); created offline in {create_time:?}",
        kb(json),
        kb(json_gz)
    );
    println!(
        "   push:     {} up ({:.2} × JSON), {} down, {} round trips, {push_time:?}",
        kb(push_up),
        push_up as f64 / json as f64,
        kb(push_down),
        pushed.round_trips
    );
    println!(
        "   pull:     {} down ({:.2} × JSON), {} up, {} round trips, {pull_time:?}",
        kb(pull_down),
        pull_down as f64 / json as f64,
        kb(pull_up),
        pulled.round_trips
    );

    // 3. Throughput with many simulated devices, straight to the server.
    const DEVICES: usize = 24;
    const ROUNDS: usize = 20;
    let members = [
        "member-a1",
        "member-a2",
        "member-b",
        "courier-1",
        "courier-2",
    ];
    let devices: Vec<Device> = (0..DEVICES)
        .map(|i| Device::enroll(&server, &server.url, dir.path(), members[i % members.len()]))
        .collect();
    for d in &devices {
        d.sync();
    }
    let run = |f: &(dyn Fn(&Device) + Sync)| -> Duration {
        let barrier = Arc::new(Barrier::new(DEVICES + 1));
        let t = std::thread::scope(|s| {
            for d in &devices {
                let b = barrier.clone();
                s.spawn(move || {
                    b.wait();
                    for _ in 0..ROUNDS {
                        f(d);
                    }
                });
            }
            barrier.wait();
            Instant::now()
        });
        t.elapsed()
    };
    let health_all = run(&|_| {
        http(server.addr, "GET", "/health", &[], b"").expect("health");
    });
    let idle_all = run(&|d| {
        let r = d.sync();
        assert_eq!(r.round_trips, 1);
    });
    let mut devices = devices;
    let fan_out = timed_pushes(&server, &mut devices, ROUNDS);
    // Couriers, each its own member: a push brings nothing back, so this is the server's
    // own cost per push.
    let mut couriers: Vec<Device> = (0..DEVICES)
        .map(|i| {
            let id = format!("rider-{i}");
            server.admin(&["member", "add", &id, "--name", &id, "--role", "courier"]);
            Device::enroll(&server, &server.url, dir.path(), &id)
        })
        .collect();
    let cpu_before = server.cpu_time();
    let lone = timed_pushes(&server, &mut couriers, ROUNDS);
    let server_cpu = server.cpu_time() - cpu_before;
    let n = (DEVICES * ROUNDS) as f64;
    println!("== throughput, {DEVICES} devices × {ROUNDS} requests, this machine");
    println!(
        "   baseline: GET /health {:.0} req/s (new connection each)",
        n / health_all.as_secs_f64()
    );
    println!("   no-change syncs: {:.0} /s", n / idle_all.as_secs_f64());
    println!(
        "   pushes from couriers (one new case per request): {:.0} /s; server CPU {:.2} ms per push",
        n / lone.as_secs_f64(),
        server_cpu.as_secs_f64() * 1000.0 / n
    );
    println!(
        "   pushes from grid members (each request also pulls the others' new cases): {:.0} /s",
        n / fan_out.as_secs_f64()
    );
}
