//! Outpost's core for Kotlin (Android) and Swift (iOS), through UniFFI proc-macros.
//!
//! A thin layer: [`Store`] opens the device database and hands out its areas, [`Cases`],
//! [`Inspections`], [`Templates`], [`Photos`] and [`Sync`] (enrollment and sync with the
//! server); the device token lives in the app's [`TokenStore`], never in the database;
//! records and enums in [`types`] mirror what core returns; every failure is one
//! [`OutpostError`] with a readable message. Writes made through these objects, and syncs
//! that brought changes, notify [`DataListener`]s registered with [`Store::subscribe`];
//! [`SyncListener`]s registered with [`Sync::subscribe`] follow each sync's progress, and
//! [`PhotoListener`]s registered with [`Photos::subscribe`] photo uploads and downloads.
//! Async methods run their work on one tokio runtime ([`runtime`]). Panics never cross the
//! boundary: UniFFI catches them at every call (the library is built with `panic = unwind`),
//! background tasks report them as `Internal`, and a throwing listener is skipped.
//!
//! Generated Kotlin and Swift are build outputs: see `scripts/build-bindings.sh`.

#[macro_use]
pub mod types;
mod error;
mod listener;
mod photos;
mod rules;
mod runtime;
mod store;
mod sync;
mod token;

pub use error::{OutpostError, Result};
pub use listener::{DataChange, DataListener, ListenerError, Subscription};
pub use photos::{PhotoEvent, PhotoInfo, PhotoListener, PhotoState, PhotoUsage, Photos};
pub use rules::{
    Action, ActionOffer, HomeList, HomeRows, ItemRule, Readiness, Withheld, Withholding, home_lists,
};
pub use store::{Cases, Inspections, Store, Templates};
pub use sync::{Sync, SyncListener};
pub use token::{TokenStore, TokenStoreError};

uniffi::setup_scaffolding!("outpost");

/// Counts of live objects, for leak checks in tests and a debug screen.
mod live {
    use std::sync::atomic::AtomicI64;

    pub(crate) static STORES: AtomicI64 = AtomicI64::new(0);
    pub(crate) static SUBSCRIPTIONS: AtomicI64 = AtomicI64::new(0);
}

/// How many stores (open databases) and listener subscriptions are alive in this process.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct LiveHandles {
    pub stores: i64,
    pub subscriptions: i64,
}

/// Live object counts: a store is closed once every object of it is closed or collected.
#[uniffi::export]
pub fn live_handles() -> LiveHandles {
    use std::sync::atomic::Ordering::Relaxed;
    LiveHandles {
        stores: live::STORES.load(Relaxed),
        subscriptions: live::SUBSCRIPTIONS.load(Relaxed),
    }
}

/// The version of this library, to show in an "about" screen and bug reports.
#[uniffi::export]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
