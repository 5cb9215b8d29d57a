//! The server's transport against a real `outpost-server` process on loopback: slow and
//! surplus connections, TLS, where plain HTTP may listen, enrollment floods and who may
//! read `/metrics`. Clients play several addresses by binding to 127.0.0.2, 127.0.0.3, …
//! (all of 127.0.0.0/8 is loopback), apart from the prober on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use outpost_core::sync::{SyncClient, SyncConfig, SyncError};
use outpost_tests::harness::{
    self, Device, Launch, Reply, Server, bin, city, connect_from, http, http_from, series_value,
};

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// The address of the server's `/metrics` listener, from its log.
fn metrics_addr(server: &Server) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let found = server.log_lines().iter().find_map(|l| {
            (l["fields"]["message"] == "serving /metrics")
                .then(|| l["fields"]["addr"].as_str()?.parse().ok())
                .flatten()
        });
        if let Some(a) = found {
            return a;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no metrics listener in the log:\n{}", server.log_text());
}

fn scrape(addr: SocketAddr, token: Option<&str>) -> Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    http(addr, "GET", "/metrics", &headers, b"").expect("scrape")
}

fn metric(addr: SocketAddr, series: &str) -> u64 {
    let r = scrape(addr, None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    series_value(&String::from_utf8_lossy(&r.body), series)
}

/// Waits until `f` holds, for at most 20 s.
fn eventually(what: &str, f: impl FnMut() -> bool) {
    harness::eventually(what, Duration::from_secs(20), f);
}

/// How long until the server closes `s`, reading (and dropping) whatever it sends.
fn closed_after(mut s: TcpStream, started: Instant, limit: Duration) -> Option<Duration> {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 512];
    while started.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

/// One slowloris connection from `from`: a request head sent a byte every 200 ms, never
/// finished. Returns how long the server kept it open, and how the end showed.
async fn trickle(
    addr: SocketAddr,
    from: IpAddr,
    connected: Arc<AtomicUsize>,
) -> Result<(Duration, String), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket
        .bind(SocketAddr::new(from, 0))
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut s = socket.connect(addr).await.map_err(|e| e.to_string())?;
    connected.fetch_add(1, Ordering::SeqCst);
    let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await;
    let line = b"X-Trickle: 1\r\n";
    let mut buf = [0u8; 256];
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(60) {
        tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(0) => return Ok((started.elapsed(), "closed".into())),
                Err(e) => return Ok((started.elapsed(), format!("read: {e}"))),
                Ok(n) => {
                    let got = String::from_utf8_lossy(&buf[..n]).into_owned();
                    return Err(format!("an answer to an unfinished head: {got:?}"));
                }
            },
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                if let Err(e) = s.write_all(&line[i % line.len()..][..1]).await {
                    return Ok((started.elapsed(), format!("write: {e}")));
                }
                i += 1;
            }
        }
    }
    Err("still open after 60 s".into())
}

#[test]
fn slowloris_connections_are_closed_at_the_header_timeout_while_health_answers() {
    let server = Server::launch(
        &city(),
        Launch {
            args: &[
                "--header-timeout-secs",
                "3",
                "--metrics-listen",
                "127.0.0.1:0",
            ],
            log: true,
            ..Launch::default()
        },
    );
    let addr = server.addr;
    let maddr = metrics_addr(&server);
    // 1,100 connections from five other addresses, 220 each: under the per-address cap
    // (256), so the header timeout is what has to end them.
    const N: usize = 1100;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let connected = Arc::new(AtomicUsize::new(0));
    let tricklers: Vec<_> = (0..N)
        .map(|i| rt.spawn(trickle(addr, ip(2 + (i % 5) as u8), connected.clone())))
        .collect();
    eventually("every trickling connection is made", || {
        connected.load(Ordering::SeqCst) == N
    });
    let open_at_start = metric(maddr, "outpost_connections_open");

    // The prober on 127.0.0.1 asks for /health until every trickler is gone.
    let done = Arc::new(AtomicBool::new(false));
    let prober = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            loop {
                let last = done.load(Ordering::SeqCst);
                answers.push(http(addr, "GET", "/health", &[], b"").map(|r| r.status));
                if last {
                    return answers;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let closed: Vec<Result<(Duration, String), String>> = rt.block_on(async {
        let mut out = Vec::new();
        for t in tricklers {
            out.push(t.await.unwrap_or_else(|e| Err(e.to_string())));
        }
        out
    });
    done.store(true, Ordering::SeqCst);
    let answers = prober.join().unwrap();

    assert!(
        open_at_start >= (N / 2) as u64,
        "the trickling connections were open together ({open_at_start} open)"
    );
    assert!(answers.len() >= 2, "{answers:?}");
    assert!(
        answers.iter().all(|a| matches!(a, Ok(200))),
        "/health answered all along: {answers:?}"
    );
    let mut times: Vec<(Duration, String)> = closed
        .iter()
        .map(|c| c.clone().unwrap_or_else(|e| panic!("a trickler: {e}")))
        .collect();
    times.sort();
    // Bytes kept coming, so only the header timeout (3 s) can have closed them.
    let early: Vec<_> = times
        .iter()
        .filter(|t| t.0 < Duration::from_millis(2900))
        .collect();
    assert!(
        early.is_empty(),
        "{} closed before the header timeout, e.g. {:?}\n{}\n{}",
        early.len(),
        &early[..early.len().min(5)],
        String::from_utf8_lossy(&scrape(maddr, None).body),
        server.log_text()
    );
    let times: Vec<Duration> = times.into_iter().map(|t| t.0).collect();
    eprintln!(
        "{N} trickling connections closed after {:.1}–{:.1} s; /health answered {} times",
        times[0].as_secs_f64(),
        times[N - 1].as_secs_f64(),
        answers.len()
    );
    assert!(metric(maddr, "outpost_header_timeouts_total") >= N as u64);
    eventually("the connections are given back", || {
        metric(maddr, "outpost_connections_open") <= 2
    });
}

#[test]
fn connections_over_a_cap_are_closed_at_once_while_others_are_served() {
    let server = Server::launch(
        &city(),
        Launch {
            args: &[
                "--max-connections",
                "6",
                "--max-connections-per-ip",
                "4",
                "--header-timeout-secs",
                "60",
                "--idle-timeout-secs",
                "60",
                "--metrics-listen",
                "127.0.0.1:0",
            ],
            log: true,
            ..Launch::default()
        },
    );
    let addr = server.addr;
    let maddr = metrics_addr(&server);
    let health_from = |n: u8| http_from(ip(n), addr, "GET", "/health", &[], b"");

    // 127.0.0.2 fills its share with four silent connections; a fifth is closed unanswered.
    let held: Vec<TcpStream> = (0..4).map(|_| connect_from(ip(2), addr).unwrap()).collect();
    let r = health_from(2);
    assert!(r.is_err(), "a fifth connection from one address: {r:?}");
    // Another address, and the prober, are served meanwhile.
    assert_eq!(health_from(3).unwrap().status, 200);
    assert_eq!(http(addr, "GET", "/health", &[], b"").unwrap().status, 200);
    eventually("only the held connections are open", || {
        metric(maddr, "outpost_connections_open") == 4
    });
    let m = String::from_utf8_lossy(&scrape(maddr, None).body).into_owned();
    assert_eq!(
        series_value(
            &m,
            "outpost_connections_refused_total{cap=\"max_connections_per_ip\"}"
        ),
        1
    );

    // Six in all: the next one, from any address, is closed too.
    let more: Vec<TcpStream> = (0..2).map(|_| connect_from(ip(3), addr).unwrap()).collect();
    let r = health_from(4);
    assert!(r.is_err(), "a connection over the total cap: {r:?}");
    let m = String::from_utf8_lossy(&scrape(maddr, None).body).into_owned();
    assert_eq!(
        series_value(
            &m,
            "outpost_connections_refused_total{cap=\"max_connections\"}"
        ),
        1
    );

    // Closed connections give their places back.
    drop(held);
    drop(more);
    eventually(
        "127.0.0.2 is served again",
        || matches!(health_from(2), Ok(r) if r.status == 200),
    );
    // /metrics lives on its own listener only.
    assert_eq!(http(addr, "GET", "/metrics", &[], b"").unwrap().status, 404);
}

#[test]
fn a_connection_moving_nothing_is_closed_at_the_idle_timeout() {
    let server = Server::launch(
        &city(),
        Launch {
            args: &[
                "--idle-timeout-secs",
                "1",
                "--header-timeout-secs",
                "60",
                "--metrics-listen",
                "127.0.0.1:0",
            ],
            log: true,
            ..Launch::default()
        },
    );
    let addr = server.addr;
    let maddr = metrics_addr(&server);
    // Silent from the start.
    let started = Instant::now();
    let s = connect_from(ip(2), addr).unwrap();
    let t = closed_after(s, started, Duration::from_secs(30)).expect("closed");
    assert!(t >= Duration::from_millis(900), "{t:?}");
    // Kept alive after one answered request, then silent.
    let mut s = connect_from(ip(2), addr).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let mut first = [0u8; 12];
    s.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let t = closed_after(s, started, Duration::from_secs(30)).expect("closed");
    assert!(t >= Duration::from_millis(900), "{t:?}");
    assert_eq!(metric(maddr, "outpost_idle_timeouts_total"), 2);
    assert_eq!(metric(maddr, "outpost_header_timeouts_total"), 0);
}

/// A self-signed certificate for 127.0.0.1 and localhost: (PEM cert, PEM key, DER cert).
fn self_signed() -> (String, String, Vec<u8>) {
    let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("certificate");
    (
        c.cert.pem(),
        c.signing_key.serialize_pem(),
        c.cert.der().to_vec(),
    )
}

#[test]
fn over_tls_devices_enroll_and_sync_and_bad_handshakes_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, der) = self_signed();
    let cert_file = dir.path().join("cert.pem");
    let key_file = dir.path().join("key.pem");
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let server = Server::launch(
        &city(),
        Launch {
            args: &[
                "--tls-cert",
                cert_file.to_str().unwrap(),
                "--tls-key",
                key_file.to_str().unwrap(),
                "--tls-handshake-timeout-secs",
                "2",
                "--metrics-listen",
                "127.0.0.1:0",
            ],
            log: true,
            ..Launch::default()
        },
    );
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let maddr = metrics_addr(&server);

    // Devices that trust the certificate enroll and sync over HTTPS.
    let trusting = |c: &mut SyncConfig| c.extra_roots = vec![der.clone()];
    let courier = Device::enroll_with(&server, &server.url, dir.path(), "courier-1", trusting);
    let lead = Device::enroll_with(&server, &server.url, dir.path(), "lead-c1", trusting);
    let flag = courier
        .store
        .flag_person_in_distress("G1", None, Some("over TLS"), None)
        .unwrap();
    assert_eq!(courier.sync().pushed_docs, 1);
    lead.sync();
    assert_eq!(lead.store.case(&flag).unwrap().description, "over TLS");

    // One that does not is refused by its own TLS check.
    let stranger = outpost_core::Store::open(dir.path().join("stranger.db")).unwrap();
    let client =
        SyncClient::new(outpost_tests::harness::fast(SyncConfig::new(&server.url))).unwrap();
    let code = server.invite("courier-2");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt
        .block_on(client.enroll(&stranger, &code, "stranger"))
        .unwrap_err();
    assert!(matches!(e, SyncError::Tls(_)), "{e}");

    // Plain HTTP to the TLS port gets no HTTP answer, and is not held until a timeout.
    // (The server counts a failed handshake just after it closed the connection.)
    let errors = "outpost_tls_handshake_failures_total{cause=\"error\"}";
    let timeouts = "outpost_tls_handshake_failures_total{cause=\"timeout\"}";
    eventually(
        "the stranger's refusal of the certificate is counted",
        || metric(maddr, errors) == 1,
    );
    let started = Instant::now();
    let r = http(server.addr, "GET", "/health", &[], b"");
    let refused_after = started.elapsed();
    assert!(r.is_err(), "plain HTTP on the TLS port: {r:?}");
    eventually("the plain request is counted as a failed handshake", || {
        metric(maddr, errors) == 2
    });
    assert!(
        refused_after < Duration::from_secs(2),
        "refused at once, not at the handshake timeout: {refused_after:?}"
    );
    assert_eq!(metric(maddr, timeouts), 0);

    // A handshake that never finishes (half a ClientHello) is dropped at its timeout.
    let mut s = connect_from(ip(2), server.addr).unwrap();
    let started = Instant::now();
    s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).unwrap();
    let t = closed_after(s, started, Duration::from_secs(30)).expect("dropped");
    assert!(t >= Duration::from_millis(1900), "{t:?}");
    eventually("the handshake timeout is counted", || {
        metric(maddr, timeouts) == 1
    });

    // Still serving, and every request left one summary line with its device and sizes.
    assert_eq!(courier.sync().round_trips, 1);
    let lines = server.log_lines();
    let syncs: Vec<_> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request" && l["fields"]["path"] == "/v1/sync")
        .collect();
    assert!(!syncs.is_empty());
    let mine = syncs
        .iter()
        .find(|l| l["fields"]["device"] == courier.device_id().as_str())
        .expect("a sync line names the device");
    assert_eq!(mine["fields"]["status"], 200);
    assert_eq!(mine["fields"]["client"], "127.0.0.1");
    assert!(mine["fields"]["bytes_in"].as_u64().unwrap() > 0, "{mine}");
    assert!(mine["fields"]["bytes_out"].as_u64().unwrap() > 0, "{mine}");
    assert!(mine["fields"]["ms"].as_f64().is_some(), "{mine}");
}

/// Runs `serve` with `args` and returns (exit status, stdout, stderr) if it exits within
/// 20 s; otherwise kills it and returns its first stdout line as stdout.
fn serve_once(args: &[&str]) -> (Option<bool>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin("outpost-test-server"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let _ = std::io::BufRead::read_line(&mut out, &mut line);
    if line.is_empty() {
        let status = child.wait().unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        return (Some(status.success()), line, err);
    }
    let _ = child.kill();
    let _ = child.wait();
    (None, line, String::new())
}

#[test]
fn plain_http_listens_beyond_loopback_only_behind_a_declared_tls_proxy() {
    let (status, out, err) = serve_once(&["--listen", "0.0.0.0:0"]);
    assert_eq!(status, Some(false), "{out}");
    assert!(
        err.contains("refusing to serve plain HTTP on 0.0.0.0:0")
            && err.contains("--tls-cert")
            && err.contains("--behind-tls-proxy"),
        "{err}"
    );

    let (status, out, _) = serve_once(&["--listen", "0.0.0.0:0", "--behind-tls-proxy"]);
    assert_eq!(status, None, "serves behind a declared proxy");
    assert!(
        out.starts_with("outpost-server listening on http://0.0.0.0:"),
        "{out}"
    );

    // /metrics without a token stays on loopback too.
    let (status, _, err) = serve_once(&["--behind-tls-proxy", "--open-metrics"]);
    assert_eq!(status, Some(false));
    assert!(err.contains("--open-metrics"), "{err}");
    let (status, _, err) =
        serve_once(&["--listen", "127.0.0.1:0", "--metrics-listen", "0.0.0.0:0"]);
    assert_eq!(status, Some(false));
    assert!(err.contains("not a loopback address"), "{err}");
    let (status, _, err) = serve_once(&["--metrics-token", "short"]);
    assert_eq!(status, Some(false));
    assert!(err.contains("at least 16 characters"), "{err}");

    // A certificate that is not there is named.
    let (status, _, err) = serve_once(&[
        "--listen",
        "0.0.0.0:0",
        "--tls-cert",
        "/nonexistent/cert.pem",
        "--tls-key",
        "/nonexistent/key.pem",
    ]);
    assert_eq!(status, Some(false));
    assert!(err.contains("/nonexistent/cert.pem"), "{err}");
}

fn enroll_from(server: &Server, from: u8, code: &str) -> Reply {
    let actor = format!("{:032x}", rand::random::<u128>());
    let body = serde_json::json!({"code": code, "actor": actor, "device_name": "t"}).to_string();
    http_from(
        ip(from),
        server.addr,
        "POST",
        "/v1/enroll",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .expect("request")
}

fn retry_after(r: &Reply) -> u64 {
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (429, "too_many_requests")
    );
    r.header("Retry-After")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {r:?}"))
}

#[test]
fn enrollment_floods_get_429_per_address_and_per_member_and_are_logged() {
    const TOKEN: &str = "metrics-secret-0123456789";
    let server = Server::launch(
        &city(),
        Launch {
            args: &["--metrics-token", TOKEN],
            log: true,
            ..Launch::default()
        },
    );
    let addr = server.addr;

    // Ten wrong codes from 127.0.0.2 are refused as wrong; the eleventh attempt is not
    // even tried, whatever its code.
    let bad: Vec<String> = (0..11).map(|i| format!("ZZZZ-ZZZZ-ZZ{i:02}")).collect();
    for code in &bad[..10] {
        assert_eq!(enroll_from(&server, 2, code).status, 403);
    }
    let wait = retry_after(&enroll_from(&server, 2, &bad[10]));
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let good = server.invite("courier-1");
    retry_after(&enroll_from(&server, 2, &good));
    // Another address enrolls with the good code.
    assert_eq!(enroll_from(&server, 3, &good).status, 200);

    // A member's spent code tried again and again, from ever new addresses: five failures,
    // then that member's codes are refused for a while — even a fresh one.
    let spent = server.invite("member-a1");
    assert_eq!(enroll_from(&server, 4, &spent).status, 200);
    for n in 0..5 {
        assert_eq!(enroll_from(&server, 10 + n, &spent).status, 403);
    }
    let wait = retry_after(&enroll_from(&server, 20, &spent));
    assert!((61..=720).contains(&wait), "Retry-After {wait}");
    let fresh = server.invite("member-a1");
    retry_after(&enroll_from(&server, 21, &fresh));
    // Another member is not held up.
    assert_eq!(
        enroll_from(&server, 21, &server.invite("member-a2")).status,
        200
    );

    // Every failure is in the log with its address and reason; no code ever is.
    let lines = server.log_lines();
    let refused: Vec<_> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "enrollment refused")
        .collect();
    let count = |client: &str, reason: &str| {
        refused
            .iter()
            .filter(|l| l["level"] == "WARN")
            .filter(|l| l["fields"]["client"] == client && l["fields"]["reason"] == reason)
            .count()
    };
    assert_eq!(count("127.0.0.2", "unknown, used or expired code"), 10);
    assert_eq!(count("127.0.0.2", "too many attempts from this address"), 2);
    assert_eq!(count("127.0.0.12", "unknown, used or expired code"), 1);
    assert_eq!(
        count("127.0.0.20", "too many failed attempts for this member"),
        1
    );
    assert!(
        refused
            .iter()
            .filter(|l| l["fields"]["member"] == "member-a1")
            .count()
            >= 7
    );
    let text = server.log_text().to_uppercase();
    for code in bad.iter().chain([&good, &spent, &fresh]) {
        assert!(!text.contains(code), "{code} is in the log");
        assert!(
            !text.contains(&code.replace('-', "")),
            "{code} is in the log"
        );
    }
    // The request lines carry the 429s too.
    assert!(lines.iter().any(|l| l["fields"]["message"] == "request"
        && l["fields"]["path"] == "/v1/enroll"
        && l["fields"]["status"] == 429
        && l["fields"]["client"] == "127.0.0.2"));

    // /metrics: only with the token, compared whole.
    assert_eq!(scrape(addr, None).status, 401);
    assert_eq!(scrape(addr, Some("metrics-secret-012345678")).status, 401);
    assert_eq!(scrape(addr, Some(&format!("{TOKEN}x"))).status, 401);
    let m = scrape(addr, Some(TOKEN));
    assert_eq!(m.status, 200);
    let m = String::from_utf8_lossy(&m.body);
    assert_eq!(series_value(&m, "outpost_rate_limited_total"), 4);
    assert_eq!(series_value(&m, "outpost_enrollments_total"), 3);
}
