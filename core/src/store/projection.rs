//! Projection tables: one row per case and per inspection, rewritten in the same
//! transaction as every change to the document, so lists never read documents.

use std::collections::HashSet;

use automerge::AutoCommit;
use rusqlite::{Connection, OptionalExtension, params};

use super::DocKind;
use crate::case::{Case, CaseSummary, Category, Status, Urgency, read_case};
use crate::error::{Error, Result};
use crate::inspection::{InspectionStatus, InspectionSummary, read_inspection};

/// Sync order: life-safety cases first (alone, in rounds of their own), then urgent cases,
/// then other cases, then inspections.
pub(crate) fn priority_of_case(c: &Case) -> i64 {
    match c.urgency {
        Urgency::LifeSafety => 0,
        Urgency::Urgent => 1,
        _ => 2,
    }
}
const INSPECTION_PRIORITY: i64 = 3;

/// Cases whose search text the transaction added or changed, indexed together when it ends
/// (`Store::write`): FTS5 indexes a batch of rows in one statement at about a third of the
/// cost of one statement (or trigger) per row.
#[derive(Debug, Default)]
pub(crate) struct SearchIndex {
    rows: Vec<i64>,
    queued: HashSet<i64>,
}

/// Cases indexed per statement by [`SearchIndex::flush`].
const FLUSH_ROWS: usize = 64;

impl SearchIndex {
    fn queue(&mut self, rowid: i64) {
        if self.queued.insert(rowid) {
            self.rows.push(rowid);
        }
    }

    /// Indexes the queued cases' current text.
    pub fn flush(&mut self, conn: &Connection) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        // A fixed number of placeholders, the last row repeated to fill a short batch, so
        // one prepared statement serves every batch. No JSON functions: the phones' SQLite
        // is built without them (scripts/mobile-release-size.sh).
        let sql = format!(
            "INSERT INTO cases_fts(rowid, title, description, address)
             SELECT rowid, title, description, address FROM cases WHERE rowid IN ({})",
            vec!["?"; FLUSH_ROWS].join(", ")
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        for batch in self.rows.chunks(FLUSH_ROWS) {
            let Some(&last) = batch.last() else { continue };
            let params: Vec<i64> = (0..FLUSH_ROWS)
                .map(|i| batch.get(i).copied().unwrap_or(last))
                .collect();
            stmt.execute(rusqlite::params_from_iter(params))?;
        }
        self.rows.clear();
        self.queued.clear();
        Ok(())
    }
}

/// Rewrites the projection row of one document; returns its sync priority.
pub(crate) fn project(
    conn: &Connection,
    search: &mut SearchIndex,
    kind: DocKind,
    id: &str,
    doc: &AutoCommit,
) -> Result<i64> {
    match kind {
        DocKind::Case => {
            let c = read_case(doc, id)?;
            project_case(conn, search, &c)?;
            Ok(priority_of_case(&c))
        }
        DocKind::Inspection => {
            let i = read_inspection(doc, id)?;
            let answered = i.answers.len() as i64;
            let total = i.template.items().count() as i64;
            let updated = i
                .answers
                .iter()
                .flat_map(|a| a.answers.iter().map(|x| x.at))
                .chain(i.submitted_at)
                .fold(i.started_at, i64::max);
            conn.prepare_cached(
                "INSERT INTO inspections(id, template_id, title, site_name, grid_id, status, started_by,
                     started_at, updated_at, answered, total, failed, conflicts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT(id) DO UPDATE SET template_id = excluded.template_id, title = excluded.title,
                     site_name = excluded.site_name, grid_id = excluded.grid_id, status = excluded.status,
                     started_by = excluded.started_by, started_at = excluded.started_at,
                     updated_at = excluded.updated_at, answered = excluded.answered, total = excluded.total,
                     failed = excluded.failed, conflicts = excluded.conflicts",
            )?
            .execute(params![
                i.id,
                i.template.id,
                i.template.title,
                i.site.name,
                i.site.grid_id,
                i.status.as_str(),
                i.started_by,
                i.started_at,
                updated,
                answered,
                total,
                i.failed_items().len() as i64,
                i.conflicts() as i64
            ])?;
            Ok(INSPECTION_PRIORITY)
        }
    }
}

fn project_case(conn: &Connection, search: &mut SearchIndex, c: &Case) -> Result<()> {
    let updated = c
        .timeline
        .iter()
        .map(|e| e.event.at)
        .fold(c.created_at, i64::max);
    let address = c.location.as_ref().and_then(|l| l.address.as_deref());
    type Text = (i64, String, String, Option<String>);
    let before: Option<Text> = conn
        .prepare_cached("SELECT rowid, title, description, address FROM cases WHERE id = ?1")?
        .query_row([&c.id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let rowid: i64 = conn.prepare_cached(
        "INSERT INTO cases(id, category, urgency, urgency_rank, status, is_open, title, description, address,
             grid_id, reporter_id, assigned_unit, created_at, updated_at, deadline, conflicts,
             source_inspection, source_item)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
         ON CONFLICT(id) DO UPDATE SET category = excluded.category, urgency = excluded.urgency,
             urgency_rank = excluded.urgency_rank, status = excluded.status, is_open = excluded.is_open,
             title = excluded.title, description = excluded.description, address = excluded.address,
             grid_id = excluded.grid_id, reporter_id = excluded.reporter_id,
             assigned_unit = excluded.assigned_unit, created_at = excluded.created_at,
             updated_at = excluded.updated_at, deadline = excluded.deadline, conflicts = excluded.conflicts,
             source_inspection = excluded.source_inspection, source_item = excluded.source_item
         RETURNING rowid",
    )?
    .query_row(params![
        c.id,
        c.category.as_str(),
        c.urgency.as_str(),
        c.urgency.rank(),
        c.status.as_str(),
        c.status.is_open(),
        c.title,
        c.description,
        address,
        c.grid_id,
        c.reporter_id,
        c.assigned_unit,
        c.created_at,
        updated,
        c.deadline,
        c.conflicts as i64,
        c.source.as_ref().map(|s| s.inspection_id.as_str()),
        c.source.as_ref().map(|s| s.item_id.as_str()),
    ], |r| r.get(0))?;
    match before {
        None => search.queue(rowid),
        Some((was, title, description, addr))
            if (title.as_str(), description.as_str(), addr.as_deref())
                != (c.title.as_str(), c.description.as_str(), address) =>
        {
            // The index holds the old text unless this transaction queued the row: take it
            // out (an external-content FTS5 table needs the old values to).
            if !search.queued.contains(&was) {
                conn.prepare_cached(
                    "INSERT INTO cases_fts(cases_fts, rowid, title, description, address)
                     VALUES ('delete', ?1, ?2, ?3, ?4)",
                )?
                .execute(params![was, title, description, addr])?;
            }
            search.queue(was);
        }
        Some(_) => {}
    }
    Ok(())
}

const SUMMARY_COLUMNS: &str = "id, category, urgency, status, title, address, grid_id, reporter_id, \
     assigned_unit, created_at, updated_at, deadline, conflicts";

/// Which list of cases to read.
pub(crate) enum CaseList<'a> {
    Open,
    ReportedBy(&'a str),
    Overdue {
        now: i64,
    },
    Grid {
        grid: &'a str,
        category: Option<Category>,
    },
    /// The responder's queue: open cases dispatched to its unit, most urgent first.
    Unit(&'a str),
    All,
}

pub(crate) fn list_cases(
    conn: &Connection,
    list: CaseList<'_>,
    now: i64,
    limit: i64,
    offset: i64,
) -> Result<Vec<CaseSummary>> {
    let (filter, order): (String, &str) = match &list {
        CaseList::Open => ("is_open = 1".into(), "urgency_rank, created_at, id"),
        CaseList::ReportedBy(_) => ("reporter_id = ?1".into(), "created_at DESC, id"),
        CaseList::Overdue { .. } => ("is_open = 1 AND deadline < ?1".into(), "deadline, id"),
        CaseList::Grid { category: None, .. } => ("grid_id = ?1".into(), "created_at DESC, id"),
        CaseList::Grid {
            category: Some(_), ..
        } => (
            "grid_id = ?1 AND category = ?2".into(),
            "created_at DESC, id",
        ),
        CaseList::Unit(_) => (
            "is_open = 1 AND assigned_unit = ?1".into(),
            "urgency_rank, created_at, id",
        ),
        CaseList::All => ("1".into(), "created_at, id"),
    };
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM cases WHERE {filter} ORDER BY {order} LIMIT {} OFFSET {}",
        limit.clamp(0, 10_000),
        offset.max(0)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = match list {
        CaseList::Open | CaseList::All => stmt.query([])?,
        CaseList::ReportedBy(who) | CaseList::Unit(who) => stmt.query([who])?,
        CaseList::Overdue { now } => stmt.query([now])?,
        CaseList::Grid {
            grid,
            category: None,
        } => stmt.query([grid])?,
        CaseList::Grid {
            grid,
            category: Some(c),
        } => stmt.query([grid, c.as_str()])?,
    };
    summaries(rows, now)
}

/// Full-text search. Trigram tokens need three characters; shorter terms (many Chinese
/// words are two characters) fall back to a substring scan of the projection.
pub(crate) fn search_cases(
    conn: &Connection,
    query: &str,
    now: i64,
    limit: i64,
) -> Result<Vec<CaseSummary>> {
    let terms: Vec<&str> = query.split_whitespace().collect();
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let limit = limit.clamp(0, 1000);
    let cols = SUMMARY_COLUMNS
        .split(", ")
        .map(|c| format!("c.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    if terms.iter().all(|t| t.chars().count() >= 3) {
        let fts = terms
            .iter()
            .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" AND ");
        let sql = format!(
            "SELECT {cols} FROM cases_fts f JOIN cases c ON c.rowid = f.rowid
             WHERE cases_fts MATCH ?1 ORDER BY f.rank, c.created_at DESC LIMIT {limit}"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        summaries(stmt.query([fts])?, now)
    } else {
        let mut sql = format!("SELECT {cols} FROM cases c WHERE 1");
        let mut args = Vec::new();
        for (i, t) in terms.iter().enumerate() {
            let n = i + 1;
            sql.push_str(&format!(
                " AND (instr(c.title, ?{n}) > 0 OR instr(c.description, ?{n}) > 0 OR instr(coalesce(c.address, ''), ?{n}) > 0)"
            ));
            args.push(t.to_string());
        }
        sql.push_str(&format!(" ORDER BY c.created_at DESC LIMIT {limit}"));
        let mut stmt = conn.prepare_cached(&sql)?;
        summaries(stmt.query(rusqlite::params_from_iter(args))?, now)
    }
}

fn summaries(mut rows: rusqlite::Rows<'_>, now: i64) -> Result<Vec<CaseSummary>> {
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let bad = |e: crate::error::ValidationError| Error::Corrupt(format!("case list row: {e}"));
        let status = Status::parse(&r.get::<_, String>(3)?).map_err(bad)?;
        let deadline: Option<i64> = r.get(11)?;
        out.push(CaseSummary {
            id: r.get(0)?,
            category: Category::parse(&r.get::<_, String>(1)?).map_err(bad)?,
            urgency: Urgency::parse(&r.get::<_, String>(2)?).map_err(bad)?,
            status,
            title: r.get(4)?,
            address: r.get(5)?,
            grid_id: r.get(6)?,
            reporter_id: r.get(7)?,
            assigned_unit: r.get(8)?,
            created_at: r.get(9)?,
            updated_at: r.get(10)?,
            deadline,
            conflicts: r.get(12)?,
            is_open: status.is_open(),
            is_overdue: status.is_open() && deadline.is_some_and(|d| d < now),
        });
    }
    Ok(out)
}

pub(crate) fn list_inspections(
    conn: &Connection,
    status: Option<InspectionStatus>,
    limit: i64,
) -> Result<Vec<InspectionSummary>> {
    let filter = if status.is_some() {
        "status = ?1"
    } else {
        "?1 IS NULL"
    };
    let sql = format!(
        "SELECT id, title, site_name, grid_id, status, answered, total, failed, conflicts, started_at, updated_at
         FROM inspections WHERE {filter} ORDER BY updated_at DESC, id LIMIT {}",
        limit.clamp(0, 10_000)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([status.map(InspectionStatus::as_str)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(InspectionSummary {
            id: r.get(0)?,
            title: r.get(1)?,
            site_name: r.get(2)?,
            grid_id: r.get(3)?,
            status: match r.get::<_, String>(4)?.as_str() {
                "submitted" => InspectionStatus::Submitted,
                _ => InspectionStatus::InProgress,
            },
            answered: r.get(5)?,
            total: r.get(6)?,
            failed: r.get(7)?,
            conflicts: r.get(8)?,
            started_at: r.get(9)?,
            updated_at: r.get(10)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::{CaseEdit, Category, EventKind, Member, NewCase, Role, Store, Urgency};

    fn found(s: &Store, q: &str) -> Vec<String> {
        s.search(q, 100)
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect()
    }

    fn fts_ok(s: &Store) {
        s.with_conn(|c| {
            c.execute(
                "INSERT INTO cases_fts(cases_fts, rank) VALUES ('integrity-check', 1)",
                [],
            )?;
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn search_follows_new_edited_and_pulled_cases() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path().join("s.db")).unwrap();
        s.set_member(&Member::new("m", "M", Role::GridMember, ["g"]))
            .unwrap();
        let mut c = NewCase::new(Category::Waste, Urgency::Low, "楼道堆放纸箱", "g");
        c.description = "二楼楼梯口".into();
        let id = s.create_case(c).unwrap();
        // Two in one transaction.
        let batch_ids = s
            .create_cases(&[
                NewCase::new(Category::Noise, Urgency::Low, "夜间施工噪音", "g"),
                NewCase::new(Category::Waste, Urgency::Low, "垃圾满溢", "g"),
            ])
            .unwrap();
        assert_eq!(found(&s, "纸箱"), vec![id.clone()]);
        assert_eq!(found(&s, "施工噪"), [batch_ids[0].clone()]);
        s.edit_case(
            &id,
            CaseEdit {
                title: Some("电动车飞线充电".into()),
                ..CaseEdit::default()
            },
        )
        .unwrap();
        assert!(found(&s, "纸箱").is_empty(), "the old text left the index");
        assert_eq!(found(&s, "飞线充"), vec![id.clone()]);
        assert_eq!(
            found(&s, "楼梯口"),
            vec![id.clone()],
            "unchanged fields stay"
        );
        // A change that does not touch the text leaves the index alone.
        s.record(
            &id,
            EventKind::Comment {
                text: "已联系".into(),
            },
        )
        .unwrap();
        assert_eq!(found(&s, "飞线充"), vec![id.clone()]);
        fts_ok(&s);

        // Pulled into another store in one transaction — the first case created, then
        // edited there — the cases are found there too.
        let other = tempfile::tempdir().unwrap();
        let t = Store::open(other.path().join("t.db")).unwrap();
        let mut first = s.changes_since(&id, &[]).unwrap();
        let rest = first.split_off(1);
        let mut batch: Vec<(String, Vec<Vec<u8>>)> = vec![(id.clone(), first), (id.clone(), rest)];
        for i in &batch_ids {
            batch.push((i.clone(), s.changes_since(i, &[]).unwrap()));
        }
        t.apply_remote(&batch).unwrap();
        assert_eq!(found(&t, "飞线充"), vec![id.clone()]);
        assert!(found(&t, "纸箱").is_empty());
        fts_ok(&t);
    }
}
