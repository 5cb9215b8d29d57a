//! Rules as data: what a member may do, asked before they try.
//!
//! Screens draw their buttons, checklist inputs and home lists from these answers. They
//! come from the same [`permit`] the store applies when an action is recorded and the
//! server applies when it judges a push, so an action offered here succeeds and an action
//! withheld here is refused with the reason given here.
//!
//! ```
//! use outpost_core::rules::{Action, case_actions};
//! use outpost_core::{Category, Member, NewCase, Role, Store, Urgency};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path().join("outpost.db")).unwrap();
//! store.set_member(&Member::new("lead", "Lead", Role::GridLead, ["g1"])).unwrap();
//! let id = store
//!     .create_case(NewCase::new(Category::Waste, Urgency::Normal, "堆物", "g1"))
//!     .unwrap();
//! let offers = store.case_actions(&id).unwrap();
//! assert_eq!(offers[0].action, Action::Accept);
//! assert!(offers[0].allowed());
//! let resolve = offers.iter().find(|o| o.action == Action::Resolve).unwrap();
//! assert!(resolve.allowed());
//! let follow_up = offers.iter().find(|o| o.action == Action::FollowUp).unwrap();
//! assert!(follow_up.reason.as_deref().unwrap().contains("new"));
//! ```

use serde::{Deserialize, Serialize};

use crate::case::{Acting, Case, CaseEdit, EventKind, FollowUp, permit};
use crate::error::{Denial, Withheld};
use crate::inspection::{AnswerValue, Inspection, InspectionStatus};
use crate::member::{Member, Role};
use crate::template::{AnswerKind, ChecklistItem};

/// What can be done to a case, in the order a screen shows its buttons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Accept,
    Dispatch,
    Progress,
    Resolve,
    FollowUp,
    Reopen,
    Cancel,
    Comment,
    AddPhoto,
    Edit,
    Move,
}

impl Action {
    /// Every action, in button order.
    pub const ALL: [Action; 11] = [
        Action::Accept,
        Action::Dispatch,
        Action::Progress,
        Action::Resolve,
        Action::FollowUp,
        Action::Reopen,
        Action::Cancel,
        Action::Comment,
        Action::AddPhoto,
        Action::Edit,
        Action::Move,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Dispatch => "dispatch",
            Action::Progress => "progress",
            Action::Resolve => "resolve",
            Action::FollowUp => "follow_up",
            Action::Reopen => "reopen",
            Action::Cancel => "cancel",
            Action::Comment => "comment",
            Action::AddPhoto => "add_photo",
            Action::Edit => "edit",
            Action::Move => "move",
        }
    }

    /// The action an event records; `None` for those nobody chooses (created, unknown).
    pub fn of(kind: &EventKind) -> Option<Action> {
        Some(match kind {
            EventKind::Accepted => Action::Accept,
            EventKind::Dispatched { .. } => Action::Dispatch,
            EventKind::Progress { .. } => Action::Progress,
            EventKind::Resolved { .. } => Action::Resolve,
            EventKind::FollowUp(_) => Action::FollowUp,
            EventKind::Reopened { .. } => Action::Reopen,
            EventKind::Cancelled { .. } => Action::Cancel,
            EventKind::Comment { .. } => Action::Comment,
            EventKind::PhotoAdded { .. } => Action::AddPhoto,
            EventKind::Edited(_) => Action::Edit,
            EventKind::Moved { .. } => Action::Move,
            EventKind::Created | EventKind::Unknown { .. } => return None,
        })
    }

    /// An event of this action. [`permit`] judges who, where and when, never the payload,
    /// so any payload asks the same question.
    fn probe(self) -> EventKind {
        match self {
            Action::Accept => EventKind::Accepted,
            Action::Dispatch => EventKind::Dispatched {
                unit_id: String::new(),
                deadline: 0,
            },
            Action::Progress => EventKind::Progress {
                note: String::new(),
            },
            Action::Resolve => EventKind::Resolved {
                note: String::new(),
            },
            Action::FollowUp => EventKind::FollowUp(FollowUp {
                visited_at: 0,
                satisfaction: 0,
                note: String::new(),
            }),
            Action::Reopen => EventKind::Reopened {
                reason: String::new(),
            },
            Action::Cancel => EventKind::Cancelled {
                reason: String::new(),
            },
            Action::Comment => EventKind::Comment {
                text: String::new(),
            },
            Action::AddPhoto => EventKind::PhotoAdded {
                hash: String::new(),
            },
            Action::Edit => EventKind::Edited(CaseEdit::default()),
            Action::Move => EventKind::Moved {
                grid_id: String::new(),
            },
        }
    }
}

/// One action as a screen offers it: allowed, or withheld and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionOffer {
    pub action: Action,
    /// `None` when the action is offered.
    pub withheld: Option<Withheld>,
    /// The sentence the refusal would carry, for a withheld action.
    pub reason: Option<String>,
}

impl ActionOffer {
    pub fn allowed(&self) -> bool {
        self.withheld.is_none()
    }

    fn from(action: Action, verdict: Result<(), Denial>) -> Self {
        match verdict {
            Ok(()) => ActionOffer {
                action,
                withheld: None,
                reason: None,
            },
            Err(d) => ActionOffer {
                action,
                withheld: Some(d.withheld()),
                reason: Some(d.to_string()),
            },
        }
    }
}

/// Whether `member` may record an event of `kind` on `case` now: the rule the store
/// applies before recording and the server applies to what a device pushed.
pub fn may_record(member: Option<&Member>, case: &Case, kind: &EventKind) -> Result<(), Denial> {
    let m = member.ok_or(Denial::NoMember)?;
    let state = case.state();
    permit(&Acting::of_member(m, &state), &state, kind)
}

/// Every action on `case` for `member` (`None`: the device is not enrolled), in button
/// order.
pub fn case_actions(member: Option<&Member>, case: &Case) -> Vec<ActionOffer> {
    Action::ALL
        .iter()
        .map(|&a| ActionOffer::from(a, may_record(member, case, &a.probe())))
        .collect()
}

/// The actions of [`case_actions`] that are offered.
pub fn offered(member: Option<&Member>, case: &Case) -> Vec<Action> {
    case_actions(member, case)
        .into_iter()
        .filter(ActionOffer::allowed)
        .map(|o| o.action)
        .collect()
}

/// Whether `member` may answer `insp`'s items (start, answer and submit share it).
pub fn may_answer(member: Option<&Member>, insp: &Inspection) -> Result<(), Denial> {
    let m = member.ok_or(Denial::NoMember)?;
    m.may_inspect(&insp.site.grid_id)?;
    if insp.status == InspectionStatus::Submitted {
        return Err(Denial::State {
            action: "answer an inspection".into(),
            status: "submitted".into(),
        });
    }
    Ok(())
}

/// Whether `member` may submit `insp` now (before looking at its answers).
pub fn may_submit(member: Option<&Member>, insp: &Inspection) -> Result<(), Denial> {
    let m = member.ok_or(Denial::NoMember)?;
    m.may_inspect(&insp.site.grid_id)?;
    if insp.status == InspectionStatus::Submitted {
        return Err(Denial::State {
            action: "submit an inspection".into(),
            status: "already submitted".into(),
        });
    }
    Ok(())
}

/// What a walkthrough screen needs to know about submitting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// Submitting now would succeed.
    pub can_submit: bool,
    /// Answering items is allowed.
    pub can_answer: bool,
    /// Why submitting is not allowed at all, if it is not (regardless of answers).
    pub withheld: Option<Withheld>,
    pub reason: Option<String>,
    /// Items still without an answer, in checklist order.
    pub missing: Vec<String>,
}

pub fn inspection_readiness(member: Option<&Member>, insp: &Inspection) -> Readiness {
    let missing: Vec<String> = insp.unanswered().iter().map(|i| i.id.clone()).collect();
    let can_answer = may_answer(member, insp).is_ok();
    match may_submit(member, insp) {
        Ok(()) => Readiness {
            can_submit: missing.is_empty(),
            can_answer,
            withheld: None,
            reason: None,
            missing,
        },
        Err(d) => Readiness {
            can_submit: false,
            can_answer,
            withheld: Some(d.withheld()),
            reason: Some(d.to_string()),
            missing,
        },
    }
}

/// How a checklist item is answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRule {
    pub item_id: String,
    pub kind: AnswerKind,
    /// The answers to pick from; empty for number, text and photo items (typed or taken).
    pub choices: Vec<AnswerValue>,
    /// An answer other than "not applicable" needs at least one photo.
    pub photo_required: bool,
    /// Which of `choices` would raise a hazard case on submission.
    pub failing_choices: Vec<AnswerValue>,
}

pub fn item_rule(item: &ChecklistItem) -> ItemRule {
    use AnswerValue as V;
    let choices = match item.answer {
        AnswerKind::PassFail => vec![V::Pass, V::Fail, V::NotApplicable],
        AnswerKind::YesNo => vec![V::Yes, V::No, V::NotApplicable],
        AnswerKind::Number | AnswerKind::Text | AnswerKind::Photo => Vec::new(),
    };
    let failing_choices = choices
        .iter()
        .filter(|v| crate::inspection::is_failure(item, v))
        .cloned()
        .collect();
    ItemRule {
        item_id: item.id.clone(),
        kind: item.answer,
        choices,
        photo_required: item.photo_required || item.answer == AnswerKind::Photo,
        failing_choices,
    }
}

/// A list a home screen shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HomeList {
    /// Cases this member reported.
    MyReports,
    /// Open cases of the member's grids, most urgent first.
    OpenCases,
    /// Open cases past their deadline.
    Overdue,
    /// Open cases dispatched to the member's unit.
    UnitQueue,
    /// Walkthroughs of the member's grids.
    Walkthroughs,
}

/// The lists a member's home screen shows, in order. The flag button is for whoever may
/// report ([`may_flag`]).
pub fn home_lists(role: Role) -> &'static [HomeList] {
    use HomeList::*;
    match role {
        Role::Courier => &[MyReports],
        Role::GridMember => &[OpenCases, Walkthroughs, MyReports],
        Role::GridLead => &[OpenCases, Overdue, Walkthroughs, MyReports],
        Role::Responder => &[UnitQueue],
        Role::Admin => &[OpenCases, Overdue, Walkthroughs],
    }
}

/// Whether `member` may start a walkthrough in `grid`.
pub fn may_start(member: Option<&Member>, grid: &str) -> Result<(), Denial> {
    member.ok_or(Denial::NoMember)?.may_inspect(grid)
}

/// Whether `member` may open a case (the flag and the report form) in `grid`.
pub fn may_flag(member: Option<&Member>, grid: &str) -> Result<(), Denial> {
    member.ok_or(Denial::NoMember)?.may_report(grid)
}

#[cfg(test)]
mod tests;
