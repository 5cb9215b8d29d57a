//! The sync flow: enrollment, the directory, and the push/pull round trips sized to the
//! link (docs/PROTOCOL.md, "Sync").
//!
//! Order within a sync: life-safety documents in round trips of their own (with the
//! smallest reply page), then their photos, then everything else most urgent first with
//! the reply pages of the feed, then the other photos. Each round trip is sized by
//! [`Pace`] to take about [`SyncConfig::round_target`] at the pace the link showed; a
//! failed one is tried again smaller, and what the server acknowledged is never sent
//! again. A photo that cannot go does not fail the documents' sync: it is reported.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT_ENCODING, AUTHORIZATION, CONNECTION, CONTENT_ENCODING, CONTENT_TYPE};

use super::http::{Watch, backoff, over_limit, too_much};
use super::pace::Pace;
use super::state::RefusedDoc;
use super::wire::{
    self, COMPRESS_ABOVE, DirectoryView, EnrollRequest, EnrollResponse, PROTOCOL_VERSION, PushDoc,
    SyncRequest, SyncResponse,
};
use crate::error::Error;
use crate::store::{Outbound, Store};

/// Largest reply body the client decodes, once decompressed.
const MAX_DECODED: usize = 64 << 20;
/// A reply expected to take longer than this to arrive closes its connection after it
/// (servers end kept-alive connections about 10 s after writing a reply).
const KEEP_ALIVE_SECS: f64 = 5.0;
/// Priority of life-safety documents (and their photos), which go alone and first.
const LIFE_SAFETY: i64 = 0;

#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Base URL, e.g. `https://outpost.example.org`. Plain `http://` only to loopback.
    pub server_url: String,
    /// A request that moves (almost) nothing for this long has stalled and is given up:
    /// an idle timeout, never a limit on a body that keeps moving.
    pub timeout: Duration,
    /// A sync that makes no progress for this long, retries included, stops.
    pub give_up_after: Duration,
    pub connect_timeout: Duration,
    /// Retries after a failed request (network errors, timeouts, 408, 429, 5xx).
    pub retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Most change bytes pushed per round trip (at least one document is always pushed);
    /// the link's pace usually allows less. With `page_bytes`, what bounds the memory a
    /// round trip takes.
    pub push_bytes: usize,
    /// Most change bytes asked for per reply page; the link's pace usually allows less.
    pub page_bytes: u64,
    /// How long a round trip should take at the link's measured pace.
    pub round_target: Duration,
    /// Round trips one sync makes at most before it reports and stops.
    pub max_rounds: usize,
    /// Extra trusted root certificates (DER), e.g. a city's private CA.
    pub extra_roots: Vec<Vec<u8>>,
}

impl SyncConfig {
    pub fn new(server_url: &str) -> Self {
        SyncConfig {
            server_url: server_url.trim_end_matches('/').to_string(),
            timeout: Duration::from_secs(25),
            give_up_after: Duration::from_secs(55),
            connect_timeout: Duration::from_secs(10),
            retries: 4,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(15),
            push_bytes: 1 << 20,
            page_bytes: 1 << 20,
            round_target: Duration::from_secs(12),
            max_rounds: 10_000,
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
    /// Plain HTTP to anything but this machine: the token and the documents would travel
    /// readable by anyone on the way.
    #[error("refusing plain http:// to {0}: use https:// (plain HTTP only reaches this machine)")]
    Insecure(String),
    /// A request made no progress for the stall timeout, or the sync for its limit.
    #[error("timed out: {0}")]
    TimedOut(String),
    /// Nothing listens at the server's address (or a firewall says so).
    #[error("the server refused the connection: {0}")]
    Refused(String),
    /// The connection broke in the middle of a request or its reply.
    #[error("the connection was closed before the reply was complete: {0}")]
    Closed(String),
    #[error("the secure connection (TLS) failed: {0}")]
    Tls(String),
    /// Another network failure (no route, name not found, ...).
    #[error("cannot reach the server: {0}")]
    Network(String),
    #[error("the server refused the request ({status}, {code}): {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the server failed ({status}, {code}): {message}")]
    Server {
        status: u16,
        code: String,
        message: String,
    },
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

/// Progress after each round trip, and while bytes of a long one move.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncProgress {
    pub round: usize,
    pub pushed_docs: usize,
    pub pulled_changes: usize,
    /// Request and reply body bytes so far, those of a round trip in flight included.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// More pages or pushes follow.
    pub more: bool,
    /// Photo bytes uploaded and downloaded so far (re-sent chunks included).
    pub blob_bytes_sent: u64,
    pub blob_bytes_received: u64,
    /// A round trip (or photo chunk) is under way: these are its bytes so far.
    pub in_flight: bool,
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
    /// The longest round trip; requests sent again after a failure (a timeout, a cut, a
    /// kept-alive connection the server had closed); of those, the ones that timed out
    /// (no progress, or the server's 408).
    pub longest_round_ms: u64,
    pub retries: usize,
    pub timeouts: usize,
    /// The directory changed on the server and was fetched.
    pub directory_updated: bool,
    /// Photos now complete on the server, and the chunk bytes sent for them.
    pub blobs_uploaded: usize,
    pub blob_bytes_sent: u64,
    /// Photos the server refused or that are damaged on the device (hash, reason); they
    /// wait on the device.
    pub blobs_failed: Vec<(String, String)>,
    /// Why photo uploads stopped early (the link failed while the documents had synced);
    /// the photos left go with the next sync, from where the server stands.
    pub blob_error: Option<SyncError>,
    /// Cases and inspections that received changes new to this device (each id once).
    pub changed_cases: Vec<String>,
    pub changed_inspections: Vec<String>,
}

impl SyncReport {
    fn progress(&self, more: bool) -> SyncProgress {
        SyncProgress {
            round: self.round_trips,
            pushed_docs: self.pushed_docs,
            pulled_changes: self.pulled_changes,
            bytes_sent: self.bytes_sent,
            bytes_received: self.bytes_received,
            more,
            blob_bytes_sent: self.blob_bytes_sent,
            blob_bytes_received: 0,
            in_flight: false,
        }
    }
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
        check_url(&cfg.server_url)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config(&cfg.extra_roots)?)
            .connect_timeout(cfg.connect_timeout)
            .tcp_nodelay(true)
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
        let w = Watch::new(None);
        let request = self
            .http
            .post(&url)
            .header(CONTENT_TYPE, "application/json");
        let (bytes, _) = self.call(&w, request, Some(body)).await?;
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
        self.directory_with(store, &Watch::new(None)).await
    }

    async fn directory_with(
        &self,
        store: &Store,
        w: &Watch<'_>,
    ) -> Result<DirectoryView, SyncError> {
        let token = token_of(store)?;
        let url = format!("{}/v1/directory", self.cfg.server_url);
        let (bytes, _) = self
            .call_retrying(w, || {
                let r = self
                    .http
                    .get(&url)
                    .header(AUTHORIZATION, format!("Bearer {token}"));
                (r, None)
            })
            .await?;
        let d: DirectoryView =
            serde_json::from_slice(&bytes).map_err(|e| SyncError::Protocol(e.to_string()))?;
        store.save_directory(&d)?;
        Ok(d)
    }

    /// Pushes and pulls until the server has everything this device may send and the device
    /// everything it may see; then uploads photos. The outcome is also stored
    /// (`Store::sync_state`).
    pub async fn sync(
        &self,
        store: &Store,
        listener: Option<&dyn SyncListener>,
    ) -> Result<SyncReport, SyncError> {
        let started = Instant::now();
        let mut report = SyncReport::default();
        let w = Watch::new(listener);
        let mut pace = Pace::new(self.cfg.round_target);
        let result = self.sync_all(store, &w, &mut pace, &mut report).await;
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

    async fn sync_all(
        &self,
        store: &Store,
        w: &Watch<'_>,
        pace: &mut Pace,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let token = token_of(store)?;
        // Life-safety documents alone, then their photos.
        let mut pulled_all = false;
        if store.waiting(LIFE_SAFETY)? {
            pulled_all = self
                .rounds(store, w, pace, report, &token, Some(LIFE_SAFETY))
                .await?;
        }
        self.photos(store, w, pace, report, ..=LIFE_SAFETY).await;
        // Then the rest, most urgent first, with the feed's pages.
        if !pulled_all || store.waiting(i64::MAX)? {
            self.rounds(store, w, pace, report, &token, None).await?;
        }
        if report.blob_error.is_none() {
            self.photos(store, w, pace, report, LIFE_SAFETY + 1..).await;
        }
        Ok(())
    }

    /// Uploads the waiting photos of these priorities. A photo that cannot go does not fail
    /// the sync: refusals are listed, a failed link is noted and ends the uploads.
    async fn photos(
        &self,
        store: &Store,
        w: &Watch<'_>,
        pace: &mut Pace,
        report: &mut SyncReport,
        priorities: impl std::ops::RangeBounds<i64>,
    ) {
        let mut up = super::blobs::BlobUploadReport::default();
        let result = self
            .upload_pending(store, w, pace, None, &priorities, &mut up)
            .await;
        report.blobs_uploaded += up.uploaded;
        report.blob_bytes_sent += up.bytes_sent;
        report.blobs_failed.extend(up.failed);
        if let Err(e) = result {
            report.blob_error = Some(e);
        }
    }

    /// Round trips until nothing of priority `only` (or any) waits and, unless `only` is
    /// set, the feed is read to its end. Returns whether the last reply said the feed has
    /// no more.
    async fn rounds(
        &self,
        store: &Store,
        w: &Watch<'_>,
        pace: &mut Pace,
        report: &mut SyncReport,
        token: &str,
        only: Option<i64>,
    ) -> Result<bool, SyncError> {
        let url = format!("{}/v1/sync", self.cfg.server_url);
        let max_priority = only.unwrap_or(i64::MAX);
        let mut failures = 0u32;
        let mut reconnected = false;
        let mut feed_more = true;
        while report.round_trips < self.cfg.max_rounds {
            let state = store.sync_state()?;
            // Sized to the link; rebuilt (smaller) after a failure, and never holding what
            // the server already acknowledged.
            let push_budget = pace.push_bytes(feed_more).min(self.cfg.push_bytes);
            let mut pushed = store.outbound_upto(max_priority, push_budget)?;
            let raw: usize = pushed.iter().map(Outbound::size).sum();
            // Life-safety rounds ask for the smallest page the server gives: they must not
            // wait behind the feed.
            let max_bytes = match only {
                Some(_) => 1,
                None => pace
                    .page_bytes(pace.wire_up(raw))
                    .min(self.cfg.page_bytes)
                    .max(1),
            };
            let request = SyncRequest {
                v: PROTOCOL_VERSION,
                cursor: state.cursor.clone(),
                max_bytes,
                push: pushed
                    .iter_mut()
                    .map(|o| PushDoc {
                        id: o.id.clone(),
                        changes: std::mem::take(&mut o.changes)
                            .into_iter()
                            .map(serde_bytes::ByteBuf::from)
                            .collect(),
                    })
                    .collect(),
            };
            let (body, gzipped) = encode(&request);
            drop(request);
            pace.sent(raw, body.len());
            let sent = body.len() as u64;
            let mut http = self
                .http
                .post(&url)
                .header(AUTHORIZATION, format!("Bearer {token}"))
                .header(CONTENT_TYPE, "application/cbor")
                .header(ACCEPT_ENCODING, "gzip");
            if gzipped {
                http = http.header(CONTENT_ENCODING, "gzip");
            }
            // A server closes a kept-alive connection some seconds after it wrote a reply,
            // however long that reply then takes to drain through a slow link: after a long
            // one, the next request would meet a connection closing under it. Such a round
            // trip asks for its connection to be closed, and the next opens its own.
            if pace.reply_secs(max_bytes) > KEEP_ALIVE_SECS {
                http = http.header(CONNECTION, "close");
            }
            let began = Instant::now();
            let received_before = w.meter.received();
            let (bytes, received_gzip) = match self.call(w, http, Some(body)).await {
                Ok(r) => r,
                // A kept-alive connection the server closed while the previous reply was
                // still draining through a slow link: once per round trip, again at once
                // on a new connection, at the same size.
                Err(SyncError::Closed(_))
                    if !reconnected && w.meter.received() == received_before =>
                {
                    reconnected = true;
                    w.meter.retry();
                    report.retries += 1;
                    continue;
                }
                // Too much for the link or the server: again, smaller. A body over the
                // server's limit goes again in smaller pieces while it can be split.
                Err(e)
                    if self.may_retry(w, &e, failures)
                        || (over_limit(&e) && pushed.len() > 1 && failures < 16) =>
                {
                    if too_much(&e) {
                        pace.failed();
                    }
                    if matches!(
                        e,
                        SyncError::TimedOut(_) | SyncError::Rejected { status: 408, .. }
                    ) {
                        report.timeouts += 1;
                    }
                    tokio::time::sleep(backoff(&self.cfg, failures)).await;
                    failures += 1;
                    report.retries += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            reconnected = false;
            failures = 0;
            let took = began.elapsed();
            report.round_trips += 1;
            report.longest_round_ms = report.longest_round_ms.max(took.as_millis() as u64);
            report.bytes_sent += sent;
            report.bytes_received += bytes.len() as u64;
            let reply: SyncResponse = wire::decode_body(&bytes, received_gzip, MAX_DECODED)
                .map_err(|e| SyncError::Protocol(e.to_string()))?;
            if reply.v != PROTOCOL_VERSION {
                return Err(SyncError::Protocol(format!(
                    "protocol version {} is not {PROTOCOL_VERSION}",
                    reply.v
                )));
            }
            let pulled_raw: usize = reply
                .docs
                .iter()
                .flat_map(|d| d.changes.iter().map(|c| c.len()))
                .sum();
            pace.received(pulled_raw, bytes.len());
            pace.round_trip(sent + bytes.len() as u64, took);
            drop(bytes);
            let applied = store.apply_sync_reply(&pushed, &reply)?;
            feed_more = reply.more;
            let directory_version = reply.directory_version;
            drop(reply);
            report.pushed_docs += applied.acked_docs;
            report.pushed_changes += applied.stored_changes;
            report.pulled_docs += applied.pulled_docs;
            report.pulled_changes += applied.pulled_changes;
            report.refused.extend(applied.refused);
            report.changed_cases.extend(applied.changed_cases);
            report
                .changed_inspections
                .extend(applied.changed_inspections);
            if directory_version != state.directory_version {
                self.directory_with(store, w).await?;
                report.directory_updated = true;
            }
            let more = store.waiting(max_priority)? || (only.is_none() && feed_more);
            w.progress(report.progress(more));
            if !more {
                break;
            }
        }
        Ok(!feed_more)
    }
}

/// The device's token: the one place sync reads it.
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

/// Refuses plain HTTP to anything but loopback: a token and people's locations would
/// travel readable on the way.
fn check_url(url: &str) -> Result<(), SyncError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| SyncError::Setup(format!("server URL {url}: {e}")))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = parsed.host_str().unwrap_or("");
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = bare.eq_ignore_ascii_case("localhost")
                || bare
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err(SyncError::Insecure(
                    parsed.host_str().unwrap_or(url).to_string(),
                ))
            }
        }
        other => Err(SyncError::Setup(format!(
            "server URL {url}: {other}:// is not http(s)"
        ))),
    }
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
        assert!(matches!(err, SyncError::Refused(_)), "{err:?}");
        assert!(err.to_string().contains("refused"), "{err}");
        assert!(store.sync_state().unwrap().token.is_none());
    }

    #[test]
    fn plain_http_goes_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://localhost:1",
            "http://[::1]:9",
            "https://outpost.example.org",
        ] {
            assert!(SyncClient::new(SyncConfig::new(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "http://outpost.example.org",
            "http://10.0.0.2:8080",
            "http://[2001:db8::1]/",
        ] {
            let err = SyncClient::new(SyncConfig::new(bad)).err();
            assert!(
                matches!(err, Some(SyncError::Insecure(_))),
                "{bad}: {err:?}"
            );
        }
        assert!(matches!(
            SyncClient::new(SyncConfig::new("ftp://x")).err(),
            Some(SyncError::Setup(_))
        ));
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
