//! The stories end to end, against a real server process on loopback: a courier's flag, a
//! lead's acceptance, a walkthrough filled by two members offline, a dispatch, a revoked
//! device.

use outpost_core::sync::SyncError;
use outpost_core::{AnswerValue, EventKind, Site, Status};
use outpost_tests::harness::{Device, Server, city};

fn answer_all(d: &Device, insp: &str, items: &[&str], value: impl Fn(&str) -> AnswerValue) {
    for item in items {
        let v = value(item);
        let photos = match v {
            AnswerValue::Photo => vec![d.camera_photo(7)],
            _ => vec![],
        };
        d.store
            .answer_with_photos(insp, item, v, "", &photos)
            .unwrap_or_else(|e| panic!("{} answering {item}: {e}", d.name));
    }
}

#[test]
fn a_couriers_flag_reaches_its_grid_and_the_acceptance_comes_back() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let enroll = |m: &str| Device::enroll(&server, &server.url, dir.path(), m);
    let courier = enroll("courier-1");
    let other_courier = enroll("courier-2");
    let a1 = enroll("member-a1");
    let micro_only = enroll("member-a2");
    let b = enroll("member-b");
    let lead = enroll("lead-c1");
    let lead_b = enroll("lead-b");
    let responder = enroll("responder-1");

    // Offline: saved at once, nothing sent yet.
    let flag = courier
        .store
        .flag_person_in_distress("G1A", None, Some("老人倒地"), None)
        .unwrap();
    assert_eq!(courier.store.outbox(10).unwrap().len(), 1);

    let r = courier.sync();
    assert_eq!((r.pushed_docs, r.refused.len()), (1, 0));
    assert!(courier.store.outbox(10).unwrap().is_empty());

    // G1A is a micro-grid under G1, under C1: its members and leads see it.
    for d in [&a1, &micro_only, &lead] {
        d.sync();
        let c = d
            .store
            .case(&flag)
            .unwrap_or_else(|e| panic!("{}: {e}", d.name));
        assert_eq!(c.status, Status::New);
    }
    // Nobody else does.
    for d in [&b, &lead_b, &other_courier, &responder] {
        d.sync();
        assert!(d.store.case(&flag).is_err(), "{} saw the flag", d.name);
        assert!(d.store.all_cases(100, 0).unwrap().is_empty(), "{}", d.name);
    }

    lead.store.record(&flag, EventKind::Accepted).unwrap();
    lead.sync();
    courier.sync();
    let seen = courier.store.case(&flag).unwrap();
    assert!(seen.acknowledged);
    assert_eq!(seen.status, Status::Accepted);
    assert_eq!(
        seen.timeline
            .iter()
            .map(|e| e.event.author.as_str())
            .collect::<Vec<_>>(),
        ["courier-1", "lead-c1"]
    );
    // The other courier still has nothing.
    other_courier.sync();
    assert!(other_courier.store.all_cases(100, 0).unwrap().is_empty());

    // What the server holds equals what the phones hold.
    let storage = server.storage();
    use outpost_server::Storage;
    let rows = storage.cases(None).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "accepted");
    assert_eq!(
        a1.store.heads(&flag).unwrap().len(),
        1,
        "one line of history"
    );
}

#[test]
fn a_walkthrough_filled_by_two_members_offline_converges_everywhere() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let li = Device::enroll(&server, &server.url, dir.path(), "member-a1");
    let zhao = Device::enroll(&server, &server.url, dir.path(), "member-a2");
    let lead = Device::enroll(&server, &server.url, dir.path(), "lead-c1");

    let insp = li
        .store
        .start_inspection("residential-fire-safety", Site::new("12号楼", "G1"), None)
        .unwrap();
    li.sync();
    zhao.sync();
    let template = zhao.store.inspection(&insp).unwrap().template;
    let items: Vec<String> = template.items().map(|i| i.id.clone()).collect();
    let (first, second) = items.split_at(items.len() / 2);
    let value = |id: &str| match template.item(id).map(|i| i.answer) {
        Some(outpost_core::AnswerKind::YesNo) => AnswerValue::NotApplicable,
        Some(outpost_core::AnswerKind::Number) => AnswerValue::Number(3.0),
        Some(outpost_core::AnswerKind::Text) => AnswerValue::Text("ok".into()),
        Some(outpost_core::AnswerKind::Photo) => AnswerValue::Photo,
        _ => AnswerValue::Pass,
    };
    // Offline, overlapping on the first item of the second half.
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    let second: Vec<&str> = second.iter().map(String::as_str).collect();
    let overlap = second[0];
    answer_all(&li, &insp, &first, value);
    answer_all(&li, &insp, &[overlap], |_| AnswerValue::Fail);
    answer_all(&zhao, &insp, &second, value);

    li.sync();
    zhao.sync();
    li.sync();
    lead.sync();
    let a = li.store.inspection(&insp).unwrap();
    assert_eq!(a, zhao.store.inspection(&insp).unwrap());
    assert_eq!(a, lead.store.inspection(&insp).unwrap());
    assert!(a.unanswered().is_empty());
    let both = a.answer(overlap).unwrap();
    assert_eq!(both.answers.len(), 2, "both answers stay visible");
    assert_eq!(a.inspectors.len(), 2);
    assert_eq!(
        li.store.heads(&insp).unwrap(),
        zhao.store.heads(&insp).unwrap()
    );

    // Submitting raises hazard cases that reach the lead, and the submission reaches Zhao.
    let raised = zhao.store.submit_inspection(&insp).unwrap();
    let r = zhao.sync();
    assert!(r.refused.is_empty(), "{:?}", r.refused);
    lead.sync();
    li.sync();
    for id in &raised {
        assert!(lead.store.case(id).is_ok());
    }
    assert_eq!(
        li.store.inspection(&insp).unwrap(),
        zhao.store.inspection(&insp).unwrap()
    );
}

#[test]
fn a_dispatched_case_reaches_its_unit_whole_and_only_its_unit() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let courier = Device::enroll(&server, &server.url, dir.path(), "courier-1");
    let lead = Device::enroll(&server, &server.url, dir.path(), "lead-c1");
    let unit = Device::enroll(&server, &server.url, dir.path(), "responder-1");
    let other_unit = Device::enroll(&server, &server.url, dir.path(), "responder-2");

    let flag = courier
        .store
        .flag_person_in_distress("G2", None, None, None)
        .unwrap();
    courier
        .store
        .record(
            &flag,
            EventKind::Comment {
                text: "还有呼吸".into(),
            },
        )
        .unwrap();
    courier.sync();
    // Before the dispatch, the unit sees nothing; its cursor moves on past the case.
    unit.sync();
    assert!(unit.store.case(&flag).is_err());
    lead.sync();
    lead.store.record(&flag, EventKind::Accepted).unwrap();
    let deadline = lead.store.now() + 3_600_000;
    lead.store
        .record(
            &flag,
            EventKind::Dispatched {
                unit_id: "U1".into(),
                deadline,
            },
        )
        .unwrap();
    lead.sync();

    unit.sync();
    other_unit.sync();
    let c = unit.store.case(&flag).expect("the unit has the case");
    assert_eq!(
        c.timeline.len(),
        4,
        "created, comment, accepted, dispatched"
    );
    assert_eq!(c.status, Status::Dispatched);
    assert!(other_unit.store.case(&flag).is_err());

    unit.store
        .record(
            &flag,
            EventKind::Resolved {
                note: "已送医".into(),
            },
        )
        .unwrap();
    let r = unit.sync();
    assert!(r.refused.is_empty(), "{:?}", r.refused);
    courier.sync();
    assert_eq!(courier.store.case(&flag).unwrap().status, Status::Resolved);
}

#[test]
fn a_revoked_device_is_refused_and_a_repeated_sync_is_one_small_round_trip() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let courier = Device::enroll(&server, &server.url, dir.path(), "courier-1");
    courier
        .store
        .flag_person_in_distress("G1", None, None, None)
        .unwrap();
    courier.sync();
    let idle = courier.sync();
    assert_eq!(idle.round_trips, 1);
    assert_eq!((idle.pushed_docs, idle.pulled_changes), (0, 0));
    assert!(idle.bytes_sent + idle.bytes_received < 200, "{idle:?}");

    server.admin(&["revoke", "--device", &courier.device_id()]);
    courier
        .store
        .flag_person_in_distress("G1", None, None, None)
        .unwrap();
    match courier.try_sync() {
        Err(SyncError::Unauthorized(m)) => assert!(m.contains("revoked"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let state = courier.store.sync_state().unwrap();
    assert!(state.last_error.unwrap().contains("revoked"));
    assert_eq!(courier.store.outbox(10).unwrap().len(), 1, "kept for later");
    // The invite it used is spent: a second enrollment with it is refused.
    use outpost_server::Storage;
    assert_eq!(server.storage().change_count(None).unwrap(), 1);
}
