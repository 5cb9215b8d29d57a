//! The storage contract, written once and run against every backend: documents, the feed's
//! order, scopes, the directory, enrollment and revocation, pushes judged outside the
//! writer, and the workstation's queues and figures held to their plain-Rust definition.
//!
//! `cargo test` runs it on SQLite; the same tests on PostgreSQL are `#[ignore]`d there and
//! run by `scripts/suites/postgres.sh` (`-- --ignored`, with `OUTPOST_TEST_DATABASE` set).
//! Test data is made by phones (core's `Store`) and judged by core's own `check_push`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use automerge::Change;
use outpost_core::FixedClock;
use outpost_core::sync::validate::check_push;
use outpost_core::sync::wire::{Ack, PushDoc};
use outpost_core::{
    AnswerKind, AnswerValue, Category, EventKind, FollowUp, Member, NewCase, Site, Store, Template,
    Urgency,
};
use outpost_server::scope::{DirectoryIndex, member_scope};
use outpost_server::stats::{self, FigureQuery, Standards};
use outpost_server::storage::{EnrollOutcome, PushContext, RevokeTarget, Scope, StoreError};
use outpost_server::{Directory, MemberEntry, PostgresStorage, SqliteStorage, Storage};
use outpost_tests::harness::{TestDb, city, test_database};

/// A storage under test and what keeps its database alive.
struct Db {
    storage: Box<dyn Storage>,
    _dir: tempfile::TempDir,
    _pg: Option<TestDb>,
}

impl std::ops::Deref for Db {
    type Target = dyn Storage;
    fn deref(&self) -> &Self::Target {
        &*self.storage
    }
}

fn open_sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path().join("server.db")).unwrap();
    Db {
        storage: Box::new(storage),
        _dir: dir,
        _pg: None,
    }
}

fn open_postgres() -> Db {
    let admin = test_database().expect(
        "the postgres contract tests need PostgreSQL: run scripts/suites/postgres.sh, or set \
         OUTPOST_TEST_DATABASE=postgres://user@host:port/postgres",
    );
    let db = TestDb::create(&admin);
    let storage = PostgresStorage::open(&db.url).unwrap();
    Db {
        storage: Box::new(storage),
        _dir: tempfile::tempdir().unwrap(),
        _pg: Some(db),
    }
}

/// Every contract test, once per backend.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                super::$name(&super::open_sqlite());
            })*
        }
        mod postgres {
            $(#[test]
            #[ignore = "needs PostgreSQL: scripts/suites/postgres.sh runs it"]
            fn $name() {
                super::$name(&super::open_postgres());
            })*
        }
    };
}

contract![
    documents_are_stored_whole_or_not_at_all,
    the_feed_hands_out_every_change_once_in_position_order,
    documents_entering_a_scope_come_whole_and_leaving_ones_stop,
    a_large_catch_up_and_a_small_one_agree_with_the_scope,
    the_directory_merges_imports_and_counts_versions,
    invites_enroll_once_and_revocation_holds,
    a_pull_checks_its_token_in_its_first_statement,
    a_document_changed_while_judged_is_judged_again,
    an_abandoned_push_stops_before_its_next_document,
    queues_and_figures_follow_their_definition,
];
// Photo stores have their contract beside this one: tests/src/photo_contract.rs.

const NOW: i64 = 1_790_000_000_000;
const HOUR: i64 = 3_600_000;

/// A phone of a directory member: its own store, pushing and pulling straight through the
/// storage with core's checks, as the sync endpoint does.
struct Phone {
    store: Store,
    member: Member,
    actor: String,
    clock: Arc<FixedClock>,
    cursor: u64,
    _dir: tempfile::TempDir,
}

impl Phone {
    fn new(dir: &DirectoryIndex, id: &str) -> Phone {
        let tmp = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::new(NOW - 70 * 24 * HOUR));
        let store = Store::open_with_clock(tmp.path().join("phone.db"), clock.clone()).unwrap();
        let member = dir.member(id).expect("a directory member").clone();
        store.set_member(&member).unwrap();
        for t in Template::builtin() {
            store.install_template(&t.to_json()).unwrap();
        }
        Phone {
            actor: store.actor_id().unwrap(),
            store,
            member,
            clock,
            cursor: 0,
            _dir: tmp,
        }
    }

    /// A photo file as the phone's camera leaves it.
    fn camera_photo(&self, n: u64) -> std::path::PathBuf {
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
        bytes.extend((0..800u32).map(|i| (i as u8).wrapping_mul(7) ^ n as u8));
        let path = self._dir.path().join(format!("camera-{n}.jpg"));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn at(&self, t: i64) -> &Store {
        self.clock.set(t);
        &self.store
    }

    /// Every change of these documents, as a push.
    fn docs(&self, ids: &[String]) -> Vec<PushDoc> {
        ids.iter()
            .map(|id| PushDoc {
                id: id.clone(),
                changes: self
                    .store
                    .changes_since(id, &[])
                    .unwrap()
                    .into_iter()
                    .map(serde_bytes::ByteBuf::from)
                    .collect(),
            })
            .collect()
    }

    fn push_docs(&self, db: &dyn Storage, dir: &DirectoryIndex, docs: &[PushDoc]) -> Vec<Ack> {
        let check = |id: &str, existing, changes: &[Vec<u8>]| {
            check_push(&self.member, &self.actor, id, existing, changes, dir)
        };
        db.push(docs, &check, &PushContext::at(NOW)).unwrap()
    }

    /// Pushes every document of the phone; all must be accepted.
    fn push_all(&self, db: &dyn Storage, dir: &DirectoryIndex) {
        let docs = self.docs(&self.store.document_ids().unwrap());
        let acks = self.push_docs(db, dir, &docs);
        assert!(acks.iter().all(|a| a.ok), "refused: {acks:?}");
    }

    fn scope(&self) -> Scope {
        member_scope(&self.member)
    }

    /// Pulls to the head and applies what came.
    fn pull(&mut self, db: &dyn Storage) -> Vec<String> {
        let mut got = Vec::new();
        loop {
            let actor = hex::decode(&self.actor).unwrap();
            let page = db
                .pull(&self.scope(), self.cursor, 64 << 10, &actor)
                .unwrap();
            let batch: Vec<(String, Vec<Vec<u8>>)> = page
                .docs
                .iter()
                .map(|d| (d.id.clone(), d.changes.iter().map(|c| c.to_vec()).collect()))
                .collect();
            self.store.apply_remote(&batch).unwrap();
            got.extend(page.docs.into_iter().map(|d| d.id));
            self.cursor = page.cursor;
            if !page.more {
                return got;
            }
        }
    }
}

fn setup(db: &dyn Storage) -> DirectoryIndex {
    db.import_directory(&city()).unwrap();
    DirectoryIndex::new(db.directory().unwrap())
}

fn case(title: &str, grid: &str) -> NewCase {
    NewCase::new(Category::Waste, Urgency::Normal, title, grid)
}

fn hash_of(bytes: &[u8]) -> automerge::ChangeHash {
    Change::from_bytes(bytes.to_vec()).unwrap().hash()
}

/// Every change a pull from the start of the feed hands `scope`, one position per page:
/// (document, change hash) in feed order. Panics on a repeat or a cursor going back.
fn drain(db: &dyn Storage, scope: &Scope, skip: &[u8]) -> Vec<(String, automerge::ChangeHash)> {
    let mut cursor = 0;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    loop {
        let page = db.pull(scope, cursor, 1, skip).unwrap();
        assert!(page.cursor >= cursor, "the cursor went back");
        for d in &page.docs {
            for c in &d.changes {
                let h = hash_of(c);
                assert!(seen.insert(h), "change {h} of {} handed out twice", d.id);
                out.push((d.id.clone(), h));
            }
        }
        cursor = page.cursor;
        if !page.more {
            assert_eq!(cursor, db.head().unwrap(), "the last page reaches the head");
            return out;
        }
    }
}

fn documents_are_stored_whole_or_not_at_all(db: &Db) {
    let dir = setup(&**db);
    let courier = Phone::new(&dir, "courier-1");
    let other = Phone::new(&dir, "courier-2");
    let a = courier.store.create_case(case("a", "G1")).unwrap();
    let b = courier.store.create_case(case("b", "G2")).unwrap();
    courier
        .store
        .record(&a, EventKind::Comment { text: "x".into() })
        .unwrap();
    let foreign = other.store.create_case(case("other's", "G1")).unwrap();

    // The courier pushes its two cases and, between them, the other courier's document:
    // changes by another actor are refused, with nothing stored; the rest are stored.
    let mut docs = courier.docs(std::slice::from_ref(&a));
    docs.extend(other.docs(std::slice::from_ref(&foreign)));
    docs.extend(courier.docs(std::slice::from_ref(&b)));
    let acks = courier.push_docs(&**db, &dir, &docs);
    let ids: Vec<&str> = acks.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(ids, [a.as_str(), foreign.as_str(), b.as_str()], "in order");
    assert!(acks[0].ok && acks[0].stored == 2, "{:?}", acks[0]);
    assert!(!acks[1].ok && acks[1].code.is_some() && acks[1].reason.is_some());
    assert!(acks[2].ok && acks[2].stored == 1);
    assert_eq!(db.change_count(Some(&foreign)).unwrap(), 0);
    assert_eq!(db.change_count(None).unwrap(), 3);

    // Bytes that are not a change: refused as a whole, the good change beside them too.
    let mut bad = courier.docs(std::slice::from_ref(&a));
    courier
        .store
        .record(&a, EventKind::Comment { text: "y".into() })
        .unwrap();
    bad[0].changes = courier.docs(std::slice::from_ref(&a))[0].changes.clone();
    bad[0]
        .changes
        .push(serde_bytes::ByteBuf::from(vec![1, 2, 3]));
    let acks = courier.push_docs(&**db, &dir, &bad);
    assert!(!acks[0].ok, "{:?}", acks[0]);
    assert_eq!(db.change_count(Some(&a)).unwrap(), 2);

    // A repeat stores nothing new and says so; the new comment alone is stored.
    let acks = courier.push_docs(&**db, &dir, &courier.docs(&[a.clone(), b.clone()]));
    assert_eq!(
        acks.iter().map(|x| (x.ok, x.stored)).collect::<Vec<_>>(),
        [(true, 1), (true, 0)]
    );
    let rows = db.cases(None).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r.reporter_id == "courier-1" && r.is_open)
    );
}

fn the_feed_hands_out_every_change_once_in_position_order(db: &Db) {
    let dir = setup(&**db);
    let phones: Vec<Phone> = ["member-a1", "member-b", "courier-1"]
        .iter()
        .map(|m| Phone::new(&dir, m))
        .collect();
    let mut expected: Vec<automerge::ChangeHash> = Vec::new();
    for round in 0..4 {
        for (i, p) in phones.iter().enumerate() {
            let grid = if i == 1 { "G2" } else { "G1" };
            let id = p
                .store
                .create_case(case(&format!("{round}-{i}"), grid))
                .unwrap();
            if round % 2 == 1 {
                p.store
                    .record(
                        &id,
                        EventKind::Comment {
                            text: "more".into(),
                        },
                    )
                    .unwrap();
            }
            let before = db.head().unwrap();
            let docs = p.docs(std::slice::from_ref(&id));
            p.push_docs(&**db, &dir, &docs);
            expected.extend(docs[0].changes.iter().map(|c| hash_of(c)));
            assert!(db.head().unwrap() > before, "positions increase");
        }
    }
    // Everything, one position per page, in the order it was stored.
    let all = drain(&**db, &Scope::All, &[]);
    assert_eq!(
        all.iter().map(|(_, h)| *h).collect::<Vec<_>>(),
        expected,
        "feed order"
    );
    // The asking device's own changes stay out; one page holds everything when allowed.
    let own = hex::decode(&phones[2].actor).unwrap();
    let page = db.pull(&Scope::All, 0, usize::MAX, &own).unwrap();
    assert!(!page.more);
    let n: usize = page.docs.iter().map(|d| d.changes.len()).sum();
    assert_eq!(n, expected.len() - 6, "the courier's six changes left out");
    // A cursor beyond the feed (a restored server) starts over.
    let again = db.pull(&Scope::All, 1_000_000, usize::MAX, &[]).unwrap();
    assert_eq!(again.docs.len(), 12);
    // Nothing new: an empty page at the head.
    let head = db.head().unwrap();
    let idle = db.pull(&phones[0].scope(), head, usize::MAX, &[]).unwrap();
    assert_eq!((idle.docs.len(), idle.cursor, idle.more), (0, head, false));
}

fn documents_entering_a_scope_come_whole_and_leaving_ones_stop(db: &Db) {
    let dir = setup(&**db);
    let courier = Phone::new(&dir, "courier-1");
    let mut lead = Phone::new(&dir, "lead-c1");
    let mut one = Phone::new(&dir, "responder-1");
    let mut two = Phone::new(&dir, "responder-2");
    let mut b = Phone::new(&dir, "member-b");
    let x = courier.store.create_case(case("x", "G1")).unwrap();
    courier
        .store
        .record(&x, EventKind::Comment { text: "c".into() })
        .unwrap();
    courier.push_all(&**db, &dir);
    // Cursors taken before the dispatch: nothing in scope yet.
    for p in [&mut one, &mut two, &mut b] {
        assert!(p.pull(&**db).is_empty(), "{} saw something", p.member.id);
    }
    assert_eq!(lead.pull(&**db), std::slice::from_ref(&x));
    lead.store
        .record(
            &x,
            EventKind::Dispatched {
                unit_id: "U1".into(),
                deadline: lead.store.now() + 48 * HOUR,
            },
        )
        .unwrap();
    lead.push_all(&**db, &dir);
    // Responder 1 gains the case after its cursor: the whole history comes, at once.
    assert_eq!(one.pull(&**db), std::slice::from_ref(&x));
    assert_eq!(
        one.store.changes_since(&x, &[]).unwrap().len() as u64,
        db.change_count(Some(&x)).unwrap()
    );
    assert_eq!(
        one.store.case(&x).unwrap().assigned_unit.as_deref(),
        Some("U1")
    );
    assert!(two.pull(&**db).is_empty() && b.pull(&**db).is_empty());

    // Dispatched again, to unit 2: it arrives whole there; unit 1 keeps hearing how it
    // ends (an offline action of its own now is a conflict) but its queue drops it.
    lead.at(NOW)
        .record(
            &x,
            EventKind::Dispatched {
                unit_id: "U2".into(),
                deadline: NOW + 48 * HOUR,
            },
        )
        .unwrap();
    lead.push_all(&**db, &dir);
    assert_eq!(two.pull(&**db), std::slice::from_ref(&x));
    assert_eq!(
        two.store.case(&x).unwrap().assigned_unit.as_deref(),
        Some("U2")
    );
    lead.store
        .record(
            &x,
            EventKind::Comment {
                text: "after".into(),
            },
        )
        .unwrap();
    lead.push_all(&**db, &dir);
    assert_eq!(one.pull(&**db), std::slice::from_ref(&x));
    assert_eq!(
        one.store.case(&x).unwrap().assigned_unit.as_deref(),
        Some("U2")
    );
    assert!(one.store.unit_queue(10, 0).unwrap().is_empty());
    assert_eq!(two.pull(&**db), std::slice::from_ref(&x));
    assert_eq!(courier.store.case(&x).unwrap().timeline.len(), 2);
    // The reporter keeps seeing everything said on its report, once.
    let courier_scope = courier.scope();
    let got = drain(&**db, &courier_scope, &hex::decode(&courier.actor).unwrap());
    assert_eq!(got.len() as u64, db.change_count(Some(&x)).unwrap() - 2);
}

fn a_large_catch_up_and_a_small_one_agree_with_the_scope(db: &Db) {
    let dir = setup(&**db);
    let a1 = Phone::new(&dir, "lead-c1");
    let b = Phone::new(&dir, "member-b");
    // More changed documents than a page is put together from one by one.
    let cases: Vec<NewCase> = (0..300)
        .map(|i| case(&format!("{i}"), if i % 3 == 0 { "G2" } else { "G1A" }))
        .collect();
    let ids = a1.store.create_cases(&cases).unwrap();
    let mine: Vec<String> = ids.iter().step_by(3).cloned().collect();
    a1.push_all(&**db, &dir);
    b.store.create_case(case("b's", "G2")).unwrap();
    b.push_all(&**db, &dir);
    let in_scope = |scope: &Scope| -> usize {
        let keys: HashSet<String> = match scope {
            Scope::Keys(k) => k.iter().cloned().collect(),
            Scope::All => unreachable!(),
        };
        db.cases(None)
            .unwrap()
            .iter()
            .filter(|r| {
                keys.contains(&format!("g:{}", r.grid_id))
                    || keys.contains(&format!("r:{}", r.reporter_id))
            })
            .count()
    };
    // Member B's grid holds 100 of a1's cases and its own.
    let got = drain(&**db, &b.scope(), &[]);
    let docs: HashSet<&String> = got.iter().map(|(d, _)| d).collect();
    assert_eq!(docs.len(), in_scope(&b.scope()));
    assert_eq!(docs.len(), 101);
    for id in &mine {
        assert!(docs.contains(id));
    }
    // Then a few changes: from the head before them, exactly those come.
    let head = db.head().unwrap();
    for id in &mine[..3] {
        a1.store
            .record(id, EventKind::Comment { text: "new".into() })
            .unwrap();
    }
    a1.push_all(&**db, &dir);
    let page = db.pull(&b.scope(), head, usize::MAX, &[]).unwrap();
    let mut got: Vec<&str> = page.docs.iter().map(|d| d.id.as_str()).collect();
    got.sort();
    let mut want: Vec<&str> = mine[..3].iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(got, want);
    assert!(page.docs.iter().all(|d| d.changes.len() == 1));
}

fn the_directory_merges_imports_and_counts_versions(db: &Db) {
    assert_eq!(db.directory_version().unwrap(), 0);
    let v = db.import_directory(&city()).unwrap();
    assert_eq!(v, 1);
    let d = db.directory().unwrap();
    assert_eq!(d.version, 1);
    assert_eq!(d.grids.len(), city().grids.len());
    assert_eq!(d.members.len(), city().members.len());
    assert_eq!(
        d.templates.iter().map(|t| &t.id).collect::<Vec<_>>().len(),
        Template::builtin().len()
    );
    // An update replaces the entries it names and keeps the rest.
    let mut moved = d
        .members
        .iter()
        .find(|m| m.id == "member-b")
        .unwrap()
        .clone();
    moved.grids = vec!["G1".into()];
    let newer = Template::builtin()
        .into_iter()
        .map(|mut t| {
            t.version += 1;
            t
        })
        .collect::<Vec<_>>();
    let v = db
        .import_directory(&Directory {
            members: vec![
                moved,
                MemberEntry {
                    id: "new-one".into(),
                    name: "新人".into(),
                    role: outpost_core::Role::Courier,
                    grids: vec![],
                    unit: None,
                },
            ],
            templates: newer.clone(),
            ..Directory::default()
        })
        .unwrap();
    assert_eq!(v, 2);
    let d = db.directory().unwrap();
    assert_eq!(d.version, 2);
    assert_eq!(d.members.len(), city().members.len() + 1);
    let b = d.members.iter().find(|m| m.id == "member-b").unwrap();
    assert_eq!(b.grids, ["G1"]);
    assert!(d.members.iter().any(|m| m.name == "新人"));
    // Only the newest version of each template is handed out.
    assert_eq!(d.templates, newer);
}

fn invites_enroll_once_and_revocation_holds(db: &Db) {
    db.import_directory(&city()).unwrap();
    let code = |n: u8| vec![n; 32];
    let token = |n: u8| vec![100 + n; 32];
    assert!(matches!(
        db.create_invite(&code(9), "nobody", NOW, NOW + HOUR),
        Err(StoreError::Invalid(_))
    ));
    db.create_invite(&code(1), "courier-1", NOW, NOW + HOUR)
        .unwrap();
    db.create_invite(&code(2), "courier-1", NOW, NOW + HOUR)
        .unwrap();
    db.create_invite(&code(3), "member-a1", NOW, NOW + HOUR)
        .unwrap();
    db.create_invite(&code(4), "member-a1", NOW - 2 * HOUR, NOW - HOUR)
        .unwrap();
    let first = db
        .enroll(&code(1), "aa01", &token(1), "phone", NOW)
        .unwrap();
    let EnrollOutcome::Enrolled {
        device_id,
        member_id,
    } = first
    else {
        panic!("{first:?}")
    };
    assert_eq!(member_id, "courier-1");
    // A code is spent once; an expired one never works; an actor serves one device.
    assert_eq!(
        db.enroll(&code(1), "aa02", &token(2), "again", NOW)
            .unwrap(),
        EnrollOutcome::BadCode
    );
    assert_eq!(
        db.enroll(&code(4), "aa03", &token(3), "late", NOW).unwrap(),
        EnrollOutcome::BadCode
    );
    assert_eq!(
        db.enroll(&code(3), "aa01", &token(4), "copy", NOW).unwrap(),
        EnrollOutcome::ActorInUse
    );
    // The refused attempt left code 3 unspent.
    assert!(matches!(
        db.enroll(&code(3), "aa04", &token(4), "a1", NOW).unwrap(),
        EnrollOutcome::Enrolled { .. }
    ));
    let (device, version) = db.authenticate(&token(1)).unwrap().unwrap();
    assert_eq!((device.id.as_str(), version), (device_id.as_str(), 1));
    assert_eq!(device.actor, "aa01");
    assert!(device.revoked_at.is_none());
    assert!(db.authenticate(&token(9)).unwrap().is_none());
    assert_eq!(db.devices().unwrap().len(), 2);

    assert_eq!(
        db.revoke(RevokeTarget::Device(&device_id), NOW + 1)
            .unwrap(),
        1
    );
    assert_eq!(
        db.revoke(RevokeTarget::Device(&device_id), NOW + 2)
            .unwrap(),
        0
    );
    let (device, _) = db.authenticate(&token(1)).unwrap().unwrap();
    assert_eq!(device.revoked_at, Some(NOW + 1));
    // The revoked device's actor is free again; revoking the member spends its codes too.
    assert!(matches!(
        db.enroll(&code(2), "aa01", &token(5), "new phone", NOW)
            .unwrap(),
        EnrollOutcome::Enrolled { .. }
    ));
    db.create_invite(&code(6), "courier-1", NOW, NOW + HOUR)
        .unwrap();
    assert_eq!(
        db.revoke(RevokeTarget::Member("courier-1"), NOW + 3)
            .unwrap(),
        1
    );
    assert_eq!(
        db.enroll(&code(6), "aa06", &token(6), "x", NOW).unwrap(),
        EnrollOutcome::BadCode
    );
    assert!(
        db.authenticate(&token(5))
            .unwrap()
            .unwrap()
            .0
            .revoked_at
            .is_some()
    );
    assert!(
        db.authenticate(&token(4))
            .unwrap()
            .unwrap()
            .0
            .revoked_at
            .is_none()
    );
}

fn a_pull_checks_its_token_in_its_first_statement(db: &Db) {
    let dir = setup(&**db);
    db.create_invite(&[1; 32], "member-b", NOW, NOW + HOUR)
        .unwrap();
    let b = Phone::new(&dir, "member-b");
    let Ok(EnrollOutcome::Enrolled { device_id, .. }) =
        db.enroll(&[1; 32], &b.actor, &[2; 32], "b", NOW)
    else {
        panic!("enrolled")
    };
    let lead = Phone::new(&dir, "lead-c1");
    lead.store.create_case(case("g2", "G2")).unwrap();
    lead.store.create_case(case("g1", "G1")).unwrap();
    lead.push_all(&**db, &dir);
    let actor = hex::decode(&b.actor).unwrap();
    for (scope, after) in [
        (b.scope(), 0),
        (b.scope(), db.head().unwrap()),
        (Scope::All, 1),
    ] {
        let ((device, version), page) = db
            .authenticate_and_pull(&[2; 32], &scope, after, usize::MAX, &actor)
            .unwrap()
            .expect("the device");
        assert_eq!((device.id.as_str(), version), (device_id.as_str(), 1));
        assert_eq!(page, db.pull(&scope, after, usize::MAX, &actor).unwrap());
    }
    assert!(
        db.authenticate_and_pull(&[3; 32], &b.scope(), 0, usize::MAX, &actor)
            .unwrap()
            .is_none()
    );
    db.revoke(RevokeTarget::Device(&device_id), NOW).unwrap();
    let ((device, _), _) = db
        .authenticate_and_pull(&[2; 32], &b.scope(), 0, usize::MAX, &actor)
        .unwrap()
        .unwrap();
    assert_eq!(device.revoked_at, Some(NOW));
}

fn a_document_changed_while_judged_is_judged_again(db: &Db) {
    let dir = setup(&**db);
    let lead = Phone::new(&dir, "lead-c1");
    let member = Phone::new(&dir, "member-a1");
    let x = member.store.create_case(case("x", "G1")).unwrap();
    member.push_all(&**db, &dir);
    lead.store
        .apply_remote(&[(x.clone(), member.store.changes_since(&x, &[]).unwrap())])
        .unwrap();
    lead.store.record(&x, EventKind::Accepted).unwrap();
    member
        .store
        .record(
            &x,
            EventKind::Comment {
                text: "meanwhile".into(),
            },
        )
        .unwrap();
    // While the lead's push is judged (no lock held), the member's comment is stored: the
    // lead's write finds other heads, judges again and stores on top of them.
    let judged = AtomicUsize::new(0);
    let member_docs = member.docs(std::slice::from_ref(&x));
    let check = |id: &str, existing, changes: &[Vec<u8>]| {
        if judged.fetch_add(1, Ordering::SeqCst) == 0 {
            let acks = member.push_docs(&**db, &dir, &member_docs);
            assert!(acks[0].ok && acks[0].stored == 1, "{acks:?}");
        }
        check_push(&lead.member, &lead.actor, id, existing, changes, &dir)
    };
    let acks = db
        .push(
            &lead.docs(std::slice::from_ref(&x)),
            &check,
            &PushContext::at(NOW),
        )
        .unwrap();
    assert!(acks[0].ok && acks[0].stored == 1, "{acks:?}");
    assert!(judged.load(Ordering::SeqCst) >= 2, "judged again");
    assert_eq!(db.change_count(Some(&x)).unwrap(), 3);
    let row = db.cases(None).unwrap().pop().unwrap();
    assert_eq!(row.status, "accepted");
    // Both lines of history are in the stored document: a phone that pulls it whole has
    // the acceptance and the comment.
    let mut fresh = Phone::new(&dir, "member-a2");
    assert_eq!(fresh.pull(&**db), std::slice::from_ref(&x));
    let seen = fresh.store.case(&x).unwrap();
    assert_eq!(seen.timeline.len(), 3);
    assert_eq!(seen.status.as_str(), "accepted");
}

fn an_abandoned_push_stops_before_its_next_document(db: &Db) {
    let dir = setup(&**db);
    let courier = Phone::new(&dir, "courier-1");
    let ids = courier
        .store
        .create_cases(
            &(0..5)
                .map(|i| case(&i.to_string(), "G1"))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let cancel = AtomicBool::new(false);
    let judged = AtomicUsize::new(0);
    let check = |id: &str, existing, changes: &[Vec<u8>]| {
        // The request is abandoned while the second document is judged.
        if judged.fetch_add(1, Ordering::SeqCst) == 1 {
            cancel.store(true, Ordering::SeqCst);
        }
        check_push(&courier.member, &courier.actor, id, existing, changes, &dir)
    };
    let ctx = PushContext {
        now: NOW,
        cancel: &cancel,
    };
    let r = db.push(&courier.docs(&ids), &check, &ctx);
    assert!(matches!(r, Err(StoreError::Cancelled)), "{r:?}");
    assert_eq!(
        judged.load(Ordering::SeqCst),
        2,
        "no document judged after the flag"
    );
    // Whatever was stored stays; the next push stores the rest.
    let stored = db.change_count(None).unwrap();
    assert!(stored <= 2);
    let acks = courier.push_docs(&**db, &dir, &courier.docs(&ids));
    assert_eq!(
        acks.iter().map(|a| u64::from(a.stored)).sum::<u64>() + stored,
        5
    );
}

/// A lead's district over ten weeks: reports of every urgency, answered in time or late,
/// dispatched, resolved, closed with scores, cancelled, and hazards from an inspection
/// whose rectification deadlines passed.
fn district(db: &Db, dir: &DirectoryIndex) {
    let lead = Phone::new(dir, "lead-c1");
    let grids = ["G1", "G1A", "G2", "C1"];
    let urgencies = [
        Urgency::LifeSafety,
        Urgency::Urgent,
        Urgency::Normal,
        Urgency::Low,
    ];
    let categories = [Category::Waste, Category::FireHazard, Category::Noise];
    let mut ids = Vec::new();
    for i in 0..96i64 {
        let created = NOW - 70 * 24 * HOUR + i * 17 * HOUR;
        let mut c = NewCase::new(
            categories[i as usize % 3],
            urgencies[i as usize % 4],
            &format!("case {i}"),
            grids[i as usize % 4],
        );
        c.description = format!("day {}", i * 17 / 24);
        let id = lead.at(created).create_case(c).unwrap();
        // Answered after 1 h to 3 days, some never.
        let step = match i % 6 {
            0 => None,
            k => Some(created + k * k * 3 * HOUR),
        };
        if let Some(t) = step {
            if i % 4 == 1 {
                lead.at(t)
                    .record(
                        &id,
                        EventKind::Dispatched {
                            unit_id: if i % 8 == 1 { "U1" } else { "U2" }.into(),
                            deadline: t + (i % 5) * 24 * HOUR + HOUR,
                        },
                    )
                    .unwrap();
            } else {
                lead.at(t).record(&id, EventKind::Accepted).unwrap();
            }
            // Some dispatched cases stay open past their deadline.
            if i % 2 == 1 && i % 8 != 5 {
                lead.at(t + 30 * HOUR)
                    .record(
                        &id,
                        EventKind::Resolved {
                            note: "done".into(),
                        },
                    )
                    .unwrap();
                if i % 3 != 0 {
                    lead.at(t + 50 * HOUR)
                        .record(
                            &id,
                            EventKind::FollowUp(FollowUp {
                                visited_at: t + 50 * HOUR,
                                satisfaction: 1 + i % 5,
                                note: String::new(),
                            }),
                        )
                        .unwrap();
                }
            }
        } else if i % 5 == 0 {
            lead.at(created + HOUR)
                .record(
                    &id,
                    EventKind::Cancelled {
                        reason: "duplicate".into(),
                    },
                )
                .unwrap();
        } else if i % 4 == 0 {
            // Resolved on the spot: a response, but no acceptance.
            lead.at(created + 5 * HOUR)
                .record(
                    &id,
                    EventKind::Resolved {
                        note: "on the spot".into(),
                    },
                )
                .unwrap();
        }
        ids.push(id);
    }
    // An inspection three weeks ago with failed items: hazards with rectification deadlines.
    let insp = lead
        .at(NOW - 21 * 24 * HOUR)
        .start_inspection("shop-fire-safety", Site::new("12号商铺", "G1"), None)
        .unwrap();
    let template = lead.store.inspection(&insp).unwrap().template;
    for (n, item) in template.items().enumerate() {
        let v = match item.answer {
            AnswerKind::PassFail if n < 4 => AnswerValue::Fail,
            AnswerKind::YesNo => AnswerValue::NotApplicable,
            AnswerKind::Number => AnswerValue::Number(3.0),
            AnswerKind::Text => AnswerValue::Text("ok".into()),
            AnswerKind::Photo => AnswerValue::Photo,
            _ => AnswerValue::Pass,
        };
        let photos = match v {
            AnswerValue::Photo => vec![lead.camera_photo(7)],
            _ => vec![],
        };
        lead.store
            .answer_with_photos(&insp, &item.id, v, "", &photos)
            .unwrap();
    }
    let raised = lead.store.submit_inspection(&insp).unwrap();
    assert!(!raised.is_empty(), "the failed items raised hazards");
    lead.push_all(&**db, dir);
    assert_eq!(db.cases(None).unwrap().len(), ids.len() + raised.len());
}

fn queues_and_figures_follow_their_definition(db: &Db) {
    let dir = setup(&**db);
    district(db, &dir);
    let lead = dir.member("lead-c1").unwrap().grids.clone();
    let asks: [Option<Vec<String>>; 3] = [None, Some(lead), Some(vec!["G2".into()])];
    let mut standards = Standards::default();
    standards.0.insert("urgent".into(), 12 * HOUR);
    for grids in asks {
        let rows = db.cases(grids.as_deref()).unwrap();
        for limit in [3, 1000] {
            let want = stats::reference::queues(rows.clone(), NOW, limit);
            let got = db.queues(grids.as_deref(), NOW, limit).unwrap();
            assert_eq!(got, want, "queues for {grids:?}, limit {limit}");
        }
        for weeks in [0, 4, 12] {
            let ask = FigureQuery {
                grids: grids.clone(),
                now: NOW,
                weeks,
                standards: standards.clone(),
            };
            let want = stats::reference::figures(&rows, &ask);
            let got = db.figures(&ask).unwrap();
            assert_eq!(got.grids, want.grids, "grids of {grids:?}, {weeks} weeks");
            assert_eq!(got.units, want.units, "units of {grids:?}, {weeks} weeks");
            assert_eq!(got, want);
        }
    }
    // The data exercises what the figures count.
    let f = db
        .figures(&FigureQuery {
            grids: None,
            now: NOW,
            weeks: 10,
            standards,
        })
        .unwrap();
    let all = &f.all.figures;
    assert!(all.overdue_rectifications > 0, "{all:?}");
    assert!(all.overdue > all.overdue_rectifications);
    assert!(all.satisfaction.count > 0 && all.satisfaction.mean.is_some());
    assert!(all.response.on_time > 0 && all.response.on_time < all.response.due);
    assert!(all.response.by_urgency["urgent"].standard_ms == 12 * HOUR);
    assert!(all.median_accept_ms.is_some() && all.median_resolve_ms.is_some());
    let rows = db.cases(None).unwrap();
    assert!(
        rows.iter()
            .any(|r| r.accepted_at.is_none() && r.resolved_at.is_some()),
        "a case resolved on the spot: responded, never accepted"
    );
    assert_eq!(f.units.len(), 2);
    assert!(all.weekly.iter().filter(|w| w.reported > 0).count() >= 9);
    assert!(all.weekly.iter().any(|w| w.resolved > 0));
    let rate = all.resolution_rate.unwrap();
    assert!(rate > 0.0 && rate < 1.0);
    let counted: HashMap<&String, &usize> = all.by_status.iter().collect();
    assert!(counted.len() >= 5, "{counted:?}");
}
