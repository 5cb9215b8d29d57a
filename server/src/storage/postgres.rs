//! The PostgreSQL backend: for a city that outgrows one machine. Server processes keep no
//! state of their own, so several can run on one database behind a load balancer.
//!
//! # Gap safety
//! Change rows are inserted without a feed position. Positions are handed out as the last
//! step of the push transaction, by `UPDATE meta SET value = value + n WHERE key =
//! 'feed_head'`: that row lock is held until the transaction ends, so the next writer can
//! take positions only after this one has committed (or rolled back) and is visible to
//! every new snapshot. Positions therefore become visible in increasing order, also across
//! processes, which is the rule of [`super`]. The expensive part of a push — loading the
//! document and judging every change — runs before, concurrently with other pushes; only
//! the numbering and the commit are serialized. A pull reads the head and its page in one
//! `REPEATABLE READ` snapshot.
//!
//! Pushes to the same document serialize on a transaction-scoped advisory lock per
//! document, taken for all documents of a request in one sorted statement; a deadlock or a
//! unique-key race between two processes rolls the request back and runs it again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use automerge::AutoCommit;
use outpost_core::sync::validate::DocView;
use outpost_core::sync::wire::{Ack, GridInfo, GridLevel, PulledDoc, PushDoc, UnitInfo};
use outpost_core::{Role, Template};
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, IsolationLevel, NoTls, Row, Statement, Transaction};

use super::{
    CaseRow, DeviceRecord, Directory, EnrollOutcome, MemberEntry, Page, PushCheck, RevokeTarget,
    Scope, Storage, StoreError, StoreResult,
};
use crate::scope::doc_keys;

/// Schema versions; `meta.schema` holds how many have run.
const MIGRATIONS: &[&str] = &[r#"
    CREATE TABLE grids (id TEXT PRIMARY KEY, name TEXT NOT NULL, level TEXT NOT NULL, parent TEXT);
    CREATE TABLE units (id TEXT PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE members (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, grids TEXT NOT NULL,
        unit TEXT
    );
    CREATE TABLE templates (
        id TEXT NOT NULL, version BIGINT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (id, version)
    );
    CREATE TABLE invites (
        code_hash BYTEA PRIMARY KEY, member_id TEXT NOT NULL, created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL, used_at BIGINT, device_id TEXT
    );
    CREATE TABLE devices (
        id TEXT PRIMARY KEY, member_id TEXT NOT NULL, actor TEXT NOT NULL,
        token_hash BYTEA NOT NULL UNIQUE, name TEXT NOT NULL, created_at BIGINT NOT NULL,
        revoked_at BIGINT
    );
    -- Two processes enrolling one actor at once: the second fails here and retries.
    CREATE UNIQUE INDEX devices_actor ON devices(actor) WHERE revoked_at IS NULL;

    -- The feed. `seq` stays NULL until the pushing transaction numbers its rows just before
    -- it commits (see the module documentation).
    CREATE TABLE changes (
        id BIGSERIAL PRIMARY KEY,
        seq BIGINT UNIQUE,
        doc_id TEXT NOT NULL,
        hash BYTEA NOT NULL,
        actor BYTEA NOT NULL,
        bytes BYTEA NOT NULL,
        UNIQUE (doc_id, hash)
    );
    CREATE INDEX changes_doc ON changes(doc_id, seq);

    CREATE TABLE docs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        snapshot BYTEA NOT NULL,
        grid_id TEXT NOT NULL,
        category TEXT,
        urgency TEXT,
        urgency_rank BIGINT,
        status TEXT NOT NULL,
        is_open BOOLEAN NOT NULL,
        title TEXT NOT NULL,
        reporter_id TEXT NOT NULL,
        assigned_unit TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        accepted_at BIGINT,
        resolved_at BIGINT,
        deadline BIGINT,
        satisfaction BIGINT
    );
    CREATE INDEX docs_grid ON docs(kind, grid_id);

    CREATE TABLE doc_scopes (
        doc_id TEXT NOT NULL, key TEXT NOT NULL, since BIGINT NOT NULL, current BOOLEAN NOT NULL,
        PRIMARY KEY (doc_id, key)
    );
    CREATE INDEX doc_scopes_key ON doc_scopes(key, current, since);

    INSERT INTO meta(key, value) VALUES ('directory_version', 0), ('feed_head', 0);
"#];

/// Advisory lock key (single bigint space) that serializes schema migrations.
const MIGRATE_LOCK: i64 = 0x6f75_7470_6f73_7401;
/// Idle connections kept between requests.
const POOL: usize = 32;
/// Runs of a write transaction that failed on a deadlock, serialization or unique-key race.
const ATTEMPTS: u32 = 8;
/// Change rows fetched per query while a pull fills its page.
const CHUNK: i64 = 512;

/// Points inside a push where a test can stop the transaction (see [`PostgresStorage::set_hook`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookPoint {
    /// Change rows are written but have no feed position yet.
    BeforePositions,
    /// Positions are assigned (the feed counter is locked); the commit comes next.
    BeforeCommit,
}

type Hook = Arc<dyn Fn(HookPoint) + Send + Sync>;

/// A pooled connection with its prepared statements.
struct Conn {
    client: Client,
    stmts: HashMap<String, Statement>,
}

pub struct PostgresStorage {
    config: postgres::Config,
    pool: Mutex<Vec<Conn>>,
    hook: Mutex<Option<Hook>>,
}

/// A failure inside a transaction: the database's own (perhaps worth a retry) or ours.
enum Fail {
    Pg(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl Fail {
    fn retryable(&self) -> bool {
        let Fail::Pg(e) = self else { return false };
        matches!(
            e.code(),
            Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::UNIQUE_VIOLATION
        )
    }

    fn into_store(self) -> StoreError {
        match self {
            Fail::Pg(e) => StoreError::Db(pg_message(&e)),
            Fail::Store(e) => e,
        }
    }
}

fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

type Res<T> = Result<T, Fail>;

/// One transaction with the connection's statement cache.
struct Cx<'a> {
    tx: Transaction<'a>,
    stmts: &'a mut HashMap<String, Statement>,
}

impl Cx<'_> {
    fn stmt(&mut self, sql: &str) -> Res<Statement> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql)?;
        self.stmts.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Res<Vec<Row>> {
        let s = self.stmt(sql)?;
        Ok(self.tx.query(&s, params)?)
    }

    fn opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Res<Option<Row>> {
        let s = self.stmt(sql)?;
        Ok(self.tx.query_opt(&s, params)?)
    }

    fn one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Res<Row> {
        let s = self.stmt(sql)?;
        Ok(self.tx.query_one(&s, params)?)
    }

    fn exec(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Res<u64> {
        let s = self.stmt(sql)?;
        Ok(self.tx.execute(&s, params)?)
    }
}

impl PostgresStorage {
    /// Connects to `url` (`postgres://user:password@host:port/database`, or the key=value
    /// form) and brings the schema up to date.
    pub fn open(url: &str) -> StoreResult<PostgresStorage> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| StoreError::Invalid(format!("database URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("outpost-server");
        let storage = PostgresStorage {
            config,
            pool: Mutex::new(Vec::new()),
            hook: Mutex::new(None),
        };
        storage.migrate()?;
        Ok(storage)
    }

    /// Calls `hook` at fixed points of every push of this instance (tests provoke races
    /// with it; `None` removes it).
    #[doc(hidden)]
    pub fn set_hook(&self, hook: Option<Hook>) {
        *self.hook.lock().unwrap_or_else(|p| p.into_inner()) = hook;
    }

    fn fire(&self, point: HookPoint) {
        let hook = self.hook.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(h) = hook {
            h(point);
        }
    }

    fn connect(&self) -> StoreResult<Conn> {
        let client = self
            .config
            .connect(NoTls)
            .map_err(|e| StoreError::Db(format!("connect: {}", pg_message(&e))))?;
        Ok(Conn {
            client,
            stmts: HashMap::new(),
        })
    }

    /// Runs `f` in one transaction on a pooled connection.
    fn run<R>(
        &self,
        isolation: IsolationLevel,
        read_only: bool,
        f: impl FnOnce(&mut Cx<'_>) -> Res<R>,
    ) -> Res<R> {
        let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) if !c.client.is_closed() => c,
            _ => self.connect()?,
        };
        let out = (|| {
            let tx = conn
                .client
                .build_transaction()
                .isolation_level(isolation)
                .read_only(read_only)
                .start()?;
            let mut cx = Cx {
                tx,
                stmts: &mut conn.stmts,
            };
            let out = f(&mut cx)?;
            cx.tx.commit()?;
            Ok(out)
        })();
        if !conn.client.is_closed() {
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < POOL {
                pool.push(conn);
            }
        }
        out
    }

    fn read<R>(&self, f: impl FnOnce(&mut Cx<'_>) -> Res<R>) -> StoreResult<R> {
        self.run(IsolationLevel::RepeatableRead, true, f)
            .map_err(Fail::into_store)
    }

    /// A write transaction, run again when it lost a race with another process.
    fn write<R>(&self, mut f: impl FnMut(&mut Cx<'_>) -> Res<R>) -> StoreResult<R> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.run(IsolationLevel::ReadCommitted, false, &mut f) {
                Err(e) if attempt < ATTEMPTS && e.retryable() => {
                    let jitter = u64::from(rand::random::<u8>() % 20);
                    std::thread::sleep(Duration::from_millis((1u64 << attempt.min(6)) + jitter));
                }
                other => return other.map_err(Fail::into_store),
            }
        }
    }

    fn migrate(&self) -> StoreResult<()> {
        self.run(IsolationLevel::ReadCommitted, false, |cx| {
            // Two processes starting at once: one migrates, the other waits and sees it done.
            cx.exec("SELECT pg_advisory_xact_lock($1)::text", &[&MIGRATE_LOCK])?;
            cx.tx
                .batch_execute("SET LOCAL client_min_messages = warning")?;
            cx.exec(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)",
                &[],
            )?;
            cx.exec(
                "INSERT INTO meta(key, value) VALUES ('schema', 0) ON CONFLICT DO NOTHING",
                &[],
            )?;
            let version: i64 = cx
                .one("SELECT value FROM meta WHERE key = 'schema'", &[])?
                .try_get(0)?;
            if version > MIGRATIONS.len() as i64 {
                return Err(StoreError::Invalid(format!(
                    "the database was written by a newer server (schema {version})"
                ))
                .into());
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                cx.tx.batch_execute(sql)?;
                cx.exec(
                    "UPDATE meta SET value = $1 WHERE key = 'schema'",
                    &[&(i as i64 + 1)],
                )?;
            }
            Ok(())
        })
        .map_err(Fail::into_store)
    }
}

fn corrupt(e: impl std::fmt::Display) -> Fail {
    Fail::Store(StoreError::Corrupt(e.to_string()))
}

fn device_row(r: &Row) -> Res<DeviceRecord> {
    Ok(DeviceRecord {
        id: r.try_get(0)?,
        member_id: r.try_get(1)?,
        actor: r.try_get(2)?,
        name: r.try_get(3)?,
        created_at: r.try_get(4)?,
        revoked_at: r.try_get(5)?,
    })
}

fn head_of(cx: &mut Cx<'_>) -> Res<u64> {
    let h: i64 = cx
        .one("SELECT value FROM meta WHERE key = 'feed_head'", &[])?
        .try_get(0)?;
    Ok(h.max(0) as u64)
}

impl Storage for PostgresStorage {
    fn ping(&self) -> StoreResult<()> {
        self.read(|cx| {
            cx.one("SELECT 1", &[])?;
            Ok(())
        })
    }

    fn directory(&self) -> StoreResult<Directory> {
        self.read(|cx| {
            let version: i64 = cx
                .one(
                    "SELECT value FROM meta WHERE key = 'directory_version'",
                    &[],
                )?
                .try_get(0)?;
            let mut grids = Vec::new();
            for r in cx.query("SELECT id, name, level, parent FROM grids ORDER BY id", &[])? {
                let level: String = r.try_get(2)?;
                grids.push(GridInfo {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    level: GridLevel::parse(&level)
                        .ok_or_else(|| corrupt(format!("grid level {level}")))?,
                    parent: r.try_get(3)?,
                });
            }
            let mut units = Vec::new();
            for r in cx.query("SELECT id, name FROM units ORDER BY id", &[])? {
                units.push(UnitInfo {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                });
            }
            let mut members = Vec::new();
            for r in cx.query(
                "SELECT id, name, role, grids, unit FROM members ORDER BY id",
                &[],
            )? {
                let role: String = r.try_get(2)?;
                let grids: String = r.try_get(3)?;
                members.push(MemberEntry {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    role: Role::parse(&role).map_err(corrupt)?,
                    grids: serde_json::from_str(&grids).map_err(corrupt)?,
                    unit: r.try_get(4)?,
                });
            }
            let mut templates = Vec::new();
            for r in cx.query(
                "SELECT DISTINCT ON (id) body FROM templates ORDER BY id, version DESC",
                &[],
            )? {
                let body: String = r.try_get(0)?;
                templates.push(Template::from_json(&body).map_err(corrupt)?);
            }
            Ok(Directory {
                version,
                grids,
                units,
                members,
                templates,
            })
        })
    }

    fn directory_version(&self) -> StoreResult<i64> {
        self.read(|cx| {
            Ok(cx
                .one(
                    "SELECT value FROM meta WHERE key = 'directory_version'",
                    &[],
                )?
                .try_get(0)?)
        })
    }

    fn import_directory(&self, d: &Directory) -> StoreResult<i64> {
        self.write(|cx| {
            for g in &d.grids {
                cx.exec(
                    "INSERT INTO grids(id, name, level, parent) VALUES ($1, $2, $3, $4)
                     ON CONFLICT(id) DO UPDATE SET name = excluded.name, level = excluded.level,
                         parent = excluded.parent",
                    &[&g.id, &g.name, &g.level.as_str(), &g.parent],
                )?;
            }
            for u in &d.units {
                cx.exec(
                    "INSERT INTO units(id, name) VALUES ($1, $2)
                     ON CONFLICT(id) DO UPDATE SET name = excluded.name",
                    &[&u.id, &u.name],
                )?;
            }
            for m in &d.members {
                let grids = serde_json::to_string(&m.grids)
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                cx.exec(
                    "INSERT INTO members(id, name, role, grids, unit) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT(id) DO UPDATE SET name = excluded.name, role = excluded.role,
                         grids = excluded.grids, unit = excluded.unit",
                    &[&m.id, &m.name, &m.role.as_str(), &grids, &m.unit],
                )?;
            }
            for t in &d.templates {
                cx.exec(
                    "INSERT INTO templates(id, version, body) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[&t.id, &t.version, &t.to_json()],
                )?;
            }
            Ok(cx
                .one(
                    "UPDATE meta SET value = value + 1 WHERE key = 'directory_version'
                     RETURNING value",
                    &[],
                )?
                .try_get(0)?)
        })
    }

    fn create_invite(
        &self,
        code_hash: &[u8],
        member_id: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.write(|cx| {
            if cx
                .opt("SELECT 1 FROM members WHERE id = $1", &[&member_id])?
                .is_none()
            {
                return Err(StoreError::Invalid(format!("no member {member_id}")).into());
            }
            cx.exec(
                "INSERT INTO invites(code_hash, member_id, created_at, expires_at)
                 VALUES ($1, $2, $3, $4)",
                &[&code_hash, &member_id, &now, &expires_at],
            )?;
            Ok(())
        })
    }

    fn enroll(
        &self,
        code_hash: &[u8],
        actor: &str,
        token_hash: &[u8],
        device_name: &str,
        now: i64,
    ) -> StoreResult<EnrollOutcome> {
        self.write(|cx| {
            // FOR UPDATE: two processes spending one code at once, the second sees it spent.
            let member = cx.opt(
                "SELECT i.member_id FROM invites i JOIN members m ON m.id = i.member_id
                 WHERE i.code_hash = $1 AND i.used_at IS NULL AND i.expires_at > $2
                 FOR UPDATE OF i",
                &[&code_hash, &now],
            )?;
            let Some(member) = member else {
                return Ok(EnrollOutcome::BadCode);
            };
            let member_id: String = member.try_get(0)?;
            if cx
                .opt(
                    "SELECT 1 FROM devices WHERE actor = $1 AND revoked_at IS NULL",
                    &[&actor],
                )?
                .is_some()
            {
                return Ok(EnrollOutcome::ActorInUse);
            }
            let device_id = uuid::Uuid::now_v7().to_string();
            cx.exec(
                "INSERT INTO devices(id, member_id, actor, token_hash, name, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &device_id,
                    &member_id,
                    &actor,
                    &token_hash,
                    &device_name,
                    &now,
                ],
            )?;
            cx.exec(
                "UPDATE invites SET used_at = $2, device_id = $3 WHERE code_hash = $1",
                &[&code_hash, &now, &device_id],
            )?;
            Ok(EnrollOutcome::Enrolled {
                device_id,
                member_id,
            })
        })
    }

    fn invite_member(&self, code_hash: &[u8]) -> StoreResult<Option<String>> {
        self.read(|cx| {
            cx.opt(
                "SELECT member_id FROM invites WHERE code_hash = $1",
                &[&code_hash],
            )?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(Into::into)
        })
    }

    fn device_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<DeviceRecord>> {
        self.read(|cx| {
            cx.opt(
                "SELECT id, member_id, actor, name, created_at, revoked_at FROM devices
                 WHERE token_hash = $1",
                &[&token_hash],
            )?
            .map(|r| device_row(&r))
            .transpose()
        })
    }

    fn devices(&self) -> StoreResult<Vec<DeviceRecord>> {
        self.read(|cx| {
            cx.query(
                "SELECT id, member_id, actor, name, created_at, revoked_at FROM devices
                 ORDER BY created_at, id",
                &[],
            )?
            .iter()
            .map(device_row)
            .collect()
        })
    }

    fn revoke(&self, target: RevokeTarget<'_>, now: i64) -> StoreResult<usize> {
        self.write(|cx| {
            let n = match target {
                RevokeTarget::Device(id) => cx.exec(
                    "UPDATE devices SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                    &[&id, &now],
                )?,
                RevokeTarget::Member(id) => {
                    cx.exec(
                        "UPDATE invites SET used_at = $2 WHERE member_id = $1 AND used_at IS NULL",
                        &[&id, &now],
                    )?;
                    cx.exec(
                        "UPDATE devices SET revoked_at = $2
                         WHERE member_id = $1 AND revoked_at IS NULL",
                        &[&id, &now],
                    )?
                }
            };
            Ok(n as usize)
        })
    }

    fn push(&self, docs: &[PushDoc], check: &PushCheck<'_>, now: i64) -> StoreResult<Vec<Ack>> {
        self.write(|cx| push_tx(self, cx, docs, check, now))
    }

    fn pull(
        &self,
        scope: &Scope,
        after: u64,
        max_bytes: usize,
        skip_actor: &[u8],
    ) -> StoreResult<Page> {
        self.read(|cx| pull_page(cx, scope, after, max_bytes, skip_actor))
    }

    fn head(&self) -> StoreResult<u64> {
        self.read(head_of)
    }

    fn cases(&self, grids: Option<&[String]>) -> StoreResult<Vec<CaseRow>> {
        let grids: Option<Vec<String>> = grids.map(|g| g.to_vec());
        self.read(|cx| {
            let rows = cx.query(
                "SELECT id, grid_id, category, urgency, urgency_rank, status, is_open, title,
                        reporter_id, assigned_unit, created_at, updated_at, accepted_at,
                        resolved_at, deadline, satisfaction
                 FROM docs WHERE kind = 'case' AND ($1::text[] IS NULL OR grid_id = ANY($1))
                 ORDER BY created_at, id",
                &[&grids],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(CaseRow {
                        id: r.try_get(0)?,
                        grid_id: r.try_get(1)?,
                        category: r.try_get::<_, Option<String>>(2)?.unwrap_or_default(),
                        urgency: r.try_get::<_, Option<String>>(3)?.unwrap_or_default(),
                        urgency_rank: r.try_get::<_, Option<i64>>(4)?.unwrap_or_default(),
                        status: r.try_get(5)?,
                        is_open: r.try_get(6)?,
                        title: r.try_get(7)?,
                        reporter_id: r.try_get(8)?,
                        assigned_unit: r.try_get(9)?,
                        created_at: r.try_get(10)?,
                        updated_at: r.try_get(11)?,
                        accepted_at: r.try_get(12)?,
                        resolved_at: r.try_get(13)?,
                        deadline: r.try_get(14)?,
                        satisfaction: r.try_get(15)?,
                    })
                })
                .collect()
        })
    }

    fn change_count(&self, doc_id: Option<&str>) -> StoreResult<u64> {
        self.read(|cx| {
            let n: i64 = cx
                .one(
                    "SELECT count(*) FROM changes WHERE $1::text IS NULL OR doc_id = $1",
                    &[&doc_id],
                )?
                .try_get(0)?;
            Ok(n as u64)
        })
    }
}

/// A stored document waiting for the feed positions of its new change rows.
struct Numbered {
    doc_id: String,
    rows: Vec<i64>,
    /// Scope keys that become current at the document's last new position.
    entering: Vec<String>,
}

fn push_tx(
    storage: &PostgresStorage,
    cx: &mut Cx<'_>,
    docs: &[PushDoc],
    check: &PushCheck<'_>,
    now: i64,
) -> Res<Vec<Ack>> {
    // Every document of the request locked at once, in one order for all processes.
    let ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    cx.exec(
        "SELECT pg_advisory_xact_lock(2, h)::text
         FROM (SELECT DISTINCT hashtext(x) AS h FROM unnest($1::text[]) AS x ORDER BY 1) s",
        &[&ids],
    )?;
    let mut acks = Vec::with_capacity(docs.len());
    let mut numbered: Vec<Numbered> = Vec::new();
    for d in docs {
        let existing = match cx.opt("SELECT snapshot FROM docs WHERE id = $1", &[&d.id])? {
            Some(r) => {
                let s: Vec<u8> = r.try_get(0)?;
                Some(AutoCommit::load(&s).map_err(|e| corrupt(format!("document {}: {e}", d.id)))?)
            }
            None => None,
        };
        let raw: Vec<Vec<u8>> = d.changes.iter().map(|c| c.to_vec()).collect();
        match check(&d.id, existing, &raw) {
            Err(refusal) => acks.push(Ack {
                id: d.id.clone(),
                ok: false,
                stored: 0,
                code: Some(refusal.code),
                reason: Some(refusal.reason),
            }),
            Ok(mut accepted) => {
                let stored = accepted.fresh.len() as u32;
                if stored > 0
                    && let Some(n) = store_doc(cx, &d.id, &mut accepted, now)?
                {
                    numbered.push(n);
                }
                acks.push(Ack {
                    id: d.id.clone(),
                    ok: true,
                    stored,
                    code: None,
                    reason: None,
                });
            }
        }
    }
    let total: usize = numbered.iter().map(|n| n.rows.len()).sum();
    if total == 0 {
        return Ok(acks);
    }
    storage.fire(HookPoint::BeforePositions);
    // The counter row stays locked until commit: positions are handed out in commit order.
    let head: i64 = cx
        .one(
            "UPDATE meta SET value = value + $1 WHERE key = 'feed_head' RETURNING value",
            &[&(total as i64)],
        )?
        .try_get(0)?;
    let mut next = head - total as i64 + 1;
    let mut row_ids = Vec::with_capacity(total);
    let mut seqs = Vec::with_capacity(total);
    let (mut scope_docs, mut scope_keys, mut scope_since) = (Vec::new(), Vec::new(), Vec::new());
    for n in &numbered {
        for id in &n.rows {
            row_ids.push(*id);
            seqs.push(next);
            next += 1;
        }
        for k in &n.entering {
            scope_docs.push(n.doc_id.as_str());
            scope_keys.push(k.as_str());
            scope_since.push(next - 1);
        }
    }
    cx.exec(
        "UPDATE changes c SET seq = v.seq
         FROM unnest($1::bigint[], $2::bigint[]) AS v(id, seq) WHERE c.id = v.id",
        &[&row_ids, &seqs],
    )?;
    if !scope_docs.is_empty() {
        cx.exec(
            "INSERT INTO doc_scopes(doc_id, key, since, current)
             SELECT d, k, s, true FROM unnest($1::text[], $2::text[], $3::bigint[]) AS v(d, k, s)
             ON CONFLICT(doc_id, key) DO UPDATE SET since = excluded.since, current = true",
            &[&scope_docs, &scope_keys, &scope_since],
        )?;
    }
    storage.fire(HookPoint::BeforeCommit);
    Ok(acks)
}

/// Writes an accepted document's new change rows (not yet numbered), its snapshot and
/// projection, and retires scope keys it lost. Returns what still needs positions.
fn store_doc(
    cx: &mut Cx<'_>,
    id: &str,
    accepted: &mut outpost_core::sync::validate::Accepted,
    now: i64,
) -> Res<Option<Numbered>> {
    let mut rows = Vec::with_capacity(accepted.fresh.len());
    for (hash, bytes) in &accepted.fresh {
        let actor = automerge::Change::try_from(bytes.as_slice())
            .map(|c| c.actor_id().to_bytes().to_vec())
            .map_err(corrupt)?;
        if let Some(r) = cx.opt(
            "INSERT INTO changes(doc_id, hash, actor, bytes) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING RETURNING id",
            &[&id, &hash.0.as_slice(), &actor, bytes],
        )? {
            rows.push(r.try_get::<_, i64>(0)?);
        }
    }
    // Uncompressed: setting up DEFLATE for each column of each pushed document cost more
    // than the rest of storing it.
    let snapshot = accepted.doc.save_with_options(automerge::SaveOptions {
        deflate: false,
        retain_orphans: true,
    });
    let p = Projection::of(&accepted.view, now);
    cx.exec(
        "INSERT INTO docs(id, kind, snapshot, grid_id, category, urgency, urgency_rank, status,
             is_open, title, reporter_id, assigned_unit, created_at, updated_at, accepted_at,
             resolved_at, deadline, satisfaction)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
         ON CONFLICT(id) DO UPDATE SET snapshot = excluded.snapshot, grid_id = excluded.grid_id,
             category = excluded.category, urgency = excluded.urgency,
             urgency_rank = excluded.urgency_rank, status = excluded.status,
             is_open = excluded.is_open, title = excluded.title,
             assigned_unit = excluded.assigned_unit, updated_at = excluded.updated_at,
             accepted_at = excluded.accepted_at, resolved_at = excluded.resolved_at,
             deadline = excluded.deadline, satisfaction = excluded.satisfaction",
        &[
            &id,
            &accepted.view.kind().as_str(),
            &snapshot,
            &p.grid_id,
            &p.category,
            &p.urgency,
            &p.urgency_rank,
            &p.status,
            &p.is_open,
            &p.title,
            &p.reporter_id,
            &p.assigned_unit,
            &p.created_at,
            &p.updated_at,
            &p.accepted_at,
            &p.resolved_at,
            &p.deadline,
            &p.satisfaction,
        ],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    let keys = doc_keys(&accepted.view);
    let mut current: HashMap<String, bool> = HashMap::new();
    for r in cx.query(
        "SELECT key, current FROM doc_scopes WHERE doc_id = $1",
        &[&id],
    )? {
        current.insert(r.try_get(0)?, r.try_get(1)?);
    }
    let entering: Vec<String> = keys
        .iter()
        .filter(|k| current.get(*k) != Some(&true))
        .cloned()
        .collect();
    for (k, cur) in &current {
        if *cur && !keys.contains(k) {
            cx.exec(
                "UPDATE doc_scopes SET current = false WHERE doc_id = $1 AND key = $2",
                &[&id, k],
            )?;
        }
    }
    Ok(Some(Numbered {
        doc_id: id.to_string(),
        rows,
        entering,
    }))
}

/// The projection columns of a document.
struct Projection {
    grid_id: String,
    category: Option<String>,
    urgency: Option<String>,
    urgency_rank: Option<i64>,
    status: String,
    is_open: bool,
    title: String,
    reporter_id: String,
    assigned_unit: Option<String>,
    created_at: i64,
    updated_at: i64,
    accepted_at: Option<i64>,
    resolved_at: Option<i64>,
    deadline: Option<i64>,
    satisfaction: Option<i64>,
}

impl Projection {
    fn of(view: &DocView, now: i64) -> Projection {
        match view {
            DocView::Case(c) => Projection {
                grid_id: c.grid_id.clone(),
                category: Some(c.category.as_str().into()),
                urgency: Some(c.urgency.as_str().into()),
                urgency_rank: Some(c.urgency.rank()),
                status: c.status.as_str().into(),
                is_open: c.status.is_open(),
                title: c.title.clone(),
                reporter_id: c.reporter_id.clone(),
                assigned_unit: c.assigned_unit.clone(),
                created_at: c.created_at,
                updated_at: now,
                accepted_at: c.accepted_at,
                resolved_at: c.resolved_at,
                deadline: c.deadline,
                satisfaction: c.follow_up.as_ref().map(|f| f.satisfaction),
            },
            DocView::Inspection(i) => Projection {
                grid_id: i.site.grid_id.clone(),
                category: None,
                urgency: None,
                urgency_rank: None,
                status: i.status.as_str().into(),
                is_open: i.status == outpost_core::InspectionStatus::InProgress,
                title: format!("{} · {}", i.template.title, i.site.name),
                reporter_id: i.started_by.clone(),
                assigned_unit: None,
                created_at: i.started_at,
                updated_at: now,
                accepted_at: None,
                resolved_at: i.submitted_at,
                deadline: None,
                satisfaction: None,
            },
        }
    }
}

/// One page of the feed for `scope` after position `after` (see `Storage::pull`), read in
/// the caller's one snapshot.
fn pull_page(
    cx: &mut Cx<'_>,
    scope: &Scope,
    after: u64,
    max_bytes: usize,
    skip_actor: &[u8],
) -> Res<Page> {
    let head = head_of(cx)?;
    let after = if after > head { 0 } else { after };
    let mut page = Page {
        cursor: head,
        ..Page::default()
    };
    if after >= head {
        return Ok(page);
    }
    let keys: Option<Vec<String>> = match scope {
        Scope::All => None,
        Scope::Keys(keys) if keys.is_empty() => return Ok(page),
        Scope::Keys(keys) => Some(keys.clone()),
    };
    let mut entered: HashMap<String, u64> = HashMap::new();
    if let Some(keys) = &keys {
        for r in cx.query(
            "SELECT d.doc_id, min(d.since) FROM doc_scopes d
             WHERE d.current AND d.key = ANY($1) AND d.doc_id IN (
                 SELECT doc_id FROM doc_scopes WHERE current AND key = ANY($1) AND since > $2)
             GROUP BY d.doc_id HAVING min(d.since) > $2",
            &[keys, &(after as i64)],
        )? {
            entered.insert(r.try_get(0)?, r.try_get::<_, i64>(1)?.max(0) as u64);
        }
    }
    let mut order: Vec<String> = Vec::new();
    let mut by_doc: HashMap<String, Vec<serde_bytes::ByteBuf>> = HashMap::new();
    let mut add = |doc: &str, actor: &[u8], bytes: Vec<u8>, page: &mut Page| {
        if actor == skip_actor {
            return;
        }
        page.bytes += bytes.len();
        by_doc
            .entry(doc.to_string())
            .or_insert_with(|| {
                order.push(doc.to_string());
                Vec::new()
            })
            .push(serde_bytes::ByteBuf::from(bytes));
    };
    let mut from = after as i64;
    'chunks: loop {
        let rows = match &keys {
            None => cx.query(
                "SELECT seq, doc_id, actor, bytes FROM changes
                 WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
                &[&from, &(head as i64), &CHUNK],
            )?,
            Some(keys) => cx.query(
                "SELECT seq, doc_id, actor, bytes FROM changes
                 WHERE seq > $1 AND seq <= $2 AND EXISTS (
                     SELECT 1 FROM doc_scopes s WHERE s.doc_id = changes.doc_id
                         AND s.current AND s.key = ANY($4))
                 ORDER BY seq LIMIT $3",
                &[&from, &(head as i64), &CHUNK, keys],
            )?,
        };
        let last_chunk = (rows.len() as i64) < CHUNK;
        for r in &rows {
            let seq: i64 = r.try_get(0)?;
            from = seq;
            let seq = seq.max(0) as u64;
            let doc: String = r.try_get(1)?;
            match entered.get(&doc) {
                Some(&since) if seq < since => {}
                Some(&since) if seq == since => {
                    for w in cx.query(
                        "SELECT actor, bytes FROM changes
                         WHERE doc_id = $1 AND seq <= $2 ORDER BY seq",
                        &[&doc, &(seq as i64)],
                    )? {
                        add(&doc, w.try_get(0)?, w.try_get(1)?, &mut page);
                    }
                }
                _ => add(&doc, r.try_get(2)?, r.try_get(3)?, &mut page),
            }
            if page.bytes >= max_bytes && seq < head {
                page.cursor = seq;
                page.more = true;
                break 'chunks;
            }
        }
        if last_chunk {
            break;
        }
    }
    page.docs = order
        .into_iter()
        .filter_map(|id| {
            let changes = by_doc.remove(&id)?;
            Some(PulledDoc { id, changes })
        })
        .collect();
    Ok(page)
}
