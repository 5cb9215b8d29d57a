//! Writes the fuzz fixture (fuzz/fixture/) and the seed corpus (fuzz/corpus/<target>/seed-*)
//! from core's own store: real changes, documents, sync bodies and upload requests, made by
//! phones of the test city going through a case's life and an inspection.
//!
//! cargo run --release --manifest-path fuzz/Cargo.toml --example make_corpus
//!
//! Run it again when the document schema or the sync protocol changes, and commit what it
//! writes (the seeds stay under 200 KB).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Change, ObjType, ROOT};
use outpost_core::sync::wire::{PROTOCOL_VERSION, PushDoc, SyncRequest, gzip, to_cbor};
use outpost_core::{
    AnswerValue, EventKind, FixedClock, Member, Role, Site, Store, untrusted::seal_chunk,
};
use outpost_fuzz::{
    Body, ChunkDigest, Device, FixtureFile, GRID, Put, Query, UNIT, Upload, chunk_seeds,
    encode_upload, sync_seed,
};

const T0: i64 = 1_780_000_000_000;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let phone = |name: &str, role: Role| {
        let s = Store::open_with_clock(
            dir.path().join(format!("{name}.db")),
            Arc::new(FixedClock::new(T0)),
        )
        .expect("a store");
        let mut m = Member::new(name, name, role, [GRID]);
        if role == Role::Responder {
            m = m.with_unit(UNIT);
        }
        s.set_member(&m).expect("a member");
        s
    };
    let rider = phone("rider", Role::Courier);
    let lead = phone("lead", Role::GridLead);
    let li = phone("li", Role::GridMember);
    let unit = phone("unit", Role::Responder);
    let stores = [&rider, &lead, &li, &unit];

    // What the server holds: a case the rider flagged and the lead accepted.
    let case = rider
        .flag_person_in_distress(GRID, None, Some("老人倒地"), None)
        .expect("a case");
    hand_over(&rider, &lead);
    lead.record(&case, EventKind::Accepted).expect("accepted");
    hand_over(&lead, &rider);
    let mut server_doc = AutoCommit::new();
    for raw in raw_changes(&lead, &case) {
        server_doc
            .apply_changes([Change::from_bytes(raw).expect("a change")])
            .expect("applied");
    }
    let devices: Vec<Device> = stores
        .iter()
        .map(|s| Device {
            member: s.member().expect("read").expect("a member"),
            actor: s.actor_id().expect("an actor"),
        })
        .collect();
    let fixture = root.join("fixture");
    std::fs::create_dir_all(&fixture).expect("fuzz/fixture");
    write(&fixture.join("server-doc.automerge"), &server_doc.save());
    let file = FixtureFile {
        doc_id: case.clone(),
        devices,
    };
    write(
        &fixture.join("devices.json"),
        &serde_json::to_vec_pretty(&file).expect("json"),
    );

    // What the devices then do offline, and push.
    lead.record(
        &case,
        EventKind::Dispatched {
            unit_id: UNIT.into(),
            deadline: T0 + 3_600_000,
        },
    )
    .expect("dispatched");
    rider
        .record(
            &case,
            EventKind::Comment {
                text: "老人意识清醒".into(),
            },
        )
        .expect("a comment");
    rider
        .flag_person_in_distress(GRID, None, Some("有人落水"), None)
        .expect("another case");
    let insp = li
        .start_inspection(
            "residential-fire-safety",
            Site::new("650弄 12号楼", GRID),
            None,
        )
        .expect("an inspection");
    let items: Vec<_> = li
        .inspection(&insp)
        .expect("read")
        .template
        .items()
        .cloned()
        .collect();
    for item in items.iter().take(4) {
        let _ = li.answer(&insp, &item.id, AnswerValue::Pass, "正常", &[]);
    }
    hand_over(&lead, &unit);
    let _ = unit.record(
        &case,
        EventKind::Progress {
            note: "到场".into(),
        },
    );

    let mut sync = Vec::new();
    for (i, s) in stores.iter().enumerate() {
        let push: Vec<PushDoc> = s
            .outbound(1 << 20)
            .expect("outbound")
            .into_iter()
            .map(|o| PushDoc {
                id: o.id,
                changes: o
                    .changes
                    .into_iter()
                    .map(serde_bytes::ByteBuf::from)
                    .collect(),
            })
            .collect();
        let body = to_cbor(&SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: String::new(),
            max_bytes: 0,
            push,
        });
        sync.push(sync_seed(false, i, &body));
        sync.push(sync_seed(true, i, &gzip(&body)));
    }
    seeds(&root, "sync_body", &sync);

    // Changes and documents of every kind core writes, and of every column automerge has.
    let mut changes = Vec::new();
    let mut docs = Vec::new();
    for s in stores {
        for id in s.document_ids().expect("ids") {
            let mut doc = AutoCommit::new();
            for raw in raw_changes(s, &id) {
                changes.push(raw.clone());
                doc.apply_changes([Change::from_bytes(raw).expect("a change")])
                    .expect("applied");
            }
            docs.push(doc.save());
        }
    }
    let (more_changes, more_docs) = columns_of_every_kind();
    changes.extend(more_changes);
    docs.extend(more_docs);
    changes.sort();
    changes.dedup();
    docs.sort();
    docs.dedup();
    // Small changes seed well; keep the corpus small.
    changes.sort_by_key(Vec::len);
    let picked: Vec<Vec<u8>> = changes
        .iter()
        .step_by((changes.len() / 24).max(1))
        .flat_map(|c| chunk_seeds(c))
        .collect();
    seeds(&root, "change", &picked);
    let picked: Vec<Vec<u8>> = docs
        .iter()
        .filter(|d| d.len() < 16 << 10)
        .flat_map(|d| chunk_seeds(d))
        .collect();
    seeds(&root, "document", &picked);

    seeds(&root, "photo_upload", &uploads());
}

/// Raw changes of document `id` in `s`, causal order.
fn raw_changes(s: &Store, id: &str) -> Vec<Vec<u8>> {
    s.changes_since(id, &[])
        .expect("changes")
        .into_iter()
        .map(|b| {
            Change::from_bytes(b)
                .expect("a change")
                .raw_bytes()
                .to_vec()
        })
        .collect()
}

fn hand_over(from: &Store, to: &Store) {
    let mut batch = Vec::new();
    for id in from.document_ids().expect("ids") {
        let changes = from
            .changes_since(&id, &to.heads(&id).expect("heads"))
            .expect("changes");
        if !changes.is_empty() {
            batch.push((id, changes));
        }
    }
    to.apply_remote(&batch).expect("applied");
}

/// A document reaching every column and value type: text with a mark, a list, a nested
/// map, a counter and its increment, every scalar, a delete, concurrent writers.
fn columns_of_every_kind() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut a = AutoCommit::new().with_actor(ActorId::from([1u8; 16]));
    a.put(ROOT, "null", automerge::ScalarValue::Null)
        .expect("put");
    a.put(ROOT, "yes", true).expect("put");
    a.put(ROOT, "uint", automerge::ScalarValue::Uint(300))
        .expect("put");
    a.put(ROOT, "int", -5i64).expect("put");
    a.put(ROOT, "float", 2.5f64).expect("put");
    a.put(ROOT, "bytes", vec![1u8, 2, 3]).expect("put");
    a.put(ROOT, "n", automerge::ScalarValue::counter(1))
        .expect("put");
    a.put(ROOT, "at", automerge::ScalarValue::Timestamp(T0))
        .expect("put");
    let list = a.put_object(ROOT, "list", ObjType::List).expect("list");
    for i in 0..8 {
        a.insert(&list, i, i as i64).expect("insert");
    }
    let map = a.put_object(&list, 2, ObjType::Map).expect("map");
    a.put(&map, "k", "v").expect("put");
    let text = a.put_object(ROOT, "text", ObjType::Text).expect("text");
    a.splice_text(&text, 0, 0, "巡查记录 ok").expect("splice");
    a.commit();
    a.mark(
        &text,
        automerge::marks::Mark::new("bold".into(), true, 1, 4),
        automerge::marks::ExpandMark::Both,
    )
    .expect("mark");
    a.increment(ROOT, "n", 2).expect("increment");
    a.delete(&list, 5).expect("delete");
    a.commit();
    let mut b = a.fork().with_actor(ActorId::from([2u8; 16]));
    b.put(ROOT, "int", 6i64).expect("put");
    a.put(ROOT, "int", 7i64).expect("put");
    a.merge(&mut b).expect("merge");
    a.put(ROOT, "int", 8i64).expect("put");
    a.commit();
    let changes = a
        .get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    (changes, vec![a.save(), a.save_nocompress()])
}

/// Upload requests: a whole photo in two chunks, resumed, repeated, a wrong size, bytes
/// that do not match the name, a name no bytes match, a proof upload, an upload past the
/// quota, one that expires, malformed queries and digests, reads of what completed.
fn uploads() -> Vec<Vec<u8>> {
    let mut photo = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0,
    ];
    photo.extend((0..1200u32).map(|i| (i * 31 % 251) as u8));
    let size = photo.len() as u64;
    let put = |device: u8, offset: u64, size: u64, from: u64, len: u64| {
        Upload::Put(Put {
            device,
            claimed: false,
            other_name: false,
            digest: ChunkDigest::None,
            query: Query::Numbers { offset, size },
            body: Body::Slice { from, len },
        })
    };
    let part = |offset: u64, len: u64| put(0, offset, size, offset, len);
    let with = |step: Upload, f: &dyn Fn(&mut Put)| match step {
        Upload::Put(mut p) => {
            f(&mut p);
            Upload::Put(p)
        }
        other => other,
    };
    let whole = vec![
        part(0, 500),
        part(500, size - 500),
        Upload::Read {
            start: 0,
            end: size,
        },
        Upload::Read {
            start: 100,
            end: 200,
        },
        put(1, 0, size, 0, 10),
    ];
    let resumed = vec![
        part(0, 500),
        part(0, 500),
        part(400, 700),
        with(part(500, size - 500), &|p| p.digest = ChunkDigest::Right),
    ];
    let wrong_size = vec![
        part(0, 500),
        put(0, 500, size + 1, 500, size - 500),
        put(0, 0, size + 1, 0, 500),
    ];
    let wrong_bytes = vec![
        part(0, 500),
        with(part(500, 0), &|p| {
            p.body = Body::Bytes(vec![0x55; size as usize - 500]);
        }),
        part(0, 500),
        with(part(500, size - 500), &|p| p.digest = ChunkDigest::Wrong),
        with(part(500, size - 500), &|p| p.digest = ChunkDigest::Upper),
    ];
    let other_name = vec![
        with(part(0, size), &|p| p.other_name = true),
        with(part(0, 500), &|p| p.other_name = true),
        part(0, 500),
        Upload::Read { start: 0, end: 1 },
    ];
    let proof = vec![
        with(part(0, 500), &|p| p.claimed = true),
        put(1, 0, size, 0, size),
        with(part(500, size - 500), &|p| p.claimed = true),
        Upload::Read { start: 1, end: 2 },
    ];
    // 16 KiB of quota in the target: a big photo's first chunks fill it, its last is taken.
    let mut big = photo.clone();
    big.extend((0..40_000u32).map(|i| (i * 7 % 253) as u8));
    let big_size = big.len() as u64;
    let quota = vec![
        put(2, 0, big_size, 0, 12_000),
        put(2, 12_000, big_size, 12_000, 12_000),
        with(put(2, 0, size, 0, 500), &|p| p.other_name = true),
        put(2, 12_000, big_size, 12_000, big_size - 12_000),
        Upload::Read {
            start: 30_000,
            end: 100,
        },
    ];
    let expiry = vec![
        part(0, 500),
        put(1, 0, size, 0, 300),
        Upload::Advance { ms: 59_000 },
        put(1, 300, size, 300, 100),
        Upload::Advance { ms: 2_000 },
        part(500, size - 500),
        Upload::Sweep,
        Upload::Advance { ms: 60_000 },
        put(1, 400, size, 400, size - 400),
    ];
    let raw = |q: &str| {
        with(part(0, 500), &|p| {
            p.query = Query::Raw(q.as_bytes().to_vec())
        })
    };
    let queries = vec![
        raw(&format!("size={size}&offset=0")),
        raw("offset=0"),
        raw("offset=0&size=1211&size=1211"),
        raw(&format!("offset={}&size=1211", u64::MAX)),
        raw("offset=18446744073709551616&size=1211"),
        raw("offset=0&size=20971521"),
        raw("offset=0&size=1211&extra"),
        put(0, u64::MAX - 1, u64::MAX, 0, 10),
    ];
    [
        (&photo, whole),
        (&photo, resumed),
        (&photo, wrong_size),
        (&photo, wrong_bytes),
        (&photo, other_name),
        (&photo, proof),
        (&big, quota),
        (&photo, expiry),
        (&photo, queries),
    ]
    .iter()
    .map(|(payload, steps)| encode_upload(payload, steps))
    .chain([encode_upload(&[], &[part(0, 1)]), {
        // Bytes that are not a photo: refused by type.
        let png = seal_chunk(0, b"not a photo");
        encode_upload(&png, &[put(0, 0, png.len() as u64, 0, png.len() as u64)])
    }])
    .collect()
}

fn seeds(root: &Path, target: &str, inputs: &[Vec<u8>]) {
    let dir = root.join("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("a corpus directory");
    for entry in std::fs::read_dir(&dir).expect("list") {
        let path = entry.expect("entry").path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("seed-"))
        {
            std::fs::remove_file(path).expect("remove an old seed");
        }
    }
    let mut total = 0;
    for (i, input) in inputs.iter().enumerate() {
        write(&dir.join(format!("seed-{i:03}")), input);
        total += input.len();
    }
    println!("{target}: {} seeds, {total} bytes", inputs.len());
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
