//! Core's rules as data for the screens: which buttons a case shows and why the others are
//! withheld, whether a walkthrough can be submitted and what is missing, how each checklist
//! item is answered, which lists a home screen shows. The facades render these; they hold
//! no rule of their own.

use outpost_core as core;
use outpost_core::rules as r;

use crate::error::Result;
use crate::store::{Cases, Inspections, Store, window};
use crate::types::{AnswerKind, AnswerValue, CaseSummary, InspectionSummary, Role};

mirror_enum!(
    /// What can be done to a case, in the order a screen shows its buttons.
    Action = r::Action {
        Accept, Dispatch, Progress, Resolve, FollowUp, Reopen, Cancel, Comment, AddPhoto,
        Edit, Move,
    }
);
mirror_enum!(
    /// Why an action is withheld: nobody enrolled on this device, the case is outside the
    /// member's scope, the member's role may not, or the case's state does not allow it.
    Withheld = core::Withheld { NoMember, OutOfScope, Role, State }
);
mirror_enum!(
    /// A list a home screen shows.
    HomeList = r::HomeList { MyReports, OpenCases, Overdue, UnitQueue, Walkthroughs }
);

/// One button of a case screen: offered, or withheld with the sentence the refusal would
/// carry (to show greyed out with an explanation, or to leave out).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ActionOffer {
    pub action: Action,
    pub allowed: bool,
    pub withheld: Option<Withheld>,
    pub reason: Option<String>,
}

impl From<r::ActionOffer> for ActionOffer {
    fn from(o: r::ActionOffer) -> Self {
        ActionOffer {
            action: o.action.into(),
            allowed: o.allowed(),
            withheld: o.withheld.map(Into::into),
            reason: o.reason,
        }
    }
}

/// Why something is not allowed, as a refusal would say it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Withholding {
    pub withheld: Withheld,
    pub reason: String,
}

/// Whether a walkthrough can be submitted now and what is missing.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Readiness {
    pub can_submit: bool,
    pub can_answer: bool,
    pub withheld: Option<Withheld>,
    pub reason: Option<String>,
    /// Item ids still without an answer, in checklist order.
    pub missing: Vec<String>,
}

impl From<r::Readiness> for Readiness {
    fn from(x: r::Readiness) -> Self {
        Readiness {
            can_submit: x.can_submit,
            can_answer: x.can_answer,
            withheld: x.withheld.map(Into::into),
            reason: x.reason,
            missing: x.missing,
        }
    }
}

/// How one checklist item is answered.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ItemRule {
    pub item_id: String,
    pub kind: AnswerKind,
    /// Answers to pick from; empty for number, text and photo items.
    pub choices: Vec<AnswerValue>,
    /// Any answer but "not applicable" needs a photo.
    pub photo_required: bool,
    /// Which of `choices` raise a hazard case on submission.
    pub failing_choices: Vec<AnswerValue>,
}

impl From<r::ItemRule> for ItemRule {
    fn from(x: r::ItemRule) -> Self {
        ItemRule {
            item_id: x.item_id,
            kind: x.kind.into(),
            choices: x.choices.into_iter().map(Into::into).collect(),
            photo_required: x.photo_required,
            failing_choices: x.failing_choices.into_iter().map(Into::into).collect(),
        }
    }
}

/// The rows of a home list: cases, or walkthroughs for [`HomeList::Walkthroughs`].
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum HomeRows {
    Cases { rows: Vec<CaseSummary> },
    Walkthroughs { rows: Vec<InspectionSummary> },
}

/// The lists a member of `role` sees on the home screen, in order.
#[uniffi::export]
pub fn home_lists(role: Role) -> Vec<HomeList> {
    r::home_lists(role.into())
        .iter()
        .map(|&l| l.into())
        .collect()
}

#[uniffi::export]
impl Cases {
    /// Every action on case `id` for this device's member, in button order.
    pub fn actions(&self, id: String) -> Result<Vec<ActionOffer>> {
        Ok(self
            .store()
            .case_actions(&id)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The responder's queue: open cases dispatched to its unit, most urgent first.
    pub fn unit_queue(&self, limit: i32, offset: i32) -> Result<Vec<CaseSummary>> {
        let (limit, offset) = window(limit, offset)?;
        let rows = self.store().unit_queue(limit, offset)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The rows of one home list.
    pub fn home_list(&self, list: HomeList, limit: i32, offset: i32) -> Result<HomeRows> {
        let (limit, offset) = window(limit, offset)?;
        Ok(match self.store().home_list(list.into(), limit, offset)? {
            core::store::HomeRows::Cases(rows) => HomeRows::Cases {
                rows: rows.into_iter().map(Into::into).collect(),
            },
            core::store::HomeRows::Walkthroughs(rows) => HomeRows::Walkthroughs {
                rows: rows.into_iter().map(Into::into).collect(),
            },
        })
    }
}

#[uniffi::export]
impl Inspections {
    /// Whether walkthrough `id` can be submitted by this device's member, and what is
    /// missing.
    pub fn readiness(&self, id: String) -> Result<Readiness> {
        Ok(self.store().inspection_readiness(&id)?.into())
    }

    /// How each item of walkthrough `id` is answered, in checklist order.
    pub fn item_rules(&self, id: String) -> Result<Vec<ItemRule>> {
        let insp = self.store().inspection(&id)?;
        Ok(insp
            .template
            .items()
            .map(|i| r::item_rule(i).into())
            .collect())
    }
}

fn withholding(d: core::Denial) -> Withholding {
    Withholding {
        withheld: d.withheld().into(),
        reason: d.to_string(),
    }
}

#[uniffi::export]
impl Store {
    /// Whether this device's member may start a walkthrough in `grid`: `None` when
    /// allowed, else why not.
    pub fn inspect_withheld(&self, grid: String) -> Result<Option<Withholding>> {
        let me = self.core().member()?;
        Ok(r::may_start(me.as_ref(), &grid).err().map(withholding))
    }

    /// Whether this device's member may flag or report in `grid` (the home screen's flag
    /// button and the report form): `None` when allowed, else why not.
    pub fn report_withheld(&self, grid: String) -> Result<Option<Withholding>> {
        let me = self.core().member()?;
        Ok(r::may_flag(me.as_ref(), &grid).err().map(|d| Withholding {
            withheld: d.withheld().into(),
            reason: d.to_string(),
        }))
    }
}
