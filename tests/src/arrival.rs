//! How long a sync takes to get one document onto the server: the sync runs while a thread
//! watches the server's database, and stops (dropped mid-flight, as a killed app would be)
//! once the document is there.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use outpost_core::Store;
use outpost_core::sync::SyncClient;
use outpost_server::Storage;

use crate::harness::Server;

/// Syncs `store` with `client` until the server holds document `id`; returns the time from
/// the start of the sync. Panics if the sync ends without it or `limit` passes.
pub fn time_to_server(
    server: &Server,
    client: &SyncClient,
    store: &Store,
    id: &str,
    limit: Duration,
) -> Duration {
    let seen = Arc::new(AtomicBool::new(false));
    let storage = server.storage();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let took = std::thread::scope(|s| {
        let watcher = {
            let seen = seen.clone();
            s.spawn(move || {
                while started.elapsed() < limit {
                    if storage.change_count(Some(id)).unwrap_or(0) > 0 {
                        seen.store(true, Ordering::SeqCst);
                        return Some(started.elapsed());
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                None
            })
        };
        rt.block_on(async {
            tokio::select! {
                r = client.sync(store, None) => {
                    // The sync ended first: the watcher sees the document at once or never.
                    if let Err(e) = r { eprintln!("sync ended: {e}"); }
                }
                _ = async {
                    while !seen.load(Ordering::SeqCst) && started.elapsed() < limit {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                } => {}
            }
        });
        watcher.join().expect("watcher")
    });
    took.unwrap_or_else(|| panic!("document {id} did not reach the server within {limit:?}"))
}
