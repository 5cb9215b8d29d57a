//! Projection tables: one row per case and per inspection, rewritten in the same
//! transaction as every change to the document, so lists never read documents.

use automerge::AutoCommit;
use rusqlite::{Connection, params};

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

/// Rewrites the projection row of one document; returns its sync priority.
pub(crate) fn project(conn: &Connection, kind: DocKind, id: &str, doc: &AutoCommit) -> Result<i64> {
    match kind {
        DocKind::Case => {
            let c = read_case(doc, id)?;
            project_case(conn, &c)?;
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

fn project_case(conn: &Connection, c: &Case) -> Result<()> {
    let updated = c
        .timeline
        .iter()
        .map(|e| e.event.at)
        .fold(c.created_at, i64::max);
    conn.prepare_cached(
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
             source_inspection = excluded.source_inspection, source_item = excluded.source_item",
    )?
    .execute(params![
        c.id,
        c.category.as_str(),
        c.urgency.as_str(),
        c.urgency.rank(),
        c.status.as_str(),
        c.status.is_open(),
        c.title,
        c.description,
        c.location.as_ref().and_then(|l| l.address.as_deref()),
        c.grid_id,
        c.reporter_id,
        c.assigned_unit,
        c.created_at,
        updated,
        c.deadline,
        c.conflicts as i64,
        c.source.as_ref().map(|s| s.inspection_id.as_str()),
        c.source.as_ref().map(|s| s.item_id.as_str()),
    ])?;
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
    All,
}

pub(crate) fn list_cases(
    conn: &Connection,
    list: CaseList<'_>,
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
        CaseList::ReportedBy(who) => stmt.query([who])?,
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
    summaries(rows)
}

/// Full-text search. Trigram tokens need three characters; shorter terms (many Chinese
/// words are two characters) fall back to a substring scan of the projection.
pub(crate) fn search_cases(conn: &Connection, query: &str, limit: i64) -> Result<Vec<CaseSummary>> {
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
        summaries(stmt.query([fts])?)
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
        summaries(stmt.query(rusqlite::params_from_iter(args))?)
    }
}

fn summaries(mut rows: rusqlite::Rows<'_>) -> Result<Vec<CaseSummary>> {
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let bad = |e: crate::error::ValidationError| Error::Corrupt(format!("case list row: {e}"));
        out.push(CaseSummary {
            id: r.get(0)?,
            category: Category::parse(&r.get::<_, String>(1)?).map_err(bad)?,
            urgency: Urgency::parse(&r.get::<_, String>(2)?).map_err(bad)?,
            status: Status::parse(&r.get::<_, String>(3)?).map_err(bad)?,
            title: r.get(4)?,
            address: r.get(5)?,
            grid_id: r.get(6)?,
            reporter_id: r.get(7)?,
            assigned_unit: r.get(8)?,
            created_at: r.get(9)?,
            updated_at: r.get(10)?,
            deadline: r.get(11)?,
            conflicts: r.get(12)?,
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
