//! The change feed, written once for every backend: how a push is judged and stored, which
//! scope keys a document carries, and how a page of the feed is put together.
//!
//! # Pushes: judged outside the writer
//! Each pushed document is read from committed data, loaded and judged (`check`, core's
//! `check_push`: the Automerge-heavy part) with no write lock held, a window of documents
//! at a time on a few threads. Judged documents are then written in short transactions of
//! a few dozen documents; each write first checks that the document's heads are still the
//! ones it was judged against. If another push changed the document in between, it is
//! judged again (outside again, a few times, then under the write lock so it cannot
//! starve). Other devices' pushes and every read go on while one device's large push is
//! judged, and the work stops between documents once the request is abandoned.
//!
//! # Pulls: from the scope, not from the whole feed
//! `doc_scopes` holds, per document and scope key, since when the key is current (`since`)
//! and the document's latest feed position (`last_seq`), indexed by `(key, current,
//! last_seq)`. A pull first asks that index which documents in the device's scope changed
//! after its cursor: with nothing new this is the whole cost, however large the city. The
//! page is then put together from those documents' own change rows, or, for a large
//! catch-up, by walking the feed in position order.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use automerge::AutoCommit;
use outpost_core::InspectionStatus;
use outpost_core::sync::validate::{Accepted, DocView, Refusal};
use outpost_core::sync::wire::{Ack, PulledDoc, PushDoc, RefusalCode};
use outpost_core::untrusted::{self, DocLimits, Malformed};
use serde_bytes::ByteBuf;

use super::registry::device_row;
use super::sql::{Backend, Param, Sql};
use super::{DeviceRecord, Page, PushCheck, PushContext, Scope, StoreError, StoreResult};
use crate::scope::doc_keys;

/// Documents written per transaction: short enough that the writer is free again within
/// milliseconds, long enough that a commit (an fsync) is shared by many.
const BATCH_DOCS: usize = 64;
/// Bytes (snapshots and changes) written per transaction.
const BATCH_BYTES: usize = 256 << 10;
/// Times a document whose heads moved is judged again outside the writer before it is
/// judged under the write lock.
const RECHECKS: usize = 3;
/// Documents per judging thread at least: a small push is judged on its own thread.
const PER_JUDGE: usize = 4;
/// Up to this many changed documents a page is put together from their own change rows;
/// beyond, by walking the feed.
const PER_DOC: usize = 256;
/// Change rows read per statement while walking the feed.
const CHUNK: usize = 512;

/// The projection columns of a document: what lists, queues and figures read.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub kind: &'static str,
    pub grid_id: String,
    pub category: Option<String>,
    pub urgency: Option<String>,
    pub urgency_rank: Option<i64>,
    pub status: String,
    pub is_open: bool,
    pub title: String,
    pub reporter_id: String,
    pub assigned_unit: Option<String>,
    pub created_at: i64,
    pub accepted_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub deadline: Option<i64>,
    pub satisfaction: Option<i64>,
    /// Time from report to acceptance or dispatch.
    pub accept_ms: Option<i64>,
    /// Time from report to the first response: acceptance or dispatch, else resolution.
    pub response_ms: Option<i64>,
    /// Time from report to resolution.
    pub resolve_ms: Option<i64>,
    /// A hazard raised by an inspection, with a rectification deadline.
    pub rectification: bool,
}

/// Raised when the projection gains columns that stored documents must fill
/// ([`reproject`]).
pub const PROJECTION_VERSION: i64 = 2;

impl Projection {
    pub fn of(view: &DocView) -> Projection {
        match view {
            DocView::Case(c) => {
                let responded = c.accepted_at.or(c.resolved_at);
                Projection {
                    kind: "case",
                    grid_id: c.grid_id.clone(),
                    category: Some(c.category.as_str().into()),
                    urgency: Some(c.urgency.as_str().into()),
                    urgency_rank: Some(c.urgency.rank()),
                    status: c.status.as_str().into(),
                    is_open: c.status.is_open(),
                    title: c.title.clone(),
                    reporter_id: c.reporter_id.clone(),
                    assigned_unit: c.assigned_unit.clone(),
                    created_at: c.created_at,
                    accepted_at: c.accepted_at,
                    resolved_at: c.resolved_at,
                    deadline: c.deadline,
                    satisfaction: c.follow_up.as_ref().map(|f| f.satisfaction),
                    accept_ms: c.accepted_at.map(|t| t - c.created_at),
                    response_ms: responded.map(|t| t - c.created_at),
                    resolve_ms: c.resolved_at.map(|t| t - c.created_at),
                    rectification: c.source.is_some(),
                }
            }
            DocView::Inspection(i) => Projection {
                kind: "inspection",
                grid_id: i.site.grid_id.clone(),
                category: None,
                urgency: None,
                urgency_rank: None,
                status: i.status.as_str().into(),
                is_open: i.status == InspectionStatus::InProgress,
                title: format!("{} · {}", i.template.title, i.site.name),
                reporter_id: i.started_by.clone(),
                assigned_unit: None,
                created_at: i.started_at,
                accepted_at: None,
                resolved_at: i.submitted_at,
                deadline: None,
                satisfaction: None,
                accept_ms: None,
                response_ms: None,
                resolve_ms: None,
                rectification: false,
            },
        }
    }

    /// Writes the projection row of document `id` (`updated_at`: when the server stored
    /// its latest change).
    fn write(&self, db: &mut dyn Sql, id: &str, updated_at: i64) -> StoreResult<()> {
        db.exec(
            "INSERT INTO docs(id, kind, grid_id, category, urgency, urgency_rank, status,
                 is_open, title, reporter_id, assigned_unit, created_at, updated_at,
                 accepted_at, resolved_at, deadline, satisfaction, accept_ms, response_ms,
                 resolve_ms, rectification)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 ?17, ?18, ?19, ?20, ?21)
             ON CONFLICT(id) DO UPDATE SET grid_id = excluded.grid_id,
                 category = excluded.category, urgency = excluded.urgency,
                 urgency_rank = excluded.urgency_rank, status = excluded.status,
                 is_open = excluded.is_open, title = excluded.title,
                 assigned_unit = excluded.assigned_unit, updated_at = excluded.updated_at,
                 accepted_at = excluded.accepted_at, resolved_at = excluded.resolved_at,
                 deadline = excluded.deadline, satisfaction = excluded.satisfaction,
                 accept_ms = excluded.accept_ms, response_ms = excluded.response_ms,
                 resolve_ms = excluded.resolve_ms,
                 rectification = excluded.rectification",
            &[
                id.into(),
                self.kind.into(),
                (&self.grid_id).into(),
                (&self.category).into(),
                (&self.urgency).into(),
                self.urgency_rank.into(),
                (&self.status).into(),
                self.is_open.into(),
                (&self.title).into(),
                (&self.reporter_id).into(),
                (&self.assigned_unit).into(),
                self.created_at.into(),
                updated_at.into(),
                self.accepted_at.into(),
                self.resolved_at.into(),
                self.deadline.into(),
                self.satisfaction.into(),
                self.accept_ms.into(),
                self.response_ms.into(),
                self.resolve_ms.into(),
                self.rectification.into(),
            ],
        )?;
        Ok(())
    }
}

/// A document's heads as stored: its head hashes, sorted, one after the other.
pub fn heads_of(doc: &mut AutoCommit) -> Vec<u8> {
    let mut heads = doc.get_heads();
    heads.sort();
    heads.iter().flat_map(|h| h.0).collect()
}

/// One new change of an accepted document.
struct Fresh {
    hash: Vec<u8>,
    actor: Vec<u8>,
    bytes: Vec<u8>,
}

/// An accepted document, everything computed that its write needs.
struct Ready {
    /// Where it stands in the request.
    index: usize,
    id: String,
    /// The stored heads it was judged against (`None`: a new document).
    base: Option<Vec<u8>>,
    fresh: Vec<Fresh>,
    heads: Vec<u8>,
    snapshot: Vec<u8>,
    projection: Projection,
    keys: Vec<String>,
}

impl Ready {
    fn weight(&self) -> usize {
        self.snapshot.len() + self.fresh.iter().map(|f| f.bytes.len()).sum::<usize>()
    }
}

/// What judging a document decided.
enum Verdict {
    Refused(Refusal),
    /// Every change is stored already.
    Known,
    Ready(Box<Ready>),
}

/// A stored document as found for judging a push.
enum Stored {
    New,
    /// The heads column and the loaded snapshot.
    Doc(Vec<u8>, Box<AutoCommit>),
    /// Its snapshot could not be loaded (now or before): it is in `quarantine` and is not
    /// loaded again; pushes to it are refused, everything else goes on.
    Quarantined(String),
}

/// What the database holds for document `id`.
enum Row {
    New,
    Snapshot(Vec<u8>, Vec<u8>),
    Quarantined(String),
}

fn load(db: &mut dyn Sql, id: &str) -> StoreResult<Row> {
    let Some(mut r) = db.opt(
        "SELECT heads, (SELECT reason FROM quarantine WHERE doc_id = ?1) FROM doc_states
         WHERE id = ?1",
        &[id.into()],
    )?
    else {
        return Ok(Row::New);
    };
    if let Some(reason) = r.opt_text(1)? {
        return Ok(Row::Quarantined(reason));
    }
    let heads = r.blob(0)?;
    // The snapshot is read only for a document not in quarantine.
    let mut s = db.one(
        "SELECT snapshot FROM doc_states WHERE id = ?1",
        &[id.into()],
    )?;
    Ok(Row::Snapshot(heads, s.blob(0)?))
}

/// Loads a stored snapshot through core's bounded, panic-guarded loader: the database is
/// not trusted more than a phone (a damaged disk, a bad restore, a server bug of the past).
pub(crate) fn load_snapshot(snapshot: &[u8]) -> Result<AutoCommit, Malformed> {
    untrusted::load_document(snapshot, &DocLimits::default())
}

/// Marks document `id` as quarantined with `reason` (`now`: ms). Its rows stay as they
/// are, for an operator to repair; pulls go on sending its stored changes.
pub fn quarantine(db: &mut dyn Sql, id: &str, reason: &str, now: i64) -> StoreResult<()> {
    db.exec(
        "INSERT INTO quarantine(doc_id, reason, at) VALUES (?1, ?2, ?3)
         ON CONFLICT(doc_id) DO NOTHING",
        &[id.into(), reason.into(), now.into()],
    )?;
    tracing::warn!(
        doc = id,
        reason,
        "stored document quarantined: its snapshot does not load; pushes to it are refused \
         until an operator repairs it"
    );
    Ok(())
}

/// The quarantined documents, oldest first: (id, reason, when in ms).
pub fn quarantined(db: &mut dyn Sql) -> StoreResult<Vec<(String, String, i64)>> {
    let mut out = Vec::new();
    for mut r in db.query(
        "SELECT doc_id, reason, at FROM quarantine ORDER BY at, doc_id",
        &[],
    )? {
        out.push((r.text(0)?, r.text(1)?, r.int(2)?));
    }
    Ok(out)
}

/// Reads and loads document `id` with committed data; a snapshot that does not load is
/// quarantined in a write of its own.
fn open<B: Backend>(b: &B, id: &str, now: i64) -> StoreResult<Stored> {
    match b.read(|db| load(db, id))? {
        Row::New => Ok(Stored::New),
        Row::Quarantined(reason) => Ok(Stored::Quarantined(reason)),
        Row::Snapshot(heads, snapshot) => match load_snapshot(&snapshot) {
            Ok(doc) => Ok(Stored::Doc(heads, Box::new(doc))),
            Err(e) => {
                let reason = e.to_string();
                b.write(|db| quarantine(db, id, &reason, now))?;
                Ok(Stored::Quarantined(reason))
            }
        },
    }
}

/// [`open`] inside a write transaction.
fn open_in(db: &mut dyn Sql, id: &str, now: i64) -> StoreResult<Stored> {
    match load(db, id)? {
        Row::New => Ok(Stored::New),
        Row::Quarantined(reason) => Ok(Stored::Quarantined(reason)),
        Row::Snapshot(heads, snapshot) => match load_snapshot(&snapshot) {
            Ok(doc) => Ok(Stored::Doc(heads, Box::new(doc))),
            Err(e) => {
                let reason = e.to_string();
                quarantine(db, id, &reason, now)?;
                Ok(Stored::Quarantined(reason))
            }
        },
    }
}

/// Judges pushed document `d` against `stored`: the expensive step, run with no lock held.
fn judge(index: usize, d: &PushDoc, stored: Stored, check: &PushCheck<'_>) -> Verdict {
    let (base, existing) = match stored {
        Stored::Doc(heads, doc) => (Some(heads), Some(*doc)),
        Stored::New => (None, None),
        Stored::Quarantined(why) => {
            return Verdict::Refused(Refusal {
                code: RefusalCode::Malformed,
                reason: format!(
                    "the server's copy of this document is damaged and set aside ({why}); \
                     your changes stay on this device until it is repaired"
                ),
            });
        }
    };
    let raw: Vec<Vec<u8>> = d.changes.iter().map(|c| c.to_vec()).collect();
    let Accepted {
        mut doc,
        fresh,
        view,
    } = match check(&d.id, existing, &raw) {
        Err(refusal) => return Verdict::Refused(refusal),
        Ok(a) if a.fresh.is_empty() => return Verdict::Known,
        Ok(a) => a,
    };
    let fresh = fresh
        .into_iter()
        .map(|(hash, bytes)| Fresh {
            actor: doc
                .get_change_meta_by_hash(&hash)
                .map(|c| c.actor.to_bytes().to_vec())
                .unwrap_or_default(),
            hash: hash.0.to_vec(),
            bytes,
        })
        .collect();
    Verdict::Ready(Box::new(Ready {
        index,
        id: d.id.clone(),
        base,
        fresh,
        heads: heads_of(&mut doc),
        // Uncompressed: setting up DEFLATE for each column of each pushed document cost more
        // than the rest of storing it.
        snapshot: doc.save_with_options(automerge::SaveOptions {
            deflate: false,
            retain_orphans: true,
        }),
        projection: Projection::of(&view),
        keys: doc_keys(&view),
    }))
}

fn ok(id: &str, stored: usize) -> Ack {
    Ack {
        id: id.to_string(),
        ok: true,
        stored: u32::try_from(stored).unwrap_or(u32::MAX),
        code: None,
        reason: None,
    }
}

fn refused(id: &str, r: Refusal) -> Ack {
    Ack {
        id: id.to_string(),
        ok: false,
        stored: 0,
        code: Some(r.code),
        reason: Some(r.reason),
    }
}

/// See [`super::Storage::push`] and the module documentation.
pub fn push<B: Backend>(
    b: &B,
    docs: &[PushDoc],
    check: &PushCheck<'_>,
    ctx: &PushContext<'_>,
) -> StoreResult<Vec<Ack>> {
    let mut acks: Vec<Option<Ack>> = vec![None; docs.len()];
    let mut batch: Vec<Ready> = Vec::new();
    let mut weight = 0;
    let mut start = 0;
    while start < docs.len() {
        let end = (start + BATCH_DOCS).min(docs.len());
        let verdicts = judge_window(b, docs, start..end, check, ctx)?;
        for (i, verdict) in (start..end).zip(verdicts) {
            match verdict {
                Verdict::Refused(r) => acks[i] = Some(refused(&docs[i].id, r)),
                Verdict::Known => acks[i] = Some(ok(&docs[i].id, 0)),
                Verdict::Ready(r) => {
                    weight += r.weight();
                    batch.push(*r);
                }
            }
            if batch.len() >= BATCH_DOCS || weight >= BATCH_BYTES {
                flush(b, docs, &mut batch, &mut acks, check, ctx)?;
                weight = 0;
            }
        }
        start = end;
    }
    flush(b, docs, &mut batch, &mut acks, check, ctx)?;
    acks.into_iter()
        .zip(docs)
        .map(|(a, d)| a.ok_or_else(|| StoreError::Db(format!("document {} was not judged", d.id))))
        .collect()
}

/// Judges the documents `window` of a push, on a few threads when there are several: judging
/// is most of a push's cost and needs no lock, so a large push finishes sooner on a machine
/// with idle cores (its threads keep the priority of the one that started them).
fn judge_window<B: Backend>(
    b: &B,
    docs: &[PushDoc],
    window: std::ops::Range<usize>,
    check: &PushCheck<'_>,
    ctx: &PushContext<'_>,
) -> StoreResult<Vec<Verdict>> {
    let one = |i: usize| -> StoreResult<Verdict> {
        if ctx.cancelled() {
            return Err(StoreError::Cancelled);
        }
        let stored = open(b, &docs[i].id, ctx.now)?;
        Ok(judge(i, &docs[i], stored, check))
    };
    let workers = judges().min(window.len() / PER_JUDGE);
    if workers <= 1 {
        return window.map(one).collect();
    }
    let next = AtomicUsize::new(window.start);
    let mut found: Vec<(usize, StoreResult<Verdict>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= window.end {
                            return mine;
                        }
                        let v = one(i);
                        let stop = v.is_err();
                        mine.push((i, v));
                        if stop {
                            // Let the others run out: the push ends with this error.
                            next.store(window.end, Ordering::Relaxed);
                            return mine;
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(mine) => mine,
                // A judge that panicked: its document ends the push as an error, as it
                // would have on one thread.
                Err(p) => std::panic::resume_unwind(p),
            })
            .collect()
    });
    found.sort_by_key(|(i, _)| *i);
    if found.len() != window.len() {
        // One judge stopped early: report its error.
        for (_, v) in found {
            v?;
        }
        return Err(StoreError::Db(
            "a judging thread stopped without a cause".into(),
        ));
    }
    found.into_iter().map(|(_, v)| v).collect()
}

/// Threads judging one large push: the machine's cores, at most four.
fn judges() -> usize {
    static JUDGES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *JUDGES.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(4)
    })
}

/// What writing one judged document found.
enum Written {
    Stored(usize),
    /// Its heads moved since it was judged: judge it again.
    Stale,
}

/// Writes `batch`, judging again the documents another push changed meanwhile.
fn flush<B: Backend>(
    b: &B,
    docs: &[PushDoc],
    batch: &mut Vec<Ready>,
    acks: &mut [Option<Ack>],
    check: &PushCheck<'_>,
    ctx: &PushContext<'_>,
) -> StoreResult<()> {
    let mut round = 0;
    while !batch.is_empty() {
        if ctx.cancelled() {
            return Err(StoreError::Cancelled);
        }
        round += 1;
        let outcome = if round <= RECHECKS {
            b.write(|db| write_batch(db, batch, ctx.now))?
        } else {
            // Still racing: judge under the write lock, where nobody can overtake.
            let (verdicts, outcome) = b.write(|db| {
                let ids: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
                db.lock_docs(&ids)?;
                let mut ready = Vec::new();
                let mut verdicts = Vec::new();
                for r in batch.iter() {
                    let stored = open_in(db, &r.id, ctx.now)?;
                    match judge(r.index, &docs[r.index], stored, check) {
                        Verdict::Ready(x) => ready.push(*x),
                        other => verdicts.push((r.index, other)),
                    }
                }
                let outcome = write_batch(db, &ready, ctx.now)?;
                Ok((verdicts, ready.into_iter().zip(outcome).collect::<Vec<_>>()))
            })?;
            for (i, v) in verdicts {
                acks[i] = Some(settle(&docs[i].id, v));
            }
            for (r, w) in outcome {
                if let Written::Stored(n) = w {
                    acks[r.index] = Some(ok(&r.id, n));
                }
            }
            batch.clear();
            return Ok(());
        };
        let mut stale = Vec::new();
        for (r, w) in batch.drain(..).zip(outcome) {
            match w {
                Written::Stored(n) => acks[r.index] = Some(ok(&r.id, n)),
                Written::Stale => stale.push(r.index),
            }
        }
        for i in stale {
            let d = &docs[i];
            let stored = open(b, &d.id, ctx.now)?;
            match judge(i, d, stored, check) {
                Verdict::Ready(r) => batch.push(*r),
                other => acks[i] = Some(settle(&d.id, other)),
            }
        }
    }
    Ok(())
}

/// The acknowledgement of a document that needs no write.
fn settle(id: &str, v: Verdict) -> Ack {
    match v {
        Verdict::Refused(r) => refused(id, r),
        Verdict::Known | Verdict::Ready(_) => ok(id, 0),
    }
}

/// Where a stored document's scope keys go once its new rows have positions.
struct Placed<'a> {
    id: &'a str,
    rows: usize,
    entering: Vec<&'a str>,
    keys: &'a [String],
}

/// Writes judged documents whose heads are unchanged, in one transaction.
fn write_batch(db: &mut dyn Sql, batch: &[Ready], now: i64) -> StoreResult<Vec<Written>> {
    let ids: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
    db.lock_docs(&ids)?;
    let mut out = Vec::with_capacity(batch.len());
    let mut rows: Vec<i64> = Vec::new();
    let mut placed: Vec<Placed<'_>> = Vec::new();
    for r in batch {
        let heads = db
            .opt(
                "SELECT heads FROM doc_states WHERE id = ?1",
                &[(&r.id).into()],
            )?
            .map(|mut row| row.blob(0))
            .transpose()?;
        if heads != r.base {
            out.push(Written::Stale);
            continue;
        }
        let before = rows.len();
        for f in &r.fresh {
            let inserted = db.opt(
                "INSERT INTO changes(doc_id, hash, actor, bytes) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING RETURNING id",
                &[
                    (&r.id).into(),
                    (&f.hash).into(),
                    (&f.actor).into(),
                    (&f.bytes).into(),
                ],
            )?;
            if let Some(row) = inserted {
                rows.push(row.int(0)?);
            }
        }
        db.exec(
            "INSERT INTO doc_states(id, heads, snapshot) VALUES (?1, ?2, ?3)
             ON CONFLICT(id) DO UPDATE SET heads = excluded.heads, snapshot = excluded.snapshot",
            &[(&r.id).into(), (&r.heads).into(), (&r.snapshot).into()],
        )?;
        r.projection.write(db, &r.id, now)?;
        let new_rows = rows.len() - before;
        out.push(Written::Stored(new_rows));
        if new_rows > 0 {
            let entering = scope_diff(db, &r.id, &r.keys)?;
            placed.push(Placed {
                id: &r.id,
                rows: new_rows,
                entering,
                keys: &r.keys,
            });
        }
    }
    if rows.is_empty() {
        return Ok(out);
    }
    let positions = db.number(&rows)?;
    let mut at = 0;
    let mut changed: HashSet<&str> = HashSet::new();
    for p in placed {
        changed.extend(p.keys.iter().map(String::as_str));
        at += p.rows;
        let last = positions.get(at - 1).copied().ok_or_else(|| {
            StoreError::Db(format!(
                "{} positions for {} rows",
                positions.len(),
                rows.len()
            ))
        })?;
        for k in &p.entering {
            db.exec(
                "INSERT INTO doc_scopes(doc_id, key, since, current, last_seq)
                 VALUES (?1, ?2, ?3, TRUE, ?3)
                 ON CONFLICT(doc_id, key) DO UPDATE SET since = excluded.since, current = TRUE,
                     last_seq = excluded.last_seq",
                &[p.id.into(), (*k).into(), last.into()],
            )?;
        }
        db.exec(
            "UPDATE doc_scopes SET last_seq = ?2 WHERE doc_id = ?1 AND current = TRUE",
            &[p.id.into(), last.into()],
        )?;
    }
    let last = positions.iter().copied().max().unwrap_or(0);
    let mut changed: Vec<&str> = changed.into_iter().collect();
    changed.sort_unstable();
    db.announce_feed(last, &changed)?;
    Ok(out)
}

/// Retires the scope keys document `id` lost and returns those it gains: a key that becomes
/// current gets the document's new position as `since`, so devices that gain the document
/// receive its whole history there.
fn scope_diff<'a>(db: &mut dyn Sql, id: &str, keys: &'a [String]) -> StoreResult<Vec<&'a str>> {
    let mut current: HashSet<String> = HashSet::new();
    for mut r in db.query(
        "SELECT key, current FROM doc_scopes WHERE doc_id = ?1",
        &[id.into()],
    )? {
        if r.bool(1)? {
            current.insert(r.text(0)?);
        }
    }
    for k in &current {
        if !keys.contains(k) {
            db.exec(
                "UPDATE doc_scopes SET current = FALSE WHERE doc_id = ?1 AND key = ?2",
                &[id.into(), k.into()],
            )?;
        }
    }
    Ok(keys
        .iter()
        .filter(|k| !current.contains(*k))
        .map(String::as_str)
        .collect())
}

/// Puts a page together in position order, cutting it at a position boundary once it holds
/// `max_bytes`.
struct PageBuilder<'a> {
    page: Page,
    order: Vec<String>,
    by_doc: HashMap<String, Vec<ByteBuf>>,
    skip_actor: &'a [u8],
    max_bytes: usize,
    head: u64,
}

impl<'a> PageBuilder<'a> {
    fn new(head: u64, max_bytes: usize, skip_actor: &'a [u8]) -> Self {
        PageBuilder {
            page: Page {
                cursor: head,
                ..Page::default()
            },
            order: Vec::new(),
            by_doc: HashMap::new(),
            skip_actor,
            max_bytes,
            head,
        }
    }

    fn add(&mut self, doc: &str, actor: &[u8], bytes: Vec<u8>) {
        if actor == self.skip_actor {
            return;
        }
        self.page.bytes += bytes.len();
        if !self.by_doc.contains_key(doc) {
            self.order.push(doc.to_string());
        }
        self.by_doc
            .entry(doc.to_string())
            .or_default()
            .push(ByteBuf::from(bytes));
    }

    /// Called after everything at position `pos`: whether the page is full there.
    fn full_at(&mut self, pos: u64) -> bool {
        if self.page.bytes >= self.max_bytes && pos < self.head {
            self.page.cursor = pos;
            self.page.more = true;
            return true;
        }
        false
    }

    fn finish(mut self) -> Page {
        self.page.docs = self
            .order
            .into_iter()
            .filter_map(|id| {
                let changes = self.by_doc.remove(&id)?;
                Some(PulledDoc { id, changes })
            })
            .collect();
        self.page
    }
}

/// What the first statement of a pull read.
struct Start {
    head: u64,
    /// Documents changed after the cursor → where each entered the scope.
    changed: HashMap<String, u64>,
    /// The device holding the token the pull was asked with, and the directory version.
    device: Option<(DeviceRecord, i64)>,
}

/// The feed's head and the documents carrying one of `keys` that changed after `after`,
/// with where each entered the scope (its earliest current key), in one statement — with
/// nothing new, the whole cost of a pull — and, with `token`, the device holding it (`None`:
/// no such device). Keys that became current after the head do not count yet.
fn start(
    db: &mut dyn Sql,
    keys: &[String],
    after: u64,
    token: Option<&[u8]>,
) -> StoreResult<Option<Start>> {
    let changed = "LEFT JOIN doc_scopes s ON s.key IN LIST(?1) AND s.current = TRUE
             AND s.last_seq > ?2 AND s.since <= h.head";
    let head = db.head_sql();
    let (sql, params, at) = match token {
        None => (
            format!("SELECT h.head, s.doc_id, s.since FROM (SELECT {head} AS head) h {changed}"),
            vec![keys.into(), after.into()],
            0,
        ),
        // The device in a row of its own: joined to the feed's rows instead, SQLite
        // prepares the statement again on every run.
        Some(t) => (
            format!(
                "SELECT d.id, d.member_id, d.actor, d.name, d.created_at, d.revoked_at,
                     (SELECT value FROM meta WHERE key = 'directory_version'),
                     CAST(NULL AS BIGINT), CAST(NULL AS TEXT), CAST(NULL AS BIGINT)
                 FROM devices d WHERE d.token_hash = ?3
                 UNION ALL
                 SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, h.head, s.doc_id, s.since
                 FROM (SELECT {head} AS head) h {changed}"
            ),
            vec![keys.into(), after.into(), Param::Blob(t)],
            7,
        ),
    };
    let rows = db.query(&sql, &params)?;
    let mut out = Start {
        head: 0,
        changed: HashMap::new(),
        device: None,
    };
    for mut r in rows {
        if token.is_some() && r.opt_int(4)?.is_some() {
            let version = r.int(6)?;
            out.device = Some((device_row(&mut r)?, version));
            continue;
        }
        out.head = r.count(at)?;
        if let Some(doc) = r.opt_text(at + 1)? {
            let since = r.count(at + 2)?;
            let e = out.changed.entry(doc).or_insert(since);
            *e = (*e).min(since);
        }
    }
    Ok((token.is_none() || out.device.is_some()).then_some(out))
}

fn keys_of(scope: &Scope) -> &[String] {
    match scope {
        Scope::Keys(keys) => keys,
        Scope::All => &[],
    }
}

/// See [`super::Storage::pull`] and the module documentation.
pub fn pull(
    db: &mut dyn Sql,
    scope: &Scope,
    after: u64,
    max_bytes: usize,
    skip_actor: &[u8],
) -> StoreResult<Page> {
    let first = start(db, keys_of(scope), after, None)?
        .ok_or_else(|| StoreError::Db("a pull read no feed head".into()))?;
    page(db, scope, after, first, max_bytes, skip_actor)
}

/// See [`super::Storage::authenticate_and_pull`].
pub fn authenticate_and_pull(
    db: &mut dyn Sql,
    token_hash: &[u8],
    scope: &Scope,
    after: u64,
    max_bytes: usize,
    skip_actor: &[u8],
) -> StoreResult<Option<((DeviceRecord, i64), Page)>> {
    let Some(mut first) = start(db, keys_of(scope), after, Some(token_hash))? else {
        return Ok(None);
    };
    let Some(device) = first.device.take() else {
        return Ok(None);
    };
    Ok(Some((
        device,
        page(db, scope, after, first, max_bytes, skip_actor)?,
    )))
}

/// The rest of a pull, after its first statement.
fn page(
    db: &mut dyn Sql,
    scope: &Scope,
    after: u64,
    first: Start,
    max_bytes: usize,
    skip_actor: &[u8],
) -> StoreResult<Page> {
    let Start {
        mut head,
        mut changed,
        ..
    } = first;
    // A cursor beyond the feed (a restored backup, another server) starts over.
    let after = if after > head {
        let again = start(db, keys_of(scope), 0, None)?
            .ok_or_else(|| StoreError::Db("a pull read no feed head".into()))?;
        (head, changed) = (again.head, again.changed);
        0
    } else {
        after
    };
    let mut out = PageBuilder::new(head, max_bytes, skip_actor);
    if after >= head {
        return Ok(out.finish());
    }
    if scope == &Scope::All {
        walk(db, None, after, &mut out)?;
        return Ok(out.finish());
    }
    // Only documents that entered after the cursor keep an entry point.
    for since in changed.values_mut() {
        if *since <= after {
            *since = 0;
        }
    }
    if changed.is_empty() {
        return Ok(out.finish());
    }
    if changed.len() <= PER_DOC {
        by_document(db, &changed, after, &mut out)?;
    } else {
        walk(db, Some(&changed), after, &mut out)?;
    }
    Ok(out.finish())
}

/// One position of a page: a change, or a document that entered the scope with all its
/// history up to there.
struct Item {
    pos: u64,
    doc: usize,
    changes: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A page from the change rows of a few documents (`entered`: document → the position where
/// it entered the scope after the cursor, or 0).
fn by_document(
    db: &mut dyn Sql,
    entered: &HashMap<String, u64>,
    after: u64,
    out: &mut PageBuilder<'_>,
) -> StoreResult<()> {
    let ids: Vec<&String> = entered.keys().collect();
    let mut items: Vec<Item> = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let entry = entered[*id];
        let from = if entry > 0 { 0 } else { after };
        let mut whole = Item {
            pos: entry,
            doc: n,
            changes: Vec::new(),
        };
        for mut r in db.query(
            "SELECT seq, actor, bytes FROM changes
             WHERE doc_id = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq",
            &[(*id).into(), from.into(), out.head.into()],
        )? {
            let seq = r.count(0)?;
            let change = (r.blob(1)?, r.blob(2)?);
            if seq <= entry {
                whole.changes.push(change);
            } else {
                items.push(Item {
                    pos: seq,
                    doc: n,
                    changes: vec![change],
                });
            }
        }
        if !whole.changes.is_empty() {
            items.push(whole);
        }
    }
    items.sort_by_key(|i| i.pos);
    for item in items {
        for (actor, bytes) in item.changes {
            out.add(ids[item.doc], &actor, bytes);
        }
        if out.full_at(item.pos) {
            break;
        }
    }
    Ok(())
}

/// A page by walking the feed in position order, keeping the documents of `filter`
/// (document → entry position as in [`by_document`]; `None`: everything).
fn walk(
    db: &mut dyn Sql,
    filter: Option<&HashMap<String, u64>>,
    after: u64,
    out: &mut PageBuilder<'_>,
) -> StoreResult<()> {
    let mut from = after;
    loop {
        let rows = db.query(
            "SELECT seq, doc_id FROM changes WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
            &[from.into(), out.head.into(), CHUNK.into()],
        )?;
        let last_chunk = rows.len() < CHUNK;
        // Which rows to send, and the documents that come whole at their row.
        let mut wanted: Vec<i64> = Vec::new();
        let mut positions: Vec<(u64, String, bool)> = Vec::with_capacity(rows.len());
        for mut r in rows {
            let seq = r.count(0)?;
            let doc = r.text(1)?;
            from = seq;
            let whole = match filter.map(|f| f.get(&doc)) {
                None => false,
                Some(None) => continue,
                Some(Some(&entry)) if entry > 0 && seq < entry => continue,
                Some(Some(&entry)) => seq == entry,
            };
            if !whole {
                wanted.push(seq as i64);
            }
            positions.push((seq, doc, whole));
        }
        let mut bodies: HashMap<u64, (Vec<u8>, Vec<u8>)> = HashMap::with_capacity(wanted.len());
        if !wanted.is_empty() {
            for mut r in db.query(
                "SELECT seq, actor, bytes FROM changes WHERE seq IN LIST(?1)",
                &[Param::Ints(&wanted)],
            )? {
                bodies.insert(r.count(0)?, (r.blob(1)?, r.blob(2)?));
            }
        }
        for (seq, doc, whole) in positions {
            if whole {
                for mut w in db.query(
                    "SELECT actor, bytes FROM changes WHERE doc_id = ?1 AND seq <= ?2 ORDER BY seq",
                    &[(&doc).into(), seq.into()],
                )? {
                    let (actor, bytes) = (w.blob(0)?, w.blob(1)?);
                    out.add(&doc, &actor, bytes);
                }
            } else if let Some((actor, bytes)) = bodies.remove(&seq) {
                out.add(&doc, &actor, bytes);
            }
            if out.full_at(seq) {
                return Ok(());
            }
        }
        if last_chunk {
            return Ok(());
        }
    }
}

pub fn change_count(db: &mut dyn Sql, doc_id: Option<&str>) -> StoreResult<u64> {
    match doc_id {
        None => db.one("SELECT count(*) FROM changes", &[])?.count(0),
        Some(id) => db
            .one(
                "SELECT count(*) FROM changes WHERE doc_id = ?1",
                &[id.into()],
            )?
            .count(0),
    }
}

/// Fills the projection columns of every stored document again after they changed
/// ([`PROJECTION_VERSION`]): runs once, when a backend opens a database written before.
pub fn reproject<B: Backend>(b: &B) -> StoreResult<()> {
    let version = b.read(|db| {
        db.opt("SELECT value FROM meta WHERE key = 'projection'", &[])?
            .map(|r| r.int(0))
            .transpose()
    })?;
    if version.is_some_and(|v| v >= PROJECTION_VERSION) {
        return Ok(());
    }
    let mut last = String::new();
    loop {
        let rows = b.read(|db| {
            let mut out = Vec::new();
            for mut r in db.query(
                "SELECT s.id, s.snapshot, d.updated_at FROM doc_states s JOIN docs d ON d.id = s.id
                 WHERE s.id > ?1 AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.doc_id = s.id)
                 ORDER BY s.id LIMIT 256",
                &[(&last).into()],
            )? {
                out.push((r.text(0)?, r.blob(1)?, r.int(2)?));
            }
            Ok(out)
        })?;
        let Some((id, _, _)) = rows.last() else { break };
        last = id.clone();
        let mut projected = Vec::with_capacity(rows.len());
        // A document that does not load is set aside; the server starts with the others.
        let mut damaged = Vec::new();
        for (id, snapshot, updated_at) in rows {
            let view = load_snapshot(&snapshot)
                .map_err(|e| e.to_string())
                .and_then(|doc| {
                    outpost_core::sync::validate::read_view(&doc, &id).map_err(|e| e.to_string())
                });
            match view {
                Ok(view) => projected.push((id, Projection::of(&view), updated_at)),
                Err(reason) => damaged.push((id, reason)),
            }
        }
        let now = crate::api::now_ms();
        b.write(|db| {
            for (id, p, updated_at) in &projected {
                p.write(db, id, *updated_at)?;
            }
            for (id, reason) in &damaged {
                quarantine(db, id, reason, now)?;
            }
            Ok(())
        })?;
    }
    b.write(|db| {
        db.exec(
            "INSERT INTO meta(key, value) VALUES ('projection', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            &[PROJECTION_VERSION.into()],
        )
        .map(drop)
    })
}
