//! Sync with the Outpost server: enrollment, and the push/pull round trips of the change
//! feed (docs/PROTOCOL.md).
//!
//! [`SyncClient::sync`] pushes what the server has not acknowledged — life-safety cases
//! alone and first, then urgent cases, other cases, inspections — and pulls what changed in
//! the device's scope after its cursor, in round trips sized to the link's measured pace
//! (one when nothing changed), then uploads photos. Each reply is applied in one store
//! transaction together with the new cursor, so a sync cut off anywhere is simply run again.
//! Requests have no wall-clock limit but a progress watchdog; failures are named by cause.
//! [`wire`] holds the messages the server shares; [`validate`] the checks the server runs
//! on pushed changes; `state` what the client keeps in the store.
//!
//! The store calls inside `sync` are short SQLite transactions made on the calling task;
//! run it on a multi-threaded runtime (as the bindings do) or a thread of its own, not on
//! a UI thread.

pub mod blobs;
mod client;
mod http;
mod pace;
mod state;
pub mod token;
pub mod validate;
pub mod wire;

pub use crate::store::Outbound;
pub use client::{SyncClient, SyncConfig, SyncError, SyncListener, SyncProgress, SyncReport};
pub use http::PROGRESS_BYTES;
pub use pace::{MAX_BUDGET, MIN_BUDGET, START_BUDGET};
pub use state::{RefusedDoc, ReplyApplied, SyncState};
pub use token::{FileTokenStore, MemoryTokenStore, TokenStore, TokenStoreError};
