//! The workstation's queues and figures, computed by the database over indexes (written
//! once for every backend, see `storage/sql.rs`): queues are a few index range reads per
//! grid; figures read each case once from a narrow covering index, and otherwise index
//! ranges (overdue cases, responses per urgency, weeks) and walks to medians. [`reference`]
//! defines the same figures in plain Rust over every case row: it is what the storage tests
//! hold the SQL to, and the benchmark's baseline.
//!
//! Definitions (also in docs/PROTOCOL.md):
//! - *response*: the first acceptance or dispatch, or else the resolution; its time is
//!   counted from the report. A case's response is *due* once it responded, or once its
//!   standard has passed without one (a case cancelled before any response is never due);
//!   it is *on time* if it responded within the standard of its urgency.
//! - *overdue*: open with its deadline passed; an *overdue rectification* is such a case
//!   raised by an inspection.
//! - *resolution rate*: resolved or closed over all cases not cancelled.
//! - weeks are the seven-day windows ending at the time of the request, newest last.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::storage::sql::{Param, Row, Sql};
use crate::storage::{CaseRow, StoreResult};
use outpost_core::Status;

pub const HOUR_MS: i64 = 3_600_000;
pub const WEEK_MS: i64 = 7 * 24 * HOUR_MS;
/// Weeks of trend a request may ask for.
pub const MAX_WEEKS: usize = 52;

/// How soon each urgency must get a response, in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standards(pub BTreeMap<String, i64>);

impl Default for Standards {
    /// As 12345 hotlines set them: 2 h for life-safety, 24 h for urgent, 7 days otherwise.
    fn default() -> Self {
        Standards(BTreeMap::from([
            ("life_safety".to_string(), 2 * HOUR_MS),
            ("urgent".to_string(), 24 * HOUR_MS),
            ("normal".to_string(), 7 * 24 * HOUR_MS),
            ("low".to_string(), 7 * 24 * HOUR_MS),
        ]))
    }
}

impl Standards {
    /// For urgencies the table does not name (written by a newer app).
    pub const FALLBACK_MS: i64 = 7 * 24 * HOUR_MS;

    pub fn of(&self, urgency: &str) -> i64 {
        self.0.get(urgency).copied().unwrap_or(Self::FALLBACK_MS)
    }

    /// Reads `life_safety=2h,urgent=24h,normal=7d,low=7d` (units `m`, `h`, `d`); urgencies
    /// not named keep their default.
    pub fn parse(s: &str) -> Result<Standards, String> {
        let mut out = Standards::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}' is not urgency=duration"))?;
            let name = name.trim();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return Err(format!("'{name}' is not an urgency"));
            }
            let value = value.trim();
            let (num, unit) = value.split_at(value.len().saturating_sub(1));
            let n: i64 = num
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("'{value}' is not a duration like 2h"))?;
            let ms = match unit {
                "m" => n * 60_000,
                "h" => n * HOUR_MS,
                "d" => n * 24 * HOUR_MS,
                _ => return Err(format!("'{value}': say m, h or d")),
            };
            out.0.insert(name.to_string(), ms);
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Queues {
    /// Open cases, most urgent first, then oldest first.
    pub open: Vec<CaseRow>,
    /// Open cases past their deadline, most overdue first.
    pub overdue: Vec<CaseRow>,
}

/// What a figures request asks.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureQuery {
    /// The grids covered (`None`: all).
    pub grids: Option<Vec<String>>,
    pub now: i64,
    pub weeks: usize,
    pub standards: Standards,
}

/// Responses of one urgency.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResponseFigures {
    pub standard_ms: i64,
    pub due: usize,
    pub on_time: usize,
    /// `on_time / due`.
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Responses {
    pub due: usize,
    pub on_time: usize,
    pub rate: Option<f64>,
    pub by_urgency: BTreeMap<String, ResponseFigures>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Satisfaction {
    /// Follow-up visits that gave a score.
    pub count: usize,
    pub mean: Option<f64>,
    /// How many gave 1, 2, 3, 4 and 5.
    pub distribution: [usize; 5],
}

/// One seven-day window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Week {
    /// The window is `[start, end)`, in ms since the epoch.
    pub start: i64,
    pub end: i64,
    /// Cases reported in the window.
    pub reported: usize,
    /// Cases resolved in the window (and not reopened since).
    pub resolved: usize,
}

/// The figures of one group of cases: a grid, a unit, or everything asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GroupFigures {
    pub total: usize,
    pub open: usize,
    pub overdue: usize,
    pub overdue_rectifications: usize,
    pub by_status: BTreeMap<String, usize>,
    pub by_category: BTreeMap<String, usize>,
    /// Median time from report to acceptance or dispatch, over cases accepted or
    /// dispatched.
    pub median_accept_ms: Option<i64>,
    /// Median time from report to the first response (acceptance, dispatch, or a
    /// resolution on the spot), over cases that responded.
    pub median_response_ms: Option<i64>,
    /// Median time from report to resolution, over resolved cases.
    pub median_resolve_ms: Option<i64>,
    /// Resolved or closed cases over all cases that were not cancelled.
    pub resolution_rate: Option<f64>,
    /// Mean follow-up satisfaction (1–5); the same as `satisfaction.mean`.
    pub avg_satisfaction: Option<f64>,
    pub satisfaction: Satisfaction,
    pub response: Responses,
    /// The last `weeks` seven-day windows, oldest first.
    pub weekly: Vec<Week>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GridFigures {
    pub grid_id: String,
    #[serde(flatten)]
    pub figures: GroupFigures,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UnitFigures {
    pub unit_id: String,
    #[serde(flatten)]
    pub figures: GroupFigures,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Per grid that has cases, by grid id.
    pub grids: Vec<GridFigures>,
    /// Per responder unit, over the cases (of these grids) dispatched to it now.
    pub units: Vec<UnitFigures>,
    /// Everything asked for (`grid_id` is `*`).
    pub all: GridFigures,
    /// The response standards applied, ms per urgency.
    pub standards: Standards,
    /// When the figures were computed; the weeks end here.
    pub as_of: i64,
}

/// Grid filter of a statement: `AND grid_id IN LIST(?N)` when grids are given.
fn grid_filter(grids: &Option<Vec<String>>, n: usize) -> String {
    match grids {
        Some(_) => format!("AND grid_id IN LIST(?{n})"),
        None => String::new(),
    }
}

/// The projection columns [`case_row`] reads, in its order.
pub const CASE_COLUMNS: &str = "id, grid_id, category, urgency, urgency_rank, status, is_open, \
    title, reporter_id, assigned_unit, created_at, updated_at, accepted_at, resolved_at, \
    deadline, satisfaction, rectification";

/// One projection row, selected as [`CASE_COLUMNS`].
pub fn case_row(mut r: Row) -> StoreResult<CaseRow> {
    Ok(CaseRow {
        id: r.text(0)?,
        grid_id: r.text(1)?,
        category: r.opt_text(2)?.unwrap_or_default(),
        urgency: r.opt_text(3)?.unwrap_or_default(),
        urgency_rank: r.opt_int(4)?.unwrap_or_default(),
        status: r.text(5)?,
        is_open: r.bool(6)?,
        title: r.text(7)?,
        reporter_id: r.text(8)?,
        assigned_unit: r.opt_text(9)?,
        created_at: r.int(10)?,
        updated_at: r.int(11)?,
        accepted_at: r.opt_int(12)?,
        resolved_at: r.opt_int(13)?,
        deadline: r.opt_int(14)?,
        satisfaction: r.opt_int(15)?,
        rectification: r.bool(16)?,
    })
}

fn params_with_grids<'a>(grids: &'a Option<Vec<String>>, mut p: Vec<Param<'a>>) -> Vec<Param<'a>> {
    if let Some(g) = grids {
        p.push(Param::Texts(g));
    }
    p
}

/// Every case in these grids, oldest first.
pub fn cases(db: &mut dyn Sql, grids: Option<&[String]>) -> StoreResult<Vec<CaseRow>> {
    let grids = grids.map(<[String]>::to_vec);
    let sql = format!(
        "SELECT {CASE_COLUMNS} FROM docs WHERE kind = 'case' {} ORDER BY created_at, id",
        grid_filter(&grids, 1)
    );
    db.query(&sql, &params_with_grids(&grids, Vec::new()))?
        .into_iter()
        .map(case_row)
        .collect()
}

/// Open cases by urgency then age, and overdue ones most overdue first: per grid, the
/// first `limit` of an index range each, merged.
pub fn queues(
    db: &mut dyn Sql,
    grids: Option<&[String]>,
    now: i64,
    limit: usize,
) -> StoreResult<Queues> {
    // Per grid: one index range each, (grid, urgency, age) and (grid, deadline).
    let (mut open, mut overdue) = (Vec::new(), Vec::new());
    let each: Vec<Option<&String>> = match grids {
        Some(g) => g.iter().map(Some).collect(),
        None => vec![None],
    };
    for g in each {
        let grid: Vec<Param<'_>> = g.map(Param::from).into_iter().collect();
        let cond = |n: usize| match g {
            Some(_) => format!("AND grid_id = ?{n}"),
            None => String::new(),
        };
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM docs WHERE kind = 'case' AND is_open = TRUE {}
             ORDER BY urgency_rank, created_at, id LIMIT ?1",
            cond(2)
        );
        let p: Vec<Param<'_>> = [vec![limit.into()], grid.clone()].concat();
        for r in db.query(&sql, &p)? {
            open.push(case_row(r)?);
        }
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM docs
             WHERE kind = 'case' AND is_open = TRUE AND deadline < ?2 {}
             ORDER BY deadline, id LIMIT ?1",
            cond(3)
        );
        let p: Vec<Param<'_>> = [vec![limit.into(), now.into()], grid].concat();
        for r in db.query(&sql, &p)? {
            overdue.push(case_row(r)?);
        }
    }
    Ok(order_queues(open, overdue, limit))
}

/// The queues' order, on rows already cut to the right ones per grid.
fn order_queues(mut open: Vec<CaseRow>, mut overdue: Vec<CaseRow>, limit: usize) -> Queues {
    open.sort_by(|a, b| {
        (a.urgency_rank, a.created_at, &a.id).cmp(&(b.urgency_rank, b.created_at, &b.id))
    });
    open.truncate(limit);
    overdue.sort_by(|a, b| a.deadline.cmp(&b.deadline).then_with(|| a.id.cmp(&b.id)));
    overdue.truncate(limit);
    Queues { open, overdue }
}

/// What one pass of aggregates says about a group, before it becomes [`GroupFigures`].
#[derive(Debug, Default, Clone)]
struct Tally {
    f: GroupFigures,
    /// Cases with a value in each time column of [`TIMES`] (for the medians).
    timed: [usize; 3],
    /// Not cancelled; resolved or closed.
    counted: usize,
    done: usize,
}

impl Tally {
    fn absorb(&mut self, o: &Tally) {
        let f = &mut self.f;
        f.total += o.f.total;
        f.open += o.f.open;
        f.overdue += o.f.overdue;
        f.overdue_rectifications += o.f.overdue_rectifications;
        for (k, v) in &o.f.by_status {
            *f.by_status.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.f.by_category {
            *f.by_category.entry(k.clone()).or_default() += v;
        }
        for i in 0..5 {
            f.satisfaction.distribution[i] += o.f.satisfaction.distribution[i];
        }
        for (u, r) in &o.f.response.by_urgency {
            let e = f.response.by_urgency.entry(u.clone()).or_default();
            e.standard_ms = r.standard_ms;
            e.due += r.due;
            e.on_time += r.on_time;
        }
        for (w, x) in f.weekly.iter_mut().zip(&o.f.weekly) {
            w.reported += x.reported;
            w.resolved += x.resolved;
        }
        for (a, b) in self.timed.iter_mut().zip(o.timed) {
            *a += b;
        }
        self.counted += o.counted;
        self.done += o.done;
    }

    /// Rates and means from the counts.
    fn finish(mut self, medians: [Option<i64>; 3]) -> GroupFigures {
        let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
        let f = &mut self.f;
        f.resolution_rate = ratio(self.done, self.counted);
        let s = &mut f.satisfaction;
        s.count = s.distribution.iter().sum();
        let sum: usize = s
            .distribution
            .iter()
            .enumerate()
            .map(|(i, n)| (i + 1) * n)
            .sum();
        s.mean = ratio(sum, s.count);
        f.avg_satisfaction = s.mean;
        let r = &mut f.response;
        for x in r.by_urgency.values_mut() {
            x.rate = ratio(x.on_time, x.due);
        }
        r.due = r.by_urgency.values().map(|x| x.due).sum();
        r.on_time = r.by_urgency.values().map(|x| x.on_time).sum();
        r.rate = ratio(r.on_time, r.due);
        [
            f.median_accept_ms,
            f.median_response_ms,
            f.median_resolve_ms,
        ] = medians;
        self.f
    }
}

/// Which column groups the cases: grids, or the units cases are dispatched to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Grid,
    Unit,
}

impl By {
    fn column(self) -> &'static str {
        match self {
            By::Grid => "grid_id",
            By::Unit => "assigned_unit",
        }
    }

    /// The group as the statements select it. The unit is an expression: grouping by it
    /// then reads no index in unit order (a scan of every dispatched case in the city), and
    /// the statement starts from the grids asked for instead.
    fn key(self) -> &'static str {
        match self {
            By::Grid => "grid_id",
            By::Unit => "assigned_unit || ''",
        }
    }
}

/// Runs a grouped statement `sql` over the cases of the request, `{col}` and `{filter}` in
/// it filled for `by` (the grid filter's list is the last parameter), and hands each row to
/// `f` with its group's tally. (`{col} <> ''` keeps cases without a unit out, and is no
/// index constraint: the statements start from the grid.)
fn each_group(
    db: &mut dyn Sql,
    ask: &FigureQuery,
    by: By,
    out: &mut BTreeMap<String, Tally>,
    sql: &str,
    params: Vec<Param<'_>>,
    mut f: impl FnMut(&mut Tally, &mut Row) -> StoreResult<()>,
) -> StoreResult<()> {
    let sql = sql
        .replace("{key}", by.key())
        .replace("{col}", by.column())
        .replace("{filter}", &grid_filter(&ask.grids, params.len() + 1));
    for mut r in db.query(&sql, &params_with_grids(&ask.grids, params))? {
        let t = out.entry(r.text(0)?).or_insert_with(|| new_tally(ask));
        f(t, &mut r)?;
    }
    Ok(())
}

/// A new group's tally, its weeks laid out.
fn new_tally(ask: &FigureQuery) -> Tally {
    Tally {
        f: GroupFigures {
            weekly: empty_weeks(ask),
            ..GroupFigures::default()
        },
        ..Tally::default()
    }
}

/// The tallies per grid and per unit after [`counts`], and the urgencies seen.
struct Counted {
    grids: BTreeMap<String, Tally>,
    units: BTreeMap<String, Tally>,
    urgencies: Vec<String>,
}

/// Counts by status, category, urgency and score, per grid and per unit: the one statement
/// that reads every case of the grids (a narrow covering index, grouped in its order).
fn counts(db: &mut dyn Sql, ask: &FigureQuery) -> StoreResult<Counted> {
    let sql = format!(
        "SELECT grid_id, status, category, urgency, satisfaction, assigned_unit, count(*)
         FROM docs WHERE kind = 'case' {}
         GROUP BY 1, 2, 3, 4, 5, 6",
        grid_filter(&ask.grids, 1)
    );
    let mut out = Counted {
        grids: BTreeMap::new(),
        units: BTreeMap::new(),
        urgencies: Vec::new(),
    };
    for mut r in db.query(&sql, &params_with_grids(&ask.grids, Vec::new()))? {
        let grid = r.text(0)?;
        let status = r.text(1)?;
        let category = r.opt_text(2)?.unwrap_or_default();
        let urgency = r.opt_text(3)?.unwrap_or_default();
        let score = r.opt_int(4)?.filter(|s| (1..=5).contains(s));
        let unit = r.opt_text(5)?.filter(|u| !u.is_empty());
        let n = r.count(6)? as usize;
        let open = Status::parse(&status).is_ok_and(Status::is_open);
        let add = |t: &mut Tally| {
            t.f.total += n;
            if open {
                t.f.open += n;
            }
            if let Some(s) = score {
                t.f.satisfaction.distribution[(s - 1) as usize] += n;
            }
            if status != "cancelled" {
                t.counted += n;
                if status == "resolved" || status == "closed" {
                    t.done += n;
                }
            }
            t.f.response
                .by_urgency
                .entry(urgency.clone())
                .or_default()
                .standard_ms = ask.standards.of(&urgency);
            *t.f.by_status.entry(status.clone()).or_default() += n;
            *t.f.by_category.entry(category.clone()).or_default() += n;
        };
        add(out.grids.entry(grid).or_insert_with(|| new_tally(ask)));
        if let Some(u) = unit {
            add(out.units.entry(u).or_insert_with(|| new_tally(ask)));
        }
        if !out.urgencies.contains(&urgency) {
            out.urgencies.push(urgency);
        }
    }
    Ok(out)
}

/// The rest of the figures of every group along `by`, each an index range: overdue cases,
/// cases with each time, responses per urgency (those that responded, and those past their
/// standard without a response), the weekly trend a range per week.
fn tallies(
    db: &mut dyn Sql,
    ask: &FigureQuery,
    by: By,
    mut out: BTreeMap<String, Tally>,
    urgencies: &[String],
) -> StoreResult<BTreeMap<String, Tally>> {
    each_group(
        db,
        ask,
        by,
        &mut out,
        "SELECT {key}, count(*), count(*) FILTER (WHERE rectification = TRUE) FROM docs
         WHERE kind = 'case' AND is_open = TRUE AND deadline < ?1 AND {col} <> '' {filter}
         GROUP BY 1",
        vec![ask.now.into()],
        |t, r| {
            t.f.overdue += r.count(1)? as usize;
            t.f.overdue_rectifications += r.count(2)? as usize;
            Ok(())
        },
    )?;
    for (k, column) in TIMES.iter().enumerate() {
        each_group(
            db,
            ask,
            by,
            &mut out,
            &format!(
                "SELECT {{key}}, count(*) FROM docs
                 WHERE kind = 'case' AND {column} IS NOT NULL AND {{col}} <> '' {{filter}}
                 GROUP BY 1"
            ),
            Vec::new(),
            |t, r| {
                t.timed[k] += r.count(1)? as usize;
                Ok(())
            },
        )?;
    }
    for u in urgencies {
        let standard = ask.standards.of(u);
        fn entry<'t>(t: &'t mut Tally, u: &str) -> &'t mut ResponseFigures {
            t.f.response.by_urgency.entry(u.to_string()).or_default()
        }
        // Responded, and within the standard.
        each_group(
            db,
            ask,
            by,
            &mut out,
            "SELECT {key}, count(*), count(*) FILTER (WHERE response_ms <= ?2) FROM docs
             WHERE kind = 'case' AND urgency = ?1 AND response_ms IS NOT NULL
                 AND {col} <> '' {filter}
             GROUP BY 1",
            vec![Param::Text(u), standard.into()],
            |t, r| {
                let e = entry(t, u);
                e.due += r.count(1)? as usize;
                e.on_time += r.count(2)? as usize;
                Ok(())
            },
        )?;
        // No response, and past the standard.
        each_group(
            db,
            ask,
            by,
            &mut out,
            "SELECT {key}, count(*) FROM docs
             WHERE kind = 'case' AND urgency = ?1 AND response_ms IS NULL AND created_at < ?2
                 AND status <> 'cancelled' AND {col} <> '' {filter}
             GROUP BY 1",
            vec![Param::Text(u), (ask.now - standard).into()],
            |t, r| {
                entry(t, u).due += r.count(1)? as usize;
                Ok(())
            },
        )?;
    }
    for (i, week) in empty_weeks(ask).iter().enumerate() {
        for (time, reported) in [("created_at", true), ("resolved_at", false)] {
            each_group(
                db,
                ask,
                by,
                &mut out,
                &format!(
                    "SELECT {{key}}, count(*) FROM docs
                     WHERE kind = 'case' AND {time} >= ?1 AND {time} < ?2
                         AND {{col}} <> '' {{filter}}
                     GROUP BY 1"
                ),
                vec![week.start.into(), week.end.into()],
                |t, r| {
                    let w = &mut t.f.weekly[i];
                    let n = r.count(1)? as usize;
                    if reported {
                        w.reported += n;
                    } else {
                        w.resolved += n;
                    }
                    Ok(())
                },
            )?;
        }
    }
    Ok(out)
}

/// The median of a time column over the cases of one group (`group`: the grouping column's
/// value; `None`: every case asked for), `n` of them having a value: an index walk to the
/// middle.
fn median(
    db: &mut dyn Sql,
    ask: &FigureQuery,
    column: &str,
    by: By,
    group: Option<&str>,
    n: usize,
) -> StoreResult<Option<i64>> {
    if n == 0 {
        return Ok(None);
    }
    let mut p: Vec<Param<'_>> = vec![(2 - n % 2).into(), ((n - 1) / 2).into()];
    let mut cond = String::new();
    if let Some(g) = group {
        cond.push_str(&format!("AND {} = ?3 ", by.column()));
        p.push(Param::Text(g));
    }
    if by == By::Unit || group.is_none() {
        cond.push_str(&grid_filter(&ask.grids, p.len() + 1));
        if let Some(g) = &ask.grids {
            p.push(Param::Texts(g));
        }
    }
    let sql = format!(
        "SELECT {column} FROM docs WHERE kind = 'case' AND {column} IS NOT NULL {cond}
         ORDER BY {column} LIMIT ?1 OFFSET ?2"
    );
    let values: Vec<i64> = db
        .query(&sql, &p)?
        .iter()
        .map(|r| r.int(0))
        .collect::<StoreResult<_>>()?;
    Ok(match values[..] {
        [v] => Some(v),
        [a, b] => Some((a + b) / 2),
        _ => None,
    })
}

/// The time columns with a median in the figures, in [`Tally::timed`] order.
const TIMES: [&str; 3] = ["accept_ms", "response_ms", "resolve_ms"];

fn medians(
    db: &mut dyn Sql,
    ask: &FigureQuery,
    by: By,
    group: Option<&str>,
    t: &Tally,
) -> StoreResult<[Option<i64>; 3]> {
    let mut out = [None; 3];
    for (k, column) in TIMES.iter().enumerate() {
        out[k] = median(db, ask, column, by, group, t.timed[k])?;
    }
    Ok(out)
}

/// The workstation's figures (see the module documentation for what each means).
pub fn figures(db: &mut dyn Sql, ask: &FigureQuery) -> StoreResult<Figures> {
    // Every grid of the directory for "everything": every statement then starts from an
    // index on the grid (a case's grid is always one of the directory's).
    let everything;
    let ask = match &ask.grids {
        Some(_) => ask,
        None => {
            let mut grids = Vec::new();
            for mut r in db.query("SELECT id FROM grids", &[])? {
                grids.push(r.text(0)?);
            }
            everything = FigureQuery {
                grids: Some(grids),
                ..ask.clone()
            };
            &everything
        }
    };
    let counted = counts(db, ask)?;
    let grid_tallies = tallies(db, ask, By::Grid, counted.grids, &counted.urgencies)?;
    let unit_tallies = tallies(db, ask, By::Unit, counted.units, &counted.urgencies)?;
    let mut all = Tally::default();
    all.f.weekly = grid_tallies
        .values()
        .next()
        .map(|t| {
            t.f.weekly
                .iter()
                .map(|w| Week {
                    start: w.start,
                    end: w.end,
                    ..Week::default()
                })
                .collect()
        })
        .unwrap_or_default();
    let mut grids = Vec::with_capacity(grid_tallies.len());
    for (id, t) in grid_tallies {
        all.absorb(&t);
        let m = medians(db, ask, By::Grid, Some(&id), &t)?;
        grids.push(GridFigures {
            grid_id: id,
            figures: t.finish(m),
        });
    }
    let mut units = Vec::with_capacity(unit_tallies.len());
    for (id, t) in unit_tallies {
        let m = medians(db, ask, By::Unit, Some(&id), &t)?;
        units.push(UnitFigures {
            unit_id: id,
            figures: t.finish(m),
        });
    }
    if all.f.weekly.is_empty() {
        all.f.weekly = empty_weeks(ask);
    }
    let m = medians(db, ask, By::Grid, None, &all)?;
    Ok(Figures {
        grids,
        units,
        all: GridFigures {
            grid_id: "*".into(),
            figures: all.finish(m),
        },
        standards: ask.standards.clone(),
        as_of: ask.now,
    })
}

fn empty_weeks(ask: &FigureQuery) -> Vec<Week> {
    let weeks = ask.weeks.min(MAX_WEEKS);
    (0..weeks)
        .map(|i| {
            let end = ask.now - (weeks - 1 - i) as i64 * WEEK_MS;
            Week {
                start: end - WEEK_MS,
                end,
                ..Week::default()
            }
        })
        .collect()
}

/// The figures defined in plain Rust over every case row: the storage tests' oracle and the
/// benchmark's baseline ("load every row and sort in Rust").
pub mod reference {
    use super::*;

    pub fn queues(mut rows: Vec<CaseRow>, now: i64, limit: usize) -> Queues {
        rows.retain(|r| r.is_open);
        let overdue: Vec<CaseRow> = rows
            .iter()
            .filter(|r| r.deadline.is_some_and(|d| d < now))
            .cloned()
            .collect();
        order_queues(rows, overdue, limit)
    }

    fn response_ms(r: &CaseRow) -> Option<i64> {
        r.accepted_at.or(r.resolved_at).map(|t| t - r.created_at)
    }

    fn due(r: &CaseRow, standard: i64, now: i64) -> bool {
        response_ms(r).is_some() || (r.status != "cancelled" && r.created_at < now - standard)
    }

    fn on_time(r: &CaseRow, standard: i64) -> bool {
        response_ms(r).is_some_and(|t| t <= standard)
    }

    fn median(mut v: Vec<i64>) -> Option<i64> {
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

    fn group(rows: &[&CaseRow], ask: &FigureQuery) -> GroupFigures {
        let now = ask.now;
        let mut t = Tally::default();
        t.f.weekly = empty_weeks(ask);
        let weeks = t.f.weekly.len() as i64;
        let mut times: [Vec<i64>; 3] = Default::default();
        for r in rows {
            let f = &mut t.f;
            f.total += 1;
            *f.by_status.entry(r.status.clone()).or_default() += 1;
            *f.by_category.entry(r.category.clone()).or_default() += 1;
            if r.is_open {
                f.open += 1;
                if r.deadline.is_some_and(|d| d < now) {
                    f.overdue += 1;
                    if r.rectification {
                        f.overdue_rectifications += 1;
                    }
                }
            }
            for (k, v) in [
                r.accepted_at.map(|a| a - r.created_at),
                response_ms(r),
                r.resolved_at.map(|z| z - r.created_at),
            ]
            .into_iter()
            .enumerate()
            {
                times[k].extend(v);
            }
            if let Some(s) = r.satisfaction.filter(|s| (1..=5).contains(s)) {
                f.satisfaction.distribution[(s - 1) as usize] += 1;
            }
            let standard = ask.standards.of(&r.urgency);
            let e = f.response.by_urgency.entry(r.urgency.clone()).or_default();
            e.standard_ms = standard;
            if due(r, standard, now) {
                e.due += 1;
                if on_time(r, standard) {
                    e.on_time += 1;
                }
            }
            let back = |at: i64| {
                (at < now && at >= now - weeks * WEEK_MS).then(|| (now - 1 - at) / WEEK_MS)
            };
            if let Some(b) = back(r.created_at) {
                f.weekly[(weeks - 1 - b) as usize].reported += 1;
            }
            if let Some(b) = r.resolved_at.and_then(back) {
                f.weekly[(weeks - 1 - b) as usize].resolved += 1;
            }
            if r.status != "cancelled" {
                t.counted += 1;
                if r.status == "resolved" || r.status == "closed" {
                    t.done += 1;
                }
            }
        }
        t.finish(times.map(median))
    }

    /// `rows`: every case of the grids asked for.
    pub fn figures(rows: &[CaseRow], ask: &FigureQuery) -> Figures {
        let mut by_grid: BTreeMap<&str, Vec<&CaseRow>> = BTreeMap::new();
        let mut by_unit: BTreeMap<&str, Vec<&CaseRow>> = BTreeMap::new();
        for r in rows {
            by_grid.entry(r.grid_id.as_str()).or_default().push(r);
            if let Some(u) = &r.assigned_unit {
                by_unit.entry(u.as_str()).or_default().push(r);
            }
        }
        let all: Vec<&CaseRow> = rows.iter().collect();
        Figures {
            grids: by_grid
                .into_iter()
                .map(|(g, rs)| GridFigures {
                    grid_id: g.to_string(),
                    figures: group(&rs, ask),
                })
                .collect(),
            units: by_unit
                .into_iter()
                .map(|(u, rs)| UnitFigures {
                    unit_id: u.to_string(),
                    figures: group(&rs, ask),
                })
                .collect(),
            all: GridFigures {
                grid_id: "*".into(),
                figures: group(&all, ask),
            },
            standards: ask.standards.clone(),
            as_of: ask.now,
        }
    }
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
            rectification: false,
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
        let ask = FigureQuery {
            grids: None,
            now: 1000,
            weeks: 1,
            standards: Standards::default(),
        };
        let f = reference::figures(&rows, &ask);
        let g = &f.grids[0].figures;
        assert_eq!(g.total, 4);
        assert_eq!(g.open, 2);
        assert_eq!(g.median_accept_ms, Some(20));
        assert_eq!(g.median_resolve_ms, Some(100));
        assert_eq!(g.resolution_rate, Some(1.0 / 3.0));
        assert_eq!(g.avg_satisfaction, Some(4.0));
        assert_eq!(g.satisfaction.distribution, [0, 0, 0, 1, 0]);
        assert_eq!(g.by_status["closed"], 1);
        // Two responded within a week's standard; the new one is not due yet.
        assert_eq!((g.response.due, g.response.on_time), (2, 2));
        assert_eq!(g.weekly.len(), 1);
        assert_eq!(g.weekly[0].reported, 4);
    }

    #[test]
    fn standards_parse_with_units_and_keep_defaults() {
        let s = Standards::parse("life_safety=90m, urgent=12h").unwrap();
        assert_eq!(s.of("life_safety"), 90 * 60_000);
        assert_eq!(s.of("urgent"), 12 * HOUR_MS);
        assert_eq!(s.of("normal"), 7 * 24 * HOUR_MS);
        assert!(Standards::parse("urgent=12").is_err());
        assert!(Standards::parse("Urgent=1h").is_err());
        assert!(Standards::parse("urgent=-1h").is_err());
    }
}
