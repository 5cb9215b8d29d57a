//! One error type for the core. Messages are written for the person holding the phone;
//! the variant tells the caller what kind of problem it is.

use std::fmt;

use serde::{Deserialize, Serialize};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input was rejected before anything was stored.
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationError),
    /// The acting member's role or scope does not allow this.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// The action does not fit the current state. `action` names its object: "resolve a case".
    #[error("cannot {action} that is {status}")]
    Transition { action: String, status: String },
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    /// No member is set on this device yet.
    #[error("no member is signed in on this device")]
    NoMember,
    /// The file is not an Outpost store (another app's database, or not SQLite at all).
    #[error("{0} is not an Outpost database; it was left untouched")]
    NotAStore(String),
    /// The file is an Outpost store but damaged (truncated, bit-flipped).
    #[error("the database is damaged: {0}")]
    Corrupt(String),
    #[error(
        "this database was written by a newer version of Outpost (schema {found}, this build knows up to {known})"
    )]
    TooNew { found: i64, known: i64 },
    /// A document's content does not follow the schema (from a bug or a hostile peer).
    #[error("document {id} is malformed: {reason}")]
    BadDocument { id: String, reason: String },
    /// A change received from elsewhere could not be decoded.
    #[error("malformed change for document {id}: {reason}")]
    BadChange { id: String, reason: String },
    #[error("storage error: {0}")]
    Storage(String),
    /// The platform's token store (Keystore, Keychain, a file) could not read or keep the
    /// device token.
    #[error("the device token store failed: {0}")]
    TokenStore(String),
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt) => Error::Corrupt(e.to_string()),
            Some(ErrorCode::NotADatabase) => Error::NotAStore(format!("the file ({e})")),
            _ => Error::Storage(e.to_string()),
        }
    }
}

/// What was wrong with the input, precisely enough for a form to show it next to the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidationError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("latitude {0} is outside -90..=90")]
    Latitude(f64),
    #[error("longitude {0} is outside -180..=180")]
    Longitude(f64),
    #[error("location accuracy {0} m must be a positive number")]
    Accuracy(f64),
    #[error("satisfaction {0} is outside 1..=5")]
    Satisfaction(i64),
    #[error("unknown {what} '{value}'")]
    Unknown { what: &'static str, value: String },
    #[error("checklist item '{0}' is not part of this inspection")]
    UnknownItem(String),
    #[error("item '{item}' takes {expected}, not {given}")]
    WrongAnswerKind {
        item: String,
        expected: String,
        given: String,
    },
    #[error("item '{0}' needs at least one photo")]
    PhotoRequired(String),
    #[error("'{0}' is not a valid photo reference (expected a SHA-256 hex digest)")]
    PhotoHash(String),
    #[error("the photo is {size} bytes; the limit is {max}")]
    PhotoTooLarge { size: u64, max: u64 },
    #[error("{0} is not a JPEG, PNG, WebP or HEIC photo")]
    PhotoType(String),
    /// A reference to a photo this device does not hold (no file under its hash): attach
    /// photos from their files, so that they can be uploaded.
    #[error("photo {0} is not on this device; attach it from its file")]
    PhotoNotOnDevice(String),
    #[error("{0} is not a finite number")]
    NotFinite(&'static str),
    #[error("the deadline must be after the time of dispatch")]
    DeadlineInPast,
    #[error("{count} checklist item(s) have no answer yet, first '{first}'")]
    Unanswered { count: usize, first: String },
    #[error("checklist template is invalid: {0}")]
    Template(String),
}

/// Why a member may not take an action, in the order the rules ask: is anyone signed in, is
/// the case in their scope, may their role do this at all, does it fit the case's state.
/// The UI shows the reason next to a withheld action; the store and the server refuse with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    NoMember,
    OutOfScope(String),
    Role(String),
    /// `action` names its object ("resolve a case"); `status` is the state it met.
    State {
        action: String,
        status: String,
    },
}

/// The kind of a [`Denial`], as data for a screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Withheld {
    NoMember,
    OutOfScope,
    Role,
    State,
}

impl Denial {
    pub fn withheld(&self) -> Withheld {
        match self {
            Denial::NoMember => Withheld::NoMember,
            Denial::OutOfScope(_) => Withheld::OutOfScope,
            Denial::Role(_) => Withheld::Role,
            Denial::State { .. } => Withheld::State,
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The same sentences the store's errors carry.
        match self {
            Denial::NoMember => write!(f, "{}", Error::NoMember),
            Denial::OutOfScope(m) | Denial::Role(m) => write!(f, "not allowed: {m}"),
            Denial::State { action, status } => write!(f, "cannot {action} that is {status}"),
        }
    }
}

impl From<Denial> for Error {
    fn from(d: Denial) -> Self {
        match d {
            Denial::NoMember => Error::NoMember,
            Denial::OutOfScope(m) | Denial::Role(m) => Error::Forbidden(m),
            Denial::State { action, status } => Error::Transition { action, status },
        }
    }
}

/// Names the problem for a document that does not read as its schema says.
pub(crate) fn bad_doc(id: &str, reason: impl fmt::Display) -> Error {
    Error::BadDocument {
        id: id.to_string(),
        reason: reason.to_string(),
    }
}

/// A text field that must not be blank and holds at most `max` characters (Unicode scalar
/// values). Shared by every record that takes text: cases, members, answers.
pub(crate) fn check_required(
    field: &'static str,
    v: &str,
    max: usize,
) -> Result<(), ValidationError> {
    if v.trim().is_empty() {
        return Err(ValidationError::Empty { field });
    }
    check_len(field, v, max)
}

/// A text field of at most `max` characters (Unicode scalar values).
pub(crate) fn check_len(field: &'static str, v: &str, max: usize) -> Result<(), ValidationError> {
    if v.chars().count() > max {
        return Err(ValidationError::TooLong { field, max });
    }
    Ok(())
}
