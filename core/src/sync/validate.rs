//! What the server checks before it stores changes a device pushed.
//!
//! A CRDT merges anything, so the server must not: every new change has to come from the
//! pushing device's own actor, and must be something the device's member was allowed to do
//! on the document *as that device saw it* — the state at the change's dependencies, which is
//! exactly what core's own checks ran against on the phone. Judging against the author's
//! view (not the merged state) keeps an honest offline edit that later lands next to a
//! concurrent one from being refused: the fold marks such an event as a conflict instead.
//! After all changes the merged document must still read as its schema says.

use std::collections::HashSet;

use automerge::{AutoCommit, Change, ChangeHash, ROOT};

use super::wire::RefusalCode;
use crate::case::{Case, CaseEdit, EventKind, check_required, permit, read_case};
use crate::doc::{Reader, kind_of};
use crate::error::Error;
use crate::inspection::{Inspection, InspectionStatus, check_answer, read_inspection};
use crate::member::{Member, Role};

/// Longest document id the server accepts (core makes 36-character UUIDs).
pub const MAX_DOC_ID: usize = 64;

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
        Some("case") => Ok(DocView::Case(Box::new(read_case(doc, id)?))),
        Some("inspection") => Ok(DocView::Inspection(Box::new(read_inspection(doc, id)?))),
        _ => Err(crate::error::bad_doc(
            id,
            "neither a case nor an inspection",
        )),
    }
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
    if !valid_doc_id(id) {
        return Err(refuse(
            RefusalCode::Malformed,
            format!("'{}' is not a valid document id", truncate(id)),
        ));
    }
    let mut work = existing.unwrap_or_default();
    let existed = kind_of(&work).is_some();
    let mut pending = Vec::new();
    let mut seen = HashSet::new();
    for (i, raw) in changes.iter().enumerate() {
        let c = Change::try_from(raw.as_slice()).map_err(|e| {
            refuse(
                RefusalCode::Malformed,
                format!("change {i} is not an Automerge change: {e}"),
            )
        })?;
        let hash = c.hash();
        if work.get_change_by_hash(&hash).is_some() || !seen.insert(hash) {
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
    // Causal order: a change goes in once the document holds all it depends on.
    while !pending.is_empty() {
        let Some(pos) = pending.iter().position(|c| {
            c.deps()
                .iter()
                .all(|d| work.get_change_by_hash(d).is_some())
        }) else {
            return Err(refuse(
                RefusalCode::Malformed,
                "changes depend on others that neither the server nor this push has",
            ));
        };
        let c = pending.remove(pos);
        check_one(member, id, &mut work, existed, &c, known)?;
        fresh.push((c.hash(), c.raw_bytes().to_vec()));
        work.apply_changes([c]).map_err(|e| {
            refuse(
                RefusalCode::Malformed,
                format!("change does not apply: {e}"),
            )
        })?;
    }
    let view = read_view(&work, id).map_err(|e| {
        refuse(
            RefusalCode::Invalid,
            format!("the merged document does not read: {e}"),
        )
    })?;
    Ok(Accepted {
        doc: work,
        fresh,
        view,
    })
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
        work.fork_at(c.deps())
            .map_err(|e| refuse(RefusalCode::Malformed, format!("unknown base: {e}")))?
    };
    let before = match kind_of(&base) {
        None => None,
        Some(_) => Some(read_view(&base, id).map_err(|e| {
            refuse(
                RefusalCode::Invalid,
                format!("the document this change builds on does not read: {e}"),
            )
        })?),
    };
    let root_deadline = |doc: &AutoCommit| Reader::new(doc, id).opt_i64(&ROOT, "deadline").ok();
    let deadline_before = root_deadline(&base);
    base.apply_changes([c.clone()]).map_err(|e| {
        refuse(
            RefusalCode::Malformed,
            format!("change does not apply: {e}"),
        )
    })?;
    let after = read_view(&base, id).map_err(|e| {
        refuse(
            RefusalCode::Invalid,
            format!("after this change the document does not read: {e}"),
        )
    })?;
    match (before, after) {
        (None, DocView::Case(a)) => check_new_case(member, &a, known),
        (Some(DocView::Case(b)), DocView::Case(a)) => {
            if deadline_before != root_deadline(&base) {
                return Err(forbidden("the rectification deadline set at creation"));
            }
            check_case_change(member, &b, &a, known)
        }
        (None, DocView::Inspection(a)) => check_new_inspection(member, &a, known),
        (Some(DocView::Inspection(b)), DocView::Inspection(a)) => {
            check_inspection_change(member, &b, &a)
        }
        _ => Err(refuse(
            RefusalCode::Invalid,
            "the change turns the document into another kind",
        )),
    }
}

fn forbidden(what: &str) -> Refusal {
    refuse(RefusalCode::Forbidden, format!("{what} cannot be changed"))
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

fn denied(e: Error) -> Refusal {
    refuse(RefusalCode::Forbidden, e.to_string())
}

fn check_new_case(member: &Member, c: &Case, known: &dyn Known) -> Result<(), Refusal> {
    match member.role {
        Role::Responder => {
            return Err(denied(Error::Forbidden(
                "a responder cannot open cases".into(),
            )));
        }
        Role::GridMember | Role::GridLead if !member.in_grid(&c.grid_id) => {
            return Err(denied(Error::Forbidden(format!(
                "grid {} is outside your grids",
                c.grid_id
            ))));
        }
        _ => {}
    }
    if !known.grid(&c.grid_id) {
        return Err(refuse(
            RefusalCode::Invalid,
            format!("grid {} does not exist", truncate(&c.grid_id)),
        ));
    }
    if c.reporter_id != member.id {
        return Err(refuse(
            RefusalCode::Forbidden,
            "a case can only be reported in your own name",
        ));
    }
    let [first] = c.timeline.as_slice() else {
        return Err(refuse(
            RefusalCode::Invalid,
            "a new case starts with its creation and nothing else",
        ));
    };
    if first.event.kind != EventKind::Created
        || first.event.author != member.id
        || first.event.role != member.role
    {
        return Err(refuse(
            RefusalCode::Forbidden,
            "the creation must be recorded by you, in your role",
        ));
    }
    let mut n = crate::case::NewCase::new(c.category, c.urgency, &c.title, &c.grid_id);
    n.description = c.description.clone();
    n.location = c.location.clone();
    n.attachments = c.attachments.clone();
    n.validate()
        .map_err(|e| refuse(RefusalCode::Invalid, e.to_string()))
}

fn check_case_change(
    member: &Member,
    b: &Case,
    a: &Case,
    known: &dyn Known,
) -> Result<(), Refusal> {
    if a.grid_id != b.grid_id {
        if member.role != Role::Admin {
            return Err(refuse(
                RefusalCode::Forbidden,
                "only an administrator can move a case to another grid",
            ));
        }
        if !known.grid(&a.grid_id) {
            return Err(refuse(
                RefusalCode::Invalid,
                format!("grid {} does not exist", truncate(&a.grid_id)),
            ));
        }
    }
    if a.reporter_id != b.reporter_id {
        return Err(forbidden("the reporter"));
    }
    if a.created_at != b.created_at {
        return Err(forbidden("the creation time"));
    }
    if a.source != b.source {
        return Err(forbidden("the inspection a hazard came from"));
    }
    let n = b.timeline.len();
    if a.timeline.len() < n
        || a.timeline[..n]
            .iter()
            .zip(&b.timeline)
            .any(|(x, y)| x.event != y.event)
    {
        return Err(refuse(
            RefusalCode::Forbidden,
            "the timeline can only be appended to",
        ));
    }
    let added: Vec<_> = a.timeline[n..].iter().map(|e| &e.event).collect();
    // A move to another grid (administrators only, checked above) is an edit too.
    let edited = a.category != b.category
        || a.urgency != b.urgency
        || a.title != b.title
        || a.description != b.description
        || a.location != b.location
        || a.grid_id != b.grid_id;
    let event = match added.as_slice() {
        [] => {
            return Err(refuse(
                RefusalCode::Forbidden,
                "every change to a case is recorded in its timeline",
            ));
        }
        [e] => *e,
        _ => {
            return Err(refuse(
                RefusalCode::Invalid,
                "one change records one timeline event",
            ));
        }
    };
    if event.author != member.id || event.role != member.role {
        return Err(refuse(
            RefusalCode::Forbidden,
            "an event can only be recorded in your own name and role",
        ));
    }
    // Rights before contents: a device learns nothing about documents it may not touch.
    if !matches!(event.kind, EventKind::Created | EventKind::Unknown { .. }) {
        permit(member, b, &event.kind).map_err(denied)?;
    }
    match &event.kind {
        EventKind::Created | EventKind::Unknown { .. } => {
            return Err(refuse(
                RefusalCode::Invalid,
                format!(
                    "'{}' cannot be recorded on an existing case",
                    event.kind.name()
                ),
            ));
        }
        EventKind::Edited { .. } if !edited => {
            return Err(refuse(RefusalCode::Invalid, "an edit that changes nothing"));
        }
        EventKind::Edited { .. } => {}
        _ if edited => {
            return Err(refuse(
                RefusalCode::Forbidden,
                "fields can only change with an edit event",
            ));
        }
        _ => {}
    }
    if let EventKind::Dispatched { unit_id, .. } = &event.kind
        && !known.unit(unit_id)
    {
        return Err(refuse(
            RefusalCode::Invalid,
            format!("unit {} does not exist", truncate(unit_id)),
        ));
    }
    // Device time at the event is "now" for the deadline check, as on the phone.
    event
        .kind
        .validate(event.at)
        .map_err(|e| refuse(RefusalCode::Invalid, e.to_string()))?;
    let mut photos = b.attachments.clone();
    if let EventKind::PhotoAdded { hash } = &event.kind {
        photos.push(hash.clone());
    }
    if a.attachments != photos {
        return Err(refuse(
            RefusalCode::Forbidden,
            "attachments only grow by the photo an event adds",
        ));
    }
    if edited {
        let e = CaseEdit {
            category: Some(a.category),
            urgency: Some(a.urgency),
            title: Some(a.title.clone()),
            description: Some(a.description.clone()),
            location: a.location.clone(),
        };
        e.validate()
            .map_err(|e| refuse(RefusalCode::Invalid, e.to_string()))?;
    }
    Ok(())
}

fn may_inspect(member: &Member, grid: &str) -> Result<(), Refusal> {
    if !matches!(member.role, Role::GridMember | Role::GridLead | Role::Admin) {
        return Err(denied(Error::Forbidden(format!(
            "a {} cannot fill in inspections",
            member.role.as_str()
        ))));
    }
    if !member.in_grid(grid) {
        return Err(denied(Error::Forbidden(format!(
            "grid {grid} is outside your grids"
        ))));
    }
    Ok(())
}

fn check_new_inspection(member: &Member, i: &Inspection, known: &dyn Known) -> Result<(), Refusal> {
    may_inspect(member, &i.site.grid_id)?;
    if !known.grid(&i.site.grid_id) {
        return Err(refuse(
            RefusalCode::Invalid,
            format!("grid {} does not exist", truncate(&i.site.grid_id)),
        ));
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
        return Err(refuse(
            RefusalCode::Invalid,
            "a new inspection starts without answers",
        ));
    }
    i.site
        .validate()
        .map_err(|e| refuse(RefusalCode::Invalid, e.to_string()))
}

fn check_inspection_change(member: &Member, b: &Inspection, a: &Inspection) -> Result<(), Refusal> {
    may_inspect(member, &b.site.grid_id)?;
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
                refuse(
                    RefusalCode::Invalid,
                    format!("item '{}' is not in this checklist", truncate(&ia.item_id)),
                )
            })?;
            check_answer(item, &ans.value, &ans.note, &ans.photos)
                .map_err(|e| refuse(RefusalCode::Invalid, e.to_string()))?;
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
        return Err(refuse(
            RefusalCode::Invalid,
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
            check_required("hazard case id", c, MAX_DOC_ID)
                .map_err(|e| refuse(RefusalCode::Invalid, e.to_string()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventKind, Store};

    struct All;
    impl Known for All {
        fn grid(&self, _: &str) -> bool {
            true
        }
        fn unit(&self, _: &str) -> bool {
            true
        }
    }

    fn phone(dir: &std::path::Path, m: Member) -> Store {
        let s = Store::open(dir.join(format!("{}.db", m.id))).unwrap();
        s.set_member(&m).unwrap();
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

    #[test]
    fn an_honest_offline_action_beside_a_concurrent_one_is_kept_not_refused() {
        let dir = tempfile::tempdir().unwrap();
        let courier_m = Member::new("rider", "R", Role::Courier, Vec::<String>::new());
        let lead_m = Member::new("lead", "L", Role::GridLead, ["g"]);
        let courier = phone(dir.path(), courier_m.clone());
        let lead = phone(dir.path(), lead_m.clone());
        let id = courier
            .flag_person_in_distress("g", None, None, None)
            .unwrap();
        let created = raw(&courier, &id, &[]);
        let server = check_push(
            &courier_m,
            &courier.actor_id().unwrap(),
            &id,
            None,
            &created,
            &All,
        )
        .unwrap();
        assert_eq!(server.fresh.len(), 1);
        // The lead accepts; the courier, offline, cancels the flag it still sees as new.
        lead.apply_remote(&[(id.clone(), created.clone())]).unwrap();
        let base = lead.heads(&id).unwrap();
        lead.record(&id, EventKind::Accepted).unwrap();
        let accepted = raw(&lead, &id, &base);
        let mut doc = server.doc;
        let after_lead = check_push(
            &lead_m,
            &lead.actor_id().unwrap(),
            &id,
            Some(doc.clone()),
            &accepted,
            &All,
        )
        .unwrap();
        doc = after_lead.doc;
        courier
            .record(
                &id,
                EventKind::Cancelled {
                    reason: "家属已到".into(),
                },
            )
            .unwrap();
        let cancel = raw(&courier, &id, &base);
        let merged = check_push(
            &courier_m,
            &courier.actor_id().unwrap(),
            &id,
            Some(doc.clone()),
            &cancel,
            &All,
        )
        .expect("judged against what the courier saw");
        let DocView::Case(c) = merged.view else {
            panic!("a case")
        };
        // Both stay on the timeline; the fold decides, the same way everywhere.
        assert_eq!(c.timeline.len(), 3);
        assert!(
            c.timeline.iter().any(|e| e.event.author == "rider"
                && matches!(e.event.kind, EventKind::Cancelled { .. }))
        );

        // The same cancel after the courier had seen the acceptance is refused.
        courier
            .apply_remote(&[(id.clone(), accepted.clone())])
            .unwrap();
        let mut forged = doc.fork();
        forged.set_actor(automerge::ActorId::from(
            hex::decode(courier.actor_id().unwrap()).unwrap(),
        ));
        let seen = read_case(&forged, &id).unwrap();
        assert_eq!(seen.status, crate::Status::Accepted);
        crate::case::append_event(
            &mut forged,
            &crate::Event {
                id: "e".into(),
                author: "rider".into(),
                role: Role::Courier,
                at: 1,
                kind: EventKind::Cancelled { reason: "x".into() },
            },
        )
        .unwrap();
        forged.commit();
        let change = forged.get_last_local_change().unwrap().raw_bytes().to_vec();
        let r = check_push(
            &courier_m,
            &courier.actor_id().unwrap(),
            &id,
            Some(doc),
            &[change],
            &All,
        )
        .err()
        .expect("refused");
        assert_eq!(r.code, RefusalCode::Forbidden);
    }

    #[test]
    fn a_repeated_push_stores_nothing_new() {
        let dir = tempfile::tempdir().unwrap();
        let m = Member::new("rider", "R", Role::Courier, Vec::<String>::new());
        let p = phone(dir.path(), m.clone());
        let id = p.flag_person_in_distress("g", None, None, None).unwrap();
        let c = raw(&p, &id, &[]);
        let actor = p.actor_id().unwrap();
        let first = check_push(&m, &actor, &id, None, &c, &All).unwrap();
        let again = check_push(&m, &actor, &id, Some(first.doc), &c, &All).unwrap();
        assert!(again.fresh.is_empty());
        assert!(!valid_doc_id("a/b") && !valid_doc_id("") && valid_doc_id(&id));
    }
}
