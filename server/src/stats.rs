//! The workstation's figures: queues by urgency and age, and per-grid counts, response
//! and resolution times, resolution rate and satisfaction.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::storage::CaseRow;

#[derive(Debug, Clone, Serialize)]
pub struct Queues {
    /// Open cases, most urgent first, then oldest first.
    pub open: Vec<CaseRow>,
    /// Open cases past their deadline, most overdue first.
    pub overdue: Vec<CaseRow>,
}

pub fn queues(mut rows: Vec<CaseRow>, now: i64, limit: usize) -> Queues {
    rows.retain(|r| r.is_open);
    let mut overdue: Vec<CaseRow> = rows
        .iter()
        .filter(|r| r.deadline.is_some_and(|d| d < now))
        .cloned()
        .collect();
    overdue.sort_by(|a, b| a.deadline.cmp(&b.deadline).then_with(|| a.id.cmp(&b.id)));
    overdue.truncate(limit);
    rows.sort_by(|a, b| {
        (a.urgency_rank, a.created_at, &a.id).cmp(&(b.urgency_rank, b.created_at, &b.id))
    });
    rows.truncate(limit);
    Queues {
        open: rows,
        overdue,
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GridFigures {
    pub grid_id: String,
    pub total: usize,
    pub open: usize,
    pub overdue: usize,
    pub by_status: BTreeMap<String, usize>,
    pub by_category: BTreeMap<String, usize>,
    /// Median time from report to acceptance (or dispatch), over accepted cases.
    pub median_accept_ms: Option<i64>,
    /// Median time from report to resolution, over resolved cases.
    pub median_resolve_ms: Option<i64>,
    /// Resolved or closed cases over all cases that were not cancelled.
    pub resolution_rate: Option<f64>,
    /// Mean follow-up satisfaction (1–5) over closed cases.
    pub avg_satisfaction: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub grids: Vec<GridFigures>,
    /// The same over every grid in the request.
    pub all: GridFigures,
}

pub fn figures(rows: &[CaseRow], now: i64) -> Figures {
    let mut by_grid: BTreeMap<&str, Vec<&CaseRow>> = BTreeMap::new();
    for r in rows {
        by_grid.entry(r.grid_id.as_str()).or_default().push(r);
    }
    let grids = by_grid
        .into_iter()
        .map(|(g, rs)| figure(g, &rs, now))
        .collect();
    let all: Vec<&CaseRow> = rows.iter().collect();
    Figures {
        grids,
        all: figure("*", &all, now),
    }
}

fn figure(grid: &str, rows: &[&CaseRow], now: i64) -> GridFigures {
    let mut f = GridFigures {
        grid_id: grid.to_string(),
        total: rows.len(),
        ..GridFigures::default()
    };
    let mut accept = Vec::new();
    let mut resolve = Vec::new();
    let mut sat = Vec::new();
    let (mut done, mut counted) = (0usize, 0usize);
    for r in rows {
        *f.by_status.entry(r.status.clone()).or_default() += 1;
        *f.by_category.entry(r.category.clone()).or_default() += 1;
        if r.is_open {
            f.open += 1;
            if r.deadline.is_some_and(|d| d < now) {
                f.overdue += 1;
            }
        }
        if let Some(a) = r.accepted_at {
            accept.push(a - r.created_at);
        }
        if let Some(z) = r.resolved_at {
            resolve.push(z - r.created_at);
        }
        if let Some(s) = r.satisfaction {
            sat.push(s);
        }
        if r.status != "cancelled" {
            counted += 1;
            if r.status == "resolved" || r.status == "closed" {
                done += 1;
            }
        }
    }
    f.median_accept_ms = median(&mut accept);
    f.median_resolve_ms = median(&mut resolve);
    f.resolution_rate = (counted > 0).then(|| done as f64 / counted as f64);
    f.avg_satisfaction =
        (!sat.is_empty()).then(|| sat.iter().sum::<i64>() as f64 / sat.len() as f64);
    f
}

fn median(v: &mut [i64]) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, status: &str, created: i64, accepted: Option<i64>) -> CaseRow {
        CaseRow {
            id: id.into(),
            grid_id: "g".into(),
            category: "waste".into(),
            urgency: "normal".into(),
            urgency_rank: 2,
            status: status.into(),
            is_open: !matches!(status, "resolved" | "closed" | "cancelled"),
            title: id.into(),
            reporter_id: "r".into(),
            assigned_unit: None,
            created_at: created,
            updated_at: created,
            accepted_at: accepted,
            resolved_at: (status == "closed").then_some(created + 100),
            deadline: None,
            satisfaction: (status == "closed").then_some(4),
        }
    }

    #[test]
    fn figures_count_time_and_rate() {
        let rows = vec![
            row("a", "new", 0, None),
            row("b", "closed", 0, Some(10)),
            row("c", "accepted", 0, Some(30)),
            row("d", "cancelled", 0, None),
        ];
        let f = figures(&rows, 1000);
        let g = &f.grids[0];
        assert_eq!(g.total, 4);
        assert_eq!(g.open, 2);
        assert_eq!(g.median_accept_ms, Some(20));
        assert_eq!(g.median_resolve_ms, Some(100));
        assert_eq!(g.resolution_rate, Some(1.0 / 3.0));
        assert_eq!(g.avg_satisfaction, Some(4.0));
        assert_eq!(g.by_status["closed"], 1);
    }
}
