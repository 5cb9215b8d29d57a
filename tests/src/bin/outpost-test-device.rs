//! A device process: `outpost-test-device DB sync [--impatient]` syncs the store once
//! (through whatever proxy its enrolled URL points at) with the client's default settings,
//! and prints the outcome with the process's peak resident memory (`VmHWM`, from
//! /proc/self/status). `--impatient` is for the cut-off tests, which kill it at random
//! moments: short timeouts, quick retries, small round trips.

use std::process::ExitCode;
use std::time::Duration;

use outpost_core::Store;
use outpost_core::sync::{SyncClient, SyncConfig};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (db, impatient) = match args.as_slice() {
        [db, cmd] if cmd == "sync" => (db, false),
        [db, cmd, flag] if cmd == "sync" && flag == "--impatient" => (db, true),
        _ => {
            eprintln!("usage: outpost-test-device DB sync [--impatient]");
            return ExitCode::from(2);
        }
    };
    let result = (|| -> Result<String, Box<dyn std::error::Error>> {
        let store = Store::open(db)?;
        let url = store.sync_state()?.server_url.ok_or("not enrolled")?;
        let mut cfg = SyncConfig::new(&url);
        if impatient {
            cfg.timeout = Duration::from_secs(10);
            cfg.retries = 2;
            cfg.backoff_base = Duration::from_millis(5);
            cfg.backoff_max = Duration::from_millis(40);
            cfg.page_bytes = 16 << 10;
            cfg.push_bytes = 16 << 10;
        }
        let client = SyncClient::new(cfg)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let r = rt.block_on(client.sync(&store, None))?;
        Ok(format!(
            "ok pushed={} pulled={} trips={} sent={} received={} ms={}",
            r.pushed_changes,
            r.pulled_changes,
            r.round_trips,
            r.bytes_sent,
            r.bytes_received,
            r.duration_ms
        ))
    })();
    let rss = peak_rss_kb()
        .map(|kb| format!(" peak_rss_kb={kb}"))
        .unwrap_or_default();
    match result {
        Ok(line) => {
            println!("{line}{rss}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("error {e}{rss}");
            ExitCode::FAILURE
        }
    }
}

/// The process's peak resident set size, in KiB (Linux).
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
