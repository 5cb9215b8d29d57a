//! `outpost-server`: `serve`, and the directory administration subcommands. Every flag can
//! also come from an `OUTPOST_*` environment variable.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use outpost_core::sync::wire::{GridInfo, GridLevel, UnitInfo};
use outpost_core::{Role, Template};
use rand::Rng;

use crate::api::{self, App, Limits, MetricsToken, ServeOptions, normalize_code, now_ms, sha256};
use crate::directory;
use crate::storage::{
    Directory, MemberEntry, PostgresStorage, RevokeTarget, SqliteStorage, Storage,
};
use crate::transport::{self, TransportConfig};

#[derive(Debug, Parser)]
#[command(name = "outpost-server", version, about = "Outpost sync server")]
pub struct Cli {
    /// Where the server keeps its database.
    #[arg(
        long,
        env = "OUTPOST_DATA_DIR",
        default_value = "outpost-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// A PostgreSQL database (`postgres://user:password@host:port/name`) instead of the
    /// SQLite file in the data directory. Several server processes can share one.
    #[arg(long, env = "OUTPOST_DATABASE", global = true)]
    pub database: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the HTTP server.
    Serve(ServeArgs),
    /// Grids: street → comprehensive grid → grid → micro-grid.
    #[command(subcommand)]
    Grid(GridCmd),
    /// Responder units.
    #[command(subcommand)]
    Unit(UnitCmd),
    /// Members and their roles.
    #[command(subcommand)]
    Member(MemberCmd),
    /// Checklist templates.
    #[command(subcommand)]
    Template(TemplateCmd),
    /// Prints a one-time invite code for a member's device, or with --console a one-time
    /// sign-in code for the workstation console (grid leads and administrators).
    Invite {
        member: String,
        #[arg(long, default_value_t = 72)]
        ttl_hours: i64,
        #[arg(long)]
        console: bool,
    },
    /// The workstation console: passwords and sessions.
    #[command(subcommand)]
    Console(ConsoleCmd),
    /// Revokes device tokens (and, for a whole member, console sessions and codes too).
    Revoke {
        #[arg(long, conflicts_with = "member", required_unless_present = "member")]
        device: Option<String>,
        #[arg(long)]
        member: Option<String>,
    },
    /// Lists enrolled devices.
    Devices,
    /// Exports or imports the whole directory as JSON.
    #[command(subcommand)]
    Directory(DirectoryCmd),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[arg(long, env = "OUTPOST_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Largest request body, bytes.
    #[arg(long, env = "OUTPOST_MAX_BODY", default_value_t = 8 << 20)]
    pub max_body: usize,
    /// Largest reply page of changes, bytes.
    #[arg(long, env = "OUTPOST_MAX_PAGE", default_value_t = 4 << 20)]
    pub max_page: usize,
    #[arg(long, env = "OUTPOST_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Seconds one request may take, body upload included.
    #[arg(long, env = "OUTPOST_REQUEST_TIMEOUT_SECS", default_value_t = 60)]
    pub request_timeout_secs: u64,
    /// Seconds requests in flight get to finish after a shutdown signal.
    #[arg(long, env = "OUTPOST_GRACE_SECS", default_value_t = 10)]
    pub grace_secs: u64,
    /// How soon each urgency must get a response, for the workstation's figures:
    /// `life_safety=2h,urgent=24h,normal=7d,low=7d` (units m, h, d; unnamed ones keep
    /// these defaults).
    #[arg(long, env = "OUTPOST_RESPONSE_STANDARDS", value_parser = crate::stats::Standards::parse)]
    pub response_standards: Option<crate::stats::Standards>,
    /// Seconds a client has to send a whole request head, from the connection's start (after
    /// TLS) or the end of the previous reply; a silent kept-alive connection closes then too.
    #[arg(long, env = "OUTPOST_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a connection may move no byte while no handler works on it (a client that
    /// stopped reading its reply) before it is closed.
    #[arg(long, env = "OUTPOST_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    pub idle_timeout_secs: u64,
    /// Connections open at once; further ones are closed at once. Keep it below the
    /// process's open-file limit (`ulimit -n`).
    #[arg(long, env = "OUTPOST_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Connections open at once from one client address (an IPv6 /64 counts as one).
    #[arg(long, env = "OUTPOST_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, env = "OUTPOST_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "OUTPOST_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds a client has to finish the TLS handshake.
    #[arg(long, env = "OUTPOST_TLS_HANDSHAKE_TIMEOUT_SECS", default_value_t = 10)]
    pub tls_handshake_timeout_secs: u64,
    /// Plain HTTP on a non-loopback address, for a TLS-terminating proxy in front (see
    /// server/README.md for what the proxy must do).
    #[arg(long, env = "OUTPOST_BEHIND_TLS_PROXY", conflicts_with = "tls_cert")]
    pub behind_tls_proxy: bool,
    /// Serves /metrics on the main listener to `Authorization: Bearer <token>` (and
    /// requires it on --metrics-listen); at least 16 characters.
    #[arg(long, env = "OUTPOST_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// A listener of its own for /metrics, e.g. 127.0.0.1:9100 (loopback unless
    /// --metrics-token is given).
    #[arg(long, env = "OUTPOST_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Serves /metrics without a token on the main listener; only on loopback without a
    /// proxy (development and tests).
    #[arg(long, env = "OUTPOST_OPEN_METRICS", conflicts_with = "metrics_token")]
    pub open_metrics: bool,
    /// Enrollment attempts per client address and minute (failed ones spend it; 0: off).
    #[arg(long, env = "OUTPOST_ENROLL_PER_MINUTE", default_value_t = 10)]
    pub enroll_per_minute: u32,
    /// Failed enrollment attempts per member and hour with that member's codes (0: off).
    #[arg(long, env = "OUTPOST_ENROLL_FAILURES_PER_HOUR", default_value_t = 5)]
    pub enroll_failures_per_hour: u32,
    /// Seconds an unfinished photo upload may stay idle before it is dropped.
    #[arg(long, env = "OUTPOST_PHOTO_IDLE_SECS", default_value_t = 24 * 3600)]
    pub photo_idle_secs: u64,
    /// MiB one device's unfinished photo uploads may hold together.
    #[arg(long, env = "OUTPOST_PHOTO_QUOTA_MIB", default_value_t = 64)]
    pub photo_quota_mib: u64,
}

impl ServeArgs {
    /// The transport's bounds and TLS from the flags.
    pub fn transport(&self) -> Res<TransportConfig> {
        let secs = |name: &str, v: u64| -> Res<Duration> {
            if v == 0 {
                return Err(format!("--{name} must be at least 1").into());
            }
            Ok(Duration::from_secs(v))
        };
        if self.max_connections == 0 || self.max_connections > 1_000_000 {
            return Err("--max-connections must be between 1 and 1000000".into());
        }
        if self.max_connections_per_ip == 0 {
            return Err("--max-connections-per-ip must be at least 1".into());
        }
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(transport::load_tls(cert, key)?),
            _ => None,
        };
        Ok(TransportConfig {
            header_timeout: secs("header-timeout-secs", self.header_timeout_secs)?,
            idle_timeout: secs("idle-timeout-secs", self.idle_timeout_secs)?,
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip.min(self.max_connections),
            tls,
            tls_handshake_timeout: secs(
                "tls-handshake-timeout-secs",
                self.tls_handshake_timeout_secs,
            )?,
            behind_tls_proxy: self.behind_tls_proxy,
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum GridCmd {
    Add {
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_level)]
        level: GridLevel,
        #[arg(long)]
        parent: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UnitCmd {
    Add {
        id: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberCmd {
    Add {
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long = "grid")]
        grids: Vec<String>,
        #[arg(long)]
        unit: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TemplateCmd {
    /// Adds a template version from its JSON file.
    Add { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum ConsoleCmd {
    /// Sets a member's console password, read from the first line of standard input.
    Password { member: String },
    /// Lists console sessions.
    Sessions,
    /// Revokes console sessions: one, or all of a member's (and its unused sign-in codes).
    Revoke {
        #[arg(long, conflicts_with = "member", required_unless_present = "member")]
        session: Option<String>,
        #[arg(long)]
        member: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DirectoryCmd {
    /// Writes the directory to FILE (`-` for standard output).
    Export { file: PathBuf },
    /// Adds or replaces every entry in FILE.
    Import { file: PathBuf },
}

fn parse_level(s: &str) -> Result<GridLevel, String> {
    GridLevel::parse(s).ok_or_else(|| "one of street, comprehensive, grid, micro".to_string())
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).map_err(|e| e.to_string())
}

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The binary's entry point; returns the process exit code.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The SQLite file in `data_dir`, or the PostgreSQL database at `database`.
pub fn open_storage(data_dir: &Path, database: Option<&str>) -> Res<Arc<dyn Storage>> {
    // The data directory also holds what is not in the database (photos).
    std::fs::create_dir_all(data_dir)?;
    match database {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(PostgresStorage::open(url)?))
        }
        Some(other) => Err(format!(
            "--database takes a postgres:// URL, not {:?}",
            other.split(':').next().unwrap_or_default()
        )
        .into()),
        None => Ok(Arc::new(SqliteStorage::open(
            data_dir.join("outpost-server.db"),
        )?)),
    }
}

/// Adds or replaces entries after checking the directory they leave behind.
pub fn import(storage: &dyn Storage, update: &Directory) -> Res<i64> {
    let all = directory::merged(&storage.directory()?, update);
    let problems = directory::problems(&all);
    if !problems.is_empty() {
        return Err(problems.join("; ").into());
    }
    Ok(storage.import_directory(update)?)
}

/// Makes an invite code for `member`; only its hash is stored.
pub fn invite(storage: &dyn Storage, member: &str, ttl_hours: i64) -> Res<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    let raw: String = (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    let now = now_ms();
    storage.create_invite(
        &sha256(normalize_code(&raw).as_bytes()),
        member,
        now,
        now + ttl_hours.max(1) * 3_600_000,
    )?;
    Ok(format!("{}-{}-{}", &raw[0..4], &raw[4..8], &raw[8..12]))
}

fn run(cli: Cli) -> Res<()> {
    let Cli {
        data_dir,
        database,
        command,
    } = cli;
    let opened = || open_storage(&data_dir, database.as_deref());
    let one = Directory::default;
    match command {
        Command::Serve(args) => return serve(&data_dir, database.as_deref(), args),
        Command::Grid(GridCmd::Add {
            id,
            name,
            level,
            parent,
        }) => {
            import(
                &*opened()?,
                &Directory {
                    grids: vec![GridInfo {
                        id,
                        name,
                        level,
                        parent,
                    }],
                    ..one()
                },
            )?;
        }
        Command::Unit(UnitCmd::Add { id, name }) => {
            import(
                &*opened()?,
                &Directory {
                    units: vec![UnitInfo { id, name }],
                    ..one()
                },
            )?;
        }
        Command::Member(MemberCmd::Add {
            id,
            name,
            role,
            grids,
            unit,
        }) => {
            import(
                &*opened()?,
                &Directory {
                    members: vec![MemberEntry {
                        id,
                        name,
                        role,
                        grids,
                        unit,
                    }],
                    ..one()
                },
            )?;
        }
        Command::Template(TemplateCmd::Add { file }) => {
            let t = Template::from_json(&std::fs::read_to_string(&file)?)?;
            import(
                &*opened()?,
                &Directory {
                    templates: vec![t],
                    ..one()
                },
            )?;
        }
        Command::Invite {
            member,
            ttl_hours,
            console: false,
        } => {
            println!("{}", invite(&*opened()?, &member, ttl_hours)?);
        }
        Command::Invite {
            member,
            ttl_hours,
            console: true,
        } => {
            let storage = opened()?;
            console_member(&*storage, &member)?;
            println!(
                "{}",
                crate::console::session::make_code(&*storage, &member, ttl_hours)?
            );
        }
        Command::Console(cmd) => console(&*opened()?, cmd)?,
        Command::Revoke { device, member } => {
            let storage = opened()?;
            let n = match (&device, &member) {
                (Some(d), _) => storage.revoke(RevokeTarget::Device(d), now_ms())?,
                (None, Some(m)) => storage.revoke(RevokeTarget::Member(m), now_ms())?,
                (None, None) => return Err("name a --device or a --member".into()),
            };
            println!("revoked {n} device(s)");
            // A member revoked as a whole loses the console too.
            if let Some(m) = &member {
                use crate::console::db;
                let who = db::Revoke::Member(m);
                let c = db::write(&*storage, |d| db::revoke(d, &who, now_ms()))?;
                println!("revoked {c} console session(s)");
            }
        }
        Command::Devices => {
            for d in opened()?.devices()? {
                let state = if d.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{}  {:<16} {:<8} {}  {}",
                    d.id, d.member_id, state, d.actor, d.name
                );
            }
        }
        Command::Directory(DirectoryCmd::Export { file }) => {
            let json = serde_json::to_string_pretty(&opened()?.directory()?)?;
            if file.as_os_str() == "-" {
                println!("{json}");
            } else {
                std::fs::write(&file, json)?;
            }
        }
        Command::Directory(DirectoryCmd::Import { file }) => {
            let d: Directory = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
            let v = import(&*opened()?, &d)?;
            println!("directory version {v}");
        }
    }
    Ok(())
}

/// Checks that `member` may use the console.
fn console_member(storage: &dyn Storage, member: &str) -> Res<()> {
    let dir = storage.directory()?;
    match dir.members.iter().find(|m| m.id == member) {
        None => Err(format!("no member {member} in the directory").into()),
        Some(m) if !crate::console::session::console_role(m.role) => Err(format!(
            "{member} is a {}; the console is for grid leads and administrators",
            m.role.as_str()
        )
        .into()),
        Some(_) => Ok(()),
    }
}

fn console(storage: &dyn Storage, cmd: ConsoleCmd) -> Res<()> {
    use crate::console::db;
    match cmd {
        ConsoleCmd::Password { member } => {
            console_member(storage, &member)?;
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            let password = line.trim_end_matches(['\r', '\n']);
            let phc = crate::console::session::hash_password(password)?;
            db::write(storage, |d| db::set_password(d, &member, &phc, now_ms()))?;
            println!("console password set for {member}");
        }
        ConsoleCmd::Sessions => {
            for s in db::read(storage, db::sessions)? {
                let state = if s.revoked_at.is_some() {
                    "revoked"
                } else if s.expires_at <= now_ms() {
                    "expired"
                } else {
                    "active"
                };
                println!("{}  {:<16} {:<8} {}", s.id, s.member_id, state, s.client);
            }
        }
        ConsoleCmd::Revoke { session, member } => {
            let who = match (&session, &member) {
                (Some(s), _) => db::Revoke::Session(s),
                (None, Some(m)) => db::Revoke::Member(m),
                (None, None) => return Err("name a --session or a --member".into()),
            };
            let n = db::write(storage, |d| db::revoke(d, &who, now_ms()))?;
            println!("revoked {n} console session(s)");
        }
    }
    Ok(())
}

pub fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // Automerge instruments its parsing at info level: a span for every column of every
        // pushed change, formatted for nobody.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,automerge=warn"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests, the demo) keeps the first.
    let _ = match format {
        LogFormat::Json => b.json().try_init(),
        LogFormat::Text => b.try_init(),
    };
}

/// Resolves `listen` and binds it, after checking plain HTTP stays on loopback.
async fn bind(listen: &str, cfg: &TransportConfig) -> Res<tokio::net::TcpListener> {
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host(listen)
        .await
        .map_err(|e| format!("cannot resolve {listen}: {e}"))?
        .collect();
    for a in &addrs {
        transport::check_listen(*a, cfg)?;
    }
    let mut last = None;
    for a in addrs {
        match transport::listen(a) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => format!("cannot listen on {listen}: {e}"),
        None => format!("{listen} resolves to no address"),
    }
    .into())
}

fn serve(data_dir: &Path, database: Option<&str>, args: ServeArgs) -> Res<()> {
    init_logs(args.log_format);
    // Flags first: a bad certificate or address is reported before anything is opened.
    let transport = args.transport()?;
    let metrics_token = args
        .metrics_token
        .as_deref()
        .map(MetricsToken::new)
        .transpose()?;
    // Past the open-file limit, accepting fails and connections wait in the kernel's queue
    // instead of being counted and refused.
    if let Some(limit) = transport::open_file_limit()
        && (transport.max_connections as u64).saturating_add(128) > limit
    {
        tracing::warn!(
            limit,
            max_connections = transport.max_connections,
            "the open-file limit is below --max-connections: raise it (ulimit -n, systemd \
             LimitNOFILE) or lower --max-connections"
        );
    }
    let storage = open_storage(data_dir, database)?;
    // Photos live in the documents' database: PostgreSQL, or a SQLite file beside theirs.
    let policy = crate::blobs::UploadPolicy {
        idle_ms: i64::try_from(args.photo_idle_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
        quota_bytes: args.photo_quota_mib.saturating_mul(1 << 20),
    };
    let blobs = crate::blobs::open_blob_store(data_dir, database, policy)?;
    // Declared before the runtime, so dropped after it (see `_keep` below).
    let _keep_blobs = blobs.clone();
    let limits = Limits {
        max_body: args.max_body,
        max_page: args.max_page,
        request_timeout: Duration::from_secs(args.request_timeout_secs.max(1)),
        enroll_per_minute: args.enroll_per_minute,
        enroll_failures_per_hour: args.enroll_failures_per_hour,
        ..Limits::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // The storage is dropped last, off the runtime: PostgreSQL's blocking client holds a
    // runtime of its own, which may not be dropped inside an async context.
    let _keep = storage.clone();
    rt.block_on(async move {
        let listener = bind(&args.listen, &transport).await?;
        let metrics_listener = match &args.metrics_listen {
            Some(l) => Some(
                tokio::net::TcpListener::bind(l)
                    .await
                    .map_err(|e| format!("cannot listen on {l} for /metrics: {e}"))?,
            ),
            None => None,
        };
        let addr = listener.local_addr()?;
        let scheme = if transport.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let watch = storage.start_watch();
        let app = App::new(storage, limits);
        if let Some(w) = watch {
            app.set_watch(w);
        }
        // Console cookies are `Secure` whenever browsers reach the server over TLS.
        app.console
            .set_secure(transport.tls.is_some() || transport.behind_tls_proxy);
        let sweep_every = Duration::from_millis((policy.idle_ms / 4).clamp(1000, 600_000) as u64);
        crate::blobs::spawn_sweeper(blobs.clone(), sweep_every);
        app.set_blob_store(blobs.clone());
        if let Some(s) = args.response_standards.clone() {
            app.set_standards(s);
        }
        let opts = ServeOptions {
            transport,
            grace: Duration::from_secs(args.grace_secs),
            metrics_token,
            open_metrics: args.open_metrics,
            metrics_listener,
        };
        api::check_options(addr, &opts)?;
        // Tests and scripts read the bound address (port 0 picks a free one) from here.
        println!("outpost-server listening on {scheme}://{addr}");
        std::io::stdout().flush()?;
        api::serve_with(app, listener, opts, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}
