//! The embedded backend: one SQLite file in WAL mode. One connection writes (SQLite has one
//! writer anyway); reads take a connection from a small pool.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use automerge::AutoCommit;
use outpost_core::sync::validate::DocView;
use outpost_core::sync::wire::{Ack, GridInfo, GridLevel, PulledDoc, PushDoc, UnitInfo};
use outpost_core::{Role, Template};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{
    CaseRow, DeviceRecord, Directory, EnrollOutcome, MemberEntry, Page, PushCheck, RevokeTarget,
    Scope, Storage, StoreError, StoreResult,
};
use crate::scope::doc_keys;

const MIGRATIONS: &[&str] = &[r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
    INSERT INTO meta(key, value) VALUES ('directory_version', 0);

    CREATE TABLE grids (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, level TEXT NOT NULL, parent TEXT
    ) STRICT;
    CREATE TABLE units (id TEXT PRIMARY KEY, name TEXT NOT NULL) STRICT;
    CREATE TABLE members (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, grids TEXT NOT NULL,
        unit TEXT
    ) STRICT;
    CREATE TABLE templates (
        id TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (id, version)
    ) STRICT;

    -- Codes and tokens are stored as SHA-256 hashes only.
    CREATE TABLE invites (
        code_hash BLOB PRIMARY KEY, member_id TEXT NOT NULL, created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL, used_at INTEGER, device_id TEXT
    ) STRICT;
    CREATE TABLE devices (
        id TEXT PRIMARY KEY, member_id TEXT NOT NULL, actor TEXT NOT NULL,
        token_hash BLOB NOT NULL UNIQUE, name TEXT NOT NULL, created_at INTEGER NOT NULL,
        revoked_at INTEGER
    ) STRICT;
    CREATE INDEX devices_actor ON devices(actor) WHERE revoked_at IS NULL;

    -- The feed: one row per change; seq is the feed position.
    CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        doc_id TEXT NOT NULL,
        hash BLOB NOT NULL,
        actor BLOB NOT NULL,
        bytes BLOB NOT NULL,
        UNIQUE (doc_id, hash)
    ) STRICT;

    -- Current state of every document, with the fields the workstation lists and counts.
    CREATE TABLE docs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        snapshot BLOB NOT NULL,
        grid_id TEXT NOT NULL,
        category TEXT,
        urgency TEXT,
        urgency_rank INTEGER,
        status TEXT NOT NULL,
        is_open INTEGER NOT NULL,
        title TEXT NOT NULL,
        reporter_id TEXT NOT NULL,
        assigned_unit TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        accepted_at INTEGER,
        resolved_at INTEGER,
        deadline INTEGER,
        satisfaction INTEGER
    ) STRICT;
    CREATE INDEX docs_grid ON docs(kind, grid_id);

    -- Who may see a document: keys like g:<grid>, r:<reporter>, u:<unit>. `since` is the
    -- feed position at which the key (last) became current: a device that gains a document
    -- then receives its whole history.
    CREATE TABLE doc_scopes (
        doc_id TEXT NOT NULL, key TEXT NOT NULL, since INTEGER NOT NULL, current INTEGER NOT NULL,
        PRIMARY KEY (doc_id, key)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX doc_scopes_key ON doc_scopes(key, current, since);
"#];

pub struct SqliteStorage {
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    path: std::path::PathBuf,
}

/// Readers kept open between requests: opening one costs far more than a query.
const POOL: usize = 32;

/// Every connection of this backend comes from the one SQLite opening helper (FULL
/// synchronous: a change the server acknowledged survives a power cut).
fn open(path: &Path) -> StoreResult<Connection> {
    crate::open::open_sqlite(path)
}

impl SqliteStorage {
    pub fn open(path: impl AsRef<Path>) -> StoreResult<SqliteStorage> {
        let path = path.as_ref().to_path_buf();
        let conn = open(&path)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > MIGRATIONS.len() as i64 {
            return Err(StoreError::Invalid(format!(
                "{} was written by a newer server (schema {version})",
                path.display()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(sql)?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
            tx.commit()?;
        }
        Ok(SqliteStorage {
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            path,
        })
    }

    fn write<R>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<R>,
    ) -> StoreResult<R> {
        // A panic while writing rolled its transaction back; the connection is fine.
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    fn read<R>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<R>,
    ) -> StoreResult<R> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => open(&self.path)?,
        };
        // One read transaction: every query of `f` sees the same snapshot.
        let out = {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let out = f(&tx);
            tx.finish()?;
            out
        };
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < POOL {
            pool.push(conn);
        }
        out
    }
}

fn bump_version(tx: &Connection) -> StoreResult<i64> {
    Ok(tx.query_row(
        "UPDATE meta SET value = value + 1 WHERE key = 'directory_version' RETURNING value",
        [],
        |r| r.get(0),
    )?)
}

fn head_of(c: &Connection) -> StoreResult<u64> {
    let h: i64 = c
        .prepare_cached("SELECT coalesce(max(seq), 0) FROM changes")?
        .query_row([], |r| r.get(0))?;
    Ok(h as u64)
}

impl Storage for SqliteStorage {
    fn ping(&self) -> StoreResult<()> {
        self.read(|c| {
            c.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
    }

    fn directory(&self) -> StoreResult<Directory> {
        self.read(|c| {
            let version = c.query_row(
                "SELECT value FROM meta WHERE key = 'directory_version'",
                [],
                |r| r.get(0),
            )?;
            let mut grids = Vec::new();
            let mut stmt = c.prepare("SELECT id, name, level, parent FROM grids ORDER BY id")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let level: String = r.get(2)?;
                grids.push(GridInfo {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    level: GridLevel::parse(&level)
                        .ok_or_else(|| StoreError::Corrupt(format!("grid level {level}")))?,
                    parent: r.get(3)?,
                });
            }
            let mut stmt = c.prepare("SELECT id, name FROM units ORDER BY id")?;
            let units = stmt
                .query_map([], |r| {
                    Ok(UnitInfo {
                        id: r.get(0)?,
                        name: r.get(1)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut members = Vec::new();
            let mut stmt = c.prepare("SELECT id, name, role, grids, unit FROM members ORDER BY id")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let role: String = r.get(2)?;
                let grids: String = r.get(3)?;
                members.push(MemberEntry {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    role: Role::parse(&role).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    grids: serde_json::from_str(&grids)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    unit: r.get(4)?,
                });
            }
            let mut stmt = c.prepare(
                "SELECT body FROM templates t WHERE version = (SELECT max(version) FROM templates WHERE id = t.id) ORDER BY id",
            )?;
            let bodies = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let templates = bodies
                .iter()
                .map(|b| Template::from_json(b).map_err(|e| StoreError::Corrupt(e.to_string())))
                .collect::<StoreResult<Vec<_>>>()?;
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
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT value FROM meta WHERE key = 'directory_version'")?
                    .query_row([], |r| r.get(0))?,
            )
        })
    }

    fn import_directory(&self, d: &Directory) -> StoreResult<i64> {
        self.write(|tx| {
            for g in &d.grids {
                tx.execute(
                    "INSERT INTO grids(id, name, level, parent) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(id) DO UPDATE SET name = excluded.name, level = excluded.level,
                         parent = excluded.parent",
                    params![g.id, g.name, g.level.as_str(), g.parent],
                )?;
            }
            for u in &d.units {
                tx.execute(
                    "INSERT INTO units(id, name) VALUES (?1, ?2)
                     ON CONFLICT(id) DO UPDATE SET name = excluded.name",
                    params![u.id, u.name],
                )?;
            }
            for m in &d.members {
                let grids = serde_json::to_string(&m.grids)
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                tx.execute(
                    "INSERT INTO members(id, name, role, grids, unit) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(id) DO UPDATE SET name = excluded.name, role = excluded.role,
                         grids = excluded.grids, unit = excluded.unit",
                    params![m.id, m.name, m.role.as_str(), grids, m.unit],
                )?;
            }
            for t in &d.templates {
                tx.execute(
                    "INSERT INTO templates(id, version, body) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                    params![t.id, t.version, t.to_json()],
                )?;
            }
            bump_version(tx)
        })
    }

    fn create_invite(
        &self,
        code_hash: &[u8],
        member_id: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.write(|tx| {
            let exists: bool = tx.query_row(
                "SELECT count(*) > 0 FROM members WHERE id = ?1",
                [member_id],
                |r| r.get(0),
            )?;
            if !exists {
                return Err(StoreError::Invalid(format!("no member {member_id}")));
            }
            tx.execute(
                "INSERT INTO invites(code_hash, member_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![code_hash, member_id, now, expires_at],
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
        self.write(|tx| {
            let member: Option<String> = tx
                .query_row(
                    "SELECT i.member_id FROM invites i JOIN members m ON m.id = i.member_id
                     WHERE i.code_hash = ?1 AND i.used_at IS NULL AND i.expires_at > ?2",
                    params![code_hash, now],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(member_id) = member else {
                return Ok(EnrollOutcome::BadCode);
            };
            let taken: bool = tx.query_row(
                "SELECT count(*) > 0 FROM devices WHERE actor = ?1 AND revoked_at IS NULL",
                [actor],
                |r| r.get(0),
            )?;
            if taken {
                return Ok(EnrollOutcome::ActorInUse);
            }
            let device_id = uuid::Uuid::now_v7().to_string();
            tx.execute(
                "INSERT INTO devices(id, member_id, actor, token_hash, name, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![device_id, member_id, actor, token_hash, device_name, now],
            )?;
            tx.execute(
                "UPDATE invites SET used_at = ?2, device_id = ?3 WHERE code_hash = ?1",
                params![code_hash, now, device_id],
            )?;
            Ok(EnrollOutcome::Enrolled {
                device_id,
                member_id,
            })
        })
    }

    fn invite_member(&self, code_hash: &[u8]) -> StoreResult<Option<String>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT member_id FROM invites WHERE code_hash = ?1")?
                    .query_row([code_hash], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    fn device_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<DeviceRecord>> {
        self.read(|c| {
            Ok(c
                .prepare_cached(
                    "SELECT id, member_id, actor, name, created_at, revoked_at FROM devices WHERE token_hash = ?1",
                )?
                .query_row([token_hash], device_row)
                .optional()?)
        })
    }

    fn devices(&self) -> StoreResult<Vec<DeviceRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, member_id, actor, name, created_at, revoked_at FROM devices ORDER BY created_at, id",
            )?;
            let rows = stmt
                .query_map([], device_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    fn revoke(&self, target: RevokeTarget<'_>, now: i64) -> StoreResult<usize> {
        self.write(|tx| {
            let n = match target {
                RevokeTarget::Device(id) => tx.execute(
                    "UPDATE devices SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    params![id, now],
                )?,
                RevokeTarget::Member(id) => {
                    // Unused invites of the member go too.
                    tx.execute(
                        "UPDATE invites SET used_at = ?2 WHERE member_id = ?1 AND used_at IS NULL",
                        params![id, now],
                    )?;
                    tx.execute(
                        "UPDATE devices SET revoked_at = ?2 WHERE member_id = ?1 AND revoked_at IS NULL",
                        params![id, now],
                    )?
                }
            };
            Ok(n)
        })
    }

    fn push(&self, docs: &[PushDoc], check: &PushCheck<'_>, now: i64) -> StoreResult<Vec<Ack>> {
        self.write(|tx| {
            let mut acks = Vec::with_capacity(docs.len());
            for d in docs {
                let snapshot: Option<Vec<u8>> = tx
                    .query_row("SELECT snapshot FROM docs WHERE id = ?1", [&d.id], |r| {
                        r.get(0)
                    })
                    .optional()?;
                let existing = match snapshot {
                    Some(s) => Some(
                        AutoCommit::load(&s)
                            .map_err(|e| StoreError::Corrupt(format!("document {}: {e}", d.id)))?,
                    ),
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
                        if stored > 0 {
                            store_doc(tx, &d.id, &mut accepted, now)?;
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
            Ok(acks)
        })
    }

    fn pull(
        &self,
        scope: &Scope,
        after: u64,
        max_bytes: usize,
        skip_actor: &[u8],
    ) -> StoreResult<Page> {
        self.read(|c| pull_page(c, scope, after, max_bytes, skip_actor))
    }

    fn head(&self) -> StoreResult<u64> {
        self.read(|c| head_of(c))
    }

    fn cases(&self, grids: Option<&[String]>) -> StoreResult<Vec<CaseRow>> {
        self.read(|c| {
            let (filter, args): (String, Vec<String>) = match grids {
                None => ("1".into(), Vec::new()),
                Some(g) => (
                    format!("grid_id IN ({})", placeholders(g.len())),
                    g.to_vec(),
                ),
            };
            let sql = format!(
                "SELECT id, grid_id, category, urgency, urgency_rank, status, is_open, title,
                        reporter_id, assigned_unit, created_at, updated_at, accepted_at,
                        resolved_at, deadline, satisfaction
                 FROM docs WHERE kind = 'case' AND {filter} ORDER BY created_at, id"
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args), |r| {
                    Ok(CaseRow {
                        id: r.get(0)?,
                        grid_id: r.get(1)?,
                        category: r.get(2)?,
                        urgency: r.get(3)?,
                        urgency_rank: r.get(4)?,
                        status: r.get(5)?,
                        is_open: r.get(6)?,
                        title: r.get(7)?,
                        reporter_id: r.get(8)?,
                        assigned_unit: r.get(9)?,
                        created_at: r.get(10)?,
                        updated_at: r.get(11)?,
                        accepted_at: r.get(12)?,
                        resolved_at: r.get(13)?,
                        deadline: r.get(14)?,
                        satisfaction: r.get(15)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    fn change_count(&self, doc_id: Option<&str>) -> StoreResult<u64> {
        self.read(|c| {
            let n: i64 = c.query_row(
                "SELECT count(*) FROM changes WHERE ?1 IS NULL OR doc_id = ?1",
                [doc_id],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })
    }
}

fn device_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRecord> {
    Ok(DeviceRecord {
        id: r.get(0)?,
        member_id: r.get(1)?,
        actor: r.get(2)?,
        name: r.get(3)?,
        created_at: r.get(4)?,
        revoked_at: r.get(5)?,
    })
}

fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Writes an accepted document: its new change rows (feed positions), its snapshot and
/// projection, and its scope keys.
fn store_doc(
    tx: &Connection,
    id: &str,
    accepted: &mut outpost_core::sync::validate::Accepted,
    now: i64,
) -> StoreResult<()> {
    let mut last = 0i64;
    {
        let mut ins = tx.prepare_cached(
            "INSERT INTO changes(doc_id, hash, actor, bytes) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING RETURNING seq",
        )?;
        for (hash, bytes) in &accepted.fresh {
            let actor = automerge::Change::try_from(bytes.as_slice())
                .map(|c| c.actor_id().to_bytes().to_vec())
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if let Some(seq) = ins
                .query_row(params![id, hash.0.as_slice(), actor, bytes], |r| {
                    r.get::<_, i64>(0)
                })
                .optional()?
            {
                last = seq;
            }
        }
    }
    // Uncompressed: setting up DEFLATE for each column of each pushed document cost more
    // than the rest of storing it.
    let snapshot = accepted.doc.save_with_options(automerge::SaveOptions {
        deflate: false,
        retain_orphans: true,
    });
    let p = Projection::of(&accepted.view, now);
    tx.prepare_cached(
        "INSERT INTO docs(id, kind, snapshot, grid_id, category, urgency, urgency_rank, status,
             is_open, title, reporter_id, assigned_unit, created_at, updated_at, accepted_at,
             resolved_at, deadline, satisfaction)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
         ON CONFLICT(id) DO UPDATE SET snapshot = excluded.snapshot, grid_id = excluded.grid_id,
             category = excluded.category, urgency = excluded.urgency,
             urgency_rank = excluded.urgency_rank, status = excluded.status,
             is_open = excluded.is_open, title = excluded.title,
             assigned_unit = excluded.assigned_unit, updated_at = excluded.updated_at,
             accepted_at = excluded.accepted_at, resolved_at = excluded.resolved_at,
             deadline = excluded.deadline, satisfaction = excluded.satisfaction",
    )?
    .execute(params![
        id,
        accepted.view.kind().as_str(),
        snapshot,
        p.grid_id,
        p.category,
        p.urgency,
        p.urgency_rank,
        p.status,
        p.is_open,
        p.title,
        p.reporter_id,
        p.assigned_unit,
        p.created_at,
        p.updated_at,
        p.accepted_at,
        p.resolved_at,
        p.deadline,
        p.satisfaction
    ])?;
    if last == 0 {
        return Ok(());
    }
    let keys = doc_keys(&accepted.view);
    let mut current: HashMap<String, bool> = HashMap::new();
    {
        let mut stmt =
            tx.prepare_cached("SELECT key, current FROM doc_scopes WHERE doc_id = ?1")?;
        let mut rows = stmt.query([id])?;
        while let Some(r) = rows.next()? {
            current.insert(r.get(0)?, r.get(1)?);
        }
    }
    for k in &keys {
        if current.get(k) != Some(&true) {
            tx.prepare_cached(
                "INSERT INTO doc_scopes(doc_id, key, since, current) VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT(doc_id, key) DO UPDATE SET since = excluded.since, current = 1",
            )?
            .execute(params![id, k, last])?;
        }
    }
    for (k, cur) in &current {
        if *cur && !keys.contains(k) {
            tx.prepare_cached("UPDATE doc_scopes SET current = 0 WHERE doc_id = ?1 AND key = ?2")?
                .execute(params![id, k])?;
        }
    }
    Ok(())
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

/// One page of the feed for `scope` after position `after` (see `Storage::pull`).
fn pull_page(
    c: &Connection,
    scope: &Scope,
    after: u64,
    max_bytes: usize,
    skip_actor: &[u8],
) -> StoreResult<Page> {
    let head = head_of(c)?;
    // A cursor beyond the feed (a restored backup, another server) starts over.
    let after = if after > head { 0 } else { after };
    let mut page = Page {
        cursor: head,
        ..Page::default()
    };
    if after >= head {
        return Ok(page);
    }
    // Documents that entered the scope after the cursor, and where: they come whole there.
    let mut entered: HashMap<String, u64> = HashMap::new();
    let (in_scope, keys): (String, Vec<String>) = match scope {
        Scope::All => ("1".into(), Vec::new()),
        Scope::Keys(keys) if keys.is_empty() => return Ok(page),
        Scope::Keys(keys) => {
            let ph = placeholders(keys.len());
            // Only documents with a key that became current after the cursor can have
            // entered; the index on (key, current, since) finds them without a scan of the
            // whole scope. Of those, the ones visible before the cursor through another key
            // did not enter.
            let sql = format!(
                "SELECT d.doc_id, min(d.since) FROM doc_scopes d
                 WHERE d.current = 1 AND d.key IN ({ph}) AND d.doc_id IN (
                     SELECT doc_id FROM doc_scopes
                     WHERE current = 1 AND key IN ({ph}) AND since > ?{n1})
                 GROUP BY d.doc_id HAVING min(d.since) > ?{n1}",
                n1 = keys.len() + 1
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let mut args: Vec<rusqlite::types::Value> =
                keys.iter().map(|k| k.clone().into()).collect();
            args.push((after as i64).into());
            let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
            while let Some(r) = rows.next()? {
                entered.insert(r.get(0)?, r.get::<_, i64>(1)? as u64);
            }
            // Checked per change row on the (doc_id, key) key: a sync after a few new
            // changes costs a few lookups, not a pass over everything in scope.
            (
                format!(
                    "EXISTS (SELECT 1 FROM doc_scopes s WHERE s.doc_id = changes.doc_id
                         AND s.current = 1 AND s.key IN ({ph}))"
                ),
                keys.clone(),
            )
        }
    };
    let n = keys.len();
    let sql = format!(
        "SELECT seq, doc_id, actor, bytes FROM changes
         WHERE seq > ?{} AND seq <= ?{} AND {in_scope} ORDER BY seq",
        n + 1,
        n + 2
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let mut args: Vec<rusqlite::types::Value> = keys.into_iter().map(Into::into).collect();
    args.push((after as i64).into());
    args.push((head as i64).into());
    let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
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
    while let Some(r) = rows.next()? {
        let seq = r.get::<_, i64>(0)? as u64;
        let doc: String = r.get(1)?;
        match entered.get(&doc) {
            // Comes whole at the position where it entered the scope.
            Some(&since) if seq < since => {}
            Some(&since) if seq == since => {
                let mut whole = c.prepare_cached(
                    "SELECT actor, bytes FROM changes WHERE doc_id = ?1 AND seq <= ?2 ORDER BY seq",
                )?;
                let mut all = whole.query(params![doc, seq as i64])?;
                while let Some(w) = all.next()? {
                    add(&doc, &w.get::<_, Vec<u8>>(0)?, w.get(1)?, &mut page);
                }
            }
            _ => add(&doc, &r.get::<_, Vec<u8>>(2)?, r.get(3)?, &mut page),
        }
        if page.bytes >= max_bytes && seq < head {
            page.cursor = seq;
            page.more = true;
            break;
        }
    }
    drop(rows);
    page.docs = order
        .into_iter()
        .filter_map(|id| {
            let changes = by_doc.remove(&id)?;
            Some(PulledDoc { id, changes })
        })
        .collect();
    Ok(page)
}
