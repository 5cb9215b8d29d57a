//! The photo store's transactions, written once over the statements each backend provides
//! ([`PhotoTx`]): the rules of an append (ownership, quota, expiry, the completing hash
//! check, the first verified upload winning) and of recording references. A backend holds
//! only its SQL and its locking.

use outpost_core::sync::blobs::{MAX_BLOB_BYTES, MAX_CHUNK_BYTES};
use sha2::{Digest, Sha256};

use super::{Append, Chunk, DocRefs, Photo, READ_PIECE, UploadPolicy, UploadState, end_of};
use crate::storage::{Scope, StoreError};

/// The statements of one backend inside one transaction. `E` is the backend's error, so a
/// lost race stays retryable.
pub(crate) trait PhotoTx {
    type E: From<StoreError>;

    /// Serializes this device's appends (a no-op where writers are serialized anyway).
    fn lock_device(&mut self, device: &str) -> Result<(), Self::E>;
    /// Drops the device's unfinished uploads last touched before `since`.
    fn drop_expired(&mut self, device: &str, since: i64) -> Result<(), Self::E>;
    fn photo(&mut self, hash: &str) -> Result<Option<Photo>, Self::E>;
    /// The device's unfinished upload of `hash` (locked for this transaction), expired or
    /// not.
    fn own_upload(
        &mut self,
        hash: &str,
        device: &str,
    ) -> Result<Option<(i64, UploadState)>, Self::E>;
    /// Bytes held by the device's unfinished uploads touched since `since`.
    fn in_flight(&mut self, device: &str, since: i64) -> Result<u64, Self::E>;
    fn drop_upload(&mut self, id: i64) -> Result<(), Self::E>;
    /// A new unfinished upload; returns its id.
    fn start_upload(&mut self, device: &str, c: &Chunk<'_>, now: i64) -> Result<i64, Self::E>;
    /// Stores a chunk and moves the upload's offset to `end`.
    fn put_chunk(&mut self, id: i64, c: &Chunk<'_>, end: u64, now: i64) -> Result<(), Self::E>;
    /// Feeds the upload's chunks to `v` in offset order, a bounded piece at a time.
    fn hash_chunks(&mut self, id: i64, size: u64, v: &mut Verifier) -> Result<(), Self::E>;
    /// Makes upload `id` the photo unless one exists already (then nothing changes);
    /// returns whether it did.
    fn claim_photo(&mut self, id: i64, now: i64) -> Result<bool, Self::E>;

    fn ref_known(&mut self, hash: &str, doc_id: &str) -> Result<bool, Self::E>;
    /// Whether the photo is stored, or any upload of it is under way.
    fn photo_or_upload(&mut self, hash: &str) -> Result<bool, Self::E>;
    /// Whether a document in `scope` references `hash` with this `proven` flag.
    fn refs_in(&mut self, hash: &str, scope: &Scope, proven: bool) -> Result<bool, Self::E>;
    fn insert_ref(&mut self, hash: &str, doc_id: &str, proven: bool) -> Result<(), Self::E>;
    fn set_doc_keys(&mut self, doc_id: &str, keys: &[String]) -> Result<(), Self::E>;
}

/// Stores `c` in the upload of `device` (see [`super::BlobStore::append`]).
pub(crate) fn append_in<T: PhotoTx>(
    tx: &mut T,
    device: &str,
    c: &Chunk<'_>,
    share: bool,
    now: i64,
    policy: &UploadPolicy,
) -> Result<Append, T::E> {
    let since = policy.expired_before(now);
    tx.lock_device(device)?;
    // This device's expired uploads go first: they no longer count or resume.
    tx.drop_expired(device, since)?;
    let own = tx.own_upload(c.hash, device)?;
    if share && let Some(p) = tx.photo(c.hash)? {
        // Someone finished it: this device's own upload is no longer needed.
        if let Some((id, _)) = own {
            tx.drop_upload(id)?;
        }
        return Ok(Append::Stored {
            received: p.size,
            complete: true,
        });
    }
    let held = tx.in_flight(device, since)?;
    let (plan, end) = plan(own, c, held, policy)?;
    let id = match plan {
        Plan::Refuse(answer) => return Ok(answer),
        Plan::Continue { id } => id,
        Plan::Start { drop } => {
            if let Some(old) = drop {
                tx.drop_upload(old)?;
            }
            tx.start_upload(device, c, now)?
        }
    };
    tx.put_chunk(id, c, end, now)?;
    if end < c.size {
        return Ok(Append::Stored {
            received: end,
            complete: false,
        });
    }
    // The last chunk: hash the whole upload in this transaction.
    let mut v = Verifier::new();
    tx.hash_chunks(id, c.size, &mut v)?;
    if !v.matches(c.size, c.hash)? {
        tx.drop_upload(id)?;
        return Ok(Append::HashMismatch);
    }
    if !tx.claim_photo(id, now)? {
        // Another upload won (or this was a proof): the bytes are stored already.
        tx.drop_upload(id)?;
    }
    Ok(Append::Stored {
        received: end,
        complete: true,
    })
}

/// Records the references of one document (see [`super::BlobStore::set_refs`]).
pub(crate) fn set_refs_in<T: PhotoTx>(
    tx: &mut T,
    docs: &[DocRefs],
    pusher: &Scope,
) -> Result<(), T::E> {
    for (doc_id, hashes, keys) in docs {
        for h in hashes {
            if tx.ref_known(h, doc_id)? {
                continue;
            }
            // The first reference comes before the upload (documents go first); a later one
            // by someone who can see the photo already is as good.
            let proven = !tx.photo_or_upload(h)? || tx.refs_in(h, pusher, true)?;
            tx.insert_ref(h, doc_id, proven)?;
        }
        tx.set_doc_keys(doc_id, keys)?;
    }
    Ok(())
}

/// What a backend does with a chunk, decided once for every backend by [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Answer this and store nothing.
    Refuse(Append),
    /// Start the device's upload (dropping its older one of another size, `drop`).
    Start { drop: Option<i64> },
    /// Append to the device's upload `id`.
    Continue { id: i64 },
}

/// The rules of one append, given the device's own unfinished upload of the photo (its
/// row id and state) and the bytes its unfinished uploads hold (`in_flight`, that one
/// included). Returns the plan and the chunk's end. A chunk whose numbers are out of bounds
/// is an error: [`super::ChunkRequest::parse`] refuses such requests before they get here.
pub(crate) fn plan(
    own: Option<(i64, UploadState)>,
    c: &Chunk<'_>,
    in_flight: u64,
    policy: &UploadPolicy,
) -> Result<(Plan, u64), StoreError> {
    let end = end_of(c.offset, c.bytes.len())
        .filter(|&e| {
            e <= c.size
                && c.size <= MAX_BLOB_BYTES
                && !c.bytes.is_empty()
                && c.bytes.len() <= MAX_CHUNK_BYTES
        })
        .ok_or_else(|| {
            StoreError::Invalid(format!(
                "chunk {}+{} of a photo of {} bytes is out of bounds",
                c.offset,
                c.bytes.len(),
                c.size
            ))
        })?;
    let (plan, held) = match own {
        // The device changed its mind about the size: it may start over, nothing else.
        Some((id, u)) if u.size != c.size => {
            if c.offset != 0 {
                return Ok((Plan::Refuse(Append::SizeMismatch { size: u.size }), end));
            }
            (
                Plan::Start { drop: Some(id) },
                in_flight.saturating_sub(u.received),
            )
        }
        Some((_, u)) if c.offset != u.received => {
            let refuse = Append::OffsetMismatch {
                received: u.received,
            };
            return Ok((Plan::Refuse(refuse), end));
        }
        Some((id, _)) => (Plan::Continue { id }, in_flight),
        None if c.offset != 0 => {
            return Ok((Plan::Refuse(Append::OffsetMismatch { received: 0 }), end));
        }
        None => (Plan::Start { drop: None }, in_flight),
    };
    // The chunk that completes an upload is always taken: its bytes leave the count in the
    // same transaction (they become the photo or are dropped), so a full quota never keeps
    // a device from finishing what it started.
    let len = c.bytes.len() as u64;
    if end < c.size && held.saturating_add(len) > policy.quota_bytes {
        let refuse = Append::OverQuota {
            in_flight: held,
            quota: policy.quota_bytes,
        };
        return Ok((Plan::Refuse(refuse), end));
    }
    Ok((plan, end))
}

/// Hashes an upload's chunks as a backend reads them in offset order, checking that they
/// follow each other without gap or overlap.
pub(crate) struct Verifier {
    hasher: Sha256,
    next: u64,
}

impl Verifier {
    pub(crate) fn new() -> Verifier {
        Verifier {
            hasher: Sha256::new(),
            next: 0,
        }
    }

    /// Where the next chunk must start.
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    pub(crate) fn feed(&mut self, offset: u64, bytes: &[u8]) -> Result<(), StoreError> {
        if offset != self.next {
            return Err(StoreError::Corrupt(format!(
                "photo upload has a chunk at {offset}, expected {}",
                self.next
            )));
        }
        self.next = end_of(offset, bytes.len())
            .ok_or_else(|| StoreError::Corrupt("photo chunk past u64::MAX".into()))?;
        self.hasher.update(bytes);
        Ok(())
    }

    /// Whether the chunks fed make `size` bytes hashing to `hash`.
    pub(crate) fn matches(self, size: u64, hash: &str) -> Result<bool, StoreError> {
        if self.next != size {
            return Err(StoreError::Corrupt(format!(
                "photo upload holds {} of its {size} bytes",
                self.next
            )));
        }
        Ok(hex::encode(self.hasher.finalize()) == hash)
    }
}

/// Cuts bytes `start..end` out of the chunks that overlap them, fed in offset order.
pub(crate) struct Assembler {
    start: u64,
    end: u64,
    out: Vec<u8>,
}

impl Assembler {
    /// Checks the range against the photo's size and [`READ_PIECE`].
    pub(crate) fn new(
        hash: &str,
        start: u64,
        end: u64,
        size: u64,
    ) -> Result<Assembler, StoreError> {
        if start >= end || end > size || end - start > READ_PIECE {
            return Err(StoreError::Invalid(format!(
                "bytes {start}..{end} of photo {hash} ({size} bytes) cannot be read in one piece"
            )));
        }
        Ok(Assembler {
            start,
            end,
            out: Vec::with_capacity((end - start) as usize),
        })
    }

    /// The lowest chunk offset that can overlap the range (chunks are at most 1 MiB).
    pub(crate) fn first_offset(&self) -> u64 {
        self.start.saturating_sub(MAX_CHUNK_BYTES as u64 - 1)
    }

    pub(crate) fn feed(&mut self, at: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let gap = || StoreError::Corrupt("photo has a gap".into());
        let chunk_end = end_of(at, bytes.len()).ok_or_else(gap)?;
        if chunk_end <= self.start || at >= self.end {
            return Ok(());
        }
        let want = self.start + self.out.len() as u64;
        if at > want {
            return Err(gap());
        }
        let from = (want - at) as usize;
        let to = (self.end.min(chunk_end) - at) as usize;
        if from < to {
            self.out.extend_from_slice(&bytes[from..to]);
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<Vec<u8>, StoreError> {
        if self.out.len() as u64 != self.end - self.start {
            return Err(StoreError::Corrupt("photo is short".into()));
        }
        Ok(self.out)
    }
}
