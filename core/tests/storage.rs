//! The file on the phone: foreign, corrupt, truncated and future files give typed errors
//! and are never overwritten; documents compact and reload intact.

mod common;

use common::*;
use outpost_core::{Category, Error, EventKind, NewCase, Role, Store, Urgency};

fn bytes(p: &std::path::Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn random_bytes_are_not_a_store_and_stay_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.db");
    let junk: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &junk).unwrap();
    match Store::open(&path) {
        Err(Error::NotAStore(msg)) => assert!(msg.contains("junk.db"), "{msg}"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened random bytes"),
    }
    assert_eq!(bytes(&path), junk);
}

#[test]
fn another_apps_sqlite_database_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE contacts(name TEXT); INSERT INTO contacts VALUES ('张三');")
            .unwrap();
    }
    let before = bytes(&path);
    assert!(matches!(Store::open(&path), Err(Error::NotAStore(_))));
    assert_eq!(bytes(&path), before);
}

#[test]
fn a_store_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    drop(Store::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    assert!(matches!(
        Store::open(&path),
        Err(Error::TooNew { found: 99, .. })
    ));
}

#[test]
fn a_truncated_or_damaged_store_gives_a_typed_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lead.db");
    {
        let lead = phone(&dir, "lead", Role::GridLead);
        for i in 0..300 {
            let mut c = NewCase::new(
                Category::Waste,
                Urgency::Normal,
                &format!("垃圾堆放 {i}"),
                GRID,
            );
            c.description = "x".repeat(400);
            lead.create_case(c).unwrap();
        }
    }
    // Fold the WAL into the main file so truncation really loses pages.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let full = bytes(&path);
    for (name, damaged) in [
        ("truncated", full[..full.len() / 2].to_vec()),
        ("flipped", {
            let mut d = full.clone();
            for b in d[full.len() / 3..full.len() / 3 + 4096].iter_mut() {
                *b ^= 0x5A;
            }
            d
        }),
    ] {
        let p = dir.path().join(format!("{name}.db"));
        std::fs::write(&p, &damaged).unwrap();
        let outcome = Store::open(&p).and_then(|s| {
            s.all_cases(1000, 0)?;
            s.search("垃圾", 1000)?;
            s.check_integrity()
        });
        match outcome {
            Err(Error::Corrupt(_) | Error::NotAStore(_)) => {}
            other => panic!("{name}: expected a corruption error, got {other:?}"),
        }
    }
}

#[test]
fn documents_compact_into_snapshots_and_reload_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("li.db");
    let id;
    let before;
    {
        let li = phone(&dir, "li", Role::GridMember);
        id = li
            .create_case(NewCase::new(
                Category::Dispute,
                Urgency::Low,
                "邻里纠纷",
                GRID,
            ))
            .unwrap();
        for i in 0..150 {
            li.record(
                &id,
                EventKind::Comment {
                    text: format!("第{i}次沟通"),
                },
            )
            .unwrap();
        }
        before = li.case(&id).unwrap();
    }
    let change_rows: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT count(*) FROM changes", [], |r| r.get(0))
        .unwrap();
    assert!(
        change_rows < 64,
        "{change_rows} change rows were never compacted"
    );
    let li = Store::open(&path).unwrap();
    let after = li.case(&id).unwrap();
    assert_eq!(after, before);
    assert_eq!(after.timeline.len(), 151);
}

#[test]
fn the_device_keeps_its_actor_and_member_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rider.db");
    let (actor, member) = {
        let p = phone(&dir, "rider", Role::Courier);
        (p.actor_id().unwrap(), p.member().unwrap())
    };
    let again = Store::open(&path).unwrap();
    assert_eq!(again.actor_id().unwrap(), actor);
    assert_eq!(again.member().unwrap(), member);
    assert_eq!(actor.len(), 32);
}

#[test]
fn hostile_changes_are_refused_whole_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let li = phone(&dir, "li", Role::GridMember);
    let rider = phone(&dir, "rider", Role::Courier);
    let id = rider
        .flag_person_in_distress(GRID, None, None, None)
        .unwrap();
    let good = rider.changes_since(&id, &[]).unwrap();
    // Garbage bytes next to a good document: the whole batch is refused.
    let err = li
        .apply_remote(&[
            (id.clone(), good.clone()),
            ("x".into(), vec![b"not automerge".to_vec()]),
        ])
        .unwrap_err();
    assert!(matches!(err, Error::BadChange { .. }), "{err}");
    assert!(li.document_ids().unwrap().is_empty());
    // A well-formed change that breaks the case schema is refused too.
    let mut doc = automerge::AutoCommit::new();
    use automerge::transaction::Transactable;
    doc.put(automerge::ROOT, "kind", "case").unwrap();
    doc.put(automerge::ROOT, "id", "evil").unwrap();
    doc.put(automerge::ROOT, "urgency", 42).unwrap();
    let evil: Vec<Vec<u8>> = doc
        .get_changes(&[])
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    assert!(matches!(
        li.apply_remote(&[("evil".into(), evil)]),
        Err(Error::BadDocument { .. })
    ));
    assert!(li.all_cases(10, 0).unwrap().is_empty());
    // The same good changes twice, and in pieces, are stored once.
    li.apply_remote(&[(id.clone(), good.clone())]).unwrap();
    assert_eq!(
        li.apply_remote(&[(id.clone(), good)]).unwrap().new_changes,
        0
    );
    assert_eq!(li.case(&id).unwrap(), rider.case(&id).unwrap());
}

#[test]
fn changes_arriving_out_of_order_wait_for_their_dependencies() {
    let dir = tempfile::tempdir().unwrap();
    let lead = phone(&dir, "lead", Role::GridLead);
    let li = phone(&dir, "li", Role::GridMember);
    let id = lead
        .create_case(NewCase::new(Category::Waste, Urgency::Low, "垃圾", GRID))
        .unwrap();
    lead.record(&id, EventKind::Accepted).unwrap();
    lead.record(
        &id,
        EventKind::Comment {
            text: "已通知物业".into(),
        },
    )
    .unwrap();
    let mut all = lead.changes_since(&id, &[]).unwrap();
    assert_eq!(all.len(), 3);
    let last = all.pop().unwrap();
    // The newest change first: it is kept but the case is not listed until its base arrives.
    li.apply_remote(&[(id.clone(), vec![last])]).unwrap();
    assert!(li.all_cases(10, 0).unwrap().is_empty());
    drop(li);
    let li = Store::open(dir.path().join("li.db")).unwrap();
    li.apply_remote(&[(id.clone(), all)]).unwrap();
    assert_eq!(li.case(&id).unwrap(), lead.case(&id).unwrap());
    assert_eq!(li.heads(&id).unwrap(), lead.heads(&id).unwrap());
}

#[test]
fn a_member_without_an_id_or_a_responder_without_a_unit_is_refused() {
    use outpost_core::{Member, ValidationError};
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path().join("m.db")).unwrap();
    let err = s
        .set_member(&Member::new(" ", "x", Role::Courier, ["g"]))
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Invalid(ValidationError::Empty { field: "member id" })
    ));
    let err = s
        .set_member(&Member::new("r1", "x", Role::Responder, ["g"]))
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Invalid(ValidationError::Empty {
            field: "responder unit"
        })
    ));
    assert_eq!(s.member().unwrap(), None);
    s.set_member(&Member::new("r1", "x", Role::Responder, ["g"]).with_unit("chengguan"))
        .unwrap();
}
