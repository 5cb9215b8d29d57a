//! A device process for the cut-off tests: `outpost-test-device DB sync` syncs the store
//! once (through whatever proxy its enrolled URL points at) and prints the outcome. The
//! tests kill it at random moments, also while it applies a reply.

use std::process::ExitCode;
use std::time::Duration;

use outpost_core::Store;
use outpost_core::sync::{SyncClient, SyncConfig};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, cmd] = args.as_slice() else {
        eprintln!("usage: outpost-test-device DB sync");
        return ExitCode::from(2);
    };
    if cmd != "sync" {
        eprintln!("unknown command {cmd}");
        return ExitCode::from(2);
    }
    let result = (|| -> Result<String, Box<dyn std::error::Error>> {
        let store = Store::open(db)?;
        let url = store.sync_state()?.server_url.ok_or("not enrolled")?;
        let mut cfg = SyncConfig::new(&url);
        cfg.timeout = Duration::from_secs(10);
        cfg.retries = 2;
        cfg.backoff_base = Duration::from_millis(5);
        cfg.backoff_max = Duration::from_millis(40);
        cfg.page_bytes = 16 << 10;
        cfg.push_bytes = 16 << 10;
        let client = SyncClient::new(cfg)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let r = rt.block_on(client.sync(&store, None))?;
        Ok(format!(
            "ok pushed={} pulled={} trips={}",
            r.pushed_changes, r.pulled_changes, r.round_trips
        ))
    })();
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("error {e}");
            ExitCode::FAILURE
        }
    }
}
