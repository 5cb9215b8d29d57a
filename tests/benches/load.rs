//! Load with simulated devices, SQLite and PostgreSQL side by side (one and two server
//! processes), in one run:
//! - a baseline: `GET /health` through the same clients;
//! - the city grows in stages (50, 500, 5,000 devices by default): each new device, its own
//!   courier, pushes its offline cases in one request; then every device so far runs rounds
//!   of syncs with nothing new — the cost that must not grow with the city;
//! - a photo mix: devices upload a photo in 64 KiB chunks through the HTTP API while others
//!   sync;
//! - the workstation (SQLite and one PostgreSQL process): `/v1/queues` and `/v1/stats` over
//!   every case of the district, against the old way (load every case row, compute in Rust)
//!   measured on the same database.
//!
//! `cargo bench -p outpost-tests --bench load` (SQLite only), or with
//! `OUTPOST_TEST_DATABASE=postgres://…` for PostgreSQL too (`scripts/suites/postgres.sh
//! bench` runs it on a throwaway cluster). `LOAD_STAGES` (default `50,500,5000`),
//! `LOAD_CHANGES` (cases per device, default 20), `LOAD_ROUNDS` (no-change rounds per
//! stage, default 3), `LOAD_CLIENTS` (concurrent connections, default 32), `LOAD_PHOTOS`
//! (devices with a photo, default 200), `LOAD_LEAD_CASES` (cases a lead takes through their
//! whole life for the figures, default 2000). Each request is a new loopback connection, as
//! a phone's would often be.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use outpost_core::sync::blobs::{CHUNK_SHA256, DEFAULT_CHUNK_BYTES};
use outpost_core::sync::wire::{PROTOCOL_VERSION, PushDoc, SyncRequest};
use outpost_core::{
    Category, EventKind, FixedClock, FollowUp, Member, NewCase, Role, Store, Urgency,
};
use outpost_server::stats::{self, FigureQuery, Standards};
use outpost_server::{MemberEntry, Storage};
use outpost_tests::harness::{Server, city, http, raw_sync, test_database};
use sha2::{Digest, Sha256};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A device as the server sees it: an actor, the cases it recorded offline, maybe a photo.
struct Sim {
    member: String,
    actor: String,
    push: Vec<PushDoc>,
    photo: Option<(String, Vec<u8>)>,
}

fn all_changes(store: &Store, id: &str) -> PushDoc {
    PushDoc {
        changes: store
            .changes_since(id, &[])
            .expect("changes")
            .into_iter()
            .map(serde_bytes::ByteBuf::from)
            .collect(),
        id: id.to_string(),
    }
}

fn make_device(i: usize, changes: usize, photo: bool, dir: &std::path::Path) -> Sim {
    let store = Store::open(dir.join(format!("d{i}.db"))).expect("store");
    let member = format!("sim-{i}");
    store
        .set_member(&Member::new(
            &member,
            &member,
            Role::Courier,
            [] as [&str; 0],
        ))
        .expect("member");
    let grids = ["G1", "G1A", "G2"];
    let cases: Vec<NewCase> = (0..changes)
        .map(|k| {
            let mut c = NewCase::new(
                Category::Waste,
                Urgency::ALL[k % Urgency::ALL.len()],
                &format!("楼道堆物 {i}-{k}"),
                grids[(i + k) % grids.len()],
            );
            c.description = format!("纸箱堆在楼梯口 device {i} case {k}");
            c
        })
        .collect();
    let mut ids = store.create_cases(&cases).expect("cases");
    let photo = photo.then(|| {
        // A small JPEG-headed photo, different for every device.
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
        bytes.extend((0..(200 << 10)).map(|n: usize| (n.wrapping_mul(31) ^ i) as u8));
        let path = dir.join(format!("p{i}.jpg"));
        std::fs::write(&path, &bytes).expect("photo");
        let c = NewCase::new(Category::FacilityDamage, Urgency::Normal, "路灯坏了", "G1");
        ids.push(store.create_case_with_photos(c, &[&path]).expect("case"));
        let _ = std::fs::remove_file(&path);
        (hex::encode(Sha256::digest(&bytes)), bytes)
    });
    Sim {
        member,
        actor: store.actor_id().expect("actor"),
        push: ids.iter().map(|id| all_changes(&store, id)).collect(),
        photo,
    }
}

fn make_devices(n: usize, changes: usize, photos: usize, dir: &std::path::Path) -> Vec<Sim> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<(usize, Sim)>> = Mutex::new(Vec::with_capacity(n));
    std::thread::scope(|s| {
        for _ in 0..std::thread::available_parallelism().map_or(2, |n| n.get()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let sim = make_device(i, changes, i < photos, dir);
                    out.lock().expect("devices").push((i, sim));
                }
            });
        }
    });
    let mut out = out.into_inner().expect("devices");
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, s)| s).collect()
}

/// CPU time of a process from `/proc/<pid>/stat` (Linux; zero elsewhere).
fn proc_cpu(stat: &str) -> Duration {
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// CPU used so far by the PostgreSQL backends serving database `db` (their command line
/// names it); nothing for SQLite, which runs inside the server.
fn database_cpu(db: Option<&str>) -> Duration {
    let Some(db) = db else {
        return Duration::ZERO;
    };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    let mark = format!(" {db} ");
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&mark))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .map(|stat| proc_cpu(&stat))
        .sum()
}

/// CPU of the server processes, and of the PostgreSQL backends serving them, so far.
fn server_cpu(servers: &[Server]) -> (Duration, Duration) {
    let db = servers[0]
        .database
        .as_ref()
        .and_then(|d| d.url.rsplit('/').next())
        .map(|n| n.split('?').next().unwrap_or(n).to_string());
    (
        servers.iter().map(Server::cpu_time).sum::<Duration>(),
        database_cpu(db.as_deref()),
    )
}

/// Latencies of a phase.
#[derive(Clone, Copy, Default)]
struct Stats {
    n: usize,
    wall: Duration,
    p50: Duration,
    p99: Duration,
}

impl Stats {
    fn of(mut lat: Vec<Duration>, wall: Duration) -> Stats {
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        Stats {
            n: lat.len(),
            wall,
            p50: pct(0.50),
            p99: pct(0.99),
        }
    }

    fn rate(&self) -> f64 {
        self.n as f64 / self.wall.as_secs_f64()
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>7.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} in {:.1} s)",
            self.rate(),
            self.p50.as_secs_f64() * 1000.0,
            self.p99.as_secs_f64() * 1000.0,
            self.n,
            self.wall.as_secs_f64()
        )
    }
}

/// Runs `job(i)` for `i` in `0..n` on `clients` threads; the latency of each call.
fn run(n: usize, clients: usize, job: &(dyn Fn(usize) + Sync)) -> Stats {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let lat: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return mine;
                        }
                        let t = Instant::now();
                        job(i);
                        mine.push(t.elapsed());
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("client"))
            .collect()
    });
    Stats::of(lat, started.elapsed())
}

/// `n` sequential calls of `f`.
fn time(n: usize, mut f: impl FnMut()) -> Stats {
    let started = Instant::now();
    let lat = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    Stats::of(lat, started.elapsed())
}

fn req(cursor: &str, push: Vec<PushDoc>) -> SyncRequest {
    SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: cursor.to_string(),
        max_bytes: 0,
        push,
    }
}

fn get(addr: std::net::SocketAddr, token: &str, path: &str) -> Vec<u8> {
    let auth = format!("Bearer {token}");
    let r = http(addr, "GET", path, &[("Authorization", &auth)], b"").expect("request");
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.body
}

fn enroll(storage: &dyn Storage, addr: std::net::SocketAddr, member: &str, actor: &str) -> String {
    let code = outpost_server::cli::invite(storage, member, 72).expect("invite");
    let body = serde_json::json!({"code": code, "actor": actor, "device_name": member});
    let reply = http(
        addr,
        "POST",
        "/v1/enroll",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
    .expect("enroll");
    assert_eq!(
        reply.status,
        200,
        "enroll: {}",
        String::from_utf8_lossy(&reply.body)
    );
    let v: serde_json::Value = serde_json::from_slice(&reply.body).expect("json");
    v["token"].as_str().expect("token").to_string()
}

/// Uploads a photo in chunks, each to the next process (any process takes any chunk); the
/// latency of each chunk.
fn upload(
    addrs: &[std::net::SocketAddr],
    first: usize,
    token: &str,
    hash: &str,
    bytes: &[u8],
) -> Vec<Duration> {
    let auth = format!("Bearer {token}");
    let mut lat = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let addr = addrs[(first + lat.len()) % addrs.len()];
        let end = (offset + DEFAULT_CHUNK_BYTES).min(bytes.len());
        let chunk = &bytes[offset..end];
        let digest = hex::encode(Sha256::digest(chunk));
        let path = format!("/v1/blobs/{hash}?offset={offset}&size={}", bytes.len());
        let t = Instant::now();
        let r = http(
            addr,
            "PUT",
            &path,
            &[("Authorization", &auth), (CHUNK_SHA256, &digest)],
            chunk,
        )
        .expect("chunk");
        lat.push(t.elapsed());
        assert_eq!(r.status, 200, "chunk: {}", String::from_utf8_lossy(&r.body));
        offset = end;
    }
    lat
}

/// What one scenario measured, for the table at the end.
#[derive(Default)]
struct Report {
    health: Stats,
    push: Vec<(usize, Stats, usize)>,
    /// Per stage: the best no-change round, its CPU per request (server processes,
    /// PostgreSQL backends), and the `/health` baseline measured just before.
    idle: Vec<(usize, Stats, (Duration, Duration), Stats)>,
    photos: Option<(Stats, Stats, Stats, usize)>,
    workstation: Vec<(&'static str, Stats)>,
}

/// A lead takes its own cases through their whole life over eight weeks, and pushes them.
fn lead_cases(
    addr: std::net::SocketAddr,
    token: &str,
    actor_store: &Store,
    clock: &FixedClock,
    n: usize,
) {
    let now = outpost_server::api::now_ms();
    let grids = ["G1", "G1A", "G2", "C1"];
    let mut ids = Vec::with_capacity(n);
    for i in 0..n as i64 {
        let created = now - 56 * 24 * stats::HOUR_MS + i * (56 * 24 * stats::HOUR_MS / n as i64);
        clock.set(created);
        let categories = [
            Category::Waste,
            Category::Noise,
            Category::FireHazard,
            Category::FacilityDamage,
            Category::IllegalParking,
        ];
        let c = NewCase::new(
            categories[i as usize % categories.len()],
            Urgency::ALL[i as usize % Urgency::ALL.len()],
            &format!("巡查 {i}"),
            grids[i as usize % grids.len()],
        );
        let id = actor_store.create_case(c).expect("case");
        let t = created + (1 + i % 30) * stats::HOUR_MS;
        clock.set(t);
        match i % 5 {
            0 => {}
            1 => {
                actor_store
                    .record(&id, EventKind::Accepted)
                    .expect("accept");
            }
            _ => {
                actor_store
                    .record(
                        &id,
                        EventKind::Dispatched {
                            unit_id: if i % 2 == 0 { "U1" } else { "U2" }.into(),
                            deadline: t + (i % 9) * 24 * stats::HOUR_MS + stats::HOUR_MS,
                        },
                    )
                    .expect("dispatch");
                if i % 5 >= 3 {
                    clock.set(t + 20 * stats::HOUR_MS);
                    actor_store
                        .record(
                            &id,
                            EventKind::Resolved {
                                note: "处理完毕".into(),
                            },
                        )
                        .expect("resolve");
                }
                if i % 5 == 4 {
                    clock.set(t + 40 * stats::HOUR_MS);
                    actor_store
                        .record(
                            &id,
                            EventKind::FollowUp(FollowUp {
                                visited_at: t + 40 * stats::HOUR_MS,
                                satisfaction: 1 + i % 5,
                                note: String::new(),
                            }),
                        )
                        .expect("follow-up");
                }
            }
        }
        ids.push(id);
    }
    for batch in ids.chunks(250) {
        let docs = batch
            .iter()
            .map(|id| all_changes(actor_store, id))
            .collect();
        let mut r = req("", docs);
        r.max_bytes = 16 << 10;
        let (reply, parsed) = raw_sync(addr, token, &r);
        assert_eq!(reply.status, 200);
        let r = parsed.expect("reply");
        assert!(
            r.acks.iter().all(|a| a.ok),
            "{:?}",
            r.acks.iter().find(|a| !a.ok)
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn scenario(
    label: &str,
    devices: &[Sim],
    stages: &[usize],
    processes: usize,
    clients: usize,
    rounds: usize,
    lead_n: usize,
    workstation: bool,
) -> Report {
    let mut directory = city();
    directory
        .members
        .extend(devices.iter().map(|d| MemberEntry {
            id: d.member.clone(),
            name: d.member.clone(),
            role: Role::Courier,
            grids: Vec::new(),
            unit: None,
        }));
    let first = Server::start(&directory);
    let mut servers = vec![first];
    for _ in 1..processes {
        let replica = servers[0].start_replica(&[]);
        servers.push(replica);
    }
    let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();
    let storage = servers[0].storage();
    let mut report = Report {
        health: run(5000, clients, &|i| {
            let r = http(addrs[i % addrs.len()], "GET", "/health", &[], b"").expect("health");
            assert_eq!(r.status, 200);
        }),
        ..Report::default()
    };
    println!("{label:<24} GET /health baseline: {}", report.health);
    let tokens: Vec<Mutex<String>> = devices.iter().map(|_| Default::default()).collect();
    let cursors: Vec<Mutex<String>> = devices.iter().map(|_| Default::default()).collect();
    let mut done = 0;
    for &stage in stages {
        let stage = stage.min(devices.len());
        // Enrollment (not timed), spread over the processes.
        for i in done..stage {
            let token = enroll(
                &storage,
                addrs[i % addrs.len()],
                &devices[i].member,
                &devices[i].actor,
            );
            *tokens[i].lock().expect("token") = token;
        }
        // Each new device pushes its offline cases in one request; requests alternate
        // between the processes.
        let new = stage - done;
        let push = run(new, clients, &|k| {
            let i = done + k;
            let token = tokens[i].lock().expect("token").clone();
            let (reply, parsed) = raw_sync(
                addrs[i % addrs.len()],
                &token,
                &req("", devices[i].push.clone()),
            );
            assert_eq!(reply.status, 200);
            let r = parsed.expect("reply");
            assert!(
                r.acks.iter().all(|a| a.ok),
                "refused: {:?}",
                r.acks.iter().find(|a| !a.ok)
            );
            *cursors[i].lock().expect("cursor") = r.cursor;
        });
        let changes: usize = devices[done..stage].iter().map(|d| d.push.len()).sum();
        println!(
            "{label:<24} {stage:>5} devices: push ({new} devices, {:.0} changes each): {push}  = {:.0} changes/s",
            changes as f64 / new.max(1) as f64,
            changes as f64 / push.wall.as_secs_f64()
        );
        report.push.push((stage, push, changes));
        done = stage;
        // Rounds of syncs with nothing new by every device so far, enough requests each to
        // be measured (devices take turns; each keeps the cursor it was given).
        let per_round = stage.max(3000);
        let health = run(per_round, clients, &|i| {
            let r = http(addrs[i % addrs.len()], "GET", "/health", &[], b"").expect("health");
            assert_eq!(r.status, 200);
        });
        println!("{label:<24} {stage:>5} devices: GET /health baseline: {health}");
        let mut best: Option<(Stats, (Duration, Duration))> = None;
        for round in 0..rounds {
            let cpu = server_cpu(&servers);
            let s = run(per_round, clients, &|k| {
                let i = k % stage;
                let token = tokens[i].lock().expect("token").clone();
                let cursor = cursors[i].lock().expect("cursor").clone();
                let (reply, parsed) = raw_sync(
                    addrs[(i + round + 1) % addrs.len()],
                    &token,
                    &req(&cursor, Vec::new()),
                );
                assert_eq!(reply.status, 200);
                let r = parsed.expect("reply");
                assert!(r.docs.is_empty() && !r.more, "nothing new for {i}");
                *cursors[i].lock().expect("cursor") = r.cursor;
            });
            let (server, database) = server_cpu(&servers);
            let n = s.n.max(1) as u32;
            let per_request = ((server - cpu.0) / n, (database - cpu.1) / n);
            println!(
                "{label:<24} {stage:>5} devices: no-change sync, round {}: {s}, CPU per request: server {:.0} µs, PostgreSQL {:.0} µs",
                round + 1,
                per_request.0.as_secs_f64() * 1e6,
                per_request.1.as_secs_f64() * 1e6
            );
            if best.is_none_or(|(b, _)| s.rate() > b.rate()) {
                best = Some((s, per_request));
            }
        }
        let (best, cpu) = best.unwrap_or_default();
        report.idle.push((stage, best, cpu, health));
    }
    // Photos: devices upload theirs in chunks while the others keep syncing.
    let with_photo: Vec<usize> = (0..done).filter(|&i| devices[i].photo.is_some()).collect();
    if !with_photo.is_empty() {
        let uploaders = (clients / 2).max(1);
        let next = AtomicUsize::new(0);
        let finished = AtomicBool::new(false);
        let chunk_lat: Mutex<Vec<Duration>> = Mutex::default();
        let photo_lat: Mutex<Vec<Duration>> = Mutex::default();
        let sync_lat: Mutex<Vec<Duration>> = Mutex::default();
        let started = Instant::now();
        let bytes: usize = with_photo
            .iter()
            .map(|&i| devices[i].photo.as_ref().map_or(0, |p| p.1.len()))
            .sum();
        std::thread::scope(|s| {
            let ups: Vec<_> = (0..uploaders)
                .map(|_| {
                    s.spawn(|| {
                        loop {
                            let k = next.fetch_add(1, Ordering::Relaxed);
                            let Some(&i) = with_photo.get(k) else { return };
                            let (hash, bytes) = devices[i].photo.as_ref().expect("photo");
                            let token = tokens[i].lock().expect("token").clone();
                            let t = Instant::now();
                            let lat = upload(&addrs, i, &token, hash, bytes);
                            photo_lat.lock().expect("lat").push(t.elapsed());
                            chunk_lat.lock().expect("lat").extend(lat);
                        }
                    })
                })
                .collect();
            for c in 0..clients - uploaders {
                let (finished, sync_lat, tokens, cursors, addrs) =
                    (&finished, &sync_lat, &tokens, &cursors, &addrs);
                s.spawn(move || {
                    let mut i = c;
                    while !finished.load(Ordering::Relaxed) {
                        i = (i + 7919) % done;
                        let token = tokens[i].lock().expect("token").clone();
                        let cursor = cursors[i].lock().expect("cursor").clone();
                        let t = Instant::now();
                        let (reply, _) =
                            raw_sync(addrs[i % addrs.len()], &token, &req(&cursor, Vec::new()));
                        assert_eq!(reply.status, 200);
                        sync_lat.lock().expect("lat").push(t.elapsed());
                    }
                });
            }
            for u in ups {
                u.join().expect("uploader");
            }
            finished.store(true, Ordering::Relaxed);
        });
        let wall = started.elapsed();
        let photos = Stats::of(photo_lat.into_inner().expect("lat"), wall);
        let chunks = Stats::of(chunk_lat.into_inner().expect("lat"), wall);
        let syncs = Stats::of(sync_lat.into_inner().expect("lat"), wall);
        println!(
            "{label:<24} photo mix: {} photos of {} KiB in 64 KiB chunks by {uploaders} clients ({:.1} MB/s): photos {photos}",
            photos.n,
            bytes / photos.n.max(1) / 1024,
            bytes as f64 / wall.as_secs_f64() / 1e6
        );
        println!("{label:<24} photo mix: chunks {chunks}");
        println!("{label:<24} photo mix: no-change syncs meanwhile {syncs}");
        report.photos = Some((photos, chunks, syncs, bytes));
    }
    if workstation {
        report.workstation = workstation_figures(label, &servers[0], &storage, lead_n);
    }
    report
}

/// The workstation's queues and figures over the whole district, the SQL way (over HTTP
/// and in-process) and the old way (every case row, computed in Rust) on the same data.
fn workstation_figures(
    label: &str,
    server: &Server,
    storage: &dyn Storage,
    lead_n: usize,
) -> Vec<(&'static str, Stats)> {
    let dir = tempfile::tempdir().expect("dir");
    let clock = std::sync::Arc::new(FixedClock::new(0));
    let lead = Store::open_with_clock(dir.path().join("lead.db"), clock.clone()).expect("store");
    let token = enroll(
        storage,
        server.addr,
        "lead-c1",
        &lead.actor_id().expect("actor"),
    );
    let index = outpost_server::scope::DirectoryIndex::new(storage.directory().expect("dir"));
    let member = index.member("lead-c1").expect("lead").clone();
    lead.set_member(&member).expect("member");
    let t = Instant::now();
    lead_cases(server.addr, &token, &lead, &clock, lead_n);
    let grids = member.grids.clone();
    let cases = storage.cases(Some(&grids)).expect("cases").len();
    println!(
        "{label:<24} workstation: {cases} cases in the district ({lead_n} taken through their life by a lead in {:.1} s)",
        t.elapsed().as_secs_f64()
    );
    // Requests one after another: 100 of each new way, 20 of each old one (slow).
    let (n, old_n) = (100, 20);
    let now = outpost_server::api::now_ms();
    let ask = FigureQuery {
        grids: Some(grids.clone()),
        now,
        weeks: 8,
        standards: Standards::default(),
    };
    // The same answers both ways, first.
    let rows = storage.cases(Some(&grids)).expect("cases");
    assert_eq!(
        storage.queues(Some(&grids), now, 100).expect("queues"),
        stats::reference::queues(rows.clone(), now, 100)
    );
    assert_eq!(
        storage.figures(&ask).expect("figures"),
        stats::reference::figures(&rows, &ask)
    );
    drop(rows);
    let out = vec![
        (
            "queues, HTTP (SQL)",
            time(n, || {
                get(server.addr, &token, "/v1/queues?limit=100");
            }),
        ),
        (
            "queues, in-process SQL",
            time(n, || {
                storage.queues(Some(&grids), now, 100).expect("queues");
            }),
        ),
        (
            "queues, old way",
            time(old_n, || {
                let rows = storage.cases(Some(&grids)).expect("cases");
                stats::reference::queues(rows, now, 100);
            }),
        ),
        (
            "stats, HTTP (SQL)",
            time(n, || {
                get(server.addr, &token, "/v1/stats");
            }),
        ),
        (
            "stats, in-process SQL",
            time(n, || {
                storage.figures(&ask).expect("figures");
            }),
        ),
        (
            "stats, old way",
            time(old_n, || {
                let rows = storage.cases(Some(&grids)).expect("cases");
                stats::reference::figures(&rows, &ask);
            }),
        ),
    ];
    for (what, s) in &out {
        println!("{label:<24} workstation: {what:<24} {s}");
    }
    out
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let stages: Vec<usize> = std::env::var("LOAD_STAGES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![50, 500, 5000]);
    let n = stages.iter().copied().max().unwrap_or(0);
    let changes = env("LOAD_CHANGES", 20);
    let rounds = env("LOAD_ROUNDS", 3);
    let clients = env("LOAD_CLIENTS", 32);
    let photos = env("LOAD_PHOTOS", 200).min(n);
    let lead_n = env("LOAD_LEAD_CASES", 2000);
    let dir = tempfile::tempdir().expect("temp dir");
    let t = Instant::now();
    let devices = make_devices(n, changes, photos, dir.path());
    println!(
        "== load: up to {n} devices × {changes} cases (stages {stages:?}), {rounds} no-change rounds per stage, {clients} concurrent clients, {} cores; devices made in {:.1} s",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        t.elapsed().as_secs_f64()
    );
    let pg = test_database();
    // SQLite first, with the variable hidden from the harness.
    // SAFETY: set before any other thread of this program reads the environment.
    unsafe { std::env::remove_var("OUTPOST_TEST_DATABASE") };
    let mut reports = vec![(
        "sqlite, 1 process",
        scenario(
            "sqlite, 1 process",
            &devices,
            &stages,
            1,
            clients,
            rounds,
            lead_n,
            true,
        ),
    )];
    match pg {
        Some(url) => {
            // SAFETY: the threads of the previous scenario have all ended.
            unsafe { std::env::set_var("OUTPOST_TEST_DATABASE", &url) };
            for (label, p, ws) in [
                ("postgres, 1 process", 1, true),
                ("postgres, 2 processes", 2, false),
            ] {
                let r = scenario(label, &devices, &stages, p, clients, rounds, lead_n, ws);
                reports.push((label, r));
            }
        }
        None => println!("(set OUTPOST_TEST_DATABASE=postgres://… for PostgreSQL)"),
    }

    println!(
        "\n== side by side (rate, p50/p99 in ms; no-change: best of {rounds} rounds; CPU: server processes + PostgreSQL backends)"
    );
    let mut head = format!("{:<34}", "");
    for (label, _) in &reports {
        head.push_str(&format!("{label:>26}"));
    }
    println!("{head}");
    let mut rows: BTreeMap<(usize, String), Vec<String>> = BTreeMap::new();
    for (col, (_, r)) in reports.iter().enumerate() {
        let mut add = |k: usize, name: String, cell: String| {
            let cells = rows.entry((k, name)).or_default();
            cells.resize(col, "-".into());
            cells.push(cell);
        };
        add(0, "GET /health baseline".into(), cell(&r.health));
        for (stage, s, changes) in &r.push {
            add(
                1,
                format!("push, +{stage:>5} devices (changes/s)"),
                format!(
                    "{:.0}/s {}/{}",
                    *changes as f64 / s.wall.as_secs_f64(),
                    ms(s.p50),
                    ms(s.p99)
                ),
            );
        }
        for (stage, s, cpu, health) in &r.idle {
            add(2, format!("{stage:>5} devices: GET /health"), cell(health));
            add(2, format!("{stage:>5} devices: no-change sync"), cell(s));
            add(
                2,
                format!("{stage:>5} devices: CPU/sync srv+db"),
                format!(
                    "{:.0}+{:.0} µs",
                    cpu.0.as_secs_f64() * 1e6,
                    cpu.1.as_secs_f64() * 1e6
                ),
            );
        }
        if let Some((photos, chunks, syncs, bytes)) = &r.photos {
            add(
                3,
                "photo mix: photos/s, MB/s".into(),
                format!(
                    "{:.0}/s {:.1} MB/s",
                    photos.rate(),
                    *bytes as f64 / photos.wall.as_secs_f64() / 1e6
                ),
            );
            add(3, "photo mix: 64 KiB chunks".into(), cell(chunks));
            add(3, "photo mix: no-change syncs".into(), cell(syncs));
        }
        for (what, s) in &r.workstation {
            add(
                4,
                format!("workstation: {what}"),
                format!("{}/{}", ms(s.p50), ms(s.p99)),
            );
        }
    }
    for ((_, name), mut cells) in rows {
        cells.resize(reports.len(), "-".into());
        let mut line = format!("{name:<34}");
        for c in cells {
            line.push_str(&format!("{c:>26}"));
        }
        println!("{line}");
    }
}

fn cell(s: &Stats) -> String {
    format!("{:.0}/s {}/{}", s.rate(), ms(s.p50), ms(s.p99))
}
