//! Sync with the Outpost server: enrollment, and the push/pull round trips of the change
//! feed (docs/PROTOCOL.md).
//!
//! [`SyncClient::sync`] pushes what the server has not acknowledged — life-safety cases
//! first, then other cases, then inspections — and pulls what changed in the device's scope
//! after its cursor, in as many round trips as the server's pages need (one when nothing
//! changed). Each reply is applied in one store transaction together with the new cursor,
//! so a sync cut off anywhere is simply run again. [`wire`] holds the messages the server
//! shares; [`validate`] the checks the server runs on pushed changes.
//!
//! The store calls inside `sync` are short SQLite transactions made on the calling task;
//! run it on a multi-threaded runtime (as the bindings do) or a thread of its own, not on
//! a UI thread.

pub mod blobs;
mod client;
pub mod token;
pub mod validate;
pub mod wire;

pub use crate::store::sync_state::{Outbound, RefusedDoc, ReplyApplied, SyncState};
pub use client::{SyncClient, SyncConfig, SyncError, SyncListener, SyncProgress, SyncReport};
pub use token::{FileTokenStore, MemoryTokenStore, TokenStore, TokenStoreError};
