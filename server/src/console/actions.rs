//! What a member does from the console becomes an Automerge change to the case, authored by
//! the server for that member with the session's own actor, judged by the same core code as
//! a phone's push (`check_push`) and stored by the same storage path (`Storage::push`), so it
//! reaches the phones through the feed like any other change.

use std::sync::Arc;

use automerge::ActorId;
use axum::Form;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use outpost_core::case::record;
use outpost_core::sync::validate::check_push;
use outpost_core::sync::wire::PushDoc;
use outpost_core::{Error as CoreError, EventKind, FollowUp};
use serde::Deserialize;
use serde_bytes::ByteBuf;

use super::Refused;
use super::pages::{load_case, urlencode};
use super::session::Session;
use crate::api::{App, now_ms};
use crate::storage::PushContext;

/// The fields of an action form; which ones count depends on `action`.
#[derive(Debug, Default, Deserialize)]
pub struct ActForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub hours: Option<i64>,
    #[serde(default)]
    pub satisfaction: Option<i64>,
    #[serde(default)]
    pub text: String,
}

fn bad(detail: impl Into<String>) -> Refused {
    Refused::new(StatusCode::BAD_REQUEST, "error.bad_request", detail)
}

/// The event a form asks for (bounds and validation of the values are core's).
pub fn event_of(f: &ActForm, now: i64) -> Result<EventKind, Refused> {
    let text = f.text.trim().to_string();
    Ok(match f.action.as_str() {
        "accept" => EventKind::Accepted,
        "dispatch" => {
            let hours = f.hours.ok_or_else(|| bad("a dispatch needs a deadline"))?;
            if !(1..=24 * 366).contains(&hours) {
                return Err(bad("the deadline must be between 1 hour and a year away"));
            }
            EventKind::Dispatched {
                unit_id: f.unit.trim().to_string(),
                deadline: now + hours * 3_600_000,
            }
        }
        "comment" => EventKind::Comment { text },
        "progress" => EventKind::Progress { note: text },
        "resolve" => EventKind::Resolved { note: text },
        "cancel" => EventKind::Cancelled { reason: text },
        "reopen" => EventKind::Reopened { reason: text },
        "follow_up" => EventKind::FollowUp(FollowUp {
            visited_at: now,
            satisfaction: f
                .satisfaction
                .ok_or_else(|| bad("a follow-up needs a satisfaction score"))?,
            note: text,
        }),
        other => {
            return Err(bad(format!(
                "'{}' is not an action of the console",
                other.chars().take(40).collect::<String>()
            )));
        }
    })
}

/// `POST /console/cases/{id}/act`.
pub async fn act(
    State(app): State<Arc<App>>,
    s: Session,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    form: Result<Form<ActForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, Refused> {
    let l = s.lang;
    // The form is read only to find its token; a request without one is refused alike.
    let f = form.map(|Form(f)| f).unwrap_or_default();
    s.check_write(&headers, app.console.secure(), &f.csrf)
        .map_err(|r| r.in_lang(l))?;
    let now = now_ms();
    let kind = event_of(&f, now).map_err(|r| r.in_lang(l))?;
    let event = author(&app, &s, &id, kind, now)
        .await
        .map_err(|r| r.in_lang(l))?;
    tracing::info!(member = %s.member.id, session = %s.row.id, case = %id, event = %event, action = %f.action, "console action stored");
    app.console.live.poke();
    Ok(Redirect::to(&format!("/console/cases/{}", urlencode(&id))).into_response())
}

/// Records `kind` on case `id` for the session's member and stores it as a push from the
/// session's actor. Returns the event id.
pub async fn author(
    app: &Arc<App>,
    s: &Session,
    id: &str,
    kind: EventKind,
    now: i64,
) -> Result<String, Refused> {
    let storage = app.storage.clone();
    let (s2, id2) = (s.clone(), id.to_string());
    let (acks, notes, event_id) = tokio::task::spawn_blocking(move || {
        let s = s2;
        let id = id2;
        let Some((mut doc, _)) = load_case(&*storage, &s, &id)? else {
            return Err(Refused::new(StatusCode::NOT_FOUND, "error.not_found", ""));
        };
        let actor = hex::decode(&s.row.actor).map_err(Refused::internal)?;
        doc.set_actor(ActorId::from(actor));
        let before = doc.get_heads();
        let event_id = uuid::Uuid::now_v7().to_string();
        record(&mut doc, &id, &s.member, kind, &event_id, now).map_err(refusal)?;
        let changes: Vec<ByteBuf> = doc
            .get_changes(&before)
            .into_iter()
            .map(|c| ByteBuf::from(c.raw_bytes().to_vec()))
            .collect();
        let push = vec![PushDoc {
            id: id.clone(),
            changes,
        }];
        let notes = crate::blobs::RefNotes::new(crate::scope::member_scope(&s.member));
        let check = |doc_id: &str, existing, changes: &[Vec<u8>]| {
            let r = check_push(&s.member, &s.row.actor, doc_id, existing, changes, &*s.dir);
            if let Ok(a) = &r {
                notes.note(doc_id, &a.view);
            }
            r
        };
        let acks = storage.push(&push, &check, &PushContext::at(now))?;
        Ok((acks, notes, event_id))
    })
    .await
    .map_err(Refused::internal)??;
    app.note_refs(&acks, notes).await?;
    match acks.first() {
        Some(a) if a.ok => Ok(event_id),
        Some(a) => Err(Refused::new(
            StatusCode::CONFLICT,
            "error.forbidden",
            a.reason.clone().unwrap_or_default(),
        )),
        None => Err(Refused::internal("a push of one document gave no answer")),
    }
}

/// Core's refusal of an action, as the member reads it.
fn refusal(e: CoreError) -> Refused {
    let status = match &e {
        CoreError::Forbidden(_) => StatusCode::FORBIDDEN,
        CoreError::Transition { .. } => StatusCode::CONFLICT,
        CoreError::Invalid(_) => StatusCode::BAD_REQUEST,
        CoreError::NotFound { .. } => StatusCode::NOT_FOUND,
        _ => return Refused::internal(e),
    };
    Refused::new(status, "error.forbidden", e.to_string())
}
