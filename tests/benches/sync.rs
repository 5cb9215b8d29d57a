//! Sync benchmarks against a real server process on loopback, each printed beside a
//! baseline measured in the same run:
//!
//! - `wire`: a sync with nothing new (round trips and bytes on the wire, headers included,
//!   counted by the link proxy) beside a bare `GET /health`;
//! - `bulk`: 1,000 new cases pushed by one device and pulled by another, in process: bytes
//!   beside the cases' raw JSON, and the time taken;
//! - `cpu`: the same 1,000 cases pushed and pulled by a device *process*, this build beside
//!   an older build's `outpost` CLI (`scripts/baseline-cli.sh` builds one into
//!   `target/baseline/`, or name it with `OUTPOST_BASELINE_CLI`): wall time (best of 3,
//!   interleaved) and, under valgrind's callgrind, instructions per case;
//! - `memory`: peak resident memory of a device process pushing 1,000 cases and a fresh one
//!   pulling 1,000 and 10,000 (the baseline's beside it for 1,000);
//! - `links`: per link profile (none, 4G, 3G, 2G, bad 2G), 100 changes pushed, a
//!   life-safety flag alone and behind 500 waiting changes, and 300 reports with
//!   600-character Chinese descriptions pushed and then pulled by a new phone — each beside
//!   the ideal for the bytes it moved (bytes ÷ bandwidth + round trip time × round trips);
//! - `throughput`: many simulated devices: no-change syncs and pushes per second beside
//!   `GET /health` requests per second.
//!
//! `cargo bench -p outpost-tests --bench sync` runs them all; `OUTPOST_BENCH=cpu,memory`
//! picks some.

use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use outpost_core::sync::{SyncClient, SyncConfig, SyncReport};
use outpost_core::{Category, NewCase, Urgency};
use outpost_server::Storage;
use outpost_tests::arrival::time_to_server;
use outpost_tests::backlog;
use outpost_tests::harness::{Device, Server, city, http};
use outpost_tests::link::{Link, Profile};
use outpost_tests::process::{self, DeviceBin};

fn kb(b: u64) -> String {
    format!("{:.1} KB", b as f64 / 1000.0)
}

fn mb(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 * 1024.0 / 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
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

fn cases(d: &Device, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut i = 0;
    while i < n {
        let batch: Vec<NewCase> = (i..n.min(i + 250)).map(case).collect();
        i += batch.len();
        ids.extend(d.store.create_cases(&batch).expect("cases"));
    }
    ids
}

fn wanted(section: &str) -> bool {
    match std::env::var("OUTPOST_BENCH") {
        Ok(v) if !v.trim().is_empty() => v.split(',').any(|s| s.trim() == section),
        _ => true,
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    if wanted("wire") {
        wire(dir.path());
    }
    if wanted("bulk") {
        bulk(dir.path());
    }
    if wanted("cpu") {
        cpu(dir.path());
    }
    if wanted("memory") {
        memory(dir.path());
    }
    if wanted("links") {
        links(dir.path());
    }
    if wanted("throughput") {
        throughput(dir.path());
    }
}

fn wire(dir: &std::path::Path) {
    let server = Server::start(&city());
    let proxy = Link::start(server.addr, Profile::NONE);
    let idle = Device::enroll(&server, &proxy.url(), dir, "courier-1");
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
        "   sync:     {} round trip(s), {up} B up, {down} B down (bodies {} B / {} B), {idle_time:?}",
        r.round_trips, r.bytes_sent, r.bytes_received
    );
    println!("   baseline: GET /health {hup} B up, {hdown} B down, {health_time:?}");
}

fn bulk(dir: &std::path::Path) {
    let server = Server::start(&city());
    let proxy = Link::start(server.addr, Profile::NONE);
    let writer = Device::enroll(&server, &proxy.url(), dir, "member-a1");
    let reader = Device::enroll(&server, &proxy.url(), dir, "member-a2");
    let t = Instant::now();
    let ids = cases(&writer, 1000);
    let create_time = t.elapsed();
    let json: Vec<u8> = ids
        .iter()
        .flat_map(|id| serde_json::to_vec(&writer.store.case(id).expect("case")).expect("json"))
        .collect();
    let json_gz = outpost_core::sync::wire::gzip(&json).len() as u64;
    let json = json.len() as u64;
    proxy.reset();
    let cpu = server.cpu_time();
    let t = Instant::now();
    let pushed = writer.sync();
    let push_time = t.elapsed();
    let push_cpu = server.cpu_time() - cpu;
    let (push_up, push_down) = proxy.bytes();
    proxy.reset();
    let cpu = server.cpu_time();
    let t = Instant::now();
    let pulled = reader.sync();
    let pull_time = t.elapsed();
    let pull_cpu = server.cpu_time() - cpu;
    let (pull_up, pull_down) = proxy.bytes();
    assert_eq!(pushed.pushed_docs, 1000);
    assert_eq!(pulled.pulled_docs, 1000);
    println!("== 1,000 new cases, in process (target: wire ≤ 1.5 × raw JSON; 489 / 397 ms before)");
    println!(
        "   baseline: raw JSON {} ({} gzipped); created offline in {create_time:?}",
        kb(json),
        kb(json_gz)
    );
    println!(
        "   push:     {} up ({:.2} × JSON), {} down, {} round trips, {} (server CPU {})",
        kb(push_up),
        push_up as f64 / json as f64,
        kb(push_down),
        pushed.round_trips,
        ms(push_time),
        ms(push_cpu)
    );
    println!(
        "   pull:     {} down ({:.2} × JSON), {} up, {} round trips, {} (server CPU {})",
        kb(pull_down),
        pull_down as f64 / json as f64,
        kb(pull_up),
        pulled.round_trips,
        ms(pull_time),
        ms(pull_cpu)
    );
}

/// A fresh server holding `n` cases pushed by a writer, for pulls.
fn server_with(dir: &std::path::Path, n: usize) -> Server {
    let server = Server::start(&city());
    let writer = Device::enroll(&server, &server.url, dir, "member-a1");
    let mut left = n;
    while left > 0 {
        let k = left.min(2000);
        cases(&writer, k);
        writer.sync();
        left -= k;
    }
    server
}

/// `bin`'s own server (see [`DeviceBin::start_server`]).
fn server_for(bin: &DeviceBin) -> Server {
    bin.start_server(&city())
        .expect("the baselines list only builds whose server is there")
}

/// `bin`'s own server holding `n` cases, pushed by a process of `bin`'s build.
fn pull_server(bin: &DeviceBin, dir: &std::path::Path, n: usize) -> Server {
    if *bin == DeviceBin::Current {
        return server_with(dir, n);
    }
    let server = server_for(bin);
    let db = pusher(bin, &server, dir, n);
    let r = process::sync(bin, &db);
    assert!(r.ok, "filling the baseline's server: {}", r.output);
    server
}

/// A store enrolled with `server` holding `n` new cases, made by `bin`'s build and closed:
/// ready for a process.
fn pusher(bin: &DeviceBin, server: &Server, dir: &std::path::Path, n: usize) -> PathBuf {
    let db = bin.enrolled(server, dir, "member-a1");
    let cases: Vec<NewCase> = (0..n).map(case).collect();
    bin.record(&db, &cases);
    db
}

/// A fresh store enrolled with `server` by `bin`'s build, closed.
fn puller(bin: &DeviceBin, server: &Server, dir: &std::path::Path) -> PathBuf {
    bin.enrolled(server, dir, "member-a2")
}

/// This build, and before it the baseline when there is one with its own server: an older
/// client syncs with the server of its own build (it may not speak this build's protocol).
fn device_bins() -> Vec<(&'static str, DeviceBin)> {
    let mut bins = vec![("this build", DeviceBin::Current)];
    match DeviceBin::baseline() {
        Some(b) if b.has_server() => bins.insert(0, ("baseline", b)),
        Some(DeviceBin::Cli(p)) => println!(
            "   (baseline {} has no server of its own build beside it: run scripts/baseline-cli.sh)",
            p.display()
        ),
        _ => println!(
            "   (no baseline CLI: run scripts/baseline-cli.sh or set OUTPOST_BASELINE_CLI and OUTPOST_BASELINE_SERVER)"
        ),
    }
    for (name, b) in &bins {
        if let DeviceBin::Cli(p) = b {
            println!("   {name}: {}", p.display());
        }
    }
    bins
}

fn cpu(dir: &std::path::Path) {
    const N: usize = 1000;
    println!("== 1,000 cases by a device process (target: both ≥ 2× faster, instructions ÷ 2)");
    let bins = device_bins();
    let pull_servers: Vec<Server> = bins.iter().map(|(_, b)| pull_server(b, dir, N)).collect();
    let mut best: Vec<(Duration, Duration)> = vec![(Duration::MAX, Duration::MAX); bins.len()];
    for _ in 0..3 {
        for (k, (name, b)) in bins.iter().enumerate() {
            let server = server_for(b);
            let db = pusher(b, &server, dir, N);
            let push = process::sync(b, &db);
            assert!(push.ok, "{name} push: {}", push.output);
            let db = puller(b, &pull_servers[k], dir);
            let pull = process::sync(b, &db);
            assert!(pull.ok, "{name} pull: {}", pull.output);
            best[k].0 = best[k].0.min(push.took);
            best[k].1 = best[k].1.min(pull.took);
        }
    }
    for (k, (name, _)) in bins.iter().enumerate() {
        println!(
            "   {name:<10} wall, best of 3 (process start included): push {}, pull {}",
            ms(best[k].0),
            ms(best[k].1)
        );
    }
    if bins.len() == 2 {
        println!(
            "   speed-up: push {:.2}×, pull {:.2}×",
            best[0].0.as_secs_f64() / best[1].0.as_secs_f64(),
            best[0].1.as_secs_f64() / best[1].1.as_secs_f64()
        );
    }
    if !process::have_valgrind() {
        println!("   (valgrind not found: no instruction counts)");
        return;
    }
    let mut counts = Vec::new();
    for (k, (name, b)) in bins.iter().enumerate() {
        let server = server_for(b);
        let db = pusher(b, &server, dir, N);
        let push = process::sync_counted(b, &db);
        assert!(push.ok, "{name} push under callgrind: {}", push.output);
        let db = puller(b, &pull_servers[k], dir);
        let pull = process::sync_counted(b, &db);
        assert!(pull.ok, "{name} pull under callgrind: {}", pull.output);
        let (p, q) = (
            push.instructions.unwrap_or(0),
            pull.instructions.unwrap_or(0),
        );
        println!(
            "   {name:<10} callgrind, whole process: push {:.2} M instructions per case, pull {:.2} M per case",
            p as f64 / N as f64 / 1e6,
            q as f64 / N as f64 / 1e6
        );
        counts.push((p, q));
    }
    if counts.len() == 2 {
        println!(
            "   instructions: push ÷ {:.2}, pull ÷ {:.2}",
            counts[0].0 as f64 / counts[1].0.max(1) as f64,
            counts[0].1 as f64 / counts[1].1.max(1) as f64
        );
    }
}

fn memory(dir: &std::path::Path) {
    println!("== peak resident memory of a device process (target: each ≤ 64 MB)");
    let bins = device_bins();
    for (name, b) in &bins {
        let server = server_for(b);
        let db = pusher(b, &server, dir, 1000);
        let r = process::sync(b, &db);
        assert!(r.ok, "{}", r.output);
        let rss = r
            .peak_rss_kb
            .map(mb)
            .unwrap_or_else(|| "(not reported)".into());
        println!("   {name:<10} pushing 1,000 cases:        {rss}");
    }
    for n in [1000usize, 10_000] {
        for (name, b) in &bins {
            if n > 1000 && matches!(b, DeviceBin::Cli(_)) {
                println!("   {name:<10} pulling {n} cases: not run (it grows ~0.33 MB a case)");
                continue;
            }
            let t = Instant::now();
            let server = pull_server(b, dir, n);
            let made = t.elapsed();
            let db = puller(b, &server, dir);
            let r = process::sync(b, &db);
            assert!(r.ok, "{}", r.output);
            let rss = r
                .peak_rss_kb
                .map(mb)
                .unwrap_or_else(|| "(not reported)".into());
            println!(
                "   {name:<10} pulling {n:>6} cases (fresh device): {rss}, {} (server filled in {})",
                ms(r.took),
                ms(made)
            );
        }
    }
}

/// A device whose client talks through `link` with the default settings.
fn on_link(server: &Server, link: &Link, dir: &std::path::Path, member: &str) -> Device {
    let mut d = Device::enroll(server, &server.url, dir, member);
    let url = link.url();
    d.configure(|c| *c = SyncConfig::new(&url));
    d
}

fn line(what: &str, p: &Profile, took: Duration, bytes: (u64, u64), r: Option<&SyncReport>) {
    let rounds = r.map_or(1, |r| r.round_trips.max(1));
    let ideal = p.ideal(bytes.0 + bytes.1, rounds);
    let extra = r
        .map(|r| {
            format!(
                ", {} round trips, longest {} ms, {} retries",
                r.round_trips, r.longest_round_ms, r.retries
            )
        })
        .unwrap_or_default();
    println!(
        "   {:<7} {what:<34} {:>9}  ideal {:>9} ({:.2}×)  {} up, {} down{extra}",
        p.name,
        ms(took),
        ms(ideal),
        took.as_secs_f64() / ideal.as_secs_f64().max(0.001),
        kb(bytes.0),
        kb(bytes.1)
    );
}

fn links(dir: &std::path::Path) {
    println!(
        "== link profiles (ideal = bytes ÷ bandwidth + RTT × round trips; targets: 100 changes at 3G ≤ 2 s, at 2G ≤ 10 s; a flag behind 500 within 1.5× alone)"
    );
    for p in Profile::ALL {
        let server = Server::start(&city());
        let link = Link::start(server.addr, p);
        // 100 changes: comments on 20 cases the server already has.
        let d = on_link(&server, &link, dir, "member-a1");
        let ids = backlog::reports(&d.store, 20, "G1", 60);
        d.sync();
        backlog::comments(&d.store, &ids, 100);
        link.reset();
        let t = Instant::now();
        let r = d.sync();
        line(
            "100 changes pushed",
            &p,
            t.elapsed(),
            link.bytes(),
            Some(&r),
        );

        // A life-safety flag alone, then behind 500 waiting changes.
        let client = SyncClient::new(SyncConfig::new(&link.url())).expect("client");
        let alone = on_link(&server, &link, dir, "courier-1");
        let flag = alone
            .store
            .flag_person_in_distress("G1", None, Some("老人倒地"), None)
            .expect("flag");
        link.reset();
        let t_alone = time_to_server(
            &server,
            &client,
            &alone.store,
            &flag,
            Duration::from_secs(120),
        );
        line("a flag alone", &p, t_alone, link.bytes(), None);
        let behind = on_link(&server, &link, dir, "courier-2");
        backlog::reports(&behind.store, 500, "G1", 60);
        let flag = behind
            .store
            .flag_person_in_distress("G1", None, Some("老人倒地"), None)
            .expect("flag");
        link.reset();
        let t_behind = time_to_server(
            &server,
            &client,
            &behind.store,
            &flag,
            Duration::from_secs(300),
        );
        println!(
            "   {:<7} {:<34} {:>9}  = {:.2}× the flag alone",
            p.name,
            "a flag behind 500 changes",
            ms(t_behind),
            t_behind.as_secs_f64() / t_alone.as_secs_f64()
        );

        // 300 reports × 600 Chinese characters, pushed, then pulled by a new phone.
        let writer = on_link(&server, &link, dir, "member-b");
        backlog::reports(&writer.store, 300, "G2", 600);
        link.reset();
        let t = Instant::now();
        let r = writer.sync();
        assert_eq!(r.pushed_docs, 300);
        line(
            "300 × 600-character reports, push",
            &p,
            t.elapsed(),
            link.bytes(),
            Some(&r),
        );
        let reader = on_link(&server, &link, dir, "lead-b");
        link.reset();
        let t = Instant::now();
        let r = reader.sync();
        assert!(r.pulled_docs >= 300, "{r:?}");
        line(
            "the same, pulled by a new phone",
            &p,
            t.elapsed(),
            link.bytes(),
            Some(&r),
        );
    }
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

fn throughput(dir: &std::path::Path) {
    const DEVICES: usize = 24;
    const ROUNDS: usize = 20;
    let server = Server::start(&city());
    let members = [
        "member-a1",
        "member-a2",
        "member-b",
        "courier-1",
        "courier-2",
    ];
    let devices: Vec<Device> = (0..DEVICES)
        .map(|i| Device::enroll(&server, &server.url, dir, members[i % members.len()]))
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
            Device::enroll(&server, &server.url, dir, &id)
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
