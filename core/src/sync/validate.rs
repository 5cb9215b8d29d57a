//! What the server checks before it stores changes a device pushed.
//!
//! A CRDT merges anything, so the server must not. Every pushed change is judged twice:
//!
//! - **As its author saw it**: the document at the change's dependencies is exactly what the
//!   phone checked before it let the person act, so the change must pass core's own rules
//!   there — the device's own actor, in its member's name, role and scope ([`permit`]), one
//!   timeline event appended after what the author had seen, values that validate. An
//!   honest offline action that later lands beside a concurrent one is therefore never
//!   refused.
//! - **In the merged history**: what the creation set is frozen, and no event already on the
//!   timeline may change or vanish, however a change's dependencies and op counters are
//!   chosen. Whether a kept event takes effect is then the fold's call (`case/fold.rs`): it
//!   judges each event with the same [`permit`] at its place among concurrent ones, so a
//!   device that pretends to have seen less only makes its event a conflict.
//!
//! Bytes are bounded before any of this: only raw change chunks are taken (a compressed one
//! would be inflated with no limit), decoding and applying run guarded so a panic in the
//! document engine becomes a `malformed` refusal for that document, and a budget caps the
//! changes and bytes one push may make the server decode.

use std::collections::{HashMap, HashSet};

use automerge::{AutoCommit, Change, ChangeHash};

use super::wire::RefusalCode;
use crate::case::{Acting, Case, CaseRoot, Event, EventKind, permit, read_case_parts};
use crate::doc::kind_of;
use crate::error::{Denial, Error};
use crate::inspection::{Inspection, InspectionStatus, check_answer, read_inspection};
use crate::member::Member;
use crate::template::Template;
use crate::untrusted::ChangeLimits;

/// Longest document id the server accepts (core makes 36-character UUIDs).
pub const MAX_DOC_ID: usize = 64;
/// Longest hazard deadline at creation: a year after the walkthrough.
const MAX_RECTIFICATION_MS: i64 = 366 * 24 * 60 * 60 * 1000;

/// A document as the schema reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum DocView {
    Case(Box<Case>),
    Inspection(Box<Inspection>),
}

impl DocView {
    pub fn kind(&self) -> crate::DocKind {
        match self {
            DocView::Case(_) => crate::DocKind::Case,
            DocView::Inspection(_) => crate::DocKind::Inspection,
        }
    }
}

/// Why a push was refused; `reason` is written for the person whose phone sent it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    pub code: RefusalCode,
    pub reason: String,
}

fn refuse(code: RefusalCode, reason: impl Into<String>) -> Refusal {
    Refusal {
        code,
        reason: reason.into(),
    }
}

/// What the server knows about the directory that a document may name.
pub trait Known {
    fn grid(&self, id: &str) -> bool;
    fn unit(&self, id: &str) -> bool;
    /// Whether `t` is a checklist the server publishes, in exactly this version. The
    /// templates that ship with the app always are.
    fn template(&self, t: &Template) -> bool {
        Template::builtin().iter().any(|b| b == t)
    }
}

/// How much decoding work one push may cost the server. Shared by all documents of a
/// request: each change decoded spends from it, and a push that runs out is refused from
/// that document on.
#[derive(Debug, Clone)]
pub struct Budget {
    pub changes: usize,
    pub bytes: usize,
}

impl Default for Budget {
    /// A week of a busy phone's work fits many times over.
    fn default() -> Self {
        Budget {
            changes: 20_000,
            bytes: 32 << 20,
        }
    }
}

impl Budget {
    fn spend(&mut self, bytes: usize) -> Result<(), Refusal> {
        if self.changes == 0 || self.bytes < bytes {
            return Err(refuse(
                RefusalCode::Malformed,
                "this push carries more changes than the server decodes in one request; the rest is taken on the next sync",
            ));
        }
        self.changes -= 1;
        self.bytes -= bytes;
        Ok(())
    }
}

/// A push that passed: the merged document, the changes new to the server in causal order
/// (raw bytes, as stored and sent on), and the document read back.
pub struct Accepted {
    pub doc: AutoCommit,
    pub fresh: Vec<(ChangeHash, Vec<u8>)>,
    pub view: DocView,
}

/// Whether `id` is a document id the server accepts.
pub fn valid_doc_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_DOC_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reads a stored document.
pub fn read_view(doc: &AutoCommit, id: &str) -> Result<DocView, Error> {
    match kind_of(doc).as_deref() {
        Some("case") => Ok(DocView::Case(Box::new(crate::case::read_case(doc, id)?))),
        Some("inspection") => Ok(DocView::Inspection(Box::new(read_inspection(doc, id)?))),
        _ => Err(crate::error::bad_doc(
            id,
            "neither a case nor an inspection",
        )),
    }
}

/// Runs document-engine work on bytes from outside; a panic in it becomes a refusal.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, Refusal>) -> Result<T, Refusal> {
    crate::untrusted::guard(what, f)
        .unwrap_or_else(|e| Err(refuse(RefusalCode::Malformed, format!("{what}: {e}"))))
}

/// Decodes one pushed change: raw chunks only, inspected and bounded before automerge
/// sees them, decoded under a guard ([`crate::untrusted`]).
pub fn decode_change(i: usize, raw: &[u8]) -> Result<Change, Refusal> {
    crate::untrusted::decode_change(raw, &ChangeLimits::default())
        .map_err(|e| refuse(RefusalCode::Malformed, format!("change {i}: {e}")))
}

/// Checks the changes `member`'s device (Automerge actor `actor_hex`) pushed for document
/// `id`, on top of `existing` (what the server holds, `None` for a new document).
pub fn check_push(
    member: &Member,
    actor_hex: &str,
    id: &str,
    existing: Option<AutoCommit>,
    changes: &[Vec<u8>],
    known: &dyn Known,
) -> Result<Accepted, Refusal> {
    check_push_within(
        member,
        actor_hex,
        id,
        existing,
        changes,
        known,
        &mut Budget::default(),
    )
}

/// [`check_push`] spending from a budget shared by the documents of one request.
pub fn check_push_within(
    member: &Member,
    actor_hex: &str,
    id: &str,
    existing: Option<AutoCommit>,
    changes: &[Vec<u8>],
    known: &dyn Known,
    budget: &mut Budget,
) -> Result<Accepted, Refusal> {
    if !valid_doc_id(id) {
        return Err(refuse(
            RefusalCode::Malformed,
            format!("'{}' is not a valid document id", truncate(id)),
        ));
    }
    let mut work = existing.unwrap_or_default();
    let stored = match kind_of(&work) {
        None => None,
        Some(_) => Some(read_view(&work, id).map_err(|e| {
            refuse(
                RefusalCode::Invalid,
                format!("the server's copy of this document does not read: {e}"),
            )
        })?),
    };
    let existed = stored.is_some();
    let mut pending = Vec::new();
    let mut seen = HashSet::new();
    for (i, raw) in changes.iter().enumerate() {
        budget.spend(raw.len())?;
        let c = decode_change(i, raw)?;
        let hash = c.hash();
        if work.get_change_meta_by_hash(&hash).is_some() || !seen.insert(hash) {
            continue; // already stored: a repeated or resumed push
        }
        if c.actor_id().to_hex_string() != actor_hex {
            return Err(refuse(
                RefusalCode::WrongActor,
                format!(
                    "change {i} was made by actor {}, not by this device",
                    c.actor_id().to_hex_string()
                ),
            ));
        }
        pending.push(c);
    }
    let mut fresh = Vec::with_capacity(pending.len());
    // The view of `work` as it stands, when known.
    let mut current: Option<DocView> = None;
    // Causal order: a change goes in once the document holds all it depends on.
    while !pending.is_empty() {
        let Some(pos) = pending.iter().position(|c| {
            c.deps()
                .iter()
                .all(|d| work.get_change_meta_by_hash(d).is_some())
        }) else {
            return Err(refuse(
                RefusalCode::Malformed,
                "changes depend on others that neither the server nor this push has",
            ));
        };
        let c = pending.remove(pos);
        fresh.push((c.hash(), c.raw_bytes().to_vec()));
        let mut deps = c.deps().to_vec();
        deps.sort();
        let mut heads = work.get_heads();
        heads.sort();
        if deps == heads {
            // The author saw the document as it stands (the usual push: one phone's
            // changes in a row). Judge it on the document itself; the view after one
            // change is the view before the next.
            let before = match current.take() {
                Some(v) => Some(v),
                None if kind_of(&work).is_some() => {
                    Some(view_of(&work, id, "this change builds on")?)
                }
                None => None,
            };
            apply(&mut work, c)?;
            let after = view_of(&work, id, "after this change")?;
            judge(member, before, &after, known)?;
            current = Some(after);
        } else {
            check_one(member, id, &mut work, existed, &c, known)?;
            apply(&mut work, c)?;
            current = None;
        }
    }
    let view = match current {
        Some(v) => v,
        None => view_of(&work, id, "merged")?,
    };
    if let Some(before) = &stored {
        check_merged(id, before, &work, &view)?;
    }
    Ok(Accepted {
        doc: work,
        fresh,
        view,
    })
}

/// In the merged document, whatever the changes' dependencies and op counters: what the
/// creation set is as it was, and every event or submission the server held is still there
/// unchanged.
fn check_merged(
    id: &str,
    before: &DocView,
    merged: &AutoCommit,
    after: &DocView,
) -> Result<(), Refusal> {
    match (before, after) {
        (DocView::Case(_), DocView::Case(_)) => {
            let (root_after, events_after) = read_case_parts(merged, id)
                .map_err(|e| refuse(RefusalCode::Invalid, e.to_string()))?;
            let DocView::Case(b) = before else {
                return Err(refuse(
                    RefusalCode::Invalid,
                    "the document changed its kind",
                ));
            };
            if b.root != root_after {
                return Err(root_changed(&b.root, &root_after));
            }
            let now: HashMap<&str, &Event> =
                events_after.iter().map(|e| (e.id.as_str(), e)).collect();
            if b.timeline
                .iter()
                .any(|t| now.get(t.event.id.as_str()) != Some(&&t.event))
            {
                return Err(refuse(
                    RefusalCode::Forbidden,
                    "the timeline can only be appended to",
                ));
            }
            Ok(())
        }
        (DocView::Inspection(b), DocView::Inspection(a)) => {
            if a.template != b.template
                || a.site != b.site
                || a.started_by != b.started_by
                || a.started_at != b.started_at
                || a.previous_id != b.previous_id
            {
                return Err(forbidden("the template, site or start of an inspection"));
            }
            if !b.inspectors.iter().all(|m| a.inspectors.contains(m))
                || !b.submitted_by.iter().all(|m| a.submitted_by.contains(m))
            {
                return Err(refuse(
                    RefusalCode::Forbidden,
                    "inspectors and submissions cannot be removed",
                ));
            }
            Ok(())
        }
        _ => Err(refuse(
            RefusalCode::Invalid,
            "the change turns the document into another kind",
        )),
    }
}

/// Checks one change against the document as its author saw it.
fn check_one(
    member: &Member,
    id: &str,
    work: &mut AutoCommit,
    existed: bool,
    c: &Change,
    known: &dyn Known,
) -> Result<(), Refusal> {
    let mut base = if c.deps().is_empty() {
        if existed || kind_of(work).is_some() {
            return Err(refuse(
                RefusalCode::Forbidden,
                format!("document {id} already exists; a new one needs a new id"),
            ));
        }
        AutoCommit::new()
    } else {
        guarded("reading the document at the change's base", || {
            work.fork_at(c.deps())
                .map_err(|e| refuse(RefusalCode::Malformed, format!("unknown base: {e}")))
        })?
    };
    let before = match kind_of(&base) {
        None => None,
        Some(_) => Some(view_of(&base, id, "this change builds on")?),
    };
    apply(&mut base, c.clone())?;
    let after = view_of(&base, id, "after this change")?;
    judge(member, before, &after, known)
}

/// Applies one decoded change, guarded.
fn apply(doc: &mut AutoCommit, c: Change) -> Result<(), Refusal> {
    guarded("applying the change", || {
        doc.apply_changes([c]).map_err(|e| {
            refuse(
                RefusalCode::Malformed,
                format!("change does not apply: {e}"),
            )
        })
    })
}

/// Reads a document as its schema says, guarded; `which` names the state for the message.
fn view_of(doc: &AutoCommit, id: &str, which: &str) -> Result<DocView, Refusal> {
    guarded("reading the document", || {
        read_view(doc, id).map_err(|e| {
            refuse(
                RefusalCode::Invalid,
                format!("the document {which} does not read: {e}"),
            )
        })
    })
}

/// Judges one change from the document its author saw (`None`: a new document) and the
/// document right after it.
fn judge(
    member: &Member,
    before: Option<DocView>,
    after: &DocView,
    known: &dyn Known,
) -> Result<(), Refusal> {
    match (before, after) {
        (None, DocView::Case(a)) => check_new_case(member, a, known),
        (Some(DocView::Case(b)), DocView::Case(a)) => check_case_change(member, &b, a, known),
        (None, DocView::Inspection(a)) => check_new_inspection(member, a, known),
        (Some(DocView::Inspection(b)), DocView::Inspection(a)) => {
            check_inspection_change(member, &b, a)
        }
        _ => Err(refuse(
            RefusalCode::Invalid,
            "the change turns the document into another kind",
        )),
    }
}

/// Names the fields of a report that a change rewrote.
fn root_changed(before: &CaseRoot, after: &CaseRoot) -> Refusal {
    let mut fields = Vec::new();
    let mut differs = |name: &'static str, changed: bool| {
        if changed {
            fields.push(name);
        }
    };
    differs("category", before.category != after.category);
    differs("urgency", before.urgency != after.urgency);
    differs("title", before.title != after.title);
    differs("description", before.description != after.description);
    differs("location", before.location != after.location);
    differs("grid", before.grid_id != after.grid_id);
    differs("reporter", before.reporter_id != after.reporter_id);
    differs("creation time", before.created_at != after.created_at);
    differs("initial deadline", before.deadline != after.deadline);
    differs("source", before.source != after.source);
    differs("photos", before.attachments != after.attachments);
    refuse(
        RefusalCode::Forbidden,
        format!(
            "the report's {} cannot be changed: corrections are `edited` events and only an \
             administrator moves a case to another grid (`moved`)",
            fields.join(", ")
        ),
    )
}

fn forbidden(what: &str) -> Refusal {
    refuse(RefusalCode::Forbidden, format!("{what} cannot be changed"))
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

fn denied(d: Denial) -> Refusal {
    refuse(RefusalCode::Forbidden, Error::from(d).to_string())
}

fn invalid(e: impl std::fmt::Display) -> Refusal {
    refuse(RefusalCode::Invalid, e.to_string())
}

fn check_new_case(member: &Member, c: &Case, known: &dyn Known) -> Result<(), Refusal> {
    let root = &c.root;
    member.may_report(&root.grid_id).map_err(denied)?;
    if !known.grid(&root.grid_id) {
        return Err(invalid(format!(
            "grid {} does not exist",
            truncate(&root.grid_id)
        )));
    }
    if root.reporter_id != member.id {
        return Err(refuse(
            RefusalCode::Forbidden,
            "a case can only be reported in your own name",
        ));
    }
    let [first] = c.timeline.as_slice() else {
        return Err(invalid(
            "a new case starts with its creation and nothing else",
        ));
    };
    let e = &first.event;
    let state = crate::case::CaseState {
        status: crate::Status::New,
        grid_id: &root.grid_id,
        reporter_id: &root.reporter_id,
        assigned_unit: None,
    };
    if e.kind != EventKind::Created
        || e.author != member.id
        || e.role != member.role
        || !e.after.is_empty()
        || Acting::of_event(e) != Acting::of_member(member, &state)
    {
        return Err(refuse(
            RefusalCode::Forbidden,
            "the creation must be recorded by you, in your role and scope",
        ));
    }
    crate::case::check_required("event id", &e.id, MAX_DOC_ID).map_err(invalid)?;
    if root.created_at != e.at {
        return Err(invalid(
            "the creation time must be the time of the creation event",
        ));
    }
    if let Some(source) = &root.source {
        // Only a walkthrough raises a hazard case, so only someone who may walk this grid.
        member.may_inspect(&root.grid_id).map_err(|d| {
            refuse(
                RefusalCode::Forbidden,
                format!("a case raised from an inspection needs an inspector of its grid: {d}"),
            )
        })?;
        for (what, v) in [
            ("inspection id", &source.inspection_id),
            ("checklist item", &source.item_id),
        ] {
            crate::case::check_required(what, v, MAX_DOC_ID).map_err(invalid)?;
        }
    }
    if let Some(deadline) = root.deadline {
        if root.source.is_none() {
            return Err(refuse(
                RefusalCode::Forbidden,
                "only a hazard raised by an inspection carries a deadline at creation",
            ));
        }
        if deadline <= root.created_at || deadline - root.created_at > MAX_RECTIFICATION_MS {
            return Err(invalid(
                "a rectification deadline lies after the creation and within a year",
            ));
        }
    }
    let mut n = crate::case::NewCase::new(root.category, root.urgency, &root.title, &root.grid_id);
    n.description = root.description.clone();
    n.location = root.location.clone();
    n.attachments = root.attachments.clone();
    n.validate().map_err(invalid)
}

fn check_case_change(
    member: &Member,
    b: &Case,
    a: &Case,
    known: &dyn Known,
) -> Result<(), Refusal> {
    if a.root != b.root {
        return Err(root_changed(&b.root, &a.root));
    }
    let old: HashMap<&str, &Event> = b
        .timeline
        .iter()
        .map(|t| (t.event.id.as_str(), &t.event))
        .collect();
    let mut added: Vec<&Event> = Vec::new();
    let mut ids = HashSet::new();
    for t in &a.timeline {
        if !ids.insert(t.event.id.as_str()) {
            return Err(invalid("two timeline events share an id"));
        }
        match old.get(t.event.id.as_str()) {
            Some(o) if **o == t.event => {}
            Some(_) => {
                return Err(refuse(
                    RefusalCode::Forbidden,
                    "the timeline can only be appended to",
                ));
            }
            None => added.push(&t.event),
        }
    }
    if a.timeline.len() != b.timeline.len() + added.len() {
        return Err(refuse(
            RefusalCode::Forbidden,
            "the timeline can only be appended to",
        ));
    }
    let event = match added.as_slice() {
        [] => {
            return Err(refuse(
                RefusalCode::Forbidden,
                "every change to a case is recorded in its timeline",
            ));
        }
        [e] => *e,
        _ => return Err(invalid("one change records one timeline event")),
    };
    let state = b.state();
    if event.author != member.id
        || event.role != member.role
        || Acting::of_event(event) != Acting::of_member(member, &state)
    {
        return Err(refuse(
            RefusalCode::Forbidden,
            "an event can only be recorded in your own name, role and scope",
        ));
    }
    // Rights before contents: a device learns nothing about documents it may not touch.
    permit(&Acting::of_event(event), &state, &event.kind).map_err(denied)?;
    let mut after = event.after.clone();
    after.sort();
    if after != b.heads() {
        return Err(invalid(
            "an event must record the timeline's latest events as its author saw them",
        ));
    }
    crate::case::check_required("event id", &event.id, MAX_DOC_ID).map_err(invalid)?;
    // Device time at the event is "now" for the deadline check, as on the phone.
    event.kind.validate(event.at).map_err(invalid)?;
    match &event.kind {
        EventKind::Dispatched { unit_id, .. } if !known.unit(unit_id) => Err(invalid(format!(
            "unit {} does not exist",
            truncate(unit_id)
        ))),
        EventKind::Moved { grid_id } if !known.grid(grid_id) => Err(invalid(format!(
            "grid {} does not exist",
            truncate(grid_id)
        ))),
        _ => Ok(()),
    }
}

fn check_new_inspection(member: &Member, i: &Inspection, known: &dyn Known) -> Result<(), Refusal> {
    member.may_inspect(&i.site.grid_id).map_err(denied)?;
    if !known.grid(&i.site.grid_id) {
        return Err(invalid(format!(
            "grid {} does not exist",
            truncate(&i.site.grid_id)
        )));
    }
    if !known.template(&i.template) {
        return Err(invalid(format!(
            "checklist {} version {} is not one the server publishes",
            truncate(&i.template.id),
            i.template.version
        )));
    }
    if i.started_by != member.id || i.inspectors != [member.id.clone()] {
        return Err(refuse(
            RefusalCode::Forbidden,
            "an inspection can only be started in your own name",
        ));
    }
    if !i.answers.is_empty()
        || !i.submitted_by.is_empty()
        || !i.hazards.is_empty()
        || !i.verified.is_empty()
    {
        return Err(invalid("a new inspection starts without answers"));
    }
    i.site.validate().map_err(invalid)
}

fn check_inspection_change(member: &Member, b: &Inspection, a: &Inspection) -> Result<(), Refusal> {
    member.may_inspect(&b.site.grid_id).map_err(denied)?;
    if a.template != b.template
        || a.site != b.site
        || a.started_by != b.started_by
        || a.started_at != b.started_at
        || a.previous_id != b.previous_id
    {
        return Err(forbidden("the template, site or start of an inspection"));
    }
    let only_me = |before: &[String], after: &[String], what: &str| -> Result<usize, Refusal> {
        if !before.iter().all(|x| after.contains(x)) {
            return Err(refuse(
                RefusalCode::Forbidden,
                format!("{what} cannot be removed"),
            ));
        }
        let new: Vec<_> = after.iter().filter(|x| !before.contains(x)).collect();
        if new.iter().any(|x| **x != member.id) {
            return Err(refuse(
                RefusalCode::Forbidden,
                format!("{what} can only be added in your own name"),
            ));
        }
        Ok(new.len())
    };
    only_me(&b.inspectors, &a.inspectors, "inspectors")?;
    let submitting = only_me(&b.submitted_by, &a.submitted_by, "submissions")? > 0;
    let mut answered = false;
    for ia in &a.answers {
        let old = b
            .answer(&ia.item_id)
            .map(|x| x.answers.as_slice())
            .unwrap_or(&[]);
        for ans in ia.answers.iter().filter(|x| !old.contains(x)) {
            answered = true;
            if ans.by != member.id {
                return Err(refuse(
                    RefusalCode::Forbidden,
                    "answers can only be given in your own name",
                ));
            }
            let item = a.template.item(&ia.item_id).ok_or_else(|| {
                invalid(format!(
                    "item '{}' is not in this checklist",
                    truncate(&ia.item_id)
                ))
            })?;
            check_answer(item, &ans.value, &ans.note, &ans.photos).map_err(invalid)?;
        }
    }
    if b.answers.iter().any(|x| a.answer(&x.item_id).is_none()) {
        return Err(refuse(
            RefusalCode::Forbidden,
            "an answer can be replaced but not removed",
        ));
    }
    if b.status == InspectionStatus::Submitted && (answered || submitting) {
        return Err(refuse(
            RefusalCode::Forbidden,
            "the inspection was already submitted",
        ));
    }
    if submitting && !a.unanswered().is_empty() {
        return Err(invalid(
            "an inspection is submitted with every item answered",
        ));
    }
    let links_changed = a.hazards != b.hazards || a.verified != b.verified;
    if links_changed && !submitting {
        return Err(refuse(
            RefusalCode::Forbidden,
            "hazard links are written only by a submission",
        ));
    }
    for (_, ids) in &a.hazards {
        for c in ids {
            crate::case::check_required("hazard case id", c, MAX_DOC_ID).map_err(invalid)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Category, NewCase, Role, Status, Store, Urgency};

    struct All;
    impl Known for All {
        fn grid(&self, _: &str) -> bool {
            true
        }
        fn unit(&self, _: &str) -> bool {
            true
        }
    }

    fn phone(dir: &std::path::Path, m: &Member) -> Store {
        let s = Store::open(dir.join(format!("{}.db", m.id))).unwrap();
        s.set_member(m).unwrap();
        s
    }

    fn raw(store: &Store, id: &str, since: &[ChangeHash]) -> Vec<Vec<u8>> {
        store
            .changes_since(id, since)
            .unwrap()
            .into_iter()
            .map(|b| Change::from_bytes(b).unwrap().raw_bytes().to_vec())
            .collect()
    }

    /// A server holding one document, and the phones that push to it.
    struct Server {
        doc: Option<AutoCommit>,
        id: String,
    }

    impl Server {
        /// Pushes what `from` has after `since`, as `m`'s device; returns the case as merged.
        fn push(
            &mut self,
            m: &Member,
            from: &Store,
            since: &[ChangeHash],
        ) -> Result<Case, Refusal> {
            let changes = raw(from, &self.id, since);
            let a = check_push(
                m,
                &from.actor_id().unwrap(),
                &self.id,
                self.doc.clone(),
                &changes,
                &All,
            )?;
            self.doc = Some(a.doc);
            let DocView::Case(c) = a.view else {
                panic!("a case")
            };
            Ok(*c)
        }

        /// Gives `to` everything the server holds.
        fn deliver(&mut self, to: &Store) {
            let mut doc = self.doc.clone().unwrap();
            let all: Vec<Vec<u8>> = doc
                .get_changes(&[])
                .into_iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect();
            to.apply_remote(&[(self.id.clone(), all)]).unwrap();
        }
    }

    fn people() -> (Member, Member, Member, Member, Member) {
        (
            Member::new("rider", "R", Role::Courier, Vec::<String>::new()),
            Member::new("lead", "L", Role::GridLead, ["g"]),
            Member::new("resp-a", "A", Role::Responder, Vec::<String>::new()).with_unit("ua"),
            Member::new("admin", "Z", Role::Admin, Vec::<String>::new()),
            Member::new("gm", "M", Role::GridMember, ["g"]),
        )
    }

    fn conflicted(c: &Case, author: &str) -> bool {
        c.timeline
            .iter()
            .any(|t| t.event.author == author && t.conflict.is_some())
    }

    #[test]
    fn a_courier_cancel_made_before_it_saw_the_acceptance_is_kept_as_a_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let (rider_m, lead_m, ..) = people();
        let rider = phone(dir.path(), &rider_m);
        let lead = phone(dir.path(), &lead_m);
        let id = rider
            .flag_person_in_distress("g", None, None, None)
            .unwrap();
        let mut server = Server {
            doc: None,
            id: id.clone(),
        };
        server.push(&rider_m, &rider, &[]).unwrap();
        let created = rider.heads(&id).unwrap();
        server.deliver(&lead);
        lead.record(&id, EventKind::Accepted).unwrap();
        lead.record(
            &id,
            EventKind::Dispatched {
                unit_id: "ua".into(),
                deadline: i64::MAX / 2,
            },
        )
        .unwrap();
        server.push(&lead_m, &lead, &created).unwrap();
        // The courier never pulled (or pretends it never did) and cancels its flag.
        rider
            .record(
                &id,
                EventKind::Cancelled {
                    reason: "家属已到".into(),
                },
            )
            .unwrap();
        let c = server
            .push(&rider_m, &rider, &created)
            .expect("judged against what the courier saw: kept, not refused");
        assert_eq!(c.timeline.len(), 4, "every event is kept");
        assert_eq!(c.status, Status::Dispatched);
        assert!(conflicted(&c, "rider"));
        // Every replica folds it the same way.
        server.deliver(&rider);
        server.deliver(&lead);
        assert_eq!(rider.case(&id).unwrap().status, Status::Dispatched);
        assert_eq!(lead.case(&id).unwrap(), c);

        // Having seen the acceptance, the same cancel is refused outright.
        let before = rider.heads(&id).unwrap();
        let err = rider
            .record(&id, EventKind::Cancelled { reason: "x".into() })
            .unwrap_err();
        assert!(matches!(err, Error::Transition { .. }), "{err}");
        assert_eq!(rider.heads(&id).unwrap(), before);
    }

    #[test]
    fn a_resolve_by_the_old_unit_that_crossed_a_redispatch_does_not_resolve_the_case() {
        let dir = tempfile::tempdir().unwrap();
        let (_, lead_m, resp_m, ..) = people();
        let lead = phone(dir.path(), &lead_m);
        let resp = phone(dir.path(), &resp_m);
        let id = lead
            .create_case(NewCase::new(Category::Waste, Urgency::Normal, "垃圾", "g"))
            .unwrap();
        let far = i64::MAX / 2;
        lead.record(
            &id,
            EventKind::Dispatched {
                unit_id: "ua".into(),
                deadline: far,
            },
        )
        .unwrap();
        let mut server = Server {
            doc: None,
            id: id.clone(),
        };
        server.push(&lead_m, &lead, &[]).unwrap();
        server.deliver(&resp);
        let seen = resp.heads(&id).unwrap();
        lead.record(
            &id,
            EventKind::Comment {
                text: "催办".into(),
            },
        )
        .unwrap();
        lead.record(
            &id,
            EventKind::Dispatched {
                unit_id: "ub".into(),
                deadline: far,
            },
        )
        .unwrap();
        server.push(&lead_m, &lead, &seen).unwrap();
        resp.record(
            &id,
            EventKind::Resolved {
                note: "已清理".into(),
            },
        )
        .unwrap();
        let c = server.push(&resp_m, &resp, &seen).expect("kept as history");
        assert_eq!(c.status, Status::Dispatched);
        assert_eq!(c.assigned_unit.as_deref(), Some("ub"));
        assert!(conflicted(&c, "resp-a"));
        server.deliver(&resp);
        assert_eq!(resp.case(&id).unwrap().status, Status::Dispatched);
    }

    #[test]
    fn a_lead_acting_across_an_administrators_move_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (_, lead_m, _, admin_m, gm_m) = people();
        let member = phone(dir.path(), &gm_m);
        let lead = phone(dir.path(), &lead_m);
        let admin = phone(dir.path(), &admin_m);
        let id = member
            .create_case(NewCase::new(Category::Noise, Urgency::Low, "噪音", "g"))
            .unwrap();
        let mut server = Server {
            doc: None,
            id: id.clone(),
        };
        server.push(&gm_m, &member, &[]).unwrap();
        let created = member.heads(&id).unwrap();
        server.deliver(&lead);
        server.deliver(&admin);
        admin.move_case(&id, "g2").unwrap();
        server.push(&admin_m, &admin, &created).unwrap();
        // The lead, not having seen the move, dispatches and re-writes the grid with a big
        // op counter (many throwaway ops first), in one change with its event.
        let mut doc = lead_doc(&lead, &id);
        for i in 0..500 {
            automerge::transaction::Transactable::put(
                &mut doc,
                automerge::ROOT,
                "scratch",
                i as i64,
            )
            .unwrap();
        }
        automerge::transaction::Transactable::delete(&mut doc, automerge::ROOT, "scratch").unwrap();
        automerge::transaction::Transactable::put(&mut doc, automerge::ROOT, "grid_id", "g")
            .unwrap();
        let case = crate::case::read_case(&doc, &id).unwrap();
        let state = case.state();
        let ev = crate::case::event_by(
            &lead_m,
            &state,
            "e-lead",
            1,
            EventKind::Dispatched {
                unit_id: "ua".into(),
                deadline: i64::MAX / 2,
            },
            case.heads(),
        );
        crate::case::append_event(&mut doc, &ev).unwrap();
        doc.commit();
        let change = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
        let server_doc = server.doc.clone();
        let a = check_push(
            &lead_m,
            &lead.actor_id().unwrap(),
            &id,
            server_doc,
            &[change],
            &All,
        )
        .expect("the same grid written again is no change; the event is kept");
        let DocView::Case(c) = a.view else {
            panic!("a case")
        };
        assert_eq!(c.grid_id, "g2", "the move stands");
        assert_eq!(c.status, Status::New);
        assert!(conflicted(&c, "lead"));

        // Writing another grid into the root is refused, in whatever change.
        let mut doc = lead_doc(&lead, &id);
        automerge::transaction::Transactable::put(&mut doc, automerge::ROOT, "grid_id", "g3")
            .unwrap();
        let case = crate::case::read_case(&doc, &id).unwrap();
        let ev = crate::case::event_by(
            &lead_m,
            &case.state(),
            "e2",
            1,
            EventKind::Comment { text: "x".into() },
            case.heads(),
        );
        crate::case::append_event(&mut doc, &ev).unwrap();
        doc.commit();
        let change = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
        let r = check_push(
            &lead_m,
            &lead.actor_id().unwrap(),
            &id,
            server.doc.clone(),
            &[change],
            &All,
        )
        .err()
        .expect("refused");
        assert_eq!(r.code, RefusalCode::Forbidden);
    }

    fn lead_doc(lead: &Store, id: &str) -> AutoCommit {
        let mut doc = AutoCommit::new();
        let all: Vec<Change> = lead
            .changes_since(id, &[])
            .unwrap()
            .into_iter()
            .map(|b| Change::from_bytes(b).unwrap())
            .collect();
        doc.apply_changes(all).unwrap();
        doc.set_actor(automerge::ActorId::from(
            hex::decode(lead.actor_id().unwrap()).unwrap(),
        ));
        doc
    }

    #[test]
    fn a_repeated_push_stores_nothing_new_and_compressed_changes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (m, ..) = people();
        let p = phone(dir.path(), &m);
        let id = p
            .flag_person_in_distress("g", None, Some(&"长".repeat(3000)), None)
            .unwrap();
        let c = raw(&p, &id, &[]);
        let actor = p.actor_id().unwrap();
        let first = check_push(&m, &actor, &id, None, &c, &All).unwrap();
        let again = check_push(&m, &actor, &id, Some(first.doc), &c, &All).unwrap();
        assert!(again.fresh.is_empty());
        assert!(!valid_doc_id("a/b") && !valid_doc_id("") && valid_doc_id(&id));
        let mut change = Change::from_bytes(p.changes_since(&id, &[]).unwrap().remove(0)).unwrap();
        let compressed = change.bytes().into_owned();
        assert_ne!(compressed[8], 1, "a large change compresses");
        let r = check_push(&m, &actor, &id, None, &[compressed], &All)
            .err()
            .unwrap();
        assert_eq!(r.code, RefusalCode::Malformed);
        assert!(r.reason.contains("compressed"), "{}", r.reason);
        let r = check_push(
            &m,
            &actor,
            &id,
            None,
            &[vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, 0xff]],
            &All,
        )
        .err()
        .unwrap();
        assert_eq!(r.code, RefusalCode::Malformed);
    }

    #[test]
    fn creation_claims_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let (rider_m, _, _, _, gm_m) = people();
        let rider = phone(dir.path(), &rider_m);
        let gm = phone(dir.path(), &gm_m);
        // A courier cannot claim a case came from an inspection or carries a deadline.
        let mut c = NewCase::new(Category::FireHazard, Urgency::Urgent, "假隐患", "g");
        c.source = Some(crate::case::HazardSource {
            inspection_id: "i".into(),
            item_id: "x".into(),
        });
        c.deadline = Some(i64::MAX / 4);
        let id = rider.create_case(c.clone()).unwrap();
        let r = check_push(
            &rider_m,
            &rider.actor_id().unwrap(),
            &id,
            None,
            &raw(&rider, &id, &[]),
            &All,
        )
        .err()
        .unwrap();
        assert_eq!(r.code, RefusalCode::Forbidden, "{}", r.reason);
        // A grid member may (hazards are raised by its walkthroughs).
        c.deadline = Some(gm.now() + 86_400_000);
        let id = gm.create_case(c).unwrap();
        check_push(
            &gm_m,
            &gm.actor_id().unwrap(),
            &id,
            None,
            &raw(&gm, &id, &[]),
            &All,
        )
        .unwrap();
    }

    #[test]
    fn a_walkthrough_with_a_made_up_checklist_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (.., gm_m) = people();
        let gm = phone(dir.path(), &gm_m);
        let mut t = Template::builtin().remove(0);
        t.id = "made-up".into();
        gm.install_template(&t.to_json()).unwrap();
        let id = gm
            .start_inspection("made-up", crate::Site::new("铺子", "g"), None)
            .unwrap();
        let r = check_push(
            &gm_m,
            &gm.actor_id().unwrap(),
            &id,
            None,
            &raw(&gm, &id, &[]),
            &All,
        )
        .err()
        .unwrap();
        assert_eq!(r.code, RefusalCode::Invalid);
        let real = Template::builtin().remove(0).id;
        let id = gm
            .start_inspection(&real, crate::Site::new("铺子", "g"), None)
            .unwrap();
        check_push(
            &gm_m,
            &gm.actor_id().unwrap(),
            &id,
            None,
            &raw(&gm, &id, &[]),
            &All,
        )
        .unwrap();
    }
}
