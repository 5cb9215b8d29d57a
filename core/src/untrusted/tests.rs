//! The inspector against everything core writes, and against crafted bytes.

use std::sync::{Arc, OnceLock};

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Change, ObjType, ROOT, ReadDoc, ScalarValue};
use proptest::prelude::*;

use super::*;
use crate::{
    AnswerKind, AnswerValue, EventKind, FixedClock, FollowUp, Member, NewCase, Role, Site, Store,
};

const GRID: &str = "yinhang-1-3";
const T0: i64 = 1_780_000_000_000;
const HOUR: i64 = 3_600_000;

// ---------------------------------------------------------------------------------------
// Honest bytes: what core and automerge write

fn phone(dir: &tempfile::TempDir, name: &str, role: Role) -> Store {
    let store = Store::open_with_clock(
        dir.path().join(format!("{name}.db")),
        Arc::new(FixedClock::new(T0)),
    )
    .unwrap();
    let mut m = Member::new(name, name, role, [GRID]);
    if role == Role::Responder {
        m = m.with_unit("chengguan");
    }
    store.set_member(&m).unwrap();
    store
}

fn hand_over(from: &Store, to: &Store) {
    let mut batch = Vec::new();
    for id in from.document_ids().unwrap() {
        let changes = from.changes_since(&id, &to.heads(&id).unwrap()).unwrap();
        if !changes.is_empty() {
            batch.push((id, changes));
        }
    }
    to.apply_remote(&batch).unwrap();
}

/// A small JPEG file, distinct for each `n`, as a camera leaves one.
fn photo(dir: &tempfile::TempDir, n: u64) -> std::path::PathBuf {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend((0..300u32).map(|i| (i as u8) ^ n as u8));
    bytes.extend_from_slice(&n.to_le_bytes());
    let path = dir.path().join(format!("photo-{n}.jpg"));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Every document of some stores: its raw changes, the document saved whole, and the
/// snapshot the store compacted it into (if it did).
struct Honest {
    changes: Vec<Vec<u8>>,
    documents: Vec<Vec<u8>>,
}

/// Cases through their whole life, inspections with every item answered, concurrent
/// answers, descriptions at the longest core allows, enough edits to compact snapshots.
fn core_corpus() -> &'static Honest {
    static CORPUS: OnceLock<Honest> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let rider = phone(&dir, "rider", Role::Courier);
        let lead = phone(&dir, "lead", Role::GridLead);
        let unit = phone(&dir, "unit", Role::Responder);
        let li = phone(&dir, "li", Role::GridMember);
        let zhao = phone(&dir, "zhao", Role::GridMember);

        let fallen = rider
            .flag_person_in_distress(GRID, None, Some("老人倒地"), None)
            .unwrap();
        rider.add_photo_to_case(&fallen, photo(&dir, 7)).unwrap();
        let mut long = NewCase::new(
            crate::Category::FireHazard,
            crate::Urgency::Normal,
            "楼道堆物",
            GRID,
        );
        long.description = "消防通道被占用，".repeat(crate::case::MAX_TEXT / 8);
        let shots: Vec<_> = (0..20).map(|n| photo(&dir, 100 + n)).collect();
        let long_id = rider.create_case_with_photos(long, &shots).unwrap();
        hand_over(&rider, &lead);
        lead.record(&fallen, EventKind::Accepted).unwrap();
        lead.record(
            &fallen,
            EventKind::Dispatched {
                unit_id: "chengguan".into(),
                deadline: T0 + HOUR,
            },
        )
        .unwrap();
        hand_over(&lead, &unit);
        unit.record(
            &fallen,
            EventKind::Progress {
                note: "到场".into(),
            },
        )
        .unwrap();
        unit.record(
            &fallen,
            EventKind::Resolved {
                note: "送医".into(),
            },
        )
        .unwrap();
        hand_over(&unit, &lead);
        lead.record(
            &fallen,
            EventKind::FollowUp(FollowUp {
                visited_at: T0 + 2 * HOUR,
                satisfaction: 5,
                note: "满意".into(),
            }),
        )
        .unwrap();
        // Enough edits for the store to compact the case into a snapshot.
        for i in 0..70 {
            lead.record(
                &long_id,
                EventKind::Comment {
                    text: format!("第{i}次巡查"),
                },
            )
            .unwrap();
            if i % 10 == 0 {
                lead.edit_case(
                    &long_id,
                    crate::CaseEdit {
                        description: Some("已清理一半".repeat(i + 1)),
                        ..Default::default()
                    },
                )
                .unwrap();
            }
        }
        hand_over(&lead, &rider);

        // An inspection, every item answered, then concurrent answers to the same items.
        let insp = li
            .start_inspection(
                "residential-fire-safety",
                Site::new("650弄 12号楼", GRID),
                None,
            )
            .unwrap();
        hand_over(&li, &zhao);
        let items: Vec<_> = li
            .inspection(&insp)
            .unwrap()
            .template
            .items()
            .cloned()
            .collect();
        for (n, item) in items.iter().enumerate() {
            let (value, photos) = match item.answer {
                AnswerKind::PassFail => (AnswerValue::Pass, vec![]),
                AnswerKind::YesNo => (AnswerValue::Yes, vec![]),
                AnswerKind::Number => (AnswerValue::Number(n as f64 + 0.5), vec![]),
                AnswerKind::Text => (AnswerValue::Text("无".repeat(n + 1)), vec![]),
                AnswerKind::Photo => (AnswerValue::Photo, vec![photo(&dir, n as u64)]),
            };
            li.answer_with_photos(&insp, &item.id, value, "", &photos)
                .unwrap();
            zhao.answer(&insp, &item.id, AnswerValue::Fail, "有问题", &[])
                .unwrap_or_default();
        }
        hand_over(&zhao, &li);
        hand_over(&li, &zhao);
        li.submit_inspection(&insp).unwrap();
        hand_over(&li, &lead);

        let mut out = Honest {
            changes: Vec::new(),
            documents: Vec::new(),
        };
        for s in [&rider, &lead, &unit, &li, &zhao] {
            for id in s.document_ids().unwrap() {
                let mut doc = AutoCommit::new();
                for bytes in s.changes_since(&id, &[]).unwrap() {
                    let c = Change::from_bytes(bytes).unwrap();
                    out.changes.push(c.raw_bytes().to_vec());
                    doc.apply_changes([c]).unwrap();
                }
                out.documents.push(doc.save());
            }
            let conn = rusqlite::Connection::open(s.path()).unwrap();
            let mut stmt = conn
                .prepare("SELECT snapshot FROM documents WHERE length(snapshot) > 0")
                .unwrap();
            let snapshots = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap();
            for snap in snapshots {
                out.documents.push(snap.unwrap());
            }
        }
        out.changes.sort();
        out.changes.dedup();
        out
    })
}

/// Documents written with automerge directly, to reach every column and value type: text
/// (with marks), lists, nested maps, counters, every scalar type, deletions, conflicts.
fn automerge_corpus() -> &'static Honest {
    static CORPUS: OnceLock<Honest> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut a = AutoCommit::new().with_actor(ActorId::from([1u8; 16]));
        a.put(ROOT, "null", ScalarValue::Null).unwrap();
        a.put(ROOT, "yes", true).unwrap();
        a.put(ROOT, "no", false).unwrap();
        a.put(ROOT, "uint", ScalarValue::Uint(u64::MAX)).unwrap();
        a.put(ROOT, "int", i64::MIN).unwrap();
        a.put(ROOT, "float", -1.5f64).unwrap();
        a.put(ROOT, "str", "字符串").unwrap();
        a.put(ROOT, "bytes", vec![0u8, 1, 2, 255]).unwrap();
        a.put(ROOT, "counter", ScalarValue::counter(5)).unwrap();
        a.put(ROOT, "time", ScalarValue::Timestamp(T0)).unwrap();
        let list = a.put_object(ROOT, "list", ObjType::List).unwrap();
        for i in 0..300 {
            a.insert(&list, i, i as i64 * 1_000_003).unwrap();
        }
        let text = a.put_object(ROOT, "text", ObjType::Text).unwrap();
        a.splice_text(&text, 0, 0, &"巡查记录 ".repeat(200))
            .unwrap();
        let map = a.put_object(&list, 3, ObjType::Map).unwrap();
        a.put(&map, "deep", "value").unwrap();
        a.commit();
        a.increment(ROOT, "counter", 3).unwrap();
        a.mark(
            &text,
            automerge::marks::Mark::new("bold".into(), true, 2, 40),
            automerge::marks::ExpandMark::Both,
        )
        .unwrap();
        a.delete(&list, 5).unwrap();
        a.splice_text(&text, 10, 30, "").unwrap();
        a.commit();
        // Concurrent writers: conflicting values, then one write replacing both.
        let mut b = a.fork().with_actor(ActorId::from([2u8; 16]));
        let mut c = a.fork().with_actor(ActorId::from([3u8; 16]));
        b.put(ROOT, "str", "b").unwrap();
        c.put(ROOT, "str", "c").unwrap();
        b.splice_text(&text, 0, 0, "乙").unwrap();
        c.splice_text(&text, 0, 0, "丙").unwrap();
        b.commit();
        c.commit();
        a.merge(&mut b).unwrap();
        a.merge(&mut c).unwrap();
        a.put(ROOT, "str", "merged").unwrap();
        a.commit();
        // The most ops one change may hold.
        let mut big = a.fork().with_actor(ActorId::from([4u8; 16]));
        let long = big.put_object(ROOT, "long", ObjType::Text).unwrap();
        big.splice_text(&long, 0, 0, &"x".repeat(9_998)).unwrap();
        big.commit();
        a.merge(&mut big).unwrap();

        let changes = a
            .get_changes(&[])
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        Honest {
            changes,
            documents: vec![
                a.save(),
                a.save_nocompress(),
                b.save(),
                AutoCommit::new().save(),
            ],
        }
    })
}

fn all_changes() -> impl Iterator<Item = &'static Vec<u8>> {
    core_corpus()
        .changes
        .iter()
        .chain(automerge_corpus().changes.iter())
}

fn all_documents() -> impl Iterator<Item = &'static Vec<u8>> {
    core_corpus()
        .documents
        .iter()
        .chain(automerge_corpus().documents.iter())
}

#[test]
fn every_change_core_and_automerge_write_passes_and_the_figures_match() {
    let limits = ChangeLimits::default();
    let mut n = 0;
    let mut most_ops = 0;
    for bytes in all_changes() {
        let info = inspect_change(bytes, &limits).unwrap_or_else(|e| panic!("{e}"));
        let c = decode_change(bytes, &limits).unwrap();
        assert_eq!(info.ops, c.len() as u64);
        assert_eq!(info.hash, c.hash());
        assert_eq!(&info.actor, c.actor_id());
        assert_eq!(info.seq, c.seq());
        assert_eq!(info.start_op, c.start_op().get());
        assert_eq!(info.time, c.timestamp());
        assert_eq!(info.deps, c.deps().len() as u64);
        assert_eq!(info.other_actors, c.other_actor_ids().len() as u64);
        most_ops = most_ops.max(info.ops);
        n += 1;
    }
    assert!(n > 100, "only {n} changes");
    // The 9,998-character splice (plus its object) is the largest, and within the limit.
    assert_eq!(most_ops, 9_999);
}

#[test]
fn every_document_core_and_automerge_write_passes_and_loads() {
    let limits = DocLimits::default();
    let mut compressed = 0;
    for bytes in all_documents() {
        let info = inspect_document(bytes, &limits).unwrap_or_else(|e| panic!("{e}"));
        let mut doc = load_document(bytes, &limits).unwrap();
        assert_eq!(info.changes, doc.get_changes(&[]).len() as u64);
        assert_eq!(info.heads, doc.get_heads().len() as u64);
        if info.inflated_bytes > bytes.len() as u64 {
            compressed += 1;
        }
    }
    assert!(compressed >= 2, "no document had deflated columns");
}

/// A change automerge compresses (over 256 bytes of ops), and its compressed bytes.
fn compressed_change() -> (Change, Vec<u8>) {
    let mut a = AutoCommit::new();
    a.put(ROOT, "text", "压缩".repeat(500)).unwrap();
    a.commit();
    let mut c = a.get_last_local_change().unwrap();
    let bytes = c.bytes().into_owned();
    (c, bytes)
}

#[test]
fn a_change_compressed_by_automerge_is_refused_before_inflating() {
    let (c, bytes) = compressed_change();
    assert_eq!(bytes[8], 2, "automerge compresses changes over 256 bytes");
    let err = inspect_change(&bytes, &ChangeLimits::default()).unwrap_err();
    assert_eq!(err, Malformed::CompressedChange);
    assert_eq!(err.to_string(), "compressed change chunks are not accepted");
    assert!(decode_change(c.raw_bytes(), &ChangeLimits::default()).is_ok());
}

#[test]
fn a_pulled_compressed_change_is_inflated_within_the_limit_and_checked() {
    let (c, compressed) = compressed_change();
    let limits = ChangeLimits::default();
    // A compressed change the server stored before raw ones: the same change.
    let got = decode_received_change(&compressed, &limits).unwrap();
    assert_eq!(got.hash(), c.hash());
    assert_eq!(got.raw_bytes(), c.raw_bytes());
    // A raw one goes through the pushed-change path.
    assert_eq!(
        decode_received_change(c.raw_bytes(), &limits)
            .unwrap()
            .hash(),
        c.hash()
    );
    // Inflating past the limit stops there.
    let small = ChangeLimits {
        max_bytes: 1024,
        ..ChangeLimits::default()
    };
    assert!(matches!(
        decode_received_change(&compressed, &small),
        Err(Malformed::OverLimit { .. })
    ));
    // A bomb: 64 MiB of zeros in a few KiB is refused after reading the limit's worth.
    let bomb = {
        let body = deflate(&vec![0u8; 64 << 20]);
        let mut b = seal_chunk(2, &body);
        // Any checksum: the size is judged first.
        b[4..8].copy_from_slice(&[0, 0, 0, 0]);
        b
    };
    assert!(bomb.len() < 128 * 1024);
    assert!(matches!(
        decode_received_change(&bomb, &limits),
        Err(Malformed::OverLimit { .. })
    ));
    // A body whose checksum does not match what it inflates to.
    let mut lying = compressed.clone();
    lying[4] ^= 0xff;
    assert_eq!(
        decode_received_change(&lying, &limits).unwrap_err(),
        Malformed::Checksum
    );
}

#[test]
fn documents_and_changes_are_not_taken_for_each_other() {
    let doc = &automerge_corpus().documents[0];
    let change = &automerge_corpus().changes[0];
    assert_eq!(
        inspect_change(doc, &ChangeLimits::default()).unwrap_err(),
        Malformed::WrongChunk {
            expected: "a change chunk",
            found: 0
        }
    );
    assert_eq!(
        inspect_document(change, &DocLimits::default()).unwrap_err(),
        Malformed::WrongChunk {
            expected: "a document chunk",
            found: 1
        }
    );
    let msg = inspect_change(
        b"\x85\x6f\x4a\x83\0\0\0\0\x03\x00",
        &ChangeLimits::default(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(msg, "expected a change chunk, found a bundle chunk");
}

// ---------------------------------------------------------------------------------------
// Crafted bytes

fn uleb(v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    push_uleb(&mut out, v);
    out
}

fn sleb(mut v: i64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0) {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The fields of a change before its columns.
#[derive(Clone)]
struct Head {
    deps: Vec<[u8; 32]>,
    actor: Vec<u8>,
    seq: u64,
    start_op: u64,
    time: i64,
    message: Vec<u8>,
    others: Vec<Vec<u8>>,
}

impl Default for Head {
    fn default() -> Self {
        Head {
            deps: vec![],
            actor: vec![7; 16],
            seq: 1,
            start_op: 1,
            time: T0,
            message: vec![],
            others: vec![],
        }
    }
}

fn change_body(head: &Head, cols: &[(u64, Vec<u8>)], extra: &[u8]) -> Vec<u8> {
    let mut b = uleb(head.deps.len() as u64);
    for d in &head.deps {
        b.extend_from_slice(d);
    }
    b.extend(uleb(head.actor.len() as u64));
    b.extend(&head.actor);
    b.extend(uleb(head.seq));
    b.extend(uleb(head.start_op));
    b.extend(sleb(head.time));
    b.extend(uleb(head.message.len() as u64));
    b.extend(&head.message);
    b.extend(uleb(head.others.len() as u64));
    for o in &head.others {
        b.extend(uleb(o.len() as u64));
        b.extend(o);
    }
    b.extend(uleb(cols.len() as u64));
    for (spec, data) in cols {
        b.extend(uleb(*spec));
        b.extend(uleb(data.len() as u64));
    }
    for (_, data) in cols {
        b.extend(data);
    }
    b.extend(extra);
    b
}

fn change(cols: &[(u64, Vec<u8>)]) -> Vec<u8> {
    seal_chunk(1, &change_body(&Head::default(), cols, &[]))
}

/// One op, `put(ROOT, "k", 1u64)`, written column by column.
fn one_put() -> Vec<(u64, Vec<u8>)> {
    vec![
        (0x15, cat(&[&sleb(1), &uleb(1), b"k"])), // key_str: a run of one "k"
        (0x34, uleb(1)),                          // insert: one false
        (0x42, cat(&[&sleb(1), &uleb(1)])),       // action: put
        (0x56, cat(&[&sleb(1), &uleb(1 << 4 | 3)])), // value_meta: a 1-byte uLEB
        (0x57, uleb(1)),                          // value: 1
        (0x70, cat(&[&sleb(1), &uleb(0)])),       // pred_count: no predecessors
    ]
}

fn with(mut cols: Vec<(u64, Vec<u8>)>, spec: u64, data: Vec<u8>) -> Vec<(u64, Vec<u8>)> {
    match cols.iter().position(|(s, _)| *s == spec) {
        Some(i) => cols[i].1 = data,
        None => {
            cols.push((spec, data));
            cols.sort_by_key(|(s, _)| *s);
        }
    }
    cols
}

fn refused(cols: Vec<(u64, Vec<u8>)>) -> Malformed {
    inspect_change(&change(&cols), &ChangeLimits::default()).unwrap_err()
}

#[test]
fn a_hand_written_change_reads_as_automerge_reads_it() {
    let bytes = change(&one_put());
    let info = inspect_change(&bytes, &ChangeLimits::default()).unwrap();
    assert_eq!((info.ops, info.seq, info.start_op), (1, 1, 1));
    let c = decode_change(&bytes, &ChangeLimits::default()).unwrap();
    let mut doc = AutoCommit::new();
    doc.apply_changes([c]).unwrap();
    let (v, _) = doc.get(ROOT, "k").unwrap().unwrap();
    assert!(matches!(v, automerge::Value::Scalar(s) if *s == ScalarValue::Uint(1)));
}

#[test]
fn run_length_bombs_are_refused_by_adding_up_runs() {
    let bomb = 1u64 << 40;
    // 2^40 ops claimed in a few bytes: the message counts them without making them.
    let e = refused(with(one_put(), 0x42, cat(&[&sleb(bomb as i64), &uleb(1)])));
    assert_eq!(
        e.to_string(),
        "change has 1,099,511,627,776 ops; the limit is 10,000"
    );
    let e = refused(with(one_put(), 0x42, cat(&[&sleb(2_000_000), &uleb(1)])));
    assert_eq!(
        e.to_string(),
        "change has 2,000,000 ops; the limit is 10,000"
    );
    // In any column, of any kind.
    let key_bomb = cat(&[&sleb(bomb as i64), &uleb(1), b"k"]);
    assert!(matches!(
        refused(with(one_put(), 0x15, key_bomb)),
        Malformed::OverLimit { subject, count, .. } if subject == "column key_str" && count == bomb
    ));
    let null_bomb = cat(&[&sleb(0), &uleb(bomb)]);
    assert!(matches!(
        refused(with(one_put(), 0x01, null_bomb)),
        Malformed::OverLimit { count, .. } if count == bomb
    ));
    assert!(matches!(
        refused(with(one_put(), 0x34, uleb(bomb))),
        Malformed::OverLimit { count, .. } if count == bomb
    ));
    let delta_bomb = cat(&[&sleb(bomb as i64), &sleb(1)]);
    assert!(matches!(
        refused(with(one_put(), 0x13, delta_bomb)),
        Malformed::OverLimit { count, .. } if count == bomb
    ));
    // A group whose one count claims 2^40 predecessors.
    let group_bomb = cat(&[&sleb(1), &uleb(bomb)]);
    assert_eq!(
        refused(with(one_put(), 0x70, group_bomb)).to_string(),
        "change has 1,099,511,627,776 predecessors; the limit is 40,000"
    );
    // Runs whose lengths add up past 64 bits.
    let overflow = cat(&[&sleb(i64::MAX), &uleb(1), &sleb(i64::MAX), &uleb(1)]);
    assert!(matches!(
        refused(with(one_put(), 0x42, overflow)),
        Malformed::OverLimit { .. }
    ));
    // A value claiming 2^59 bytes.
    let huge_value = cat(&[&sleb(1), &uleb((1 << 59) << 4 | 7)]);
    assert!(matches!(
        refused(with(one_put(), 0x56, huge_value)),
        Malformed::Column {
            column: "value_meta",
            ..
        }
    ));
    // A literal run longer than the bytes that could hold it.
    let literal = cat(&[&sleb(i64::MIN), &uleb(1)]);
    assert_eq!(
        refused(with(one_put(), 0x42, literal)),
        Malformed::Truncated("literal run")
    );
}

#[test]
fn group_columns_that_lie_are_refused() {
    // One predecessor counted, none listed.
    let counts = cat(&[&sleb(1), &uleb(1)]);
    assert_eq!(
        refused(with(one_put(), 0x70, counts.clone())),
        Malformed::GroupMismatch {
            column: "pred_actor",
            rows: 0,
            group: "pred_count",
            sum: 1
        }
    );
    // Two listed, one counted.
    let cols = with(one_put(), 0x70, counts);
    let cols = with(cols, 0x71, cat(&[&sleb(2), &uleb(0)]));
    let cols = with(cols, 0x73, cat(&[&sleb(-2), &sleb(1), &sleb(1)]));
    let e = refused(cols.clone());
    assert_eq!(
        e.to_string(),
        "column pred_actor has 2 rows but the counts in pred_count add up to 1"
    );
    // Counted and listed alike: accepted by both.
    let honest = with(cols, 0x71, cat(&[&sleb(1), &uleb(0)]));
    let honest = with(honest, 0x73, cat(&[&sleb(1), &sleb(1)]));
    inspect_change(&change(&honest), &ChangeLimits::default()).unwrap();
    // Grouped columns without their group.
    let orphan = with(one_put(), 0x71, cat(&[&sleb(1), &uleb(0)]));
    let orphan: Vec<_> = orphan.into_iter().filter(|(s, _)| *s != 0x70).collect();
    assert!(matches!(
        refused(orphan),
        Malformed::GroupMismatch { sum: 0, .. }
    ));
}

#[test]
fn columns_that_disagree_on_rows_are_refused() {
    let two_keys = cat(&[&sleb(2), &uleb(1), b"k"]);
    assert_eq!(
        refused(with(one_put(), 0x15, two_keys)),
        Malformed::RowMismatch {
            column: "key_str",
            rows: 2,
            reference: "action",
            expected: 1
        }
    );
    // Value bytes the metadata does not account for, and the other way round.
    assert!(matches!(
        refused(with(one_put(), 0x57, vec![1, 2])),
        Malformed::Column { column: "value_meta", problem } if problem.contains("not described")
    ));
    assert!(matches!(
        refused(with(one_put(), 0x56, cat(&[&sleb(1), &uleb(2 << 4 | 3)]))),
        Malformed::Column {
            column: "value_meta",
            ..
        }
    ));
    // Raw values without metadata.
    let no_meta: Vec<_> = one_put().into_iter().filter(|(s, _)| *s != 0x56).collect();
    assert!(matches!(
        refused(no_meta),
        Malformed::Column {
            column: "value",
            ..
        }
    ));
}

#[test]
fn values_and_indexes_out_of_range_are_refused() {
    let check = |spec, data: Vec<u8>, needle: &str| {
        let e = refused(with(one_put(), spec, data));
        assert!(e.to_string().contains(needle), "{e}");
    };
    check(0x42, cat(&[&sleb(1), &uleb(9)]), "unknown action 9");
    check(0x11, cat(&[&sleb(1), &uleb(3)]), "actor 3");
    check(0x02, cat(&[&sleb(1), &uleb(1 << 33)]), "counter");
    check(0x13, cat(&[&sleb(1), &sleb(-1)]), "counter -1");
    check(
        0x56,
        cat(&[&sleb(1), &uleb(1 << 4 | 12)]),
        "unknown type 12",
    );
    check(
        0x56,
        cat(&[&sleb(1), &uleb(1 << 4 | 5)]),
        "float of 1 bytes",
    );
    check(
        0x56,
        cat(&[&sleb(1), &uleb(1 << 4 | 1)]),
        "type 1 has 1 bytes",
    );
    // A uLEB value that is not canonical, and a string that is not UTF-8.
    let cols = with(one_put(), 0x56, cat(&[&sleb(1), &uleb(2 << 4 | 3)]));
    let e = refused(with(cols, 0x57, vec![0x81, 0x00]));
    assert!(e.to_string().contains("canonical"), "{e}");
    let cols = with(one_put(), 0x56, cat(&[&sleb(1), &uleb(2 << 4 | 6)]));
    assert!(
        refused(with(cols, 0x57, vec![0xff, 0xfe]))
            .to_string()
            .contains("UTF-8")
    );
    assert_eq!(
        refused(with(one_put(), 0x15, cat(&[&sleb(1), &uleb(1), &[0xff]]))),
        Malformed::Utf8("string")
    );
    check(0x01, cat(&[&sleb(0), &uleb(0)]), "zero nulls");
    check(
        0x34,
        cat(&[&uleb(0), &uleb(0), &uleb(1)]),
        "empty boolean run",
    );
}

#[test]
fn column_layouts_automerge_never_writes_are_refused() {
    assert_eq!(
        refused(with(one_put(), 0x92, vec![1])),
        Malformed::UnknownColumn(0x92, "change")
    );
    let mut swapped = one_put();
    swapped.swap(0, 1);
    assert_eq!(refused(swapped), Malformed::ColumnOrder(0x15));
    let mut repeated = one_put();
    repeated.insert(1, (0x15, vec![]));
    assert_eq!(refused(repeated), Malformed::ColumnOrder(0x15));
    let mut deflated = one_put();
    deflated[0].0 |= 0b1000;
    assert_eq!(refused(deflated), Malformed::DeflatedColumn);
    assert_eq!(
        refused(Vec::from_iter((0..65).map(|i| (i << 4 | 2, vec![])))),
        Malformed::OverLimit {
            subject: "change".into(),
            count: 65,
            unit: "columns",
            limit: 64
        }
    );
}

#[test]
fn header_fields_are_bounded() {
    let limits = ChangeLimits::default();
    let body = |h: Head| seal_chunk(1, &change_body(&h, &one_put(), &[]));
    let e = |h: Head| inspect_change(&body(h), &limits).unwrap_err();
    assert!(matches!(
        e(Head {
            deps: vec![[0; 32]; 257],
            ..Head::default()
        }),
        Malformed::OverLimit {
            unit: "dependencies",
            count: 257,
            ..
        }
    ));
    assert!(matches!(
        e(Head {
            message: vec![b'a'; 5000],
            ..Head::default()
        }),
        Malformed::OverLimit { count: 5000, .. }
    ));
    assert_eq!(
        e(Head {
            message: vec![0xff],
            ..Head::default()
        }),
        Malformed::Utf8("message")
    );
    assert!(matches!(
        e(Head {
            others: vec![vec![1; 16]; 1025],
            ..Head::default()
        }),
        Malformed::OverLimit {
            unit: "other actors",
            ..
        }
    ));
    for actor in [vec![], vec![1; 65]] {
        assert!(
            e(Head {
                actor,
                ..Head::default()
            })
            .to_string()
            .contains("actor id has")
        );
    }
    assert!(
        e(Head {
            start_op: 0,
            ..Head::default()
        })
        .to_string()
        .contains("start op is 0")
    );
    assert!(
        e(Head {
            start_op: u32::MAX as u64 + 1,
            ..Head::default()
        })
        .to_string()
        .contains("op counters")
    );
    inspect_change(
        &body(Head {
            start_op: u32::MAX as u64,
            ..Head::default()
        }),
        &limits,
    )
    .unwrap();
    let extra = seal_chunk(1, &change_body(&Head::default(), &one_put(), &[0; 1025]));
    assert!(matches!(
        inspect_change(&extra, &limits).unwrap_err(),
        Malformed::OverLimit { count: 1025, .. }
    ));
    let small = ChangeLimits {
        max_bytes: 40,
        ..ChangeLimits::default()
    };
    assert!(matches!(
        inspect_change(&body(Head::default()), &small).unwrap_err(),
        Malformed::OverLimit {
            unit: "bytes",
            limit: 40,
            ..
        }
    ));
}

#[test]
fn checksums_lengths_and_leb128_are_checked() {
    let limits = ChangeLimits::default();
    let good = change(&one_put());
    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert_eq!(
        inspect_change(&flipped, &limits).unwrap_err(),
        Malformed::Checksum
    );
    let mut bad_sum = good.clone();
    bad_sum[5] ^= 0x10;
    assert_eq!(
        inspect_change(&bad_sum, &limits).unwrap_err(),
        Malformed::Checksum
    );
    let mut not_am = good.clone();
    not_am[0] = 0x86;
    assert_eq!(
        inspect_change(&not_am, &limits).unwrap_err(),
        Malformed::NotAutomerge
    );
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(
        inspect_change(&trailing, &limits).unwrap_err(),
        Malformed::Trailing(1)
    );
    // A chunk length of 11 bytes, and an overlong one.
    let mut long_len = good[..9].to_vec();
    long_len.extend([0x80; 10]);
    long_len.push(0x01);
    assert_eq!(
        inspect_change(&long_len, &limits).unwrap_err(),
        Malformed::Leb("chunk length")
    );
    let mut overlong = good[..9].to_vec();
    overlong.extend([0x80, 0x00]);
    assert_eq!(
        inspect_change(&overlong, &limits).unwrap_err(),
        Malformed::Leb("chunk length")
    );
    // Inside the body, resealed so the checksum holds.
    let mut h = change_body(&Head::default(), &one_put(), &[]);
    let seq_at = 1 + 1 + 16;
    h.splice(seq_at..seq_at + 1, [0x81, 0x80, 0x00]);
    assert_eq!(
        inspect_change(&seal_chunk(1, &h), &limits).unwrap_err(),
        Malformed::Leb("sequence number")
    );
    let run = cat(&[&[0xff; 9], &[0x02], &uleb(1)]);
    assert_eq!(
        refused(with(one_put(), 0x42, run)),
        Malformed::Leb("run length")
    );
}

#[test]
fn every_truncation_of_real_changes_and_documents_is_refused() {
    let changes: Vec<&Vec<u8>> = all_changes().step_by(7).take(12).collect();
    for bytes in changes {
        for len in 0..bytes.len() {
            let e = inspect_change(&bytes[..len], &ChangeLimits::default()).unwrap_err();
            assert!(matches!(e, Malformed::Truncated(_)), "{len}: {e}");
        }
    }
    let doc = &automerge_corpus().documents[0];
    for len in (0..doc.len()).step_by(13) {
        let e = inspect_document(&doc[..len], &DocLimits::default()).unwrap_err();
        assert!(matches!(e, Malformed::Truncated(_)), "{len}: {e}");
    }
}

#[test]
fn leb128_reads_only_canonical_numbers() {
    for v in [
        0u64,
        1,
        127,
        128,
        300,
        u32::MAX as u64,
        1 << 62,
        u64::MAX - 1,
        u64::MAX,
    ] {
        let bytes = uleb(v);
        assert_eq!(Reader::new(&bytes).uleb("n"), Ok(v));
    }
    for v in [
        0i64,
        1,
        -1,
        63,
        64,
        -64,
        -65,
        i64::MAX,
        i64::MIN,
        1 << 62,
        -(1 << 62) - 1,
    ] {
        let bytes = sleb(v);
        assert_eq!(Reader::new(&bytes).sleb("n"), Ok(v), "{v}: {bytes:x?}");
    }
    for bad in [
        &[0x80, 0x00][..],
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
        &[
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0x01,
        ],
        &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
    ] {
        assert_eq!(
            Reader::new(bad).uleb("n"),
            Err(Malformed::Leb("n")),
            "{bad:x?}"
        );
    }
    for bad in [
        &[0x80, 0x00][..],
        &[0xff, 0x7f],
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        &[
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
        ],
    ] {
        assert_eq!(
            Reader::new(bad).sleb("n"),
            Err(Malformed::Leb("n")),
            "{bad:x?}"
        );
    }
    assert_eq!(
        Reader::new(&[0x80]).uleb("n"),
        Err(Malformed::Truncated("n"))
    );
}

proptest! {
    #[test]
    fn leb128_round_trips(u in any::<u64>(), s in any::<i64>()) {
        prop_assert_eq!(Reader::new(&uleb(u)).uleb("n"), Ok(u));
        prop_assert_eq!(Reader::new(&sleb(s)).sleb("n"), Ok(s));
    }
}

// ---------------------------------------------------------------------------------------
// Documents

/// A document body with the given tables.
fn doc_body(actors: usize, change_cols: &[(u64, Vec<u8>)], op_cols: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut b = uleb(actors as u64);
    for i in 0..actors {
        b.extend(uleb(16));
        b.extend([i as u8; 16]);
    }
    b.extend(uleb(0)); // heads
    for cols in [change_cols, op_cols] {
        b.extend(uleb(cols.len() as u64));
        for (spec, data) in cols {
            b.extend(uleb(*spec));
            b.extend(uleb(data.len() as u64));
        }
    }
    for cols in [change_cols, op_cols] {
        for (_, data) in cols {
            b.extend(data);
        }
    }
    b
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn document_bombs_are_refused_before_automerge_loads_them() {
    let limits = DocLimits::default();
    let doc = |changes: &[(u64, Vec<u8>)], ops: &[(u64, Vec<u8>)]| {
        seal_chunk(0, &doc_body(1, changes, ops))
    };
    // 2^32 ops in a dozen bytes: the kind of document that made automerge allocate 4.3 GB.
    let ops = [(0x21, cat(&[&sleb(1 << 32), &uleb(0)]))];
    let bytes = doc(&[], &ops);
    assert!(bytes.len() < 64);
    assert_eq!(
        inspect_document(&bytes, &limits).unwrap_err().to_string(),
        "document has 4,294,967,296 ops; the limit is 500,000"
    );
    assert!(matches!(
        load_document(&bytes, &limits),
        Err(Malformed::OverLimit { .. })
    ));
    // Successor counts adding up to 2^40.
    let ops = [
        (0x21, cat(&[&sleb(1), &uleb(0)])),
        (0x80, cat(&[&sleb(1), &uleb(1 << 40)])),
    ];
    assert!(matches!(
        inspect_document(&doc(&[], &ops), &limits).unwrap_err(),
        Malformed::OverLimit {
            unit: "successors",
            ..
        }
    ));
    // A column that inflates past the budget: 2 MiB of zeros in 2 KiB, with a 1 MiB budget.
    let zeros = deflate(&vec![0u8; 2 << 20]);
    assert!(zeros.len() < 4096);
    let small = DocLimits {
        max_inflated_bytes: 1 << 20,
        ..DocLimits::default()
    };
    let e = inspect_document(&doc(&[], &[(0x21 | 0b1000, zeros)]), &small).unwrap_err();
    assert!(
        matches!(
            e,
            Malformed::OverLimit {
                limit: 1_048_576,
                ..
            }
        ),
        "{e}"
    );
    // Bytes that are not DEFLATE.
    assert!(matches!(
        inspect_document(&doc(&[], &[(0x21 | 0b1000, vec![0xff; 16])]), &limits).unwrap_err(),
        Malformed::Inflate(_)
    ));
    // A dependency on a change the document does not have.
    let changes = [
        (0x01, cat(&[&sleb(1), &uleb(0)])),
        (0x40, cat(&[&sleb(1), &uleb(1)])),
        (0x43, cat(&[&sleb(1), &sleb(5)])),
    ];
    assert!(matches!(
        inspect_document(&doc(&changes, &[]), &limits).unwrap_err(),
        Malformed::Column {
            column: "deps_index",
            ..
        }
    ));
    // An op by an actor the document does not list.
    let ops = [(0x21, cat(&[&sleb(1), &uleb(4)]))];
    assert!(
        inspect_document(&doc(&[], &ops), &limits)
            .unwrap_err()
            .to_string()
            .contains("actor 4")
    );
    // Limits on the header.
    let many = seal_chunk(0, &doc_body(11, &[], &[]));
    let few = DocLimits {
        max_actors: 10,
        ..DocLimits::default()
    };
    assert!(matches!(
        inspect_document(&many, &few).unwrap_err(),
        Malformed::OverLimit {
            unit: "actors",
            count: 11,
            ..
        }
    ));
}

#[test]
fn real_documents_refuse_their_own_columns_rewritten_to_lie() {
    // Take a real saved document apart, make one column claim 2^40 rows, put it back.
    let original = &automerge_corpus().documents[1]; // saved without compression
    let chunk = read_chunk(original).unwrap();
    let mut r = Reader::new(chunk.body);
    let actors = r.uleb("").unwrap();
    for _ in 0..actors {
        let n = r.uleb("").unwrap();
        r.take(n, "").unwrap();
    }
    let heads = r.uleb("").unwrap();
    r.take(heads * 32, "").unwrap();
    let prefix_end = r.pos;
    let change_meta = read_column_meta(&mut r, "").unwrap();
    let op_meta = read_column_meta(&mut r, "").unwrap();
    let meta_end = r.pos;
    let change_data = r.take(columns_len(&change_meta).unwrap(), "").unwrap();
    let op_data = r.take(columns_len(&op_meta).unwrap(), "").unwrap();
    let suffix = &chunk.body[r.pos..];
    assert!(op_meta.iter().any(|(s, _)| *s == 0x21));

    let split = |meta: &[(u64, u64)], data: &[u8]| -> Vec<(u64, Vec<u8>)> {
        let mut at = 0;
        meta.iter()
            .map(|&(s, l)| {
                let out = (s, data[at..at + l as usize].to_vec());
                at += l as usize;
                out
            })
            .collect()
    };
    let rebuild = |ops: &[(u64, Vec<u8>)]| {
        let mut b = chunk.body[..prefix_end].to_vec();
        b.extend(&chunk.body[prefix_end..meta_end][..0]);
        for cols in [split(&change_meta, change_data), ops.to_vec()] {
            b.extend(uleb(cols.len() as u64));
            for (s, d) in &cols {
                b.extend(uleb(*s));
                b.extend(uleb(d.len() as u64));
            }
        }
        b.extend(change_data);
        for (_, d) in ops {
            b.extend(d);
        }
        b.extend(suffix);
        seal_chunk(0, &b)
    };
    let ops = split(&op_meta, op_data);
    // Unchanged, it still loads: the rebuild is faithful.
    load_document(&rebuild(&ops), &DocLimits::default()).unwrap();
    let mut bomb = ops.clone();
    for (spec, data) in bomb.iter_mut() {
        if *spec == 0x34 {
            data.extend(uleb(1 << 40));
        }
    }
    assert!(matches!(
        inspect_document(&rebuild(&bomb), &DocLimits::default()).unwrap_err(),
        Malformed::OverLimit { .. }
    ));
    let mut short = ops.clone();
    for (spec, data) in short.iter_mut() {
        if *spec == 0x42 {
            data.extend(cat(&[&sleb(1), &uleb(1)]));
        }
    }
    assert!(matches!(
        inspect_document(&rebuild(&short), &DocLimits::default()).unwrap_err(),
        Malformed::RowMismatch {
            column: "action",
            ..
        }
    ));
}

/// Found by the `document` fuzz target: automerge loads it, then panics on `get_changes`
/// ("called `Result::unwrap()` on an `Err` value: MissingOps").
#[test]
fn a_document_that_loads_but_cannot_give_back_its_changes_is_refused() {
    let bytes = include_bytes!("loads-then-misses-ops.automerge");
    inspect_document(bytes, &DocLimits::default()).unwrap();
    let e = load_document(bytes, &DocLimits::default()).unwrap_err();
    assert!(
        matches!(&e, Malformed::Panicked { what, message }
            if what == "reading a loaded document's changes" && message.contains("MissingOps")),
        "{e}"
    );
}

/// Found by the `change` target (strict): a change listing its author again among the
/// other actors applies, then the document panics in `get_changes` (MissingDep).
#[test]
fn a_change_listing_an_actor_twice_is_refused() {
    let body = [
        0x00, 0x01, 0x01, 0x01, 0x6b, 0x69, 0x01, 0x41, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x09, 0xd3, 0x7f,
    ];
    let e = inspect_change(&seal_chunk(1, &body), &ChangeLimits::default()).unwrap_err();
    assert_eq!(e.to_string(), "actor 01 is listed twice in the change");
    let twice = Head {
        others: vec![vec![9; 16], vec![9; 16]],
        ..Head::default()
    };
    let bytes = seal_chunk(1, &change_body(&twice, &one_put(), &[]));
    assert!(matches!(
        inspect_change(&bytes, &ChangeLimits::default()),
        Err(Malformed::Invalid(_))
    ));
}

// ---------------------------------------------------------------------------------------
// The guard

#[test]
fn guard_turns_a_panic_into_an_error_naming_what_and_why() {
    assert_eq!(guard("adding", || 1 + 1), Ok(2));
    let e = guard("indexing a list", || {
        let v: Vec<u8> = Vec::new();
        #[allow(clippy::useless_vec)]
        v[usize::from(v.is_empty()) * 3]
    })
    .unwrap_err();
    let Malformed::Panicked { what, message } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(what, "indexing a list");
    assert!(message.contains("index out of bounds"), "{message}");
    assert!(
        message.contains("untrusted"),
        "the place is named: {message}"
    );
    assert!(e.to_string().starts_with("indexing a list panicked: "));
    // Nested guards, and a formatted panic message.
    let inner = guard("outer", || guard("inner", || panic!("deep {}", 42)));
    assert!(
        matches!(inner, Ok(Err(Malformed::Panicked { ref what, ref message }))
        if what == "inner" && message.starts_with("deep 42"))
    );
    // The guard is per thread: a panic elsewhere is not attributed here.
    let t = std::thread::spawn(|| guard("in a thread", || panic!("there")));
    assert!(matches!(t.join().unwrap(), Err(Malformed::Panicked { .. })));
}

// ---------------------------------------------------------------------------------------
// Random damage to real changes

/// One way to damage bytes.
#[derive(Debug, Clone)]
enum Damage {
    Flip(prop::sample::Index, u8),
    Set(prop::sample::Index, u8),
    Insert(prop::sample::Index, Vec<u8>),
    Remove(prop::sample::Index, u8),
    /// Overwrites with a long LEB128 (a huge run, length or count).
    Leb(prop::sample::Index, u64),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<prop::sample::Index>(), 0u8..8).prop_map(|(i, b)| Damage::Flip(i, 1 << b)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Damage::Set(i, b)),
        (
            any::<prop::sample::Index>(),
            prop::collection::vec(any::<u8>(), 1..8)
        )
            .prop_map(|(i, b)| Damage::Insert(i, b)),
        (any::<prop::sample::Index>(), 1u8..16).prop_map(|(i, n)| Damage::Remove(i, n)),
        (any::<prop::sample::Index>(), any::<u64>()).prop_map(|(i, v)| Damage::Leb(i, v)),
    ]
}

/// Damages the body of `chunk` and, when `reseal`, gives it a valid header again so the
/// damage reaches the columns instead of stopping at the checksum.
fn damaged(chunk: &[u8], hits: &[Damage], reseal: bool) -> Vec<u8> {
    let Ok(c) = read_chunk(chunk) else {
        return chunk.to_vec();
    };
    let (kind, mut body) = (c.kind, c.body.to_vec());
    for hit in hits {
        if body.is_empty() {
            break;
        }
        match hit {
            Damage::Flip(i, bit) => {
                let at = i.index(body.len());
                body[at] ^= bit
            }
            Damage::Set(i, b) => {
                let at = i.index(body.len());
                body[at] = *b
            }
            Damage::Insert(i, bytes) => {
                let at = i.index(body.len());
                body.splice(at..at, bytes.iter().copied());
            }
            Damage::Remove(i, n) => {
                let at = i.index(body.len());
                let end = (at + *n as usize).min(body.len());
                body.drain(at..end);
            }
            Damage::Leb(i, v) => {
                let at = i.index(body.len());
                let end = (at + 1).min(body.len());
                body.splice(at..end, uleb(*v));
            }
        }
    }
    if reseal {
        seal_chunk(kind, &body)
    } else {
        let mut out = chunk[..chunk.len() - c.body.len()].to_vec();
        out.truncate(8);
        out.push(kind);
        push_uleb(&mut out, body.len() as u64);
        out.extend(body);
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Damaged real changes are refused or decode; automerge never panics on bytes the
    /// inspection let through.
    #[test]
    fn damaged_changes_never_reach_an_automerge_panic(
        pick in any::<prop::sample::Index>(),
        hits in prop::collection::vec(damage(), 1..4),
        reseal in prop::bool::weighted(0.9),
    ) {
        let corpus: Vec<&Vec<u8>> = all_changes().collect();
        let bytes = damaged(corpus[pick.index(corpus.len())], &hits, reseal);
        match decode_change(&bytes, &ChangeLimits::default()) {
            Err(Malformed::Panicked { message, .. }) => {
                prop_assert!(false, "automerge panicked past the inspection: {}", message)
            }
            Ok(c) => {
                let mut doc = AutoCommit::new();
                // Its dependencies are unknown here: it waits in the queue, or applies.
                let _ = guard("applying", || doc.apply_changes([c]));
            }
            Err(_) => {}
        }
    }

    /// Damaged real documents: the inspection never panics; what it lets through loads to
    /// the figures it found, or is refused by automerge. automerge still panics on some
    /// documents whose columns are well formed but whose meaning is not (two ops with one
    /// id): the guard turns those into errors.
    #[test]
    fn damaged_documents_are_refused_or_load_as_inspected(
        pick in any::<prop::sample::Index>(),
        hits in prop::collection::vec(damage(), 1..4),
    ) {
        let corpus: Vec<&Vec<u8>> = all_documents().collect();
        let bytes = damaged(corpus[pick.index(corpus.len())], &hits, true);
        if let Ok(info) = inspect_document(&bytes, &DocLimits::default())
            && let Ok(mut doc) = load_document(&bytes, &DocLimits::default())
        {
            prop_assert_eq!(info.changes, doc.get_changes(&[]).len() as u64);
        }
    }
}
