//! What keeps one device's push from holding anyone else: a device pushes one request at a
//! time (its next push waits for the previous one's work, not for its reply), a large push
//! is judged on a thread of lower priority than interactive requests, and the work of an
//! abandoned request stops.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::OwnedMutexGuard;

/// One turn per device at pushing.
#[derive(Debug, Default)]
pub struct PushTurns {
    turns: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    /// Entries after the last sweep of devices nobody waits for.
    swept: Mutex<usize>,
}

impl PushTurns {
    /// Waits until `device` has no other push at work, and holds its turn until the guard
    /// drops. Give the guard to the work itself, so the turn lasts as long as the work.
    pub async fn take(&self, device: &str) -> OwnedMutexGuard<()> {
        let turn = {
            let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
            match turns.get(device).and_then(Weak::upgrade) {
                Some(t) => t,
                None => {
                    let mut swept = self.swept.lock().unwrap_or_else(|p| p.into_inner());
                    // Forget devices whose turns nobody holds, once the map doubled.
                    if turns.len() >= (*swept * 2).max(1024) {
                        turns.retain(|_, t| t.strong_count() > 0);
                        *swept = turns.len();
                    }
                    let t = Arc::new(tokio::sync::Mutex::new(()));
                    turns.insert(device.to_string(), Arc::downgrade(&t));
                    t
                }
            }
        };
        turn.lock_owned().await
    }

    /// Devices with a turn on record (for tests).
    pub fn len(&self) -> usize {
        self.turns.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Raises its flag when dropped: held by a request handler, it tells work on the blocking
/// pool that nobody waits for the answer any more (the time limit dropped the handler, or
/// the client went away).
#[derive(Debug, Default)]
pub struct Abandon(Arc<AtomicBool>);

impl Abandon {
    pub fn new() -> Abandon {
        Abandon::default()
    }

    /// The flag the work checks.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}

impl Drop for Abandon {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `work` on a thread of its own at a lower scheduling priority (Linux: nice 10), so
/// that a large push takes the CPU only when the requests of others do not need it.
pub async fn in_background<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> std::io::Result<R> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("outpost-push".into())
        .spawn(move || {
            lower_priority();
            let _ = tx.send(work());
        })?;
    rx.await
        .map_err(|_| std::io::Error::other("the push's thread ended without an answer"))
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: plain system calls on the calling thread; a failure leaves the priority as it
    // was, which is harmless.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_device_waits_for_its_own_push_but_not_for_others() {
        let turns = Arc::new(PushTurns::default());
        let first = turns.take("a").await;
        let other = tokio::time::timeout(Duration::from_millis(100), turns.take("b")).await;
        assert!(other.is_ok(), "another device is not held");
        let t = turns.clone();
        let waiting = tokio::spawn(async move { t.take("a").await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the same device waits");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("released")
            .expect("task");
    }

    #[test]
    fn dropping_the_guard_raises_the_flag() {
        let a = Abandon::new();
        let flag = a.flag();
        assert!(!flag.load(Ordering::Relaxed));
        drop(a);
        assert!(flag.load(Ordering::Relaxed));
    }
}
