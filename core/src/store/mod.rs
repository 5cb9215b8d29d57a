//! The device's store: one SQLite file holding Automerge documents (snapshot + incremental
//! changes) and the projection tables the UI lists from.
//!
//! Every user action runs in one [`Txn`]: the Automerge change rows, the document rows and
//! the projections are written in a single SQLite transaction with `synchronous=FULL`, so
//! when the call returns the action survives a killed process or a power cut.

pub mod blobs;
mod cases;
mod changes;
mod inspections;
mod projection;
mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use automerge::{ActorId, AutoCommit, Change, ChangeHash, transaction::CommitOptions};
use rusqlite::{OptionalExtension, params};

pub use cases::HomeRows;
pub use changes::{ApplyReport, Outbound, OutboxEntry};

use crate::clock::{Clock, SystemClock};
use crate::doc::kind_of;
use crate::error::{Error, Result};
use crate::member::Member;
use crate::sync::token::{FileTokenStore, TokenStore, Tokens};
use projection::SearchIndex;

/// What a document holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocKind {
    Case,
    Inspection,
}

impl DocKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Case => "case",
            DocKind::Inspection => "inspection",
        }
    }

    pub fn parse(s: &str) -> Option<DocKind> {
        match s {
            "case" => Some(DocKind::Case),
            "inspection" => Some(DocKind::Inspection),
            _ => None,
        }
    }
}

/// A document is compacted into a fresh snapshot once this many change rows pile up.
const COMPACT_AFTER: i64 = 64;
/// Loaded documents kept in memory, so a burst of edits on one case does not reload it.
/// Few: a document with a long timeline takes a lot more memory loaded than stored.
const CACHE_DOCS: usize = 32;

pub struct Store {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
    path: PathBuf,
    /// Where the device token lives: never in the database (`sync/token.rs`).
    pub(crate) tokens: Tokens,
}

struct Inner {
    conn: rusqlite::Connection,
    actor: ActorId,
    member: Option<Member>,
    cache: DocCache,
}

impl Store {
    /// Opens (or creates) the store at `path`. A file that is not an Outpost store is left
    /// untouched and reported as [`Error::NotAStore`].
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with_clock(path, Arc::new(SystemClock))
    }

    /// Opens the store with its device token kept in `<path>.token`, a file only this user
    /// may read ([`FileTokenStore`]).
    pub fn open_with_clock(path: impl AsRef<Path>, clock: Arc<dyn Clock>) -> Result<Store> {
        let tokens = Arc::new(FileTokenStore::beside(path.as_ref()));
        Store::open_with(path, clock, tokens)
    }

    /// Opens the store with the device token kept by `tokens` (the platform's Keystore or
    /// Keychain). A token an older version left in the database moves there now.
    pub fn open_with_token_store(
        path: impl AsRef<Path>,
        tokens: Arc<dyn TokenStore>,
    ) -> Result<Store> {
        Store::open_with(path, Arc::new(SystemClock), tokens)
    }

    pub fn open_with(
        path: impl AsRef<Path>,
        clock: Arc<dyn Clock>,
        tokens: Arc<dyn TokenStore>,
    ) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let conn = schema::open(&path)?;
        let actor = match conn
            .query_row("SELECT value FROM meta WHERE key = 'actor'", [], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .optional()?
        {
            Some(bytes) if bytes.len() == 16 => ActorId::from(bytes),
            Some(_) => return Err(Error::Corrupt("the device actor id is damaged".into())),
            None => {
                let bytes = uuid::Uuid::new_v4().as_bytes().to_vec();
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('actor', ?1)",
                    [&bytes],
                )?;
                ActorId::from(bytes)
            }
        };
        let member = match conn
            .query_row("SELECT value FROM meta WHERE key = 'member'", [], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .optional()?
        {
            Some(json) => Some(
                serde_json::from_slice(&json)
                    .map_err(|e| Error::Corrupt(format!("stored member: {e}")))?,
            ),
            None => None,
        };
        let store = Store {
            inner: Mutex::new(Inner {
                conn,
                actor,
                member,
                cache: DocCache::default(),
            }),
            clock,
            path,
            tokens: Tokens::new(tokens),
        };
        store.install_builtin_templates()?;
        // Best effort: if the token store cannot take it now (a locked Keychain), the token
        // stays where it was and moves on the next read.
        let _ = store.move_token_out_of_database();
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This device's Automerge actor id, hex. Every change made here carries it.
    pub fn actor_id(&self) -> Result<String> {
        Ok(self.lock()?.actor.to_hex_string())
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Sets who is using the device (from enrollment, or locally until sync supplies it).
    pub fn set_member(&self, m: &Member) -> Result<()> {
        m.validate()?;
        let mut inner = self.lock()?;
        let json = serde_json::to_vec(m).map_err(|e| Error::Storage(e.to_string()))?;
        inner.conn.execute(
            "INSERT INTO meta(key, value) VALUES ('member', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [&json],
        )?;
        inner.member = Some(m.clone());
        Ok(())
    }

    pub fn member(&self) -> Result<Option<Member>> {
        Ok(self.lock()?.member.clone())
    }

    /// Runs SQLite's full integrity check; `Err(Corrupt)` lists what is wrong.
    pub fn check_integrity(&self) -> Result<()> {
        let inner = self.lock()?;
        let mut stmt = inner.conn.prepare("PRAGMA integrity_check")?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if rows == ["ok"] {
            Ok(())
        } else {
            Err(Error::Corrupt(rows.join("; ")))
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>> {
        // A panic while holding the lock leaves SQLite consistent (its transaction rolls
        // back), but the document cache may be ahead of it: drop the cache and go on.
        Ok(self.inner.lock().unwrap_or_else(|poisoned| {
            let mut g = poisoned.into_inner();
            g.cache = DocCache::default();
            g
        }))
    }

    /// Runs `f` in one SQLite transaction; documents it touched enter the cache only if the
    /// transaction commits.
    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut Txn<'_>) -> Result<R>) -> Result<R> {
        let now = self.now();
        let mut guard = self.lock()?;
        let Inner {
            conn,
            actor,
            member,
            cache,
        } = &mut *guard;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut txn = Txn {
            tx,
            cache,
            actor,
            member: member.as_ref(),
            touched: HashMap::new(),
            search: SearchIndex::default(),
            now,
        };
        let out = f(&mut txn)?;
        let Txn {
            tx,
            cache,
            touched,
            mut search,
            ..
        } = txn;
        search.flush(&tx)?;
        tx.commit()?;
        for (id, (kind, doc)) in touched {
            cache.put(id, kind, doc);
        }
        Ok(out)
    }

    /// Reads a document through the cache without writing anything.
    pub(crate) fn read<R>(
        &self,
        id: &str,
        f: impl FnOnce(Option<DocKind>, &mut AutoCommit) -> Result<R>,
    ) -> Result<R> {
        let mut guard = self.lock()?;
        let Inner {
            conn, actor, cache, ..
        } = &mut *guard;
        let (kind, mut doc) = match cache.take(id) {
            Some(d) => d,
            None => load_doc(conn, id, actor)?.ok_or_else(|| Error::NotFound {
                kind: "document",
                id: id.to_string(),
            })?,
        };
        let out = f(kind, &mut doc);
        cache.put(id.to_string(), kind, doc);
        out
    }

    pub(crate) fn with_conn<R>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<R>,
    ) -> Result<R> {
        let guard = self.lock()?;
        f(&guard.conn)
    }

    /// Like [`Store::with_conn`], with a loader for documents that bypasses the cache.
    pub(crate) fn with_loader<R>(
        &self,
        f: impl FnOnce(&rusqlite::Connection, &dyn Fn(&str) -> Result<Option<AutoCommit>>) -> Result<R>,
    ) -> Result<R> {
        let guard = self.lock()?;
        let conn = &guard.conn;
        let load = |id: &str| Ok(load_doc(conn, id, &guard.actor)?.map(|(_, d)| d));
        f(conn, &load)
    }
}

/// One user action's transaction.
pub(crate) struct Txn<'a> {
    tx: rusqlite::Transaction<'a>,
    cache: &'a mut DocCache,
    actor: &'a ActorId,
    member: Option<&'a Member>,
    touched: HashMap<String, (Option<DocKind>, AutoCommit)>,
    /// Cases to (re)index for search when the transaction ends.
    search: SearchIndex,
    now: i64,
}

impl<'a> Txn<'a> {
    pub fn now(&self) -> i64 {
        self.now
    }

    pub fn member(&self) -> Result<Member> {
        self.member.cloned().ok_or(Error::NoMember)
    }

    pub fn conn(&self) -> &rusqlite::Connection {
        &self.tx
    }

    /// A new, empty document owned by this device's actor.
    pub fn create(&mut self, id: &str, kind: DocKind) -> &mut AutoCommit {
        let doc = AutoCommit::new().with_actor(self.actor.clone());
        &mut self
            .touched
            .entry(id.to_string())
            .insert_entry((Some(kind), doc))
            .into_mut()
            .1
    }

    /// The document `id`, loaded once per transaction. `None` if this device does not have it.
    pub fn doc(&mut self, id: &str) -> Result<Option<&mut AutoCommit>> {
        if !self.touched.contains_key(id) {
            let loaded = match self.cache.take(id) {
                Some(d) => Some(d),
                None => load_doc(&self.tx, id, self.actor)?,
            };
            match loaded {
                Some(d) => {
                    self.touched.insert(id.to_string(), d);
                }
                None => return Ok(None),
            }
        }
        Ok(self.touched.get_mut(id).map(|(_, d)| d))
    }

    pub fn doc_or_new(&mut self, id: &str) -> Result<&mut AutoCommit> {
        if self.doc(id)?.is_none() {
            let doc = AutoCommit::new().with_actor(self.actor.clone());
            self.touched.insert(id.to_string(), (None, doc));
        }
        self.doc(id)?
            .ok_or_else(|| Error::Storage("document vanished inside a transaction".into()))
    }

    /// Commits the pending local edits of `id` as one Automerge change and stores it, raw
    /// (uncompressed): it is sent as it is, and compaction into a snapshot compresses.
    pub fn commit_local(&mut self, id: &str) -> Result<()> {
        let now = self.now;
        let Some((kind, doc)) = self.touched.get_mut(id) else {
            return Err(Error::Storage(format!(
                "document {id} was not opened in this transaction"
            )));
        };
        // Automerge change times are seconds since the epoch (its JavaScript library reads
        // them so); our own timestamps inside documents stay milliseconds.
        let options = CommitOptions::default().with_time(now.div_euclid(1000));
        if doc.commit_with(options).is_none() {
            return Ok(());
        }
        let change = doc
            .get_last_local_change()
            .ok_or_else(|| Error::Storage("the change just made is missing".into()))?;
        let row = (change.hash(), change.raw_bytes().to_vec());
        let at = Persist {
            now,
            follow_server: false,
        };
        persist(&self.tx, &mut self.search, id, kind, doc, &[row], at)
    }

    /// Stores changes received from elsewhere, raw. Returns how many were new.
    pub fn apply_remote(&mut self, id: &str, changes: Vec<Change>) -> Result<usize> {
        self.apply(id, changes, false)
    }

    /// Stores changes the server sent. A document with nothing unacknowledged stays so:
    /// what the server sent is on the server.
    pub fn apply_pulled(&mut self, id: &str, changes: Vec<Change>) -> Result<usize> {
        self.apply(id, changes, true)
    }

    fn apply(&mut self, id: &str, changes: Vec<Change>, follow_server: bool) -> Result<usize> {
        let now = self.now;
        self.doc_or_new(id)?;
        let Some((kind, doc)) = self.touched.get_mut(id) else {
            return Err(Error::Storage(format!(
                "document {id} was not opened in this transaction"
            )));
        };
        let mut seen = std::collections::HashSet::new();
        let mut fresh = Vec::new();
        let mut rows = Vec::new();
        for c in changes {
            let hash = c.hash();
            if doc.get_change_meta_by_hash(&hash).is_none() && seen.insert(hash) {
                rows.push((hash, c.raw_bytes().to_vec()));
                fresh.push(c);
            }
        }
        if fresh.is_empty() {
            return Ok(0);
        }
        doc.apply_changes(fresh).map_err(|e| Error::BadChange {
            id: id.to_string(),
            reason: e.to_string(),
        })?;
        if kind.is_none() {
            *kind = kind_of(doc).as_deref().and_then(DocKind::parse);
        }
        let at = Persist { now, follow_server };
        persist(&self.tx, &mut self.search, id, kind, doc, &rows, at)?;
        Ok(rows.len())
    }

    /// What document `id` holds, if it was opened in this transaction.
    pub fn kind(&self, id: &str) -> Option<DocKind> {
        self.touched.get(id).and_then(|(k, _)| *k)
    }

    /// Lets go of document `id` for the rest of the transaction: what was written stays,
    /// but the loaded document is dropped now instead of entering the cache at commit, so
    /// a reply bringing thousands of documents holds one at a time.
    pub fn release(&mut self, id: &str) {
        self.touched.remove(id);
    }
}

/// When and how [`persist`] writes.
#[derive(Clone, Copy)]
struct Persist {
    now: i64,
    /// The changes came from the server: a document whose heads the server had
    /// acknowledged stays acknowledged.
    follow_server: bool,
}

/// After new changes: the document row (heads, priority, acknowledged heads), the change
/// rows, compaction and projections, all in the caller's transaction.
fn persist(
    conn: &rusqlite::Connection,
    search: &mut SearchIndex,
    id: &str,
    kind: &mut Option<DocKind>,
    doc: &mut AutoCommit,
    rows: &[(ChangeHash, Vec<u8>)],
    at: Persist,
) -> Result<()> {
    let heads = encode_heads(&doc.get_heads());
    let priority = match kind {
        Some(k) => projection::project(conn, search, *k, id, doc)?,
        None => 9,
    };
    let pending: i64 = conn
        .prepare_cached(
            "INSERT INTO documents(id, kind, snapshot, pending, heads, synced_heads, priority,
                 updated_at)
             VALUES (?1, ?2, x'', ?4, ?3, CASE WHEN ?7 THEN ?3 ELSE x'' END, ?5, ?6)
             ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, heads = excluded.heads,
                 pending = pending + excluded.pending, priority = excluded.priority,
                 updated_at = excluded.updated_at,
                 synced_heads = CASE WHEN ?7 AND heads = synced_heads THEN excluded.heads
                                     ELSE synced_heads END
             RETURNING pending",
        )?
        .query_row(
            params![
                id,
                kind.map(DocKind::as_str),
                heads,
                rows.len() as i64,
                priority,
                at.now,
                at.follow_server
            ],
            |r| r.get(0),
        )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO changes(doc_id, hash, bytes) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
    )?;
    for (hash, bytes) in rows {
        insert.execute(params![id, hash.0.as_slice(), bytes])?;
    }
    // Changes still waiting for their dependencies are not in a snapshot: keep their rows.
    if pending >= COMPACT_AFTER && doc.get_missing_deps(&[]).is_empty() {
        let snapshot = doc.save();
        conn.execute(
            "UPDATE documents SET snapshot = ?2, pending = 0 WHERE id = ?1",
            params![id, snapshot],
        )?;
        conn.execute("DELETE FROM changes WHERE doc_id = ?1", [id])?;
    }
    Ok(())
}

fn load_doc(
    conn: &rusqlite::Connection,
    id: &str,
    actor: &ActorId,
) -> Result<Option<(Option<DocKind>, AutoCommit)>> {
    let row: Option<(Option<String>, Vec<u8>)> = conn
        .prepare_cached("SELECT kind, snapshot FROM documents WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((kind, snapshot)) = row else {
        return Ok(None);
    };
    let damaged = |e: &dyn std::fmt::Display| Error::Corrupt(format!("document {id}: {e}"));
    let mut doc = if snapshot.is_empty() {
        AutoCommit::new()
    } else {
        AutoCommit::load(&snapshot).map_err(|e| damaged(&e))?
    };
    let mut stmt =
        conn.prepare_cached("SELECT bytes FROM changes WHERE doc_id = ?1 ORDER BY seq")?;
    let rows = stmt.query_map([id], |r| r.get::<_, Vec<u8>>(0))?;
    let mut changes = Vec::new();
    for bytes in rows {
        changes.push(Change::from_bytes(bytes?).map_err(|e| damaged(&e))?);
    }
    doc.apply_changes(changes).map_err(|e| damaged(&e))?;
    doc.set_actor(actor.clone());
    Ok(Some((kind.as_deref().and_then(DocKind::parse), doc)))
}

pub(crate) fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    let mut sorted = heads.to_vec();
    sorted.sort();
    sorted.iter().flat_map(|h| h.0).collect()
}

pub(crate) fn decode_heads(bytes: &[u8]) -> Result<Vec<ChangeHash>> {
    if !bytes.len().is_multiple_of(32) {
        return Err(Error::Corrupt("stored heads are damaged".into()));
    }
    bytes
        .chunks(32)
        .map(|c| {
            ChangeHash::try_from(c).map_err(|_| Error::Corrupt("stored heads are damaged".into()))
        })
        .collect()
}

#[derive(Default)]
struct DocCache {
    docs: HashMap<String, (u64, Option<DocKind>, AutoCommit)>,
    tick: u64,
}

impl DocCache {
    fn take(&mut self, id: &str) -> Option<(Option<DocKind>, AutoCommit)> {
        self.docs.remove(id).map(|(_, k, d)| (k, d))
    }

    fn put(&mut self, id: String, kind: Option<DocKind>, doc: AutoCommit) {
        self.tick += 1;
        if self.docs.len() >= CACHE_DOCS
            && let Some(oldest) = self
                .docs
                .iter()
                .min_by_key(|(_, (t, _, _))| *t)
                .map(|(k, _)| k.clone())
        {
            self.docs.remove(&oldest);
        }
        self.docs.insert(id, (self.tick, kind, doc));
    }
}

/// A fresh time-ordered id (UUIDv7), made offline.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
