//! The server's storage behind one interface, over two backends: embedded SQLite (default)
//! and PostgreSQL, on which several server processes act as one. Methods are blocking; the
//! HTTP layer calls them on tokio's blocking pool.
//!
//! Everything that is not SQL or locking is written once: the feed — projection, the push
//! loop, scope keys, page assembly — in `feed.rs`, devices and the directory in
//! `registry.rs`, the workstation's figures in `crate::stats`, all against the small
//! [`sql::Sql`] interface. `sqlite.rs` and `postgres.rs` hold connections, schema,
//! transactions and the feed's locking, nothing else. Any [`sql::Backend`] is a
//! [`Storage`].
//!
//! # The feed's one rule
//! Every stored change gets a feed position (`seq`). A backend must make positions visible
//! in increasing order: once a reader can see position `p`, every position below `p` is
//! visible too or will never exist. Otherwise a device whose cursor moved past `p` would
//! never receive the lower one that committed late. SQLite gets this for free: writers are
//! serialized and positions are assigned inside the write transaction. PostgreSQL assigns
//! positions at commit under a lock (a counter row updated last in the transaction, which
//! holds its row lock until commit).

pub mod feed;
pub mod postgres;
pub mod registry;
pub mod sql;
pub mod sqlite;
pub mod watch;

use std::sync::atomic::{AtomicBool, Ordering};

use automerge::AutoCommit;
use outpost_core::Role;
use outpost_core::Template;
use outpost_core::sync::validate::{Accepted, Refusal};
use outpost_core::sync::wire::{Ack, GridInfo, PulledDoc, PushDoc, UnitInfo};
use serde::{Deserialize, Serialize};

pub use postgres::PostgresStorage;
pub use sqlite::SqliteStorage;

use crate::stats::{FigureQuery, Figures, Queues};

/// A storage failure: never the client's fault, never shown to it in detail.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(String),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
    /// A write lost a race with another process (deadlock, serialization, unique key);
    /// running it again succeeds or sees the other's result.
    #[error("write conflict: {0}")]
    Retry(String),
    /// The request was abandoned (time limit, client gone): the work stopped.
    #[error("the request was abandoned")]
    Cancelled,
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
    dyn Fn(&str, Option<AutoCommit>, &[Vec<u8>]) -> Result<Accepted, Refusal> + Sync + 'a;

/// What a push runs under besides its documents.
#[derive(Debug, Clone, Copy)]
pub struct PushContext<'a> {
    pub now: i64,
    /// Set when nobody waits for the answer any more (the time limit answered, the client
    /// went away): the push stops before its next document.
    pub cancel: &'a AtomicBool,
}

impl PushContext<'_> {
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// A push nobody abandons (administration, tests).
pub static NEVER: AtomicBool = AtomicBool::new(false);

impl PushContext<'static> {
    pub fn at(now: i64) -> PushContext<'static> {
        PushContext {
            now,
            cancel: &NEVER,
        }
    }
}

/// One case as the workstation lists it.
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
    /// Raised by an inspection with a rectification deadline.
    #[serde(default)]
    pub rectification: bool,
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
    /// What every request needs, in one statement: the device holding this token (revoked
    /// or not) and the directory version.
    fn authenticate(&self, token_hash: &[u8]) -> StoreResult<Option<(DeviceRecord, i64)>>;
    fn devices(&self) -> StoreResult<Vec<DeviceRecord>>;
    /// Revokes tokens; returns how many devices were revoked now.
    fn revoke(&self, target: RevokeTarget<'_>, now: i64) -> StoreResult<usize>;

    /// Stores pushed documents, each all or nothing: `check` decides — outside any write
    /// transaction — and refused documents leave no trace. Returns one acknowledgement per
    /// document, in order, or [`StoreError::Cancelled`] once `ctx.cancel` is set (documents
    /// stored before that stay stored; a repeated push acknowledges them with `stored: 0`).
    fn push(
        &self,
        docs: &[PushDoc],
        check: &PushCheck<'_>,
        ctx: &PushContext<'_>,
    ) -> StoreResult<Vec<Ack>>;
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
    /// [`Storage::authenticate`] and [`Storage::pull`] together, the first statement of
    /// the pull checking the token: a sync with nothing new by a device the server knew is
    /// one statement. The caller must compare what it assumed (the device not revoked, the
    /// directory version its scope came from) with what this returns before using the page.
    /// `None`: no device holds the token.
    fn authenticate_and_pull(
        &self,
        token_hash: &[u8],
        scope: &Scope,
        after: u64,
        max_bytes: usize,
        skip_actor: &[u8],
    ) -> StoreResult<Option<((DeviceRecord, i64), Page)>>;
    /// The highest feed position.
    fn head(&self) -> StoreResult<u64>;

    /// Every case in these grids (all grids for `None`), oldest first: for tests and the
    /// reference figures, never for a request.
    fn cases(&self, grids: Option<&[String]>) -> StoreResult<Vec<CaseRow>>;
    /// The workstation's queues for these grids (all for `None`).
    fn queues(&self, grids: Option<&[String]>, now: i64, limit: usize) -> StoreResult<Queues>;
    /// The workstation's figures.
    fn figures(&self, ask: &FigureQuery) -> StoreResult<Figures>;
    /// How many change rows a document has (for tests and admin checks).
    fn change_count(&self, doc_id: Option<&str>) -> StoreResult<u64>;

    /// Runs `f` on a reader connection, for a part of the server with tables of its own
    /// written against the shared dialect (the console's sessions, `crate::console::db`).
    fn read_sql(&self, f: &mut dyn FnMut(&mut dyn sql::Sql) -> StoreResult<()>) -> StoreResult<()>;
    /// Runs `f` in one write transaction (maybe again, after a lost race; see
    /// [`sql::Backend::write`]).
    fn write_sql(&self, f: &mut dyn FnMut(&mut dyn sql::Sql) -> StoreResult<()>)
    -> StoreResult<()>;
    /// Stored documents set aside because their snapshot does not load: (id, reason, when
    /// in ms), oldest first.
    fn quarantined(&self) -> StoreResult<Vec<(String, String, i64)>>;
    /// Starts hearing every process's writes ([`watch`]); `None` on a backend served by one
    /// process, where a sync asks the database.
    fn start_watch(&self) -> Option<std::sync::Arc<watch::FeedWatch>> {
        None
    }
}

impl<B: sql::Backend> Storage for B {
    fn start_watch(&self) -> Option<std::sync::Arc<watch::FeedWatch>> {
        sql::Backend::start_watch(self)
    }

    fn ping(&self) -> StoreResult<()> {
        self.read(|db| db.one("SELECT 1", &[]).map(drop))
    }

    fn directory(&self) -> StoreResult<Directory> {
        self.read(registry::directory)
    }

    fn directory_version(&self) -> StoreResult<i64> {
        self.read(registry::directory_version)
    }

    fn import_directory(&self, d: &Directory) -> StoreResult<i64> {
        self.write(|db| registry::import_directory(db, d))
    }

    fn create_invite(
        &self,
        code_hash: &[u8],
        member_id: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.write(|db| registry::create_invite(db, code_hash, member_id, now, expires_at))
    }

    fn enroll(
        &self,
        code_hash: &[u8],
        actor: &str,
        token_hash: &[u8],
        device_name: &str,
        now: i64,
    ) -> StoreResult<EnrollOutcome> {
        self.write(|db| registry::enroll(db, code_hash, actor, token_hash, device_name, now))
    }

    fn invite_member(&self, code_hash: &[u8]) -> StoreResult<Option<String>> {
        self.read(|db| registry::invite_member(db, code_hash))
    }

    fn device_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<DeviceRecord>> {
        Ok(self.authenticate(token_hash)?.map(|(d, _)| d))
    }

    fn authenticate(&self, token_hash: &[u8]) -> StoreResult<Option<(DeviceRecord, i64)>> {
        self.read(|db| registry::authenticate(db, token_hash))
    }

    fn devices(&self) -> StoreResult<Vec<DeviceRecord>> {
        self.read(registry::devices)
    }

    fn revoke(&self, target: RevokeTarget<'_>, now: i64) -> StoreResult<usize> {
        self.write(|db| registry::revoke(db, &target, now))
    }

    fn push(
        &self,
        docs: &[PushDoc],
        check: &PushCheck<'_>,
        ctx: &PushContext<'_>,
    ) -> StoreResult<Vec<Ack>> {
        feed::push(self, docs, check, ctx)
    }

    fn pull(
        &self,
        scope: &Scope,
        after: u64,
        max_bytes: usize,
        skip_actor: &[u8],
    ) -> StoreResult<Page> {
        self.read(|db| feed::pull(db, scope, after, max_bytes, skip_actor))
    }

    fn authenticate_and_pull(
        &self,
        token_hash: &[u8],
        scope: &Scope,
        after: u64,
        max_bytes: usize,
        skip_actor: &[u8],
    ) -> StoreResult<Option<((DeviceRecord, i64), Page)>> {
        self.read(|db| {
            feed::authenticate_and_pull(db, token_hash, scope, after, max_bytes, skip_actor)
        })
    }

    fn head(&self) -> StoreResult<u64> {
        self.read(|db| db.head())
    }

    fn cases(&self, grids: Option<&[String]>) -> StoreResult<Vec<CaseRow>> {
        self.read(|db| crate::stats::cases(db, grids))
    }

    fn queues(&self, grids: Option<&[String]>, now: i64, limit: usize) -> StoreResult<Queues> {
        self.read(|db| crate::stats::queues(db, grids, now, limit))
    }

    fn figures(&self, ask: &FigureQuery) -> StoreResult<Figures> {
        self.read(|db| crate::stats::figures(db, ask))
    }

    fn change_count(&self, doc_id: Option<&str>) -> StoreResult<u64> {
        self.read(|db| feed::change_count(db, doc_id))
    }

    fn read_sql(&self, f: &mut dyn FnMut(&mut dyn sql::Sql) -> StoreResult<()>) -> StoreResult<()> {
        self.read(|db| f(db))
    }

    fn write_sql(
        &self,
        f: &mut dyn FnMut(&mut dyn sql::Sql) -> StoreResult<()>,
    ) -> StoreResult<()> {
        self.write(|db| f(db))
    }

    fn quarantined(&self) -> StoreResult<Vec<(String, String, i64)>> {
        self.read(feed::quarantined)
    }
}
