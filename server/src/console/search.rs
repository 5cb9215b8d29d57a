//! Full-text search of cases for the console, in portable SQL on both backends: each case's
//! title, description and address, normalized, cut into character bigrams (Chinese needs no
//! word splitting: any two adjacent characters of a query must be two adjacent characters of
//! the text), kept in `console_grams` under a primary key `(gram, grid_id, doc_id)`. A query
//! finds the documents holding all its bigrams by index ranges (inside the grid when it names
//! one), then checks the whole phrase on their stored text.
//!
//! The index follows the feed: every server process's watcher (`live.rs`) reads the changes
//! after the position recorded in `meta` (`console_search`), re-indexes the documents they
//! touch and moves the position, in one transaction. Several processes doing so on one
//! PostgreSQL database write the same rows; a lost race is retried.

use outpost_core::sync::validate::{DocView, read_view};

use super::db;
use crate::storage::feed::load_snapshot;
use crate::storage::sql::{Param, Sql};
use crate::storage::{CaseRow, Storage, StoreResult};

/// Characters of a case's text indexed at most (the description is cut).
const MAX_TEXT: usize = 2000;
/// Change rows read per indexing round.
const ROUND_CHANGES: usize = 2000;
/// Bigrams of a query used at most (a longer query is still checked whole).
const QUERY_GRAMS: usize = 16;

/// The text a case is found by.
pub fn case_text(title: &str, description: &str, address: Option<&str>) -> String {
    let mut t = format!("{title} {} {}", address.unwrap_or(""), description);
    if let Some((cut, _)) = t.char_indices().nth(MAX_TEXT) {
        t.truncate(cut);
    }
    db::normalize(&t)
}

/// The distinct bigrams of normalized text (pairs across a space are left out).
pub fn bigrams(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<String> = chars
        .windows(2)
        .filter(|w| !w[0].is_whitespace() && !w[1].is_whitespace())
        .map(|w| w.iter().collect())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Indexes the documents changed since the recorded position; returns whether more changes
/// wait (a full round was read).
pub fn catch_up(storage: &dyn Storage) -> StoreResult<bool> {
    let (from, rows) = db::read(storage, |db| {
        let from = db
            .opt("SELECT value FROM meta WHERE key = 'console_search'", &[])?
            .map(|r| r.count(0))
            .transpose()?
            .unwrap_or(0);
        let head = db.head()?;
        let rows = db.query(
            "SELECT seq, doc_id FROM changes WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
            &[from.into(), head.into(), ROUND_CHANGES.into()],
        )?;
        Ok((from, rows))
    })?;
    if rows.is_empty() {
        return Ok(false);
    }
    let full = rows.len() == ROUND_CHANGES;
    let mut upto = from;
    let mut ids: Vec<String> = Vec::new();
    for mut r in rows {
        upto = upto.max(r.count(0)?);
        let id = r.text(1)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    // Read and parse outside the write.
    let mut entries: Vec<(String, Option<(String, String)>)> = Vec::with_capacity(ids.len());
    for id in ids {
        let snap = db::read(storage, |db| db::snapshot(db, &id))?;
        let entry =
            snap.and_then(|s| load_snapshot(&s).ok())
                .and_then(|doc| match read_view(&doc, &id) {
                    Ok(DocView::Case(c)) => Some((
                        c.grid_id.clone(),
                        case_text(
                            &c.title,
                            &c.description,
                            c.location.as_ref().and_then(|l| l.address.as_deref()),
                        ),
                    )),
                    _ => None,
                });
        entries.push((id, entry));
    }
    db::write(storage, |db| {
        for (id, entry) in &entries {
            write_entry(db, id, entry.as_ref())?;
        }
        db.exec(
            "INSERT INTO meta(key, value) VALUES ('console_search', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value
             WHERE excluded.value > meta.value",
            &[upto.into()],
        )?;
        Ok(())
    })?;
    Ok(full)
}

fn write_entry(db: &mut dyn Sql, id: &str, entry: Option<&(String, String)>) -> StoreResult<()> {
    db.exec("DELETE FROM console_grams WHERE doc_id = ?1", &[id.into()])?;
    let Some((grid, text)) = entry else {
        db.exec("DELETE FROM console_search WHERE doc_id = ?1", &[id.into()])?;
        return Ok(());
    };
    db.exec(
        "INSERT INTO console_search(doc_id, grid_id, text) VALUES (?1, ?2, ?3)
         ON CONFLICT(doc_id) DO UPDATE SET grid_id = excluded.grid_id, text = excluded.text",
        &[id.into(), grid.into(), text.into()],
    )?;
    for g in bigrams(text) {
        db.exec(
            "INSERT INTO console_grams(grid_id, gram, doc_id) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            &[grid.into(), g.as_str().into(), id.into()],
        )?;
    }
    Ok(())
}

/// Open cases of `grid` whose text holds `text` (normalized), by urgency then age, with the
/// other filters, at most `limit`.
pub fn open_matching(
    db: &mut dyn Sql,
    grid: Option<&str>,
    f: &db::Filter,
    text: &str,
    limit: usize,
) -> StoreResult<Vec<CaseRow>> {
    let mut grams = bigrams(text);
    grams.truncate(QUERY_GRAMS);
    let like = db::like_anywhere(text);
    let mut p: Vec<Param<'_>> = vec![limit.into(), like.as_str().into()];
    let mut sql = format!(
        "SELECT {} FROM docs d JOIN console_search s ON s.doc_id = d.id
         WHERE d.kind = 'case' AND d.is_open = TRUE AND s.text LIKE ?2 ESCAPE '\\'",
        db::CASE_COLUMNS
            .split(", ")
            .map(|c| format!("d.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut grid_cond = String::new();
    if let Some(g) = grid {
        p.push(g.into());
        sql.push_str(&format!(" AND d.grid_id = ?{}", p.len()));
        grid_cond = format!(" AND g.grid_id = ?{}", p.len());
    }
    if !grams.is_empty() {
        let n = grams.len();
        p.push(Param::Texts(&grams));
        let list = p.len();
        p.push(n.into());
        sql.push_str(&format!(
            " AND d.id IN (SELECT g.doc_id FROM console_grams g
                 WHERE g.gram IN LIST(?{list}){grid_cond}
                 GROUP BY g.doc_id HAVING count(*) = ?{})",
            p.len()
        ));
    }
    db::push_filters(&mut sql, &mut p, f, "d.");
    sql.push_str(" ORDER BY d.urgency_rank, d.created_at, d.id LIMIT ?1");
    db.query(&sql, &p)?.into_iter().map(db::case_row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_text_is_cut_into_bigrams() {
        assert_eq!(bigrams("老人倒地"), ["人倒", "倒地", "老人"]);
        assert_eq!(bigrams("a b"), Vec::<String>::new());
        assert_eq!(bigrams("中"), Vec::<String>::new());
        let t = case_text("有人需要帮助", "疑似中暑", Some("殷行路650弄"));
        assert!(t.contains("中暑") && t.contains("650弄"));
        assert_eq!(
            case_text(&"长".repeat(3000), "", None).chars().count(),
            MAX_TEXT
        );
    }
}
