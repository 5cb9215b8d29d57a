//! Cut-off syncs: a proxy cuts requests and replies at random bytes while a device process
//! syncs, and the test kills that process at random moments (also while it applies a
//! reply), many times over. The next clean sync converges: nothing lost, nothing doubled,
//! and the stored cursor never moved backwards or past what the store holds.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use outpost_core::{Category, NewCase, Store, Urgency};
use outpost_server::Storage;
use outpost_tests::harness::{Device, Server, bin, city};
use outpost_tests::link::{Link, Profile};
use rand::Rng;

fn cursor_seq(store: &Store) -> u64 {
    let c = store.sync_state().unwrap().cursor;
    c.rsplit('.')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn new_cases(store: &Store, n: usize, tag: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut c = NewCase::new(
                Category::Waste,
                Urgency::Normal,
                &format!("{tag} 楼道堆物 {i}"),
                "G1",
            );
            c.description = "纸箱和旧家具堆在二楼楼梯口，影响通行".repeat(3);
            store.create_case(c).unwrap()
        })
        .collect()
}

#[test]
fn syncs_cut_at_random_bytes_and_killed_mid_apply_converge() {
    let server = Server::start(&city());
    let proxy = Link::start(server.addr, Profile::NONE);
    let dir = tempfile::tempdir().unwrap();
    // The others write straight to the server; the victim goes through the proxy.
    let writer = Device::enroll(&server, &server.url, dir.path(), "member-a1");
    let victim = Device::enroll(&server, &proxy.url(), dir.path(), "member-a2");
    let db = victim.db.clone();
    let mut mine: Vec<String> = new_cases(&victim.store, 30, "mine");
    drop(victim); // from here on only the device process opens this store

    new_cases(&writer.store, 120, "theirs");
    writer.sync();

    let mut rng = rand::rng();
    let mut last_seq = 0u64;
    let (mut killed, mut finished) = (0, 0);
    let mut typical = 60.0f64;
    let started = Instant::now();
    for round in 0..60 {
        proxy.set_cut_percent(50);
        if round % 2 == 1 {
            new_cases(&writer.store, 12, &format!("theirs-{round}"));
            writer.sync();
        }
        {
            let store = Store::open(&db).unwrap();
            mine.extend(new_cases(&store, 2, &format!("mine-{round}")));
        }
        let mut child = Command::new(bin("outpost-test-device"))
            .arg(&db)
            .args(["sync", "--impatient"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let spawned = Instant::now();
        // Kill somewhere inside a typical sync: before, during and after its round trips.
        let deadline =
            spawned + Duration::from_millis(rng.random_range(1..=(typical * 1.3) as u64));
        loop {
            if child.try_wait().unwrap().is_some() {
                typical = 0.7 * typical + 0.3 * spawned.elapsed().as_millis() as f64;
                finished += 1;
                break;
            }
            if Instant::now() >= deadline {
                child.kill().unwrap(); // SIGKILL, wherever it is
                child.wait().unwrap();
                killed += 1;
                typical *= 1.15; // it needed longer: aim later next time
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let store = Store::open(&db).unwrap();
        store.check_integrity().unwrap();
        let seq = cursor_seq(&store);
        assert!(
            seq >= last_seq,
            "round {round}: cursor went back {last_seq} → {seq}"
        );
        last_seq = seq;
    }
    assert!(
        killed > 0 && proxy.cuts() > 0,
        "killed {killed}, cuts {}",
        proxy.cuts()
    );

    // Signal is back: sync to the end.
    proxy.set_cut_percent(0);
    let mut clean = false;
    for _ in 0..5 {
        let status = Command::new(bin("outpost-test-device"))
            .arg(&db)
            .args(["sync", "--impatient"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        if status.success() {
            clean = true;
            break;
        }
    }
    assert!(clean, "a clean sync after the cuts");
    writer.sync();

    let store = Store::open(&db).unwrap();
    assert!(
        store.outbox(10).unwrap().is_empty(),
        "everything acknowledged"
    );
    assert!(store.refused_docs().unwrap().is_empty());
    let storage = server.storage();
    let on_server: BTreeSet<String> = storage
        .cases(Some(&["G1".to_string()]))
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    let on_device: BTreeSet<String> = store
        .all_cases(10_000, 0)
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(on_server.len(), 30 + 120 + 120 + 30 * 12);
    assert_eq!(
        on_device, on_server,
        "the device holds exactly the server's cases"
    );
    for id in &mine {
        assert!(on_server.contains(id), "own case {id} reached the server");
    }
    for id in &on_server {
        let here = store.changes_since(id, &[]).unwrap().len() as u64;
        assert_eq!(
            storage.change_count(Some(id)).unwrap(),
            here,
            "{id}: same changes on both sides, none doubled"
        );
        assert_eq!(store.heads(id).unwrap(), writer.store.heads(id).unwrap());
    }
    assert_eq!(cursor_seq(&store), storage.head().unwrap());
    eprintln!(
        "cut-off test: {killed} kills, {finished} finished, {} cuts over {} connections, {:?}",
        proxy.cuts(),
        proxy.connections(),
        started.elapsed()
    );
}
