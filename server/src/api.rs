//! HTTP endpoints: health, enrollment, directory, the sync feed and the workstation's read
//! API. Every endpoint but health and enrollment needs a device token.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, Request, State};
use axum::http::header::{ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use outpost_core::sync::validate::check_push;
use outpost_core::sync::wire::{
    self, Ack, COMPRESS_ABOVE, DirectoryView, EnrollRequest, EnrollResponse, PROTOCOL_VERSION,
    SyncRequest, SyncResponse,
};
use outpost_core::{Member, Role};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::scope::{DirectoryIndex, format_cursor, member_scope, parse_cursor, scope_tag};
use crate::stats;
use crate::storage::{DeviceRecord, EnrollOutcome, PushContext, Scope, Storage};

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
        }
    }
}

pub struct App {
    pub storage: Arc<dyn Storage>,
    pub limits: Limits,
    pub metrics: Metrics,
    index: RwLock<Arc<DirectoryIndex>>,
    /// Where photos live (`blobs.rs`); set once at start.
    pub(crate) blobs: std::sync::OnceLock<Arc<dyn crate::blobs::BlobStore>>,
    /// One push at a time per device.
    pushes: crate::pushing::PushTurns,
    /// Response time standards for the figures; set once at start.
    standards: std::sync::OnceLock<stats::Standards>,
    /// Devices by token hash, as the database last said: a sync with nothing new by one of
    /// them checks the token in the same statement that reads the feed.
    known: std::sync::Mutex<std::collections::HashMap<Vec<u8>, DeviceRecord>>,
}

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
}

impl Metrics {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let rows: [(&str, &str, &AtomicU64); 10] = [
            ("outpost_requests_total", "HTTP requests", &self.requests),
            (
                "outpost_errors_total",
                "HTTP replies with status 500 or more",
                &self.errors,
            ),
            ("outpost_syncs_total", "sync round trips", &self.syncs),
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
        ];
        let mut out = String::new();
        for (name, help, c) in rows {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                c.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

impl App {
    pub fn new(storage: Arc<dyn Storage>, limits: Limits) -> Arc<App> {
        Arc::new(App {
            storage,
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
        })
    }

    /// Sets the response time standards the figures apply (default: [`stats::Standards`]).
    pub fn set_standards(&self, standards: stats::Standards) {
        let _ = self.standards.set(standards);
    }

    fn standards(&self) -> stats::Standards {
        self.standards.get().cloned().unwrap_or_default()
    }

    /// The directory at `version`, reloaded when an administrator changed it.
    async fn index(&self, version: i64) -> Result<Arc<DirectoryIndex>, ApiError> {
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

pub fn router(app: Arc<App>) -> Router {
    let limit = app.limits.max_body;
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/enroll", post(enroll))
        .route("/v1/directory", get(directory))
        .route("/v1/sync", post(sync))
        .route("/v1/queues", get(queues))
        .route("/v1/stats", get(figures))
        .merge(crate::blobs::routes())
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(app.clone(), time_limit))
        .layer(middleware::from_fn_with_state(app.clone(), log_request))
        .with_state(app)
}

/// One structured log line per request.
async fn log_request(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    Metrics::add(&app.metrics.requests, 1);
    if status >= 500 {
        Metrics::add(&app.metrics.errors, 1);
    }
    if status >= 500 {
        tracing::error!(%method, %path, status, ms, "request");
    } else if status >= 400 {
        tracing::warn!(%method, %path, status, ms, "request");
    } else {
        tracing::info!(%method, %path, status, ms, "request");
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

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        app.metrics.render(),
    )
        .into_response()
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
        let hash = token_hash.clone();
        let found = blocking(self.storage.clone(), move |s| s.authenticate(&hash)).await?;
        let Some((device, version)) = found else {
            self.forget(&token_hash);
            return Err(ApiError::unauthorized("unknown device token"));
        };
        let dir = self.index(version).await?;
        self.caller(token_hash, device, dir)
    }

    /// The caller a checked device makes, remembered for its next sync.
    fn caller(
        &self,
        token_hash: Vec<u8>,
        device: DeviceRecord,
        dir: Arc<DirectoryIndex>,
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
        known.insert(token_hash, device.clone());
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

    /// The caller as last checked, with the directory as it is in memory now.
    fn known_caller(&self, token_hash: &[u8]) -> Option<Caller> {
        let device = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token_hash)?
            .clone();
        let dir = self.index.read().unwrap_or_else(|p| p.into_inner()).clone();
        let member = dir.member(&device.member_id)?.clone();
        Some(Caller {
            device,
            member,
            dir,
        })
    }
}

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        app.check(token_hash(parts)?).await
    }
}

/// The caller of a sync: checked against the database now, or known from an earlier
/// request, to be checked by the sync's own first statement.
pub struct SyncCaller {
    token_hash: Vec<u8>,
    caller: Caller,
    checked: bool,
}

impl FromRequestParts<Arc<App>> for SyncCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let token_hash = token_hash(parts)?;
        if let Some(caller) = app.known_caller(&token_hash) {
            return Ok(SyncCaller {
                token_hash,
                caller,
                checked: false,
            });
        }
        Ok(SyncCaller {
            caller: app.check(token_hash.clone()).await?,
            token_hash,
            checked: true,
        })
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

async fn enroll(
    State(app): State<Arc<App>>,
    body: Result<Json<EnrollRequest>, JsonRejection>,
) -> Result<Json<EnrollResponse>, ApiError> {
    let Json(req) = body?;
    let code = normalize_code(&req.code);
    if code.is_empty() || code.len() > 64 {
        return Err(ApiError::bad_request(
            "bad_code",
            "the invite code is malformed",
        ));
    }
    if !valid_actor(&req.actor) {
        return Err(ApiError::bad_request(
            "bad_actor",
            "the actor id must be lowercase hex",
        ));
    }
    let name: String = req.device_name.chars().take(100).collect();
    let mut raw = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut raw);
    let token = hex::encode(raw);
    let token_hash = sha256(token.as_bytes());
    let actor = req.actor.clone();
    let outcome = blocking(app.storage.clone(), move |s| {
        s.enroll(
            &sha256(code.as_bytes()),
            &actor,
            &token_hash,
            &name,
            now_ms(),
        )
    })
    .await?;
    let (device_id, member_id) = match outcome {
        EnrollOutcome::Enrolled {
            device_id,
            member_id,
        } => (device_id, member_id),
        EnrollOutcome::BadCode => {
            return Err(ApiError::forbidden(
                "the invite code is unknown, already used or expired",
            ));
        }
        EnrollOutcome::ActorInUse => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "actor_in_use",
                "another device already uses this actor id",
            ));
        }
    };
    let version = blocking(app.storage.clone(), |s| s.directory_version()).await?;
    let dir = app.index(version).await?;
    let member = dir
        .member(&member_id)
        .ok_or_else(|| ApiError::internal("enrolled member missing from the directory"))?;
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
        n => (n as usize).clamp(16 << 10, app.limits.max_page),
    };
    let SyncCaller {
        token_hash,
        caller,
        checked,
    } = who;
    let caller = match (checked, req.push.is_empty()) {
        (true, _) => caller,
        // A known device with nothing to push: one statement checks its token and reads
        // the feed. Unless the directory changed since: then the whole way.
        (false, true) => match pull_known(&app, &token_hash, caller, &req.cursor, max_bytes).await?
        {
            Ok(done) => return Ok(reply(&app, &headers, req_bytes, Vec::new(), done)),
            Err(()) => app.check(token_hash).await?,
        },
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
    let device_id = device.id.clone();
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
    let (acks, page, notes) = blocking(app.storage.clone(), move |s| {
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
    })
    .await?;
    drop(abandon);
    app.note_refs(&acks, notes).await?;
    let pulled = Pulled {
        device_id,
        directory_version,
        tag,
        page,
    };
    Ok(reply(&app, &headers, req_bytes, acks, pulled))
}

/// A page of the feed for one device, ready to answer with.
struct Pulled {
    device_id: String,
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
    cursor: &str,
    max_bytes: usize,
) -> Result<Result<Pulled, ()>, ApiError> {
    let scope = member_scope(&caller.member);
    let tag = scope_tag(&scope);
    let after = parse_cursor(cursor, &tag)
        .ok_or_else(|| ApiError::bad_request("bad_cursor", "the cursor is not one of ours"))?;
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
    Ok(Ok(Pulled {
        device_id: device.id,
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
        device_id,
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
    let refusals = Refusals::of(&acks);
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
    // One line per sync; refusals summed up by code, with the first reason as a sample.
    macro_rules! summary {
        ($level:ident) => {
            tracing::$level!(
                device = %device_id,
                pushed = reply.acks.len(),
                refused,
                refusals = %refusals,
                first_refusal = refusals.first.as_deref().unwrap_or(""),
                pulled_docs = reply.docs.len(),
                page_bytes = page.bytes,
                request_bytes = req_bytes,
                reply_bytes = out.len(),
                more = reply.more,
                "sync"
            )
        };
    }
    if refused > 0 {
        summary!(warn);
    } else {
        summary!(info);
    }
    let mut resp = (
        [(CONTENT_TYPE, HeaderValue::from_static("application/cbor"))],
        out,
    )
        .into_response();
    if gz {
        resp.headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    resp
}

/// The refused documents of one sync, counted by code.
struct Refusals {
    by_code: std::collections::BTreeMap<&'static str, usize>,
    /// The first refused document and why.
    first: Option<String>,
}

impl Refusals {
    fn of(acks: &[Ack]) -> Refusals {
        let mut by_code = std::collections::BTreeMap::new();
        for a in acks.iter().filter(|a| !a.ok) {
            *by_code
                .entry(a.code.map_or("unknown", |c| c.as_str()))
                .or_insert(0) += 1;
        }
        let first = acks.iter().find(|a| !a.ok).map(|a| {
            let reason: String = a
                .reason
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(300)
                .collect();
            format!("{}: {reason}", a.id)
        });
        Refusals { by_code, first }
    }
}

impl std::fmt::Display for Refusals {
    /// `forbidden=3 invalid=1`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (code, n)) in self.by_code.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{code}={n}")?;
        }
        Ok(())
    }
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

/// Runs the server on `listener` until `shutdown` resolves, then finishes the requests in
/// flight (at most `grace`).
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, "serving");
    let (tx, rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, router(app)).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let mut rx = rx;
    tokio::select! {
        r = server => r,
        _ = async {
            // After shutdown began, give requests in flight `grace`, then stop anyway.
            let _ = rx.wait_for(|v| *v).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("requests still running after the grace period; stopping");
            Ok(())
        }
    }
}
