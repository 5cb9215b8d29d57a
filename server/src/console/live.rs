//! Live updates: which cases changed, told to open consoles as server-sent events.
//!
//! One watcher task per process (started by the first console request) follows the feed's
//! head: woken at once when this process
//! stores a push ([`Live::poke`], called by the sync handler and the console's own
//! actions), and every second anyway, so that on PostgreSQL a push stored by another server
//! process reaches this process's consoles too. It reads the documents changed since the
//! head it last saw (the feed is gap free, so nothing is skipped) and broadcasts their
//! queue rows; each console's stream keeps the rows of its member's grids. When the head
//! moved, it first brings the search index up to the feed (`search.rs`), at a lower
//! priority. A server nobody uses the console on does none of this.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use tokio::sync::{Notify, broadcast};

use super::db;
use super::session::Session;
use crate::api::{App, now_ms};
use crate::storage::{CaseRow, Storage};

/// Documents announced per round at most; more wait for the next round.
const ROUND_DOCS: usize = 500;
/// How often the watcher looks at the feed's head without being woken.
const POLL: Duration = Duration::from_secs(1);
/// A comment line this often keeps the stream (and any proxy) from going idle, and
/// re-checks the session.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What one round of the watcher found.
pub struct Round {
    /// The queue rows of the changed cases.
    rows: Vec<CaseRow>,
    /// More documents changed than one round reads: every console reloads its queue.
    truncated: bool,
}

pub struct Live {
    wake: Notify,
    tx: broadcast::Sender<Arc<Round>>,
    started: AtomicBool,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            wake: Notify::new(),
            tx: broadcast::channel(64).0,
            started: AtomicBool::new(false),
        }
    }
}

impl Live {
    /// Something was stored: look now.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Starts the watcher on first use (a server nobody watches does no polling).
    pub fn ensure_started(&self, app: &Arc<App>) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let app = app.clone();
        tokio::spawn(async move {
            let storage = app.storage.clone();
            let mut seen = loop {
                match head(&storage).await {
                    Some(h) => break h,
                    None => tokio::time::sleep(POLL).await,
                }
            };
            // The head up to which the search index was brought (0: look at once).
            let mut indexed = 0;
            loop {
                let Some(now) = head(&storage).await else {
                    tokio::time::sleep(POLL).await;
                    continue;
                };
                if now > seen {
                    let s = storage.clone();
                    let from = seen;
                    let rows = tokio::task::spawn_blocking(move || {
                        db::read(&*s, |db| {
                            let ids = db::changed_docs(db, from, now, ROUND_DOCS)?;
                            Ok(Round {
                                truncated: ids.len() >= ROUND_DOCS,
                                rows: db::case_rows(db, &ids)?,
                            })
                        })
                    })
                    .await;
                    match rows {
                        Ok(Ok(round)) => {
                            seen = now;
                            if !round.rows.is_empty() || round.truncated {
                                let _ = app.console.live.tx.send(Arc::new(round));
                            }
                        }
                        Ok(Err(e)) => tracing::warn!(error = %e, "console watcher could not read"),
                        Err(e) => tracing::warn!(error = %e, "console watcher failed"),
                    }
                }
                // Then the search index, after the consoles were told.
                if now > indexed && index(&storage).await {
                    indexed = now;
                }
                tokio::select! {
                    _ = app.console.live.wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
        });
    }
}

/// Brings the search index up to the feed (`search.rs`), a round at a time, on a thread of
/// lower priority (requests come first for the CPU). Whether it got there.
async fn index(storage: &Arc<dyn Storage>) -> bool {
    loop {
        let s = storage.clone();
        match crate::pushing::in_background(move || super::search::catch_up(&*s)).await {
            Ok(Ok(true)) => continue,
            Ok(Ok(false)) => return true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "console search index could not catch up");
                return false;
            }
            Err(e) => {
                tracing::warn!(error = %e, "console search indexing failed");
                return false;
            }
        }
    }
}

async fn head(storage: &Arc<dyn Storage>) -> Option<u64> {
    let s = storage.clone();
    match tokio::task::spawn_blocking(move || s.head()).await {
        Ok(Ok(h)) => Some(h),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "console watcher could not read the feed head");
            None
        }
        Err(_) => None,
    }
}

/// One server-sent event: a case of the member's grids changed.
fn event(row: &CaseRow) -> Bytes {
    let data = serde_json::json!({
        "id": row.id,
        "grid": row.grid_id,
        "urgency": row.urgency,
        "status": row.status,
        "open": row.is_open,
        "title": row.title,
        "created_at": row.created_at,
    });
    Bytes::from(format!("event: case\ndata: {data}\n\n"))
}

/// `GET /console/events`: the stream of the member's changed cases.
pub async fn events(State(app): State<Arc<App>>, session: Session) -> Response {
    app.console.live.ensure_started(&app);
    let rx = app.console.live.tx.subscribe();
    struct St {
        rx: broadcast::Receiver<Arc<Round>>,
        session: Session,
        app: Arc<App>,
        first: bool,
    }
    let st = St {
        rx,
        session,
        app,
        first: true,
    };
    let stream = futures_util::stream::unfold(st, |mut st| async move {
        if st.first {
            st.first = false;
            // Tells the page the stream is open (and the browser how soon to reconnect).
            return Some((
                Ok::<_, Infallible>(Bytes::from("retry: 2000\nevent: ready\ndata: {}\n\n")),
                st,
            ));
        }
        loop {
            let got = tokio::time::timeout(KEEP_ALIVE, st.rx.recv()).await;
            match got {
                Err(_) => {
                    // Quiet: keep alive, and end the stream if the session ended.
                    if !still_valid(&st.app, &st.session).await {
                        return None;
                    }
                    return Some((Ok(Bytes::from(": keep-alive\n\n")), st));
                }
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                    // Too slow a reader: tell the page to reload its queue.
                    return Some((Ok(Bytes::from("event: reload\ndata: {}\n\n")), st));
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                Ok(Ok(round)) => {
                    let mut out = Vec::new();
                    for r in round
                        .rows
                        .iter()
                        .filter(|r| st.session.sees_grid(&r.grid_id))
                    {
                        out.extend_from_slice(&event(r));
                    }
                    if round.truncated {
                        out.extend_from_slice(b"event: reload\ndata: {}\n\n");
                    }
                    if !out.is_empty() {
                        return Some((Ok(Bytes::from(out)), st));
                    }
                }
            }
        }
    });
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

async fn still_valid(app: &Arc<App>, session: &Session) -> bool {
    let (s, id) = (app.storage.clone(), session.row.id.clone());
    let now = now_ms();
    let r = tokio::task::spawn_blocking(move || {
        db::read(&*s, |db| {
            Ok(db
                .opt(
                    "SELECT revoked_at, expires_at FROM console_sessions WHERE id = ?1",
                    &[id.as_str().into()],
                )?
                .map(|r| Ok::<_, crate::storage::StoreError>((r.opt_int(0)?, r.int(1)?))))
        })
    })
    .await;
    matches!(r, Ok(Ok(Some(Ok((None, exp))))) if exp > now)
}
