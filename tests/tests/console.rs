//! The workstation console's sessions against a real server process: sign-in with one-time
//! codes and passwords, the session cookie, CSRF tokens bound to the session and the origin
//! check on every write, revocation, and rate-limited sign-in. (The pages themselves are
//! tested in a real browser: scripts/suites/browser.sh.)

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;

use outpost_server::Storage;
use outpost_tests::harness::{Device, Reply, Server, city, http, http_from};

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

fn origin(server: &Server) -> String {
    format!("http://{}", server.addr)
}

fn login(server: &Server, body: &str) -> Reply {
    let o = origin(server);
    http(
        server.addr,
        "POST",
        "/console/login",
        &[FORM, ("Origin", &o)],
        body.as_bytes(),
    )
    .expect("login request")
}

fn code_for(server: &Server, member: &str) -> String {
    server
        .admin(&["invite", "--console", member])
        .trim()
        .to_string()
}

/// The session cookie a successful sign-in set.
fn cookie_of(r: &Reply) -> String {
    assert_eq!(r.status, 303, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("location"), Some("/console"));
    let c = r.header("set-cookie").expect("a session cookie");
    c.split(';').next().expect("name=value").trim().to_string()
}

fn get(server: &Server, path: &str, cookie: &str) -> Reply {
    http(server.addr, "GET", path, &[("Cookie", cookie)], b"").expect("get")
}

/// The CSRF token on the queue page of a session.
fn csrf(server: &Server, cookie: &str) -> String {
    let page = get(server, "/console", cookie);
    assert_eq!(page.status, 200);
    let html = String::from_utf8(page.body).expect("utf-8");
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..at + 64].to_string()
}

fn set_password(server: &Server, member: &str, password: &str) {
    let mut child = server
        .admin_command(&["console", "password", member])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("run outpost-server console password");
    writeln!(child.stdin.take().expect("stdin"), "{password}").expect("write");
    assert!(child.wait().expect("wait").success());
}

#[test]
fn a_one_time_code_opens_one_session_whose_cookie_is_http_only_and_strict() {
    let server = Server::start(&city());
    let code = code_for(&server, "lead-c1");
    let r = login(&server, &format!("code={code}"));
    let cookie = cookie_of(&r);
    let set = r.header("set-cookie").unwrap_or_default();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP on loopback: {set}");
    let token = cookie.strip_prefix("outpost_console=").expect("our cookie");
    assert_eq!(token.len(), 64);
    assert_eq!(get(&server, "/console", &cookie).status, 200);

    // Spent: the same code again is refused.
    let again = login(&server, &format!("code={code}"));
    assert_eq!(again.status, 303);
    assert!(again.header("location").unwrap_or("").contains("failed"));
    assert!(again.header("set-cookie").is_none());

    // Only the hash of the cookie is stored.
    let db = server.storage();
    let mut stored = Vec::new();
    db.read_sql(&mut |d| {
        for mut r in d.query("SELECT token_hash FROM console_sessions", &[])? {
            stored.push(r.text(0)?);
        }
        Ok(())
    })
    .expect("read sessions");
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token);

    // Without a cookie, or with a made-up one, a page sends the browser to sign in.
    for c in [
        "",
        "outpost_console=00",
        &format!("outpost_console={}", "a".repeat(64)),
    ] {
        let r = get(&server, "/console", c);
        assert_eq!(r.status, 303, "{c}");
        assert_eq!(r.header("location"), Some("/console/login"));
    }
}

#[test]
fn members_without_a_console_role_get_no_code_and_no_session() {
    let server = Server::start(&city());
    let out = server
        .admin_command(&["invite", "--console", "courier-1"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("grid leads and administrators"));
    // A member's console password does not make a courier a lead either.
    let err = server
        .admin_command(&["console", "password", "member-a1"])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(!err.status.success());
}

#[test]
fn revoked_sessions_end_at_once() {
    let server = Server::start(&city());
    let a = cookie_of(&login(
        &server,
        &format!("code={}", code_for(&server, "lead-c1")),
    ));
    let b = cookie_of(&login(
        &server,
        &format!("code={}", code_for(&server, "lead-c1")),
    ));
    let other = cookie_of(&login(
        &server,
        &format!("code={}", code_for(&server, "lead-b")),
    ));
    let listed = server.admin(&["console", "sessions"]);
    assert_eq!(listed.lines().filter(|l| l.contains("lead-c1")).count(), 2);
    let id = listed
        .lines()
        .find(|l| l.contains("lead-b"))
        .and_then(|l| l.split_whitespace().next())
        .expect("lead-b's session")
        .to_string();
    assert!(
        server
            .admin(&["console", "revoke", "--session", &id])
            .contains("revoked 1")
    );
    assert_eq!(get(&server, "/console", &other).status, 303);
    assert_eq!(get(&server, "/console", &a).status, 200);
    assert!(
        server
            .admin(&["revoke", "--member", "lead-c1"])
            .contains("revoked 2 console session(s)"),
        "revoking a member ends its console sessions like its devices"
    );
    for c in [&a, &b] {
        assert_eq!(get(&server, "/console", c).status, 303);
        let events = get(&server, "/console/events", c);
        assert_eq!(events.status, 303, "the live stream needs a session too");
    }
}

#[test]
fn writes_need_the_sessions_own_csrf_token_and_this_servers_origin() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().expect("tmp");
    let courier = Device::enroll(&server, &server.url, dir.path(), "courier-1");
    let id = courier
        .store
        .flag_person_in_distress("G1", None, Some("老人倒地"), None)
        .expect("flag");
    courier.sync();
    let a = cookie_of(&login(
        &server,
        &format!("code={}", code_for(&server, "lead-c1")),
    ));
    let b = cookie_of(&login(
        &server,
        &format!("code={}", code_for(&server, "lead-c1")),
    ));
    let (token_a, token_b) = (csrf(&server, &a), csrf(&server, &b));
    assert_ne!(token_a, token_b, "each session has its own token");
    let path = format!("/console/cases/{id}/act");
    let o = origin(&server);
    let act = |cookie: &str, headers: &[(&str, &str)], body: &str| {
        let mut h = vec![FORM, ("Cookie", cookie)];
        h.extend_from_slice(headers);
        http(server.addr, "POST", &path, &h, body.as_bytes()).expect("post")
    };
    let db = server.storage();
    let changes = || db.change_count(Some(&id)).expect("count");
    let before = changes();
    let comment = |t: &str| format!("csrf={t}&action=comment&text=hello");
    let refused = [
        (
            "no token",
            act(&a, &[("Origin", &o)], "action=comment&text=hello"),
        ),
        (
            "another session's token",
            act(&a, &[("Origin", &o)], &comment(&token_b)),
        ),
        (
            "a made-up token",
            act(&a, &[("Origin", &o)], &comment(&"0".repeat(64))),
        ),
        (
            "a foreign origin",
            act(&a, &[("Origin", "http://evil.example")], &comment(&token_a)),
        ),
        (
            "an opaque origin",
            act(&a, &[("Origin", "null")], &comment(&token_a)),
        ),
        (
            "a cross-site fetch without an origin",
            act(&a, &[("Sec-Fetch-Site", "cross-site")], &comment(&token_a)),
        ),
        (
            "a referer from elsewhere",
            act(
                &a,
                &[("Referer", "http://evil.example/x")],
                &comment(&token_a),
            ),
        ),
    ];
    for (what, r) in &refused {
        assert_eq!(
            r.status,
            403,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_eq!(changes(), before, "refused writes stored nothing");
    let no_session = http(
        server.addr,
        "POST",
        &path,
        &[FORM, ("Origin", &o)],
        comment(&token_a).as_bytes(),
    )
    .expect("post");
    assert_eq!(no_session.status, 401);

    // The session's own token from this server's page: stored as one change by the
    // session's actor, which the courier's phone then pulls.
    let ok = act(&a, &[("Origin", &o)], &comment(&token_a));
    assert_eq!(ok.status, 303, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(changes(), before + 1);
    let accepted = act(
        &a,
        &[("Origin", &o)],
        &format!("csrf={token_a}&action=accept"),
    );
    assert_eq!(accepted.status, 303);
    // The same action again does not fit the case any more: core refuses it.
    let twice = act(
        &a,
        &[("Origin", &o)],
        &format!("csrf={token_a}&action=accept"),
    );
    assert_eq!(
        twice.status,
        409,
        "{}",
        String::from_utf8_lossy(&twice.body)
    );
    courier.sync();
    let case = courier.store.case(&id).expect("case");
    assert!(case.acknowledged);
    let authors: Vec<&str> = case
        .timeline
        .iter()
        .map(|e| e.event.author.as_str())
        .collect();
    assert_eq!(authors, ["courier-1", "lead-c1", "lead-c1"]);
}

#[test]
fn sign_in_is_rate_limited_per_address_and_per_member() {
    let server = Server::start_with(
        &city(),
        &[
            "--enroll-per-minute",
            "3",
            "--enroll-failures-per-hour",
            "2",
        ],
    );
    let o = origin(&server);
    let from = |last: u8, body: &str| {
        http_from(
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)),
            server.addr,
            "POST",
            "/console/login",
            &[FORM, ("Origin", &o)],
            body.as_bytes(),
        )
        .expect("login")
    };
    // Per address: three wrong codes, then 429 with Retry-After, also for a right code.
    for _ in 0..3 {
        let r = from(21, "code=AAAA-BBBB-CCCC");
        assert_eq!(r.status, 303);
    }
    let code = code_for(&server, "lead-c1");
    let limited = from(21, &format!("code={code}"));
    assert_eq!(limited.status, 429);
    assert!(limited.header("retry-after").is_some());
    // Another address is not held up, and the code was not spent by the refused attempt.
    cookie_of(&from(22, &format!("code={code}")));

    // Per member: two wrong passwords from two addresses, then even the right one waits.
    set_password(&server, "lead-b", "a long enough secret");
    cookie_of(&from(23, "member=lead-b&password=a+long+enough+secret"));
    assert_eq!(from(24, "member=lead-b&password=wrong").status, 303);
    assert_eq!(from(25, "member=lead-b&password=wrong+again").status, 303);
    let held = from(26, "member=lead-b&password=a+long+enough+secret");
    assert_eq!(held.status, 429);
    // Another member's password still works.
    set_password(&server, "lead-c1", "another long secret");
    cookie_of(&from(27, "member=lead-c1&password=another+long+secret"));
    // Sign-in from another site is refused before any of it.
    let foreign = http(
        server.addr,
        "POST",
        "/console/login",
        &[FORM, ("Origin", "http://evil.example")],
        format!("code={}", code_for(&server, "lead-c1")).as_bytes(),
    )
    .expect("login");
    assert_eq!(foreign.status, 403);
}

/// The number of open cases the queue page lists for `query` (as a browser would search).
fn found(server: &Server, cookie: &str, query: &str) -> usize {
    let mut q = String::new();
    for b in query.bytes() {
        q.push_str(&format!("%{b:02X}"));
    }
    let page = get(server, &format!("/console?q={q}"), cookie);
    assert_eq!(page.status, 200);
    let html = String::from_utf8(page.body).expect("utf-8");
    let at = html.find("id=\"open-count\">").expect("a count") + 16;
    html[at..]
        .split('<')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

#[test]
fn chinese_search_finds_title_description_and_address_in_the_members_grids_only() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().expect("tmp");
    let courier = Device::enroll(&server, &server.url, dir.path(), "courier-1");
    let loc = outpost_core::Location::new(31.3181, 121.5125, outpost_core::Datum::Wgs84)
        .with_address("殷行路650弄");
    courier
        .store
        .flag_person_in_distress("G1", Some(loc), Some("老人倒地，疑似中暑"), None)
        .expect("flag");
    let mut c = outpost_core::NewCase::new(
        outpost_core::Category::FireHazard,
        outpost_core::Urgency::Urgent,
        "楼道堆物 飞线充电",
        "G2",
    );
    c.description = "三楼电动车飞线充电".into();
    courier.store.create_case(c).expect("case");
    courier.sync();
    let lead = cookie_of(&login(
        &server,
        &format!("code={}", code_for(&server, "lead-c1")),
    ));
    let other = cookie_of(&login(
        &server,
        &format!("code={}", code_for(&server, "lead-b")),
    ));
    // The index follows the feed a moment after the push.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while found(&server, &lead, "中暑") == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(found(&server, &lead, "中暑"), 1, "in the description");
    assert_eq!(found(&server, &lead, "650弄"), 1, "in the address");
    assert_eq!(
        found(&server, &lead, "飞线充电"),
        1,
        "lead-c1 sees G2 too (under C1)"
    );
    assert_eq!(
        found(&server, &lead, "老人 充电"),
        0,
        "every bigram must match one case"
    );
    assert_eq!(
        found(&server, &lead, "100%_"),
        0,
        "LIKE's wildcards are literal"
    );
    assert_eq!(found(&server, &other, "中暑"), 0, "lead-b works in G2 only");
    assert_eq!(found(&server, &other, "飞线"), 1);
}

#[test]
fn photos_are_served_to_members_who_see_their_case_only() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().expect("tmp");
    let courier = Device::enroll(&server, &server.url, dir.path(), "courier-1");
    // A small JPEG-looking file (the store sniffs the type from its first bytes).
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.extend((0..40_000u32).map(|i| (i * 7 % 251) as u8));
    let f = dir.path().join("fall.jpg");
    std::fs::write(&f, &jpeg).expect("write");
    let id = courier
        .store
        .create_case_with_photos(
            outpost_core::NewCase::new(
                outpost_core::Category::PersonInDistress,
                outpost_core::Urgency::LifeSafety,
                "老人倒地",
                "G1",
            ),
            &[&f],
        )
        .expect("case");
    let hash = courier.store.case(&id).expect("case").attachments[0].clone();
    assert_eq!(courier.sync().blobs_uploaded, 1);
    let lead = cookie_of(&login(
        &server,
        &format!("code={}", code_for(&server, "lead-c1")),
    ));
    let other = cookie_of(&login(
        &server,
        &format!("code={}", code_for(&server, "lead-b")),
    ));
    let case_page = String::from_utf8(get(&server, &format!("/console/cases/{id}"), &lead).body)
        .expect("utf-8");
    assert!(case_page.contains(&format!("/console/photos/{hash}")));
    let photo = get(&server, &format!("/console/photos/{hash}"), &lead);
    assert_eq!(photo.status, 200);
    assert_eq!(photo.body, jpeg);
    assert_eq!(photo.header("content-type"), Some("image/jpeg"));
    assert_eq!(photo.header("x-content-type-options"), Some("nosniff"));
    // Outside the member's grids, or not a photo anyone references: the same 404.
    assert_eq!(
        get(&server, &format!("/console/photos/{hash}"), &other).status,
        404
    );
    assert_eq!(
        get(&server, &format!("/console/cases/{id}"), &other).status,
        404
    );
    let stranger = "ab".repeat(32);
    assert_eq!(
        get(&server, &format!("/console/photos/{stranger}"), &lead).status,
        404
    );
    assert_eq!(
        get(&server, "/console/photos/..%2F..%2Fetc", &lead).status,
        404
    );
}

#[test]
fn what_phones_and_people_typed_is_shown_as_text_never_as_markup() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().expect("tmp");
    let courier = Device::enroll(&server, &server.url, dir.path(), "courier-1");
    let hostile = "<script>alert(\"x\")</script><img src=x onerror=alert(1)>";
    let mut c = outpost_core::NewCase::new(
        outpost_core::Category::Other,
        outpost_core::Urgency::Normal,
        hostile,
        "G1",
    );
    c.description = "\"'><svg onload=alert(2)>".into();
    let id = courier.store.create_case(c).expect("case");
    courier.sync();
    let lead = cookie_of(&login(
        &server,
        &format!("code={}", code_for(&server, "lead-c1")),
    ));
    let q = "%22%3E%3Cscript%3Ealert(3)%3C%2Fscript%3E";
    for path in [
        "/console".to_string(),
        format!("/console/cases/{id}"),
        format!("/console?q={q}"),
    ] {
        let r = get(&server, &path, &lead);
        assert_eq!(r.status, 200, "{path}");
        let html = String::from_utf8(r.body.clone()).expect("utf-8");
        for bad in [
            "<script>alert",
            "<img src=x",
            "<svg onload",
            "\"><script>alert(3)",
        ] {
            assert!(!html.contains(bad), "{path} carries {bad}");
        }
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
    }
    let page = String::from_utf8(get(&server, &format!("/console/cases/{id}"), &lead).body)
        .expect("utf-8");
    assert!(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
}

/// Reads a server-sent event stream until `pattern` arrives; `None` after `limit`.
fn wait_for(
    stream: &mut std::net::TcpStream,
    seen: &mut String,
    pattern: &str,
    limit: std::time::Duration,
) -> Option<std::time::Duration> {
    use std::io::Read;
    let started = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    while !seen.contains(pattern) {
        let left = limit.checked_sub(started.elapsed())?;
        stream
            .set_read_timeout(Some(left.max(std::time::Duration::from_millis(1))))
            .ok()?;
        match stream.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) => return None,
        }
    }
    Some(started.elapsed())
}

/// A flag pushed to the server reaches an open console's event stream at once; on
/// PostgreSQL the console listens on another server process than the one the phone syncs
/// with. Only the member's grids are told.
#[test]
fn a_flag_reaches_open_consoles_of_its_grid_even_through_another_server_process() {
    use std::io::Write as _;
    let server = Server::start(&city());
    let replica = server.database.is_some().then(|| server.start_replica(&[]));
    let listen = replica.as_ref().unwrap_or(&server);
    let lead = cookie_of(&login(
        &server,
        &format!("code={}", code_for(&server, "lead-c1")),
    ));
    let other = cookie_of(&login(
        &server,
        &format!("code={}", code_for(&server, "lead-b")),
    ));
    let open = |cookie: &str| {
        let mut s = std::net::TcpStream::connect(listen.addr).expect("connect");
        write!(
            s,
            "GET /console/events HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\n\r\n",
            listen.addr
        )
        .expect("write");
        let mut seen = String::new();
        assert!(
            wait_for(
                &mut s,
                &mut seen,
                "event: ready",
                std::time::Duration::from_secs(5)
            )
            .is_some(),
            "{seen}"
        );
        assert!(seen.contains("text/event-stream"), "{seen}");
        (s, seen)
    };
    let (mut mine, mut mine_seen) = open(&lead);
    let (mut theirs, mut theirs_seen) = open(&other);
    let dir = tempfile::tempdir().expect("tmp");
    let courier = Device::enroll(&server, &server.url, dir.path(), "courier-1");
    let id = courier
        .store
        .flag_person_in_distress("G1", None, Some("老人倒地"), None)
        .expect("flag");
    courier.sync();
    let took = wait_for(
        &mut mine,
        &mut mine_seen,
        &format!("\"id\":\"{id}\""),
        std::time::Duration::from_secs(3),
    );
    assert!(took.is_some(), "no event within 3 s: {mine_seen}");
    assert!(mine_seen.contains("\"urgency\":\"life_safety\""));
    // The lead of G2 hears nothing of a G1 case.
    assert!(
        wait_for(
            &mut theirs,
            &mut theirs_seen,
            &id,
            std::time::Duration::from_millis(1500)
        )
        .is_none(),
        "{theirs_seen}"
    );
}
