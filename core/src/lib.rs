//! Outpost's offline-first core.
//!
//! Everything a courier, grid member or grid lead records on the street lands here first:
//! cases and inspections are [Automerge](https://automerge.org) documents, stored in SQLite
//! as a snapshot plus incremental changes, with projection tables beside them for every list
//! the app shows. Nothing in this crate knows about FFI or HTTP transport details; the
//! bindings and the server are thin layers over it.
//!
//! ```
//! use outpost_core::{Store, Member, Role, Location, Datum};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path().join("outpost.db")).unwrap();
//! store.set_member(&Member::new("rider-7", "Wang", Role::Courier, ["g-yinhang-1"])).unwrap();
//! let loc = Location::new(31.3181, 121.5125, Datum::Wgs84).with_address("殷行路650弄");
//! let case_id = store.flag_person_in_distress("g-yinhang-1", Some(loc), Some("老人倒地"), None).unwrap();
//! let case = store.case(&case_id).unwrap();
//! assert_eq!(case.status, outpost_core::Status::New);
//! assert_eq!(store.my_reports(10, 0).unwrap().len(), 1);
//! ```

pub mod case;
mod clock;
mod doc;
mod error;
pub mod inspection;
mod member;
pub mod photo;
pub mod rules;
pub mod store;
pub mod sync;
pub mod template;
pub mod untrusted;

pub use case::{
    Case, CaseEdit, CaseSummary, Category, Datum, Event, EventKind, FollowUp, Location, NewCase,
    Status, TimelineEntry, Urgency,
};
pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{Denial, Error, Result, ValidationError, Withheld};
pub use inspection::{Answer, AnswerValue, Inspection, InspectionStatus, InspectionSummary, Site};
pub use member::{Member, Role};
pub use store::{ApplyReport, DocKind, OutboxEntry, Store};
pub use template::{AnswerKind, ChecklistItem, Section, Severity, Template};
