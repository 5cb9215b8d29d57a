//! Requests under a progress watchdog, and failures named by their cause.
//!
//! There is no wall-clock limit on a request: a body that keeps moving on a slow link is
//! never cut. Instead every request body is handed to the connection in small frames and
//! every reply is read in chunks, each counted by a [`Meter`] shared by the whole sync.
//! A request that moves less than [`PROGRESS_BYTES`] for [`SyncConfig::timeout`] has
//! stalled; a sync that makes no progress for [`SyncConfig::give_up_after`], retries
//! included, stops. Both end in [`SyncError::TimedOut`]. (A server dripping a byte a second
//! makes no progress by this measure.)

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::CONTENT_ENCODING;

use super::client::{SyncClient, SyncConfig, SyncError, SyncListener, SyncProgress};
use super::wire::ErrorBody;

/// Largest reply body read into memory, compressed or not.
pub(super) const MAX_REPLY: usize = 64 << 20;
/// Bytes that count as progress: less than this moving is a stall, however long it trickles.
pub const PROGRESS_BYTES: u64 = 512;
/// Request bodies go to the connection in frames of this size, each counted.
const FRAME: usize = 4 << 10;
/// How often the watchdog looks, and tells listeners about bytes in flight.
const TICK: Duration = Duration::from_millis(500);

/// Bytes moved by a sync's requests and when it last made progress. Request bodies are
/// polled on the connection's own task, hence atomics.
///
/// Two clocks: the request's (any bytes moving, either way) and the sync's. Sending a
/// request again after a failure is not progress for the sync — a server that takes every
/// request and never answers must not keep it alive — so while retrying only reply bytes
/// move the sync's clock.
pub(super) struct Meter {
    base: Instant,
    sent: AtomicU64,
    received: AtomicU64,
    /// Bytes sent and received at their last progress step.
    sent_step: AtomicU64,
    received_step: AtomicU64,
    /// Milliseconds after `base`: the sync's last progress, the current request's start
    /// and its last progress.
    progress_at: AtomicU64,
    request_at: AtomicU64,
    request_progress_at: AtomicU64,
    /// Since the last failure no request has been answered.
    retrying: AtomicBool,
}

impl Meter {
    pub fn new() -> Arc<Meter> {
        Arc::new(Meter {
            base: Instant::now(),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            sent_step: AtomicU64::new(0),
            received_step: AtomicU64::new(0),
            progress_at: AtomicU64::new(0),
            request_at: AtomicU64::new(0),
            request_progress_at: AtomicU64::new(0),
            retrying: AtomicBool::new(false),
        })
    }

    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    fn at(&self, ms: &AtomicU64) -> Instant {
        self.base + Duration::from_millis(ms.load(Ordering::SeqCst))
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }

    pub fn add_sent(&self, n: usize) {
        let total = self.sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        if stepped(&self.sent_step, total) {
            self.touch(!self.retrying.load(Ordering::SeqCst));
        }
    }

    pub fn add_received(&self, n: usize) {
        let total = self.received.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        if stepped(&self.received_step, total) {
            self.touch(true);
        }
    }

    fn touch(&self, sync: bool) {
        let now = self.now_ms();
        self.request_progress_at.store(now, Ordering::SeqCst);
        if sync {
            self.progress_at.store(now, Ordering::SeqCst);
        }
    }

    /// The server answered: progress, whatever the answer's size.
    pub fn mark(&self) {
        self.touch(true);
    }

    /// A request is answered in full.
    pub fn answered(&self) {
        self.retrying.store(false, Ordering::SeqCst);
    }

    /// A request failed and is sent again.
    pub fn retry(&self) {
        self.retrying.store(true, Ordering::SeqCst);
    }

    fn request_started(&self) {
        let now = self.now_ms();
        self.request_at.store(now, Ordering::SeqCst);
        self.request_progress_at.store(now, Ordering::SeqCst);
    }

    /// Time since the sync last made progress.
    pub fn idle(&self) -> Duration {
        self.at(&self.progress_at).elapsed()
    }

    /// When the request in flight is given up: `stall` after its start or its last
    /// progress, and never later than `give_up` after the sync's last progress.
    fn deadline(&self, stall: Duration, give_up: Duration) -> (Instant, bool) {
        let request = self.at(&self.request_progress_at) + stall;
        let sync = self.at(&self.progress_at) + give_up;
        if sync <= request {
            (sync, true)
        } else {
            (request, false)
        }
    }
}

/// Whether `total` bytes are another [`PROGRESS_BYTES`] past the last step (and records it).
fn stepped(step: &AtomicU64, total: u64) -> bool {
    let last = step.load(Ordering::SeqCst);
    total >= last + PROGRESS_BYTES
        && step
            .compare_exchange(last, total, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
}

/// What a listener last heard, for the reports the watchdog makes while bytes move.
#[derive(Default)]
struct Shown {
    progress: SyncProgress,
    sent_base: u64,
    received_base: u64,
    photos: bool,
    told: (u64, u64),
}

/// One sync's (or one call's) progress clock and listener.
pub(super) struct Watch<'a> {
    pub meter: Arc<Meter>,
    listener: Option<&'a dyn SyncListener>,
    shown: Mutex<Shown>,
}

impl<'a> Watch<'a> {
    pub fn new(listener: Option<&'a dyn SyncListener>) -> Watch<'a> {
        Watch {
            meter: Meter::new(),
            listener,
            shown: Mutex::new(Shown::default()),
        }
    }

    /// Tells the listener, and remembers what it was told as the base for bytes in flight.
    pub fn progress(&self, p: SyncProgress) {
        {
            let mut s = self.shown.lock().unwrap_or_else(|e| e.into_inner());
            s.progress = p.clone();
            s.progress.in_flight = false;
        }
        if let Some(l) = self.listener {
            l.progress(&p);
        }
    }

    /// Tells the listener about photo bytes that went (`sent`) or came (`received`).
    pub fn photo_bytes(&self, sent: u64, received: u64, more: bool) {
        let p = {
            let mut s = self.shown.lock().unwrap_or_else(|e| e.into_inner());
            s.progress.blob_bytes_sent += sent;
            s.progress.blob_bytes_received += received;
            s.progress.more = more;
            // Counted now: no longer in flight.
            s.sent_base += sent;
            s.received_base += received;
            s.progress.clone()
        };
        if let Some(l) = self.listener {
            l.progress(&p);
        }
    }

    /// A request starts: bytes from here on are in flight, counted as documents' bytes or
    /// as photos' bytes.
    fn begin(&self, photos: bool) {
        let mut s = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        s.sent_base = self.meter.sent();
        s.received_base = self.meter.received();
        s.photos = photos;
        s.told = (0, 0);
        self.meter.request_started();
    }

    /// Tells the listener about bytes moved by the request in flight, if any moved.
    fn tick(&self) {
        let Some(l) = self.listener else { return };
        let p = {
            let mut s = self.shown.lock().unwrap_or_else(|e| e.into_inner());
            let up = self.meter.sent().saturating_sub(s.sent_base);
            let down = self.meter.received().saturating_sub(s.received_base);
            if (up, down) == s.told {
                return;
            }
            s.told = (up, down);
            let mut p = s.progress.clone();
            p.in_flight = true;
            if s.photos {
                p.blob_bytes_sent += up;
                p.blob_bytes_received += down;
            } else {
                p.bytes_sent += up;
                p.bytes_received += down;
            }
            p
        };
        l.progress(&p);
    }
}

/// A request body handed to the connection in counted frames.
struct MeteredBody {
    data: Bytes,
    at: usize,
    meter: Arc<Meter>,
}

impl http_body::Body for MeteredBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let len = self.data.len();
        if self.at >= len {
            return Poll::Ready(None);
        }
        let end = (self.at + FRAME).min(len);
        let frame = self.data.slice(self.at..end);
        self.at = end;
        self.meter.add_sent(frame.len());
        Poll::Ready(Some(Ok(http_body::Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.at >= self.data.len()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact((self.data.len() - self.at) as u64)
    }
}

/// `bytes` as a request body counted by `meter`.
pub(super) fn metered(bytes: Vec<u8>, meter: &Arc<Meter>) -> reqwest::Body {
    reqwest::Body::wrap(MeteredBody {
        data: Bytes::from(bytes),
        at: 0,
        meter: meter.clone(),
    })
}

impl SyncClient {
    /// Runs one request's work (`fut`: send, read) under the watchdog. `photos` says whose
    /// bytes these are, for the listener.
    pub(super) async fn watched<T>(
        &self,
        w: &Watch<'_>,
        photos: bool,
        fut: impl Future<Output = Result<T, SyncError>>,
    ) -> Result<T, SyncError> {
        w.begin(photos);
        let mut fut = pin!(fut);
        loop {
            let (deadline, giving_up) = w.meter.deadline(self.cfg.timeout, self.cfg.give_up_after);
            let wake = deadline.min(Instant::now() + TICK);
            tokio::select! {
                biased;
                out = &mut fut => return out,
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
            let (deadline, giving_up_now) =
                w.meter.deadline(self.cfg.timeout, self.cfg.give_up_after);
            if Instant::now() >= deadline {
                return Err(SyncError::TimedOut(if giving_up || giving_up_now {
                    format!(
                        "no progress for {} s; the sync gave up",
                        self.cfg.give_up_after.as_secs()
                    )
                } else {
                    format!(
                        "no progress for {} s (the connection stalled)",
                        self.cfg.timeout.as_secs()
                    )
                }));
            }
            w.tick();
        }
    }

    /// Sends a request and reads its whole reply (at most [`MAX_REPLY`] bytes) under the
    /// watchdog. Returns the body and whether it is gzip-compressed; error statuses become
    /// typed errors.
    pub(super) async fn call(
        &self,
        w: &Watch<'_>,
        req: reqwest::RequestBuilder,
        body: Option<Vec<u8>>,
    ) -> Result<(Vec<u8>, bool), SyncError> {
        self.call_as(w, false, req, body).await
    }

    /// [`SyncClient::call`] for a request carrying photo bytes (`photos`) or documents.
    pub(super) async fn call_as(
        &self,
        w: &Watch<'_>,
        photos: bool,
        req: reqwest::RequestBuilder,
        body: Option<Vec<u8>>,
    ) -> Result<(Vec<u8>, bool), SyncError> {
        let meter = w.meter.clone();
        let req = match body {
            Some(b) => req.body(metered(b, &meter)),
            None => req,
        };
        self.watched(w, photos, async move {
            let mut resp = req.send().await.map_err(classify)?;
            meter.mark();
            let gz = resp
                .headers()
                .get(CONTENT_ENCODING)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
            let status = resp.status();
            if resp.content_length().is_some_and(|n| n > MAX_REPLY as u64) {
                return Err(SyncError::Protocol("the reply is too large".into()));
            }
            let mut out = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(classify)? {
                if out.len() + chunk.len() > MAX_REPLY {
                    return Err(SyncError::Protocol("the reply is too large".into()));
                }
                meter.add_received(chunk.len());
                out.extend_from_slice(&chunk);
            }
            meter.answered();
            if status.is_success() {
                Ok((out, gz))
            } else {
                Err(status_error(status, &out))
            }
        })
        .await
    }

    /// [`SyncClient::call`] again after failures that may pass (see [`retryable`]), with
    /// backoff, while the sync's time without progress allows.
    pub(super) async fn call_retrying(
        &self,
        w: &Watch<'_>,
        make: impl Fn() -> (reqwest::RequestBuilder, Option<Vec<u8>>),
    ) -> Result<(Vec<u8>, bool), SyncError> {
        let mut attempt = 0u32;
        loop {
            let (req, body) = make();
            match self.call(w, req, body).await {
                Err(e) if self.may_retry(w, &e, attempt) => {
                    tokio::time::sleep(backoff(&self.cfg, attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Whether to try again after `e` on attempt `attempt` (0 = the first retry).
    /// Marks the sync as retrying when it does.
    pub(super) fn may_retry(&self, w: &Watch<'_>, e: &SyncError, attempt: u32) -> bool {
        let again = retryable(e)
            && attempt < self.cfg.retries
            && w.meter.idle() + backoff_cap(&self.cfg, attempt) < self.cfg.give_up_after;
        if again {
            w.meter.retry();
        }
        again
    }
}

/// Names a transport failure by its cause: refused, closed, TLS, timed out, or other.
pub(super) fn classify(e: reqwest::Error) -> SyncError {
    let text = chain_text(&e);
    if e.is_timeout() {
        return SyncError::TimedOut(format!("connecting to the server took too long ({text})"));
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = cur {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return SyncError::Tls(text);
        }
        if let Some(h) = err.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_closed() || h.is_canceled())
        {
            return SyncError::Closed(text);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            let (io, tls) = innermost(io);
            if tls {
                return SyncError::Tls(text);
            }
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionRefused => return SyncError::Refused(text),
                K::ConnectionReset
                | K::ConnectionAborted
                | K::BrokenPipe
                | K::UnexpectedEof
                | K::NotConnected => return SyncError::Closed(text),
                K::TimedOut => return SyncError::TimedOut(text),
                _ => {}
            }
        }
        cur = err.source();
    }
    SyncError::Network(text)
}

/// The innermost of I/O errors wrapped in one another (the TLS layers do that), and whether
/// TLS is what failed.
fn innermost(io: &std::io::Error) -> (&std::io::Error, bool) {
    let mut cur = io;
    loop {
        let Some(inner) = cur.get_ref() else {
            return (cur, false);
        };
        if inner.downcast_ref::<rustls::Error>().is_some() {
            return (cur, true);
        }
        match inner.downcast_ref::<std::io::Error>() {
            Some(i) => cur = i,
            None => return (cur, false),
        }
    }
}

/// The messages of an error and its sources, most specific last, without repeats.
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let m = err.to_string();
        if !parts.iter().any(|p| p.contains(&m)) {
            parts.push(m);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// An error status with its JSON error body as a typed error.
pub(super) fn status_error(status: StatusCode, body: &[u8]) -> SyncError {
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => (e.error, e.message),
        Err(_) => (
            "unknown".to_string(),
            String::from_utf8_lossy(body).chars().take(200).collect(),
        ),
    };
    match status {
        StatusCode::UNAUTHORIZED => SyncError::Unauthorized(message),
        s if s.is_server_error() => SyncError::Server {
            status: s.as_u16(),
            code,
            message,
        },
        s => SyncError::Rejected {
            status: s.as_u16(),
            code,
            message,
        },
    }
}

/// Failures that may pass on their own: the network, a busy or failing server, a timeout.
pub(super) fn retryable(e: &SyncError) -> bool {
    match e {
        SyncError::Network(_)
        | SyncError::TimedOut(_)
        | SyncError::Refused(_)
        | SyncError::Closed(_) => true,
        SyncError::Server { status, .. } => *status >= 500 || *status == 429,
        SyncError::Rejected { status, .. } => *status == 429 || *status == 408,
        _ => false,
    }
}

/// Failures that say the request was too much for the link or the server: the next is
/// smaller.
pub(super) fn too_much(e: &SyncError) -> bool {
    matches!(
        e,
        SyncError::TimedOut(_)
            | SyncError::Closed(_)
            | SyncError::Network(_)
            | SyncError::Rejected {
                status: 408 | 413,
                ..
            }
    )
}

/// The server refused a body over its size limit.
pub(super) fn over_limit(e: &SyncError) -> bool {
    matches!(e, SyncError::Rejected { status: 413, .. })
}

fn backoff_cap(cfg: &SyncConfig, attempt: u32) -> Duration {
    cfg.backoff_base
        .saturating_mul(1u32 << attempt.min(16))
        .min(cfg.backoff_max)
}

/// Exponential backoff with "equal jitter": half the delay fixed, half random, so devices
/// that lost the network together do not come back in lockstep.
pub(super) fn backoff(cfg: &SyncConfig, attempt: u32) -> Duration {
    let exp = backoff_cap(cfg, attempt);
    let half = exp / 2;
    let jitter = rand::rng().random_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_stays_capped_and_jitters() {
        let cfg = SyncConfig::new("http://127.0.0.1:1");
        for attempt in 0..20 {
            let d = backoff(&cfg, attempt);
            let cap = backoff_cap(&cfg, attempt);
            assert!(d >= cap / 2 && d <= cap, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn progress_is_counted_in_steps_and_a_trickle_or_a_resend_is_not_progress() {
        let m = Meter::new();
        std::thread::sleep(Duration::from_millis(20));
        for _ in 0..(PROGRESS_BYTES - 1) {
            m.add_received(1);
        }
        assert!(
            m.idle() >= Duration::from_millis(20),
            "a trickle is no progress"
        );
        m.add_received(1);
        assert!(m.idle() < Duration::from_millis(20));
        let stall = Duration::from_secs(25);
        let give_up = Duration::from_secs(55);
        m.request_started();
        let (d, giving_up) = m.deadline(stall, give_up);
        assert!(!giving_up && d > Instant::now() + Duration::from_secs(24));
        // Past the sync's limit, the request's own allowance no longer counts.
        let (_, giving_up) = m.deadline(stall, Duration::from_secs(10));
        assert!(giving_up);
        // Sending again after a failure moves the request's clock, not the sync's.
        std::thread::sleep(Duration::from_millis(20));
        m.retry();
        m.add_sent(PROGRESS_BYTES as usize * 4);
        assert!(m.idle() >= Duration::from_millis(20));
        m.answered();
        m.add_sent(PROGRESS_BYTES as usize * 4);
        assert!(m.idle() < Duration::from_millis(20));
    }
}
