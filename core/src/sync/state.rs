//! What the sync client keeps in the device's store: where the server is, the feed cursor,
//! what the server refused, the last error. A reply from the server is applied here in one
//! transaction together with the new cursor, so a killed process either has all of a reply
//! or none of it, and the cursor never runs ahead of the changes it stands for.

use std::collections::HashMap;

use automerge::ChangeHash;
use rusqlite::{OptionalExtension, params};

use super::wire::{DirectoryView, RefusalCode, SyncResponse};
use crate::error::{Error, Result};
use crate::store::{DocKind, Outbound, Store, decode_heads, encode_heads};
use crate::untrusted::ChangeLimits;

/// The sync client's persistent state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncState {
    pub server_url: Option<String>,
    pub token: Option<String>,
    pub device_id: Option<String>,
    pub cursor: String,
    pub directory_version: i64,
    pub last_attempt_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_error: Option<String>,
    /// Changes the server stored from this device, over all syncs.
    pub pushed_total: i64,
    /// Changes received from the server, over all syncs.
    pub pulled_total: i64,
}

/// A document the server refused, with the reason; it is not pushed again until it changes.
#[derive(Debug, Clone, PartialEq)]
pub struct RefusedDoc {
    pub id: String,
    pub code: String,
    pub reason: String,
    pub at: i64,
}

/// What applying one server reply did to the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplyApplied {
    pub pulled_docs: usize,
    pub pulled_changes: usize,
    pub acked_docs: usize,
    pub stored_changes: usize,
    pub refused: Vec<RefusedDoc>,
    /// Cases and inspections that received changes new to this device.
    pub changed_cases: Vec<String>,
    pub changed_inspections: Vec<String>,
}

impl Store {
    pub fn sync_state(&self) -> Result<SyncState> {
        let mut state = self.with_conn(|c| {
            Ok(c.query_row(
                "SELECT server_url, device_id, cursor, directory_version, last_attempt_at,
                        last_success_at, last_error, pushed_total, pulled_total
                 FROM sync_state WHERE id = 1",
                [],
                |r| {
                    Ok(SyncState {
                        server_url: r.get(0)?,
                        token: None,
                        device_id: r.get(1)?,
                        cursor: r.get(2)?,
                        directory_version: r.get(3)?,
                        last_attempt_at: r.get(4)?,
                        last_success_at: r.get(5)?,
                        last_error: r.get(6)?,
                        pushed_total: r.get(7)?,
                        pulled_total: r.get(8)?,
                    })
                },
            )?)
        })?;
        // The token is not in the database: the token store keeps it (`sync/token.rs`).
        state.token = self.token()?;
        Ok(state)
    }

    /// Documents the server refused whose heads have not moved since.
    pub fn refused_docs(&self) -> Result<Vec<RefusedDoc>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT r.doc_id, r.code, r.reason, r.at FROM sync_refused r
                 JOIN documents d ON d.id = r.doc_id AND d.heads = r.heads ORDER BY r.at, r.doc_id",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(RefusedDoc {
                        id: r.get(0)?,
                        code: r.get(1)?,
                        reason: r.get(2)?,
                        at: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Stores what enrollment returned: the server, the token (in the token store, not the
    /// database), and the directory (which sets this device's member and installs the
    /// server's templates).
    pub fn save_enrollment(
        &self,
        server_url: &str,
        device_id: &str,
        token: &str,
        directory: &DirectoryView,
    ) -> Result<()> {
        self.save_token(Some(token))?;
        self.with_conn(|c| {
            c.execute(
                "UPDATE sync_state SET server_url = ?1, device_id = ?2, cursor = '',
                     last_error = NULL WHERE id = 1",
                params![server_url, device_id],
            )?;
            Ok(())
        })?;
        self.save_directory(directory)
    }

    /// Replaces the directory with the server's: member, templates, grids and units.
    pub fn save_directory(&self, d: &DirectoryView) -> Result<()> {
        self.set_member(&d.member)?;
        for t in &d.templates {
            self.install_template(&t.to_json())?;
        }
        let json = serde_json::to_string(d).map_err(|e| Error::Storage(e.to_string()))?;
        self.with_conn(|c| {
            c.execute(
                "UPDATE sync_state SET directory = ?1, directory_version = ?2 WHERE id = 1",
                params![json, d.version],
            )?;
            Ok(())
        })
    }

    /// The directory last received from the server, if any.
    pub fn directory(&self) -> Result<Option<DirectoryView>> {
        let json: Option<String> = self.with_conn(|c| {
            Ok(
                c.query_row("SELECT directory FROM sync_state WHERE id = 1", [], |r| {
                    r.get(0)
                })?,
            )
        })?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| Error::Corrupt(format!("stored directory: {e}")))
        })
        .transpose()
    }

    /// Notes a sync attempt that failed; the cursor and documents stay as they were.
    pub fn record_sync_error(&self, message: &str) -> Result<()> {
        let now = self.now();
        self.with_conn(|c| {
            c.execute(
                "UPDATE sync_state SET last_attempt_at = ?1, last_error = ?2 WHERE id = 1",
                params![now, message],
            )?;
            Ok(())
        })
    }

    /// Applies one server reply in one transaction: the pulled changes, the acknowledgements
    /// and refusals of what `pushed` carried, and the new cursor. Pulled documents are
    /// decoded and applied one at a time, each let go before the next, so memory stays that
    /// of one document however many a page brings.
    pub fn apply_sync_reply(
        &self,
        pushed: &[Outbound],
        reply: &SyncResponse,
    ) -> Result<ReplyApplied> {
        let now = self.now();
        let sent: HashMap<&str, &Outbound> = pushed.iter().map(|p| (p.id.as_str(), p)).collect();
        self.write(|t| {
            let mut out = ReplyApplied::default();
            // Acknowledgements first, so a document whose push and pulled changes meet in
            // this reply ends up in step with the server.
            for ack in &reply.acks {
                let Some(sent) = sent.get(ack.id.as_str()) else {
                    continue;
                };
                if ack.ok {
                    out.acked_docs += 1;
                    out.stored_changes += ack.stored as usize;
                    t.conn()
                        .prepare_cached("UPDATE documents SET synced_heads = ?2 WHERE id = ?1")?
                        .execute(params![ack.id, encode_heads(&sent.heads)])?;
                    t.conn()
                        .prepare_cached("DELETE FROM sync_refused WHERE doc_id = ?1")?
                        .execute([&ack.id])?;
                } else {
                    let code = ack.code.unwrap_or(RefusalCode::Forbidden).as_str();
                    let reason = ack.reason.clone().unwrap_or_else(|| code.to_string());
                    t.conn().execute(
                        "INSERT INTO sync_refused(doc_id, heads, code, reason, at)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT(doc_id) DO UPDATE SET heads = excluded.heads,
                             code = excluded.code, reason = excluded.reason, at = excluded.at",
                        params![ack.id, encode_heads(&sent.heads), code, reason, now],
                    )?;
                    out.refused.push(RefusedDoc {
                        id: ack.id.clone(),
                        code: code.to_string(),
                        reason,
                        at: now,
                    });
                }
            }
            for d in &reply.docs {
                let changes = d
                    .changes
                    .iter()
                    .map(|b| {
                        // The server's bytes are bounded and guarded as a push's are.
                        crate::untrusted::decode_received_change(b, &ChangeLimits::default())
                            .map_err(|e| Error::BadChange {
                                id: d.id.clone(),
                                reason: e.to_string(),
                            })
                    })
                    .collect::<Result<Vec<_>>>()?;
                // A document with nothing unacknowledged stays so: what the server sent is
                // on the server.
                let fresh = t.apply_pulled(&d.id, changes)?;
                let kind = t.kind(&d.id);
                t.release(&d.id);
                out.pulled_changes += fresh;
                out.pulled_docs += 1;
                if fresh > 0 {
                    match kind {
                        Some(DocKind::Case) => out.changed_cases.push(d.id.clone()),
                        Some(DocKind::Inspection) => out.changed_inspections.push(d.id.clone()),
                        // Its first change has not arrived yet: nothing to show.
                        None => {}
                    }
                }
            }
            t.conn().execute(
                "UPDATE sync_state SET cursor = ?1, last_attempt_at = ?2, last_success_at = ?2,
                     last_error = NULL, pushed_total = pushed_total + ?3,
                     pulled_total = pulled_total + ?4 WHERE id = 1",
                params![
                    reply.cursor,
                    now,
                    out.stored_changes as i64,
                    out.pulled_changes as i64
                ],
            )?;
            Ok(out)
        })
    }

    /// Heads the server acknowledged for a document (empty if none).
    pub fn synced_heads(&self, id: &str) -> Result<Vec<ChangeHash>> {
        self.with_conn(|c| {
            let h: Option<Vec<u8>> = c
                .query_row(
                    "SELECT synced_heads FROM documents WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .optional()?;
            h.map(|h| decode_heads(&h)).unwrap_or(Ok(Vec::new()))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::sync::wire::{Ack, PROTOCOL_VERSION, SyncResponse};
    use crate::{Category, Member, NewCase, Role, Site, Store, Urgency};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path().join("s.db")).unwrap();
        s.set_member(&Member::new("m", "M", Role::GridMember, ["g"]))
            .unwrap();
        (dir, s)
    }

    #[test]
    fn life_safety_goes_first_then_cases_then_inspections() {
        let (_d, s) = store();
        let insp = s
            .start_inspection("residential-fire-safety", Site::new("site", "g"), None)
            .unwrap();
        let normal = s
            .create_case(NewCase::new(Category::Waste, Urgency::Low, "w", "g"))
            .unwrap();
        let flag = s.flag_person_in_distress("g", None, None, None).unwrap();
        let order: Vec<String> = s
            .outbound(usize::MAX)
            .unwrap()
            .into_iter()
            .map(|o| o.id)
            .collect();
        assert_eq!(order, [flag.clone(), normal, insp]);
        // A tiny budget still sends the most urgent document.
        let first = s.outbound(1).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].id, flag);
    }

    #[test]
    fn a_reply_is_applied_with_its_cursor_and_refusals_wait_for_a_new_change() {
        let (_d, s) = store();
        let a = s
            .create_case(NewCase::new(Category::Waste, Urgency::Low, "a", "g"))
            .unwrap();
        let b = s
            .create_case(NewCase::new(Category::Waste, Urgency::Low, "b", "g"))
            .unwrap();
        let sent = s.outbound(usize::MAX).unwrap();
        let reply = SyncResponse {
            v: PROTOCOL_VERSION,
            acks: vec![
                Ack {
                    id: a.clone(),
                    ok: true,
                    stored: 1,
                    code: None,
                    reason: None,
                },
                Ack {
                    id: b.clone(),
                    ok: false,
                    stored: 0,
                    code: Some(crate::sync::wire::RefusalCode::Forbidden),
                    reason: Some("no".into()),
                },
            ],
            docs: vec![],
            cursor: "abcdef01.7".into(),
            more: false,
            directory_version: 1,
        };
        let applied = s.apply_sync_reply(&sent, &reply).unwrap();
        assert_eq!((applied.acked_docs, applied.refused.len()), (1, 1));
        let state = s.sync_state().unwrap();
        assert_eq!(state.cursor, "abcdef01.7");
        assert_eq!(state.pushed_total, 1);
        assert!(s.outbound(usize::MAX).unwrap().is_empty(), "b waits");
        assert_eq!(s.refused_docs().unwrap()[0].reason, "no");
        s.record(
            &b,
            crate::EventKind::Comment {
                text: "again".into(),
            },
        )
        .unwrap();
        assert_eq!(
            s.outbound(usize::MAX).unwrap()[0].id,
            b,
            "b changed: try again"
        );
        assert!(s.refused_docs().unwrap().is_empty());
    }

    #[test]
    fn a_reply_names_the_documents_that_got_new_changes() {
        let (_a, a) = store();
        let case = a
            .create_case(NewCase::new(Category::Waste, Urgency::Low, "w", "g"))
            .unwrap();
        let insp = a
            .start_inspection("residential-fire-safety", Site::new("site", "g"), None)
            .unwrap();
        let pulled = |id: &str| crate::sync::wire::PulledDoc {
            id: id.to_string(),
            changes: a
                .changes_since(id, &[])
                .unwrap()
                .into_iter()
                .map(serde_bytes::ByteBuf::from)
                .collect(),
        };
        let reply = SyncResponse {
            v: PROTOCOL_VERSION,
            docs: vec![pulled(&case), pulled(&insp)],
            cursor: "c.1".into(),
            ..SyncResponse::default()
        };
        let (_b, b) = store();
        let applied = b.apply_sync_reply(&[], &reply).unwrap();
        assert_eq!(applied.changed_cases, [case]);
        assert_eq!(applied.changed_inspections, [insp]);
        // The same changes again are nothing new.
        let again = b.apply_sync_reply(&[], &reply).unwrap();
        assert_eq!(again.pulled_docs, 2);
        assert!(again.changed_cases.is_empty() && again.changed_inspections.is_empty());
    }
}
