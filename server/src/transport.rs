//! The listening side of the server: our own accept loop over hyper instead of
//! `axum::serve`, so that no client can hold the server with connections. Every connection
//! gets a header-read timeout and an idle timeout; connections are capped in total and per
//! client address (over a cap a connection is closed at once); TLS (rustls with the *ring*
//! provider) is built in, with a handshake timeout; and plain HTTP is served only on
//! loopback addresses unless a TLS-terminating proxy stands in front.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::IntoResponse;
use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// How connections are bounded.
#[derive(Clone)]
pub struct TransportConfig {
    /// From a connection's start (after TLS), or the end of its previous reply, until a
    /// request head has arrived whole. Also ends a kept-alive connection that stays silent.
    pub header_timeout: Duration,
    /// A connection on which no byte moves while no handler works on it (a client that
    /// stopped reading its reply, an idle keep-alive) is closed after this long.
    pub idle_timeout: Duration,
    /// Connections open at once; the next one is closed at once.
    pub max_connections: usize,
    /// Connections open at once from one client address (IPv4 address, IPv6 /64).
    pub max_connections_per_ip: usize,
    /// TLS, when the server terminates it itself.
    pub tls: Option<TlsAcceptor>,
    pub tls_handshake_timeout: Duration,
    /// Plain HTTP on a non-loopback address is allowed: a TLS-terminating proxy forwards
    /// to it. Nothing the proxy sends is trusted for that (no forwarded-for headers).
    pub behind_tls_proxy: bool,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_connections_per_ip: 256,
            tls: None,
            tls_handshake_timeout: Duration::from_secs(10),
            behind_tls_proxy: false,
        }
    }
}

impl std::fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportConfig")
            .field("header_timeout", &self.header_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("tls", &self.tls.is_some())
            .field("tls_handshake_timeout", &self.tls_handshake_timeout)
            .field("behind_tls_proxy", &self.behind_tls_proxy)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error(
        "refusing to serve plain HTTP on {0}, which is not a loopback address: devices would \
         send their tokens and cases unencrypted. Give --tls-cert and --tls-key, or \
         --behind-tls-proxy when a TLS-terminating proxy forwards to this address, or listen \
         on 127.0.0.1"
    )]
    PlainOnPublic(SocketAddr),
    #[error("the TLS certificate file {path}: {reason}")]
    Cert { path: String, reason: String },
    #[error("the TLS key file {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("the TLS certificate and key do not make a server configuration: {0}")]
    Tls(String),
}

impl From<TransportError> for io::Error {
    fn from(e: TransportError) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}

/// Connections the kernel queues for `accept` (it caps this at `net.core.somaxconn`). A
/// burst larger than the queue is reset by the kernel before we can count or refuse it;
/// the common default of 1,024 is small for a server facing floods.
pub const BACKLOG: u32 = 4096;

/// A listener on `addr` with a [`BACKLOG`]-long accept queue.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // A restarted server binds its port again at once, as `TcpListener::bind` does.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// The process's soft limit of open files, where the system tells it (Linux).
pub fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether `addr` reaches only this machine.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// Plain HTTP only on loopback, unless TLS is on or a TLS proxy is declared.
pub fn check_listen(addr: SocketAddr, cfg: &TransportConfig) -> Result<(), TransportError> {
    if cfg.tls.is_none() && !cfg.behind_tls_proxy && !is_loopback(&addr) {
        return Err(TransportError::PlainOnPublic(addr));
    }
    Ok(())
}

/// A TLS acceptor from a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or
/// SEC1), on rustls' *ring* provider, speaking HTTP/1.1.
pub fn load_tls(cert: &Path, key: &Path) -> Result<TlsAcceptor, TransportError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert_err = |reason: String| TransportError::Cert {
        path: cert.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(cert_err("holds no PEM certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TransportError::Key {
        path: key.display().to_string(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The address a client is counted under: an IPv4 address, or the /64 network of an IPv6
/// one (one subscriber usually holds a whole /64).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// What happened to connections since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    pub open: AtomicU64,
    pub accepted: AtomicU64,
    pub refused_max_connections: AtomicU64,
    pub refused_per_ip: AtomicU64,
    pub header_timeouts: AtomicU64,
    pub idle_timeouts: AtomicU64,
    pub tls_errors: AtomicU64,
    pub tls_timeouts: AtomicU64,
    pub panics: AtomicU64,
}

impl Counters {
    fn add(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters in Prometheus' text format.
    pub fn render(&self, out: &mut String) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut row = |name: &str, kind: &str, help: &str, values: &[(&str, u64)]| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (labels, v) in values {
                out.push_str(&format!("{name}{labels} {v}\n"));
            }
        };
        row(
            "outpost_connections_open",
            "gauge",
            "connections open now",
            &[("", get(&self.open))],
        );
        row(
            "outpost_connections_accepted_total",
            "counter",
            "connections accepted",
            &[("", get(&self.accepted))],
        );
        row(
            "outpost_connections_refused_total",
            "counter",
            "connections closed at once because a cap was reached",
            &[
                (
                    "{cap=\"max_connections\"}",
                    get(&self.refused_max_connections),
                ),
                (
                    "{cap=\"max_connections_per_ip\"}",
                    get(&self.refused_per_ip),
                ),
            ],
        );
        row(
            "outpost_header_timeouts_total",
            "counter",
            "connections closed because a request head did not arrive in time",
            &[("", get(&self.header_timeouts))],
        );
        row(
            "outpost_idle_timeouts_total",
            "counter",
            "connections closed after moving no byte for the idle timeout",
            &[("", get(&self.idle_timeouts))],
        );
        row(
            "outpost_tls_handshake_failures_total",
            "counter",
            "TLS handshakes that failed, or did not finish in time",
            &[
                ("{cause=\"error\"}", get(&self.tls_errors)),
                ("{cause=\"timeout\"}", get(&self.tls_timeouts)),
            ],
        );
        row(
            "outpost_request_panics_total",
            "counter",
            "requests whose handler panicked (answered 500)",
            &[("", get(&self.panics))],
        );
    }
}

/// Connections open per client address.
struct PerAddress {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in [`PerAddress`], given back when dropped.
struct AddressSlot {
    table: Arc<PerAddress>,
    key: IpAddr,
}

impl PerAddress {
    fn enter(table: &Arc<PerAddress>, ip: IpAddr) -> Option<AddressSlot> {
        let key = client_key(ip);
        let mut open = table.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= table.max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            table: table.clone(),
            key,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// When a connection last moved a byte, and whether a handler works on it now.
struct Activity {
    born: Instant,
    last_ms: AtomicU64,
    busy: AtomicUsize,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            born: Instant::now(),
            last_ms: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.born.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Resolves once the connection has been idle for `limit`: no byte moved and no
    /// handler running. A handler may take as long as the request time limit allows.
    async fn idle_for(&self, limit: Duration) {
        loop {
            if self.busy.load(Ordering::Relaxed) > 0 {
                tokio::time::sleep(limit / 2).await;
                continue;
            }
            let due =
                self.born + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + limit;
            if Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due.into()).await;
        }
    }
}

/// A handler at work on a connection; the idle clock restarts when it ends.
struct Busy(Arc<Activity>);

impl Busy {
    fn enter(a: &Arc<Activity>) -> Busy {
        a.busy.fetch_add(1, Ordering::Relaxed);
        Busy(a.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A socket (plain or TLS) that records when bytes move.
struct Tracked<IO> {
    io: IO,
    activity: Arc<Activity>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tracked<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.touch();
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tracked<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A warning at most every `every`, with how many events it stands for.
struct Throttled {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl Throttled {
    fn new(every: Duration) -> Throttled {
        Throttled {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// Counts one event; returns how many to report now, if it is time.
    fn tick(&self) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.1 += 1;
        let now = Instant::now();
        if s.0.is_some_and(|t| now.duration_since(t) < self.every) {
            return None;
        }
        s.0 = Some(now);
        Some(std::mem::take(&mut s.1))
    }
}

/// What every connection task shares.
struct Shared {
    cfg: TransportConfig,
    http: http1::Builder,
    router: Router,
    counters: Arc<Counters>,
}

/// A connection's claims on the caps, given back when it ends (also by a panic).
struct Open {
    counters: Arc<Counters>,
    _slot: tokio::sync::OwnedSemaphorePermit,
    _address: AddressSlot,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.counters.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Resolves once `stop` is true (or its sender is gone). The borrowed value is not held,
/// so futures waiting on it stay `Send`.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Serves `router` on `listener` until `stop` turns true, then lets connections finish
/// the request in flight for at most `grace`.
pub async fn run(
    listener: TcpListener,
    router: Router,
    cfg: TransportConfig,
    counters: Arc<Counters>,
    stop: watch::Receiver<bool>,
    grace: Duration,
) -> io::Result<()> {
    let max = cfg
        .max_connections
        .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let slots = Arc::new(Semaphore::new(max));
    let per_address = Arc::new(PerAddress {
        max: cfg.max_connections_per_ip.max(1),
        open: Mutex::new(HashMap::new()),
    });
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(cfg.header_timeout)
        .keep_alive(true);
    let shared = Arc::new(Shared {
        cfg,
        http,
        router,
        counters: counters.clone(),
    });
    let refusals = Throttled::new(Duration::from_secs(10));
    let accept_errors = Throttled::new(Duration::from_secs(10));
    let mut stopping = stop.clone();
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: the pending connection stays in
                    // the backlog; wait a little instead of spinning.
                    if let Some(n) = accept_errors.tick() {
                        tracing::warn!(error = %e, count = n, "cannot accept connections");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stopping) => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            Counters::add(&counters.refused_max_connections);
            if let Some(n) = refusals.tick() {
                tracing::warn!(
                    count = n,
                    max,
                    "connection cap reached: closing new connections"
                );
            }
            continue;
        };
        let Some(address) = PerAddress::enter(&per_address, peer.ip()) else {
            Counters::add(&counters.refused_per_ip);
            if let Some(n) = refusals.tick() {
                tracing::warn!(
                    client = %peer.ip(),
                    count = n,
                    max = per_address.max,
                    "per-address connection cap reached: closing new connections"
                );
            }
            continue;
        };
        let _ = tcp.set_nodelay(true);
        Counters::add(&counters.accepted);
        counters.open.fetch_add(1, Ordering::Relaxed);
        let open = Open {
            counters: counters.clone(),
            _slot: slot,
            _address: address,
        };
        let shared = shared.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            connection(&shared, tcp, peer, stop).await;
            drop(open);
        });
    }
    drop(listener);
    // Every connection holds a slot until it ends: all slots back means all done.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("requests still running after the grace period; stopping");
    }
    Ok(())
}

async fn connection(
    shared: &Shared,
    tcp: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let Some(acceptor) = &shared.cfg.tls else {
        return serve_http(shared, tcp, peer, stop).await;
    };
    let handshake = tokio::time::timeout(shared.cfg.tls_handshake_timeout, acceptor.accept(tcp));
    let done = tokio::select! {
        r = handshake => r,
        _ = stopped(&mut stop) => return,
    };
    match done {
        Ok(Ok(tls)) => serve_http(shared, tls, peer, stop).await,
        Ok(Err(e)) => {
            Counters::add(&shared.counters.tls_errors);
            tracing::debug!(client = %peer, error = %e, "TLS handshake failed");
        }
        Err(_) => {
            Counters::add(&shared.counters.tls_timeouts);
            tracing::debug!(client = %peer, "TLS handshake did not finish in time");
        }
    }
}

async fn serve_http<IO>(shared: &Shared, io: IO, peer: SocketAddr, mut stop: watch::Receiver<bool>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        io,
        activity: activity.clone(),
    });
    let router = shared.router.clone();
    let counters = shared.counters.clone();
    let act = activity.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let busy = Busy::enter(&act);
        let router = router.clone();
        let counters = counters.clone();
        let path = req.uri().path().to_string();
        async move {
            // A panicking handler answers 500 for its request; the connection and every
            // other request carry on.
            let resp = match std::panic::AssertUnwindSafe(router.oneshot(req))
                .catch_unwind()
                .await
            {
                Ok(Ok(resp)) => resp,
                Ok(Err(never)) => match never {},
                Err(panic) => {
                    Counters::add(&counters.panics);
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    tracing::error!(client = %peer, %path, panic = %what, "request handler panicked");
                    crate::error::ApiError::new(
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "internal error",
                    )
                    .into_response()
                }
            };
            drop(busy);
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    let conn = shared.http.serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    if e.is_timeout() {
                        Counters::add(&shared.counters.header_timeouts);
                        tracing::debug!(client = %peer, "request head did not arrive in time");
                    } else {
                        tracing::debug!(client = %peer, error = %e, "connection ended with an error");
                    }
                }
                return;
            }
            _ = stopped(&mut stop), if !draining => {
                // Finish the request in flight, then close; an idle connection closes now.
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = activity.idle_for(shared.cfg.idle_timeout) => {
                Counters::add(&shared.counters.idle_timeouts);
                tracing::debug!(client = %peer, "idle connection closed");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_counted_by_address_or_ipv6_network() {
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(client_key(v4), v4);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), v4);
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
    }

    #[test]
    fn per_address_slots_are_capped_and_given_back() {
        let table = Arc::new(PerAddress {
            max: 2,
            open: Mutex::new(HashMap::new()),
        });
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        let other: IpAddr = "127.0.0.3".parse().unwrap();
        let a = PerAddress::enter(&table, ip).unwrap();
        let b = PerAddress::enter(&table, ip).unwrap();
        assert!(PerAddress::enter(&table, ip).is_none());
        assert!(PerAddress::enter(&table, other).is_some());
        drop(a);
        assert!(PerAddress::enter(&table, ip).is_some());
        drop(b);
        assert!(table.open.lock().unwrap().is_empty(), "nothing left behind");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_open_file_limit_is_read() {
        assert!(open_file_limit().is_some_and(|n| n > 0));
    }

    #[test]
    fn plain_http_only_on_loopback_unless_tls_or_a_proxy() {
        let cfg = TransportConfig::default();
        assert!(check_listen("127.0.0.1:8080".parse().unwrap(), &cfg).is_ok());
        assert!(check_listen("[::1]:8080".parse().unwrap(), &cfg).is_ok());
        let public: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let e = check_listen(public, &cfg).unwrap_err().to_string();
        assert!(
            e.contains("0.0.0.0:8080") && e.contains("--tls-cert"),
            "{e}"
        );
        let proxied = TransportConfig {
            behind_tls_proxy: true,
            ..TransportConfig::default()
        };
        assert!(check_listen(public, &proxied).is_ok());
    }
}
