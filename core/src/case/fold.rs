//! The one deterministic fold from a timeline to a case's state, and the rule of who may do
//! what ([`permit`]) that the fold, the store, the server and the screens all ask.
//!
//! Every event records what its author had seen (`after`: the timeline's latest events then).
//! That makes the timeline a graph: an event follows everything it had seen, and events that
//! had not seen each other are concurrent. The fold walks the graph in one order every
//! replica computes alike: an event only after all it had seen, and among concurrent events
//! the one with more authority first ([`Role::precedence`]), then the earlier, then by id.
//! Each event is judged with [`permit`] against the state the events before it produced —
//! role, scope (the case's grid, its assigned unit, its reporter) and status — so the
//! derived state never reflects an action its author was not allowed to take at its place:
//! a courier's offline cancel that crossed the lead's acceptance, or a responder's resolve
//! that crossed a re-dispatch to another unit, is kept and shown as a conflict, and changes
//! nothing. A device cannot win by claiming to have seen less: that only makes its event
//! concurrent with more, and a lead's decision is folded before it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::{CaseEdit, CaseRoot, Category, Event, EventKind, FollowUp, Location, Status, Urgency};
use crate::error::Denial;
use crate::member::{Member, Role};

/// Everything the timeline decides about a case.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub status: Status,
    pub grid_id: String,
    pub category: Category,
    pub urgency: Urgency,
    pub title: String,
    pub description: String,
    pub location: Option<Location>,
    pub attachments: Vec<String>,
    pub assigned_unit: Option<String>,
    pub deadline: Option<i64>,
    pub accepted_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub follow_up: Option<FollowUp>,
    /// Indices into the events, in fold order (the order the timeline is shown in).
    pub order: Vec<usize>,
    /// One entry per event of `order`: why that event did not apply, if it did not.
    pub conflicts: Vec<Option<String>>,
}

/// The part of a case's state the rules look at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CaseState<'a> {
    pub status: Status,
    pub grid_id: &'a str,
    pub reporter_id: &'a str,
    pub assigned_unit: Option<&'a str>,
}

/// Who acts, as far as the rules need to know: taken from a member on the device that is
/// about to act, or from what an event recorded about its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acting<'a> {
    pub id: &'a str,
    pub role: Role,
    /// The grid through which a grid member or lead acts: the case's grid as they saw it.
    pub grid: Option<&'a str>,
    pub unit: Option<&'a str>,
}

impl<'a> Acting<'a> {
    /// What an event says of its author.
    pub fn of_event(e: &'a Event) -> Self {
        Acting {
            id: &e.author,
            role: e.role,
            grid: e.grid.as_deref(),
            unit: e.unit.as_deref(),
        }
    }

    /// A member about to act on a case in `state`. An event it records carries exactly
    /// these claims, and the server checks them against the directory.
    pub fn of_member(m: &'a Member, state: &CaseState<'a>) -> Self {
        let grid = match m.role {
            Role::GridMember | Role::GridLead if m.in_grid(state.grid_id) => Some(state.grid_id),
            _ => None,
        };
        let unit = match m.role {
            Role::Responder => m.unit_id.as_deref(),
            _ => None,
        };
        Acting {
            id: &m.id,
            role: m.role,
            grid,
            unit,
        }
    }
}

/// Which state an action may start from, and where it leads.
fn transition(status: Status, kind: &EventKind) -> Option<Status> {
    use Status::*;
    match kind {
        EventKind::Created | EventKind::Unknown { .. } => None,
        EventKind::Accepted => matches!(status, New | Reopened).then_some(Accepted),
        EventKind::Dispatched { .. } => {
            matches!(status, New | Accepted | Reopened | Dispatched | InProgress)
                .then_some(Dispatched)
        }
        EventKind::Progress { .. } => {
            matches!(status, Accepted | Reopened | Dispatched | InProgress).then_some(InProgress)
        }
        EventKind::Resolved { .. } => status.is_open().then_some(Resolved),
        EventKind::FollowUp(_) => (status == Resolved).then_some(Closed),
        EventKind::Reopened { .. } => (!status.is_open()).then_some(Reopened),
        EventKind::Cancelled { .. } => status.is_open().then_some(Cancelled),
        EventKind::Comment { .. }
        | EventKind::PhotoAdded { .. }
        | EventKind::Edited(_)
        | EventKind::Moved { .. } => Some(status),
    }
}

/// Decides whether `who` may record `kind` on a case in `state`: scope first (a device
/// learns nothing about a case it may not touch), then role, then state.
pub fn permit(who: &Acting<'_>, state: &CaseState<'_>, kind: &EventKind) -> Result<(), Denial> {
    let label = who.role.label();
    let in_scope = match who.role {
        Role::Admin => true,
        Role::Courier => who.id == state.reporter_id,
        Role::GridMember | Role::GridLead => who.grid == Some(state.grid_id),
        Role::Responder => {
            state.assigned_unit.is_some()
                && state.assigned_unit == who.unit
                && state.status.is_open()
        }
    };
    if !in_scope {
        return Err(Denial::OutOfScope(format!(
            "a {label} can only act on cases in their own scope"
        )));
    }
    let allowed = match (who.role, kind) {
        (_, EventKind::Created | EventKind::Unknown { .. }) => false,
        (Role::Admin, _) => true,
        (_, EventKind::Moved { .. }) => false,
        (_, EventKind::Comment { .. } | EventKind::PhotoAdded { .. }) => true,
        (Role::Courier, EventKind::Cancelled { .. } | EventKind::Edited(_)) => true,
        (Role::Courier, _) => false,
        (Role::GridLead, _) => true,
        (
            Role::GridMember,
            EventKind::Progress { .. } | EventKind::Resolved { .. } | EventKind::Edited(_),
        ) => true,
        (Role::GridMember, _) => false,
        (Role::Responder, EventKind::Progress { .. } | EventKind::Resolved { .. }) => true,
        (Role::Responder, _) => false,
    };
    if !allowed {
        return Err(Denial::Role(format!(
            "a {label} cannot {} a case",
            verb(kind)
        )));
    }
    // A reporter may take back or correct only a flag nobody has picked up yet.
    let reporter_only_while_new = who.role == Role::Courier
        && matches!(kind, EventKind::Cancelled { .. } | EventKind::Edited(_))
        && state.status != Status::New;
    if transition(state.status, kind).is_none() || reporter_only_while_new {
        return Err(Denial::State {
            action: format!("{} a case", verb(kind)),
            status: state.status.to_string(),
        });
    }
    Ok(())
}

pub(crate) fn verb(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::Created => "create",
        EventKind::Accepted => "accept",
        EventKind::Dispatched { .. } => "dispatch",
        EventKind::Progress { .. } => "report progress on",
        EventKind::Resolved { .. } => "resolve",
        EventKind::FollowUp(_) => "close after follow-up",
        EventKind::Reopened { .. } => "reopen",
        EventKind::Cancelled { .. } => "cancel",
        EventKind::Comment { .. } => "comment on",
        EventKind::PhotoAdded { .. } => "add a photo to",
        EventKind::Edited(_) => "edit",
        EventKind::Moved { .. } => "move",
        EventKind::Unknown { .. } => "record an unknown event on",
    }
}

/// The fold order: every event after all it had seen; among those ready, most authority
/// first, then device time, then id. References to events the document does not hold are
/// ignored; a cycle (impossible in a document the server accepted) is broken by the same
/// priority so a damaged document still reads.
pub(crate) fn order(events: &[Event]) -> Vec<usize> {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        index.entry(e.id.as_str()).or_insert(i);
    }
    let mut waiting = vec![0usize; events.len()];
    let mut followers: Vec<Vec<usize>> = vec![Vec::new(); events.len()];
    for (i, e) in events.iter().enumerate() {
        let mut seen: Vec<usize> = e
            .after
            .iter()
            .filter_map(|id| index.get(id.as_str()).copied())
            .filter(|&p| p != i)
            .collect();
        seen.sort_unstable();
        seen.dedup();
        waiting[i] = seen.len();
        for p in seen {
            followers[p].push(i);
        }
    }
    let key = |i: usize| {
        let e = &events[i];
        Reverse((e.role.precedence(), e.at, e.id.as_str(), i))
    };
    let mut ready: BinaryHeap<_> = (0..events.len())
        .filter(|&i| waiting[i] == 0)
        .map(key)
        .collect();
    let mut out = Vec::with_capacity(events.len());
    let mut placed = vec![false; events.len()];
    while out.len() < events.len() {
        let next = match ready.pop() {
            Some(Reverse((.., i))) => i,
            None => match (0..events.len()).filter(|&i| !placed[i]).min_by_key(|&i| {
                let e = &events[i];
                (e.role.precedence(), e.at, e.id.as_str(), i)
            }) {
                Some(i) => i,
                None => break,
            },
        };
        if placed[next] {
            continue;
        }
        placed[next] = true;
        out.push(next);
        for &f in &followers[next] {
            waiting[f] = waiting[f].saturating_sub(1);
            if waiting[f] == 0 && !placed[f] {
                ready.push(key(f));
            }
        }
    }
    out
}

/// The events an author acting now has seen last: those no other event had seen.
pub(crate) fn heads<'a>(events: impl IntoIterator<Item = &'a Event>) -> Vec<String> {
    let events: Vec<&Event> = events.into_iter().collect();
    let seen: std::collections::HashSet<&str> = events
        .iter()
        .flat_map(|e| e.after.iter().map(String::as_str))
        .collect();
    let mut h: Vec<String> = events
        .iter()
        .filter(|e| !seen.contains(e.id.as_str()))
        .map(|e| e.id.clone())
        .collect();
    h.sort();
    h.dedup();
    h
}

/// Folds a timeline into the case's state, starting from what the creation set.
pub fn fold(root: &CaseRoot, events: &[Event]) -> Derived {
    let order = order(events);
    let mut d = Derived {
        status: Status::New,
        grid_id: root.grid_id.clone(),
        category: root.category,
        urgency: root.urgency,
        title: root.title.clone(),
        description: root.description.clone(),
        location: root.location.clone(),
        attachments: root.attachments.clone(),
        assigned_unit: None,
        deadline: root.deadline,
        accepted_at: None,
        resolved_at: None,
        follow_up: None,
        conflicts: Vec::with_capacity(events.len()),
        order,
    };
    for pos in 0..d.order.len() {
        let e = &events[d.order[pos]];
        if pos == 0 {
            let c = (e.kind != EventKind::Created)
                .then(|| "the timeline does not start with its creation".to_string());
            d.conflicts.push(c);
            continue;
        }
        if e.kind == EventKind::Created {
            d.conflicts
                .push(Some("the case was already created".to_string()));
            continue;
        }
        if let EventKind::Unknown { name } = &e.kind {
            d.conflicts
                .push(Some(format!("'{name}' is not known to this version")));
            continue;
        }
        let state = CaseState {
            status: d.status,
            grid_id: &d.grid_id,
            reporter_id: &root.reporter_id,
            assigned_unit: d.assigned_unit.as_deref(),
        };
        if let Err(why) = permit(&Acting::of_event(e), &state, &e.kind) {
            d.conflicts.push(Some(why.to_string()));
            continue;
        }
        d.conflicts.push(None);
        if let Some(to) = transition(d.status, &e.kind) {
            d.status = to;
        }
        match &e.kind {
            EventKind::Accepted => {
                d.accepted_at.get_or_insert(e.at);
            }
            EventKind::Dispatched { unit_id, deadline } => {
                d.assigned_unit = Some(unit_id.clone());
                d.deadline = Some(*deadline);
                d.accepted_at.get_or_insert(e.at);
            }
            EventKind::Resolved { .. } => d.resolved_at = Some(e.at),
            EventKind::FollowUp(f) => d.follow_up = Some(f.clone()),
            EventKind::Reopened { .. } => {
                d.resolved_at = None;
                d.follow_up = None;
            }
            EventKind::PhotoAdded { hash } => d.attachments.push(hash.clone()),
            EventKind::Edited(edit) => apply_edit(&mut d, edit),
            EventKind::Moved { grid_id } => d.grid_id = grid_id.clone(),
            _ => {}
        }
    }
    d
}

fn apply_edit(d: &mut Derived, e: &CaseEdit) {
    if let Some(c) = e.category {
        d.category = c;
    }
    if let Some(u) = e.urgency {
        d.urgency = u;
    }
    if let Some(t) = &e.title {
        d.title = t.clone();
    }
    if let Some(x) = &e.description {
        d.description = x.clone();
    }
    if let Some(l) = &e.location {
        d.location = Some(l.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> CaseRoot {
        CaseRoot {
            category: Category::Waste,
            urgency: Urgency::Normal,
            title: "t".into(),
            description: String::new(),
            location: None,
            grid_id: "g".into(),
            reporter_id: "rider".into(),
            created_at: 0,
            deadline: None,
            source: None,
            attachments: Vec::new(),
        }
    }

    fn ev(id: &str, after: &[&str], role: Role, author: &str, kind: EventKind) -> Event {
        Event {
            id: id.into(),
            author: author.into(),
            role,
            at: 10,
            kind,
            after: after.iter().map(|s| s.to_string()).collect(),
            grid: matches!(role, Role::GridLead | Role::GridMember).then(|| "g".into()),
            unit: (role == Role::Responder).then(|| "u".into()),
        }
    }

    fn lead(id: &str, after: &[&str], kind: EventKind) -> Event {
        ev(id, after, Role::GridLead, "lead", kind)
    }

    fn created() -> Event {
        ev("c", &[], Role::Courier, "rider", EventKind::Created)
    }

    fn dispatch(unit: &str) -> EventKind {
        EventKind::Dispatched {
            unit_id: unit.into(),
            deadline: 99,
        }
    }

    fn resolved() -> EventKind {
        EventKind::Resolved {
            note: String::new(),
        }
    }

    #[test]
    fn happy_path_closes_after_follow_up() {
        let d = fold(
            &root(),
            &[
                created(),
                lead("a", &["c"], EventKind::Accepted),
                lead("d", &["a"], dispatch("u")),
                ev("r", &["d"], Role::Responder, "resp", resolved()),
                lead(
                    "f",
                    &["r"],
                    EventKind::FollowUp(FollowUp {
                        visited_at: 20,
                        satisfaction: 5,
                        note: String::new(),
                    }),
                ),
            ],
        );
        assert_eq!(d.status, Status::Closed);
        assert_eq!(d.assigned_unit.as_deref(), Some("u"));
        assert!(d.conflicts.iter().all(Option::is_none));
    }

    #[test]
    fn an_event_that_no_longer_fits_is_kept_and_flagged() {
        let d = fold(
            &root(),
            &[
                created(),
                lead("r", &["c"], resolved()),
                lead("d", &["r"], dispatch("u")),
            ],
        );
        assert_eq!(d.status, Status::Resolved);
        assert_eq!(d.conflicts.len(), 3);
        assert!(d.conflicts[2].is_some());
        assert_eq!(d.assigned_unit, None);
    }

    #[test]
    fn a_courier_cancel_that_crossed_an_acceptance_is_a_conflict_whatever_the_list_order() {
        let cancel = ev(
            "k",
            &["c"],
            Role::Courier,
            "rider",
            EventKind::Cancelled { reason: "x".into() },
        );
        let accept = lead("a", &["c"], EventKind::Accepted);
        let disp = lead("d", &["a"], dispatch("u"));
        for events in [
            vec![created(), cancel.clone(), accept.clone(), disp.clone()],
            vec![created(), accept.clone(), disp.clone(), cancel.clone()],
        ] {
            let d = fold(&root(), &events);
            assert_eq!(d.status, Status::Dispatched);
            let k = d.order.iter().position(|&i| events[i].id == "k").unwrap();
            assert!(d.conflicts[k].is_some());
        }
    }

    #[test]
    fn a_resolve_by_the_old_unit_that_crossed_a_redispatch_does_not_resolve() {
        // The lead had seen more (a comment) than the responder; the re-dispatch still
        // comes first because the two are concurrent.
        let events = [
            created(),
            lead("d1", &["c"], dispatch("u")),
            lead("m", &["d1"], EventKind::Comment { text: "x".into() }),
            lead("d2", &["m"], dispatch("u2")),
            ev("r", &["d1"], Role::Responder, "resp", resolved()),
        ];
        let d = fold(&root(), &events);
        assert_eq!(d.status, Status::Dispatched);
        assert_eq!(d.assigned_unit.as_deref(), Some("u2"));
        assert!(d.conflicts.last().unwrap().is_some());
    }

    #[test]
    fn a_grid_member_acting_after_a_move_is_out_of_scope() {
        let mut moved = ev(
            "mv",
            &["c"],
            Role::Admin,
            "admin",
            EventKind::Moved {
                grid_id: "g2".into(),
            },
        );
        moved.grid = None;
        let edit = ev(
            "e",
            &["c"],
            Role::GridMember,
            "gm",
            EventKind::Edited(CaseEdit {
                title: Some("new".into()),
                ..CaseEdit::default()
            }),
        );
        let d = fold(&root(), &[created(), edit, moved]);
        assert_eq!(d.grid_id, "g2");
        assert_eq!(d.title, "t");
        assert!(d.conflicts[2].is_some());
    }

    #[test]
    fn only_an_admin_moves_a_case() {
        let d = fold(
            &root(),
            &[
                created(),
                lead(
                    "mv",
                    &["c"],
                    EventKind::Moved {
                        grid_id: "g2".into(),
                    },
                ),
            ],
        );
        assert_eq!(d.grid_id, "g");
        assert!(d.conflicts[1].is_some());
    }

    #[test]
    fn heads_are_the_events_nobody_has_seen() {
        let events = [
            created(),
            lead("a", &["c"], EventKind::Accepted),
            ev(
                "k",
                &["c"],
                Role::Courier,
                "rider",
                EventKind::Comment { text: "x".into() },
            ),
        ];
        assert_eq!(heads(&events), vec!["a".to_string(), "k".to_string()]);
    }
}
