//! The one deterministic fold from a timeline to a status, and the role rules.
//!
//! The timeline is an Automerge list that is only ever appended to. Its order is the same on
//! every replica with the same changes, and an event appended after seeing another always
//! comes after it, so folding it front to back gives every replica the same answer.

use super::{Case, Event, EventKind, FollowUp, Status};
use crate::error::{Error, Result};
use crate::member::{Member, Role};

#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub status: Status,
    pub assigned_unit: Option<String>,
    pub deadline: Option<i64>,
    pub accepted_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub follow_up: Option<FollowUp>,
    /// One entry per event, in order: why that event did not apply, if it did not.
    pub conflicts: Vec<Option<String>>,
}

/// Which state an action may start from, and where it leads.
fn transition(status: Status, kind: &EventKind) -> std::result::Result<Status, String> {
    use Status::*;
    let to = match kind {
        EventKind::Created => return Err("the case was already created".into()),
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
        EventKind::Comment { .. } | EventKind::PhotoAdded { .. } | EventKind::Edited { .. } => {
            Some(status)
        }
        EventKind::Unknown { name } => {
            return Err(format!("'{name}' is not known to this version"));
        }
    };
    to.ok_or_else(|| format!("{} does not apply to a {} case", kind.name(), status))
}

/// Folds a timeline into the derived state. `initial_deadline` is the rectification deadline
/// set at creation, which a dispatch may replace.
pub fn fold(events: &[Event], initial_deadline: Option<i64>) -> Derived {
    let mut d = Derived {
        status: Status::New,
        assigned_unit: None,
        deadline: initial_deadline,
        accepted_at: None,
        resolved_at: None,
        follow_up: None,
        conflicts: Vec::with_capacity(events.len()),
    };
    for (i, e) in events.iter().enumerate() {
        if i == 0 {
            let c = (e.kind != EventKind::Created)
                .then(|| "the timeline does not start with its creation".to_string());
            d.conflicts.push(c);
            continue;
        }
        match transition(d.status, &e.kind) {
            Err(why) => d.conflicts.push(Some(why)),
            Ok(to) => {
                d.conflicts.push(None);
                d.status = to;
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
                    _ => {}
                }
            }
        }
    }
    d
}

/// Decides whether `member` may record `kind` on `case` now: role, scope and state.
pub(crate) fn permit(member: &Member, case: &Case, kind: &EventKind) -> Result<()> {
    let deny = |why: &str| {
        Err(Error::Forbidden(format!(
            "a {} {why}",
            member.role.as_str().replace('_', " ")
        )))
    };
    let own = case.reporter_id == member.id;
    let in_scope = match member.role {
        Role::Admin => true,
        Role::Courier => own,
        Role::GridMember | Role::GridLead => member.in_grid(&case.grid_id),
        Role::Responder => {
            case.assigned_unit.is_some()
                && case.assigned_unit == member.unit_id
                && case.status.is_open()
        }
    };
    if !in_scope {
        return deny("can only act on cases in their own scope");
    }
    let allowed = match (member.role, kind) {
        (Role::Admin, _) => true,
        (_, EventKind::Comment { .. } | EventKind::PhotoAdded { .. }) => true,
        (Role::Courier, EventKind::Cancelled { .. }) => case.status == Status::New,
        (Role::Courier, EventKind::Edited { .. }) => case.status == Status::New,
        (Role::Courier, _) => false,
        (Role::GridLead, _) => true,
        (
            Role::GridMember,
            EventKind::Progress { .. } | EventKind::Resolved { .. } | EventKind::Edited { .. },
        ) => true,
        (Role::GridMember, _) => false,
        (Role::Responder, EventKind::Progress { .. } | EventKind::Resolved { .. }) => true,
        (Role::Responder, _) => false,
    };
    if !allowed {
        return deny(&format!("cannot {} a case", verb(kind)));
    }
    if let Err(_why) = transition(case.status, kind) {
        return Err(Error::Transition {
            action: format!("{} a case", verb(kind)),
            status: case.status.to_string(),
        });
    }
    Ok(())
}

fn verb(kind: &EventKind) -> &'static str {
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
        EventKind::Edited { .. } => "edit",
        EventKind::Unknown { .. } => "record an unknown event on",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind) -> Event {
        Event {
            id: String::new(),
            author: "a".into(),
            role: Role::GridLead,
            at: 10,
            kind,
        }
    }

    #[test]
    fn happy_path_closes_after_follow_up() {
        let d = fold(
            &[
                ev(EventKind::Created),
                ev(EventKind::Accepted),
                ev(EventKind::Dispatched {
                    unit_id: "u".into(),
                    deadline: 99,
                }),
                ev(EventKind::Resolved {
                    note: String::new(),
                }),
                ev(EventKind::FollowUp(FollowUp {
                    visited_at: 20,
                    satisfaction: 5,
                    note: String::new(),
                })),
            ],
            None,
        );
        assert_eq!(d.status, Status::Closed);
        assert_eq!(d.assigned_unit.as_deref(), Some("u"));
        assert!(d.conflicts.iter().all(Option::is_none));
    }

    #[test]
    fn an_event_that_no_longer_fits_is_kept_and_flagged() {
        let d = fold(
            &[
                ev(EventKind::Created),
                ev(EventKind::Resolved {
                    note: String::new(),
                }),
                ev(EventKind::Dispatched {
                    unit_id: "u".into(),
                    deadline: 99,
                }),
            ],
            None,
        );
        assert_eq!(d.status, Status::Resolved);
        assert_eq!(d.conflicts.len(), 3);
        assert!(d.conflicts[2].is_some());
        assert_eq!(d.assigned_unit, None);
    }
}
