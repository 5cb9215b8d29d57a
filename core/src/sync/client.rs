//! The HTTP side of sync: reqwest over rustls (ring provider, bundled Mozilla roots, no
//! platform verifier), timeouts, and retries with exponential backoff and jitter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};

use super::wire::{
    self, COMPRESS_ABOVE, DirectoryView, EnrollRequest, EnrollResponse, ErrorBody,
    PROTOCOL_VERSION, PushDoc, SyncRequest, SyncResponse,
};
use crate::error::Error;
use crate::store::Store;
use crate::store::sync_state::RefusedDoc;

/// Largest reply body the client reads, compressed or not.
const MAX_REPLY: usize = 64 << 20;

#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Base URL, e.g. `https://outpost.example.org`.
    pub server_url: String,
    /// Whole-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries after the first attempt, for network errors, 429 and 5xx.
    pub retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Change bytes pushed per round trip (at least one document is always pushed).
    pub push_bytes: usize,
    /// Change bytes asked for per reply page.
    pub page_bytes: u64,
    /// Round trips one sync makes at most before it reports and stops.
    pub max_rounds: usize,
    /// Extra trusted root certificates (DER), e.g. a city's private CA.
    pub extra_roots: Vec<Vec<u8>>,
}

impl SyncConfig {
    pub fn new(server_url: &str) -> Self {
        SyncConfig {
            server_url: server_url.trim_end_matches('/').to_string(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retries: 4,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(15),
            push_bytes: 512 << 10,
            page_bytes: 1 << 20,
            max_rounds: 1000,
            extra_roots: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SyncError {
    #[error("this device is not enrolled with a server")]
    NotEnrolled,
    #[error("the server did not accept this device: {0}")]
    Unauthorized(String),
    #[error("cannot reach the server: {0}")]
    Network(String),
    #[error("the server refused the request ({status}, {code}): {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the server failed ({status}): {message}")]
    Server { status: u16, message: String },
    #[error("the server's reply is not understood: {0}")]
    Protocol(String),
    #[error("local store: {0}")]
    Store(String),
    #[error("the client could not be set up: {0}")]
    Setup(String),
}

impl From<Error> for SyncError {
    fn from(e: Error) -> Self {
        SyncError::Store(e.to_string())
    }
}

/// Progress after each round trip.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncProgress {
    pub round: usize,
    pub pushed_docs: usize,
    pub pulled_changes: usize,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// More pages or pushes follow.
    pub more: bool,
    /// Photo bytes uploaded and downloaded so far (re-sent chunks included).
    pub blob_bytes_sent: u64,
    pub blob_bytes_received: u64,
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncReport {
    pub round_trips: usize,
    /// Documents the server acknowledged.
    pub pushed_docs: usize,
    /// Changes stored by the server for the first time.
    pub pushed_changes: usize,
    pub pulled_docs: usize,
    /// Changes new to this device.
    pub pulled_changes: usize,
    pub refused: Vec<RefusedDoc>,
    /// Request bodies as sent (compressed), and reply bodies as received.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub duration_ms: u64,
    /// The directory changed on the server and was fetched.
    pub directory_updated: bool,
    /// Photos now complete on the server, and the chunk bytes sent for them.
    pub blobs_uploaded: usize,
    pub blob_bytes_sent: u64,
    /// Photos that could not be uploaded (hash, reason); they wait on the device.
    pub blobs_failed: Vec<(String, String)>,
    /// Cases and inspections that received changes new to this device (each id once).
    pub changed_cases: Vec<String>,
    pub changed_inspections: Vec<String>,
}

/// Told about a sync's progress and its result, e.g. to update a status line.
pub trait SyncListener: Send + Sync {
    fn progress(&self, _p: &SyncProgress) {}
    fn finished(&self, _result: &Result<SyncReport, SyncError>) {}
}

pub struct SyncClient {
    pub(super) http: reqwest::Client,
    pub(super) cfg: SyncConfig,
}

impl SyncClient {
    pub fn new(cfg: SyncConfig) -> Result<SyncClient, SyncError> {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config(&cfg.extra_roots)?)
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout)
            .user_agent(concat!("outpost-core/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SyncError::Setup(e.to_string()))?;
        Ok(SyncClient { http, cfg })
    }

    pub fn config(&self) -> &SyncConfig {
        &self.cfg
    }

    /// Trades an invite code for a device token, then stores the token, the member and the
    /// directory (grids, units, templates) the server returns.
    pub async fn enroll(
        &self,
        store: &Store,
        code: &str,
        device_name: &str,
    ) -> Result<EnrollResponse, SyncError> {
        let req = EnrollRequest {
            code: code.trim().to_string(),
            actor: store.actor_id()?,
            device_name: device_name.to_string(),
        };
        let body = serde_json::to_vec(&req).map_err(|e| SyncError::Setup(e.to_string()))?;
        let url = format!("{}/v1/enroll", self.cfg.server_url);
        // Enrollment is not retried: an invite code is spent once.
        let resp = self
            .http
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(net)?;
        let bytes = read_ok(resp).await?;
        let out: EnrollResponse =
            serde_json::from_slice(&bytes).map_err(|e| SyncError::Protocol(e.to_string()))?;
        store.save_enrollment(
            &self.cfg.server_url,
            &out.device_id,
            &out.token,
            &out.directory,
        )?;
        Ok(out)
    }

    /// Fetches the directory (member, grids, units, templates) and stores it.
    pub async fn refresh_directory(&self, store: &Store) -> Result<DirectoryView, SyncError> {
        let token = token_of(store)?;
        let url = format!("{}/v1/directory", self.cfg.server_url);
        let bytes = self
            .with_retries(|| {
                self.http
                    .get(&url)
                    .header(AUTHORIZATION, format!("Bearer {token}"))
                    .send()
            })
            .await?
            .0;
        let d: DirectoryView =
            serde_json::from_slice(&bytes).map_err(|e| SyncError::Protocol(e.to_string()))?;
        store.save_directory(&d)?;
        Ok(d)
    }

    /// Pushes and pulls until the server has everything this device may send and the device
    /// everything it may see. The outcome is also stored (`Store::sync_state`).
    pub async fn sync(
        &self,
        store: &Store,
        listener: Option<&dyn SyncListener>,
    ) -> Result<SyncReport, SyncError> {
        let started = Instant::now();
        let mut report = SyncReport::default();
        let mut result = self.sync_rounds(store, listener, &mut report).await;
        if result.is_ok() {
            // Photos travel after the documents that reference them.
            result = super::blobs::upload_after_sync(self, store, listener, &mut report).await;
        }
        report.duration_ms = started.elapsed().as_millis() as u64;
        for ids in [&mut report.changed_cases, &mut report.changed_inspections] {
            // A document may arrive in several pages.
            ids.sort_unstable();
            ids.dedup();
        }
        let result = match result {
            Ok(()) => Ok(report),
            Err(e) => {
                // Recording the error is best effort: the store may be what failed.
                let _ = store.record_sync_error(&e.to_string());
                Err(e)
            }
        };
        if let Some(l) = listener {
            l.finished(&result);
        }
        result
    }

    async fn sync_rounds(
        &self,
        store: &Store,
        listener: Option<&dyn SyncListener>,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let token = token_of(store)?;
        let url = format!("{}/v1/sync", self.cfg.server_url);
        for round in 1..=self.cfg.max_rounds {
            let state = store.sync_state()?;
            let outbound = store.outbound(self.cfg.push_bytes)?;
            let req = SyncRequest {
                v: PROTOCOL_VERSION,
                cursor: state.cursor.clone(),
                max_bytes: self.cfg.page_bytes,
                push: outbound
                    .iter()
                    .map(|o| PushDoc {
                        id: o.id.clone(),
                        changes: o
                            .changes
                            .iter()
                            .map(|c| serde_bytes::ByteBuf::from(c.clone()))
                            .collect(),
                    })
                    .collect(),
            };
            let (body, gzipped) = encode(&req);
            let sent = body.len() as u64;
            let (bytes, received_gzip) = self
                .with_retries(|| {
                    let mut r = self
                        .http
                        .post(&url)
                        .header(AUTHORIZATION, format!("Bearer {token}"))
                        .header(CONTENT_TYPE, "application/cbor")
                        .header(ACCEPT_ENCODING, "gzip")
                        .body(body.clone());
                    if gzipped {
                        r = r.header(CONTENT_ENCODING, "gzip");
                    }
                    r.send()
                })
                .await?;
            report.round_trips += 1;
            report.bytes_sent += sent;
            report.bytes_received += bytes.len() as u64;
            let reply: SyncResponse = wire::decode_body(&bytes, received_gzip, MAX_REPLY)
                .map_err(|e| SyncError::Protocol(e.to_string()))?;
            if reply.v != PROTOCOL_VERSION {
                return Err(SyncError::Protocol(format!(
                    "protocol version {} is not {PROTOCOL_VERSION}",
                    reply.v
                )));
            }
            let applied = store.apply_sync_reply(&outbound, &reply)?;
            report.pushed_docs += applied.acked_docs;
            report.pushed_changes += applied.stored_changes;
            report.pulled_docs += applied.pulled_docs;
            report.pulled_changes += applied.pulled_changes;
            report.refused.extend(applied.refused);
            report.changed_cases.extend(applied.changed_cases);
            report
                .changed_inspections
                .extend(applied.changed_inspections);
            if reply.directory_version != state.directory_version {
                self.refresh_directory(store).await?;
                report.directory_updated = true;
            }
            let more = reply.more || !store.outbound(1)?.is_empty();
            if let Some(l) = listener {
                l.progress(&SyncProgress {
                    round,
                    pushed_docs: report.pushed_docs,
                    pulled_changes: report.pulled_changes,
                    bytes_sent: report.bytes_sent,
                    bytes_received: report.bytes_received,
                    more,
                    ..SyncProgress::default()
                });
            }
            if !more {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Sends a request, retrying what may succeed later. Returns the reply body and whether
    /// it is gzip-compressed.
    async fn with_retries<F, Fut>(&self, send: F) -> Result<(Vec<u8>, bool), SyncError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
    {
        let mut attempt = 0u32;
        loop {
            let outcome = match send().await {
                Ok(resp) => {
                    let gz = resp
                        .headers()
                        .get(CONTENT_ENCODING)
                        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
                    read_ok(resp).await.map(|b| (b, gz))
                }
                Err(e) => Err(net(e)),
            };
            match outcome {
                Err(e) if attempt < self.cfg.retries && retryable(&e) => {
                    tokio::time::sleep(backoff(&self.cfg, attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

pub(super) fn token_of(store: &Store) -> Result<String, SyncError> {
    store.sync_state()?.token.ok_or(SyncError::NotEnrolled)
}

fn encode(req: &SyncRequest) -> (Vec<u8>, bool) {
    let raw = wire::to_cbor(req);
    if raw.len() > COMPRESS_ABOVE {
        (wire::gzip(&raw), true)
    } else {
        (raw, false)
    }
}

pub(super) fn net(e: reqwest::Error) -> SyncError {
    SyncError::Network(e.to_string())
}

pub(super) fn retryable(e: &SyncError) -> bool {
    match e {
        SyncError::Network(_) => true,
        SyncError::Server { status, .. } => *status >= 500 || *status == 429,
        SyncError::Rejected { status, .. } => *status == 429 || *status == 408,
        _ => false,
    }
}

/// Exponential backoff with "equal jitter": half the delay fixed, half random, so devices
/// that lost the network together do not come back in lockstep.
pub(super) fn backoff(cfg: &SyncConfig, attempt: u32) -> Duration {
    let exp = cfg
        .backoff_base
        .saturating_mul(1u32 << attempt.min(16))
        .min(cfg.backoff_max);
    let half = exp / 2;
    let jitter = rand::rng().random_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(jitter)
}

/// Reads a reply body up to [`MAX_REPLY`], turning error statuses into typed errors.
pub(super) async fn read_ok(mut resp: reqwest::Response) -> Result<Vec<u8>, SyncError> {
    let status = resp.status();
    if resp.content_length().is_some_and(|n| n > MAX_REPLY as u64) {
        return Err(SyncError::Protocol("the reply is too large".into()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(net)? {
        if body.len() + chunk.len() > MAX_REPLY {
            return Err(SyncError::Protocol("the reply is too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    if status.is_success() {
        return Ok(body);
    }
    let (code, message) = match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(e) => (e.error, e.message),
        Err(_) => (
            "unknown".to_string(),
            String::from_utf8_lossy(&body).chars().take(200).collect(),
        ),
    };
    Err(match status {
        StatusCode::UNAUTHORIZED => SyncError::Unauthorized(message),
        s if s.is_server_error() => SyncError::Server {
            status: s.as_u16(),
            message,
        },
        s => SyncError::Rejected {
            status: s.as_u16(),
            code,
            message,
        },
    })
}

fn tls_config(extra: &[Vec<u8>]) -> Result<rustls::ClientConfig, SyncError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in extra {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| SyncError::Setup(format!("extra root certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SyncError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_stays_capped_and_jitters() {
        let cfg = SyncConfig::new("http://127.0.0.1:1");
        for attempt in 0..20 {
            let d = backoff(&cfg, attempt);
            let cap = cfg
                .backoff_base
                .saturating_mul(1 << attempt.min(16))
                .min(cfg.backoff_max);
            assert!(d >= cap / 2 && d <= cap, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn sync_and_enroll_futures_can_move_between_threads() {
        // The bindings run them on a multi-threaded runtime.
        fn send<T: Send>(_: &T) {}
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.db")).unwrap();
        let c = SyncClient::new(SyncConfig::new("http://127.0.0.1:1")).unwrap();
        send(&c.sync(&store, None));
        send(&c.enroll(&store, "code", "phone"));
        send(&c.refresh_directory(&store));
    }

    #[test]
    fn an_unenrolled_store_and_an_unreachable_server_give_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.db")).unwrap();
        let mut cfg = SyncConfig::new("http://127.0.0.1:1");
        cfg.retries = 1;
        cfg.backoff_base = Duration::from_millis(1);
        let c = SyncClient::new(cfg).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(
            rt.block_on(c.sync(&store, None)),
            Err(SyncError::NotEnrolled)
        );
        let err = rt.block_on(c.enroll(&store, "ABCD", "phone")).unwrap_err();
        assert!(matches!(err, SyncError::Network(_)), "{err:?}");
        assert!(store.sync_state().unwrap().token.is_none());
    }

    #[test]
    fn the_client_builds_with_bundled_roots() {
        assert!(SyncClient::new(SyncConfig::new("https://example.org/")).is_ok());
        assert_eq!(
            SyncConfig::new("https://example.org/").server_url,
            "https://example.org"
        );
    }
}
