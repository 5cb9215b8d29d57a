//! The figures page and its CSV: the numbers `crate::stats` computes for `/v1/stats`
//! (indexed SQL), per grid and per unit, as tables and plain SVG charts.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::html::{Html, pct, span, v};
use super::i18n::Lang;
use super::pages::head;
use super::session::Session;
use super::{Refused, page};
use crate::api::{App, now_ms};
use crate::stats::{self, FigureQuery, Figures, GroupFigures, Week};

#[derive(Debug, Default, Deserialize)]
pub struct FigureParams {
    #[serde(default)]
    weeks: Option<usize>,
}

const URGENCIES: [&str; 4] = ["life_safety", "urgent", "normal", "low"];

async fn load(app: &Arc<App>, s: &Session, weeks: usize) -> Result<Figures, Refused> {
    let ask = FigureQuery {
        grids: match s.member.role {
            outpost_core::Role::Admin => None,
            _ => Some(s.member.grids.clone()),
        },
        now: now_ms(),
        weeks: weeks.clamp(1, stats::MAX_WEEKS),
        standards: app.standards(),
    };
    let storage = app.storage.clone();
    Ok(tokio::task::spawn_blocking(move || storage.figures(&ask))
        .await
        .map_err(Refused::internal)??)
}

pub async fn page_handler(
    State(app): State<Arc<App>>,
    s: Session,
    Query(p): Query<FigureParams>,
) -> Result<Response, Refused> {
    let l = s.lang;
    let f = load(&app, &s, p.weeks.unwrap_or(8)).await?;
    let mut h = Html::new();
    head(&mut h, l, l.t("fig.title"));
    super::pages::nav(&mut h, &s, "/console/figures");
    h.raw("<main><h1>")
        .text(l.t("fig.title"))
        .raw("</h1><p><a id=\"csv\" href=\"/console/figures.csv\" download>")
        .text(l.t("fig.csv"))
        .raw("</a></p>");
    h.raw("<h2>").text(l.t("fig.grid")).raw("</h2>");
    let mut rows: Vec<(String, &GroupFigures)> = f
        .grids
        .iter()
        .map(|g| (s.grid_name(&g.grid_id).to_string(), &g.figures))
        .collect();
    rows.push((l.t("fig.all").to_string(), &f.all.figures));
    table(&mut h, l, "fig.grid", &rows, "grid-figures");
    h.raw("<h2>").text(l.t("fig.unit")).raw("</h2>");
    let units: Vec<(String, &GroupFigures)> = f
        .units
        .iter()
        .map(|u| (s.unit_name(&u.unit_id).to_string(), &u.figures))
        .collect();
    table(&mut h, l, "fig.unit", &units, "unit-figures");
    h.raw("<h2>").text(l.t("fig.response")).raw("</h2>");
    response_chart(&mut h, l, &f.all.figures);
    h.raw("<h2>").text(l.t("fig.trend")).raw("</h2>");
    trend_chart(&mut h, l, &f.all.figures.weekly);
    h.raw("</main></body></html>");
    Ok(page(StatusCode::OK, h))
}

fn table(
    h: &mut Html,
    l: Lang,
    first: &'static str,
    rows: &[(String, &GroupFigures)],
    id: &'static str,
) {
    h.open("table", &[("id", v(id)), ("class", v("figures"))])
        .raw("<thead><tr>");
    let mut heads: Vec<String> = vec![l.t(first).to_string()];
    for k in [
        "fig.total",
        "fig.open",
        "fig.overdue",
        "fig.overdue_rect",
        "fig.resolution",
        "fig.satisfaction",
        "fig.median_response",
        "fig.median_resolve",
        "fig.response",
    ] {
        heads.push(l.t(k).to_string());
    }
    for u in URGENCIES {
        heads.push(format!(
            "{} · {}",
            l.t("fig.response"),
            l.label("urgency", u)
        ));
    }
    for t in &heads {
        h.raw("<th>").text(t).raw("</th>");
    }
    h.raw("</tr></thead><tbody>");
    for (name, g) in rows {
        h.raw("<tr>");
        for cell in cells(name, g) {
            h.raw("<td>").text(&cell).raw("</td>");
        }
        h.raw("</tr>");
    }
    h.raw("</tbody></table>");
}

/// One row's values, shared by the table and the CSV.
fn cells(name: &str, g: &GroupFigures) -> Vec<String> {
    let mut c = vec![
        name.to_string(),
        g.total.to_string(),
        g.open.to_string(),
        g.overdue.to_string(),
        g.overdue_rectifications.to_string(),
        pct(g.resolution_rate),
        g.satisfaction
            .mean
            .map_or_else(|| "—".to_string(), |m| format!("{m:.2}")),
        g.median_response_ms.map(span).unwrap_or_else(|| "—".into()),
        g.median_resolve_ms.map(span).unwrap_or_else(|| "—".into()),
        pct(g.response.rate),
    ];
    for u in URGENCIES {
        c.push(pct(g.response.by_urgency.get(u).and_then(|r| r.rate)));
    }
    c
}

/// Bars of the on-time response rate per urgency.
fn response_chart(h: &mut Html, l: Lang, g: &GroupFigures) {
    h.raw("<svg class=\"chart\" id=\"response-chart\" viewBox=\"0 0 420 140\" width=\"420\" height=\"140\" role=\"img\">")
        .el("title", &[], l.t("fig.response"));
    for (i, u) in URGENCIES.iter().enumerate() {
        let y = 10 + i * 32;
        let rate = g.response.by_urgency.get(*u).and_then(|r| r.rate);
        let w = rate.map_or(0.0, |r| r * 260.0);
        let (ys, ws, yt) = (y.to_string(), format!("{w:.1}"), (y + 16).to_string());
        h.open(
            "text",
            &[("x", v("0")), ("y", v(&yt)), ("font-size", v("12"))],
        )
        .text(&l.label("urgency", u))
        .close("text")
        .open(
            "rect",
            &[
                ("x", v("100")),
                ("y", v(&ys)),
                ("width", v("260")),
                ("height", v("22")),
                ("fill", v("#eceff1")),
            ],
        )
        .close("rect")
        .open(
            "rect",
            &[
                ("x", v("100")),
                ("y", v(&ys)),
                ("width", v(&ws)),
                ("height", v("22")),
                ("fill", v("#2e7d32")),
            ],
        )
        .close("rect")
        .open(
            "text",
            &[("x", v("366")), ("y", v(&yt)), ("font-size", v("12"))],
        )
        .text(&pct(rate))
        .close("text");
    }
    h.raw("</svg>");
}

/// Reported and resolved cases per week, side by side.
fn trend_chart(h: &mut Html, l: Lang, weeks: &[Week]) {
    let max = weeks
        .iter()
        .map(|w| w.reported.max(w.resolved))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let n = weeks.len().max(1);
    let slot = 400.0 / n as f64;
    h.raw("<svg class=\"chart\" id=\"trend-chart\" viewBox=\"0 0 420 180\" width=\"420\" height=\"180\" role=\"img\">")
        .el("title", &[], l.t("fig.trend"))
        .raw("<line x1=\"10\" y1=\"150\" x2=\"410\" y2=\"150\" stroke=\"#90a4ae\"/>");
    for (i, w) in weeks.iter().enumerate() {
        let x = 10.0 + i as f64 * slot;
        let bw = (slot / 2.0 - 2.0).max(1.0);
        for (j, (count, fill)) in [(w.reported, "#1565c0"), (w.resolved, "#2e7d32")]
            .iter()
            .enumerate()
        {
            let bh = *count as f64 / max * 130.0;
            let (xs, ys, ws, hs) = (
                format!("{:.1}", x + j as f64 * (bw + 1.0)),
                format!("{:.1}", 150.0 - bh),
                format!("{bw:.1}"),
                format!("{bh:.1}"),
            );
            h.open(
                "rect",
                &[
                    ("x", v(&xs)),
                    ("y", v(&ys)),
                    ("width", v(&ws)),
                    ("height", v(&hs)),
                    ("fill", v(fill)),
                ],
            )
            .open("title", &[])
            .text(&format!(
                "{} {}: {}",
                super::html::time(w.start).get(..10).unwrap_or(""),
                l.t(if j == 0 {
                    "fig.reported"
                } else {
                    "fig.resolved"
                }),
                count
            ))
            .close("title")
            .close("rect");
        }
    }
    h.raw("<rect x=\"10\" y=\"165\" width=\"10\" height=\"10\" fill=\"#1565c0\"/>")
        .raw("<text x=\"24\" y=\"174\" font-size=\"11\">")
        .text(l.t("fig.reported"))
        .raw("</text><rect x=\"110\" y=\"165\" width=\"10\" height=\"10\" fill=\"#2e7d32\"/>")
        .raw("<text x=\"124\" y=\"174\" font-size=\"11\">")
        .text(l.t("fig.resolved"))
        .raw("</text></svg>");
}

/// A CSV field: quoted when it needs to be, and never read as a formula by a spreadsheet.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// `GET /console/figures.csv`: one row per grid, per unit and for everything, the same
/// columns in both languages (ids, not names, in the first columns).
pub async fn csv(
    State(app): State<Arc<App>>,
    s: Session,
    Query(p): Query<FigureParams>,
) -> Result<Response, Refused> {
    let f = load(&app, &s, p.weeks.unwrap_or(8)).await?;
    // A byte order mark first: spreadsheet programs set to a Chinese locale read a CSV
    // without one as GBK and garble every name.
    let mut out = String::from(
        "\u{FEFF}scope,id,name,total,open,overdue,overdue_rectifications,resolution_rate,satisfaction_mean,median_response,median_resolve,response_rate",
    );
    for u in URGENCIES {
        out.push_str(&format!(",response_rate_{u}"));
    }
    out.push_str("\r\n");
    let mut row = |scope: &str, id: &str, name: &str, g: &GroupFigures| {
        let mut c = vec![scope.to_string(), id.to_string()];
        c.extend(cells(name, g));
        let line: Vec<String> = c.iter().map(|x| csv_field(x)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    };
    for g in &f.grids {
        row("grid", &g.grid_id, s.grid_name(&g.grid_id), &g.figures);
    }
    for u in &f.units {
        row("unit", &u.unit_id, s.unit_name(&u.unit_id), &u.figures);
    }
    row("all", "*", "*", &f.all.figures);
    let mut r = out.into_response();
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"outpost-figures.csv\""),
    );
    Ok(super::harden(r))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("G1"), "G1");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}
