//! The Outpost sync server: enrollment, the directory, a change feed of Automerge changes
//! with scoped access, and the workstation's read API. `storage` holds the one interface
//! both backends (SQLite, PostgreSQL) implement; everything above it is shared.

pub mod api;
pub mod blobs;
pub mod cli;
pub mod console;
pub mod directory;
pub mod error;
pub mod open;
pub mod pg;
pub mod pushing;
pub mod scope;
pub mod stats;
pub mod storage;
pub mod throttle;
pub mod transport;

pub use api::{App, Limits, ServeOptions, serve, serve_with};
pub use storage::{Directory, MemberEntry, PostgresStorage, SqliteStorage, Storage};
