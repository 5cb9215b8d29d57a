//! The console's pages: sign-in, the queue, a case. Rendered on the server; every value
//! escaped by [`Html`].

use std::sync::Arc;

use automerge::AutoCommit;
use axum::Form;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use outpost_core::rules;
use outpost_core::sync::validate::{DocView, read_view, valid_doc_id};
use outpost_core::{Case, EventKind, Location};
use serde::Deserialize;

use super::db::{self, Filter};
use super::html::{Html, flag, span, time, v};
use super::i18n::Lang;
use super::session::{
    self, LANG_COOKIE, Session, SignIn, cleared_cookie, console_role, lang_of, same_origin,
    session_cookie,
};
use super::{Refused, page};
use crate::api::{App, Peer, now_ms};
use crate::storage::CaseRow;
use crate::storage::feed::load_snapshot;

/// The document head and the start of the body.
pub fn head(h: &mut Html, l: Lang, title: &str) {
    h.raw("<!doctype html>")
        .open("html", &[("lang", v(l.code()))])
        .raw(
            "<head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <link rel=\"stylesheet\" href=\"/console/static/console.css\">\
             <script src=\"/console/static/console.js\" defer></script><title>",
        )
        .text(title)
        .raw(" · ")
        .text(l.t("nav.title"))
        .raw("</title></head><body>");
}

/// The bar on top of every signed-in page.
pub fn nav(h: &mut Html, s: &Session, here: &str) {
    let l = s.lang;
    let other = match l {
        Lang::Zh => "en",
        Lang::En => "zh",
    };
    let lang_href = format!("/console/lang/{other}?back={}", urlencode(here));
    h.raw("<header class=\"bar\"><strong>")
        .text(l.t("nav.title"))
        .raw("</strong><nav><a href=\"/console\">")
        .text(l.t("nav.queue"))
        .raw("</a> <a href=\"/console/figures\">")
        .text(l.t("nav.figures"))
        .raw("</a> ")
        .el(
            "a",
            &[("href", v(&lang_href)), ("id", v("lang"))],
            l.t("nav.lang"),
        )
        .raw("</nav><span class=\"who\">")
        .text(&s.member.name)
        .raw(" · ")
        .text(&l.label("role", s.member.role.as_str()))
        .raw("</span><form method=\"post\" action=\"/console/logout\">");
    csrf_field(h, s);
    h.raw("<button type=\"submit\">")
        .text(l.t("nav.sign_out"))
        .raw("</button></form></header>");
}

pub fn csrf_field(h: &mut Html, s: &Session) {
    h.open(
        "input",
        &[
            ("type", v("hidden")),
            ("name", v("csrf")),
            ("value", v(&s.row.csrf)),
        ],
    );
}

/// Percent-encodes a value for a query string.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------- sign-in

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    failed: Option<String>,
}

pub async fn login_form(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    // The search index catches up while the member signs in.
    super::start(&app);
    let l = lang_of(&headers);
    let note = match q.failed.as_deref() {
        Some("role") => Some(l.t("login.no_role")),
        Some("limit") => Some(l.t("login.too_many")),
        Some(_) => Some(l.t("login.failed")),
        None => None,
    };
    login_page(l, note, StatusCode::OK)
}

fn login_page(l: Lang, note: Option<&str>, status: StatusCode) -> Response {
    let mut h = Html::new();
    head(&mut h, l, l.t("login.title"));
    let other = match l {
        Lang::Zh => "/console/lang/en?back=/console/login",
        Lang::En => "/console/lang/zh?back=/console/login",
    };
    h.raw("<main class=\"narrow\"><h1>")
        .text(l.t("login.title"))
        .raw("</h1>");
    if let Some(n) = note {
        h.raw("<p class=\"error\" role=\"alert\" id=\"login-error\">")
            .text(n)
            .raw("</p>");
    }
    h.raw("<form method=\"post\" action=\"/console/login\" class=\"stack\"><label>")
        .text(l.t("login.code"))
        .raw(
            "<input name=\"code\" id=\"code\" autocomplete=\"one-time-code\" maxlength=\"64\"></label><p>",
        )
        .text(l.t("login.or_password"))
        .raw("</p><label>")
        .text(l.t("login.member"))
        .raw("<input name=\"member\" id=\"member\" maxlength=\"200\" autocomplete=\"username\"></label><label>")
        .text(l.t("login.password"))
        .raw("<input type=\"password\" name=\"password\" id=\"password\" maxlength=\"1024\" autocomplete=\"current-password\"></label><button type=\"submit\" id=\"sign-in\">")
        .text(l.t("login.submit"))
        .raw("</button></form><p>")
        .el("a", &[("href", v(other))], l.t("nav.lang"))
        .raw("</p></main></body></html>");
    page(status, h)
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    member: String,
    #[serde(default)]
    password: String,
}

fn to_login(reason: &str) -> Response {
    Redirect::to(&format!("/console/login?failed={reason}")).into_response()
}

/// `POST /console/login`: a one-time code, or a member id and password. Rate limited per
/// client address (every attempt; a success gives its token back) and per member (failed
/// attempts); every failure is logged with the address and reason, never the secret.
pub async fn login(
    State(app): State<Arc<App>>,
    Peer(peer): Peer,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let l = lang_of(&headers);
    let secure = app.console.secure();
    if !same_origin(&headers, secure) {
        tracing::warn!(client = ?peer.map(|p| p.ip()), "console sign-in from another origin refused");
        return Refused::new(
            StatusCode::FORBIDDEN,
            "error.forbidden",
            "cross-site request refused",
        )
        .in_lang(l)
        .into_response();
    }
    let Ok(Form(form)) = form else {
        return login_page(l, Some(l.t("login.failed")), StatusCode::BAD_REQUEST);
    };
    let key = session::address_key(peer);
    let limits = &app.console.sign_in;
    if limits.by_address.take(&key).is_err() {
        tracing::warn!(client = ?peer.map(|p| p.ip()), "console sign-in refused: too many attempts");
        return too_many(l);
    }
    let named = form.member.trim().to_string();
    if form.code.trim().is_empty() && !named.is_empty() && limits.by_member.check(&named).is_err() {
        tracing::warn!(member = %named, "console sign-in refused: too many failures for this member");
        return too_many(l);
    }
    let storage = app.storage.clone();
    let attempt = tokio::task::spawn_blocking(move || {
        if form.code.trim().is_empty() {
            session::sign_in_with_password(&*storage, &named, &form.password)
        } else {
            session::sign_in_with_code(&*storage, &form.code)
        }
    })
    .await;
    let member = match attempt {
        Ok(Ok(SignIn::Member(m))) => m,
        Ok(Ok(SignIn::Failed(m))) => {
            if let Some(m) = &m {
                limits.by_member.charge(m);
            }
            tracing::warn!(client = ?peer.map(|p| p.ip()), member = ?m, "console sign-in failed");
            return to_login("1");
        }
        Ok(Err(e)) => {
            limits.by_address.give_back(&key);
            return Refused::from(e).in_lang(l).into_response();
        }
        Err(e) => {
            limits.by_address.give_back(&key);
            return Refused::internal(e).in_lang(l).into_response();
        }
    };
    let dir = match session::current_directory(&app).await {
        Ok(d) => d,
        Err(e) => return Refused::from(e).in_lang(l).into_response(),
    };
    if !dir.member(&member).is_some_and(|m| console_role(m.role)) {
        tracing::warn!(%member, "console sign-in refused: no console role");
        return to_login("role");
    }
    limits.by_address.give_back(&key);
    let client: String = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    let storage = app.storage.clone();
    let m = member.clone();
    let token =
        match tokio::task::spawn_blocking(move || session::open_session(&*storage, &m, &client))
            .await
        {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => return Refused::from(e).in_lang(l).into_response(),
            Err(e) => return Refused::internal(e).in_lang(l).into_response(),
        };
    let mut r = Redirect::to("/console").into_response();
    if let Ok(c) = HeaderValue::from_str(&session_cookie(&token, secure)) {
        r.headers_mut().insert(SET_COOKIE, c);
    }
    r
}

fn too_many(l: Lang) -> Response {
    let mut r = login_page(
        l,
        Some(l.t("login.too_many")),
        StatusCode::TOO_MANY_REQUESTS,
    );
    r.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        HeaderValue::from_static("60"),
    );
    r
}

#[derive(Debug, Default, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/logout`: revokes the session.
pub async fn logout(
    State(app): State<Arc<App>>,
    s: Session,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Refused> {
    let secure = app.console.secure();
    s.check_write(&headers, secure, &f.csrf)
        .map_err(|r| r.in_lang(s.lang))?;
    let (storage, id) = (app.storage.clone(), s.row.id.clone());
    tokio::task::spawn_blocking(move || {
        db::write(&*storage, |db| {
            db::revoke(db, &db::Revoke::Session(&id), now_ms())
        })
    })
    .await
    .map_err(Refused::internal)??;
    let mut r = Redirect::to("/console/login").into_response();
    if let Ok(c) = HeaderValue::from_str(&cleared_cookie(secure)) {
        r.headers_mut().insert(SET_COOKIE, c);
    }
    Ok(r)
}

#[derive(Debug, Default, Deserialize)]
pub struct LangQuery {
    #[serde(default)]
    back: Option<String>,
}

/// `GET /console/lang/{zh|en}`: remembers the language and goes back (only to a console
/// page: never an open redirect).
pub async fn set_lang(
    State(app): State<Arc<App>>,
    UrlPath(lang): UrlPath<String>,
    Query(q): Query<LangQuery>,
) -> Response {
    let lang = Lang::parse(&lang).unwrap_or_default();
    let back = q
        .back
        .filter(|b| {
            b.starts_with("/console")
                && !b.starts_with("//")
                && !b.contains('\\')
                && b.len() < 2000
                && b.bytes().all(|c| c.is_ascii_graphic())
        })
        .unwrap_or_else(|| "/console".to_string());
    let mut r = StatusCode::SEE_OTHER.into_response();
    let h = r.headers_mut();
    if let Ok(loc) = HeaderValue::from_str(&back) {
        h.insert(LOCATION, loc);
    }
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/console; SameSite=Strict; Max-Age=31536000{}",
        match lang {
            Lang::Zh => "zh",
            Lang::En => "en",
        },
        if app.console.secure() { "; Secure" } else { "" }
    );
    if let Ok(c) = HeaderValue::from_str(&cookie) {
        h.insert(SET_COOKIE, c);
    }
    r
}

// ---------------------------------------------------------------- the queue

#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    grid: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    /// `1`: only the queue's fragment (the script's refresh).
    #[serde(default)]
    partial: Option<String>,
}

/// A filter value from the query: trimmed, bounded, empty meaning none.
fn opt(s: &Option<String>, max: usize) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(max).collect())
}

/// Open cases shown at most.
const QUEUE_MAX: usize = 1000;

pub async fn queue(
    State(app): State<Arc<App>>,
    s: Session,
    headers: HeaderMap,
    Query(q): Query<QueueQuery>,
) -> Result<Response, Refused> {
    let l = s.lang;
    let grid = opt(&q.grid, 200);
    if let Some(g) = &grid
        && !s.sees_grid(g)
    {
        return Err(Refused::new(
            StatusCode::FORBIDDEN,
            "error.forbidden",
            format!("grid {g} is outside your grids"),
        )
        .in_lang(l));
    }
    let filter = Filter {
        category: opt(&q.category, 64),
        status: opt(&q.status, 64),
        unit: opt(&q.unit, 200),
        text: opt(&q.q, 100)
            .map(|t| db::normalize(&t))
            .filter(|t| !t.is_empty()),
    };
    let limit = q.limit.unwrap_or(200).clamp(1, QUEUE_MAX);
    let grids: Option<Vec<String>> = match (&grid, s.member.role) {
        (Some(g), _) => Some(vec![g.clone()]),
        (None, outpost_core::Role::Admin) => None,
        (None, _) => Some(s.member.grids.clone()),
    };
    let storage = app.storage.clone();
    let (f, gs) = (filter.clone(), grids.clone());
    let (open, overdue) = tokio::task::spawn_blocking(move || {
        let mut open: Vec<CaseRow> = Vec::new();
        let each: Vec<Option<&str>> = match &gs {
            None => vec![None],
            Some(gs) => gs.iter().map(|g| Some(g.as_str())).collect(),
        };
        for g in each {
            open.extend(db::read(&*storage, |db| match &f.text {
                Some(t) => super::search::open_matching(db, g, &f, t, limit),
                None => db::open_cases(db, g, &f, limit),
            })?);
        }
        open.sort_by(|a, b| {
            (a.urgency_rank, a.created_at, &a.id).cmp(&(b.urgency_rank, b.created_at, &b.id))
        });
        open.truncate(limit);
        let overdue = storage.queues(gs.as_deref(), now_ms(), 100)?.overdue;
        Ok::<_, crate::storage::StoreError>((open, overdue))
    })
    .await
    .map_err(Refused::internal)??;
    let now = now_ms();
    let mut frag = Html::new();
    queue_fragment(&mut frag, &s, &open, &overdue, now);
    if q.partial.as_deref() == Some("1") {
        return Ok(super::page_for(&headers, StatusCode::OK, frag));
    }
    let mut h = Html::new();
    head(&mut h, l, l.t("nav.queue"));
    nav(&mut h, &s, "/console");
    h.raw("<main><div id=\"alerts\" role=\"alert\" aria-live=\"assertive\"></div>");
    filters(&mut h, &s, &grid, &filter, &q.q);
    h.raw("<section id=\"queue\" data-live=\"waiting\">")
        .append(frag)
        .raw("</section></main></body></html>");
    Ok(super::page_for(&headers, StatusCode::OK, h))
}

fn select(
    h: &mut Html,
    l: Lang,
    name: &'static str,
    label: &'static str,
    chosen: Option<&str>,
    options: &[(String, String)],
) {
    h.raw("<label>")
        .text(l.t(label))
        .open("select", &[("name", v(name)), ("id", v(name))])
        .raw("<option value=\"\">")
        .text(l.t("queue.all"))
        .raw("</option>");
    for (value, text) in options {
        h.open(
            "option",
            &[
                ("value", v(value)),
                ("selected", flag(chosen == Some(value.as_str()))),
            ],
        )
        .text(text)
        .close("option");
    }
    h.raw("</select></label>");
}

fn filters(h: &mut Html, s: &Session, grid: &Option<String>, f: &Filter, q: &Option<String>) {
    let l = s.lang;
    h.raw("<form method=\"get\" action=\"/console\" class=\"filters\" id=\"filters\">");
    let grids: Vec<(String, String)> = s
        .grids()
        .into_iter()
        .map(|g| (g.clone(), s.grid_name(&g).to_string()))
        .collect();
    select(h, l, "grid", "queue.grid", grid.as_deref(), &grids);
    let cats: Vec<(String, String)> = outpost_core::Category::ALL
        .iter()
        .map(|c| {
            (
                c.as_str().to_string(),
                l.label("category", c.as_str()).into_owned(),
            )
        })
        .collect();
    select(
        h,
        l,
        "category",
        "queue.category",
        f.category.as_deref(),
        &cats,
    );
    let statuses: Vec<(String, String)> = outpost_core::Status::ALL
        .iter()
        .filter(|st| st.is_open())
        .map(|st| {
            (
                st.as_str().to_string(),
                l.label("status", st.as_str()).into_owned(),
            )
        })
        .collect();
    select(
        h,
        l,
        "status",
        "queue.status",
        f.status.as_deref(),
        &statuses,
    );
    let units: Vec<(String, String)> = s
        .dir
        .directory
        .units
        .iter()
        .map(|u| (u.id.clone(), u.name.clone()))
        .collect();
    select(h, l, "unit", "queue.unit", f.unit.as_deref(), &units);
    h.raw("<label>")
        .text(l.t("queue.search"))
        .open(
            "input",
            &[
                ("type", v("search")),
                ("name", v("q")),
                ("id", v("q")),
                ("maxlength", v("100")),
                ("value", v(q.as_deref().unwrap_or(""))),
            ],
        )
        .raw("</label><button type=\"submit\">")
        .text(l.t("queue.filter"))
        .raw("</button></form>");
}

fn queue_fragment(h: &mut Html, s: &Session, open: &[CaseRow], overdue: &[CaseRow], now: i64) {
    let l = s.lang;
    h.raw("<h2>")
        .text(l.t("queue.open"))
        .raw(" <span class=\"count\" id=\"open-count\">")
        .num(open.len())
        .raw("</span></h2>");
    case_table(h, s, open, now, "open-cases");
    h.raw("<h2>")
        .text(l.t("queue.overdue"))
        .raw(" <span class=\"count\">")
        .num(overdue.len())
        .raw("</span></h2>");
    case_table(h, s, overdue, now, "overdue-cases");
}

fn case_table(h: &mut Html, s: &Session, rows: &[CaseRow], now: i64, id: &'static str) {
    let l = s.lang;
    if rows.is_empty() {
        h.open("p", &[("class", v("empty")), ("id", v(id))])
            .text(l.t("queue.empty"))
            .close("p");
        return;
    }
    h.open("table", &[("id", v(id))]).raw("<thead><tr>");
    for k in [
        "queue.urgency",
        "queue.title",
        "queue.category",
        "queue.status",
        "queue.grid",
        "queue.unit",
        "queue.age",
        "case.deadline",
    ] {
        h.raw("<th>").text(l.t(k)).raw("</th>");
    }
    h.raw("</tr></thead><tbody>");
    for r in rows {
        let class = match (r.urgency.as_str(), r.status.as_str()) {
            ("life_safety", "new") => "ls fresh",
            ("life_safety", _) => "ls",
            _ => "",
        };
        let overdue = r.deadline.is_some_and(|d| d < now);
        let href = format!("/console/cases/{}", urlencode(&r.id));
        h.open(
            "tr",
            &[
                ("class", (!class.is_empty()).then_some(class)),
                ("data-id", v(&r.id)),
            ],
        )
        .open("td", &[])
        .el(
            "span",
            &[("class", v(&format!("badge u-{}", css_word(&r.urgency))))],
            &l.label("urgency", &r.urgency),
        )
        .raw("</td><td>")
        .el("a", &[("href", v(&href))], &r.title)
        .raw("</td><td>")
        .text(&l.label("category", &r.category))
        .raw("</td><td>")
        .text(&l.label("status", &r.status))
        .raw("</td><td>")
        .text(s.grid_name(&r.grid_id))
        .raw("</td><td>")
        .text(r.assigned_unit.as_deref().map_or("", |u| s.unit_name(u)))
        .raw("</td><td>")
        .text(&span((now - r.created_at).max(0)))
        .raw("</td>")
        .open("td", &[("class", overdue.then_some("overdue"))])
        .text(&r.deadline.map(time).unwrap_or_default())
        .raw("</td></tr>");
    }
    h.raw("</tbody></table>");
}

/// A stored value reduced to what a class name may hold.
fn css_word(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(32)
        .collect()
}

// ---------------------------------------------------------------- a case

/// Loads a case the session may see; `None` when it does not exist or is outside the
/// member's grids (the same answer, so ids cannot be probed).
pub fn load_case(
    storage: &dyn crate::storage::Storage,
    s: &Session,
    id: &str,
) -> Result<Option<(AutoCommit, Box<Case>)>, Refused> {
    if !valid_doc_id(id) {
        return Ok(None);
    }
    let Some(snapshot) = db::read(storage, |db| db::snapshot(db, id))? else {
        return Ok(None);
    };
    let doc = load_snapshot(&snapshot)
        .map_err(|e| Refused::internal(format!("stored document {id}: {e}")))?;
    let case = match read_view(&doc, id) {
        Ok(DocView::Case(c)) => c,
        Ok(DocView::Inspection(_)) => return Ok(None),
        Err(e) => return Err(Refused::internal(format!("stored document {id}: {e}"))),
    };
    if !s.sees_grid(&case.grid_id) {
        return Ok(None);
    }
    Ok(Some((doc, case)))
}

/// The actions the console has a form for, by core's name ([`rules::Action::as_str`]);
/// core's other actions (photos, edits, moves) are the phone's.
const CONSOLE_ACTIONS: [&str; 8] = [
    "accept",
    "dispatch",
    "progress",
    "resolve",
    "follow_up",
    "reopen",
    "cancel",
    "comment",
];

pub async fn case(
    State(app): State<Arc<App>>,
    s: Session,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, Refused> {
    let l = s.lang;
    let storage = app.storage.clone();
    let s2 = s.clone();
    let found = tokio::task::spawn_blocking(move || {
        let Some((_, case)) = load_case(&*storage, &s2, &id)? else {
            return Ok(None);
        };
        let others = sketch_points(&*storage, &case.grid_id)?;
        Ok::<_, Refused>(Some((case, others)))
    })
    .await
    .map_err(Refused::internal)??;
    let Some((case, others)) = found else {
        return Err(Refused::new(StatusCode::NOT_FOUND, "error.not_found", "").in_lang(l));
    };
    let now = now_ms();
    let mut h = Html::new();
    head(&mut h, l, &case.title);
    nav(&mut h, &s, &format!("/console/cases/{}", case.id));
    h.raw("<main class=\"case\"><div id=\"alerts\" role=\"alert\" aria-live=\"assertive\"></div>")
        .open(
            "article",
            &[("id", v("case")), ("data-status", v(case.status.as_str()))],
        )
        .raw("<h1>")
        .el(
            "span",
            &[(
                "class",
                v(&format!("badge u-{}", css_word(case.urgency.as_str()))),
            )],
            &l.label("urgency", case.urgency.as_str()),
        )
        .raw(" ")
        .text(&case.title)
        .raw("</h1><dl class=\"facts\"><dt>")
        .text(l.t("queue.status"))
        .raw("</dt><dd id=\"status\">")
        .text(&l.label("status", case.status.as_str()))
        .raw("</dd><dt>")
        .text(l.t("queue.category"))
        .raw("</dt><dd>")
        .text(&l.label("category", case.category.as_str()))
        .raw("</dd><dt>")
        .text(l.t("queue.grid"))
        .raw("</dt><dd>")
        .text(s.grid_name(&case.grid_id))
        .raw("</dd><dt>")
        .text(l.t("case.reporter"))
        .raw("</dt><dd>")
        .text(s.name_of(&case.reporter_id))
        .raw("</dd>");
    if let Some(u) = &case.assigned_unit {
        h.raw("<dt>")
            .text(l.t("case.unit"))
            .raw("</dt><dd id=\"unit\">")
            .text(s.unit_name(u))
            .raw("</dd>");
    }
    if let Some(d) = case.deadline {
        h.raw("<dt>")
            .text(l.t("case.deadline"))
            .raw("</dt>")
            .open(
                "dd",
                &[(
                    "class",
                    (d < now && case.status.is_open()).then_some("overdue"),
                )],
            )
            .text(&time(d))
            .raw("</dd>");
    }
    if let Some(a) = case.location.as_ref().and_then(|l| l.address.as_deref()) {
        h.raw("<dt>")
            .text(l.t("case.address"))
            .raw("</dt><dd>")
            .text(a)
            .raw("</dd>");
    }
    if let Some(f) = &case.follow_up {
        h.raw("<dt>")
            .text(l.t("case.satisfaction"))
            .raw("</dt><dd>")
            .num(f.satisfaction)
            .raw(" / 5</dd>");
    }
    h.raw("</dl>");
    if !case.description.is_empty() {
        h.raw("<p class=\"description\">")
            .text(&case.description)
            .raw("</p>");
    }
    actions_block(&mut h, &s, &case);
    timeline(&mut h, &s, &case);
    if !case.attachments.is_empty() {
        h.raw("<h2>")
            .text(l.t("case.photos"))
            .raw("</h2><div class=\"photos\">");
        for p in &case.attachments {
            let src = format!("/console/photos/{}", urlencode(p));
            h.open("a", &[("href", v(&src))])
                .open(
                    "img",
                    &[
                        ("src", v(&src)),
                        ("alt", v(l.t("case.photos"))),
                        ("loading", v("lazy")),
                    ],
                )
                .close("a");
        }
        h.raw("</div>");
    }
    h.raw("<h2>").text(l.t("case.map")).raw("</h2>");
    sketch(&mut h, l, &case, &others);
    h.raw("</article></main></body></html>");
    Ok(super::page_for(&headers, StatusCode::OK, h))
}

/// The words on an action's button.
fn action_key(name: &str) -> &'static str {
    match name {
        "accept" => "action.accept",
        "dispatch" => "action.dispatch",
        "progress" => "action.progress",
        "resolve" => "action.resolve",
        "follow_up" => "action.follow_up",
        "reopen" => "action.reopen",
        "cancel" => "action.cancel",
        _ => "action.comment",
    }
}

fn actions_block(h: &mut Html, s: &Session, case: &Case) {
    let l = s.lang;
    h.raw("<section class=\"actions\" id=\"actions\"><h2>")
        .text(l.t("case.actions"))
        .raw("</h2>");
    let action = format!("/console/cases/{}/act", urlencode(&case.id));
    // What core offers this member on this case, in its button order, with the reason for
    // each action it withholds: the console decides nothing of it.
    for offer in rules::case_actions(Some(&s.member), case) {
        let name = offer.action.as_str();
        if !CONSOLE_ACTIONS.contains(&name) {
            continue;
        }
        let key = action_key(name);
        if !offer.allowed() {
            let why = offer.reason.unwrap_or_default();
            // Withheld: shown with core's reason, so nobody wonders where a button went.
            h.open("p", &[("class", v("withheld")), ("data-action", v(name))])
                .open("button", &[("type", v("button")), ("disabled", v(""))])
                .text(l.t(key))
                .close("button")
                .raw(" <small>")
                .text(l.t("action.withheld"))
                .raw(": ")
                .text(&why)
                .raw("</small></p>");
            continue;
        }
        h.open(
            "form",
            &[
                ("method", v("post")),
                ("action", v(&action)),
                ("class", v("act")),
                ("id", v(&format!("act-{name}"))),
            ],
        );
        csrf_field(h, s);
        h.open(
            "input",
            &[
                ("type", v("hidden")),
                ("name", v("action")),
                ("value", v(name)),
            ],
        );
        match name {
            "dispatch" => {
                h.raw("<label>")
                    .text(l.t("case.unit"))
                    .raw("<select name=\"unit\" id=\"dispatch-unit\">");
                for u in &s.dir.directory.units {
                    h.el("option", &[("value", v(&u.id))], &u.name);
                }
                h.raw("</select></label><label>")
                    .text(l.t("case.deadline"))
                    .raw(" <input type=\"number\" name=\"hours\" id=\"dispatch-hours\" min=\"1\" max=\"8760\" value=\"24\"> ")
                    .text(l.t("case.hours"))
                    .raw("</label>");
            }
            "follow_up" => {
                h.raw("<label>")
                    .text(l.t("case.satisfaction"))
                    .raw(" <select name=\"satisfaction\" id=\"follow-up-satisfaction\">");
                for n in (1..=5).rev() {
                    let t = n.to_string();
                    h.el("option", &[("value", v(&t))], &t);
                }
                h.raw("</select></label><label>")
                    .text(l.t("case.note"))
                    .raw(" <input name=\"text\" maxlength=\"5000\"></label>");
            }
            "progress" | "resolve" => {
                h.raw("<label>")
                    .text(l.t("case.note"))
                    .raw(" ")
                    .open(
                        "input",
                        &[
                            ("name", v("text")),
                            ("maxlength", v("5000")),
                            ("id", v(&format!("{name}-note"))),
                        ],
                    )
                    .raw("</label>");
            }
            "reopen" | "cancel" => {
                h.raw("<label>")
                    .text(l.t("case.reason"))
                    .raw(" ")
                    .open(
                        "input",
                        &[
                            ("name", v("text")),
                            ("required", v("")),
                            ("maxlength", v("5000")),
                            ("id", v(&format!("{name}-reason"))),
                        ],
                    )
                    .raw("</label>");
            }
            "comment" => {
                h.raw("<label>")
                    .text(l.t("case.text"))
                    .raw(" <input name=\"text\" required maxlength=\"5000\" id=\"comment-text\"></label>");
            }
            _ => {}
        }
        h.open(
            "button",
            &[("type", v("submit")), ("id", v(&format!("do-{name}")))],
        )
        .text(l.t(key))
        .raw("</button></form>");
    }
    h.raw("</section>");
}

fn timeline(h: &mut Html, s: &Session, case: &Case) {
    let l = s.lang;
    h.raw("<h2>")
        .text(l.t("case.timeline"))
        .raw("</h2><ol class=\"timeline\" id=\"timeline\">");
    for e in &case.timeline {
        let ev = &e.event;
        h.open(
            "li",
            &[
                ("class", e.conflict.is_some().then_some("conflict")),
                ("data-kind", v(ev.kind.name())),
            ],
        )
        .el("time", &[], &time(ev.at))
        .raw(" <strong>")
        .text(&l.label("event", ev.kind.name()))
        .raw("</strong> · ")
        .text(s.name_of(&ev.author))
        .raw(" (")
        .text(&l.label("role", ev.role.as_str()))
        .raw(")");
        let detail: Option<String> = match &ev.kind {
            EventKind::Dispatched { unit_id, deadline } => Some(format!(
                "→ {} · {} {}",
                s.unit_name(unit_id),
                l.t("case.deadline"),
                time(*deadline)
            )),
            EventKind::Progress { note } | EventKind::Resolved { note } => Some(note.clone()),
            EventKind::FollowUp(f) => Some(format!(
                "{} {}/5 {}",
                l.t("case.satisfaction"),
                f.satisfaction,
                f.note
            )),
            EventKind::Reopened { reason } | EventKind::Cancelled { reason } => {
                Some(reason.clone())
            }
            EventKind::Comment { text } => Some(text.clone()),
            EventKind::Edited(e) => Some(e.field_names()),
            EventKind::Moved { grid_id } => Some(format!("→ {}", s.grid_name(grid_id))),
            _ => None,
        };
        if let Some(d) = detail.filter(|d| !d.trim().is_empty()) {
            h.raw("<div class=\"detail\">").text(&d).raw("</div>");
        }
        if let Some(c) = &e.conflict {
            h.raw("<div class=\"conflict-note\">⚠ ")
                .text(l.t("case.conflict"))
                .raw(": ")
                .text(c)
                .raw("</div>");
        }
        h.raw("</li>");
    }
    h.raw("</ol>");
}

/// Open cases of a grid with a location, drawn around the case page's case.
const SKETCH_CASES: usize = 200;

fn sketch_points(
    storage: &dyn crate::storage::Storage,
    grid: &str,
) -> Result<Vec<(String, Location, String)>, Refused> {
    let ids = db::read(storage, |db| db::grid_case_ids(db, grid, SKETCH_CASES))?;
    let mut out = Vec::new();
    for id in ids {
        let Some(snap) = db::read(storage, |db| db::snapshot(db, &id))? else {
            continue;
        };
        let Ok(doc) = load_snapshot(&snap) else {
            continue;
        };
        if let Ok(DocView::Case(c)) = read_view(&doc, &id)
            && let Some(loc) = c.location
        {
            out.push((id, loc, c.urgency.as_str().to_string()));
        }
    }
    Ok(out)
}

/// The grid's open cases as dots on a plain drawing scaled to their extent (no tiles from
/// anywhere), this case ringed.
fn sketch(h: &mut Html, l: Lang, case: &Case, others: &[(String, Location, String)]) {
    let Some(me) = &case.location else {
        h.raw("<p class=\"empty\">")
            .text(l.t("case.no_location"))
            .raw("</p>");
        return;
    };
    let pts: Vec<(f64, f64)> = others
        .iter()
        .map(|(_, p, _)| (p.lon, p.lat))
        .chain(std::iter::once((me.lon, me.lat)))
        .collect();
    let (mut x0, mut x1, mut y0, mut y1) = (me.lon, me.lon, me.lat, me.lat);
    for (x, y) in &pts {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    // At least ~200 m across, so a lone case sits in the middle.
    let pad = 0.001;
    let (w, hgt) = ((x1 - x0).max(pad * 2.0), (y1 - y0).max(pad * 2.0));
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let (x0, y0) = (cx - w / 2.0 - pad, cy - hgt / 2.0 - pad);
    let (w, hgt) = (w + 2.0 * pad, hgt + 2.0 * pad);
    let px = |x: f64| ((x - x0) / w * 400.0).clamp(0.0, 400.0);
    let py = |y: f64| (300.0 - (y - y0) / hgt * 300.0).clamp(0.0, 300.0);
    h.raw("<svg class=\"sketch\" id=\"sketch\" viewBox=\"0 0 400 300\" width=\"400\" height=\"300\" role=\"img\">")
        .el("title", &[], l.t("case.map"))
        .raw("<rect x=\"0\" y=\"0\" width=\"400\" height=\"300\" fill=\"#f4f6f8\" stroke=\"#c8ccd0\"/>");
    for (id, p, urgency) in others {
        if *id == case.id {
            continue;
        }
        let fill = if urgency == "life_safety" {
            "#c62828"
        } else {
            "#607d8b"
        };
        let (x, y) = (format!("{:.1}", px(p.lon)), format!("{:.1}", py(p.lat)));
        let href = format!("/console/cases/{}", urlencode(id));
        h.open("a", &[("href", v(&href))])
            .open(
                "circle",
                &[
                    ("cx", v(&x)),
                    ("cy", v(&y)),
                    ("r", v("5")),
                    ("fill", v(fill)),
                ],
            )
            .raw("</circle></a>");
    }
    let (x, y) = (format!("{:.1}", px(me.lon)), format!("{:.1}", py(me.lat)));
    h.open(
        "circle",
        &[
            ("cx", v(&x)),
            ("cy", v(&y)),
            ("r", v("9")),
            ("fill", v("none")),
            ("stroke", v("#1565c0")),
            ("stroke-width", v("3")),
            ("id", v("this-case")),
        ],
    )
    .raw("</circle></svg>");
}

// ---------------------------------------------------------------- photos

/// Largest photo the console serves in one reply.
const PHOTO_MAX: u64 = 32 << 20;

/// `GET /console/photos/{hash}`: a photo, to a member who sees a document that references
/// it (the rule devices follow).
pub async fn photo(
    State(app): State<Arc<App>>,
    s: Session,
    UrlPath(hash): UrlPath<String>,
) -> Result<Response, Refused> {
    let l = s.lang;
    let nope = || Refused::new(StatusCode::NOT_FOUND, "error.not_found", "").in_lang(l);
    if hash.len() != 64
        || !hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(nope());
    }
    let Some(store) = app.blobs.get().cloned() else {
        return Err(nope());
    };
    let scope = crate::scope::member_scope(&s.member);
    let found = tokio::task::spawn_blocking(move || {
        if !store.visible(&hash, &scope)? {
            return Ok(None);
        }
        let Some(p) = store.photo(&hash)? else {
            return Ok(None);
        };
        if p.size > PHOTO_MAX {
            return Err(crate::storage::StoreError::Invalid(
                "photo too large".into(),
            ));
        }
        let mut bytes = Vec::with_capacity(p.size as usize);
        let mut at = 0;
        while at < p.size {
            let end = (at + crate::blobs::READ_PIECE).min(p.size);
            bytes.extend(store.read(&hash, at, end)?);
            at = end;
        }
        Ok::<_, crate::storage::StoreError>(Some((p.mime, bytes)))
    })
    .await
    .map_err(Refused::internal)??;
    let Some((mime, bytes)) = found else {
        return Err(nope());
    };
    // Only image types are served as what they are; anything else downloads.
    let kind = if mime.starts_with("image/") && !mime.contains("svg") {
        HeaderValue::from_str(&mime).unwrap_or(HeaderValue::from_static("application/octet-stream"))
    } else {
        HeaderValue::from_static("application/octet-stream")
    };
    let mut r = super::harden(bytes.into_response());
    r.headers_mut().insert(CONTENT_TYPE, kind);
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    Ok(r)
}
