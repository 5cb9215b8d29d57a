//! Runs a device process on a store — `outpost-test-device DB sync`, or the `outpost` CLI of
//! an older build (`outpost --db DB sync`) for a same-run baseline — and reads what it did:
//! wall time, peak resident memory (the process reports its own `VmHWM` from /proc), and,
//! under valgrind's callgrind, the instructions it executed (which machine load does not
//! disturb).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use outpost_core::{NewCase, Store};

use crate::harness::{Device, Server};

/// Which program syncs.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceBin {
    /// This build's `outpost-test-device`.
    Current,
    /// The `outpost` CLI of another build, e.g. main before this work.
    Cli(PathBuf),
}

impl DeviceBin {
    fn command(&self, db: &Path) -> (PathBuf, Vec<String>) {
        let db = db.display().to_string();
        match self {
            DeviceBin::Current => (
                crate::harness::bin("outpost-test-device"),
                vec![db, "sync".into()],
            ),
            DeviceBin::Cli(p) => (p.clone(), vec!["--db".into(), db, "sync".into()]),
        }
    }

    /// A store enrolled with `server` as `member`, made by this program's build (an older
    /// build cannot open a newer build's store).
    pub fn enrolled(&self, server: &Server, dir: &Path, member: &str) -> PathBuf {
        match self {
            DeviceBin::Current => Device::enroll(server, &server.url, dir, member).db.clone(),
            DeviceBin::Cli(p) => {
                let code = server.invite(member);
                let db = dir.join(format!("{member}-{:016x}.db", rand::random::<u64>()));
                let db_arg = db.display().to_string();
                cli(p, &["--db", &db_arg, "enroll", &server.url, &code]);
                db
            }
        }
    }

    /// Records `cases` offline in the store at `db`, with this program's build.
    pub fn record(&self, db: &Path, cases: &[NewCase]) {
        match self {
            DeviceBin::Current => {
                let store = Store::open(db).expect("open store");
                for batch in cases.chunks(250) {
                    store.create_cases(batch).expect("create cases");
                }
            }
            DeviceBin::Cli(p) => {
                let db_arg = db.display().to_string();
                for c in cases {
                    cli(
                        p,
                        &[
                            "--db",
                            &db_arg,
                            "report",
                            "--category",
                            c.category.as_str(),
                            "--urgency",
                            c.urgency.as_str(),
                            "--title",
                            &c.title,
                            "--description",
                            &c.description,
                            "--grid",
                            &c.grid_id,
                        ],
                    );
                }
            }
        }
    }

    /// A baseline CLI named by `OUTPOST_BASELINE_CLI` (empty: none), or left in
    /// `target/baseline/` by `scripts/baseline-cli.sh`.
    pub fn baseline() -> Option<DeviceBin> {
        if let Some(p) = std::env::var_os("OUTPOST_BASELINE_CLI") {
            return (!p.is_empty()).then(|| DeviceBin::Cli(PathBuf::from(p)));
        }
        let dir = crate::harness::bin("x")
            .parent()?
            .parent()?
            .join("baseline");
        let found = std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("outpost-") && !n.starts_with("outpost-server"))
            })?;
        Some(DeviceBin::Cli(found))
    }

    /// Whether the server this program syncs with is there ([`DeviceBin::start_server`]).
    pub fn has_server(&self) -> bool {
        match self {
            DeviceBin::Current => true,
            DeviceBin::Cli(cli) => paired_server(cli).is_some(),
        }
    }

    /// Starts the server this program syncs with: this build's for this build; for a
    /// baseline CLI, the `outpost-server` of the same build, since an older client may not
    /// speak this build's protocol. `None`: that server is not there.
    pub fn start_server(&self, directory: &outpost_server::Directory) -> Option<Server> {
        let program = match self {
            DeviceBin::Current => None,
            DeviceBin::Cli(cli) => Some(paired_server(cli)?),
        };
        Some(Server::launch(
            directory,
            crate::harness::Launch {
                // Flags an older server may not know stay off.
                open_metrics: program.is_none(),
                program: program.as_deref(),
                ..Default::default()
            },
        ))
    }
}

/// The server built with baseline CLI `cli`: `OUTPOST_BASELINE_SERVER`, or
/// `outpost-server-<commit>` beside `outpost-<commit>` (`scripts/baseline-cli.sh`).
fn paired_server(cli: &Path) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OUTPOST_BASELINE_SERVER") {
        return Some(PathBuf::from(p));
    }
    let commit = cli.file_name()?.to_str()?.strip_prefix("outpost-")?;
    let server = cli.with_file_name(format!("outpost-server-{commit}"));
    server.is_file().then_some(server)
}

/// What one device process run did.
#[derive(Debug, Clone)]
pub struct Run {
    pub ok: bool,
    pub took: Duration,
    /// Everything it printed.
    pub output: String,
    /// Peak resident memory in KiB, when the process reported it.
    pub peak_rss_kb: Option<u64>,
    /// Instructions executed, under callgrind.
    pub instructions: Option<u64>,
}

/// Syncs the store at `db` once with `bin`.
pub fn sync(bin: &DeviceBin, db: &Path) -> Run {
    let (program, args) = bin.command(db);
    let started = Instant::now();
    let mut child = Command::new(&program)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    // A build that does not report its peak memory is watched from outside: VmHWM only
    // grows, so its last reading before the exit is (within a few milliseconds) the peak.
    let mut watched = None;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if let Some(kb) = vm_hwm_kb(child.id()) {
            watched = Some(kb);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let took = started.elapsed();
    let mut output = String::new();
    for pipe in [
        child.stdout.take().map(|p| Box::new(p) as Box<dyn Read>),
        child.stderr.take().map(|p| Box::new(p) as Box<dyn Read>),
    ]
    .into_iter()
    .flatten()
    {
        let mut pipe = pipe;
        let _ = pipe.read_to_string(&mut output);
    }
    Run {
        ok: status.success(),
        took,
        peak_rss_kb: field(&output, "peak_rss_kb=").or(watched),
        instructions: None,
        output,
    }
}

/// The peak resident memory of a running process, in KiB (Linux).
fn vm_hwm_kb(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Whether valgrind can be run here.
pub fn have_valgrind() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Syncs the store at `db` once with `bin` under callgrind and counts its instructions.
pub fn sync_counted(bin: &DeviceBin, db: &Path) -> Run {
    let (program, args) = bin.command(db);
    let dir = tempfile::tempdir().expect("temp dir");
    let out_file = dir.path().join("callgrind.out");
    let started = Instant::now();
    let out = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(&program)
        .args(&args)
        .output()
        .expect("run valgrind");
    let took = started.elapsed();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // "==123== Collected : 1234567" on stderr; the out file's "summary:" line says the same.
    let instructions = output
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|v| v.trim().replace(',', "").parse().ok())
        .or_else(|| {
            std::fs::read_to_string(&out_file).ok().and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("summary:"))
                    .and_then(|v| v.trim().parse().ok())
            })
        });
    // Kept for `callgrind_annotate` when asked.
    if let Some(keep) = std::env::var_os("OUTPOST_CALLGRIND_DIR") {
        let name = format!(
            "callgrind.{}.out",
            std::process::id() as u64 * 1000 + took.subsec_millis() as u64
        );
        let _ = std::fs::copy(&out_file, PathBuf::from(keep).join(name));
    }
    Run {
        ok: out.status.success(),
        took,
        peak_rss_kb: field(&output, "peak_rss_kb="),
        instructions,
        output,
    }
}

fn cli(program: &Path, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn field(text: &str, key: &str) -> Option<u64> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .and_then(|v| v.parse().ok())
}
