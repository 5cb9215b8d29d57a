//! Cases: what a courier flags or an inspection raises, and everything done about it.
//!
//! A case is one Automerge document. Its facts (category, urgency, title, …) are fields;
//! everything that happens to it is an event appended to its timeline. Status, assignment,
//! deadline and follow-up are never stored: [`fold`] derives them from the timeline, the
//! same way on every replica.

mod document;
mod fold;

pub use document::{CaseRoot, record};
#[cfg(test)]
pub(crate) use document::{append_event, event_by};
pub(crate) use document::{new_case_doc, read_case, read_case_parts};
pub use fold::{Acting, CaseState, Derived, fold, permit};

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::member::Role;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident, $what:literal { $($var:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($var),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),*];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),* }
            }
            pub fn parse(s: &str) -> Result<Self, ValidationError> {
                match s {
                    $($s => Ok($name::$var),)*
                    _ => Err(ValidationError::Unknown { what: $what, value: s.to_string() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// What the case is about.
    Category, "category" {
        PersonInDistress = "person_in_distress",
        FireHazard = "fire_hazard",
        GasHazard = "gas_hazard",
        DrainageOil = "drainage_oil",
        Waste = "waste",
        IllegalConstruction = "illegal_construction",
        IllegalParking = "illegal_parking",
        Noise = "noise",
        Dispute = "dispute",
        FacilityDamage = "facility_damage",
        Other = "other",
    }
);

string_enum!(
    /// How fast someone must come. Life-safety cases are listed and synced first.
    Urgency, "urgency" {
        LifeSafety = "life_safety",
        Urgent = "urgent",
        Normal = "normal",
        Low = "low",
    }
);

impl Urgency {
    /// Sort key: most urgent first.
    pub fn rank(self) -> i64 {
        match self {
            Urgency::LifeSafety => 0,
            Urgency::Urgent => 1,
            Urgency::Normal => 2,
            Urgency::Low => 3,
        }
    }
}

string_enum!(
    /// The coordinate system the device reported in. Phones sold in China often give GCJ-02.
    Datum, "datum" {
        Wgs84 = "wgs84",
        Gcj02 = "gcj02",
        Bd09 = "bd09",
    }
);

string_enum!(
    /// Derived from the timeline; never stored in the document.
    Status, "status" {
        New = "new",
        Accepted = "accepted",
        Dispatched = "dispatched",
        InProgress = "in_progress",
        Resolved = "resolved",
        Closed = "closed",
        Reopened = "reopened",
        Cancelled = "cancelled",
    }
);

impl Status {
    /// Still needs someone's work (shown in the open queue, can become overdue).
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Resolved | Status::Closed | Status::Cancelled)
    }
}

pub const MAX_TITLE: usize = 200;
pub const MAX_TEXT: usize = 5000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
    pub datum: Datum,
    pub address: Option<String>,
}

impl Location {
    pub fn new(lat: f64, lon: f64, datum: Datum) -> Self {
        Location {
            lat,
            lon,
            accuracy_m: None,
            datum,
            address: None,
        }
    }

    pub fn with_address(mut self, address: &str) -> Self {
        self.address = Some(address.to_string());
        self
    }

    pub fn with_accuracy(mut self, metres: f64) -> Self {
        self.accuracy_m = Some(metres);
        self
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        if !self.lat.is_finite() || !(-90.0..=90.0).contains(&self.lat) {
            return Err(ValidationError::Latitude(self.lat));
        }
        if !self.lon.is_finite() || !(-180.0..=180.0).contains(&self.lon) {
            return Err(ValidationError::Longitude(self.lon));
        }
        if let Some(a) = self.accuracy_m
            && (!a.is_finite() || a <= 0.0)
        {
            return Err(ValidationError::Accuracy(a));
        }
        if let Some(a) = &self.address {
            check_len("address", a, MAX_TITLE)?;
        }
        Ok(())
    }
}

/// What a person fills in to open a case.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCase {
    pub category: Category,
    pub urgency: Urgency,
    pub title: String,
    pub description: String,
    pub location: Option<Location>,
    pub grid_id: String,
    pub attachments: Vec<String>,
    /// Rectification deadline set at creation (hazards raised by an inspection).
    pub deadline: Option<i64>,
    /// Set when the case was raised from a failed checklist item.
    pub source: Option<HazardSource>,
}

impl NewCase {
    pub fn new(category: Category, urgency: Urgency, title: &str, grid_id: &str) -> Self {
        NewCase {
            category,
            urgency,
            title: title.to_string(),
            description: String::new(),
            location: None,
            grid_id: grid_id.to_string(),
            attachments: Vec::new(),
            deadline: None,
            source: None,
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        check_required("title", &self.title, MAX_TITLE)?;
        check_len("description", &self.description, MAX_TEXT)?;
        check_required("grid", &self.grid_id, MAX_TITLE)?;
        if let Some(l) = &self.location {
            l.validate()?;
        }
        for h in &self.attachments {
            check_photo_hash(h)?;
        }
        Ok(())
    }
}

/// Links a hazard case to the checklist item that failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HazardSource {
    pub inspection_id: String,
    pub item_id: String,
}

/// Fields a reporter or grid member may correct after the fact. `None` leaves a field alone.
/// An edit is a timeline event carrying the new values; the fold applies it only if its
/// author was allowed to edit at its place in the timeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseEdit {
    pub category: Option<Category>,
    pub urgency: Option<Urgency>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub location: Option<Location>,
}

impl CaseEdit {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if let Some(t) = &self.title {
            check_required("title", t, MAX_TITLE)?;
        }
        if let Some(d) = &self.description {
            check_len("description", d, MAX_TEXT)?;
        }
        if let Some(l) = &self.location {
            l.validate()?;
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self == &CaseEdit::default()
    }

    /// The fields this edit changes, comma-separated ("title,location").
    pub fn field_names(&self) -> String {
        let mut f = Vec::new();
        if self.category.is_some() {
            f.push("category");
        }
        if self.urgency.is_some() {
            f.push("urgency");
        }
        if self.title.is_some() {
            f.push("title");
        }
        if self.description.is_some() {
            f.push("description");
        }
        if self.location.is_some() {
            f.push("location");
        }
        f.join(",")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUp {
    pub visited_at: i64,
    pub satisfaction: i64,
    pub note: String,
}

/// One thing that happened to a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
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
    FollowUp(FollowUp),
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
    Edited(CaseEdit),
    /// An administrator moved the case to another grid.
    Moved {
        grid_id: String,
    },
    /// Written by a newer version of the app; kept and shown, never interpreted.
    Unknown {
        name: String,
    },
}

impl EventKind {
    pub fn name(&self) -> &str {
        match self {
            EventKind::Created => "created",
            EventKind::Accepted => "accepted",
            EventKind::Dispatched { .. } => "dispatched",
            EventKind::Progress { .. } => "progress",
            EventKind::Resolved { .. } => "resolved",
            EventKind::FollowUp(_) => "follow_up",
            EventKind::Reopened { .. } => "reopened",
            EventKind::Cancelled { .. } => "cancelled",
            EventKind::Comment { .. } => "comment",
            EventKind::PhotoAdded { .. } => "photo_added",
            EventKind::Edited(_) => "edited",
            EventKind::Moved { .. } => "moved",
            EventKind::Unknown { name } => name,
        }
    }

    pub(crate) fn validate(&self, now: i64) -> Result<(), ValidationError> {
        match self {
            EventKind::Dispatched { unit_id, deadline } => {
                check_required("unit", unit_id, MAX_TITLE)?;
                if *deadline <= now {
                    return Err(ValidationError::DeadlineInPast);
                }
            }
            EventKind::Progress { note } | EventKind::Resolved { note } => {
                check_len("note", note, MAX_TEXT)?
            }
            EventKind::FollowUp(f) => {
                if !(1..=5).contains(&f.satisfaction) {
                    return Err(ValidationError::Satisfaction(f.satisfaction));
                }
                check_len("note", &f.note, MAX_TEXT)?;
            }
            EventKind::Reopened { reason } | EventKind::Cancelled { reason } => {
                check_required("reason", reason, MAX_TEXT)?
            }
            EventKind::Comment { text } => check_required("comment", text, MAX_TEXT)?,
            EventKind::PhotoAdded { hash } => check_photo_hash(hash)?,
            EventKind::Edited(e) => {
                if e.is_empty() {
                    return Err(ValidationError::Empty { field: "edit" });
                }
                e.validate()?
            }
            EventKind::Moved { grid_id } => check_required("grid", grid_id, MAX_TITLE)?,
            _ => {}
        }
        Ok(())
    }
}

/// An event as recorded: who did it, from which role, at what device time, and what its
/// author had seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub author: String,
    pub role: Role,
    pub at: i64,
    pub kind: EventKind,
    /// The timeline's latest events when the author acted (ids; empty for the creation).
    /// Events neither of which had seen the other are concurrent.
    #[serde(default)]
    pub after: Vec<String>,
    /// The case's grid as the author saw it, for grid members and leads.
    #[serde(default)]
    pub grid: Option<String>,
    /// The author's responder unit.
    #[serde(default)]
    pub unit: Option<String>,
}

/// An event as the UI shows it: `conflict` says why it no longer fits the state it landed on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub event: Event,
    pub conflict: Option<String>,
}

/// The whole case, as read from its document and folded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    pub category: Category,
    pub urgency: Urgency,
    pub title: String,
    pub description: String,
    pub location: Option<Location>,
    pub grid_id: String,
    pub reporter_id: String,
    pub created_at: i64,
    pub attachments: Vec<String>,
    pub source: Option<HazardSource>,
    pub timeline: Vec<TimelineEntry>,
    pub status: Status,
    pub assigned_unit: Option<String>,
    pub deadline: Option<i64>,
    pub accepted_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub follow_up: Option<FollowUp>,
    /// Number of timeline events that conflicted with the state they landed on.
    pub conflicts: usize,
    /// An acknowledgement for the reporter: someone has taken the case on.
    pub acknowledged: bool,
    /// What the report said when it was made (edits and moves are timeline events).
    pub root: CaseRoot,
}

impl Case {
    pub fn is_overdue(&self, now: i64) -> bool {
        self.status.is_open() && self.deadline.is_some_and(|d| d < now)
    }

    /// Every photo of the case: the report's, then those added to its timeline.
    pub fn photos(&self) -> Vec<String> {
        let added = self.timeline.iter().filter_map(|e| match &e.event.kind {
            EventKind::PhotoAdded { hash } => Some(hash.clone()),
            _ => None,
        });
        let mut out = self.attachments.clone();
        for h in added {
            if !out.contains(&h) {
                out.push(h);
            }
        }
        out
    }
}

/// One row of a list the UI shows, read from the projection tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Still needs someone's work.
    pub is_open: bool,
    /// Open and past its deadline when the list was read.
    pub is_overdue: bool,
}

pub(crate) use crate::error::{check_len, check_required};

pub(crate) fn check_photo_hash(h: &str) -> Result<(), ValidationError> {
    if crate::photo::is_blob_hash(h) {
        Ok(())
    } else {
        Err(ValidationError::PhotoHash(h.to_string()))
    }
}
