//! Records and enums for what the screens show and what forms send, mirrored from core.
//!
//! Core stays free of FFI attributes, so every type here has a plain `From` conversion to or
//! from its core counterpart and nothing else. Times are milliseconds since the Unix epoch
//! (device time), as in core. Counts are `i64` so Kotlin sees `Long`, not `ULong`.

use outpost_core as core;
use outpost_core::case::HazardSource as CoreHazardSource;

/// Mirrors a field-less core enum both ways.
macro_rules! mirror_enum {
    ($(#[$m:meta])* $name:ident = $core:path { $($var:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
        pub enum $name { $($var),* }

        impl From<$core> for $name {
            fn from(v: $core) -> Self {
                match v { $(<$core>::$var => $name::$var),* }
            }
        }

        impl From<$name> for $core {
            fn from(v: $name) -> Self {
                match v { $($name::$var => <$core>::$var),* }
            }
        }
    };
}

mirror_enum!(
    /// What a case is about.
    Category = core::Category {
        PersonInDistress, FireHazard, GasHazard, DrainageOil, Waste, IllegalConstruction,
        IllegalParking, Noise, Dispute, FacilityDamage, Other,
    }
);
mirror_enum!(
    /// How fast someone must come. Life-safety cases are listed and synced first.
    Urgency = core::Urgency { LifeSafety, Urgent, Normal, Low }
);
mirror_enum!(
    /// The coordinate system the device reported in.
    Datum = core::Datum { Wgs84, Gcj02, Bd09 }
);
mirror_enum!(
    /// Derived from the timeline on every replica the same way.
    Status = core::Status {
        New, Accepted, Dispatched, InProgress, Resolved, Closed, Reopened, Cancelled,
    }
);
mirror_enum!(
    /// What the member does in the grid; decides which actions core allows.
    Role = core::Role { Courier, GridMember, GridLead, Responder, Admin }
);
mirror_enum!(
    AnswerKind = core::AnswerKind {
        PassFail,
        YesNo,
        Number,
        Text,
        Photo
    }
);
mirror_enum!(
    Severity = core::Severity {
        Critical,
        Major,
        Minor
    }
);
mirror_enum!(
    InspectionStatus = core::InspectionStatus {
        InProgress,
        Submitted
    }
);

/// Who uses this device. Until enrollment supplies it, the app sets it locally.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The member's grids, already expanded to every grid below them.
    pub grids: Vec<String>,
    /// The responder unit a responder works for.
    #[uniffi(default)]
    pub unit_id: Option<String>,
}

impl From<core::Member> for Member {
    fn from(m: core::Member) -> Self {
        Member {
            id: m.id,
            name: m.name,
            role: m.role.into(),
            grids: m.grids,
            unit_id: m.unit_id,
        }
    }
}

impl From<Member> for core::Member {
    fn from(m: Member) -> Self {
        core::Member {
            id: m.id,
            name: m.name,
            role: m.role.into(),
            grids: m.grids,
            unit_id: m.unit_id,
        }
    }
}

/// A position as the phone reported it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
    #[uniffi(default)]
    pub accuracy_m: Option<f64>,
    pub datum: Datum,
    #[uniffi(default)]
    pub address: Option<String>,
}

impl From<core::Location> for Location {
    fn from(l: core::Location) -> Self {
        Location {
            lat: l.lat,
            lon: l.lon,
            accuracy_m: l.accuracy_m,
            datum: l.datum.into(),
            address: l.address,
        }
    }
}

impl From<Location> for core::Location {
    fn from(l: Location) -> Self {
        core::Location {
            lat: l.lat,
            lon: l.lon,
            accuracy_m: l.accuracy_m,
            datum: l.datum.into(),
            address: l.address,
        }
    }
}

/// What the "report a problem" form sends.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NewCase {
    pub category: Category,
    pub urgency: Urgency,
    pub title: String,
    pub grid_id: String,
    #[uniffi(default)]
    pub description: String,
    #[uniffi(default)]
    pub location: Option<Location>,
    /// Photo content hashes (SHA-256, lower-case hex).
    #[uniffi(default)]
    pub attachments: Vec<String>,
}

impl From<NewCase> for core::NewCase {
    fn from(c: NewCase) -> Self {
        let mut n = core::NewCase::new(c.category.into(), c.urgency.into(), &c.title, &c.grid_id);
        n.description = c.description;
        n.location = c.location.map(Into::into);
        n.attachments = c.attachments;
        n
    }
}

/// Corrections to a case; `null` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct CaseEdit {
    #[uniffi(default)]
    pub category: Option<Category>,
    #[uniffi(default)]
    pub urgency: Option<Urgency>,
    #[uniffi(default)]
    pub title: Option<String>,
    #[uniffi(default)]
    pub description: Option<String>,
    #[uniffi(default)]
    pub location: Option<Location>,
}

impl From<CaseEdit> for core::CaseEdit {
    fn from(e: CaseEdit) -> Self {
        core::CaseEdit {
            category: e.category.map(Into::into),
            urgency: e.urgency.map(Into::into),
            title: e.title,
            description: e.description,
            location: e.location.map(Into::into),
        }
    }
}

impl From<core::CaseEdit> for CaseEdit {
    fn from(e: core::CaseEdit) -> Self {
        CaseEdit {
            category: e.category.map(Into::into),
            urgency: e.urgency.map(Into::into),
            title: e.title,
            description: e.description,
            location: e.location.map(Into::into),
        }
    }
}

/// One thing that happened to a case. Also what `Cases.record` takes: every kind except
/// `Created`, `Edited`, `Moved` and `Unknown`, which have their own calls or only core writes.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum EventKind {
    Created,
    Accepted,
    Dispatched {
        unit_id: String,
        deadline: i64,
    },
    Progress {
        note: String,
    },
    Resolved {
        note: String,
    },
    FollowUp {
        visited_at: i64,
        satisfaction: i64,
        note: String,
    },
    Reopened {
        reason: String,
    },
    Cancelled {
        reason: String,
    },
    Comment {
        text: String,
    },
    PhotoAdded {
        hash: String,
    },
    /// Corrections to the case's text, category, urgency or place.
    Edited {
        edit: CaseEdit,
    },
    /// An administrator moved the case to another grid.
    Moved {
        grid_id: String,
    },
    /// Written by a newer version of the app; shown, never interpreted.
    Unknown {
        name: String,
    },
}

impl From<core::EventKind> for EventKind {
    fn from(k: core::EventKind) -> Self {
        use core::EventKind as K;
        match k {
            K::Created => EventKind::Created,
            K::Accepted => EventKind::Accepted,
            K::Dispatched { unit_id, deadline } => EventKind::Dispatched { unit_id, deadline },
            K::Progress { note } => EventKind::Progress { note },
            K::Resolved { note } => EventKind::Resolved { note },
            K::FollowUp(f) => EventKind::FollowUp {
                visited_at: f.visited_at,
                satisfaction: f.satisfaction,
                note: f.note,
            },
            K::Reopened { reason } => EventKind::Reopened { reason },
            K::Cancelled { reason } => EventKind::Cancelled { reason },
            K::Comment { text } => EventKind::Comment { text },
            K::PhotoAdded { hash } => EventKind::PhotoAdded { hash },
            K::Edited(e) => EventKind::Edited { edit: e.into() },
            K::Moved { grid_id } => EventKind::Moved { grid_id },
            K::Unknown { name } => EventKind::Unknown { name },
        }
    }
}

impl From<EventKind> for core::EventKind {
    fn from(k: EventKind) -> Self {
        use core::EventKind as K;
        match k {
            EventKind::Created => K::Created,
            EventKind::Accepted => K::Accepted,
            EventKind::Dispatched { unit_id, deadline } => K::Dispatched { unit_id, deadline },
            EventKind::Progress { note } => K::Progress { note },
            EventKind::Resolved { note } => K::Resolved { note },
            EventKind::FollowUp {
                visited_at,
                satisfaction,
                note,
            } => K::FollowUp(core::FollowUp {
                visited_at,
                satisfaction,
                note,
            }),
            EventKind::Reopened { reason } => K::Reopened { reason },
            EventKind::Cancelled { reason } => K::Cancelled { reason },
            EventKind::Comment { text } => K::Comment { text },
            EventKind::PhotoAdded { hash } => K::PhotoAdded { hash },
            EventKind::Edited { edit } => K::Edited(edit.into()),
            EventKind::Moved { grid_id } => K::Moved { grid_id },
            EventKind::Unknown { name } => K::Unknown { name },
        }
    }
}

/// A timeline row: who did what when, and why it no longer fits, if it does not.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TimelineEntry {
    pub id: String,
    pub author: String,
    pub role: Role,
    pub at: i64,
    pub kind: EventKind,
    /// Set when the event conflicted with the state it landed on (kept and shown, not applied).
    pub conflict: Option<String>,
}

impl From<core::TimelineEntry> for TimelineEntry {
    fn from(t: core::TimelineEntry) -> Self {
        TimelineEntry {
            id: t.event.id,
            author: t.event.author,
            role: t.event.role.into(),
            at: t.event.at,
            kind: t.event.kind.into(),
            conflict: t.conflict,
        }
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FollowUp {
    pub visited_at: i64,
    pub satisfaction: i64,
    pub note: String,
}

impl From<core::FollowUp> for FollowUp {
    fn from(f: core::FollowUp) -> Self {
        FollowUp {
            visited_at: f.visited_at,
            satisfaction: f.satisfaction,
            note: f.note,
        }
    }
}

/// The checklist item a hazard case was raised from.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HazardSource {
    pub inspection_id: String,
    pub item_id: String,
}

impl From<CoreHazardSource> for HazardSource {
    fn from(h: CoreHazardSource) -> Self {
        HazardSource {
            inspection_id: h.inspection_id,
            item_id: h.item_id,
        }
    }
}

/// The case detail screen.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Case {
    pub id: String,
    pub category: Category,
    pub urgency: Urgency,
    pub status: Status,
    pub title: String,
    pub description: String,
    pub location: Option<Location>,
    pub grid_id: String,
    pub reporter_id: String,
    pub created_at: i64,
    pub attachments: Vec<String>,
    pub source: Option<HazardSource>,
    pub timeline: Vec<TimelineEntry>,
    pub assigned_unit: Option<String>,
    pub deadline: Option<i64>,
    pub accepted_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub follow_up: Option<FollowUp>,
    /// Timeline events that conflicted with the state they landed on.
    pub conflicts: i64,
    /// Someone has taken the case on ("received, someone is coming").
    pub acknowledged: bool,
    /// Open and past its deadline, by this device's clock at the time of reading.
    pub overdue: bool,
}

impl Case {
    pub(crate) fn from_core(c: core::Case, now: i64) -> Self {
        let overdue = c.is_overdue(now);
        Case {
            id: c.id,
            category: c.category.into(),
            urgency: c.urgency.into(),
            status: c.status.into(),
            title: c.title,
            description: c.description,
            location: c.location.map(Into::into),
            grid_id: c.grid_id,
            reporter_id: c.reporter_id,
            created_at: c.created_at,
            attachments: c.attachments,
            source: c.source.map(Into::into),
            timeline: c.timeline.into_iter().map(Into::into).collect(),
            assigned_unit: c.assigned_unit,
            deadline: c.deadline,
            accepted_at: c.accepted_at,
            resolved_at: c.resolved_at,
            follow_up: c.follow_up.map(Into::into),
            conflicts: i64::try_from(c.conflicts).unwrap_or(i64::MAX),
            acknowledged: c.acknowledged,
            overdue,
        }
    }
}

/// One row of a case list.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CaseSummary {
    pub id: String,
    pub category: Category,
    pub urgency: Urgency,
    pub status: Status,
    pub title: String,
    pub address: Option<String>,
    pub grid_id: String,
    pub reporter_id: String,
    pub assigned_unit: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deadline: Option<i64>,
    pub conflicts: i64,
    /// Still to be worked on (not resolved, closed or cancelled).
    pub is_open: bool,
    /// Open and past its deadline, by this device's clock when the list was read.
    pub is_overdue: bool,
}

impl From<core::CaseSummary> for CaseSummary {
    fn from(s: core::CaseSummary) -> Self {
        CaseSummary {
            id: s.id,
            category: s.category.into(),
            urgency: s.urgency.into(),
            status: s.status.into(),
            title: s.title,
            address: s.address,
            grid_id: s.grid_id,
            reporter_id: s.reporter_id,
            assigned_unit: s.assigned_unit,
            created_at: s.created_at,
            updated_at: s.updated_at,
            deadline: s.deadline,
            conflicts: s.conflicts,
            is_open: s.is_open,
            is_overdue: s.is_overdue,
        }
    }
}

/// Days allowed for rectification, by severity.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RectificationDays {
    pub critical: i64,
    pub major: i64,
    pub minor: i64,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ChecklistItem {
    pub id: String,
    pub prompt: String,
    pub prompt_en: String,
    pub answer: AnswerKind,
    pub severity: Severity,
    pub guidance: Option<String>,
    pub photo_required: bool,
    /// For yes/no items: the answer that is a hazard.
    pub fails_when: Option<bool>,
    /// For number items: values below this fail.
    pub fail_below: Option<f64>,
    /// For number items: values above this fail.
    pub fail_above: Option<f64>,
    /// What kind of case a failure raises.
    pub hazard_category: Category,
}

impl From<core::ChecklistItem> for ChecklistItem {
    fn from(i: core::ChecklistItem) -> Self {
        ChecklistItem {
            id: i.id,
            prompt: i.prompt,
            prompt_en: i.prompt_en,
            answer: i.answer.into(),
            severity: i.severity.into(),
            guidance: i.guidance,
            photo_required: i.photo_required,
            fails_when: i.fails_when,
            fail_below: i.fail_below,
            fail_above: i.fail_above,
            hazard_category: i.hazard_category.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Section {
    pub id: String,
    pub title: String,
    pub title_en: String,
    pub items: Vec<ChecklistItem>,
}

/// A checklist template version.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Template {
    pub id: String,
    pub version: i64,
    pub title: String,
    pub title_en: String,
    pub rectification_days: RectificationDays,
    pub sections: Vec<Section>,
}

impl From<core::Template> for Template {
    fn from(t: core::Template) -> Self {
        let d = t.rectification_days;
        Template {
            id: t.id,
            version: t.version,
            title: t.title,
            title_en: t.title_en,
            rectification_days: RectificationDays {
                critical: d.critical,
                major: d.major,
                minor: d.minor,
            },
            sections: t
                .sections
                .into_iter()
                .map(|s| Section {
                    id: s.id,
                    title: s.title,
                    title_en: s.title_en,
                    items: s.items.into_iter().map(Into::into).collect(),
                })
                .collect(),
        }
    }
}

/// The place a walkthrough covers.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Site {
    pub name: String,
    pub grid_id: String,
    #[uniffi(default)]
    pub address: Option<String>,
    #[uniffi(default)]
    pub location: Option<Location>,
}

impl From<Site> for core::Site {
    fn from(s: Site) -> Self {
        core::Site {
            name: s.name,
            address: s.address,
            grid_id: s.grid_id,
            location: s.location.map(Into::into),
        }
    }
}

impl From<core::Site> for Site {
    fn from(s: core::Site) -> Self {
        Site {
            name: s.name,
            grid_id: s.grid_id,
            address: s.address,
            location: s.location.map(Into::into),
        }
    }
}

/// An answer to one checklist item; which ones fit depends on the item's `AnswerKind`.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum AnswerValue {
    Pass,
    Fail,
    NotApplicable,
    Yes,
    No,
    Number {
        value: f64,
    },
    Text {
        value: String,
    },
    /// The photos attached to the answer are the answer.
    Photo,
}

impl From<AnswerValue> for core::AnswerValue {
    fn from(v: AnswerValue) -> Self {
        use core::AnswerValue as V;
        match v {
            AnswerValue::Pass => V::Pass,
            AnswerValue::Fail => V::Fail,
            AnswerValue::NotApplicable => V::NotApplicable,
            AnswerValue::Yes => V::Yes,
            AnswerValue::No => V::No,
            AnswerValue::Number { value } => V::Number(value),
            AnswerValue::Text { value } => V::Text(value),
            AnswerValue::Photo => V::Photo,
        }
    }
}

impl From<core::AnswerValue> for AnswerValue {
    fn from(v: core::AnswerValue) -> Self {
        use core::AnswerValue as V;
        match v {
            V::Pass => AnswerValue::Pass,
            V::Fail => AnswerValue::Fail,
            V::NotApplicable => AnswerValue::NotApplicable,
            V::Yes => AnswerValue::Yes,
            V::No => AnswerValue::No,
            V::Number(value) => AnswerValue::Number { value },
            V::Text(value) => AnswerValue::Text { value },
            V::Photo => AnswerValue::Photo,
        }
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Answer {
    pub item_id: String,
    pub value: AnswerValue,
    pub note: String,
    pub photos: Vec<String>,
    pub by: String,
    pub at: i64,
}

impl From<core::Answer> for Answer {
    fn from(a: core::Answer) -> Self {
        Answer {
            item_id: a.item_id,
            value: a.value.into(),
            note: a.note,
            photos: a.photos,
            by: a.by,
            at: a.at,
        }
    }
}

/// The answers to one item: the winning one first, then any made concurrently elsewhere.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ItemAnswers {
    pub item_id: String,
    pub answers: Vec<Answer>,
}

/// The hazard case(s) raised from a failed item.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HazardLink {
    pub item_id: String,
    pub case_ids: Vec<String>,
}

/// A hazard case of the previous inspection that this one verified as rectified.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct VerifiedLink {
    pub item_id: String,
    pub case_id: String,
}

/// The checklist screen: the frozen template, every answer, and what is still missing.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Inspection {
    pub id: String,
    pub template: Template,
    pub site: Site,
    pub status: InspectionStatus,
    pub started_by: String,
    pub started_at: i64,
    pub previous_id: Option<String>,
    pub inspectors: Vec<String>,
    /// In template order; items without an answer are absent.
    pub answers: Vec<ItemAnswers>,
    /// Item ids still without an answer, in template order.
    pub unanswered: Vec<String>,
    /// Item ids whose winning answer is a hazard.
    pub failed: Vec<String>,
    /// Items answered concurrently by more than one person.
    pub conflicts: i64,
    pub submitted_by: Vec<String>,
    pub submitted_at: Option<i64>,
    pub hazards: Vec<HazardLink>,
    pub verified: Vec<VerifiedLink>,
}

impl From<core::Inspection> for Inspection {
    fn from(i: core::Inspection) -> Self {
        let unanswered = i.unanswered().iter().map(|it| it.id.clone()).collect();
        let failed = i
            .failed_items()
            .iter()
            .map(|(it, _)| it.id.clone())
            .collect();
        let conflicts = i64::try_from(i.conflicts()).unwrap_or(i64::MAX);
        Inspection {
            id: i.id,
            template: i.template.into(),
            site: i.site.into(),
            status: i.status.into(),
            started_by: i.started_by,
            started_at: i.started_at,
            previous_id: i.previous_id,
            inspectors: i.inspectors,
            answers: i
                .answers
                .into_iter()
                .map(|a| ItemAnswers {
                    item_id: a.item_id,
                    answers: a.answers.into_iter().map(Into::into).collect(),
                })
                .collect(),
            unanswered,
            failed,
            conflicts,
            submitted_by: i.submitted_by,
            submitted_at: i.submitted_at,
            hazards: i
                .hazards
                .into_iter()
                .map(|(item_id, case_ids)| HazardLink { item_id, case_ids })
                .collect(),
            verified: i
                .verified
                .into_iter()
                .map(|(item_id, case_id)| VerifiedLink { item_id, case_id })
                .collect(),
        }
    }
}

/// One row of the inspections list.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct InspectionSummary {
    pub id: String,
    pub title: String,
    pub site_name: String,
    pub grid_id: String,
    pub status: InspectionStatus,
    pub answered: i64,
    pub total: i64,
    pub failed: i64,
    pub conflicts: i64,
    pub started_at: i64,
    pub updated_at: i64,
}

impl From<core::InspectionSummary> for InspectionSummary {
    fn from(s: core::InspectionSummary) -> Self {
        InspectionSummary {
            id: s.id,
            title: s.title,
            site_name: s.site_name,
            grid_id: s.grid_id,
            status: s.status.into(),
            answered: s.answered,
            total: s.total,
            failed: s.failed,
            conflicts: s.conflicts,
            started_at: s.started_at,
            updated_at: s.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_core as core;

    #[test]
    fn events_and_answers_round_trip_through_their_mirrors() {
        use core::EventKind as K;
        let events = [
            K::Created,
            K::Accepted,
            K::Dispatched {
                unit_id: "juweihui".into(),
                deadline: 9,
            },
            K::Progress { note: "n".into() },
            K::Resolved { note: "r".into() },
            K::FollowUp(core::FollowUp {
                visited_at: 5,
                satisfaction: 4,
                note: "好".into(),
            }),
            K::Reopened { reason: "a".into() },
            K::Cancelled { reason: "b".into() },
            K::Comment { text: "c".into() },
            K::PhotoAdded { hash: "d".into() },
            K::Edited(core::CaseEdit {
                title: Some("t".into()),
                ..Default::default()
            }),
            K::Moved {
                grid_id: "g2".into(),
            },
            K::Unknown {
                name: "escalated".into(),
            },
        ];
        for e in events {
            assert_eq!(core::EventKind::from(EventKind::from(e.clone())), e);
        }
        use core::AnswerValue as V;
        for v in [
            V::Pass,
            V::Fail,
            V::NotApplicable,
            V::Yes,
            V::No,
            V::Number(2.5),
            V::Text("t".into()),
            V::Photo,
        ] {
            assert_eq!(core::AnswerValue::from(AnswerValue::from(v.clone())), v);
        }
        for c in core::Category::ALL {
            assert_eq!(core::Category::from(Category::from(*c)), *c);
        }
    }
}

// ---- sync -------------------------------------------------------------------------------

/// A count or size from core, where it is unsigned, as Kotlin's `Long`.
fn count(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

mirror_enum!(
    /// street → comprehensive grid → grid → micro-grid.
    GridLevel = core::sync::wire::GridLevel { Street, Comprehensive, Grid, Micro }
);

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Grid {
    pub id: String,
    pub name: String,
    pub level: GridLevel,
    pub parent: Option<String>,
}

/// A responder unit (residents' committee, city management, ...). Not `Unit`: Kotlin has
/// one.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ResponderUnit {
    pub id: String,
    pub name: String,
}

/// What the server's directory tells this device: who it is, the grid tree and the units.
/// The templates it carries are installed in the store (`Templates.list`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Directory {
    pub version: i64,
    pub member: Member,
    pub grids: Vec<Grid>,
    pub units: Vec<ResponderUnit>,
}

impl From<core::sync::wire::DirectoryView> for Directory {
    fn from(d: core::sync::wire::DirectoryView) -> Self {
        Directory {
            version: d.version,
            member: d.member.into(),
            grids: d
                .grids
                .into_iter()
                .map(|g| Grid {
                    id: g.id,
                    name: g.name,
                    level: g.level.into(),
                    parent: g.parent,
                })
                .collect(),
            units: d
                .units
                .into_iter()
                .map(|u| ResponderUnit {
                    id: u.id,
                    name: u.name,
                })
                .collect(),
        }
    }
}

/// What enrollment gave this device.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Enrollment {
    pub device_id: String,
    pub directory: Directory,
}

/// A document the server refused; it is not sent again until it changes.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RefusedDoc {
    pub id: String,
    /// `wrong_actor`, `forbidden`, `invalid` or `malformed`.
    pub code: String,
    pub reason: String,
    pub at: i64,
}

impl From<core::sync::RefusedDoc> for RefusedDoc {
    fn from(r: core::sync::RefusedDoc) -> Self {
        RefusedDoc {
            id: r.id,
            code: r.code,
            reason: r.reason,
            at: r.at,
        }
    }
}

/// Where this device stands with the server, for a status line. The token is not included.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncState {
    pub enrolled: bool,
    pub server_url: Option<String>,
    pub device_id: Option<String>,
    /// -1 before the first directory arrived.
    pub directory_version: i64,
    pub last_attempt_at: Option<i64>,
    pub last_success_at: Option<i64>,
    /// Why the last attempt failed; cleared by the next success.
    pub last_error: Option<String>,
    /// Changes the server stored from this device, over all syncs.
    pub pushed_total: i64,
    /// Changes received from the server, over all syncs.
    pub pulled_total: i64,
    /// Cases and inspections with changes the server has not stored yet (refused ones not
    /// counted): "3 reports waiting for signal".
    pub unsent_docs: i64,
    /// Of those, life-safety cases: the status badge shows them in the alarm colour.
    pub unsent_life_safety: i64,
    pub refused: Vec<RefusedDoc>,
}

/// After each round trip of a sync.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncProgress {
    pub round: i64,
    pub pushed_docs: i64,
    pub pulled_changes: i64,
    pub bytes_sent: i64,
    pub bytes_received: i64,
    /// More round trips follow.
    pub more: bool,
    /// Photo bytes uploaded and downloaded so far (re-sent chunks included).
    pub photo_bytes_sent: i64,
    pub photo_bytes_received: i64,
}

impl From<&core::sync::SyncProgress> for SyncProgress {
    fn from(p: &core::sync::SyncProgress) -> Self {
        SyncProgress {
            round: count(p.round),
            pushed_docs: count(p.pushed_docs),
            pulled_changes: count(p.pulled_changes),
            bytes_sent: count(p.bytes_sent),
            bytes_received: count(p.bytes_received),
            more: p.more,
            photo_bytes_sent: count(p.blob_bytes_sent),
            photo_bytes_received: count(p.blob_bytes_received),
        }
    }
}

/// A photo a sync could not upload.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PhotoFailure {
    /// The photo reference (SHA-256 hex), as in a case's attachments.
    pub photo: String,
    pub reason: String,
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncReport {
    pub round_trips: i64,
    /// Documents the server acknowledged.
    pub pushed_docs: i64,
    /// Changes the server stored for the first time.
    pub pushed_changes: i64,
    pub pulled_docs: i64,
    /// Changes new to this device.
    pub pulled_changes: i64,
    pub refused: Vec<RefusedDoc>,
    pub bytes_sent: i64,
    pub bytes_received: i64,
    pub duration_ms: i64,
    /// The directory (member, grids, units, templates) changed and was fetched.
    pub directory_updated: bool,
    /// Photos now complete on the server, and the bytes sent for them.
    pub photos_uploaded: i64,
    pub photo_bytes_sent: i64,
    /// Photos that could not be uploaded yet; they wait on the device for the next sync.
    pub photos_failed: Vec<PhotoFailure>,
    /// Cases and inspections that received changes new to this device.
    pub changed_case_ids: Vec<String>,
    pub changed_inspection_ids: Vec<String>,
}

impl From<core::sync::SyncReport> for SyncReport {
    fn from(r: core::sync::SyncReport) -> Self {
        SyncReport {
            round_trips: count(r.round_trips),
            pushed_docs: count(r.pushed_docs),
            pushed_changes: count(r.pushed_changes),
            pulled_docs: count(r.pulled_docs),
            pulled_changes: count(r.pulled_changes),
            refused: r.refused.into_iter().map(Into::into).collect(),
            bytes_sent: count(r.bytes_sent),
            bytes_received: count(r.bytes_received),
            duration_ms: count(r.duration_ms),
            directory_updated: r.directory_updated,
            photos_uploaded: count(r.blobs_uploaded),
            photo_bytes_sent: count(r.blob_bytes_sent),
            photos_failed: r
                .blobs_failed
                .into_iter()
                .map(|(photo, reason)| PhotoFailure { photo, reason })
                .collect(),
            changed_case_ids: r.changed_cases,
            changed_inspection_ids: r.changed_inspections,
        }
    }
}

/// What a sync listener hears: `Started`, a `Progress` after each round trip, then
/// `Finished` or `Failed`.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum SyncEvent {
    Started,
    Progress {
        progress: SyncProgress,
    },
    Finished {
        report: SyncReport,
    },
    /// The sync stopped; what it applied before stays. The message is the one the sync call
    /// threw.
    Failed {
        reason: String,
    },
}

/// Network settings for the syncs, enrollments and directory refreshes that follow.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncOptions {
    /// A request that makes no progress for this long is given up (an idle timeout, not a
    /// limit on a slow body that keeps moving).
    #[uniffi(default = 25000)]
    pub timeout_ms: i64,
    #[uniffi(default = 10000)]
    pub connect_timeout_ms: i64,
    /// Retries after a failed request (network errors, 429, 5xx), with backoff.
    #[uniffi(default = 4)]
    pub retries: i32,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            timeout_ms: 25_000,
            connect_timeout_ms: 10_000,
            retries: 4,
        }
    }
}
