//! How a case is laid out in its Automerge document.
//!
//! Root, written once at creation and never changed after: `kind`="case", `schema`, `id`,
//! `category`, `urgency`, `title`, `description`, `location` (a map), `grid_id`,
//! `reporter_id`, `created_at`, `deadline`, `source` (map), `attachments` (photo hashes).
//! Everything after the creation is a map appended to `events` (the timeline): edits carry
//! the new field values, a move the new grid, a photo its hash. What a case *is* now comes
//! from folding the timeline (`fold.rs`), so an edit or move its author was not allowed to
//! make at its place changes nothing.
//!
//! An event map: `id`, `kind`, `author`, `role`, `at` (device time, ms), `after` (list of
//! the event ids its author had seen last), `grid` / `unit` (the author's scope claims), and
//! the kind's payload.

use automerge::{AutoCommit, ObjId, ObjType, ROOT, transaction::Transactable};

use super::fold::{Acting, CaseState};
use super::{
    Case, CaseEdit, Category, Datum, Event, EventKind, FollowUp, HazardSource, Location, NewCase,
    Status, Urgency, fold,
};
use crate::doc::{Reader, SCHEMA, am_err, put_opt};
use crate::error::Result;
use crate::member::{Member, Role};

/// What the creation set: the root of a case document.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseRoot {
    pub category: Category,
    pub urgency: Urgency,
    pub title: String,
    pub description: String,
    pub location: Option<Location>,
    pub grid_id: String,
    pub reporter_id: String,
    pub created_at: i64,
    pub deadline: Option<i64>,
    pub source: Option<HazardSource>,
    pub attachments: Vec<String>,
}

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
        put_location(doc, &ROOT, l)?;
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
    let state = CaseState {
        status: Status::New,
        grid_id: &c.grid_id,
        reporter_id: &reporter.id,
        assigned_unit: None,
    };
    let created = event_by(
        reporter,
        &state,
        event_id,
        now,
        EventKind::Created,
        Vec::new(),
    );
    append_event(doc, &created)
}

/// Records `kind` by `member` on the case document `doc` (case `id`) at `at`, if the rules
/// allow it on the merged state ([`super::permit`]); returns the event. The one way an
/// action is written: a phone's store for its member, the server's console for a
/// signed-in member. The payload is validated here too; `Created` and unknown events are
/// never recorded this way.
pub fn record(
    doc: &mut AutoCommit,
    id: &str,
    member: &Member,
    kind: EventKind,
    event_id: &str,
    at: i64,
) -> Result<Event> {
    if matches!(kind, EventKind::Created | EventKind::Unknown { .. }) {
        return Err(crate::error::ValidationError::Unknown {
            what: "action",
            value: kind.name().to_string(),
        }
        .into());
    }
    kind.validate(at)?;
    let case = read_case(doc, id)?;
    let state = case.state();
    super::permit(&Acting::of_member(member, &state), &state, &kind)?;
    let event = event_by(member, &state, event_id, at, kind, case.heads());
    append_event(doc, &event)?;
    Ok(event)
}

/// An event `m` records on a case in `state`, carrying the scope claims the rules check.
pub(crate) fn event_by(
    m: &Member,
    state: &CaseState<'_>,
    id: &str,
    at: i64,
    kind: EventKind,
    after: Vec<String>,
) -> Event {
    let who = Acting::of_member(m, state);
    Event {
        id: id.to_string(),
        author: m.id.clone(),
        role: m.role,
        at,
        kind,
        after,
        grid: who.grid.map(str::to_string),
        unit: who.unit.map(str::to_string),
    }
}

fn put_location(doc: &mut AutoCommit, obj: &ObjId, l: &Location) -> Result<()> {
    let m = doc
        .put_object(obj, "location", ObjType::Map)
        .map_err(am_err)?;
    doc.put(&m, "lat", l.lat).map_err(am_err)?;
    doc.put(&m, "lon", l.lon).map_err(am_err)?;
    put_opt(doc, &m, "accuracy_m", l.accuracy_m)?;
    doc.put(&m, "datum", l.datum.as_str()).map_err(am_err)?;
    put_opt(doc, &m, "address", l.address.as_deref())
}

/// Appends one event at the end of the timeline.
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
    let after = doc.put_object(&m, "after", ObjType::List).map_err(am_err)?;
    for (i, id) in e.after.iter().enumerate() {
        doc.insert(&after, i, id.as_str()).map_err(am_err)?;
    }
    put_opt(doc, &m, "grid", e.grid.as_deref())?;
    put_opt(doc, &m, "unit", e.unit.as_deref())?;
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
        EventKind::PhotoAdded { hash } => doc.put(&m, "hash", hash.as_str()).map_err(am_err)?,
        EventKind::Edited(edit) => {
            put_opt(doc, &m, "category", edit.category.map(Category::as_str))?;
            put_opt(doc, &m, "urgency", edit.urgency.map(Urgency::as_str))?;
            put_opt(doc, &m, "title", edit.title.as_deref())?;
            put_opt(doc, &m, "description", edit.description.as_deref())?;
            if let Some(l) = &edit.location {
                put_location(doc, &m, l)?;
            }
        }
        EventKind::Moved { grid_id } => doc.put(&m, "grid_id", grid_id.as_str()).map_err(am_err)?,
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
        "edited" => EventKind::Edited(CaseEdit {
            category: r
                .opt_str(m, "category")?
                .map(|c| Category::parse(&c))
                .transpose()
                .map_err(|e| r.bad(e))?,
            urgency: r
                .opt_str(m, "urgency")?
                .map(|u| Urgency::parse(&u))
                .transpose()
                .map_err(|e| r.bad(e))?,
            title: r.opt_str(m, "title")?,
            description: r.opt_str(m, "description")?,
            location: read_location(r, m)?,
        }),
        "moved" => EventKind::Moved {
            grid_id: r.str(m, "grid_id")?,
        },
        _ => EventKind::Unknown {
            name: kind_name.clone(),
        },
    };
    let after = match r.opt_obj(m, "after", ObjType::List)? {
        Some(l) => Some(r.list_strs(&l)?),
        None => None,
    };
    Ok(Event {
        id: r.str(m, "id")?,
        author: r.str(m, "author")?,
        role: Role::parse(&r.str(m, "role")?).map_err(|e| r.bad(e))?,
        at: r.i64(m, "at")?,
        kind,
        // An event written before events recorded what they followed follows the one
        // before it in the list (filled in by the reader).
        after: after.unwrap_or_default(),
        grid: r.opt_str(m, "grid")?,
        unit: r.opt_str(m, "unit")?,
    })
}

fn read_location(r: &Reader<'_>, obj: &ObjId) -> Result<Option<Location>> {
    Ok(match r.opt_obj(obj, "location", ObjType::Map)? {
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
    })
}

/// Reads a case document's root and its events in list order, without folding.
pub(crate) fn read_case_parts(doc: &AutoCommit, id: &str) -> Result<(CaseRoot, Vec<Event>)> {
    let r = Reader::new(doc, id);
    let root = ROOT;
    if r.opt_str(&root, "kind")?.as_deref() != Some("case") {
        return Err(r.bad("not a case document"));
    }
    if r.str(&root, "id")? != id {
        return Err(r.bad("the id inside the document does not match"));
    }
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
    let case_root = CaseRoot {
        category: Category::parse(&r.str(&root, "category")?).map_err(|e| r.bad(e))?,
        urgency: Urgency::parse(&r.str(&root, "urgency")?).map_err(|e| r.bad(e))?,
        title: r.str(&root, "title")?,
        description: r.opt_str(&root, "description")?.unwrap_or_default(),
        location: read_location(&r, &root)?,
        grid_id: r.str(&root, "grid_id")?,
        reporter_id: r.str(&root, "reporter_id")?,
        created_at: r.i64(&root, "created_at")?,
        deadline: r.opt_i64(&root, "deadline")?,
        source,
        attachments,
    };
    let events_obj = r.obj(&root, "events", ObjType::List)?;
    let maps = r.list_maps(&events_obj, "timeline entry")?;
    let mut events: Vec<Event> = Vec::with_capacity(maps.len());
    for (i, m) in maps.iter().enumerate() {
        let mut e = read_event(&r, m)?;
        if e.after.is_empty() && i > 0 && !r.has(m, "after")? {
            e.after = vec![events[i - 1].id.clone()];
        }
        events.push(e);
    }
    Ok((case_root, events))
}

/// Reads a case document and folds its timeline.
pub(crate) fn read_case(doc: &AutoCommit, id: &str) -> Result<Case> {
    let (root, events) = read_case_parts(doc, id)?;
    Ok(Case::from_parts(id, root, events))
}

impl Case {
    /// The case a root and its events fold into.
    pub(crate) fn from_parts(id: &str, root: CaseRoot, mut events: Vec<Event>) -> Case {
        let d = fold(&root, &events);
        let reporter_id = root.reporter_id.clone();
        let created_at = root.created_at;
        let source = root.source.clone();
        let conflicts = d.conflicts.iter().filter(|c| c.is_some()).count();
        let mut slots: Vec<Option<Event>> = events.drain(..).map(Some).collect();
        let timeline = d
            .order
            .iter()
            .zip(d.conflicts)
            .filter_map(|(&i, conflict)| {
                slots[i]
                    .take()
                    .map(|event| super::TimelineEntry { event, conflict })
            })
            .collect();
        Case {
            id: id.to_string(),
            category: d.category,
            urgency: d.urgency,
            title: d.title,
            description: d.description,
            location: d.location,
            grid_id: d.grid_id,
            reporter_id,
            created_at,
            attachments: d.attachments,
            source,
            root,
            timeline,
            status: d.status,
            assigned_unit: d.assigned_unit,
            deadline: d.deadline,
            accepted_at: d.accepted_at,
            resolved_at: d.resolved_at,
            follow_up: d.follow_up,
            conflicts,
            acknowledged: d.accepted_at.is_some() || d.status != Status::New,
        }
    }

    /// The state the rules look at.
    pub fn state(&self) -> CaseState<'_> {
        CaseState {
            status: self.status,
            grid_id: &self.grid_id,
            reporter_id: &self.reporter_id,
            assigned_unit: self.assigned_unit.as_deref(),
        }
    }

    /// The events an author acting now has seen last (what a new event records as `after`).
    pub(crate) fn heads(&self) -> Vec<String> {
        super::fold::heads(self.timeline.iter().map(|t| &t.event))
    }
}
