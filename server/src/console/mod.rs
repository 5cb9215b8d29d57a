//! The workstation's console in the browser, served at `/console` by the server itself.
//!
//! Pages are rendered on the server ([`html::Html`]: every value escaped) from the same
//! storage and core code the sync API uses; one small script (`console.js`, embedded, no
//! build step) opens a server-sent event stream and refreshes the queue when a case of the
//! member's grids changes. Sign-in and sessions: [`session`]; the actions a member takes
//! become Automerge changes judged and stored like a phone's push: [`actions`].

pub mod actions;
pub mod db;
pub mod figures;
pub mod html;
pub mod i18n;
pub mod live;
pub mod pages;
pub mod search;
pub mod session;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::api::App;
use crate::throttle::EnrollLimits;
use html::Html;
use i18n::Lang;

/// The console's state in the server process.
pub struct Console {
    /// Cookies get `Secure` (the server speaks TLS or sits behind a TLS proxy).
    secure: AtomicBool,
    /// Sign-in attempts per client address and failed attempts per member, as for
    /// enrollment.
    pub sign_in: EnrollLimits,
    pub live: live::Live,
}

impl Console {
    pub fn new(per_address_per_minute: u32, failures_per_member_per_hour: u32) -> Console {
        Console {
            secure: AtomicBool::new(false),
            sign_in: EnrollLimits::new(per_address_per_minute, failures_per_member_per_hour),
            live: live::Live::default(),
        }
    }

    pub fn set_secure(&self, secure: bool) {
        self.secure.store(secure, Ordering::Relaxed);
    }

    pub fn secure(&self) -> bool {
        self.secure.load(Ordering::Relaxed)
    }
}

/// Starts the console's watcher (live updates, the search index) if it is not running: on
/// the first console request of this process.
pub fn start(app: &Arc<App>) {
    app.console.live.ensure_started(app);
}

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/console", get(pages::queue))
        .route("/console/", get(pages::queue))
        .route("/console/login", get(pages::login_form).post(pages::login))
        .route("/console/logout", post(pages::logout))
        .route("/console/lang/{lang}", get(pages::set_lang))
        .route("/console/cases/{id}", get(pages::case))
        .route("/console/cases/{id}/act", post(actions::act))
        .route("/console/photos/{hash}", get(pages::photo))
        .route("/console/figures", get(figures::page_handler))
        .route("/console/figures.csv", get(figures::csv))
        .route("/console/events", get(live::events))
        .route("/console/static/console.js", get(script))
        .route("/console/static/console.css", get(style))
}

const SCRIPT: &str = include_str!("console.js");
const STYLE: &str = include_str!("console.css");

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

/// The headers every console page carries: nothing runs or loads but this server's own
/// script and style; no framing; no referrer to elsewhere; never cached.
pub fn harden(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// An HTML page as a response.
pub fn page(status: StatusCode, body: Html) -> Response {
    let mut r = (status, body.into_string()).into_response();
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    harden(r)
}

/// Pages above this size are sent gzipped to a browser that takes it (the queue with
/// 1,000 cases shrinks about tenfold). Compressing pages that hold a CSRF token beside text
/// the requester chose is safe here only because no other site can make a browser send the
/// session cookie (`SameSite=Strict`), which a BREACH-style guess would need.
const GZIP_ABOVE: usize = 8 << 10;

/// An HTML page as a response, gzipped when large and the browser takes it.
pub fn page_for(headers: &axum::http::HeaderMap, status: StatusCode, body: Html) -> Response {
    let gzip = headers
        .get(axum::http::header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    if !gzip || body.len() <= GZIP_ABOVE {
        return page(status, body);
    }
    let bytes = outpost_core::sync::wire::gzip(body.into_string().as_bytes());
    let mut r = (status, bytes).into_response();
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        axum::http::header::CONTENT_ENCODING,
        HeaderValue::from_static("gzip"),
    );
    h.insert(
        axum::http::header::VARY,
        HeaderValue::from_static("Accept-Encoding"),
    );
    harden(r)
}

/// A refused console request, shown as a short page.
#[derive(Debug)]
pub struct Refused {
    pub status: StatusCode,
    /// The i18n key of the heading.
    pub key: &'static str,
    pub detail: String,
    pub lang: Lang,
}

impl Refused {
    pub fn new(status: StatusCode, key: &'static str, detail: impl Into<String>) -> Refused {
        Refused {
            status,
            key,
            detail: detail.into(),
            lang: Lang::Zh,
        }
    }

    pub fn in_lang(mut self, lang: Lang) -> Refused {
        self.lang = lang;
        self
    }

    pub fn internal(e: impl std::fmt::Display) -> Refused {
        tracing::error!(error = %e, "console request failed");
        Refused::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "error.bad_request",
            "internal error",
        )
    }
}

impl From<crate::storage::StoreError> for Refused {
    fn from(e: crate::storage::StoreError) -> Self {
        Refused::internal(e)
    }
}

impl From<crate::error::ApiError> for Refused {
    fn from(e: crate::error::ApiError) -> Self {
        Refused::new(e.status, "error.bad_request", e.message)
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let l = self.lang;
        let mut h = Html::new();
        pages::head(&mut h, l, l.t(self.key));
        h.raw("<main class=\"narrow\"><h1>")
            .text(l.t(self.key))
            .raw("</h1><p class=\"error\" role=\"alert\">")
            .text(&self.detail)
            .raw("</p><p><a href=\"/console\">")
            .text(l.t("nav.queue"))
            .raw("</a></p></main></body></html>");
        page(self.status, h)
    }
}
