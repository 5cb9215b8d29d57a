//! The console's tables (sessions, sign-in codes, passwords) and the reads it needs beside
//! the storage interface, written once in the shared dialect (`storage/sql.rs`) for both
//! backends. Secrets are stored as SHA-256 hex (codes, session cookies) or argon2 PHC
//! strings (passwords), never as given.

use crate::storage::sql::{Param, Row, Sql};
use crate::storage::{CaseRow, Storage, StoreError, StoreResult};

/// Runs `f` on a reader connection of `s`.
pub fn read<R>(s: &dyn Storage, f: impl FnOnce(&mut dyn Sql) -> StoreResult<R>) -> StoreResult<R> {
    let mut f = Some(f);
    let mut out = None;
    s.read_sql(&mut |db| {
        if let Some(f) = f.take() {
            out = Some(f(db)?);
        }
        Ok(())
    })?;
    out.ok_or_else(|| StoreError::Db("a read ran no statement".into()))
}

/// Runs `f` in one write transaction of `s` (again after a lost race).
pub fn write<R>(
    s: &dyn Storage,
    mut f: impl FnMut(&mut dyn Sql) -> StoreResult<R>,
) -> StoreResult<R> {
    let mut out = None;
    s.write_sql(&mut |db| {
        out = Some(f(db)?);
        Ok(())
    })?;
    out.ok_or_else(|| StoreError::Db("a write ran no statement".into()))
}

/// A console session as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub id: String,
    pub member_id: String,
    /// The Automerge actor (hex) the server writes this session's actions with.
    pub actor: String,
    pub csrf: String,
    pub client: String,
    pub created_at: i64,
    pub seen_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

const SESSION_COLUMNS: &str =
    "id, member_id, actor, csrf, client, created_at, seen_at, expires_at, revoked_at";

fn session_row(r: &mut Row) -> StoreResult<SessionRow> {
    Ok(SessionRow {
        id: r.text(0)?,
        member_id: r.text(1)?,
        actor: r.text(2)?,
        csrf: r.text(3)?,
        client: r.text(4)?,
        created_at: r.int(5)?,
        seen_at: r.int(6)?,
        expires_at: r.int(7)?,
        revoked_at: r.opt_int(8)?,
    })
}

/// What a new session is made of.
pub struct NewSession<'a> {
    pub id: &'a str,
    pub token_hash: &'a str,
    pub member_id: &'a str,
    pub actor: &'a str,
    pub csrf: &'a str,
    pub client: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

pub fn create_session(db: &mut dyn Sql, s: &NewSession<'_>) -> StoreResult<()> {
    db.exec(
        "INSERT INTO console_sessions(id, token_hash, member_id, actor, csrf, client,
             created_at, seen_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
        &[
            s.id.into(),
            s.token_hash.into(),
            s.member_id.into(),
            s.actor.into(),
            s.csrf.into(),
            s.client.into(),
            s.now.into(),
            s.expires_at.into(),
        ],
    )?;
    Ok(())
}

/// The session holding this cookie (revoked or expired or not) and the directory version,
/// in one statement.
pub fn session(db: &mut dyn Sql, token_hash: &str) -> StoreResult<Option<(SessionRow, i64)>> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS}, (SELECT value FROM meta WHERE key = 'directory_version')
         FROM console_sessions WHERE token_hash = ?1"
    );
    let Some(mut r) = db.opt(&sql, &[token_hash.into()])? else {
        return Ok(None);
    };
    let version = r.int(9)?;
    Ok(Some((session_row(&mut r)?, version)))
}

/// Notes that a session was used (at most once a minute, by the caller's choice).
pub fn touch_session(db: &mut dyn Sql, id: &str, now: i64) -> StoreResult<()> {
    db.exec(
        "UPDATE console_sessions SET seen_at = ?2 WHERE id = ?1",
        &[id.into(), now.into()],
    )?;
    Ok(())
}

pub fn sessions(db: &mut dyn Sql) -> StoreResult<Vec<SessionRow>> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM console_sessions ORDER BY created_at, id");
    db.query(&sql, &[])?.iter_mut().map(session_row).collect()
}

/// Whom a revocation names.
pub enum Revoke<'a> {
    Session(&'a str),
    Member(&'a str),
}

/// Revokes sessions (and, for a member, its unused sign-in codes); returns how many
/// sessions were revoked now.
pub fn revoke(db: &mut dyn Sql, who: &Revoke<'_>, now: i64) -> StoreResult<usize> {
    let n = match who {
        Revoke::Session(id) => db.exec(
            "UPDATE console_sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            &[(*id).into(), now.into()],
        )?,
        Revoke::Member(m) => {
            db.exec(
                "UPDATE console_codes SET used_at = ?2 WHERE member_id = ?1 AND used_at IS NULL",
                &[(*m).into(), now.into()],
            )?;
            db.exec(
                "UPDATE console_sessions SET revoked_at = ?2
                 WHERE member_id = ?1 AND revoked_at IS NULL",
                &[(*m).into(), now.into()],
            )?
        }
    };
    Ok(n as usize)
}

pub fn create_code(
    db: &mut dyn Sql,
    code_hash: &str,
    member_id: &str,
    now: i64,
    expires_at: i64,
) -> StoreResult<()> {
    db.exec(
        "INSERT INTO console_codes(code_hash, member_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4)",
        &[
            code_hash.into(),
            member_id.into(),
            now.into(),
            expires_at.into(),
        ],
    )?;
    Ok(())
}

/// What spending a sign-in code found.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeUse {
    /// Spent now, for this member.
    Spent(String),
    /// Issued for this member, but used or expired.
    Stale(String),
    /// Never issued.
    Unknown,
}

/// Spends a one-time sign-in code, atomically.
pub fn spend_code(db: &mut dyn Sql, code_hash: &str, now: i64) -> StoreResult<CodeUse> {
    if let Some(mut r) = db.opt(
        "UPDATE console_codes SET used_at = ?2
         WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2
         RETURNING member_id",
        &[code_hash.into(), now.into()],
    )? {
        return Ok(CodeUse::Spent(r.text(0)?));
    }
    Ok(
        match db.opt(
            "SELECT member_id FROM console_codes WHERE code_hash = ?1",
            &[code_hash.into()],
        )? {
            Some(mut r) => CodeUse::Stale(r.text(0)?),
            None => CodeUse::Unknown,
        },
    )
}

pub fn set_password(db: &mut dyn Sql, member_id: &str, phc: &str, now: i64) -> StoreResult<()> {
    db.exec(
        "INSERT INTO console_passwords(member_id, phc, set_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(member_id) DO UPDATE SET phc = excluded.phc, set_at = excluded.set_at",
        &[member_id.into(), phc.into(), now.into()],
    )?;
    Ok(())
}

pub fn password(db: &mut dyn Sql, member_id: &str) -> StoreResult<Option<String>> {
    match db.opt(
        "SELECT phc FROM console_passwords WHERE member_id = ?1",
        &[member_id.into()],
    )? {
        Some(mut r) => Ok(Some(r.text(0)?)),
        None => Ok(None),
    }
}

/// A stored document's snapshot, for `storage::feed::load_snapshot` (bounded, panic-guarded):
/// the console trusts stored documents no more than the sync does.
pub fn snapshot(db: &mut dyn Sql, id: &str) -> StoreResult<Option<Vec<u8>>> {
    match db.opt(
        "SELECT snapshot FROM doc_states WHERE id = ?1",
        &[id.into()],
    )? {
        Some(mut r) => Ok(Some(r.blob(0)?)),
        None => Ok(None),
    }
}

/// The highest feed position (see `storage::sql::Sql::head_sql`).
pub fn head(db: &mut dyn Sql) -> StoreResult<u64> {
    db.head()
}

/// Documents with a change after feed position `after` up to `upto`, at most `limit`.
pub fn changed_docs(
    db: &mut dyn Sql,
    after: u64,
    upto: u64,
    limit: usize,
) -> StoreResult<Vec<String>> {
    db.query(
        "SELECT DISTINCT doc_id FROM changes WHERE seq > ?1 AND seq <= ?2 LIMIT ?3",
        &[after.into(), upto.into(), limit.into()],
    )?
    .into_iter()
    .map(|mut r| r.text(0))
    .collect()
}

pub use crate::stats::{CASE_COLUMNS, case_row};

/// The projection rows of these cases.
pub fn case_rows(db: &mut dyn Sql, ids: &[String]) -> StoreResult<Vec<CaseRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {CASE_COLUMNS} FROM docs WHERE kind = 'case' AND id IN LIST(?1)");
    db.query(&sql, &[Param::Texts(ids)])?
        .into_iter()
        .map(case_row)
        .collect()
}

/// What the queue asks for besides the grids.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub category: Option<String>,
    pub status: Option<String>,
    pub unit: Option<String>,
    /// Words to find in the title, already normalized ([`normalize`]).
    pub text: Option<String>,
}

/// Lower case, runs of white space as one space, trimmed: how titles are compared with
/// what a person typed. Chinese has no case and needs no word splitting: a substring of
/// the title is a match.
pub fn normalize(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// `LIKE` pattern matching `text` anywhere, its own `%`, `_` and `\` taken literally.
pub fn like_anywhere(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Open cases of one grid (all grids for `None`) matching `f`, by urgency then age, at most
/// `limit`: the queue index range (`docs_open`), the other conditions tested on the rows it
/// walks, so the work is bounded by the grid's open cases.
pub fn open_cases(
    db: &mut dyn Sql,
    grid: Option<&str>,
    f: &Filter,
    limit: usize,
) -> StoreResult<Vec<CaseRow>> {
    let mut sql = format!("SELECT {CASE_COLUMNS} FROM docs WHERE kind = 'case' AND is_open = TRUE");
    let mut p: Vec<Param<'_>> = vec![limit.into()];
    if let Some(g) = grid {
        p.push(g.into());
        sql.push_str(&format!(" AND grid_id = ?{}", p.len()));
    }
    push_filters(&mut sql, &mut p, f, "");
    sql.push_str(" ORDER BY urgency_rank, created_at, id LIMIT ?1");
    db.query(&sql, &p)?.into_iter().map(case_row).collect()
}

/// Appends the category, status and unit conditions of `f` (columns of `docs`, named with
/// `prefix`) and their parameters.
pub fn push_filters<'a>(sql: &mut String, p: &mut Vec<Param<'a>>, f: &'a Filter, prefix: &str) {
    for (col, value) in [
        ("category", &f.category),
        ("status", &f.status),
        ("assigned_unit", &f.unit),
    ] {
        if let Some(v) = value {
            p.push(v.into());
            sql.push_str(&format!(" AND {prefix}{col} = ?{}", p.len()));
        }
    }
}

/// The cases of one grid with a location drawn on the case page's sketch: their ids, most
/// recent first, at most `limit` (the snapshots are read for their locations).
pub fn grid_case_ids(db: &mut dyn Sql, grid: &str, limit: usize) -> StoreResult<Vec<String>> {
    db.query(
        "SELECT id FROM docs WHERE kind = 'case' AND is_open = TRUE AND grid_id = ?2
         ORDER BY urgency_rank, created_at, id LIMIT ?1",
        &[limit.into(), grid.into()],
    )?
    .into_iter()
    .map(|mut r| r.text(0))
    .collect()
}
