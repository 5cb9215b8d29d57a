//! What sync needs from the store, per document: current heads, changes since given heads,
//! changes from elsewhere applied idempotently and in any order, and the outbox of
//! documents the server has not acknowledged, ready to push.
//!
//! Changes are stored raw (uncompressed Automerge change chunks), as they travel: building
//! a push from a document that was never compacted is a read of its change rows, without
//! loading the document.

use std::collections::{HashMap, HashSet};

use automerge::{Change, ChangeHash};
use rusqlite::params;

use super::{DocKind, Store, decode_heads, encode_heads};
use crate::error::{Error, Result};

/// A document with changes the server has not acknowledged yet.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub id: String,
    pub kind: Option<DocKind>,
    /// 0 life-safety cases, 1 urgent cases, 2 other cases, 3 inspections.
    pub priority: i64,
    pub synced_heads: Vec<ChangeHash>,
}

/// One document's unacknowledged changes, ready to push.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    pub id: String,
    pub priority: i64,
    /// The heads the changes lead to; acknowledged as synced when the server stores them.
    pub heads: Vec<ChangeHash>,
    /// Raw (uncompressed) Automerge change bytes, causal order.
    pub changes: Vec<Vec<u8>>,
}

impl Outbound {
    /// Change bytes this document adds to a push.
    pub fn size(&self) -> usize {
        self.changes.iter().map(Vec::len).sum()
    }
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

    /// Raw changes of `id` that a peer holding `have` lacks, in causal order.
    pub fn changes_since(&self, id: &str, have: &[ChangeHash]) -> Result<Vec<Vec<u8>>> {
        let have = have.to_vec();
        self.read(id, move |_, doc| {
            // Heads the peer names but this device lacks would hide nothing useful:
            // send from the common part only.
            let known: Vec<ChangeHash> = have
                .into_iter()
                .filter(|h| doc.get_change_meta_by_hash(h).is_some())
                .collect();
            Ok(doc
                .get_changes(&known)
                .into_iter()
                .map(|c| c.raw_bytes().to_vec())
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

    /// Documents with changes the server has not acknowledged, most urgent first (life-safety
    /// cases, urgent cases, other cases, inspections), with their changes since the heads the
    /// server acknowledged; at most `max_bytes` of changes (always at least one document).
    /// Documents refused at their current heads are left out.
    pub fn outbound(&self, max_bytes: usize) -> Result<Vec<Outbound>> {
        self.outbound_upto(i64::MAX, max_bytes)
    }

    /// Whether a document of priority `max_priority` or more urgent waits to be pushed (one
    /// refused at its current heads does not).
    pub fn waiting(&self, max_priority: i64) -> Result<bool> {
        self.with_conn(|c| {
            Ok(c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM documents d
                     LEFT JOIN sync_refused r ON r.doc_id = d.id AND r.heads = d.heads
                     WHERE d.heads != d.synced_heads AND d.priority <= ?1 AND r.doc_id IS NULL)",
            )?
            .query_row([max_priority], |r| r.get(0))?)
        })
    }

    /// [`Store::outbound`] limited to documents of priority `max_priority` or more urgent
    /// (0: life-safety cases only).
    pub fn outbound_upto(&self, max_priority: i64, max_bytes: usize) -> Result<Vec<Outbound>> {
        self.with_loader(|c, load| {
            let mut stmt = c.prepare_cached(
                "SELECT d.id, d.priority, d.heads, d.synced_heads, length(d.snapshot) = 0
                 FROM documents d LEFT JOIN sync_refused r ON r.doc_id = d.id AND r.heads = d.heads
                 WHERE d.heads != d.synced_heads AND d.priority <= ?1 AND r.doc_id IS NULL
                 ORDER BY d.priority, d.updated_at, d.id",
            )?;
            let mut rows = stmt.query([max_priority])?;
            let mut out = Vec::new();
            let mut bytes = 0usize;
            while let Some(r) = rows.next()? {
                let id: String = r.get(0)?;
                let heads = decode_heads(&r.get::<_, Vec<u8>>(2)?)?;
                let synced = decode_heads(&r.get::<_, Vec<u8>>(3)?)?;
                let changes = match r.get::<_, bool>(4)? {
                    true => unsent_rows(c, &id, &heads, &synced)?,
                    false => None,
                };
                let changes = match changes {
                    Some(ch) => ch,
                    None => unsent_loaded(load, &id, &synced)?,
                };
                let size: usize = changes.iter().map(Vec::len).sum();
                if !out.is_empty() && bytes + size > max_bytes {
                    break;
                }
                bytes += size;
                out.push(Outbound {
                    id,
                    priority: r.get(1)?,
                    heads,
                    changes,
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

/// The changes of a never-compacted document (every change is a row) after `synced`, read
/// from its rows without loading the document. `None` when the rows cannot tell — a stored
/// compressed change (older stores), a dependency that is not a row — and the document
/// must be loaded instead.
fn unsent_rows(
    c: &rusqlite::Connection,
    id: &str,
    heads: &[ChangeHash],
    synced: &[ChangeHash],
) -> Result<Option<Vec<Vec<u8>>>> {
    let mut stmt =
        c.prepare_cached("SELECT hash, bytes FROM changes WHERE doc_id = ?1 ORDER BY seq")?;
    let mut rows = stmt.query([id])?;
    let mut order = Vec::new();
    let mut by_hash: HashMap<ChangeHash, (Vec<ChangeHash>, Vec<u8>)> = HashMap::new();
    while let Some(r) = rows.next()? {
        let hash = r.get::<_, Vec<u8>>(0)?;
        let Ok(hash) = ChangeHash::try_from(hash.as_slice()) else {
            return Ok(None);
        };
        let bytes: Vec<u8> = r.get(1)?;
        let Some(deps) = raw_change_deps(&bytes) else {
            return Ok(None);
        };
        order.push(hash);
        by_hash.insert(hash, (deps, bytes));
    }
    // Everything the heads reach (a change still waiting for its dependencies is not
    // reached, and stays), minus everything the server's heads reach.
    let reach = |from: &[ChangeHash]| -> Option<HashSet<ChangeHash>> {
        let mut seen = HashSet::new();
        let mut todo: Vec<ChangeHash> = from.to_vec();
        while let Some(h) = todo.pop() {
            if seen.insert(h) {
                todo.extend(by_hash.get(&h)?.0.iter().copied());
            }
        }
        Some(seen)
    };
    let (Some(mut wanted), Some(acked)) = (reach(heads), reach(synced)) else {
        return Ok(None);
    };
    wanted.retain(|h| !acked.contains(h));
    // Rows are in the order they were stored, which is causal unless a change arrived
    // before its dependencies: emit each once what it depends on is out.
    let mut left: Vec<ChangeHash> = order.into_iter().filter(|h| wanted.contains(h)).collect();
    let mut done = HashSet::new();
    let mut sorted = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let before = left.len();
        let mut rest = Vec::new();
        for h in left {
            let ready = by_hash[&h]
                .0
                .iter()
                .all(|d| done.contains(d) || !wanted.contains(d));
            if ready {
                done.insert(h);
                sorted.push(h);
            } else {
                rest.push(h);
            }
        }
        if rest.len() == before {
            return Ok(None);
        }
        left = rest;
    }
    Ok(Some(
        sorted
            .into_iter()
            .filter_map(|h| by_hash.remove(&h).map(|(_, bytes)| bytes))
            .collect(),
    ))
}

/// The changes of a loaded document after `synced`, raw, in causal order.
fn unsent_loaded(
    load: &dyn Fn(&str) -> Result<Option<automerge::AutoCommit>>,
    id: &str,
    synced: &[ChangeHash],
) -> Result<Vec<Vec<u8>>> {
    let Some(mut doc) = load(id)? else {
        return Ok(Vec::new());
    };
    let known: Vec<ChangeHash> = synced
        .iter()
        .filter(|h| doc.get_change_meta_by_hash(h).is_some())
        .copied()
        .collect();
    Ok(doc
        .get_changes(&known)
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect())
}

/// The dependencies named in a raw Automerge change chunk's header: magic bytes (4),
/// checksum (4), chunk type (1 = change), LEB128 length, then the dependency count and
/// that many 32-byte hashes. `None` for anything else (a compressed change, a document).
pub(crate) fn raw_change_deps(bytes: &[u8]) -> Option<Vec<ChangeHash>> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    if bytes.get(..4)? != MAGIC || *bytes.get(8)? != 1 {
        return None;
    }
    let mut at = 9;
    let len = uleb128(bytes, &mut at)?;
    let body = bytes.get(at..at.checked_add(usize::try_from(len).ok()?)?)?;
    let mut at = 0;
    let n = usize::try_from(uleb128(body, &mut at)?).ok()?;
    let hashes = body.get(at..at.checked_add(n.checked_mul(32)?)?)?;
    hashes
        .chunks(32)
        .map(|h| ChangeHash::try_from(h).ok())
        .collect()
}

fn uleb128(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Category, EventKind, Member, NewCase, Role, Urgency};

    #[test]
    fn dependencies_read_from_a_raw_change_match_automerge() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path().join("s.db")).unwrap();
        s.set_member(&Member::new("m", "M", Role::GridMember, ["g"]))
            .unwrap();
        let id = s
            .create_case(NewCase::new(Category::Waste, Urgency::Low, "w", "g"))
            .unwrap();
        s.record(&id, EventKind::Comment { text: "x".into() })
            .unwrap();
        let raw = s.changes_since(&id, &[]).unwrap();
        assert_eq!(raw.len(), 2);
        for bytes in &raw {
            let c = Change::try_from(bytes.as_slice()).unwrap();
            assert_eq!(raw_change_deps(bytes).unwrap(), c.deps());
        }
        assert!(raw_change_deps(&raw[0][..20]).is_none());
        assert!(raw_change_deps(b"not a change").is_none());
        // Built from the rows, the push is what the loaded document gives.
        let heads = s.heads(&id).unwrap();
        let from_rows = s
            .with_conn(|c| unsent_rows(c, &id, &heads, &[]))
            .unwrap()
            .unwrap();
        assert_eq!(from_rows, raw);
        let first = Change::try_from(raw[0].as_slice()).unwrap().hash();
        let after_first = s
            .with_conn(|c| unsent_rows(c, &id, &heads, &[first]))
            .unwrap()
            .unwrap();
        assert_eq!(after_first, raw[1..]);
        assert_eq!(s.outbound(usize::MAX).unwrap()[0].changes, raw);
    }

    #[test]
    fn changes_are_stored_raw_with_their_time_in_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let ms = 1_764_000_000_123;
        let clock = std::sync::Arc::new(crate::FixedClock::new(ms));
        let s = Store::open_with_clock(dir.path().join("s.db"), clock).unwrap();
        s.set_member(&Member::new("m", "M", Role::GridMember, ["g"]))
            .unwrap();
        let id = s
            .create_case(NewCase::new(Category::Waste, Urgency::Low, "w", "g"))
            .unwrap();
        let rows: Vec<Vec<u8>> = s
            .with_conn(|c| {
                let mut st = c.prepare("SELECT bytes FROM changes WHERE doc_id = ?1")?;
                let rows = st
                    .query_map([&id], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(rows)
            })
            .unwrap();
        assert_eq!(rows.len(), 1);
        // Chunk type 1: a raw change, not a DEFLATE-compressed one (2).
        assert_eq!(rows[0][8], 1);
        let c = Change::try_from(rows[0].as_slice()).unwrap();
        assert_eq!(c.timestamp(), ms / 1000);
    }
}
