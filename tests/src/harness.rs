//! A server process, devices, a test city's directory and a raw HTTP client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use outpost_core::sync::wire::{
    self, GridInfo, GridLevel, PROTOCOL_VERSION, SyncRequest, SyncResponse, UnitInfo,
};
use outpost_core::sync::{SyncClient, SyncConfig, SyncError, SyncReport};
use outpost_core::{Role, Store, Template};
use outpost_server::stats::{FigureQuery, Figures, Queues};
use outpost_server::storage::{
    CaseRow, DeviceRecord, EnrollOutcome, Page, PushCheck, PushContext, RevokeTarget, Scope,
    StoreResult,
};
use outpost_server::{Directory, MemberEntry, PostgresStorage, SqliteStorage, Storage};

/// Path of a binary built by this package (the tests' own `CARGO_BIN_EXE_*` is the same).
pub fn bin(name: &str) -> PathBuf {
    let mut p = std::env::current_exe().expect("test binary path");
    p.pop();
    if p.ends_with("deps") {
        p.pop();
    }
    p.join(name)
}

/// Waits until `f` holds, for at most `within`; panics naming `what` if it never does.
/// For what another process learns a moment later (a revocation heard through the
/// database's notifications).
pub fn eventually(what: &str, within: std::time::Duration, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    loop {
        if f() {
            return;
        }
        if std::time::Instant::now() >= deadline {
            panic!("not within {within:?}: {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// One series' value in Prometheus' text format, e.g. `outpost_connections_open`.
pub fn series_value(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{series} is not in\n{text}"))
}

/// The test city: street S → comprehensive grid C1 → grids G1, G2 → micro-grid G1A.
pub fn city() -> Directory {
    let grid = |id: &str, level, parent: Option<&str>| GridInfo {
        id: id.into(),
        name: format!("grid {id}"),
        level,
        parent: parent.map(Into::into),
    };
    let m = |id: &str, role, grids: &[&str], unit: Option<&str>| MemberEntry {
        id: id.into(),
        name: format!("member {id}"),
        role,
        grids: grids.iter().map(|g| g.to_string()).collect(),
        unit: unit.map(Into::into),
    };
    Directory {
        version: 0,
        grids: vec![
            grid("S", GridLevel::Street, None),
            grid("C1", GridLevel::Comprehensive, Some("S")),
            grid("G1", GridLevel::Grid, Some("C1")),
            grid("G2", GridLevel::Grid, Some("C1")),
            grid("G1A", GridLevel::Micro, Some("G1")),
        ],
        units: vec![
            UnitInfo {
                id: "U1".into(),
                name: "residents' committee".into(),
            },
            UnitInfo {
                id: "U2".into(),
                name: "city management".into(),
            },
        ],
        members: vec![
            m("courier-1", Role::Courier, &[], None),
            m("courier-2", Role::Courier, &[], None),
            m("member-a1", Role::GridMember, &["G1"], None),
            m("member-a2", Role::GridMember, &["G1"], None),
            m("member-b", Role::GridMember, &["G2"], None),
            m("lead-c1", Role::GridLead, &["C1"], None),
            m("lead-b", Role::GridLead, &["G2"], None),
            m("responder-1", Role::Responder, &[], Some("U1")),
            m("responder-2", Role::Responder, &[], Some("U2")),
            m("admin", Role::Admin, &[], None),
        ],
        templates: Template::builtin(),
    }
}

/// The PostgreSQL server the tests use instead of SQLite files, when `OUTPOST_TEST_DATABASE`
/// names one (`postgres://user@127.0.0.1:port/postgres`; `scripts/suites/postgres.sh` sets
/// it). Each test server then gets a database of its own, dropped when it stops.
pub fn test_database() -> Option<String> {
    std::env::var("OUTPOST_TEST_DATABASE")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// The backend the test servers run on, for messages: `sqlite` or `postgres`.
pub fn backend() -> &'static str {
    if test_database().is_some() {
        "postgres"
    } else {
        "sqlite"
    }
}

/// A database created for one test server (and the processes sharing it).
pub struct TestDb {
    admin_url: String,
    name: String,
    /// What `--database` gets.
    pub url: String,
}

impl TestDb {
    /// Creates a fresh, uniquely named database on the server `admin_url` points at.
    pub fn create(admin_url: &str) -> TestDb {
        let name = format!("outpost_t_{}", uuid_like());
        let mut client = postgres::Client::connect(admin_url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to OUTPOST_TEST_DATABASE: {e}"));
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create test database");
        TestDb {
            admin_url: admin_url.to_string(),
            url: with_dbname(admin_url, &name),
            name,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// `url` with its database name replaced by `name` (query parameters kept).
fn with_dbname(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, format!("?{q}")),
        None => (rest, String::new()),
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}/{name}{query}")
}

/// A test server's database, whichever backend it is on.
pub struct ServerDb(Box<dyn Storage>);

impl Storage for ServerDb {
    fn ping(&self) -> StoreResult<()> {
        self.0.ping()
    }
    fn directory(&self) -> StoreResult<Directory> {
        self.0.directory()
    }
    fn directory_version(&self) -> StoreResult<i64> {
        self.0.directory_version()
    }
    fn import_directory(&self, d: &Directory) -> StoreResult<i64> {
        self.0.import_directory(d)
    }
    fn create_invite(&self, code: &[u8], member: &str, now: i64, expires: i64) -> StoreResult<()> {
        self.0.create_invite(code, member, now, expires)
    }
    fn enroll(
        &self,
        code: &[u8],
        actor: &str,
        token: &[u8],
        name: &str,
        now: i64,
    ) -> StoreResult<EnrollOutcome> {
        self.0.enroll(code, actor, token, name, now)
    }
    fn invite_member(&self, code: &[u8]) -> StoreResult<Option<String>> {
        self.0.invite_member(code)
    }
    fn device_by_token(&self, token: &[u8]) -> StoreResult<Option<DeviceRecord>> {
        self.0.device_by_token(token)
    }
    fn authenticate(&self, token: &[u8]) -> StoreResult<Option<(DeviceRecord, i64)>> {
        self.0.authenticate(token)
    }
    fn devices(&self) -> StoreResult<Vec<DeviceRecord>> {
        self.0.devices()
    }
    fn revoke(&self, target: RevokeTarget<'_>, now: i64) -> StoreResult<usize> {
        self.0.revoke(target, now)
    }
    fn push(
        &self,
        docs: &[wire::PushDoc],
        check: &PushCheck<'_>,
        ctx: &PushContext<'_>,
    ) -> StoreResult<Vec<wire::Ack>> {
        self.0.push(docs, check, ctx)
    }
    fn pull(&self, scope: &Scope, after: u64, max: usize, skip: &[u8]) -> StoreResult<Page> {
        self.0.pull(scope, after, max, skip)
    }
    fn authenticate_and_pull(
        &self,
        token: &[u8],
        scope: &Scope,
        after: u64,
        max: usize,
        skip: &[u8],
    ) -> StoreResult<Option<((DeviceRecord, i64), Page)>> {
        self.0.authenticate_and_pull(token, scope, after, max, skip)
    }
    fn head(&self) -> StoreResult<u64> {
        self.0.head()
    }
    fn cases(&self, grids: Option<&[String]>) -> StoreResult<Vec<CaseRow>> {
        self.0.cases(grids)
    }
    fn queues(&self, grids: Option<&[String]>, now: i64, limit: usize) -> StoreResult<Queues> {
        self.0.queues(grids, now, limit)
    }
    fn figures(&self, ask: &FigureQuery) -> StoreResult<Figures> {
        self.0.figures(ask)
    }
    fn change_count(&self, doc: Option<&str>) -> StoreResult<u64> {
        self.0.change_count(doc)
    }
    fn read_sql(
        &self,
        f: &mut dyn FnMut(&mut dyn outpost_server::storage::sql::Sql) -> StoreResult<()>,
    ) -> StoreResult<()> {
        self.0.read_sql(f)
    }
    fn write_sql(
        &self,
        f: &mut dyn FnMut(&mut dyn outpost_server::storage::sql::Sql) -> StoreResult<()>,
    ) -> StoreResult<()> {
        self.0.write_sql(f)
    }

    fn quarantined(&self) -> StoreResult<Vec<(String, String, i64)>> {
        self.0.quarantined()
    }
}

/// A running `outpost-server serve` on 127.0.0.1 with an ephemeral port, on a SQLite file
/// in its own data directory or, under `OUTPOST_TEST_DATABASE`, on a PostgreSQL database of
/// its own.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub url: String,
    pub data_dir: PathBuf,
    /// The PostgreSQL database, shared with replicas; `None` on SQLite.
    pub database: Option<std::sync::Arc<TestDb>>,
    /// Where the server's log goes, when it was asked to keep it (`Launch::log`).
    log: Option<PathBuf>,
    /// The server program: this build's test server, or another build's (`Launch::program`).
    program: PathBuf,
    _dir: tempfile::TempDir,
}

/// How a test server starts (`Server::launch`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Launch<'a> {
    /// Extra `serve` flags.
    pub args: &'a [&'a str],
    /// `--open-metrics`: `/metrics` without a token on the loopback listener, as the
    /// older suites read it.
    pub open_metrics: bool,
    /// Keeps the server's log (JSON lines) for `Server::log_lines`.
    pub log: bool,
    /// Another build's `outpost-server` (a same-run baseline) instead of this build's test
    /// server; it is given only the flags every build knows.
    pub program: Option<&'a Path>,
}

impl Server {
    pub fn start(directory: &Directory) -> Server {
        Server::start_with(directory, &[])
    }

    /// Starts with extra `serve` flags, e.g. `--max-body 65536`.
    pub fn start_with(directory: &Directory, serve_args: &[&str]) -> Server {
        Server::launch(
            directory,
            Launch {
                args: serve_args,
                open_metrics: true,
                log: false,
                program: None,
            },
        )
    }

    /// Starts as `launch` says.
    pub fn launch(directory: &Directory, launch: Launch<'_>) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let database = test_database().map(|admin| std::sync::Arc::new(TestDb::create(&admin)));
        let db_url = database.as_ref().map(|d| d.url.as_str());
        let file = dir.path().join("directory.json");
        std::fs::write(&file, serde_json::to_vec(directory).expect("json")).expect("write");
        let program = launch
            .program
            .map_or_else(|| bin("outpost-test-server"), Path::to_path_buf);
        admin(
            &program,
            &data_dir,
            db_url,
            &["directory", "import", path_str(&file)],
        );
        let log = launch.log.then(|| dir.path().join("server.log"));
        let (child, addr, url) = spawn(&program, &data_dir, db_url, launch, log.as_deref());
        Server {
            child,
            addr,
            url,
            data_dir,
            database,
            log,
            program,
            _dir: dir,
        }
    }

    /// The server's log so far, one JSON object per line (`Launch::log`).
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        let path = self.log.as_ref().expect("started with Launch::log");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The server's log as written.
    pub fn log_text(&self) -> String {
        let path = self.log.as_ref().expect("started with Launch::log");
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// Another server process on this one's PostgreSQL database: together they are one
    /// server. Panics on SQLite, whose file only one process may serve.
    pub fn start_replica(&self, serve_args: &[&str]) -> Server {
        let database = self
            .database
            .clone()
            .expect("several server processes need PostgreSQL (OUTPOST_TEST_DATABASE)");
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let launch = Launch {
            args: serve_args,
            open_metrics: true,
            log: false,
            program: None,
        };
        let (child, addr, url) = spawn(&self.program, &data_dir, Some(&database.url), launch, None);
        Server {
            child,
            addr,
            url,
            data_dir,
            database: Some(database),
            log: None,
            program: self.program.clone(),
            _dir: dir,
        }
    }

    /// Runs an administration subcommand on this server's data directory.
    pub fn admin(&self, args: &[&str]) -> String {
        admin(
            &self.program,
            &self.data_dir,
            self.database.as_ref().map(|d| d.url.as_str()),
            args,
        )
    }

    /// The same administration command, unrun: for tests that feed it stdin or expect it
    /// to fail.
    pub fn admin_command(&self, args: &[&str]) -> Command {
        admin_command(
            &self.program,
            &self.data_dir,
            self.database.as_ref().map(|d| d.url.as_str()),
            args,
        )
    }

    /// One series of the server's `/metrics` (started with `Launch::open_metrics`, as
    /// `Server::start` does), e.g. `outpost_syncs_total`.
    pub fn metric(&self, series: &str) -> u64 {
        let r = http(self.addr, "GET", "/metrics", &[], b"").expect("GET /metrics");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        series_value(&String::from_utf8_lossy(&r.body), series)
    }

    pub fn invite(&self, member: &str) -> String {
        self.admin(&["invite", member]).trim().to_string()
    }

    /// The server's database, opened beside the running server to look at what it stored.
    pub fn storage(&self) -> ServerDb {
        ServerDb(match &self.database {
            Some(db) => Box::new(PostgresStorage::open(&db.url).expect("open server db")),
            None => Box::new(
                SqliteStorage::open(self.data_dir.join("outpost-server.db"))
                    .expect("open server db"),
            ),
        })
    }

    /// Resident memory of the server process now, KiB (Linux; zero elsewhere).
    pub fn memory_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// CPU time the server process has used so far (Linux; zero elsewhere).
    pub fn cpu_time(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        Duration::from_millis((ticks(11) + ticks(12)) * 10)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        self.child.wait().expect("wait")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Starts `serve` and reads the address it bound.
fn spawn(
    program: &Path,
    data_dir: &Path,
    database: Option<&str>,
    launch: Launch<'_>,
    log: Option<&Path>,
) -> (Child, SocketAddr, String) {
    let logs = match log {
        Some(path) => Stdio::from(std::fs::File::create(path).expect("log file")),
        None if std::env::var_os("OUTPOST_TEST_LOGS").is_some() => Stdio::inherit(),
        None => Stdio::null(),
    };
    let mut cmd = Command::new(program);
    cmd.arg("--data-dir").arg(data_dir);
    if let Some(db) = database {
        cmd.args(["--database", db]);
    }
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--grace-secs", "2"]);
    if launch.open_metrics {
        cmd.arg("--open-metrics");
    }
    if log.is_some() {
        cmd.args(["--log-format", "json"]);
    }
    let mut child = cmd
        .args(launch.args)
        .stdout(Stdio::piped())
        .stderr(logs)
        .spawn()
        .expect("start the server");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("server prints its address");
    let url = line.trim().rsplit(' ').next().expect("address").to_string();
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .parse()
        .unwrap_or_else(|_| panic!("the server did not start: {line:?}"));
    (child, addr, url)
}

/// An `outpost-server` administration command on a server's data directory and database.
fn admin_command(
    program: &Path,
    data_dir: &Path,
    database: Option<&str>,
    args: &[&str],
) -> Command {
    let mut cmd = Command::new(program);
    cmd.arg("--data-dir").arg(data_dir);
    if let Some(db) = database {
        cmd.args(["--database", db]);
    }
    cmd.args(args);
    cmd
}

fn admin(program: &Path, data_dir: &Path, database: Option<&str>, args: &[&str]) -> String {
    let out = admin_command(program, data_dir, database, args)
        .output()
        .expect("run admin command");
    assert!(
        out.status.success(),
        "admin {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A phone: its own store, enrolled with the server.
pub struct Device {
    pub name: String,
    pub store: Store,
    pub db: PathBuf,
    rt: tokio::runtime::Runtime,
    client: SyncClient,
}

impl Device {
    /// A photo file as this phone's camera leaves it, beside its database; distinct per `n`.
    pub fn camera_photo(&self, n: u64) -> PathBuf {
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
        bytes.extend((0..800u32).map(|i| (i as u8).wrapping_mul(7) ^ n as u8));
        bytes.extend_from_slice(&n.to_le_bytes());
        let path = self.db.with_extension(format!("camera-{n}.jpg"));
        std::fs::write(&path, bytes).expect("camera file");
        path
    }

    /// Enrolls `member` with an invite code, talking to `url` (the server or a proxy).
    pub fn enroll(server: &Server, url: &str, dir: &Path, member: &str) -> Device {
        Device::enroll_with(server, url, dir, member, |_| {})
    }

    /// Enrolls with client settings changed by `configure` (e.g. `extra_roots`).
    pub fn enroll_with(
        server: &Server,
        url: &str,
        dir: &Path,
        member: &str,
        configure: impl FnOnce(&mut SyncConfig),
    ) -> Device {
        let code = server.invite(member);
        let db = dir.join(format!("{member}-{}.db", uuid_like()));
        let store = Store::open(&db).expect("open store");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let mut cfg = fast(SyncConfig::new(url));
        configure(&mut cfg);
        let client = SyncClient::new(cfg).expect("client");
        rt.block_on(client.enroll(&store, &code, member))
            .expect("enroll");
        Device {
            name: member.to_string(),
            store,
            db,
            rt,
            client,
        }
    }

    /// Rebuilds the device's client with changed settings.
    pub fn configure(&mut self, f: impl FnOnce(&mut SyncConfig)) {
        let mut cfg = self.client.config().clone();
        f(&mut cfg);
        self.client = SyncClient::new(cfg).expect("client");
    }

    pub fn sync(&self) -> SyncReport {
        self.try_sync()
            .unwrap_or_else(|e| panic!("{} could not sync: {e}", self.name))
    }

    pub fn try_sync(&self) -> Result<SyncReport, SyncError> {
        self.rt.block_on(self.client.sync(&self.store, None))
    }

    /// The device's token, as the server issued it.
    pub fn token(&self) -> String {
        self.store
            .sync_state()
            .expect("state")
            .token
            .expect("enrolled")
    }

    pub fn device_id(&self) -> String {
        self.store
            .sync_state()
            .expect("state")
            .device_id
            .expect("enrolled")
    }
}

/// Client settings for loopback tests: quick retries, short timeouts.
pub fn fast(mut cfg: SyncConfig) -> SyncConfig {
    cfg.timeout = Duration::from_secs(20);
    cfg.retries = 2;
    cfg.backoff_base = Duration::from_millis(5);
    cfg.backoff_max = Duration::from_millis(50);
    cfg
}

fn uuid_like() -> String {
    let n: u64 = rand::random();
    format!("{n:016x}")
}

/// A reply as it came off the socket.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `error` code of a JSON error body.
    pub fn error_code(&self) -> String {
        serde_json::from_slice::<wire::ErrorBody>(&self.body)
            .map(|e| e.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&self.body).into_owned())
    }
}

/// One HTTP/1.1 request on a fresh connection, written byte for byte as given.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Reply> {
    request_on(TcpStream::connect(addr)?, addr, method, path, headers, body)
}

/// A connection to `addr` from the local address `from` (any of 127.0.0.0/8 on loopback),
/// so that tests can play several clients.
pub fn connect_from(from: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.bind(&SocketAddr::new(from, 0).into())?;
    socket.connect(&addr.into())?;
    Ok(socket.into())
}

/// `http` from the local address `from`.
pub fn http_from(
    from: IpAddr,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Reply> {
    request_on(connect_from(from, addr)?, addr, method, path, headers, body)
}

fn request_on(
    mut s: TcpStream,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Reply> {
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes())?;
    // A server may answer (413) before reading all of a large body.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_reply(&raw)
}

pub fn parse_reply(raw: &[u8]) -> std::io::Result<Reply> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..line_end]).ok()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// A sync request sent by hand, with the device's token.
pub fn raw_sync(addr: SocketAddr, token: &str, req: &SyncRequest) -> (Reply, Option<SyncResponse>) {
    let body = wire::to_cbor(req);
    let auth = format!("Bearer {token}");
    let reply = http(
        addr,
        "POST",
        "/v1/sync",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/cbor"),
        ],
        &body,
    )
    .expect("request");
    let parsed = (reply.status == 200)
        .then(|| wire::decode_body::<SyncResponse>(&reply.body, false, 64 << 20).ok())
        .flatten();
    (reply, parsed)
}

/// A push of raw change bytes for one document.
pub fn push_request(cursor: &str, id: &str, changes: Vec<Vec<u8>>) -> SyncRequest {
    SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: cursor.to_string(),
        max_bytes: 0,
        push: vec![wire::PushDoc {
            id: id.to_string(),
            changes: changes
                .into_iter()
                .map(serde_bytes::ByteBuf::from)
                .collect(),
        }],
    }
}

/// Every change of document `id` in `store`, loaded into an Automerge document that writes
/// as `actor` (hex): the way a hostile client would build a change by hand.
pub fn doc_as(store: &Store, id: &str, actor_hex: &str) -> automerge::AutoCommit {
    let mut doc = automerge::AutoCommit::new();
    let changes = store
        .changes_since(id, &[])
        .expect("changes")
        .into_iter()
        .map(|b| automerge::Change::from_bytes(b).expect("change"))
        .collect::<Vec<_>>();
    doc.apply_changes(changes).expect("apply");
    doc.set_actor(automerge::ActorId::from(
        hex::decode(actor_hex).expect("hex actor"),
    ));
    doc
}

/// The last local change of `doc`, as raw bytes to push.
pub fn last_change(doc: &mut automerge::AutoCommit) -> Vec<u8> {
    doc.commit();
    doc.get_last_local_change()
        .expect("a change was made")
        .raw_bytes()
        .to_vec()
}

/// Plays a hostile device: `d` references photo `hash` on case `id` without holding it
/// (its own store would refuse), writing the event by hand as its actor and pushing it
/// raw. Returns the server's acknowledgement.
pub fn forge_photo_reference(server: &Server, d: &Device, id: &str, hash: &str) -> wire::Ack {
    use automerge::{ObjType, ROOT, ReadDoc, Value, transaction::Transactable};
    let member = d.store.member().expect("member").expect("enrolled");
    let case = d.store.case(id).expect("the case");
    let last = case
        .timeline
        .last()
        .map(|t| t.event.id.clone())
        .expect("a timeline");
    let mut doc = doc_as(&d.store, id, &d.store.actor_id().expect("actor"));
    let events = match doc.get(ROOT, "events").expect("read") {
        Some((Value::Object(ObjType::List), events)) => events,
        _ => panic!("no timeline"),
    };
    let n = doc.length(&events);
    let m = doc.insert_object(&events, n, ObjType::Map).expect("write");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    doc.put(&m, "id", format!("forged-{n}-{}", &hash[..8]))
        .expect("write");
    doc.put(&m, "kind", "photo_added").expect("write");
    doc.put(&m, "author", member.id.as_str()).expect("write");
    doc.put(&m, "role", member.role.as_str()).expect("write");
    doc.put(&m, "at", now).expect("write");
    let after = doc.put_object(&m, "after", ObjType::List).expect("write");
    doc.insert(&after, 0, last.as_str()).expect("write");
    if matches!(member.role, Role::GridMember | Role::GridLead) {
        doc.put(&m, "grid", case.grid_id.as_str()).expect("write");
    }
    doc.put(&m, "hash", hash).expect("write");
    let change = last_change(&mut doc);
    // Everything the server may not have yet, then the forged change.
    let mut push = d.store.changes_since(id, &[]).expect("changes");
    push.push(change.clone());
    // The device keeps what it forged, as a hostile app would.
    d.store
        .apply_remote(&[(id.to_string(), vec![change])])
        .expect("kept");
    let (reply, parsed) = raw_sync(server.addr, &d.token(), &push_request("", id, push));
    assert_eq!(reply.status, 200, "{}", reply.error_code());
    parsed.expect("a sync reply").acks.remove(0)
}
