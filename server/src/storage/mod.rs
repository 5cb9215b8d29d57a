//! The server's storage behind one interface, so a PostgreSQL backend can sit beside the
//! embedded SQLite one. Methods are blocking; the HTTP layer calls them on tokio's blocking
//! pool.
//!
//! # The feed's one rule
//! Every stored change gets a feed position (`seq`). A backend must make positions visible
//! in increasing order: once a reader can see position `p`, every position below `p` is
//! visible too or will never exist. Otherwise a device whose cursor moved past `p` would
//! never receive the lower one that committed late. SQLite gets this for free: writers are
//! serialized and positions are assigned inside the write transaction. A PostgreSQL backend
//! must assign positions at commit under a lock (for example a counter row updated last in
//! the transaction, which holds its row lock until commit), or hand out only positions below
//! the oldest write still in flight.

pub mod postgres;
pub mod sqlite;

use automerge::AutoCommit;
use outpost_core::sync::validate::{Accepted, Refusal};
use outpost_core::sync::wire::{Ack, GridInfo, PulledDoc, PushDoc, UnitInfo};
use outpost_core::{Role, Template};
use serde::{Deserialize, Serialize};

pub use postgres::PostgresStorage;
pub use sqlite::SqliteStorage;

/// A storage failure: never the client's fault, never shown to it in detail.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(String),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A member as the directory file lists it: grids as assigned, not expanded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberEntry {
    pub id: String,
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub grids: Vec<String>,
    #[serde(default)]
    pub unit: Option<String>,
}

/// The whole directory, as imported and exported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Directory {
    #[serde(default)]
    pub version: i64,
    #[serde(default)]
    pub grids: Vec<GridInfo>,
    #[serde(default)]
    pub units: Vec<UnitInfo>,
    #[serde(default)]
    pub members: Vec<MemberEntry>,
    #[serde(default)]
    pub templates: Vec<Template>,
}

/// An enrolled device, found by its token's hash.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRecord {
    pub id: String,
    pub member_id: String,
    /// Automerge actor id, hex.
    pub actor: String,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EnrollOutcome {
    Enrolled {
        device_id: String,
        member_id: String,
    },
    /// The code is unknown, used or expired (not told apart, so codes cannot be probed).
    BadCode,
    /// Another active device already uses this actor id.
    ActorInUse,
}

pub enum RevokeTarget<'a> {
    Device(&'a str),
    Member(&'a str),
}

/// What a device may see: everything, or documents carrying one of these scope keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    All,
    Keys(Vec<String>),
}

/// One page of the feed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub docs: Vec<PulledDoc>,
    /// The feed position the page reaches.
    pub cursor: u64,
    pub more: bool,
    pub bytes: usize,
}

/// Checks one pushed document against what the server holds (`None`: new document).
pub type PushCheck<'a> =
    dyn Fn(&str, Option<AutoCommit>, &[Vec<u8>]) -> Result<Accepted, Refusal> + 'a;

/// One case as the workstation's figures need it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseRow {
    pub id: String,
    pub grid_id: String,
    pub category: String,
    pub urgency: String,
    pub urgency_rank: i64,
    pub status: String,
    pub is_open: bool,
    pub title: String,
    pub reporter_id: String,
    pub assigned_unit: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub accepted_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub deadline: Option<i64>,
    pub satisfaction: Option<i64>,
}

pub trait Storage: Send + Sync + 'static {
    /// Cheap liveness check of the database.
    fn ping(&self) -> StoreResult<()>;

    fn directory(&self) -> StoreResult<Directory>;
    fn directory_version(&self) -> StoreResult<i64>;
    /// Adds or replaces every entry of `d` and bumps the directory version. Entries not in
    /// `d` stay.
    fn import_directory(&self, d: &Directory) -> StoreResult<i64>;

    fn create_invite(
        &self,
        code_hash: &[u8],
        member_id: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// Spends an invite code on a new device, atomically.
    fn enroll(
        &self,
        code_hash: &[u8],
        actor: &str,
        token_hash: &[u8],
        device_name: &str,
        now: i64,
    ) -> StoreResult<EnrollOutcome>;
    /// The member an invite code was made for, used, expired or not; `None` for a code
    /// never issued. Enrollment charges failed attempts with a member's code to that member.
    fn invite_member(&self, code_hash: &[u8]) -> StoreResult<Option<String>>;
    fn device_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<DeviceRecord>>;
    fn devices(&self) -> StoreResult<Vec<DeviceRecord>>;
    /// Revokes tokens; returns how many devices were revoked now.
    fn revoke(&self, target: RevokeTarget<'_>, now: i64) -> StoreResult<usize>;

    /// Stores pushed documents, each all or nothing: `check` decides, and refused documents
    /// leave no trace. Returns one acknowledgement per document, in order.
    fn push(&self, docs: &[PushDoc], check: &PushCheck<'_>, now: i64) -> StoreResult<Vec<Ack>>;
    /// The feed after position `after` for `scope`, at most about `max_bytes` of changes
    /// (always at least one position). Changes by `skip_actor` (the asking device's own) are
    /// left out; documents that entered the scope after `after` come whole.
    fn pull(
        &self,
        scope: &Scope,
        after: u64,
        max_bytes: usize,
        skip_actor: &[u8],
    ) -> StoreResult<Page>;
    /// The highest feed position.
    fn head(&self) -> StoreResult<u64>;

    /// Cases in these grids (all grids for `None`).
    fn cases(&self, grids: Option<&[String]>) -> StoreResult<Vec<CaseRow>>;
    /// How many change rows a document has (for tests and admin checks).
    fn change_count(&self, doc_id: Option<&str>) -> StoreResult<u64>;
}
