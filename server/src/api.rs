//! HTTP endpoints: health, enrollment, directory, the sync feed and the workstation's read
//! API. Every endpoint but health and enrollment needs a device token.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Query, Request, State};
use axum::http::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use outpost_core::sync::validate::check_push;
use outpost_core::sync::wire::{
    self, Ack, COMPRESS_ABOVE, DirectoryView, EnrollRequest, EnrollResponse, PROTOCOL_VERSION,
    RefusalCode, SyncRequest, SyncResponse,
};
use outpost_core::{Member, Role};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::scope::{DirectoryIndex, format_cursor, member_scope, parse_cursor, scope_tag};
use crate::stats;
use crate::storage::{DeviceRecord, EnrollOutcome, PushContext, Scope, Storage};
use crate::throttle::EnrollLimits;
use crate::transport::{self, Counters, TransportConfig, client_key, is_loopback};

/// Limits on what one request may carry.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body on the wire.
    pub max_body: usize,
    /// Largest request body once decompressed.
    pub max_decompressed: usize,
    /// Largest reply page of changes (a device may ask for less).
    pub max_page: usize,
    /// Documents one push may carry.
    pub max_push_docs: usize,
    /// Changes one push may carry, over all its documents.
    pub max_push_changes: usize,
    /// Automerge operations one push may make the server decode (for core's decoding
    /// bounds; `None`: core's own default).
    pub max_push_ops: Option<u64>,
    /// Time a request may take, body upload included; a stalled client gets 408.
    pub request_timeout: Duration,
    /// Enrollment attempts per client address and minute (failed ones spend the budget;
    /// 0: no limit).
    pub enroll_per_minute: u32,
    /// Failed enrollment attempts per member and hour with that member's codes (0: no
    /// limit).
    pub enroll_failures_per_hour: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 8 << 20,
            max_decompressed: 32 << 20,
            max_page: 4 << 20,
            max_push_docs: 5000,
            max_push_changes: 50_000,
            max_push_ops: None,
            request_timeout: Duration::from_secs(60),
            enroll_per_minute: 10,
            enroll_failures_per_hour: 5,
        }
    }
}

pub struct App {
    pub storage: Arc<dyn Storage>,
    pub limits: Limits,
    pub metrics: Metrics,
    enroll_limits: EnrollLimits,
    index: RwLock<Arc<DirectoryIndex>>,
    /// Where photos live (`blobs.rs`); set once at start.
    pub(crate) blobs: std::sync::OnceLock<Arc<dyn crate::blobs::BlobStore>>,
    /// One push at a time per device.
    pushes: crate::pushing::PushTurns,
    /// Response time standards for the figures; set once at start.
    standards: std::sync::OnceLock<stats::Standards>,
    /// Devices by token hash, as the database last said, with the feed watch's epoch then:
    /// a sync with nothing new by one of them checks the token in the same statement that
    /// reads the feed, or, while the watch's epoch is unchanged, is answered by the watch.
    known: std::sync::Mutex<std::collections::HashMap<Vec<u8>, Known>>,
    /// What this process hears of every process's writes (PostgreSQL; set once at start).
    watch: std::sync::OnceLock<Arc<crate::storage::watch::FeedWatch>>,
    /// The workstation console's sign-in limits and live updates (`crate::console`).
    pub console: crate::console::Console,
}

/// A device as the database last said, and the feed watch's epoch then.
type Known = (DeviceRecord, Option<u64>);

/// Devices remembered in [`App::known`] before it starts over.
const KNOWN_DEVICES: usize = 200_000;

/// Counters since start, served at `/metrics` in Prometheus' text format. Aggregates only:
/// no ids, nothing about any one device.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: AtomicU64,
    errors: AtomicU64,
    syncs: AtomicU64,
    enrollments: AtomicU64,
    pushed_docs: AtomicU64,
    stored_changes: AtomicU64,
    refused_docs: AtomicU64,
    pulled_changes: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    rate_limited: AtomicU64,
    watched_syncs: AtomicU64,
    /// Connections: open, refused at a cap, timed out (`transport.rs`).
    pub transport: Arc<Counters>,
}

impl Metrics {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let rows: [(&str, &str, &AtomicU64); 12] = [
            ("outpost_requests_total", "HTTP requests", &self.requests),
            (
                "outpost_errors_total",
                "HTTP replies with status 500 or more",
                &self.errors,
            ),
            ("outpost_syncs_total", "sync round trips", &self.syncs),
            (
                "outpost_watched_syncs_total",
                "syncs with nothing new answered from the feed watch, with no statement",
                &self.watched_syncs,
            ),
            (
                "outpost_enrollments_total",
                "devices enrolled",
                &self.enrollments,
            ),
            (
                "outpost_pushed_docs_total",
                "documents acknowledged",
                &self.pushed_docs,
            ),
            (
                "outpost_stored_changes_total",
                "changes stored for the first time",
                &self.stored_changes,
            ),
            (
                "outpost_refused_docs_total",
                "pushed documents refused",
                &self.refused_docs,
            ),
            (
                "outpost_pulled_changes_total",
                "changes sent to devices",
                &self.pulled_changes,
            ),
            (
                "outpost_sync_bytes_in_total",
                "sync request bytes as received",
                &self.bytes_in,
            ),
            (
                "outpost_sync_bytes_out_total",
                "sync reply bytes as sent",
                &self.bytes_out,
            ),
            (
                "outpost_rate_limited_total",
                "requests answered 429 too_many_requests",
                &self.rate_limited,
            ),
        ];
        let mut out = String::new();
        for (name, help, c) in rows {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                c.load(Ordering::Relaxed)
            ));
        }
        self.transport.render(&mut out);
        out
    }
}

impl App {
    pub fn new(storage: Arc<dyn Storage>, limits: Limits) -> Arc<App> {
        Arc::new(App {
            storage,
            enroll_limits: EnrollLimits::new(
                limits.enroll_per_minute,
                limits.enroll_failures_per_hour,
            ),
            console: crate::console::Console::new(
                limits.enroll_per_minute,
                limits.enroll_failures_per_hour,
            ),
            limits,
            metrics: Metrics::default(),
            // Version -1 matches no stored directory: the first request loads it.
            index: RwLock::new(Arc::new(DirectoryIndex::new(crate::storage::Directory {
                version: -1,
                ..Default::default()
            }))),
            blobs: std::sync::OnceLock::new(),
            pushes: crate::pushing::PushTurns::default(),
            standards: std::sync::OnceLock::new(),
            known: std::sync::Mutex::new(std::collections::HashMap::new()),
            watch: std::sync::OnceLock::new(),
        })
    }

    /// Answers idle syncs from `watch` from now on ([`crate::storage::watch`]).
    pub fn set_watch(&self, watch: Arc<crate::storage::watch::FeedWatch>) {
        let _ = self.watch.set(watch);
    }

    /// The watch's epoch now (`None`: no watch, or not live).
    fn epoch(&self) -> Option<u64> {
        self.watch.get()?.epoch()
    }

    /// Sets the response time standards the figures apply (default: [`stats::Standards`]).
    pub fn set_standards(&self, standards: stats::Standards) {
        let _ = self.standards.set(standards);
    }

    pub(crate) fn standards(&self) -> stats::Standards {
        self.standards.get().cloned().unwrap_or_default()
    }

    /// The directory at `version`, reloaded when an administrator changed it.
    pub(crate) async fn index(&self, version: i64) -> Result<Arc<DirectoryIndex>, ApiError> {
        {
            let cur = self.index.read().unwrap_or_else(|p| p.into_inner());
            if cur.version == version {
                return Ok(cur.clone());
            }
        }
        let dir = blocking(self.storage.clone(), |s| s.directory()).await?;
        let fresh = Arc::new(DirectoryIndex::new(dir));
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        Ok(fresh)
    }
}

/// Runs a storage call on the blocking pool.
async fn blocking<R: Send + 'static>(
    storage: Arc<dyn Storage>,
    f: impl FnOnce(&dyn Storage) -> Result<R, crate::storage::StoreError> + Send + 'static,
) -> Result<R, ApiError> {
    tokio::task::spawn_blocking(move || f(&*storage))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn sha256(s: &[u8]) -> Vec<u8> {
    Sha256::digest(s).to_vec()
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Default)]
pub enum MetricsAccess {
    /// Not served: the endpoint does not exist on this listener.
    #[default]
    Hidden,
    /// Served to anyone who reaches the listener (loopback only).
    Open,
    /// Served to `Authorization: Bearer <token>`.
    Token(MetricsToken),
}

/// The administrator's token for `/metrics`; only its SHA-256 is kept.
#[derive(Clone)]
pub struct MetricsToken([u8; 32]);

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(..)")
    }
}

impl MetricsToken {
    pub fn new(secret: &str) -> Result<MetricsToken, String> {
        let secret = secret.trim();
        if secret.len() < 16 {
            return Err("the metrics token must be at least 16 characters long".into());
        }
        Ok(MetricsToken(Sha256::digest(secret.as_bytes()).into()))
    }

    /// Whether the request carries the token. The digests are compared in equal time, so
    /// the time taken says nothing about how much of a guess was right.
    fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
        else {
            return false;
        };
        let digest = Sha256::digest(given.as_bytes());
        let diff = digest
            .iter()
            .zip(self.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

/// The public router: every endpoint, `/metrics` as `metrics` says.
pub fn router(app: Arc<App>, metrics: MetricsAccess) -> Router {
    let limit = app.limits.max_body;
    let mut r = Router::new()
        .route("/health", get(health))
        .route("/v1/enroll", post(enroll))
        .route("/v1/directory", get(directory))
        .route("/v1/sync", post(sync))
        .route("/v1/queues", get(queues))
        .route("/v1/stats", get(figures))
        .merge(crate::blobs::routes())
        .merge(crate::console::routes());
    if !matches!(metrics, MetricsAccess::Hidden) {
        r = r.route("/metrics", metrics_route(metrics));
    }
    r.fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(app.clone(), time_limit))
        .layer(middleware::from_fn_with_state(app.clone(), log_request))
        .with_state(app)
}

/// The router of a listener of its own for `/metrics` (`serve --metrics-listen`).
pub fn metrics_router(app: Arc<App>, metrics: MetricsAccess) -> Router {
    Router::new()
        .route("/metrics", metrics_route(metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), log_request))
        .with_state(app)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

fn metrics_route(access: MetricsAccess) -> axum::routing::MethodRouter<Arc<App>> {
    get(move |State(app): State<Arc<App>>, headers: HeaderMap| {
        let access = access.clone();
        async move {
            if let MetricsAccess::Token(t) = &access
                && !t.allows(&headers)
            {
                let mut r = ApiError::unauthorized("the metrics token is required").into_response();
                r.headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return r;
            }
            let mut body = app.metrics.render();
            // A gauge read from the database: quarantined documents stay after a restart.
            let storage = app.storage.clone();
            match tokio::task::spawn_blocking(move || storage.quarantined()).await {
                Ok(Ok(q)) => body.push_str(&format!(
                    "# HELP outpost_quarantined_docs stored documents set aside because \
                     their snapshot does not load\n# TYPE outpost_quarantined_docs gauge\n\
                     outpost_quarantined_docs {}\n",
                    q.len()
                )),
                Ok(Err(e)) => tracing::warn!(error = %e, "metrics: quarantined documents"),
                Err(e) => tracing::warn!(error = %e, "metrics: quarantined documents"),
            }
            (
                [(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4"),
                )],
                body,
            )
                .into_response()
        }
    })
}

/// The authenticated device of a request, filled in by [`Caller`] for the request's log
/// line.
#[derive(Clone, Default)]
struct DeviceSlot(Arc<OnceLock<String>>);

/// What a sync did, for the request's one log line. The sync handler sets it on its
/// response (`resp.extensions_mut().insert(summary)`); the log middleware reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Pushed documents acknowledged, and changes stored for the first time.
    pub pushed_docs: usize,
    pub stored_changes: u64,
    /// Pushed documents refused, by refusal code.
    pub refused_wrong_actor: usize,
    pub refused_forbidden: usize,
    pub refused_invalid: usize,
    pub refused_malformed: usize,
    /// The first refused document and why (a sample for the log; the device has them all).
    pub first_refusal: Option<String>,
    pub pulled_docs: usize,
    pub more: bool,
}

impl SyncSummary {
    pub fn new(acks: &[Ack], pulled_docs: usize, more: bool) -> SyncSummary {
        let mut s = SyncSummary {
            pulled_docs,
            more,
            ..SyncSummary::default()
        };
        for a in acks {
            if a.ok {
                s.pushed_docs += 1;
                s.stored_changes += u64::from(a.stored);
                continue;
            }
            if s.first_refusal.is_none() {
                let reason: String = a
                    .reason
                    .as_deref()
                    .unwrap_or("")
                    .chars()
                    .take(300)
                    .collect();
                s.first_refusal = Some(format!("{}: {reason}", a.id));
            }
            match a.code {
                Some(RefusalCode::WrongActor) => s.refused_wrong_actor += 1,
                Some(RefusalCode::Forbidden) => s.refused_forbidden += 1,
                Some(RefusalCode::Invalid) => s.refused_invalid += 1,
                Some(RefusalCode::Malformed) | None => s.refused_malformed += 1,
            }
        }
        s
    }

    pub fn refused(&self) -> usize {
        self.refused_wrong_actor
            + self.refused_forbidden
            + self.refused_invalid
            + self.refused_malformed
    }
}

/// A request body that counts the bytes read from it.
struct Counted {
    inner: Body,
    n: Arc<AtomicU64>,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &r
            && let Some(data) = frame.data_ref()
        {
            self.n.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// One structured log line per request: method, path, status, time, bytes in (read from
/// the body) and out (the reply's length), the client's address, the device when
/// authenticated and, for a sync, what it pushed, refused and pulled.
async fn log_request(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    use http_body::Body as _;
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let slot = DeviceSlot::default();
    let received = Arc::new(AtomicU64::new(0));
    let n = received.clone();
    let mut req = req.map(|inner| Body::new(Counted { inner, n }));
    req.extensions_mut().insert(slot.clone());
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let hint = resp.body().size_hint();
    let bytes_out = hint.exact().unwrap_or(hint.lower());
    let bytes_in = received.load(Ordering::Relaxed);
    Metrics::add(&app.metrics.requests, 1);
    if status >= 500 {
        Metrics::add(&app.metrics.errors, 1);
    }
    if status == 429 {
        Metrics::add(&app.metrics.rate_limited, 1);
    }
    let device = slot.0.get().map(String::as_str);
    let sync = resp.extensions().get::<SyncSummary>();
    macro_rules! line {
        ($level:expr) => {
            tracing::event!(
                $level,
                %method,
                %path,
                status,
                ms,
                bytes_in,
                bytes_out,
                client = client.map(tracing::field::display),
                device,
                pushed = sync.map(|s| s.pushed_docs),
                stored = sync.map(|s| s.stored_changes),
                refused = sync.map(SyncSummary::refused),
                refused_wrong_actor = sync.map(|s| s.refused_wrong_actor).filter(|n| *n > 0),
                refused_forbidden = sync.map(|s| s.refused_forbidden).filter(|n| *n > 0),
                refused_invalid = sync.map(|s| s.refused_invalid).filter(|n| *n > 0),
                refused_malformed = sync.map(|s| s.refused_malformed).filter(|n| *n > 0),
                first_refusal = sync.and_then(|s| s.first_refusal.as_deref()),
                pulled_docs = sync.map(|s| s.pulled_docs),
                more = sync.map(|s| s.more),
                "request"
            )
        };
    }
    if status >= 500 {
        line!(tracing::Level::ERROR);
    } else if status >= 400 || sync.is_some_and(|s| s.refused() > 0) {
        line!(tracing::Level::WARN);
    } else {
        line!(tracing::Level::INFO);
    }
    resp
}

/// Ends requests that take longer than the limit, so a stalled upload holds nothing.
async fn time_limit(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(app.limits.request_timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "the request took too long",
        )
        .into_response(),
    }
}

async fn health(State(app): State<Arc<App>>) -> Response {
    match blocking(app.storage.clone(), |s| s.ping()).await {
        Ok(()) => Json(serde_json::json!({"status": "ok"})).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "storage unavailable"})),
        )
            .into_response(),
    }
}

/// The device making a request, its member and the directory it was judged by.
pub struct Caller {
    pub device: DeviceRecord,
    pub member: Member,
    pub dir: Arc<DirectoryIndex>,
}

/// The hash of the request's device token.
fn token_hash(parts: &Parts) -> Result<Vec<u8>, ApiError> {
    let token = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .ok_or_else(|| ApiError::unauthorized("a device token is required"))?;
    Ok(sha256(token.as_bytes()))
}

impl App {
    /// The device holding the token (hash), checked against the database now.
    async fn check(self: &Arc<App>, token_hash: Vec<u8>) -> Result<Caller, ApiError> {
        // Before the database is asked: a change heard meanwhile makes the record stale.
        let epoch = self.epoch();
        let hash = token_hash.clone();
        let found = blocking(self.storage.clone(), move |s| s.authenticate(&hash)).await?;
        let Some((device, version)) = found else {
            self.forget(&token_hash);
            return Err(ApiError::unauthorized("unknown device token"));
        };
        let dir = self.index(version).await?;
        self.caller(token_hash, device, dir, epoch)
    }

    /// The caller a checked device makes, remembered for its next sync.
    fn caller(
        &self,
        token_hash: Vec<u8>,
        device: DeviceRecord,
        dir: Arc<DirectoryIndex>,
        epoch: Option<u64>,
    ) -> Result<Caller, ApiError> {
        if device.revoked_at.is_some() {
            self.forget(&token_hash);
            return Err(ApiError::unauthorized("this device's token was revoked"));
        }
        let Some(member) = dir.member(&device.member_id).cloned() else {
            self.forget(&token_hash);
            return Err(ApiError::unauthorized(
                "the member is no longer in the directory",
            ));
        };
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= KNOWN_DEVICES {
            known.clear();
        }
        known.insert(token_hash, (device.clone(), epoch));
        Ok(Caller {
            device,
            member,
            dir,
        })
    }

    fn forget(&self, token_hash: &[u8]) {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token_hash);
    }

    /// The caller as last checked, with the directory as it is in memory now, and the
    /// watch's epoch when it was checked.
    fn known_caller(&self, token_hash: &[u8]) -> Option<(Caller, Option<u64>)> {
        let (device, epoch) = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token_hash)?
            .clone();
        let dir = self.index.read().unwrap_or_else(|p| p.into_inner()).clone();
        let member = dir.member(&device.member_id)?.clone();
        Some((
            Caller {
                device,
                member,
                dir,
            },
            epoch,
        ))
    }

    /// The device checked again by a sync's statement: remembered with the epoch read
    /// before that statement.
    fn rechecked(&self, token_hash: &[u8], epoch: Option<u64>) {
        if let Some(e) = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(token_hash)
        {
            e.1 = epoch;
        }
    }
}

/// Names the request's device for its log line.
fn log_device(parts: &Parts, device: &DeviceRecord) {
    if let Some(slot) = parts.extensions.get::<DeviceSlot>() {
        let _ = slot.0.set(device.id.clone());
    }
}

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let caller = app.check(token_hash(parts)?).await?;
        log_device(parts, &caller.device);
        Ok(caller)
    }
}

/// The caller of a sync: checked against the database now, or known from an earlier
/// request, to be checked by the sync's own first statement.
pub struct SyncCaller {
    token_hash: Vec<u8>,
    caller: Caller,
    checked: bool,
    /// The watch's epoch when a known caller was last checked.
    epoch: Option<u64>,
}

impl FromRequestParts<Arc<App>> for SyncCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let token_hash = token_hash(parts)?;
        let who = match app.known_caller(&token_hash) {
            Some((caller, epoch)) => SyncCaller {
                token_hash,
                caller,
                checked: false,
                epoch,
            },
            None => SyncCaller {
                caller: app.check(token_hash.clone()).await?,
                token_hash,
                checked: true,
                epoch: None,
            },
        };
        log_device(parts, &who.caller.device);
        Ok(who)
    }
}

fn directory_view(dir: &DirectoryIndex, member: &Member) -> DirectoryView {
    DirectoryView {
        version: dir.version,
        member: member.clone(),
        grids: dir.directory.grids.clone(),
        units: dir.directory.units.clone(),
        templates: dir.directory.templates.clone(),
    }
}

/// Invite codes are compared without case, spaces or dashes, as people type them.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn valid_actor(actor: &str) -> bool {
    (2..=64).contains(&actor.len())
        && actor.len().is_multiple_of(2)
        && actor
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The client's socket address as the transport saw it; `None` when the router is
/// driven without [`transport::run`].
pub struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

/// 429 `too_many_requests` with `Retry-After` in whole seconds.
fn too_many(wait: Duration, what: &str) -> Response {
    let secs = (wait.as_secs_f64().ceil() as u64).max(1);
    let mut r = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        format!("{what}; try again in {secs} s"),
    )
    .into_response();
    r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// A failed enrollment attempt: the reply, the reason for the log, and the member whose
/// code it used, if the code was ever issued.
struct Refused {
    reply: Response,
    reason: &'static str,
    member: Option<String>,
    /// Spends the member's budget of failures.
    charge_member: bool,
    /// The server failed, not the client: no budget is spent.
    fault: bool,
}

impl Refused {
    fn new(reply: impl IntoResponse, reason: &'static str) -> Refused {
        Refused {
            reply: reply.into_response(),
            reason,
            member: None,
            charge_member: false,
            fault: false,
        }
    }

    fn fault(e: ApiError) -> Refused {
        Refused {
            fault: true,
            ..Refused::new(e, "server error")
        }
    }
}

/// Enrollment, rate limited: per client address every attempt takes a token, given back
/// when it succeeds; per member, failed attempts with that member's codes (spent, expired,
/// an actor in use) spend a budget. Every failure is logged with the address and the
/// reason, never the code.
async fn enroll(
    State(app): State<Arc<App>>,
    Peer(peer): Peer,
    body: Result<Json<EnrollRequest>, JsonRejection>,
) -> Response {
    let key = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| client_key(p.ip()));
    let client = peer.map(|p| p.ip());
    let limits = &app.enroll_limits;
    if let Err(wait) = limits.by_address.take(&key) {
        tracing::warn!(
            client = client.map(tracing::field::display),
            reason = "too many attempts from this address",
            "enrollment refused"
        );
        return too_many(wait, "too many enrollment attempts from this address");
    }
    match try_enroll(&app, body).await {
        Ok(reply) => {
            limits.by_address.give_back(&key);
            reply.into_response()
        }
        Err(r) => {
            if r.fault {
                limits.by_address.give_back(&key);
            }
            if r.charge_member
                && let Some(m) = &r.member
            {
                limits.by_member.charge(m);
            }
            tracing::warn!(
                client = client.map(tracing::field::display),
                reason = r.reason,
                member = r.member.as_deref(),
                "enrollment refused"
            );
            r.reply
        }
    }
}

async fn try_enroll(
    app: &Arc<App>,
    body: Result<Json<EnrollRequest>, JsonRejection>,
) -> Result<Json<EnrollResponse>, Refused> {
    let Json(req) = body.map_err(|e| Refused::new(ApiError::from(e), "unreadable request"))?;
    let code = normalize_code(&req.code);
    if code.is_empty() || code.len() > 64 {
        return Err(Refused::new(
            ApiError::bad_request("bad_code", "the invite code is malformed"),
            "malformed code",
        ));
    }
    if !valid_actor(&req.actor) {
        return Err(Refused::new(
            ApiError::bad_request("bad_actor", "the actor id must be lowercase hex"),
            "malformed actor id",
        ));
    }
    let code_hash = sha256(code.as_bytes());
    let h = code_hash.clone();
    let member = blocking(app.storage.clone(), move |s| s.invite_member(&h))
        .await
        .map_err(Refused::fault)?;
    if let Some(m) = &member
        && let Err(wait) = app.enroll_limits.by_member.check(m)
    {
        return Err(Refused {
            member: member.clone(),
            ..Refused::new(
                too_many(
                    wait,
                    "too many failed enrollment attempts with this member's codes",
                ),
                "too many failed attempts for this member",
            )
        });
    }
    let name: String = req.device_name.chars().take(100).collect();
    let mut raw = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut raw);
    let token = hex::encode(raw);
    let token_hash = sha256(token.as_bytes());
    let actor = req.actor.clone();
    let outcome = blocking(app.storage.clone(), move |s| {
        s.enroll(&code_hash, &actor, &token_hash, &name, now_ms())
    })
    .await
    .map_err(Refused::fault)?;
    let failed = |reply: ApiError, reason| Refused {
        member: member.clone(),
        charge_member: true,
        ..Refused::new(reply, reason)
    };
    let (device_id, member_id) = match outcome {
        EnrollOutcome::Enrolled {
            device_id,
            member_id,
        } => (device_id, member_id),
        EnrollOutcome::BadCode => {
            return Err(failed(
                ApiError::forbidden("the invite code is unknown, already used or expired"),
                "unknown, used or expired code",
            ));
        }
        EnrollOutcome::ActorInUse => {
            return Err(failed(
                ApiError::new(
                    StatusCode::CONFLICT,
                    "actor_in_use",
                    "another device already uses this actor id",
                ),
                "actor id in use by another device",
            ));
        }
    };
    let version = blocking(app.storage.clone(), |s| s.directory_version())
        .await
        .map_err(Refused::fault)?;
    let dir = app.index(version).await.map_err(Refused::fault)?;
    let member = dir.member(&member_id).ok_or_else(|| {
        Refused::fault(ApiError::internal(
            "enrolled member missing from the directory",
        ))
    })?;
    Metrics::add(&app.metrics.enrollments, 1);
    tracing::info!(device = %device_id, member = %member_id, "enrolled");
    Ok(Json(EnrollResponse {
        device_id,
        token,
        directory: directory_view(&dir, member),
    }))
}

async fn directory(caller: Caller) -> Json<DirectoryView> {
    Json(directory_view(&caller.dir, &caller.member))
}

async fn sync(
    State(app): State<Arc<App>>,
    who: SyncCaller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let gzipped = match headers.get(CONTENT_ENCODING).map(HeaderValue::as_bytes) {
        None => false,
        Some(v) if v.eq_ignore_ascii_case(b"gzip") => true,
        Some(v) if v.eq_ignore_ascii_case(b"identity") => false,
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                "bodies are sent as gzip or uncompressed",
            ));
        }
    };
    let req_bytes = body.len();
    let req: SyncRequest = wire::decode_body(&body, gzipped, app.limits.max_decompressed)?;
    if req.v != PROTOCOL_VERSION {
        return Err(ApiError::bad_request(
            "unsupported_version",
            format!("this server speaks sync protocol {PROTOCOL_VERSION}"),
        ));
    }
    // The work a push may ask for, bounded before any of it is done.
    if req.push.len() > app.limits.max_push_docs {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("at most {} documents per push", app.limits.max_push_docs),
        ));
    }
    let pushed_changes: usize = req.push.iter().map(|d| d.changes.len()).sum();
    if pushed_changes > app.limits.max_push_changes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("at most {} changes per push", app.limits.max_push_changes),
        ));
    }
    let max_bytes = match req.max_bytes {
        0 => app.limits.max_page,
        n => (n as usize).clamp(wire::MIN_PAGE_BYTES as usize, app.limits.max_page),
    };
    let SyncCaller {
        token_hash,
        caller,
        checked,
        epoch,
    } = who;
    let caller = match (checked, req.push.is_empty()) {
        (true, _) => caller,
        // A known device with nothing to push: one statement checks its token and reads
        // the feed, or none when the feed watch is sure nothing changed for it. Unless the
        // directory changed since: then the whole way.
        (false, true) => {
            match pull_known(&app, &token_hash, caller, epoch, &req.cursor, max_bytes).await? {
                Ok(done) => return Ok(reply(&app, &headers, req_bytes, Vec::new(), done)),
                Err(()) => app.check(token_hash).await?,
            }
        }
        // A push is judged only for a device checked now.
        (false, false) => app.check(token_hash).await?,
    };
    let scope = member_scope(&caller.member);
    let tag = scope_tag(&scope);
    let after = parse_cursor(&req.cursor, &tag)
        .ok_or_else(|| ApiError::bad_request("bad_cursor", "the cursor is not one of ours"))?;
    let actor = hex::decode(&caller.device.actor).map_err(ApiError::internal)?;
    let Caller {
        device,
        member,
        dir,
    } = caller;
    let directory_version = dir.version;
    let push = req.push;
    // Set when this handler is dropped (the time limit answered, the client left): the push
    // stops before its next document.
    let abandon = crate::pushing::Abandon::new();
    let cancel = abandon.flag();
    // One push per device at a time; the turn goes with the work, which may outlive a
    // dropped handler by one document.
    let turn = if push.is_empty() {
        None
    } else {
        Some(app.pushes.take(&device.id).await)
    };
    // A large push is judged on a thread of lower priority: interactive requests of other
    // devices come first for the CPU.
    let large = push.len() > LARGE_PUSH_DOCS || pushed_changes > LARGE_PUSH_CHANGES;
    let storage = app.storage.clone();
    let work = move || -> Result<_, crate::storage::StoreError> {
        let s = &*storage;
        let _turn = turn;
        let notes = crate::blobs::RefNotes::new(scope.clone());
        let acks = if push.is_empty() {
            Vec::new()
        } else {
            let check = |id: &str, existing, changes: &[Vec<u8>]| {
                let r = check_push(&member, &device.actor, id, existing, changes, &*dir);
                if let Ok(a) = &r {
                    notes.note(id, &a.view);
                }
                r
            };
            let ctx = PushContext {
                now: now_ms(),
                cancel: &cancel,
            };
            s.push(&push, &check, &ctx)?
        };
        let page = s.pull(&scope, after, max_bytes, &actor)?;
        Ok((acks, page, notes))
    };
    let (acks, page, notes) = if large {
        crate::pushing::in_background(work)
            .await
            .map_err(ApiError::internal)??
    } else {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(ApiError::internal)??
    };
    drop(abandon);
    app.note_refs(&acks, notes).await?;
    // Open consoles hear of the stored changes now (not at their next look at the feed).
    if acks.iter().any(|a| a.stored > 0) {
        app.console.live.poke();
    }
    let pulled = Pulled {
        directory_version,
        tag,
        page,
    };
    Ok(reply(&app, &headers, req_bytes, acks, pulled))
}

/// A push this large is judged at a lower priority (see `pushing::in_background`).
const LARGE_PUSH_DOCS: usize = 16;
const LARGE_PUSH_CHANGES: usize = 256;

/// A page of the feed for one device, ready to answer with.
struct Pulled {
    directory_version: i64,
    /// The scope tag of the cursor.
    tag: String,
    page: crate::storage::Page,
}

/// A sync with nothing to push by a device known from an earlier request: its token is
/// checked by the statement that starts reading the feed. `Err(())`: the directory changed
/// since the device was known; the caller takes the whole way.
async fn pull_known(
    app: &Arc<App>,
    token_hash: &[u8],
    caller: Caller,
    epoch: Option<u64>,
    cursor: &str,
    max_bytes: usize,
) -> Result<Result<Pulled, ()>, ApiError> {
    let scope = member_scope(&caller.member);
    let tag = scope_tag(&scope);
    let after = parse_cursor(cursor, &tag)
        .ok_or_else(|| ApiError::bad_request("bad_cursor", "the cursor is not one of ours"))?;
    // Nothing in the scope after the cursor, as every process's writes were heard, and
    // nothing about devices or the directory since this one was checked: no statement.
    if let (Some(w), Some(e)) = (app.watch.get(), epoch)
        && let Some(head) = w.quiet(e, &scope, after)
    {
        Metrics::add(&app.metrics.watched_syncs, 1);
        return Ok(Ok(Pulled {
            directory_version: caller.dir.version,
            tag,
            page: crate::storage::Page {
                docs: Vec::new(),
                cursor: head,
                more: false,
                bytes: 0,
            },
        }));
    }
    let checked_at = app.epoch();
    let actor = hex::decode(&caller.device.actor).map_err(ApiError::internal)?;
    let hash = token_hash.to_vec();
    let found = blocking(app.storage.clone(), move |s| {
        s.authenticate_and_pull(&hash, &scope, after, max_bytes, &actor)
    })
    .await?;
    let Some(((device, version), page)) = found else {
        app.forget(token_hash);
        return Err(ApiError::unauthorized("unknown device token"));
    };
    if device.revoked_at.is_some() {
        app.forget(token_hash);
        return Err(ApiError::unauthorized("this device's token was revoked"));
    }
    if version != caller.dir.version || device.member_id != caller.device.member_id {
        return Ok(Err(()));
    }
    app.rechecked(token_hash, checked_at);
    Ok(Ok(Pulled {
        directory_version: version,
        tag,
        page,
    }))
}

/// The sync's answer, its counters and its one log line.
fn reply(
    app: &App,
    headers: &HeaderMap,
    req_bytes: usize,
    acks: Vec<Ack>,
    pulled: Pulled,
) -> Response {
    let Pulled {
        directory_version,
        tag,
        page,
    } = pulled;
    let refused = acks.iter().filter(|a| !a.ok).count();
    let m = &app.metrics;
    Metrics::add(&m.syncs, 1);
    Metrics::add(&m.pushed_docs, (acks.len() - refused) as u64);
    Metrics::add(&m.refused_docs, refused as u64);
    Metrics::add(
        &m.stored_changes,
        acks.iter().map(|a| u64::from(a.stored)).sum(),
    );
    Metrics::add(
        &m.pulled_changes,
        page.docs.iter().map(|d| d.changes.len() as u64).sum(),
    );
    Metrics::add(&m.bytes_in, req_bytes as u64);
    let summary = SyncSummary::new(&acks, page.docs.len(), page.more);
    let reply = SyncResponse {
        v: PROTOCOL_VERSION,
        acks,
        docs: page.docs,
        cursor: format_cursor(&tag, page.cursor),
        more: page.more,
        directory_version,
    };
    let raw = wire::to_cbor(&reply);
    let accepts_gzip = headers
        .get(ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let (out, gz) = if accepts_gzip && raw.len() > COMPRESS_ABOVE {
        (wire::gzip(&raw), true)
    } else {
        (raw, false)
    };
    Metrics::add(&app.metrics.bytes_out, out.len() as u64);
    let mut resp = (
        [(CONTENT_TYPE, HeaderValue::from_static("application/cbor"))],
        out,
    )
        .into_response();
    if gz {
        resp.headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    // The request's one log line says what the sync did (`log_request`).
    resp.extensions_mut().insert(summary);
    resp
}

#[derive(Debug, Deserialize)]
struct ReadQuery {
    grid: Option<String>,
    limit: Option<usize>,
    /// Weeks of trend in the figures (default 8, at most 52).
    weeks: Option<usize>,
}

/// The grids a workstation request covers: the asked grid (and its sub-grids) if the caller
/// may see it, else all of the caller's.
fn workstation_grids(caller: &Caller, q: &ReadQuery) -> Result<Option<Vec<String>>, ApiError> {
    if !matches!(caller.member.role, Role::GridLead | Role::Admin) {
        return Err(ApiError::forbidden(
            "the workstation views are for grid leads and administrators",
        ));
    }
    let mine = match member_scope(&caller.member) {
        Scope::All => None,
        Scope::Keys(_) => Some(caller.member.grids.clone()),
    };
    match &q.grid {
        None => Ok(mine),
        Some(g) => {
            if mine.as_ref().is_some_and(|m| !m.contains(g)) {
                return Err(ApiError::forbidden(format!(
                    "grid {g} is outside your grids"
                )));
            }
            let sub = DirectoryIndex::new(crate::storage::Directory {
                grids: caller.dir.directory.grids.clone(),
                members: vec![crate::storage::MemberEntry {
                    id: String::new(),
                    name: String::new(),
                    role: Role::GridLead,
                    grids: vec![g.clone()],
                    unit: None,
                }],
                ..Default::default()
            });
            Ok(sub.member("").map(|m| m.grids.clone()))
        }
    }
}

async fn queues(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(q): Query<ReadQuery>,
) -> Result<Json<stats::Queues>, ApiError> {
    let grids = workstation_grids(&caller, &q)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let queues = blocking(app.storage.clone(), move |s| {
        s.queues(grids.as_deref(), now_ms(), limit)
    })
    .await?;
    Ok(Json(queues))
}

async fn figures(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(q): Query<ReadQuery>,
) -> Result<Json<stats::Figures>, ApiError> {
    let ask = stats::FigureQuery {
        grids: workstation_grids(&caller, &q)?,
        now: now_ms(),
        weeks: q.weeks.unwrap_or(8).min(stats::MAX_WEEKS),
        standards: app.standards(),
    };
    let figures = blocking(app.storage.clone(), move |s| s.figures(&ask)).await?;
    Ok(Json(figures))
}

/// How [`serve_with`] serves: the transport's bounds, the grace period, and who may read
/// `/metrics` where.
#[derive(Debug)]
pub struct ServeOptions {
    pub transport: TransportConfig,
    /// How long requests in flight may finish after the shutdown signal.
    pub grace: Duration,
    /// `/metrics` for `Authorization: Bearer <token>`, on the main listener and the
    /// metrics listener.
    pub metrics_token: Option<MetricsToken>,
    /// `/metrics` without a token on the main listener; only a loopback listener that no
    /// proxy forwards to may do that (development and tests).
    pub open_metrics: bool,
    /// A listener serving only `/metrics` (without a token only on loopback).
    pub metrics_listener: Option<tokio::net::TcpListener>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            transport: TransportConfig::default(),
            grace: Duration::from_secs(10),
            metrics_token: None,
            open_metrics: false,
            metrics_listener: None,
        }
    }
}

fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, msg)
}

/// Runs the server on `listener` (plain HTTP, loopback only, default bounds, no
/// `/metrics`) until `shutdown` resolves, then finishes the requests in flight (at most
/// `grace`).
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let opts = ServeOptions {
        grace,
        ..ServeOptions::default()
    };
    serve_with(app, listener, opts, shutdown).await
}

/// Checks `opts` for a main listener bound to `addr`: plain HTTP only on loopback unless a
/// TLS proxy is declared, `/metrics` without a token only on loopback.
pub fn check_options(addr: SocketAddr, opts: &ServeOptions) -> std::io::Result<()> {
    plan(addr, opts).map(|_| ())
}

/// Who may read `/metrics` on the main listener and on the metrics listener.
fn plan(
    addr: SocketAddr,
    opts: &ServeOptions,
) -> std::io::Result<(MetricsAccess, Option<MetricsAccess>)> {
    transport::check_listen(addr, &opts.transport)?;
    let public = match (&opts.metrics_token, opts.open_metrics) {
        (Some(_), true) => {
            return Err(invalid(
                "--open-metrics and --metrics-token exclude each other".into(),
            ));
        }
        (Some(t), false) => MetricsAccess::Token(t.clone()),
        (None, true) => {
            if !is_loopback(&addr) || opts.transport.behind_tls_proxy {
                return Err(invalid(format!(
                    "--open-metrics serves /metrics to anyone who reaches {addr}: only on a \
                     loopback listener no proxy forwards to; use --metrics-token or \
                     --metrics-listen 127.0.0.1:9100"
                )));
            }
            MetricsAccess::Open
        }
        (None, false) => MetricsAccess::Hidden,
    };
    let side = match &opts.metrics_listener {
        None => None,
        Some(l) => {
            let at = l.local_addr()?;
            Some(match &opts.metrics_token {
                Some(t) => MetricsAccess::Token(t.clone()),
                None if is_loopback(&at) => MetricsAccess::Open,
                None => {
                    return Err(invalid(format!(
                        "the metrics listener {at} is not a loopback address: give \
                         --metrics-token too, or listen on 127.0.0.1"
                    )));
                }
            })
        }
    };
    Ok((public, side))
}

/// Runs the server on `listener` with `opts` until `shutdown` resolves, then finishes the
/// requests in flight (at most `opts.grace`). Refuses plain HTTP on an address other than
/// loopback unless `opts.transport.behind_tls_proxy`.
pub async fn serve_with(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    let (public, side_access) = plan(addr, &opts)?;
    let side = opts.metrics_listener.zip(side_access);
    tracing::info!(
        %addr,
        tls = opts.transport.tls.is_some(),
        behind_tls_proxy = opts.transport.behind_tls_proxy,
        header_timeout_s = opts.transport.header_timeout.as_secs_f64(),
        idle_timeout_s = opts.transport.idle_timeout.as_secs_f64(),
        max_connections = opts.transport.max_connections,
        max_connections_per_ip = opts.transport.max_connections_per_ip,
        "serving"
    );
    let (tx, rx) = tokio::sync::watch::channel(false);
    let signal = tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let counters = app.metrics.transport.clone();
    let main = transport::run(
        listener,
        router(app.clone(), public),
        opts.transport.clone(),
        counters.clone(),
        rx.clone(),
        opts.grace,
    );
    let metrics_side = async {
        let Some((l, access)) = side else {
            return Ok(());
        };
        tracing::info!(addr = %l.local_addr()?, "serving /metrics");
        // Plain HTTP for scrapers; small caps of its own. Its connections are not counted
        // with the main listener's.
        let counters = Arc::new(Counters::default());
        let cfg = TransportConfig {
            tls: None,
            max_connections: 64,
            max_connections_per_ip: 64,
            ..opts.transport.clone()
        };
        transport::run(
            l,
            metrics_router(app.clone(), access),
            cfg,
            counters,
            rx,
            opts.grace,
        )
        .await
    };
    let (a, b) = tokio::join!(main, metrics_side);
    signal.abort();
    a.and(b)
}
