//! The tokio runtime every exported `async fn` runs its work on.
//!
//! Exported futures are polled by the foreign side (Kotlin coroutines, Swift tasks) on its
//! own threads. They only await a task spawned here, so nothing they touch needs a tokio
//! reactor on the caller's thread, and blocking SQLite work never stalls a coroutine
//! dispatcher. The runtime has I/O and timers enabled: sync's HTTP requests run on it.
//! A panic in a task comes back as `OutpostError::Internal`, never across FFI.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

use crate::error::{OutpostError, Result};

static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();
static DRIVER: OnceLock<std::result::Result<(), String>> = OnceLock::new();

/// The process-wide runtime, started on first use. Lives until the process ends.
///
/// One thread of its own drives it (network work is I/O-bound; store work goes to the
/// blocking pool), which keeps tokio's multi-threaded scheduler out of the mobile library.
pub(crate) fn runtime() -> Result<&'static Runtime> {
    let failed =
        |e: &String| OutpostError::internal(format!("could not start the background runtime: {e}"));
    let rt = RUNTIME
        .get_or_init(|| {
            Builder::new_current_thread()
                .enable_all()
                .max_blocking_threads(8)
                .thread_name("outpost-rt")
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(failed)?;
    DRIVER
        .get_or_init(|| {
            std::thread::Builder::new()
                .name("outpost-rt".into())
                .spawn(move || rt.block_on(std::future::pending::<()>()))
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(failed)?;
    Ok(rt)
}

/// Runs blocking store work on the runtime's blocking pool and waits for it without
/// blocking the caller. If the caller stops waiting (a cancelled coroutine), the work still
/// finishes: a store write is one transaction that either happens or does not.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    runtime()?
        .spawn_blocking(f)
        .await
        .map_err(|e| OutpostError::internal(format!("background work failed: {e}")))?
}

/// Runs a future on the runtime (network I/O and timers included) and waits for it. As with
/// [`blocking`], a caller that stops waiting does not stop the work: a sync cut off by the
/// caller finishes its round trips, which are each applied in one transaction.
pub(crate) async fn spawn<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T>> + Send + 'static,
{
    runtime()?
        .spawn(f)
        .await
        .map_err(|e| OutpostError::internal(format!("background work failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        // A runtime of the test's own, to poll the future the way a foreign executor would.
        Builder::new_current_thread()
            .build()
            .map(|rt| rt.block_on(f))
            .unwrap_or_else(|e| panic!("test runtime: {e}"))
    }

    #[test]
    fn work_runs_off_the_calling_thread_and_returns_its_result() {
        let caller = std::thread::current().id();
        let (ran_on, value) = block_on(blocking(move || Ok((std::thread::current().id(), 42))))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(ran_on, caller);
        assert_eq!(value, 42);
    }

    #[test]
    fn async_work_has_timers_and_a_panic_in_it_is_an_internal_error() {
        let slept = block_on(spawn(async {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            Ok(7)
        }));
        assert!(matches!(slept, Ok(7)), "{slept:?}");
        let r: Result<()> = block_on(spawn(async { panic!("bang") }));
        assert!(matches!(r, Err(OutpostError::Internal { .. })), "{r:?}");
    }

    #[test]
    fn a_panic_in_background_work_is_an_internal_error() {
        let r: Result<()> = block_on(blocking(|| panic!("boom")));
        match r {
            Err(OutpostError::Internal { reason }) => assert!(reason.contains("boom"), "{reason}"),
            other => panic!("expected Internal, got {other:?}"),
        }
    }
}
