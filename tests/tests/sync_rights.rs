//! Rights judged on the merged history, against a real server process: three offline
//! actions that crossed an action they were not allowed after. Each push is accepted (the
//! author was allowed where it acted), each action is kept on every phone's timeline as a
//! conflict, and neither the server's case row nor any phone's state reflects it.

use automerge::{ROOT, transaction::Transactable};
use outpost_core::sync::wire::RefusalCode;
use outpost_core::{Case, Category, EventKind, NewCase, Status, Urgency};
use outpost_server::Storage;
use outpost_tests::harness::{Device, Server, city, doc_as, last_change, push_request, raw_sync};

const DAY: i64 = 24 * 3600 * 1000;

/// The timeline entry of `kind` by `author`, with its conflict reason.
fn entry<'a>(c: &'a Case, author: &str, kind: &str) -> &'a outpost_core::TimelineEntry {
    c.timeline
        .iter()
        .find(|t| t.event.author == author && t.event.kind.name() == kind)
        .unwrap_or_else(|| panic!("{author}'s {kind} is kept on the timeline"))
}

/// The server's row of case `id`: (status, grid, unit).
fn on_server(server: &Server, id: &str) -> (String, String, Option<String>) {
    let rows = server.storage().cases(None).unwrap();
    let r = rows.iter().find(|r| r.id == id).expect("the server has it");
    (r.status.clone(), r.grid_id.clone(), r.assigned_unit.clone())
}

fn dispatch(unit: &str, d: &Device) -> EventKind {
    EventKind::Dispatched {
        unit_id: unit.into(),
        deadline: d.store.now() + DAY,
    }
}

#[test]
fn a_couriers_cancel_that_crossed_the_dispatch_is_kept_and_changes_nothing() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let courier = Device::enroll(&server, &server.url, dir.path(), "courier-1");
    let lead = Device::enroll(&server, &server.url, dir.path(), "lead-c1");
    let unit = Device::enroll(&server, &server.url, dir.path(), "responder-1");
    let flag = courier
        .store
        .flag_person_in_distress("G1", None, Some("老人倒地"), None)
        .unwrap();
    courier.sync();
    lead.sync();
    lead.store.record(&flag, EventKind::Accepted).unwrap();
    lead.store.record(&flag, dispatch("U1", &lead)).unwrap();
    lead.sync();
    // Offline, the courier still sees "new" and takes the flag back.
    courier
        .store
        .record(
            &flag,
            EventKind::Cancelled {
                reason: "误报".into(),
            },
        )
        .unwrap();
    assert_eq!(courier.store.case(&flag).unwrap().status, Status::Cancelled);
    let r = courier.sync();
    assert!(r.refused.is_empty(), "an honest offline action is accepted");
    for d in [&courier, &lead, &unit] {
        d.sync();
        let c = d.store.case(&flag).unwrap();
        assert_eq!(c.status, Status::Dispatched, "{}", d.name);
        assert!(
            entry(&c, "courier-1", "cancelled").conflict.is_some(),
            "{}",
            d.name
        );
    }
    assert_eq!(
        on_server(&server, &flag),
        ("dispatched".into(), "G1".into(), Some("U1".into()))
    );
    assert_eq!(unit.store.unit_queue(10, 0).unwrap().len(), 1);
}

#[test]
fn a_resolve_that_crossed_a_redispatch_to_another_unit_does_not_resolve() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let member = Device::enroll(&server, &server.url, dir.path(), "member-a1");
    let lead = Device::enroll(&server, &server.url, dir.path(), "lead-c1");
    let u1 = Device::enroll(&server, &server.url, dir.path(), "responder-1");
    let u2 = Device::enroll(&server, &server.url, dir.path(), "responder-2");
    let id = member
        .store
        .create_case(NewCase::new(
            Category::Waste,
            Urgency::Urgent,
            "楼道堆物",
            "G1",
        ))
        .unwrap();
    member.sync();
    lead.sync();
    lead.store.record(&id, dispatch("U1", &lead)).unwrap();
    lead.sync();
    u1.sync();
    // The lead moves the work to U2 while U1, offline, resolves it.
    lead.store.record(&id, dispatch("U2", &lead)).unwrap();
    lead.sync();
    u1.store
        .record(
            &id,
            EventKind::Resolved {
                note: "已清理".into(),
            },
        )
        .unwrap();
    assert!(u1.sync().refused.is_empty());
    for d in [&member, &lead, &u1, &u2] {
        d.sync();
        let c = d.store.case(&id).unwrap();
        assert_eq!(
            (c.status, c.assigned_unit.as_deref()),
            (Status::Dispatched, Some("U2")),
            "{}",
            d.name
        );
        assert!(entry(&c, "responder-1", "resolved").conflict.is_some());
    }
    assert_eq!(
        on_server(&server, &id),
        ("dispatched".into(), "G1".into(), Some("U2".into()))
    );
    assert!(u1.store.unit_queue(10, 0).unwrap().is_empty());
    assert_eq!(u2.store.unit_queue(10, 0).unwrap().len(), 1);
}

#[test]
fn a_lead_cannot_take_back_a_case_an_administrator_moved() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let member = Device::enroll(&server, &server.url, dir.path(), "member-a1");
    let lead = Device::enroll(&server, &server.url, dir.path(), "lead-c1");
    let admin = Device::enroll(&server, &server.url, dir.path(), "admin");
    let lead_b = Device::enroll(&server, &server.url, dir.path(), "lead-b");
    let id = member
        .store
        .create_case(NewCase::new(
            Category::Noise,
            Urgency::Normal,
            "夜间施工",
            "G1",
        ))
        .unwrap();
    member.sync();
    lead.sync();
    admin.sync();
    admin.store.move_case(&id, "G2").unwrap();
    assert!(admin.sync().refused.is_empty());
    // Offline, the G1 lead still holds the case and dispatches it.
    lead.store.record(&id, dispatch("U1", &lead)).unwrap();
    assert!(lead.sync().refused.is_empty());
    admin.sync();
    lead_b.sync();
    for d in [&admin, &lead_b] {
        let c = d.store.case(&id).unwrap();
        assert_eq!(
            (c.grid_id.as_str(), c.status, c.assigned_unit.as_deref()),
            ("G2", Status::New, None),
            "{}",
            d.name
        );
        assert!(entry(&c, "lead-c1", "dispatched").conflict.is_some());
    }
    assert_eq!(on_server(&server, &id), ("new".into(), "G2".into(), None));
    // Rewriting the report's grid by hand (the attack that once moved a case back: a put
    // with a higher op counter) is refused outright.
    let actor = lead.store.actor_id().unwrap();
    let mut doc = doc_as(&admin.store, &id, &actor);
    doc.put(ROOT, "grid_id", "G1A").unwrap();
    let (reply, parsed) = raw_sync(
        server.addr,
        &lead.token(),
        &push_request("", &id, vec![last_change(&mut doc)]),
    );
    assert_eq!(reply.status, 200);
    let ack = &parsed.unwrap().acks[0];
    assert_eq!(ack.code, Some(RefusalCode::Forbidden), "{ack:?}");
    assert!(ack.reason.as_deref().unwrap_or("").contains("grid"));
    assert_eq!(on_server(&server, &id).1, "G2");
}
