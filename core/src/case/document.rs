//! How a case is laid out in its Automerge document.
//!
//! Root: `kind`="case", `schema`, `id`, `category`, `urgency`, `title`, `description`,
//! `location` (a map replaced as a whole so latitude and longitude never mix between
//! writers), `grid_id`, `reporter_id`, `created_at`, `deadline`, `source`
//! (map), `attachments` (list of photo hashes), `events` (the timeline list).

use automerge::{AutoCommit, ObjId, ObjType, ROOT, transaction::Transactable};

use super::{
    Case, CaseEdit, Category, Datum, Event, EventKind, FollowUp, HazardSource, Location, NewCase,
    Urgency, fold,
};
use crate::doc::{Reader, SCHEMA, am_err, put_opt};
use crate::error::Result;
use crate::member::{Member, Role};

pub(crate) fn new_case_doc(
    doc: &mut AutoCommit,
    id: &str,
    c: &NewCase,
    reporter: &Member,
    event_id: &str,
    now: i64,
) -> Result<()> {
    doc.put(ROOT, "kind", "case").map_err(am_err)?;
    doc.put(ROOT, "schema", SCHEMA).map_err(am_err)?;
    doc.put(ROOT, "id", id).map_err(am_err)?;
    doc.put(ROOT, "category", c.category.as_str())
        .map_err(am_err)?;
    doc.put(ROOT, "urgency", c.urgency.as_str())
        .map_err(am_err)?;
    doc.put(ROOT, "title", c.title.as_str()).map_err(am_err)?;
    doc.put(ROOT, "description", c.description.as_str())
        .map_err(am_err)?;
    if let Some(l) = &c.location {
        put_location(doc, l)?;
    }
    doc.put(ROOT, "grid_id", c.grid_id.as_str())
        .map_err(am_err)?;
    doc.put(ROOT, "reporter_id", reporter.id.as_str())
        .map_err(am_err)?;
    doc.put(ROOT, "created_at", now).map_err(am_err)?;
    put_opt(doc, &ROOT, "deadline", c.deadline)?;
    if let Some(s) = &c.source {
        let m = doc
            .put_object(ROOT, "source", ObjType::Map)
            .map_err(am_err)?;
        doc.put(&m, "inspection_id", s.inspection_id.as_str())
            .map_err(am_err)?;
        doc.put(&m, "item_id", s.item_id.as_str()).map_err(am_err)?;
    }
    let att = doc
        .put_object(ROOT, "attachments", ObjType::List)
        .map_err(am_err)?;
    for (i, h) in c.attachments.iter().enumerate() {
        doc.insert(&att, i, h.as_str()).map_err(am_err)?;
    }
    doc.put_object(ROOT, "events", ObjType::List)
        .map_err(am_err)?;
    let created = Event {
        id: event_id.to_string(),
        author: reporter.id.clone(),
        role: reporter.role,
        at: now,
        kind: EventKind::Created,
    };
    append_event(doc, &created)
}

fn put_location(doc: &mut AutoCommit, l: &Location) -> Result<()> {
    let m = doc
        .put_object(ROOT, "location", ObjType::Map)
        .map_err(am_err)?;
    doc.put(&m, "lat", l.lat).map_err(am_err)?;
    doc.put(&m, "lon", l.lon).map_err(am_err)?;
    put_opt(doc, &m, "accuracy_m", l.accuracy_m)?;
    doc.put(&m, "datum", l.datum.as_str()).map_err(am_err)?;
    put_opt(doc, &m, "address", l.address.as_deref())
}

pub(crate) fn apply_edit(doc: &mut AutoCommit, e: &CaseEdit) -> Result<()> {
    if let Some(c) = e.category {
        doc.put(ROOT, "category", c.as_str()).map_err(am_err)?;
    }
    if let Some(u) = e.urgency {
        doc.put(ROOT, "urgency", u.as_str()).map_err(am_err)?;
    }
    if let Some(t) = &e.title {
        doc.put(ROOT, "title", t.as_str()).map_err(am_err)?;
    }
    if let Some(d) = &e.description {
        doc.put(ROOT, "description", d.as_str()).map_err(am_err)?;
    }
    if let Some(l) = &e.location {
        put_location(doc, l)?;
    }
    Ok(())
}

/// Appends one event at the end of the timeline (and a photo to the attachments).
pub(crate) fn append_event(doc: &mut AutoCommit, e: &Event) -> Result<()> {
    let events = match automerge::ReadDoc::get(doc, ROOT, "events").map_err(am_err)? {
        Some((automerge::Value::Object(ObjType::List), id)) => id,
        _ => doc
            .put_object(ROOT, "events", ObjType::List)
            .map_err(am_err)?,
    };
    let n = automerge::ReadDoc::length(doc, &events);
    let m = doc
        .insert_object(&events, n, ObjType::Map)
        .map_err(am_err)?;
    doc.put(&m, "id", e.id.as_str()).map_err(am_err)?;
    doc.put(&m, "kind", e.kind.name()).map_err(am_err)?;
    doc.put(&m, "author", e.author.as_str()).map_err(am_err)?;
    doc.put(&m, "role", e.role.as_str()).map_err(am_err)?;
    doc.put(&m, "at", e.at).map_err(am_err)?;
    match &e.kind {
        EventKind::Dispatched { unit_id, deadline } => {
            doc.put(&m, "unit_id", unit_id.as_str()).map_err(am_err)?;
            doc.put(&m, "deadline", *deadline).map_err(am_err)?;
        }
        EventKind::Progress { note } | EventKind::Resolved { note } => {
            doc.put(&m, "note", note.as_str()).map_err(am_err)?
        }
        EventKind::FollowUp(f) => {
            doc.put(&m, "visited_at", f.visited_at).map_err(am_err)?;
            doc.put(&m, "satisfaction", f.satisfaction)
                .map_err(am_err)?;
            doc.put(&m, "note", f.note.as_str()).map_err(am_err)?;
        }
        EventKind::Reopened { reason } | EventKind::Cancelled { reason } => {
            doc.put(&m, "reason", reason.as_str()).map_err(am_err)?
        }
        EventKind::Comment { text } => doc.put(&m, "text", text.as_str()).map_err(am_err)?,
        EventKind::PhotoAdded { hash } => {
            doc.put(&m, "hash", hash.as_str()).map_err(am_err)?;
            let att = match automerge::ReadDoc::get(doc, ROOT, "attachments").map_err(am_err)? {
                Some((automerge::Value::Object(ObjType::List), id)) => id,
                _ => doc
                    .put_object(ROOT, "attachments", ObjType::List)
                    .map_err(am_err)?,
            };
            let n = automerge::ReadDoc::length(doc, &att);
            doc.insert(&att, n, hash.as_str()).map_err(am_err)?;
        }
        EventKind::Edited { fields } => doc.put(&m, "fields", fields.as_str()).map_err(am_err)?,
        EventKind::Created | EventKind::Accepted | EventKind::Unknown { .. } => {}
    }
    Ok(())
}

fn read_event(r: &Reader<'_>, m: &ObjId) -> Result<Event> {
    let kind_name = r.str(m, "kind")?;
    let kind = match kind_name.as_str() {
        "created" => EventKind::Created,
        "accepted" => EventKind::Accepted,
        "dispatched" => EventKind::Dispatched {
            unit_id: r.str(m, "unit_id")?,
            deadline: r.i64(m, "deadline")?,
        },
        "progress" => EventKind::Progress {
            note: r.opt_str(m, "note")?.unwrap_or_default(),
        },
        "resolved" => EventKind::Resolved {
            note: r.opt_str(m, "note")?.unwrap_or_default(),
        },
        "follow_up" => EventKind::FollowUp(FollowUp {
            visited_at: r.i64(m, "visited_at")?,
            satisfaction: r.i64(m, "satisfaction")?,
            note: r.opt_str(m, "note")?.unwrap_or_default(),
        }),
        "reopened" => EventKind::Reopened {
            reason: r.opt_str(m, "reason")?.unwrap_or_default(),
        },
        "cancelled" => EventKind::Cancelled {
            reason: r.opt_str(m, "reason")?.unwrap_or_default(),
        },
        "comment" => EventKind::Comment {
            text: r.opt_str(m, "text")?.unwrap_or_default(),
        },
        "photo_added" => EventKind::PhotoAdded {
            hash: r.str(m, "hash")?,
        },
        "edited" => EventKind::Edited {
            fields: r.opt_str(m, "fields")?.unwrap_or_default(),
        },
        _ => EventKind::Unknown {
            name: kind_name.clone(),
        },
    };
    Ok(Event {
        id: r.str(m, "id")?,
        author: r.str(m, "author")?,
        role: Role::parse(&r.str(m, "role")?).map_err(|e| r.bad(e))?,
        at: r.i64(m, "at")?,
        kind,
    })
}

/// Reads a case document and folds its timeline.
pub(crate) fn read_case(doc: &AutoCommit, id: &str) -> Result<Case> {
    let r = Reader::new(doc, id);
    let root = ROOT;
    if r.opt_str(&root, "kind")?.as_deref() != Some("case") {
        return Err(r.bad("not a case document"));
    }
    if r.str(&root, "id")? != id {
        return Err(r.bad("the id inside the document does not match"));
    }
    let location = match r.opt_obj(&root, "location", ObjType::Map)? {
        None => None,
        Some(m) => Some(Location {
            lat: r
                .opt_f64(&m, "lat")?
                .ok_or_else(|| r.bad("location without lat"))?,
            lon: r
                .opt_f64(&m, "lon")?
                .ok_or_else(|| r.bad("location without lon"))?,
            accuracy_m: r.opt_f64(&m, "accuracy_m")?,
            datum: Datum::parse(&r.str(&m, "datum")?).map_err(|e| r.bad(e))?,
            address: r.opt_str(&m, "address")?,
        }),
    };
    let source = match r.opt_obj(&root, "source", ObjType::Map)? {
        None => None,
        Some(m) => Some(HazardSource {
            inspection_id: r.str(&m, "inspection_id")?,
            item_id: r.str(&m, "item_id")?,
        }),
    };
    let attachments = match r.opt_obj(&root, "attachments", ObjType::List)? {
        Some(l) => r.list_strs(&l)?,
        None => Vec::new(),
    };
    let events_obj = r.obj(&root, "events", ObjType::List)?;
    let n = automerge::ReadDoc::length(doc, &events_obj);
    let mut events = Vec::with_capacity(n);
    for i in 0..n {
        match automerge::ReadDoc::get(doc, &events_obj, i).map_err(|e| r.bad(e))? {
            Some((automerge::Value::Object(ObjType::Map), m)) => events.push(read_event(&r, &m)?),
            _ => return Err(r.bad(format!("timeline entry {i} is not an event"))),
        }
    }
    let initial_deadline = r.opt_i64(&root, "deadline")?;
    let derived = fold(&events, initial_deadline);
    let conflicts = derived.conflicts.iter().filter(|c| c.is_some()).count();
    let timeline = events
        .into_iter()
        .zip(derived.conflicts)
        .map(|(event, conflict)| super::TimelineEntry { event, conflict })
        .collect();
    Ok(Case {
        id: id.to_string(),
        category: Category::parse(&r.str(&root, "category")?).map_err(|e| r.bad(e))?,
        urgency: Urgency::parse(&r.str(&root, "urgency")?).map_err(|e| r.bad(e))?,
        title: r.str(&root, "title")?,
        description: r.opt_str(&root, "description")?.unwrap_or_default(),
        location,
        grid_id: r.str(&root, "grid_id")?,
        reporter_id: r.str(&root, "reporter_id")?,
        created_at: r.i64(&root, "created_at")?,
        attachments,
        source,
        timeline,
        status: derived.status,
        assigned_unit: derived.assigned_unit,
        deadline: derived.deadline,
        accepted_at: derived.accepted_at,
        resolved_at: derived.resolved_at,
        follow_up: derived.follow_up,
        conflicts,
        acknowledged: derived.accepted_at.is_some() || derived.status != super::Status::New,
    })
}

/// Records `kind` on the case in `doc` for `member` the way a phone's store does
/// (`Store::record`): the event is validated, the member's right to it is judged on the
/// case's current state by the same rule ([`super::permit`]), and one event is appended. For a
/// server acting for a signed-in member (the workstation console); the caller sets the
/// document's actor and commits. Returns the case as it reads after the event.
pub fn record_for(
    doc: &mut AutoCommit,
    id: &str,
    member: &Member,
    kind: EventKind,
    event_id: &str,
    now: i64,
) -> Result<Case> {
    if matches!(
        kind,
        EventKind::Created | EventKind::Edited { .. } | EventKind::Unknown { .. }
    ) {
        return Err(crate::error::ValidationError::Unknown {
            what: "action",
            value: kind.name().to_string(),
        }
        .into());
    }
    kind.validate(now)?;
    let case = read_case(doc, id)?;
    super::permit(member, &case, &kind)?;
    let event = Event {
        id: event_id.to_string(),
        author: member.id.clone(),
        role: member.role,
        at: now,
        kind,
    };
    append_event(doc, &event)?;
    read_case(doc, id)
}

/// Whether `member` may record `kind` on `case` now, and why not (the rule a phone's store
/// applies before it records an event).
pub fn may_record(member: &Member, case: &Case, kind: &EventKind) -> Result<()> {
    super::permit(member, case, kind)
}
