//! Load with simulated devices, SQLite and PostgreSQL side by side, one and two server
//! processes: every device (its own courier) pushes its offline cases, then all devices run
//! rounds of syncs with nothing new. Prints throughput and p50/p99 latency per phase.
//!
//! `cargo bench -p outpost-tests --bench load` (SQLite only), or with
//! `OUTPOST_TEST_DATABASE=postgres://…` for PostgreSQL with one and two processes too.
//! `LOAD_DEVICES` (default 1000), `LOAD_CHANGES` (cases per device, default 20),
//! `LOAD_ROUNDS` (no-change rounds, default 3), `LOAD_CLIENTS` (concurrent connections,
//! default 32). Each request is a new loopback connection, as a phone's would often be.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use outpost_core::sync::wire::{PROTOCOL_VERSION, PushDoc, SyncRequest};
use outpost_core::{Category, Member, NewCase, Role, Store, Urgency};
use outpost_server::{MemberEntry, Storage};
use outpost_tests::harness::{Server, city, http, raw_sync, test_database};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A device as the server sees it: an actor and the cases it recorded offline.
struct Sim {
    member: String,
    actor: String,
    push: Vec<PushDoc>,
}

fn make_devices(n: usize, changes: usize, dir: &std::path::Path) -> Vec<Sim> {
    (0..n)
        .map(|i| {
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
            let cases: Vec<NewCase> = (0..changes)
                .map(|k| {
                    let mut c = NewCase::new(
                        Category::Waste,
                        Urgency::Normal,
                        &format!("楼道堆物 {i}-{k}"),
                        "G1",
                    );
                    c.description = format!("纸箱堆在楼梯口 device {i} case {k}");
                    c
                })
                .collect();
            let ids = store.create_cases(&cases).expect("cases");
            let push = ids
                .into_iter()
                .map(|id| PushDoc {
                    changes: store
                        .changes_since(&id, &[])
                        .expect("changes")
                        .into_iter()
                        .map(serde_bytes::ByteBuf::from)
                        .collect(),
                    id,
                })
                .collect();
            Sim {
                member,
                actor: store.actor_id().expect("actor"),
                push,
            }
        })
        .collect()
}

struct Stats {
    n: usize,
    wall: Duration,
    p50: Duration,
    p99: Duration,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>7.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} requests in {:.1} s)",
            self.n as f64 / self.wall.as_secs_f64(),
            self.p50.as_secs_f64() * 1000.0,
            self.p99.as_secs_f64() * 1000.0,
            self.n,
            self.wall.as_secs_f64()
        )
    }
}

/// Runs `job(i)` for every device on `clients` threads; latency of each call.
fn run(n: usize, clients: usize, job: &(dyn Fn(usize) + Sync)) -> Stats {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let mut lat: Vec<Duration> = std::thread::scope(|s| {
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
    let wall = started.elapsed();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Stats {
        n: lat.len(),
        wall,
        p50: pct(0.50),
        p99: pct(0.99),
    }
}

fn scenario(label: &str, devices: &[Sim], processes: usize, clients: usize, rounds: usize) {
    let mut directory = city();
    directory.members = devices
        .iter()
        .map(|d| MemberEntry {
            id: d.member.clone(),
            name: d.member.clone(),
            role: Role::Courier,
            grids: Vec::new(),
            unit: None,
        })
        .collect();
    let first = Server::start(&directory);
    let mut servers = vec![first];
    for _ in 1..processes {
        let replica = servers[0].start_replica(&[]);
        servers.push(replica);
    }
    let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();
    let storage = servers[0].storage();
    // Enrollment (not timed): one invite and one enroll per device, spread over processes.
    let tokens: Vec<String> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let code = outpost_server::cli::invite(&storage, &d.member, 72).expect("invite");
            let body = serde_json::json!({"code": code, "actor": d.actor, "device_name": d.member});
            let reply = http(
                addrs[i % addrs.len()],
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
        })
        .collect();
    let cursors: Vec<std::sync::Mutex<String>> =
        devices.iter().map(|_| Default::default()).collect();
    let req = |cursor: &str, push: Vec<PushDoc>| SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: cursor.to_string(),
        max_bytes: 0,
        push,
    };
    // Requests alternate between the processes, device by device and round by round.
    let push = run(devices.len(), clients, &|i| {
        let (reply, parsed) = raw_sync(
            addrs[i % addrs.len()],
            &tokens[i],
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
    let changes: usize = devices.iter().map(|d| d.push.len()).sum();
    assert_eq!(storage.change_count(None).expect("count") as usize, changes);
    let mut idle = Vec::new();
    for round in 0..rounds {
        idle.push(run(devices.len(), clients, &|i| {
            let cursor = cursors[i].lock().expect("cursor").clone();
            let (reply, parsed) = raw_sync(
                addrs[(i + round + 1) % addrs.len()],
                &tokens[i],
                &req(&cursor, Vec::new()),
            );
            assert_eq!(reply.status, 200);
            let r = parsed.expect("reply");
            assert!(r.docs.is_empty() && !r.more);
        }));
    }
    println!(
        "{label:<22} push ({} changes/device, one request each): {push}  = {:.0} changes/s",
        changes / devices.len().max(1),
        changes as f64 / push.wall.as_secs_f64()
    );
    for (round, s) in idle.iter().enumerate() {
        println!("{label:<22} no-change sync, round {}: {s}", round + 1);
    }
}

fn main() {
    let n = env("LOAD_DEVICES", 1000);
    let changes = env("LOAD_CHANGES", 20);
    let rounds = env("LOAD_ROUNDS", 3);
    let clients = env("LOAD_CLIENTS", 32);
    let dir = tempfile::tempdir().expect("temp dir");
    let t = Instant::now();
    let devices = make_devices(n, changes, dir.path());
    println!(
        "== load: {n} devices × {changes} cases, {rounds} no-change rounds, {clients} concurrent clients ({} cores; devices made in {:.1} s)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        t.elapsed().as_secs_f64()
    );
    let pg = test_database();
    // SQLite first, with the variable hidden from the harness.
    // SAFETY: set before any other thread of this program reads the environment.
    unsafe { std::env::remove_var("OUTPOST_TEST_DATABASE") };
    scenario("sqlite, 1 process", &devices, 1, clients, rounds);
    match pg {
        Some(url) => {
            // SAFETY: the threads of the previous scenario have all ended.
            unsafe { std::env::set_var("OUTPOST_TEST_DATABASE", &url) };
            scenario("postgres, 1 process", &devices, 1, clients, rounds);
            scenario("postgres, 2 processes", &devices, 2, clients, rounds);
        }
        None => println!("(set OUTPOST_TEST_DATABASE=postgres://… for PostgreSQL)"),
    }
}
