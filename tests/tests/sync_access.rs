//! Access: every role tried against forbidden reads and writes, hand-built hostile changes,
//! bad tokens and broken bodies. Each is refused with a clear status or reason, nothing of
//! it is stored, and the server keeps serving.

use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, Value, transaction::Transactable};
use outpost_core::sync::wire::{self, PROTOCOL_VERSION, RefusalCode, SyncRequest};
use outpost_core::{AnswerValue, Site};
use outpost_server::Storage;
use outpost_tests::harness::{
    Device, Server, city, doc_as, eventually, http, last_change, push_request, raw_sync,
};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Appends a timeline event by hand.
fn append_event(doc: &mut AutoCommit, kind: &str, author: &str, role: &str, extra: &[(&str, i64)]) {
    let events = match doc.get(ROOT, "events").unwrap() {
        Some((Value::Object(ObjType::List), id)) => id,
        _ => panic!("no timeline"),
    };
    let n = doc.length(&events);
    let m = doc.insert_object(&events, n, ObjType::Map).unwrap();
    doc.put(&m, "id", format!("ev-{n}-{kind}")).unwrap();
    doc.put(&m, "kind", kind).unwrap();
    doc.put(&m, "author", author).unwrap();
    doc.put(&m, "role", role).unwrap();
    doc.put(&m, "at", now()).unwrap();
    for (k, v) in extra {
        doc.put(&m, *k, *v).unwrap();
    }
}

/// Pushes one hand-built change and expects it refused with `code`.
fn expect_refused(
    server: &Server,
    d: &Device,
    id: &str,
    change: Vec<u8>,
    code: RefusalCode,
) -> String {
    let (reply, parsed) = raw_sync(server.addr, &d.token(), &push_request("", id, vec![change]));
    assert_eq!(reply.status, 200, "{}", reply.error_code());
    let ack = &parsed.expect("a sync reply").acks[0];
    assert!(!ack.ok, "{} was allowed to push {id}", d.name);
    assert_eq!(ack.code, Some(code), "{}: {:?}", d.name, ack.reason);
    ack.reason.clone().unwrap_or_default()
}

#[test]
fn forbidden_writes_are_refused_with_a_reason_and_leave_nothing() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let enroll = |m: &str| Device::enroll(&server, &server.url, dir.path(), m);
    let courier = enroll("courier-1");
    let courier2 = enroll("courier-2");
    let a1 = enroll("member-a1");
    let a2 = enroll("member-a2");
    let b = enroll("member-b");
    let lead = enroll("lead-c1");
    let lead_b = enroll("lead-b");
    let responder = enroll("responder-1");

    let case_a = courier
        .store
        .flag_person_in_distress("G1", None, Some("倒地"), None)
        .unwrap();
    courier.sync();
    let insp = a1
        .store
        .start_inspection("residential-fire-safety", Site::new("12号楼", "G1"), None)
        .unwrap();
    let case_m = a1
        .store
        .create_case(outpost_core::NewCase::new(
            outpost_core::Category::Waste,
            outpost_core::Urgency::Low,
            "垃圾堆放",
            "G1",
        ))
        .unwrap();
    a1.sync();
    lead.sync();
    let storage = server.storage();
    let stored = storage.change_count(None).unwrap();

    // Someone else's case, from every role that may not touch it.
    for d in [&courier2, &b, &lead_b, &responder] {
        let actor = d.store.actor_id().unwrap();
        let mut doc = doc_as(&lead.store, &case_a, &actor);
        let role = d.store.member().unwrap().unwrap().role.as_str();
        append_event(&mut doc, "comment", &d.name, role, &[]);
        let reason = expect_refused(
            &server,
            d,
            &case_a,
            last_change(&mut doc),
            RefusalCode::Forbidden,
        );
        assert!(!reason.is_empty());
    }

    // Another device's actor: the courier's own change, pushed with a stranger's token.
    courier
        .store
        .record(
            &case_a,
            outpost_core::EventKind::Comment {
                text: "还醒着".into(),
            },
        )
        .unwrap();
    let synced = courier.store.synced_heads(&case_a).unwrap();
    let theirs = courier.store.changes_since(&case_a, &synced).unwrap();
    let raw = automerge::Change::from_bytes(theirs[0].clone())
        .unwrap()
        .raw_bytes()
        .to_vec();
    expect_refused(&server, &courier2, &case_a, raw, RefusalCode::WrongActor);

    // The courier on its own report: no dispatch, no move, no schema breaking.
    let me = courier.store.actor_id().unwrap();
    let mut doc = doc_as(&lead.store, &case_a, &me);
    append_event(
        &mut doc,
        "dispatched",
        "courier-1",
        "courier",
        &[("deadline", now() + 3_600_000)],
    );
    let events = match doc.get(ROOT, "events").unwrap() {
        Some((_, id)) => id,
        None => unreachable!(),
    };
    let last = doc.length(&events) - 1;
    if let Some((_, m)) = doc.get(&events, last).unwrap() {
        doc.put(&m, "unit_id", "U1").unwrap();
    }
    let r = expect_refused(
        &server,
        &courier,
        &case_a,
        last_change(&mut doc),
        RefusalCode::Forbidden,
    );
    assert!(r.contains("dispatch"), "{r}");

    let mut doc = doc_as(&lead.store, &case_a, &me);
    doc.put(ROOT, "grid_id", "G2").unwrap();
    append_event(&mut doc, "edited", "courier-1", "courier", &[]);
    let r = expect_refused(
        &server,
        &courier,
        &case_a,
        last_change(&mut doc),
        RefusalCode::Forbidden,
    );
    assert!(r.contains("grid"), "{r}");

    let mut doc = doc_as(&lead.store, &case_a, &me);
    doc.put(ROOT, "title", 42).unwrap();
    append_event(&mut doc, "edited", "courier-1", "courier", &[]);
    expect_refused(
        &server,
        &courier,
        &case_a,
        last_change(&mut doc),
        RefusalCode::Invalid,
    );

    let mut doc = doc_as(&lead.store, &case_a, &me);
    doc.delete(ROOT, "events").unwrap();
    expect_refused(
        &server,
        &courier,
        &case_a,
        last_change(&mut doc),
        RefusalCode::Invalid,
    );

    // Speaking in someone else's name.
    let mut doc = doc_as(&lead.store, &case_a, &me);
    append_event(&mut doc, "accepted", "lead-c1", "grid_lead", &[]);
    expect_refused(
        &server,
        &courier,
        &case_a,
        last_change(&mut doc),
        RefusalCode::Forbidden,
    );

    // Someone else's report, edited by the courier.
    let mut doc = doc_as(&a1.store, &case_m, &me);
    doc.put(ROOT, "title", "改掉").unwrap();
    append_event(&mut doc, "edited", "courier-1", "courier", &[]);
    expect_refused(
        &server,
        &courier,
        &case_m,
        last_change(&mut doc),
        RefusalCode::Forbidden,
    );

    // A walkthrough: an answer in another member's name, and one from another grid.
    let a1_actor = a1.store.actor_id().unwrap();
    let mut doc = doc_as(&a1.store, &insp, &a1_actor);
    let answers = match doc.get(ROOT, "answers").unwrap() {
        Some((_, id)) => id,
        None => unreachable!(),
    };
    let m = doc
        .put_object(&answers, "fire_lane_clear", ObjType::Map)
        .unwrap();
    doc.put(&m, "value", "pass").unwrap();
    doc.put(&m, "by", "member-a2").unwrap();
    doc.put(&m, "at", now()).unwrap();
    let r = expect_refused(
        &server,
        &a1,
        &insp,
        last_change(&mut doc),
        RefusalCode::Forbidden,
    );
    assert!(r.contains("own name"), "{r}");
    b.sync();
    let b_actor = b.store.actor_id().unwrap();
    let mut doc = doc_as(&a1.store, &insp, &b_actor);
    let answers = match doc.get(ROOT, "answers").unwrap() {
        Some((_, id)) => id,
        None => unreachable!(),
    };
    let m = doc
        .put_object(&answers, "fire_lane_clear", ObjType::Map)
        .unwrap();
    doc.put(&m, "value", "pass").unwrap();
    doc.put(&m, "by", "member-b").unwrap();
    doc.put(&m, "at", now()).unwrap();
    expect_refused(
        &server,
        &b,
        &insp,
        last_change(&mut doc),
        RefusalCode::Forbidden,
    );

    // New documents: a forged id, one that names another id inside, one that takes an
    // existing id, garbage bytes, and a change whose dependency nobody has.
    let mut fresh = AutoCommit::new().with_actor(automerge::ActorId::from(
        hex::decode(courier2.store.actor_id().unwrap()).unwrap(),
    ));
    fresh.put(ROOT, "kind", "case").unwrap();
    fresh.put(ROOT, "id", "not-the-same").unwrap();
    let change = last_change(&mut fresh);
    expect_refused(
        &server,
        &courier2,
        "../../etc",
        change.clone(),
        RefusalCode::Malformed,
    );
    expect_refused(
        &server,
        &courier2,
        "0000-forged",
        change.clone(),
        RefusalCode::Invalid,
    );
    let mut clash = AutoCommit::new().with_actor(automerge::ActorId::from(
        hex::decode(courier2.store.actor_id().unwrap()).unwrap(),
    ));
    clash.put(ROOT, "kind", "case").unwrap();
    clash.put(ROOT, "id", case_a.as_str()).unwrap();
    let r = expect_refused(
        &server,
        &courier2,
        &case_a,
        last_change(&mut clash),
        RefusalCode::Forbidden,
    );
    assert!(r.contains("already exists") || r.contains("scope"), "{r}");
    expect_refused(
        &server,
        &courier,
        &case_a,
        vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3],
        RefusalCode::Malformed,
    );
    let mut doc = doc_as(&lead.store, &case_a, &me);
    append_event(&mut doc, "comment", "courier-1", "courier", &[]);
    doc.commit();
    append_event(&mut doc, "comment", "courier-1", "courier", &[]);
    let second = last_change(&mut doc);
    let r = expect_refused(&server, &courier, &case_a, second, RefusalCode::Malformed);
    assert!(r.contains("depend"), "{r}");

    // A responder may not accept a case that was never dispatched to it.
    let resp_actor = responder.store.actor_id().unwrap();
    let mut doc = doc_as(&lead.store, &case_a, &resp_actor);
    append_event(&mut doc, "accepted", "responder-1", "responder", &[]);
    expect_refused(
        &server,
        &responder,
        &case_a,
        last_change(&mut doc),
        RefusalCode::Forbidden,
    );

    assert_eq!(
        storage.change_count(None).unwrap(),
        stored,
        "nothing refused was stored"
    );

    // Honest work still goes through, also from those who were just refused.
    let r = courier.sync();
    assert!(r.refused.is_empty(), "{:?}", r.refused);
    assert_eq!(r.pushed_changes, 1);
    a2.sync();
    a2.store
        .answer(&insp, "fire_lane_clear", AnswerValue::Pass, "", &[])
        .unwrap();
    assert!(a2.sync().refused.is_empty());
    assert_eq!(storage.change_count(None).unwrap(), stored + 2);
}

#[test]
fn bad_tokens_bodies_and_reads_get_clear_statuses_and_the_server_keeps_serving() {
    let mut server = Server::start_with(
        &city(),
        &["--max-body", "65536", "--request-timeout-secs", "1"],
    );
    let dir = tempfile::tempdir().unwrap();
    let courier = Device::enroll(&server, &server.url, dir.path(), "courier-1");
    let member = Device::enroll(&server, &server.url, dir.path(), "member-b");
    let lead = Device::enroll(&server, &server.url, dir.path(), "lead-c1");
    let lead_b = Device::enroll(&server, &server.url, dir.path(), "lead-b");
    let courier2 = Device::enroll(&server, &server.url, dir.path(), "courier-2");
    let flag = courier
        .store
        .flag_person_in_distress("G2", None, None, None)
        .unwrap();
    courier.sync();
    let storage = server.storage();
    let stored = storage.change_count(None).unwrap();
    let addr = server.addr;
    let empty = wire::to_cbor(&SyncRequest {
        v: PROTOCOL_VERSION,
        ..SyncRequest::default()
    });
    let auth = |d: &Device| format!("Bearer {}", d.token());
    let post = |headers: &[(&str, &str)], body: &[u8]| {
        http(addr, "POST", "/v1/sync", headers, body).expect("request")
    };

    // Tokens.
    assert_eq!(post(&[], &empty).status, 401);
    assert_eq!(
        post(&[("Authorization", "Bearer nope")], &empty).status,
        401
    );
    assert_eq!(post(&[("Authorization", "Basic abc")], &empty).status, 401);
    server.admin(&["revoke", "--member", "lead-b"]);
    // On PostgreSQL the server hears of it from the database a moment after it commits.
    eventually(
        "the revoked member is refused",
        std::time::Duration::from_secs(2),
        || {
            let r = post(&[("Authorization", &auth(&lead_b))], &empty);
            (r.status, r.error_code().as_str()) == (401, "unauthorized")
        },
    );

    // Bodies.
    let a = auth(&courier);
    let ok = post(&[("Authorization", &a)], &empty);
    assert_eq!(ok.status, 200);
    let big = vec![7u8; 70_000];
    assert_eq!(post(&[("Authorization", &a)], &big).status, 413);
    let bomb = wire::gzip(&vec![0u8; 40 << 20]);
    assert!(bomb.len() < 65536);
    let r = post(
        &[("Authorization", &a), ("Content-Encoding", "gzip")],
        &bomb,
    );
    assert_eq!((r.status, r.error_code().as_str()), (413, "too_large"));
    let mut rng_bytes = vec![0u8; 2000];
    for (i, b) in rng_bytes.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(151).wrapping_add(17);
    }
    assert_eq!(post(&[("Authorization", &a)], &rng_bytes).status, 400);
    let full = wire::to_cbor(&SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: String::new(),
        max_bytes: 0,
        push: vec![wire::PushDoc {
            id: "x".into(),
            changes: vec![serde_bytes::ByteBuf::from(vec![1u8; 300])],
        }],
    });
    for cut in [1, full.len() / 3, full.len() - 1] {
        let r = post(&[("Authorization", &a)], &full[..cut]);
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (400, "malformed"),
            "cut at {cut}"
        );
    }
    let gz = wire::gzip(&full);
    let r = post(
        &[("Authorization", &a), ("Content-Encoding", "gzip")],
        &gz[..gz.len() / 2],
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        post(&[("Authorization", &a), ("Content-Encoding", "br")], &empty).status,
        415
    );
    let old = wire::to_cbor(&SyncRequest {
        v: 99,
        ..SyncRequest::default()
    });
    let r = post(&[("Authorization", &a)], &old);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "unsupported_version")
    );
    let bad_cursor = wire::to_cbor(&SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: "zz.1".into(),
        ..SyncRequest::default()
    });
    let r = post(&[("Authorization", &a)], &bad_cursor);
    assert_eq!((r.status, r.error_code().as_str()), (400, "bad_cursor"));

    // Enrollment.
    let enroll = |body: &[u8]| {
        http(
            addr,
            "POST",
            "/v1/enroll",
            &[("Content-Type", "application/json")],
            body,
        )
        .expect("request")
    };
    assert_eq!(enroll(b"{not json").status, 400);
    let actor = "00112233445566778899aabbccddeeff";
    let wrong = format!(r#"{{"code":"AAAA-BBBB-CCCC","actor":"{actor}"}}"#);
    assert_eq!(enroll(wrong.as_bytes()).status, 403);
    let code = server.invite("courier-2");
    let bad_actor = format!(r#"{{"code":"{code}","actor":"XYZ"}}"#);
    assert_eq!(enroll(bad_actor.as_bytes()).status, 400);
    let taken = format!(
        r#"{{"code":"{code}","actor":"{}"}}"#,
        courier.store.actor_id().unwrap()
    );
    assert_eq!(enroll(taken.as_bytes()).status, 409, "an actor in use");
    let good = format!(r#"{{"code":"{}","actor":"{actor}"}}"#, code.to_lowercase());
    assert_eq!(enroll(good.as_bytes()).status, 200, "codes ignore case");
    assert_eq!(enroll(good.as_bytes()).status, 403, "a code is spent once");

    // Reads: nothing outside a device's scope, and the workstation only for leads.
    let (_, reply) = raw_sync(
        addr,
        &courier2.token(),
        &SyncRequest {
            v: PROTOCOL_VERSION,
            ..SyncRequest::default()
        },
    );
    assert!(reply.unwrap().docs.is_empty());
    let (_, reply) = raw_sync(
        addr,
        &member.token(),
        &SyncRequest {
            v: PROTOCOL_VERSION,
            ..SyncRequest::default()
        },
    );
    assert_eq!(reply.unwrap().docs.len(), 1, "G2's member sees the G2 flag");
    let get = |d: &Device, path: &str| {
        http(addr, "GET", path, &[("Authorization", &auth(d))], b"").expect("request")
    };
    assert_eq!(get(&courier, "/v1/queues").status, 403);
    assert_eq!(get(&member, "/v1/stats").status, 403);
    assert_eq!(get(&lead, "/v1/queues?grid=G9").status, 403);
    let q = get(&lead, "/v1/queues?grid=G2");
    assert_eq!(q.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&q.body).unwrap();
    assert_eq!(v["open"][0]["id"], flag.as_str());
    let s = get(&lead, "/v1/stats");
    let v: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
    assert_eq!(v["all"]["total"], 1);
    assert_eq!(get(&lead, "/v1/nothing").status, 404);

    // A client that stalls halfway through its upload is cut off, not waited for.
    {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let head = format!(
            "POST /v1/sync HTTP/1.1\r\nHost: x\r\nAuthorization: {a}\r\nContent-Length: 1000\r\n\r\n"
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&empty).unwrap();
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let r = outpost_tests::harness::parse_reply(&raw).expect("a reply");
        assert_eq!((r.status, r.error_code().as_str()), (408, "timeout"));
    }

    // Still serving, nothing stored by any of it.
    assert!(server.alive());
    assert_eq!(http(addr, "GET", "/health", &[], b"").unwrap().status, 200);
    let m = http(addr, "GET", "/metrics", &[], b"").unwrap();
    let m = String::from_utf8_lossy(&m.body);
    assert!(m.contains("outpost_syncs_total "), "{m}");
    assert!(m.contains("outpost_enrollments_total 6"), "{m}");
    assert_eq!(storage.change_count(None).unwrap(), stored);
    courier
        .store
        .record(
            &flag,
            outpost_core::EventKind::Comment { text: "ok".into() },
        )
        .unwrap();
    assert_eq!(courier.sync().pushed_changes, 1);
    assert!(server.stop().success(), "a clean shutdown on SIGTERM");
}
