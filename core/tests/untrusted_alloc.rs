//! Decoding bytes from outside allocates a bounded amount, whatever the bytes claim.
//!
//! This test binary counts every allocation per thread; each decode of damaged real
//! changes and documents must stay under 64 MB above where it started. An allocation of
//! more than 256 MB inside a measured call is refused outright (the process then aborts
//! with "memory allocation failed", which fails the test), so a bomb that slips through
//! cannot take the machine down with it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::sync::{Arc, OnceLock};

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Change, ObjType, ROOT};
use outpost_core::untrusted::{
    ChangeLimits, DocLimits, Malformed, decode_change, guard, load_document, seal_chunk,
};
use outpost_core::{AnswerValue, EventKind, FixedClock, Member, Role, Site, Store};
use proptest::prelude::*;

const MB: isize = 1 << 20;
const PER_DECODE: isize = 64 * MB;
const REFUSE_ABOVE: usize = 256 << 20;

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static MEASURING: Cell<bool> = const { Cell::new(false) };
}

fn note(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

fn refused(size: usize) -> bool {
    size > REFUSE_ABOVE && MEASURING.try_with(|m| m.get()).unwrap_or(false)
}

// SAFETY: every call is passed to the system allocator unchanged (or refused with null,
// which GlobalAlloc allows); the counting touches only const-initialised thread locals
// without destructors.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if refused(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if refused(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if refused(new_size) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns what it returned and the most it held allocated at once, above
/// what was allocated before.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, isize) {
    let start = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(start));
    MEASURING.with(|m| m.set(true));
    let out = f();
    MEASURING.with(|m| m.set(false));
    (out, PEAK.with(|p| p.get()) - start)
}

const GRID: &str = "yinhang-1-3";

/// Raw changes, saved documents.
type Corpus = (Vec<Vec<u8>>, Vec<Vec<u8>>);

/// Real changes and documents: a case through its life, an answered inspection, and a
/// document with text, marks, lists and conflicts written with automerge directly.
fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let open = |name: &str, role| {
            let s = Store::open_with_clock(
                dir.path().join(format!("{name}.db")),
                Arc::new(FixedClock::new(1_780_000_000_000)),
            )
            .unwrap();
            s.set_member(&Member::new(name, name, role, [GRID]))
                .unwrap();
            s
        };
        let rider = open("rider", Role::Courier);
        let lead = open("lead", Role::GridLead);
        let id = rider
            .flag_person_in_distress(GRID, None, Some("老人倒地"), None)
            .unwrap();
        let batch: Vec<_> = vec![(id.clone(), rider.changes_since(&id, &[]).unwrap())];
        lead.apply_remote(&batch).unwrap();
        lead.record(&id, EventKind::Accepted).unwrap();
        lead.record(
            &id,
            EventKind::Comment {
                text: "已联系家属".into(),
            },
        )
        .unwrap();
        let insp = lead
            .start_inspection("residential-fire-safety", Site::new("12号楼", GRID), None)
            .unwrap();
        let items: Vec<_> = lead
            .inspection(&insp)
            .unwrap()
            .template
            .items()
            .cloned()
            .collect();
        for item in items.iter().take(6) {
            lead.answer(&insp, &item.id, AnswerValue::Pass, "正常", &[])
                .unwrap_or_default();
        }

        let mut changes = Vec::new();
        let mut docs = Vec::new();
        for doc_id in lead.document_ids().unwrap() {
            let mut doc = AutoCommit::new();
            for bytes in lead.changes_since(&doc_id, &[]).unwrap() {
                let c = Change::from_bytes(bytes).unwrap();
                changes.push(c.raw_bytes().to_vec());
                doc.apply_changes([c]).unwrap();
            }
            docs.push(doc.save());
            docs.push(doc.save_nocompress());
        }

        let mut a = AutoCommit::new().with_actor(ActorId::from([1u8; 16]));
        let text = a.put_object(ROOT, "text", ObjType::Text).unwrap();
        a.splice_text(&text, 0, 0, &"巡查 ".repeat(300)).unwrap();
        let list = a.put_object(ROOT, "list", ObjType::List).unwrap();
        for i in 0..100 {
            a.insert(&list, i, i as i64).unwrap();
        }
        a.commit();
        a.mark(
            &text,
            automerge::marks::Mark::new("bold".into(), true, 3, 30),
            automerge::marks::ExpandMark::After,
        )
        .unwrap();
        a.delete(&list, 10).unwrap();
        a.put(ROOT, "n", automerge::ScalarValue::counter(1))
            .unwrap();
        a.commit();
        let mut b = a.fork().with_actor(ActorId::from([2u8; 16]));
        b.put(ROOT, "n", 2.5).unwrap();
        a.put(ROOT, "n", "three").unwrap();
        a.merge(&mut b).unwrap();
        changes.extend(a.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()));
        docs.push(a.save());
        docs.push(a.save_nocompress());
        (changes, docs)
    })
}

#[derive(Debug, Clone)]
enum Damage {
    Flip(prop::sample::Index, u8),
    Set(prop::sample::Index, u8),
    Insert(prop::sample::Index, Vec<u8>),
    Remove(prop::sample::Index, u8),
    /// A long LEB128 where there was a byte: a huge run, length or count.
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

fn uleb(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// Damages a chunk's body and seals it again with a valid checksum, so that the damage
/// reaches the columns. The chunk header is 8 bytes, the type, and the body's length.
fn damaged(chunk: &[u8], hits: &[Damage]) -> Vec<u8> {
    let kind = chunk[8];
    let mut at = 9;
    while chunk[at] & 0x80 != 0 {
        at += 1;
    }
    let mut body = chunk[at + 1..].to_vec();
    for hit in hits {
        if body.is_empty() {
            break;
        }
        let n = body.len();
        match hit {
            Damage::Flip(i, bit) => body[i.index(n)] ^= bit,
            Damage::Set(i, b) => body[i.index(n)] = *b,
            Damage::Insert(i, bytes) => {
                let at = i.index(n);
                body.splice(at..at, bytes.iter().copied());
            }
            Damage::Remove(i, k) => {
                let at = i.index(n);
                body.drain(at..(at + *k as usize).min(n));
            }
            Damage::Leb(i, v) => {
                let at = i.index(n);
                body.splice(at..at + 1, uleb(*v));
            }
        }
    }
    seal_chunk(kind, &body)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn decoding_and_applying_a_damaged_change_allocates_little(
        pick in any::<prop::sample::Index>(),
        hits in prop::collection::vec(damage(), 1..5),
    ) {
        let (changes, _) = corpus();
        let bytes = damaged(&changes[pick.index(changes.len())], &hits);
        let (decoded, peak) = peak_of(|| decode_change(&bytes, &ChangeLimits::default()));
        prop_assert!(peak < PER_DECODE, "decoding took {} MB", peak / MB);
        if let Ok(c) = decoded {
            let (_, peak) = peak_of(|| {
                let mut doc = AutoCommit::new();
                guard("applying", || doc.apply_changes([c])).map(|r| r.is_ok())
            });
            prop_assert!(peak < PER_DECODE, "applying took {} MB", peak / MB);
        }
    }

    #[test]
    fn loading_a_damaged_document_allocates_little(
        pick in any::<prop::sample::Index>(),
        hits in prop::collection::vec(damage(), 1..5),
    ) {
        let (_, docs) = corpus();
        let bytes = damaged(&docs[pick.index(docs.len())], &hits);
        let (_, peak) = peak_of(|| load_document(&bytes, &DocLimits::default()).is_ok());
        prop_assert!(peak < PER_DECODE, "loading took {} MB", peak / MB);
    }
}

/// A compressed change whose body inflates to 64 MiB: automerge inflates it all before
/// looking inside; the inspection refuses it by its type byte.
#[test]
fn a_compressed_change_bomb_is_refused_without_inflating() {
    let inflated = 64 << 20;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        enc.write_all(&zeros).unwrap();
    }
    let deflated = enc.finish().unwrap();
    let bomb = seal_chunk(2, &deflated);
    assert!(bomb.len() < 100_000, "{} bytes", bomb.len());

    let (out, peak) = peak_of(|| decode_change(&bomb, &ChangeLimits::default()));
    assert_eq!(out.unwrap_err(), Malformed::CompressedChange);
    assert!(peak < MB, "the refusal took {peak} bytes");

    // The counting sees what automerge itself would have done with these bytes.
    let (_, peak) = peak_of(|| Change::try_from(bomb.as_slice()).is_ok());
    assert!(peak >= inflated, "automerge took only {} MB", peak / MB);
}
