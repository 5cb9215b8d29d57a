//! What people do with cases: flag, report, edit, and record timeline events.

use super::blobs::check_photos_held;
use super::projection::{CaseList, list_cases, search_cases};
use super::{DocKind, Store, Txn, new_id};
use crate::case::{
    Case, CaseEdit, CaseSummary, Category, EventKind, Location, NewCase, Urgency, check_len,
    new_case_doc, read_case, record,
};
use crate::error::{Error, Result, ValidationError};
use crate::inspection::InspectionSummary;
use crate::rules::{self, ActionOffer, HomeList};

/// What a home screen list holds.
#[derive(Debug, Clone, PartialEq)]
pub enum HomeRows {
    Cases(Vec<CaseSummary>),
    Walkthroughs(Vec<InspectionSummary>),
}

impl Store {
    /// Opens a case. Anyone but a responder may report; members only in their grids.
    pub fn create_case(&self, c: NewCase) -> Result<String> {
        c.validate()?;
        self.write(|t| create_in(t, &c))
    }

    /// Opens many cases in one transaction (a workstation importing hotline work orders,
    /// a device seeded for tests). All or nothing.
    pub fn create_cases(&self, cases: &[NewCase]) -> Result<Vec<String>> {
        for c in cases {
            c.validate()?;
        }
        self.write(|t| cases.iter().map(|c| create_in(t, c)).collect())
    }

    /// The courier's one-tap flag: a life-safety "person in distress" case, saved even
    /// without a location fix.
    pub fn flag_person_in_distress(
        &self,
        grid_id: &str,
        location: Option<Location>,
        note: Option<&str>,
        photo: Option<&str>,
    ) -> Result<String> {
        let note = note.map(str::trim).unwrap_or("");
        check_len("note", note, crate::case::MAX_TEXT)?;
        let title = match location.as_ref().and_then(|l| l.address.as_deref()) {
            Some(addr) => format!("有人需要帮助 Person in distress · {addr}"),
            None => "有人需要帮助 Person in distress".to_string(),
        };
        let mut c = NewCase::new(
            Category::PersonInDistress,
            Urgency::LifeSafety,
            &title,
            grid_id,
        );
        c.description = note.to_string();
        c.location = location;
        c.attachments = photo.map(|p| vec![p.to_string()]).unwrap_or_default();
        self.create_case(c)
    }

    /// Corrects fields of a case; recorded in the timeline as an edit.
    pub fn edit_case(&self, id: &str, edit: CaseEdit) -> Result<()> {
        edit.validate()?;
        if edit.is_empty() {
            return Ok(());
        }
        self.write(|t| {
            record_in(t, id, EventKind::Edited(edit))?;
            Ok(())
        })
    }

    /// Moves a case to another grid (administrators only). The case then belongs to that
    /// grid's members; an action someone took in the old grid without having seen the move
    /// stays on the timeline as a conflict.
    pub fn move_case(&self, id: &str, grid_id: &str) -> Result<String> {
        let kind = EventKind::Moved {
            grid_id: grid_id.to_string(),
        };
        kind.validate(self.now())?;
        self.write(|t| record_in(t, id, kind))
    }

    /// Records one timeline event (accept, dispatch, progress, resolve, follow-up, reopen,
    /// cancel, comment, photo) after checking the role, the scope and the current state.
    pub fn record(&self, id: &str, kind: EventKind) -> Result<String> {
        kind.validate(self.now())?;
        if matches!(
            kind,
            EventKind::Created
                | EventKind::Edited(_)
                | EventKind::Moved { .. }
                | EventKind::Unknown { .. }
        ) {
            return Err(ValidationError::Unknown {
                what: "action",
                value: kind.name().to_string(),
            }
            .into());
        }
        self.write(|t| record_in(t, id, kind))
    }

    pub fn case(&self, id: &str) -> Result<Case> {
        self.read(id, |kind, doc| match kind {
            Some(DocKind::Case) => read_case(doc, id),
            _ => Err(Error::NotFound {
                kind: "case",
                id: id.to_string(),
            }),
        })
        .map_err(|e| match e {
            Error::NotFound { id, .. } => Error::NotFound { kind: "case", id },
            other => other,
        })
    }

    /// Open cases, most urgent first, then oldest first.
    pub fn open_cases(&self, limit: i64, offset: i64) -> Result<Vec<CaseSummary>> {
        let now = self.now();
        self.with_conn(|c| list_cases(c, CaseList::Open, now, limit, offset))
    }

    /// Cases the signed-in member reported, newest first.
    pub fn my_reports(&self, limit: i64, offset: i64) -> Result<Vec<CaseSummary>> {
        let me = self.member()?.ok_or(Error::NoMember)?;
        let now = self.now();
        self.with_conn(|c| list_cases(c, CaseList::ReportedBy(&me.id), now, limit, offset))
    }

    /// Open cases past their deadline, most overdue first.
    pub fn overdue(&self, limit: i64) -> Result<Vec<CaseSummary>> {
        let now = self.now();
        self.with_conn(|c| list_cases(c, CaseList::Overdue { now }, now, limit, 0))
    }

    pub fn cases_in_grid(
        &self,
        grid: &str,
        category: Option<Category>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<CaseSummary>> {
        let now = self.now();
        self.with_conn(|c| list_cases(c, CaseList::Grid { grid, category }, now, limit, offset))
    }

    /// The responder's queue: open cases dispatched to the signed-in responder's unit, most
    /// urgent first, then oldest.
    pub fn unit_queue(&self, limit: i64, offset: i64) -> Result<Vec<CaseSummary>> {
        let me = self.member()?.ok_or(Error::NoMember)?;
        let Some(unit) = me.unit_id else {
            return Ok(Vec::new());
        };
        let now = self.now();
        self.with_conn(|c| list_cases(c, CaseList::Unit(&unit), now, limit, offset))
    }

    /// The actions on case `id` for the signed-in member, in button order, each offered or
    /// withheld with its reason (see [`crate::rules`]).
    pub fn case_actions(&self, id: &str) -> Result<Vec<ActionOffer>> {
        let me = self.member()?;
        let case = self.case(id)?;
        Ok(rules::case_actions(me.as_ref(), &case))
    }

    /// The rows of one of the home screen's lists ([`rules::home_lists`]).
    pub fn home_list(&self, list: HomeList, limit: i64, offset: i64) -> Result<HomeRows> {
        Ok(match list {
            HomeList::MyReports => HomeRows::Cases(self.my_reports(limit, offset)?),
            HomeList::OpenCases => HomeRows::Cases(self.open_cases(limit, offset)?),
            HomeList::Overdue => {
                let now = self.now();
                HomeRows::Cases(
                    self.with_conn(|c| {
                        list_cases(c, CaseList::Overdue { now }, now, limit, offset)
                    })?,
                )
            }
            HomeList::UnitQueue => HomeRows::Cases(self.unit_queue(limit, offset)?),
            HomeList::Walkthroughs => HomeRows::Walkthroughs(self.inspections(None, limit)?),
        })
    }

    /// Every case this device holds, oldest first.
    pub fn all_cases(&self, limit: i64, offset: i64) -> Result<Vec<CaseSummary>> {
        let now = self.now();
        self.with_conn(|c| list_cases(c, CaseList::All, now, limit, offset))
    }

    /// Searches title, description and address; works for Chinese text.
    pub fn search(&self, query: &str, limit: i64) -> Result<Vec<CaseSummary>> {
        let now = self.now();
        self.with_conn(|c| search_cases(c, query, now, limit))
    }
}

pub(super) fn create_in(t: &mut Txn<'_>, c: &NewCase) -> Result<String> {
    // A photo a document references must be on this device: its bytes travel from here.
    check_photos_held(t, c.attachments.iter().map(String::as_str))?;
    create_raised_in(t, c)
}

/// [`create_in`] for a hazard raised from a submitted walkthrough: its photos are the
/// merged answers' photos, which other inspectors' phones took and hold.
pub(super) fn create_raised_in(t: &mut Txn<'_>, c: &NewCase) -> Result<String> {
    let me = t.member()?;
    rules::may_flag(Some(&me), &c.grid_id)?;
    let id = new_id();
    let now = t.now();
    let doc = t.create(&id, DocKind::Case);
    new_case_doc(doc, &id, c, &me, &new_id(), now)?;
    t.commit_local(&id)?;
    Ok(id)
}

/// Appends an event to a case inside `t`, after checking the member may record it now.
pub(super) fn record_in(t: &mut Txn<'_>, id: &str, kind: EventKind) -> Result<String> {
    let me = t.member()?;
    let now = t.now();
    if let EventKind::PhotoAdded { hash } = &kind {
        check_photos_held(t, [hash.as_str()])?;
    }
    let not_found = || Error::NotFound {
        kind: "case",
        id: id.to_string(),
    };
    let doc = t.doc(id)?.ok_or_else(not_found)?;
    if crate::doc::kind_of(doc).as_deref() != Some("case") {
        return Err(not_found());
    }
    let event = record(doc, id, &me, kind, &new_id(), now)?;
    t.commit_local(id)?;
    Ok(event.id)
}
