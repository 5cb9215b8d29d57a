//! What sync needs from the store, per document: current heads, changes since given heads,
//! changes from elsewhere applied idempotently and in any order, and the outbox of
//! documents the server has not acknowledged.

use automerge::{Change, ChangeHash};
use rusqlite::params;

use super::{DocKind, Store, decode_heads, encode_heads};
use crate::error::{Error, Result};

/// A document with changes the server has not acknowledged yet.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub id: String,
    pub kind: Option<DocKind>,
    /// 0 life-safety cases, 1 other cases, 2 inspections.
    pub priority: i64,
    pub synced_heads: Vec<ChangeHash>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApplyReport {
    pub documents: usize,
    /// Changes stored for the first time (repeats are skipped).
    pub new_changes: usize,
}

impl Store {
    /// The heads this device has for a document (empty if it has none).
    pub fn heads(&self, id: &str) -> Result<Vec<ChangeHash>> {
        self.with_conn(|c| {
            let h: Option<Vec<u8>> = rusqlite::OptionalExtension::optional(c.query_row(
                "SELECT heads FROM documents WHERE id = ?1",
                [id],
                |r| r.get(0),
            ))?;
            h.map(|h| decode_heads(&h)).unwrap_or(Ok(Vec::new()))
        })
    }

    /// Encoded changes of `id` that a peer holding `have` lacks, in causal order.
    pub fn changes_since(&self, id: &str, have: &[ChangeHash]) -> Result<Vec<Vec<u8>>> {
        let have = have.to_vec();
        self.read(id, move |_, doc| {
            // Heads the peer names but this device lacks would hide nothing useful:
            // send from the common part only.
            let known: Vec<ChangeHash> = have
                .into_iter()
                .filter(|h| doc.get_change_by_hash(h).is_some())
                .collect();
            Ok(doc
                .get_changes(&known)
                .into_iter()
                .map(|mut c| c.bytes().into_owned())
                .collect())
        })
    }

    /// Applies changes received from elsewhere, for many documents, in one transaction.
    /// Undecodable changes or a document that no longer reads as its schema reject the
    /// whole batch and leave the store as it was.
    pub fn apply_remote(&self, batch: &[(String, Vec<Vec<u8>>)]) -> Result<ApplyReport> {
        let mut decoded = Vec::with_capacity(batch.len());
        for (id, raw) in batch {
            let changes = raw
                .iter()
                .map(|b| {
                    Change::from_bytes(b.clone()).map_err(|e| Error::BadChange {
                        id: id.clone(),
                        reason: e.to_string(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            decoded.push((id.clone(), changes));
        }
        self.write(|t| {
            let mut report = ApplyReport::default();
            for (id, changes) in decoded {
                report.new_changes += t.apply_remote(&id, changes)?;
                report.documents += 1;
            }
            Ok(report)
        })
    }

    /// Documents whose heads the server has not acknowledged, life-safety first.
    pub fn outbox(&self, limit: i64) -> Result<Vec<OutboxEntry>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, kind, priority, synced_heads FROM documents WHERE heads != synced_heads
                 ORDER BY priority, updated_at, id LIMIT ?1",
            )?;
            let mut rows = stmt.query([limit])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(OutboxEntry {
                    id: r.get(0)?,
                    kind: r
                        .get::<_, Option<String>>(1)?
                        .as_deref()
                        .and_then(DocKind::parse),
                    priority: r.get(2)?,
                    synced_heads: decode_heads(&r.get::<_, Vec<u8>>(3)?)?,
                });
            }
            Ok(out)
        })
    }

    /// Records that the server holds `heads` of `id`.
    pub fn mark_synced(&self, id: &str, heads: &[ChangeHash]) -> Result<()> {
        self.with_conn(|c| {
            c.execute(
                "UPDATE documents SET synced_heads = ?2 WHERE id = ?1",
                params![id, encode_heads(heads)],
            )?;
            Ok(())
        })
    }

    /// Ids of every document this device holds.
    pub fn document_ids(&self) -> Result<Vec<String>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare("SELECT id FROM documents ORDER BY id")?;
            let ids = stmt
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(ids)
        })
    }
}
