//! "Data changed", "sync progress" and "photo progress" listeners: the foreign side registers one and gets a
//! [`Subscription`] handle; cancelling, closing or dropping the handle stops the calls.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::live;
use crate::photos::PhotoListener;
use crate::store::Shared;
use crate::sync::SyncListener;

/// What a successful write through these bindings, or a sync that pulled changes, changed.
/// Screens re-read the lists they show; a detail screen checks whether its id is among these.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct DataChange {
    pub case_ids: Vec<String>,
    pub inspection_ids: Vec<String>,
    pub member_changed: bool,
    pub templates_changed: bool,
}

/// Implemented in Kotlin or Swift. Called after the write committed, on the thread that
/// made it (a background thread for a sync): keep it short (post to a channel or a
/// main-thread queue).
#[uniffi::export(foreign)]
pub trait DataListener: Send + Sync {
    /// An exception thrown here is caught and ignored: the write has happened regardless.
    fn on_change(&self, change: DataChange) -> Result<(), ListenerError>;
}

/// A listener that threw. It exists so that an exception in Kotlin or Swift comes back to
/// Rust as a value (and is ignored) rather than as a panic.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum ListenerError {
    #[error("the listener failed: {reason}")]
    Failed { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for ListenerError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        ListenerError::Failed { reason: e.reason }
    }
}

/// The listeners of one kind registered on a store.
pub(crate) struct Listeners<L: ?Sized> {
    next_id: AtomicU64,
    entries: Mutex<Vec<(u64, Arc<L>)>>,
}

impl<L: ?Sized> Default for Listeners<L> {
    fn default() -> Self {
        Listeners {
            next_id: AtomicU64::new(0),
            entries: Mutex::new(Vec::new()),
        }
    }
}

impl<L: ?Sized> Listeners<L> {
    fn add(&self, l: Arc<L>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((id, l));
        id
    }

    fn remove(&self, id: u64) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(i, _)| *i != id);
    }

    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Calls `call` with every listener registered now. A listener that throws (or, as a
    /// last resort, panics) is skipped: what it reports has happened and must not become
    /// an error.
    pub(crate) fn each(&self, call: impl Fn(&L)) {
        let current: Vec<Arc<L>> = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        for l in current {
            let _ignored = catch_unwind(AssertUnwindSafe(|| call(&l)));
        }
    }
}

impl Listeners<dyn DataListener> {
    pub(crate) fn notify(&self, change: &DataChange) {
        self.each(|l| {
            let _ignored = l.on_change(change.clone());
        });
    }
}

/// Which registry a subscription belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Data,
    Sync,
    Photo,
}

/// Keeps a listener registered. `cancel()`, closing it or letting it be collected stops it.
#[derive(uniffi::Object)]
pub struct Subscription {
    shared: Weak<Shared>,
    kind: Kind,
    id: u64,
    active: AtomicBool,
}

impl Subscription {
    pub(crate) fn data(shared: &Arc<Shared>, listener: Arc<dyn DataListener>) -> Self {
        Self::new(shared, Kind::Data, shared.listeners.add(listener))
    }

    pub(crate) fn sync(shared: &Arc<Shared>, listener: Arc<dyn SyncListener>) -> Self {
        Self::new(shared, Kind::Sync, shared.sync_listeners.add(listener))
    }

    pub(crate) fn photo(shared: &Arc<Shared>, listener: Arc<dyn PhotoListener>) -> Self {
        Self::new(shared, Kind::Photo, shared.photo_listeners.add(listener))
    }

    fn new(shared: &Arc<Shared>, kind: Kind, id: u64) -> Self {
        live::SUBSCRIPTIONS.fetch_add(1, Ordering::Relaxed);
        Subscription {
            shared: Arc::downgrade(shared),
            kind,
            id,
            active: AtomicBool::new(true),
        }
    }
}

#[uniffi::export]
impl Subscription {
    /// Stops the calls. Calling it again does nothing.
    pub fn cancel(&self) {
        if self.active.swap(false, Ordering::AcqRel)
            && let Some(shared) = self.shared.upgrade()
        {
            match self.kind {
                Kind::Data => shared.listeners.remove(self.id),
                Kind::Sync => shared.sync_listeners.remove(self.id),
                Kind::Photo => shared.photo_listeners.remove(self.id),
            }
        }
    }

    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire) && self.shared.strong_count() > 0
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.cancel();
        live::SUBSCRIPTIONS.fetch_sub(1, Ordering::Relaxed);
    }
}
