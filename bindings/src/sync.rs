//! Enrollment and sync with the Outpost server: the [`Sync`] area of a store, and the
//! "sync progress" listener.
//!
//! Every network call runs on the bindings' runtime ([`crate::runtime`]), one at a time per
//! store (a second caller waits for the first). After a sync that pulled changes, and after
//! enrollment or a directory refresh, the store's data listeners hear what changed, as after
//! a local write. Failures are `OutpostError`s: `NotEnrolled`, `Unauthorized`, `Network`,
//! `Rejected`, `Server`, `Protocol`, or the store's own.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use outpost_core::sync::{self as core_sync, SyncClient, SyncConfig, SyncError};

use crate::error::{OutpostError, Result};
use crate::listener::{DataChange, ListenerError, Listeners, Subscription};
use crate::runtime::spawn;
use crate::store::Shared;
use crate::types::{Directory, Enrollment, SyncEvent, SyncOptions, SyncReport, SyncState};

/// Implemented in Kotlin or Swift to follow syncs, e.g. for a status line. Called on a
/// background thread: keep it short (post to a channel or a main-thread queue).
#[uniffi::export(foreign)]
pub trait SyncListener: Send + std::marker::Sync {
    /// An exception thrown here is caught and ignored.
    fn on_event(&self, event: SyncEvent) -> Result<(), ListenerError>;
}

/// What a store keeps for sync besides its database.
pub(crate) struct SyncShared {
    options: Mutex<SyncOptions>,
    /// Held for the whole of an enrollment, sync or directory refresh.
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl Default for SyncShared {
    fn default() -> Self {
        SyncShared {
            options: Mutex::new(SyncOptions::default()),
            one_at_a_time: tokio::sync::Mutex::new(()),
        }
    }
}

impl Listeners<dyn SyncListener> {
    pub(crate) fn send(&self, event: SyncEvent) {
        self.each(|l| {
            let _ignored = l.on_event(event.clone());
        });
    }
}

/// Passes core's progress reports to the registered sync listeners, and photo uploads to
/// the photo listeners too.
struct Progress<'a>(&'a Shared);

impl core_sync::SyncListener for Progress<'_> {
    fn progress(&self, p: &core_sync::SyncProgress) {
        self.0
            .sync_listeners
            .send(SyncEvent::Progress { progress: p.into() });
        crate::photos::upload_progress(self.0, p);
    }
}

/// Checks a server address before anything is sent to it.
fn checked_url(url: &str) -> Result<String> {
    let url = url.trim();
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match host {
        // The library leaves Unicode domain tables out (about 100 KB): an internationalised
        // name is written in its ASCII (xn--) form.
        Some(h) if !h.split(['/', '?', '#']).next().unwrap_or(h).is_ascii() => {
            Err(OutpostError::invalid(format!(
                "write the server's name in its ASCII form (xn--…), as the browser shows it \
             when copied (got '{url}')"
            )))
        }
        Some(h) if !h.is_empty() && !h.starts_with('/') && !h.contains(char::is_whitespace) => {
            Ok(url.to_string())
        }
        _ => Err(OutpostError::invalid(format!(
            "the server address must start with https:// or http:// and name a host, \
             like https://outpost.example.org (got '{url}')"
        ))),
    }
}

fn millis(what: &str, ms: i64) -> Result<Duration> {
    match u64::try_from(ms) {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(OutpostError::invalid(format!(
            "{what} must be at least 1 ms (got {ms})"
        ))),
    }
}

impl Shared {
    fn client(&self, url: &str) -> Result<SyncClient> {
        let o = self
            .sync
            .options
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut cfg = SyncConfig::new(url);
        cfg.timeout = millis("timeout_ms", o.timeout_ms)?;
        cfg.connect_timeout = millis("connect_timeout_ms", o.connect_timeout_ms)?;
        cfg.retries = u32::try_from(o.retries).unwrap_or(0);
        Ok(SyncClient::new(cfg)?)
    }

    pub(crate) fn enrolled_client(&self) -> Result<SyncClient> {
        let url = self
            .store
            .sync_state()?
            .server_url
            .ok_or(SyncError::NotEnrolled)?;
        self.client(&url)
    }

    fn directory_changed(&self) {
        self.changed(DataChange {
            member_changed: true,
            templates_changed: true,
            ..DataChange::default()
        });
    }
}

/// Enrollment and sync. Get it from `Store.sync()`.
#[derive(uniffi::Object)]
pub struct Sync {
    pub(crate) shared: Arc<Shared>,
}

#[uniffi::export]
impl Sync {
    /// Trades an invite code from a grid lead for this device's token, then stores the
    /// server, the member and the directory (grids, units, templates). Enrolling again
    /// replaces the previous enrollment.
    pub async fn enroll(
        &self,
        server_url: String,
        code: String,
        device_name: String,
    ) -> Result<Enrollment> {
        let url = checked_url(&server_url)?;
        if code.trim().is_empty() {
            return Err(OutpostError::invalid("the invite code must not be empty"));
        }
        let shared = self.shared.clone();
        spawn(async move {
            let _one = shared.sync.one_at_a_time.lock().await;
            let client = shared.client(&url)?;
            let out = client.enroll(&shared.store, &code, &device_name).await?;
            shared.directory_changed();
            Ok(Enrollment {
                device_id: out.device_id,
                directory: out.directory.into(),
            })
        })
        .await
    }

    /// Pushes what the server has not stored (life-safety cases first) and pulls what
    /// changed in this member's scope, in as many round trips as needed. Listeners hear
    /// `Started`, `Progress` after each round trip, then `Finished` or `Failed`.
    ///
    /// If the caller stops waiting, the sync still finishes in the background; a sync cut
    /// off anywhere (network lost, app killed) is simply run again.
    pub async fn sync(&self) -> Result<SyncReport> {
        let shared = self.shared.clone();
        spawn(async move {
            let _one = shared.sync.one_at_a_time.lock().await;
            shared.sync_listeners.send(SyncEvent::Started);
            let outcome = match shared.enrolled_client() {
                Ok(client) => client
                    .sync(&shared.store, Some(&Progress(&shared)))
                    .await
                    .map(SyncReport::from)
                    .map_err(OutpostError::from),
                Err(e) => Err(e),
            };
            match &outcome {
                Ok(report) => {
                    let change = DataChange {
                        case_ids: report.changed_case_ids.clone(),
                        inspection_ids: report.changed_inspection_ids.clone(),
                        member_changed: report.directory_updated,
                        templates_changed: report.directory_updated,
                    };
                    if change != DataChange::default() {
                        shared.changed(change);
                    }
                    shared.sync_listeners.send(SyncEvent::Finished {
                        report: report.clone(),
                    });
                }
                Err(e) => shared.sync_listeners.send(SyncEvent::Failed {
                    reason: e.to_string(),
                }),
            }
            outcome
        })
        .await
    }

    /// Fetches the directory (member, grids, units, templates) again and stores it. A sync
    /// does this by itself when the server's directory changed.
    pub async fn refresh_directory(&self) -> Result<Directory> {
        let shared = self.shared.clone();
        spawn(async move {
            let _one = shared.sync.one_at_a_time.lock().await;
            let client = shared.enrolled_client()?;
            let d = client.refresh_directory(&shared.store).await?;
            shared.directory_changed();
            Ok(d.into())
        })
        .await
    }

    /// Where this device stands with the server.
    pub fn state(&self) -> Result<SyncState> {
        let store = &self.shared.store;
        let s = store.sync_state()?;
        let refused = store.refused_docs()?;
        let waiting: Vec<_> = store
            .outbox(i64::MAX)?
            .into_iter()
            .filter(|d| !refused.iter().any(|r| r.id == d.id))
            .collect();
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        Ok(SyncState {
            enrolled: s.token.is_some(),
            server_url: s.server_url,
            device_id: s.device_id,
            directory_version: s.directory_version,
            last_attempt_at: s.last_attempt_at,
            last_success_at: s.last_success_at,
            last_error: s.last_error,
            pushed_total: s.pushed_total,
            pulled_total: s.pulled_total,
            unsent_docs: count(waiting.len()),
            // Priority 0: life-safety cases, which are sent first.
            unsent_life_safety: count(waiting.iter().filter(|d| d.priority == 0).count()),
            refused: refused.into_iter().map(Into::into).collect(),
        })
    }

    /// The directory last received from the server; none before enrollment.
    pub fn directory(&self) -> Result<Option<Directory>> {
        Ok(self.shared.store.directory()?.map(Into::into))
    }

    /// Network settings for the calls that follow. Fails with `Invalid` (and keeps the
    /// previous settings) if a time is not positive or `retries` is negative.
    pub fn set_options(&self, options: SyncOptions) -> Result<()> {
        millis("timeout_ms", options.timeout_ms)?;
        millis("connect_timeout_ms", options.connect_timeout_ms)?;
        if options.retries < 0 {
            return Err(OutpostError::invalid(format!(
                "retries must not be negative (got {})",
                options.retries
            )));
        }
        *self
            .shared
            .sync
            .options
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = options;
        Ok(())
    }

    pub fn options(&self) -> SyncOptions {
        self.shared
            .sync
            .options
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Calls `listener` with the events of every sync of this store, until the returned
    /// subscription is cancelled, closed or collected.
    pub fn subscribe(&self, listener: Arc<dyn SyncListener>) -> Arc<Subscription> {
        Arc::new(Subscription::sync(&self.shared, listener))
    }

    /// How many sync listeners are registered now.
    pub fn listener_count(&self) -> u32 {
        u32::try_from(self.shared.sync_listeners.len()).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_are_checked_before_anything_is_sent() {
        assert_eq!(
            checked_url(" https://outpost.example.org/ ")
                .ok()
                .as_deref(),
            Some("https://outpost.example.org/")
        );
        assert!(checked_url("http://127.0.0.1:8080").is_ok());
        for bad in [
            "",
            "outpost.example.org",
            "ftp://x",
            "https://",
            "http:///x",
            "http://a b",
            "https://政务.中国",
        ] {
            assert!(
                matches!(checked_url(bad), Err(OutpostError::Invalid { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn default_options_are_core_defaults() {
        let core = SyncConfig::new("http://127.0.0.1:1");
        let o = SyncOptions::default();
        assert_eq!(millis("t", o.timeout_ms).ok(), Some(core.timeout));
        assert_eq!(
            millis("t", o.connect_timeout_ms).ok(),
            Some(core.connect_timeout)
        );
        assert_eq!(u32::try_from(o.retries).ok(), Some(core.retries));
        assert!(matches!(millis("t", 0), Err(OutpostError::Invalid { .. })));
    }
}
