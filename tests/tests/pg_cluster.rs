//! City scale: several `outpost-server` processes on one PostgreSQL database behave as one
//! server, and the change feed never skips or repeats a change, also with concurrent pushes
//! on different processes and a lower position that commits after a higher one was read.
//!
//! PostgreSQL only: `scripts/suites/postgres.sh` runs this target (`cargo test --test
//! pg_cluster`) with `OUTPOST_TEST_DATABASE` set. Plain `cargo test` leaves it out
//! (`test = false` in Cargo.toml); run without the variable, every test fails and says why.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use automerge::{AutoCommit, Change, ChangeHash};
use outpost_core::sync::validate::{Accepted, Refusal, read_view};
use outpost_core::sync::wire::PushDoc;
use outpost_core::{Category, EventKind, Member, NewCase, Role, Status, Store, Urgency};
use outpost_server::storage::postgres::HookPoint;
use outpost_server::storage::{Page, PushContext, Scope};
use outpost_server::{PostgresStorage, Storage};
use outpost_tests::harness::{Device, Server, TestDb, city, eventually, test_database};

fn pg() -> String {
    test_database().expect(
        "these tests need PostgreSQL: run scripts/suites/postgres.sh, or set \
         OUTPOST_TEST_DATABASE=postgres://user@host:port/postgres",
    )
}

fn case(title: &str, grid: &str) -> NewCase {
    NewCase::new(Category::Waste, Urgency::Normal, title, grid)
}

/// Points the device at another server process.
fn via(d: &mut Device, s: &Server) {
    let url = s.url.clone();
    d.configure(|c| c.server_url = url);
}

#[test]
fn two_processes_serve_devices_as_one_server_alternating() {
    pg();
    let a = Server::start(&city());
    let b = a.start_replica(&[]);
    let dir = tempfile::tempdir().unwrap();
    // Enrolled through different processes; the invite of one is spent on the other.
    let mut courier = Device::enroll(&a, &b.url, dir.path(), "courier-1");
    let mut member = Device::enroll(&a, &a.url, dir.path(), "member-a1");
    let mut lead = Device::enroll(&a, &b.url, dir.path(), "lead-c1");
    let servers = [&a, &b];

    let flag = courier
        .store
        .flag_person_in_distress("G1", None, Some("老人倒地"), None)
        .unwrap();
    let mut cases = vec![flag.clone()];
    for round in 0..6 {
        let s = servers[round % 2];
        let t = servers[(round + 1) % 2];
        // Each device syncs through one process, then the next one through the other.
        via(&mut member, s);
        let id = member
            .store
            .create_case(case(&format!("round {round}"), "G1"))
            .unwrap();
        cases.push(id);
        courier.sync();
        via(&mut courier, t);
        member.sync();
        via(&mut lead, t);
        lead.sync();
        via(&mut lead, s);
        lead.sync();
        for c in &cases {
            lead.store
                .case(c)
                .unwrap_or_else(|e| panic!("round {round}: lead misses {c}: {e}"));
            member
                .store
                .case(c)
                .unwrap_or_else(|e| panic!("round {round}: member misses {c}: {e}"));
        }
    }
    // An answer written through one process reaches the reporter through the other.
    via(&mut lead, &a);
    lead.store.record(&flag, EventKind::Accepted).unwrap();
    lead.sync();
    via(&mut courier, &b);
    courier.sync();
    assert_eq!(courier.store.case(&flag).unwrap().status, Status::Accepted);
    // Both processes see the one database.
    assert_eq!(a.storage().cases(None).unwrap().len(), cases.len());
    assert_eq!(
        a.storage().head().unwrap(),
        b.storage().head().unwrap(),
        "one feed"
    );
    // A device revoked through the administration command is refused by both processes
    // (each hears of it from the database a moment after it commits).
    a.admin(&["revoke", "--device", &member.device_id()]);
    for s in servers {
        via(&mut member, s);
        eventually(
            &format!("the revoked device is refused via {}", s.url),
            Duration::from_secs(2),
            || member.try_sync().is_err(),
        );
    }
}

/// A known device's idle sync is answered by its process's feed watch, with no statement,
/// and misses nothing: a write through the other process reaches it, a write to another
/// grid leaves it quiet, and a revocation is heard.
#[test]
fn idle_syncs_are_answered_from_the_watch_and_miss_nothing() {
    pg();
    let a = Server::start(&city());
    let b = a.start_replica(&[]);
    let dir = tempfile::tempdir().unwrap();
    let writer = Device::enroll(&a, &a.url, dir.path(), "member-a1");
    let reader = Device::enroll(&a, &b.url, dir.path(), "member-a2");
    let other = Device::enroll(&a, &b.url, dir.path(), "member-b");
    let watched = || b.metric("outpost_watched_syncs_total");
    // The first sync checks the device; later idle ones are answered by B's watch.
    reader.sync();
    other.sync();
    eventually(
        "B answers idle syncs itself",
        Duration::from_secs(5),
        || {
            let before = watched();
            reader.sync();
            watched() > before
        },
    );
    for round in 0..5 {
        // Written through A, in G1: B's G1 device gets it within a moment.
        let id = writer
            .store
            .create_case(case(&format!("through A {round}"), "G1"))
            .unwrap();
        writer.sync();
        eventually(
            &format!("case {round} reaches G1 through B"),
            Duration::from_secs(2),
            || {
                reader.sync();
                reader.store.case(&id).is_ok()
            },
        );
        // Nothing in G2 changed: its device stays quiet, answered by the watch.
        let before = watched();
        let r = other.sync();
        assert_eq!(r.pulled_changes, 0);
        assert!(
            watched() > before,
            "round {round}: G2's idle sync asked the database"
        );
        assert!(other.store.case(&id).is_err(), "G2 sees a G1 case");
    }
    // What the reader pushes through B is seen through A at once by the writer (one
    // database), and the reader's own idle syncs go on from the watch.
    let id = reader.store.create_case(case("through B", "G1")).unwrap();
    reader.sync();
    eventually(
        "the writer gets it through A",
        Duration::from_secs(2),
        || {
            writer.sync();
            writer.store.case(&id).is_ok()
        },
    );
    // Revoked through the administration command: B hears it and refuses.
    a.admin(&["revoke", "--device", &other.device_id()]);
    eventually(
        "B refuses the revoked device",
        Duration::from_secs(2),
        || other.try_sync().is_err(),
    );
    let r = reader.try_sync();
    assert!(r.is_ok(), "an unrevoked device goes on: {r:?}");
}

/// A feed reader that pulls one position per page and remembers every change it got.
struct Reader {
    storages: Vec<PostgresStorage>,
    cursor: u64,
    seen: HashSet<ChangeHash>,
    pulls: usize,
}

impl Reader {
    fn new(url: &str) -> Reader {
        Reader {
            storages: (0..2)
                .map(|_| PostgresStorage::open(url).unwrap())
                .collect(),
            cursor: 0,
            seen: HashSet::new(),
            pulls: 0,
        }
    }

    /// One page, from the connections of alternating "processes"; panics on a repeat.
    fn pull(&mut self) -> Page {
        let s = &self.storages[self.pulls % self.storages.len()];
        self.pulls += 1;
        let page = s.pull(&Scope::All, self.cursor, 1, &[]).unwrap();
        assert!(page.cursor >= self.cursor, "the cursor went back");
        for d in &page.docs {
            for c in &d.changes {
                let hash = Change::from_bytes(c.to_vec()).unwrap().hash();
                assert!(
                    self.seen.insert(hash),
                    "change {hash} of {} sent twice (cursor {})",
                    d.id,
                    self.cursor
                );
            }
        }
        self.cursor = page.cursor;
        page
    }

    /// Pulls until the feed's head.
    fn drain(&mut self) {
        loop {
            let page = self.pull();
            if !page.more && page.cursor >= self.storages[0].head().unwrap() {
                return;
            }
        }
    }
}

#[test]
fn concurrent_pushes_on_two_processes_never_skip_or_repeat_a_change() {
    let url = pg();
    let a = Server::start(&city());
    let b = a.start_replica(&[]);
    let dir = tempfile::tempdir().unwrap();
    const ROUNDS: usize = 12;
    let writers = [
        "member-a1",
        "member-a2",
        "member-b",
        "courier-1",
        "courier-2",
    ];
    let mut devices: Vec<Device> = writers
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let s = if i % 2 == 0 { &a } else { &b };
            Device::enroll(&a, &s.url, dir.path(), m)
        })
        .collect();
    for d in devices.iter_mut() {
        let grid = if d.name == "member-b" { "G2" } else { "G1" };
        for i in 0..ROUNDS {
            d.store
                .create_case(case(&format!("{} {i}", d.name), grid))
                .unwrap();
        }
        // One case per request: many small transactions racing on both processes.
        d.configure(|c| c.push_bytes = 1);
    }
    let _ = url;
    let db = a.database.as_ref().unwrap().url.clone();
    let done = AtomicBool::new(false);
    let barrier = Barrier::new(devices.len() + 1);
    let mut reader = std::thread::scope(|s| {
        let writers: Vec<_> = devices
            .iter_mut()
            .enumerate()
            .map(|(i, d)| {
                let (a, b, barrier) = (&a, &b, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    // One request per sync, alternating processes between requests.
                    d.configure(|c| c.max_rounds = 1);
                    for round in 0..ROUNDS {
                        via(d, if (i + round) % 2 == 0 { a } else { b });
                        d.sync();
                    }
                    via(d, a);
                    d.configure(|c| c.max_rounds = 64);
                    let r = d.sync();
                    assert!(r.refused.is_empty(), "{}: {:?}", d.name, r.refused);
                })
            })
            .collect();
        let reader = s.spawn(|| {
            let mut reader = Reader::new(&db);
            barrier.wait();
            while !done.load(Ordering::SeqCst) {
                reader.pull();
            }
            reader
        });
        for w in writers {
            w.join().expect("writer");
        }
        done.store(true, Ordering::SeqCst);
        reader.join().expect("reader")
    });
    reader.drain();
    let stored = a.storage().change_count(None).unwrap() as usize;
    assert_eq!(stored, writers.len() * ROUNDS, "every case stored once");
    assert_eq!(
        reader.seen.len(),
        stored,
        "the reader got every change exactly once over {} pulls",
        reader.pulls
    );
    // And a device syncing through both processes holds every case.
    let mut admin = Device::enroll(&a, &b.url, dir.path(), "admin");
    admin.sync();
    via(&mut admin, &a);
    admin.sync();
    assert_eq!(
        admin.store.all_cases(1000, 0).unwrap().len(),
        writers.len() * ROUNDS
    );
}

/// Accepts any change that leaves a readable document (the gap test is about the feed, not
/// about rights).
fn accept(
    id: &str,
    existing: Option<AutoCommit>,
    changes: &[Vec<u8>],
) -> Result<Accepted, Refusal> {
    let mut doc = existing.unwrap_or_default();
    let mut fresh = Vec::new();
    for bytes in changes {
        let change = Change::from_bytes(bytes.clone()).expect("a change");
        if doc.get_change_by_hash(&change.hash()).is_none() {
            fresh.push((change.hash(), bytes.clone()));
            doc.apply_changes([change]).expect("applies");
        }
    }
    let view = read_view(&doc, id).expect("a document");
    Ok(Accepted { doc, fresh, view })
}

/// A case made by a phone, as a push of all its changes.
fn pushed_case(store: &Store, title: &str) -> PushDoc {
    let id = store.create_case(case(title, "G1")).unwrap();
    PushDoc {
        changes: store
            .changes_since(&id, &[])
            .unwrap()
            .into_iter()
            .map(serde_bytes::ByteBuf::from)
            .collect(),
        id,
    }
}

/// Stops the first push of a storage at `point` until released.
struct Gate {
    reached: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

fn gate(storage: &PostgresStorage, point: HookPoint) -> Gate {
    let (reached_tx, reached) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let once = AtomicBool::new(false);
    let release_rx = Mutex::new(release_rx);
    storage.set_hook(Some(Arc::new(move |p| {
        if p == point && !once.swap(true, Ordering::SeqCst) {
            let _ = reached_tx.send(());
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(30));
        }
    })));
    Gate { reached, release }
}

fn ids(page: &Page) -> Vec<&str> {
    page.docs.iter().map(|d| d.id.as_str()).collect()
}

#[test]
fn a_position_committing_after_a_higher_one_was_read_is_not_skipped() {
    let db = TestDb::create(&pg());
    // Two "processes": separate storages, separate connections, one database.
    let first = PostgresStorage::open(&db.url).unwrap();
    let second = PostgresStorage::open(&db.url).unwrap();
    let reader = PostgresStorage::open(&db.url).unwrap();
    let phone_dir = tempfile::tempdir().unwrap();
    let phone = Store::open(phone_dir.path().join("phone.db")).unwrap();
    phone
        .set_member(&Member::new("member-a1", "A1", Role::GridMember, ["G1"]))
        .unwrap();
    let (x, y, z, w) = (
        pushed_case(&phone, "x"),
        pushed_case(&phone, "y"),
        pushed_case(&phone, "z"),
        pushed_case(&phone, "w"),
    );

    // The classic gap: X's transaction starts first and writes its rows, Y's commits while
    // X's is still open, a device reads up to Y. With positions taken at insert, X would
    // hold a lower one than Y and the device's cursor would already be past it.
    let g = gate(&first, HookPoint::BeforePositions);
    std::thread::scope(|s| {
        let held = s.spawn(|| {
            first
                .push(std::slice::from_ref(&x), &accept, &PushContext::at(1))
                .unwrap()
        });
        g.reached.recv_timeout(Duration::from_secs(30)).unwrap();
        let acks = second
            .push(std::slice::from_ref(&y), &accept, &PushContext::at(2))
            .unwrap();
        assert!(acks[0].ok && acks[0].stored > 0);
        let page = reader.pull(&Scope::All, 0, usize::MAX, &[]).unwrap();
        assert_eq!(ids(&page), [y.id.as_str()], "only Y has committed");
        let cursor = page.cursor;
        g.release.send(()).unwrap();
        let acks = held.join().unwrap();
        assert!(acks[0].ok && acks[0].stored > 0);
        let page = reader.pull(&Scope::All, cursor, usize::MAX, &[]).unwrap();
        assert_eq!(
            ids(&page),
            [x.id.as_str()],
            "X comes after the cursor, not before it"
        );
        assert_eq!(page.docs[0].changes.len(), x.changes.len());
    });

    // Numbered but not committed: the counter is locked, so a later push waits for it and
    // a reader sees neither until the first commits; then both, in commit order.
    let cursor = reader.head().unwrap();
    let g = gate(&first, HookPoint::BeforeCommit);
    std::thread::scope(|s| {
        let held = s.spawn(|| {
            first
                .push(std::slice::from_ref(&z), &accept, &PushContext::at(3))
                .unwrap()
        });
        g.reached.recv_timeout(Duration::from_secs(30)).unwrap();
        let (done_tx, done_rx) = mpsc::channel();
        let (second, w) = (&second, &w);
        let later = s.spawn(move || {
            let acks = second
                .push(std::slice::from_ref(w), &accept, &PushContext::at(4))
                .unwrap();
            let _ = done_tx.send(());
            acks
        });
        assert!(
            done_rx.recv_timeout(Duration::from_millis(500)).is_err(),
            "W was numbered while Z's positions were uncommitted"
        );
        let page = reader.pull(&Scope::All, cursor, usize::MAX, &[]).unwrap();
        assert!(
            page.docs.is_empty(),
            "nothing visible yet: {:?}",
            ids(&page)
        );
        assert_eq!(page.cursor, cursor);
        g.release.send(()).unwrap();
        assert!(held.join().unwrap()[0].ok);
        assert!(later.join().unwrap()[0].ok);
        let page = reader.pull(&Scope::All, cursor, usize::MAX, &[]).unwrap();
        assert_eq!(ids(&page), [z.id.as_str(), w.id.as_str()]);
    });
    first.set_hook(None);
    assert_eq!(
        reader.change_count(None).unwrap() as usize,
        [&x, &y, &z, &w]
            .iter()
            .map(|d| d.changes.len())
            .sum::<usize>()
    );
}
