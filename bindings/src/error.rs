//! The one error type every exported call returns.
//!
//! It is a "flat" UniFFI error: Kotlin gets `OutpostException.Invalid(message)` and friends,
//! Swift `OutpostError.Invalid(message:)`, where the variant says what kind of problem it is
//! and the message is the sentence core wrote for the person holding the phone.

use outpost_core::Error as CoreError;
use outpost_core::sync::SyncError;

pub type Result<T, E = OutpostError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum OutpostError {
    /// The input was rejected before anything was stored; the message names the field.
    #[error("{reason}")]
    Invalid { reason: String },
    /// The member's role or grids do not allow this.
    #[error("{reason}")]
    Forbidden { reason: String },
    /// The action does not fit the current state (resolving a cancelled case, answering a
    /// submitted inspection).
    #[error("{reason}")]
    WrongState { reason: String },
    #[error("{reason}")]
    NotFound { reason: String },
    /// A photo named by its hash that this device does not hold: attach photos from their
    /// files (`Cases.create_with_photos`, `add_photo`, `Inspections.answer_with_photos`).
    #[error("{reason}")]
    PhotoNotOnDevice { reason: String },
    /// No member is set on this device yet.
    #[error("{reason}")]
    NoMember { reason: String },
    /// The file is not an Outpost database; it was left untouched.
    #[error("{reason}")]
    NotAStore { reason: String },
    /// The database is damaged.
    #[error("{reason}")]
    Corrupt { reason: String },
    /// The database was written by a newer version of the app.
    #[error("{reason}")]
    TooNew { reason: String },
    /// SQLite or the file system failed (disk full, permissions, ...).
    #[error("{reason}")]
    Storage { reason: String },
    /// This device has not enrolled with a server yet.
    #[error("{reason}")]
    NotEnrolled { reason: String },
    /// The server does not accept this device any more (token revoked, member removed):
    /// enroll again with a new invite code.
    #[error("{reason}")]
    Unauthorized { reason: String },
    /// The server could not be reached or did not answer in time. Try again later; nothing
    /// was lost.
    #[error("{reason}")]
    Network { reason: String },
    /// The server refused the request, e.g. an invite code that is unknown, spent or expired.
    #[error("{reason}")]
    Rejected { reason: String },
    /// The server failed. Try again later.
    #[error("{reason}")]
    Server { reason: String },
    /// The server's reply was not understood (a server of another version?).
    #[error("{reason}")]
    Protocol { reason: String },
    /// A bug: a background task panicked or the runtime could not start. Never user error.
    #[error("{reason}")]
    Internal { reason: String },
}

impl OutpostError {
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        OutpostError::Invalid {
            reason: reason.into(),
        }
    }

    pub(crate) fn internal(reason: impl Into<String>) -> Self {
        OutpostError::Internal {
            reason: reason.into(),
        }
    }
}

impl From<CoreError> for OutpostError {
    fn from(e: CoreError) -> Self {
        let reason = e.to_string();
        match e {
            // The variant already says "invalid input": keep only the precise part.
            CoreError::Invalid(v @ outpost_core::ValidationError::PhotoNotOnDevice(_)) => {
                OutpostError::PhotoNotOnDevice {
                    reason: v.to_string(),
                }
            }
            CoreError::Invalid(v) => OutpostError::Invalid {
                reason: v.to_string(),
            },
            CoreError::Forbidden(_) => OutpostError::Forbidden { reason },
            CoreError::Transition { .. } => OutpostError::WrongState { reason },
            CoreError::NotFound { .. } => OutpostError::NotFound { reason },
            CoreError::NoMember => OutpostError::NoMember { reason },
            CoreError::NotAStore(_) => OutpostError::NotAStore { reason },
            CoreError::Corrupt(_) | CoreError::BadDocument { .. } | CoreError::BadChange { .. } => {
                OutpostError::Corrupt { reason }
            }
            CoreError::TooNew { .. } => OutpostError::TooNew { reason },
            CoreError::Storage(_) | CoreError::Io(_) | CoreError::TokenStore(_) => {
                OutpostError::Storage { reason }
            }
        }
    }
}

impl From<SyncError> for OutpostError {
    fn from(e: SyncError) -> Self {
        let reason = e.to_string();
        match e {
            SyncError::NotEnrolled => OutpostError::NotEnrolled { reason },
            SyncError::Unauthorized(_) => OutpostError::Unauthorized { reason },
            // The message names the cause: timed out, refused, closed, TLS.
            SyncError::Network(_)
            | SyncError::TimedOut(_)
            | SyncError::Refused(_)
            | SyncError::Closed(_)
            | SyncError::Tls(_) => OutpostError::Network { reason },
            SyncError::Insecure(_) => OutpostError::Invalid { reason },
            SyncError::Rejected { .. } => OutpostError::Rejected { reason },
            SyncError::Server { .. } => OutpostError::Server { reason },
            SyncError::Protocol(_) => OutpostError::Protocol { reason },
            SyncError::Store(_) => OutpostError::Storage { reason },
            SyncError::Setup(_) => OutpostError::Internal { reason },
        }
    }
}

impl From<outpost_core::ValidationError> for OutpostError {
    fn from(e: outpost_core::ValidationError) -> Self {
        OutpostError::invalid(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_core::ValidationError;

    #[test]
    fn core_errors_keep_their_kind_and_a_readable_message() {
        let e: OutpostError = CoreError::Invalid(ValidationError::Empty { field: "title" }).into();
        assert!(matches!(e, OutpostError::Invalid { .. }));
        assert_eq!(e.to_string(), "title must not be empty");

        let e: OutpostError = CoreError::Transition {
            action: "resolve a case".into(),
            status: "cancelled".into(),
        }
        .into();
        assert!(matches!(e, OutpostError::WrongState { .. }));
        assert_eq!(e.to_string(), "cannot resolve a case that is cancelled");

        let e: OutpostError = SyncError::Rejected {
            status: 403,
            code: "forbidden".into(),
            message: "the invite code is unknown, already used or expired".into(),
        }
        .into();
        assert!(matches!(e, OutpostError::Rejected { .. }));
        assert!(e.to_string().contains("invite code is unknown"), "{e}");
        let e: OutpostError = SyncError::Network("connection refused".into()).into();
        assert!(matches!(e, OutpostError::Network { .. }));
        assert_eq!(e.to_string(), "cannot reach the server: connection refused");

        let e: OutpostError =
            CoreError::Invalid(ValidationError::PhotoNotOnDevice("ab".repeat(32))).into();
        assert!(matches!(e, OutpostError::PhotoNotOnDevice { .. }), "{e:?}");
        assert!(e.to_string().contains("is not on this device"), "{e}");
        let e: OutpostError = CoreError::TokenStore("keychain locked".into()).into();
        assert!(matches!(e, OutpostError::Storage { .. }), "{e:?}");
        assert!(e.to_string().contains("keychain locked"), "{e}");

        let e: OutpostError = CoreError::NoMember.into();
        assert!(matches!(e, OutpostError::NoMember { .. }));
        assert_eq!(e.to_string(), "no member is signed in on this device");
    }
}
