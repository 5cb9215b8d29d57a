//! Bytes from outside, judged before automerge sees them.
//!
//! Phones are untrusted peers, and automerge's decoders trust their input: they inflate a
//! compressed change chunk with no limit, expand run-length columns to whatever length the
//! bytes claim, and panic at several places on crafted input. This module reads Automerge's
//! binary chunk format just far enough to decide whether bytes are safe to hand to automerge,
//! **without expanding anything**: run-length columns are walked by adding up their run
//! lengths, never materialised; every count is checked against a limit as soon as it is
//! read; DEFLATE-compressed document columns are inflated through a size-capped reader. Work
//! and memory are linear in the input's size, whatever the input claims.
//!
//! Then [`guard`] runs automerge's own decoding so that a panic it still reaches becomes a
//! typed [`Malformed`] error instead of unwinding into the caller.
//!
//! Entry points: [`decode_change`] for a change a device pushed (inspect, then decode under
//! the guard), [`load_document`] for a saved document (a stored snapshot or one received),
//! and the inspections themselves, [`inspect_change`] and [`inspect_document`], when only
//! the figures are needed.
//!
//! # The format, as read here
//!
//! Written from automerge's binary format specification and its `storage` module.
//!
//! * **Chunk**: magic bytes `85 6f 4a 83`, a 4-byte checksum (the first bytes of the SHA-256
//!   of everything after it but the length's own position: the type byte, the uLEB length
//!   and the body), a type byte (0 document, 1 change, 2 compressed change, 3 bundle), the
//!   body's length as uLEB128, the body.
//! * **Numbers** are LEB128, unsigned (uLEB) or signed (sLEB). Accepted only in canonical
//!   form: at most 10 bytes, no redundant high bytes, nothing past 64 bits.
//! * **Change body**: dependency count and that many 32-byte hashes; the actor (uLEB length,
//!   bytes); seq (uLEB); start op (uLEB, not 0); time (sLEB); message (uLEB length, UTF-8);
//!   other actors (count, then each length-prefixed); column metadata (count, then pairs of
//!   uLEB column spec and uLEB byte length); the column data, each column's bytes after the
//!   other's; any remaining bytes are automerge's "extra bytes".
//! * **Column spec**: `id << 4 | deflate << 3 | type`, type 0 group, 1 actor, 2 integer,
//!   3 delta integer, 4 boolean, 5 string, 6 value metadata, 7 raw value. Specs come in
//!   ascending order, each at most once.
//! * **Run-length columns** (actor, integer, delta, string, value metadata, group): a run
//!   starts with an sLEB `n`: `n > 0` repeats the one value that follows `n` times; `n < 0`
//!   is a literal run of `-n` values that follow; `n = 0` is a run of nulls whose length
//!   follows as uLEB. Values are uLEB (actor, integer, group, value metadata), sLEB deltas
//!   (delta columns, added to a running total), or a uLEB length and that many bytes of UTF-8
//!   (strings).
//! * **Boolean columns**: uLEB run lengths of alternating values, starting with `false` (so a
//!   column that starts with `true` starts with a run of 0).
//! * **Value columns**: the metadata column holds one uLEB per row, `length << 4 | type`
//!   (0 null, 1 false, 2 true, 3 uLEB, 4 sLEB, 5 float64, 6 string, 7 bytes, 8 counter,
//!   9 timestamp); the raw column right after it holds the values' bytes, end to end.
//! * **Group columns**: a run-length column of counts; the columns with the same id that
//!   follow it have, between them, as many rows as the counts add up to (an op's
//!   predecessors, a change's dependencies).
//! * **Document body**: actors (count, each length-prefixed); heads (count, 32-byte hashes);
//!   the change columns' metadata; the op columns' metadata; the change columns' data; the op
//!   columns' data; optionally one uLEB per head, its index among the changes. Document
//!   columns may be DEFLATE-compressed (the deflate bit of their spec).
//!
//! A column automerge omits holds no rows (automerge leaves out columns whose every value
//! is null or false); any other column must have exactly as many rows as its table.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use automerge::{ActorId, AutoCommit, Change, ChangeHash};
use sha2::{Digest, Sha256};

/// The first four bytes of every Automerge chunk.
pub const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Longest actor id accepted. Core's devices use 16-byte (UUID) actors.
pub const MAX_ACTOR_BYTES: u64 = 64;

/// Most column entries a table may declare (automerge writes at most 16).
const MAX_COLUMNS: u64 = 64;

const DOCUMENT_CHUNK: u8 = 0;
const CHANGE_CHUNK: u8 = 1;
const COMPRESSED_CHUNK: u8 = 2;
const DEFLATE_BIT: u64 = 0b1000;

/// Highest op counter automerge accepts (it keeps counters in 32 bits).
const MAX_COUNTER: i128 = u32::MAX as i128;
/// Highest op action automerge knows (make map, put, make list, delete, make text,
/// increment, make table, mark).
const MAX_ACTION: i128 = 7;

/// What one pushed change may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeLimits {
    /// Bytes of the whole change chunk. Default 256 KiB: a change core makes for one user
    /// action is well under 10 KiB; the largest (a new inspection embedding its template,
    /// a long description) stay far below the default.
    pub max_bytes: usize,
    /// Operations in the change. Default 10,000: core's largest actions write a few hundred.
    pub max_ops: u64,
    /// Predecessor entries over all ops (an op overwriting or deleting lists the ops it
    /// replaces; concurrent values give several). Default 40,000.
    pub max_preds: u64,
    /// Changes this one depends on (the heads its author had). Default 256.
    pub max_deps: u64,
    /// Actors besides the author that the ops refer to. Default 1,024.
    pub max_other_actors: u64,
    /// Bytes of the commit message (core writes none). Default 4 KiB.
    pub max_message_bytes: u64,
    /// Bytes after the columns that automerge keeps as "extra bytes". Default 1 KiB.
    pub max_extra_bytes: u64,
}

impl Default for ChangeLimits {
    fn default() -> Self {
        ChangeLimits {
            max_bytes: 256 * 1024,
            max_ops: 10_000,
            max_preds: 40_000,
            max_deps: 256,
            max_other_actors: 1_024,
            max_message_bytes: 4 * 1024,
            max_extra_bytes: 1024,
        }
    }
}

/// What one saved document may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocLimits {
    /// Bytes of the document chunk as stored or received. Default 16 MiB.
    pub max_bytes: usize,
    /// Bytes of all its columns once compressed ones are inflated. Default 64 MiB.
    pub max_inflated_bytes: u64,
    /// Operations. Default 500,000 (a case that lived through hundreds of edits has a few
    /// thousand).
    pub max_ops: u64,
    /// Successor entries over all ops (one per overwrite or delete). Default 2,000,000.
    pub max_succs: u64,
    /// Changes in its history. Default 100,000.
    pub max_changes: u64,
    /// Dependency entries over all changes. Default 1,000,000.
    pub max_deps: u64,
    /// Distinct actors (devices) that wrote it. Default 10,000.
    pub max_actors: u64,
    /// Heads. Default 1,024.
    pub max_heads: u64,
}

impl Default for DocLimits {
    fn default() -> Self {
        DocLimits {
            max_bytes: 16 * 1024 * 1024,
            max_inflated_bytes: 64 * 1024 * 1024,
            max_ops: 500_000,
            max_succs: 2_000_000,
            max_changes: 100_000,
            max_deps: 1_000_000,
            max_actors: 10_000,
            max_heads: 1_024,
        }
    }
}

/// What the server needs to know of a change that passed inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeInfo {
    /// The change's hash (SHA-256 of its type, length and body), as automerge computes it.
    pub hash: ChangeHash,
    /// The author.
    pub actor: ActorId,
    pub seq: u64,
    pub start_op: u64,
    /// Milliseconds since the epoch, as the author's clock said.
    pub time: i64,
    pub ops: u64,
    /// How many changes it depends on.
    pub deps: u64,
    pub other_actors: u64,
    /// Size of the chunk.
    pub bytes: usize,
}

/// What a document that passed inspection holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocInfo {
    pub actors: u64,
    pub heads: u64,
    pub changes: u64,
    pub ops: u64,
    /// Size of the chunk.
    pub bytes: usize,
    /// Size of its columns once inflated.
    pub inflated_bytes: u64,
}

/// Why bytes were refused. The message names the cause, for logs and for the person whose
/// device sent them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// A count over its limit, e.g. "change has 2,000,000 ops; the limit is 10,000".
    #[error("{subject} has {} {unit}; the limit is {}", Num(*.count), Num(*.limit))]
    OverLimit {
        subject: String,
        count: u64,
        unit: &'static str,
        limit: u64,
    },
    #[error("the bytes are not an Automerge chunk (wrong magic bytes)")]
    NotAutomerge,
    #[error("compressed change chunks are not accepted")]
    CompressedChange,
    #[error("expected {expected}, found {}", chunk_name(*.found))]
    WrongChunk { expected: &'static str, found: u8 },
    /// The bytes end before the named part is complete.
    #[error("the bytes end inside the {0}")]
    Truncated(&'static str),
    #[error("{} bytes follow the end of the chunk", Num(*.0))]
    Trailing(u64),
    #[error("the checksum does not match the chunk's contents")]
    Checksum,
    /// A number longer than 64 bits or not in its shortest form.
    #[error("the {0} is not a canonical LEB128 number")]
    Leb(&'static str),
    #[error("the {0} is not valid UTF-8")]
    Utf8(&'static str),
    #[error("deflated columns are not accepted in changes")]
    DeflatedColumn,
    #[error("column spec {0:#x} is not one automerge writes in a {1}")]
    UnknownColumn(u64, &'static str),
    #[error("column spec {0:#x} is out of order or repeated")]
    ColumnOrder(u64),
    /// A column with another number of rows than its table.
    #[error("column {column} has {} rows where {reference} has {}", Num(*.rows), Num(*.expected))]
    RowMismatch {
        column: &'static str,
        rows: u64,
        reference: &'static str,
        expected: u64,
    },
    /// Grouped columns with another number of rows than their group's counts add up to.
    #[error("column {column} has {} rows but the counts in {group} add up to {}", Num(*.rows), Num(*.sum))]
    GroupMismatch {
        column: &'static str,
        rows: u64,
        group: &'static str,
        sum: u64,
    },
    /// Anything else wrong inside a column.
    #[error("column {column}: {problem}")]
    Column {
        column: &'static str,
        problem: String,
    },
    /// Anything else wrong outside the columns.
    #[error("{0}")]
    Invalid(String),
    #[error("a compressed column does not inflate: {0}")]
    Inflate(String),
    /// automerge panicked on bytes that passed inspection; [`guard`] caught it.
    #[error("{what} panicked: {message}")]
    Panicked { what: String, message: String },
    /// automerge returned an error on bytes that passed inspection.
    #[error("automerge refused the {what}: {reason}")]
    Refused { what: String, reason: String },
}

/// A count with thousands separators.
struct Num(u64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, d) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(d);
        }
        f.write_str(&out)
    }
}

fn chunk_name(kind: u8) -> String {
    match kind {
        DOCUMENT_CHUNK => "a document chunk".into(),
        CHANGE_CHUNK => "a change chunk".into(),
        COMPRESSED_CHUNK => "a compressed change chunk".into(),
        3 => "a bundle chunk".into(),
        other => format!("unknown chunk type {other}"),
    }
}

fn over(subject: impl Into<String>, count: u64, unit: &'static str, limit: u64) -> Malformed {
    Malformed::OverLimit {
        subject: subject.into(),
        count,
        unit,
        limit,
    }
}

/// Checks that `bytes` are one raw change chunk within `limits`, without decoding its ops.
pub fn inspect_change(bytes: &[u8], limits: &ChangeLimits) -> Result<ChangeInfo, Malformed> {
    if bytes.len() > limits.max_bytes {
        return Err(over(
            "change",
            bytes.len() as u64,
            "bytes",
            limits.max_bytes as u64,
        ));
    }
    let chunk = read_chunk(bytes)?;
    match chunk.kind {
        CHANGE_CHUNK => {}
        // Its checksum covers the inflated bytes: nothing can be checked without inflating.
        COMPRESSED_CHUNK => return Err(Malformed::CompressedChange),
        found => {
            return Err(Malformed::WrongChunk {
                expected: "a change chunk",
                found,
            });
        }
    }
    let hash = chunk.verify()?;
    let mut r = Reader::new(chunk.body);

    let deps = r.uleb("dependency count")?;
    if deps > limits.max_deps {
        return Err(over("change", deps, "dependencies", limits.max_deps));
    }
    r.take(deps.saturating_mul(32), "dependencies")?;
    let actor = read_actor(&mut r)?;
    let seq = r.uleb("sequence number")?;
    let start_op = r.uleb("start op")?;
    if start_op == 0 {
        return Err(Malformed::Invalid("the change's start op is 0".into()));
    }
    let time = r.sleb("timestamp")?;
    let message_len = r.uleb("message length")?;
    if message_len > limits.max_message_bytes {
        return Err(over(
            "the change's message",
            message_len,
            "bytes",
            limits.max_message_bytes,
        ));
    }
    let message = r.take(message_len, "message")?;
    if std::str::from_utf8(message).is_err() {
        return Err(Malformed::Utf8("message"));
    }
    let other_actors = r.uleb("other actor count")?;
    if other_actors > limits.max_other_actors {
        return Err(over(
            "change",
            other_actors,
            "other actors",
            limits.max_other_actors,
        ));
    }
    // automerge lists each other actor once, never the author: a change that does
    // otherwise applies, then makes the document panic when it rebuilds its changes.
    let mut others = Vec::with_capacity(other_actors as usize);
    for _ in 0..other_actors {
        let other = read_actor(&mut r)?;
        if other == actor || others.contains(&other) {
            return Err(Malformed::Invalid(format!(
                "actor {} is listed twice in the change",
                other.to_hex_string()
            )));
        }
        others.push(other);
    }
    let meta = read_column_meta(&mut r, "change")?;
    let data = r.take(columns_len(&meta)?, "column data")?;
    let extra = r.remaining() as u64;
    if extra > limits.max_extra_bytes {
        return Err(over(
            "the change's extra bytes",
            extra,
            "bytes",
            limits.max_extra_bytes,
        ));
    }

    let slots = lay_out(CHANGE_OPS, &meta, data, "change", false)?;
    let slots: Vec<Option<&[u8]>> = slots.iter().map(|s| s.map(|(b, _)| b)).collect();
    let table = check_table(
        CHANGE_OPS,
        &slots,
        &TableLimits {
            subject: "change",
            rows: limits.max_ops,
            grouped: limits.max_preds,
            actors: 1 + other_actors,
            changes: 0,
        },
    )?;
    let ops = table.rows;
    // automerge keeps op counters in 32 bits.
    let last_op = u128::from(start_op) + u128::from(ops.max(1)) - 1;
    if last_op > u32::MAX as u128 {
        return Err(Malformed::Invalid(format!(
            "the change's op counters run past {}",
            Num(u32::MAX as u64)
        )));
    }
    Ok(ChangeInfo {
        hash,
        actor,
        seq,
        start_op,
        time,
        ops,
        deps,
        other_actors,
        bytes: bytes.len(),
    })
}

/// Checks that `bytes` are one document chunk, as `AutoCommit::save` writes it, within
/// `limits`. Compressed columns are inflated (at most `max_inflated_bytes` in all) and
/// walked like the others; nothing is expanded.
pub fn inspect_document(bytes: &[u8], limits: &DocLimits) -> Result<DocInfo, Malformed> {
    if bytes.len() > limits.max_bytes {
        return Err(over(
            "document",
            bytes.len() as u64,
            "bytes",
            limits.max_bytes as u64,
        ));
    }
    let chunk = read_chunk(bytes)?;
    if chunk.kind != DOCUMENT_CHUNK {
        return Err(Malformed::WrongChunk {
            expected: "a document chunk",
            found: chunk.kind,
        });
    }
    chunk.verify()?;
    let mut r = Reader::new(chunk.body);

    let actors = r.uleb("actor count")?;
    if actors > limits.max_actors {
        return Err(over("document", actors, "actors", limits.max_actors));
    }
    for _ in 0..actors {
        read_actor(&mut r)?;
    }
    let heads = r.uleb("head count")?;
    if heads > limits.max_heads {
        return Err(over("document", heads, "heads", limits.max_heads));
    }
    r.take(heads.saturating_mul(32), "heads")?;
    let change_meta = read_column_meta(&mut r, "document")?;
    let op_meta = read_column_meta(&mut r, "document")?;
    let change_data = r.take(columns_len(&change_meta)?, "change columns")?;
    let op_data = r.take(columns_len(&op_meta)?, "op columns")?;
    // Head indexes: absent (older writers) or one per head.
    let mut head_indexes = Vec::new();
    if !r.is_empty() {
        for _ in 0..heads {
            head_indexes.push(r.uleb("head index")?);
        }
        if !r.is_empty() {
            return Err(Malformed::Invalid(format!(
                "{} bytes follow the document's head indexes",
                Num(r.remaining() as u64)
            )));
        }
    }

    let mut budget = Budget {
        subject: "document",
        left: limits.max_inflated_bytes,
        limit: limits.max_inflated_bytes,
    };
    let change_cols = inflate_all(
        lay_out(DOC_CHANGES, &change_meta, change_data, "document", true)?,
        &mut budget,
    )?;
    let op_cols = inflate_all(
        lay_out(DOC_OPS, &op_meta, op_data, "document", true)?,
        &mut budget,
    )?;

    // Change indexes are checked once the number of changes is known: walk once with no
    // bound on them, then check the range the walk saw.
    let changes_table = check_table(
        DOC_CHANGES,
        &borrowed(&change_cols),
        &TableLimits {
            subject: "document",
            rows: limits.max_changes,
            grouped: limits.max_deps,
            actors,
            changes: u64::MAX,
        },
    )?;
    let changes = changes_table.rows;
    if let Some(max) = changes_table.max_change_index
        && max >= i128::from(changes)
    {
        return Err(Malformed::Column {
            column: "deps_index",
            problem: format!("refers to change {max} of a document with {}", Num(changes)),
        });
    }
    for i in head_indexes {
        if i >= changes {
            return Err(Malformed::Invalid(format!(
                "a head index refers to change {} of a document with {}",
                Num(i),
                Num(changes)
            )));
        }
    }
    let ops_table = check_table(
        DOC_OPS,
        &borrowed(&op_cols),
        &TableLimits {
            subject: "document",
            rows: limits.max_ops,
            grouped: limits.max_succs,
            actors,
            changes,
        },
    )?;
    Ok(DocInfo {
        actors,
        heads,
        changes,
        ops: ops_table.rows,
        bytes: bytes.len(),
        inflated_bytes: limits.max_inflated_bytes - budget.left,
    })
}

/// Inspects a pushed change, then decodes it with automerge under [`guard`].
pub fn decode_change(bytes: &[u8], limits: &ChangeLimits) -> Result<Change, Malformed> {
    let info = inspect_change(bytes, limits)?;
    let change = guard("decoding a change", || Change::try_from(bytes))?.map_err(|e| {
        Malformed::Refused {
            what: "change".into(),
            reason: e.to_string(),
        }
    })?;
    // Both read the same bytes; if they disagree, the inspection's model is wrong and its
    // bounds cannot be trusted for this input.
    if change.len() as u64 != info.ops || change.hash() != info.hash {
        return Err(Malformed::Refused {
            what: "change".into(),
            reason: format!(
                "automerge reads {} ops where the inspection counted {}",
                Num(change.len() as u64),
                Num(info.ops)
            ),
        });
    }
    Ok(change)
}

/// Decodes a change a phone pulls from the server: as [`decode_change`] does, except that a
/// compressed chunk is accepted too, because a server may hold changes pushed before
/// devices sent raw ones. A compressed chunk is inflated to at most `limits.max_bytes`
/// (never more is read), its checksum checked against what it inflates to, and the raw
/// chunk it stands for is then inspected and decoded as a pushed one.
pub fn decode_received_change(bytes: &[u8], limits: &ChangeLimits) -> Result<Change, Malformed> {
    let chunk = read_chunk(bytes)?;
    if chunk.kind != COMPRESSED_CHUNK {
        return decode_change(bytes, limits);
    }
    // Memory is bounded here; `decode_change` then holds the sealed chunk to the limit.
    let body = Budget {
        subject: "compressed change",
        left: limits.max_bytes as u64,
        limit: limits.max_bytes as u64,
    }
    .inflate(chunk.body)?;
    let raw = seal_chunk(CHANGE_CHUNK, &body);
    if raw[4..8] != chunk.checksum {
        return Err(Malformed::Checksum);
    }
    decode_change(&raw, limits)
}

/// Inspects a saved document, loads it with automerge under [`guard`], and has automerge
/// give back every change of it, also under the guard.
///
/// The last step costs about as much as the load. It is there because automerge loads
/// some documents whose columns are well formed but whose meaning is not (a change
/// claiming ops the document does not hold), and then panics on the first call that
/// rebuilds changes from them (`get_changes`, `fork_at`, sync): such a document is refused
/// here, once, instead of panicking wherever it is used next.
pub fn load_document(bytes: &[u8], limits: &DocLimits) -> Result<AutoCommit, Malformed> {
    let info = inspect_document(bytes, limits)?;
    let refused = |e: &dyn fmt::Display| Malformed::Refused {
        what: "document".into(),
        reason: e.to_string(),
    };
    let mut doc =
        guard("loading a document", || AutoCommit::load(bytes))?.map_err(|e| refused(&e))?;
    let changes = guard("reading a loaded document's changes", || {
        doc.get_changes(&[]).len() as u64
    })?;
    if changes != info.changes {
        return Err(refused(&format!(
            "it loads {} changes where the inspection counted {}",
            Num(changes),
            Num(info.changes)
        )));
    }
    Ok(doc)
}

thread_local! {
    /// How many [`guard`] calls this thread is inside.
    static GUARDED: Cell<u32> = const { Cell::new(0) };
    /// The message of the last panic inside a guard on this thread.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

static QUIET_HOOK: Once = Once::new();

/// Runs `f`; a panic inside it becomes [`Malformed::Panicked`] naming `what` and carrying
/// the panic's message and place.
///
/// Panics inside a guard are **not printed**: the first call installs a process-wide panic
/// hook that, on a thread inside a guard, records the message for the error instead, and
/// hands every other panic to the hook that was there before. A hostile peer can trigger
/// these panics at will; printing each (with a backtrace when `RUST_BACKTRACE` is set)
/// would let it flood the server's log and would bury real crashes, while the typed error
/// reaches the caller's one log line per request anyway. A hook set later by someone else
/// replaces this one, and guarded panics print again; nothing else changes.
///
/// Anything `f` mutated may be half-updated after a panic (an automerge document in the
/// middle of applying changes): drop it rather than use it. A panic that aborts (a failed
/// allocation, `panic = "abort"`) is not caught; the workspace builds with `unwind`.
pub fn guard<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, Malformed> {
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(|g| g.get()) > 0 {
                let place = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let message = format!("{}{place}", payload_text(info.payload()));
                CAUGHT.with(|c| *c.borrow_mut() = Some(message));
            } else {
                previous(info);
            }
        }));
    });
    GUARDED.with(|g| g.set(g.get() + 1));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(g.get() - 1));
    outcome.map_err(|payload| {
        let message = CAUGHT
            .with(|c| c.borrow_mut().take())
            .unwrap_or_else(|| payload_text(&*payload));
        Malformed::Panicked {
            what: what.to_string(),
            message,
        }
    })
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Wraps `body` in a chunk header of type `kind` with a valid checksum. For tests, fuzzing
/// and tools that craft chunks; the sync path never needs it.
pub fn seal_chunk(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut typed = vec![kind];
    push_uleb(&mut typed, body.len() as u64);
    let mut hasher = Sha256::new();
    hasher.update(&typed);
    hasher.update(body);
    let hash = hasher.finalize();
    let mut out = Vec::with_capacity(8 + typed.len() + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&hash[..4]);
    out.extend_from_slice(&typed);
    out.extend_from_slice(body);
    out
}

fn push_uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

// ---------------------------------------------------------------------------------------
// Reading

/// A cursor over bytes whose every read is bounds-checked and names what it was reading.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, Malformed> {
        let b = *self.bytes.get(self.pos).ok_or(Malformed::Truncated(what))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], Malformed> {
        if n > self.remaining() as u64 {
            return Err(Malformed::Truncated(what));
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.bytes[start..self.pos])
    }

    /// An unsigned LEB128 in its shortest form, at most 64 bits.
    fn uleb(&mut self, what: &'static str) -> Result<u64, Malformed> {
        let mut value = 0u64;
        for i in 0..10 {
            let b = self.byte(what)?;
            if i == 9 {
                // The tenth byte carries bit 63 only, and must carry it (else it is padding).
                if b != 1 {
                    return Err(Malformed::Leb(what));
                }
                return Ok(value | 1 << 63);
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err(Malformed::Leb(what));
                }
                return Ok(value);
            }
        }
        Err(Malformed::Leb(what))
    }

    /// A signed LEB128 in its shortest form, at most 64 bits.
    fn sleb(&mut self, what: &'static str) -> Result<i64, Malformed> {
        let mut value = 0i64;
        let mut prev = 0u8;
        for i in 0..10 {
            let b = self.byte(what)?;
            let last = b & 0x80 == 0;
            if i == 9 && (!last || (b != 0 && b != 0x7f)) {
                return Err(Malformed::Leb(what));
            }
            // Shifting by 63 keeps the low bit only: the sign of a 10-byte number.
            value |= i64::from(b & 0x7f) << (7 * i);
            if last {
                // A final byte that only repeats the sign of the one before is padding.
                if i > 0 && ((b == 0 && prev & 0x40 == 0) || (b == 0x7f && prev & 0x40 != 0)) {
                    return Err(Malformed::Leb(what));
                }
                if i < 9 && b & 0x40 != 0 {
                    value |= -1i64 << (7 * (i + 1));
                }
                return Ok(value);
            }
            prev = b;
        }
        Err(Malformed::Leb(what))
    }
}

struct Chunk<'a> {
    kind: u8,
    checksum: [u8; 4],
    /// Type byte, length and body: what the hash covers.
    hashed: &'a [u8],
    body: &'a [u8],
}

impl Chunk<'_> {
    fn verify(&self) -> Result<ChangeHash, Malformed> {
        let hash: [u8; 32] = Sha256::digest(self.hashed).into();
        if hash[..4] != self.checksum {
            return Err(Malformed::Checksum);
        }
        Ok(ChangeHash(hash))
    }
}

/// The chunk header; the chunk must be exactly `bytes`.
fn read_chunk(bytes: &[u8]) -> Result<Chunk<'_>, Malformed> {
    let mut r = Reader::new(bytes);
    let magic = r.take(4, "magic bytes")?;
    if magic != MAGIC {
        return Err(Malformed::NotAutomerge);
    }
    let checksum: [u8; 4] = r
        .take(4, "checksum")?
        .try_into()
        .map_err(|_| Malformed::Truncated("checksum"))?;
    let hashed_from = r.pos;
    let kind = r.byte("chunk type")?;
    let len = r.uleb("chunk length")?;
    let rest = r.remaining() as u64;
    if len > rest {
        return Err(Malformed::Truncated("chunk body"));
    }
    if len < rest {
        return Err(Malformed::Trailing(rest - len));
    }
    let body = r.take(len, "chunk body")?;
    Ok(Chunk {
        kind,
        checksum,
        hashed: &bytes[hashed_from..],
        body,
    })
}

fn read_actor(r: &mut Reader<'_>) -> Result<ActorId, Malformed> {
    let len = r.uleb("actor id length")?;
    if len == 0 || len > MAX_ACTOR_BYTES {
        return Err(Malformed::Invalid(format!(
            "an actor id has {} bytes; 1 to {MAX_ACTOR_BYTES} are accepted",
            Num(len)
        )));
    }
    Ok(ActorId::from(r.take(len, "actor id")?))
}

/// Column metadata: how many columns, then each one's spec and byte length.
fn read_column_meta(
    r: &mut Reader<'_>,
    subject: &'static str,
) -> Result<Vec<(u64, u64)>, Malformed> {
    let n = r.uleb("column count")?;
    if n > MAX_COLUMNS {
        return Err(over(subject, n, "columns", MAX_COLUMNS));
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let spec = r.uleb("column spec")?;
        let len = r.uleb("column length")?;
        out.push((spec, len));
    }
    Ok(out)
}

fn columns_len(meta: &[(u64, u64)]) -> Result<u64, Malformed> {
    meta.iter()
        .try_fold(0u64, |sum, (_, len)| sum.checked_add(*len))
        .ok_or(Malformed::Truncated("column data"))
}

// ---------------------------------------------------------------------------------------
// Column tables

/// What a column's values mean, for the range checks that need no expansion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    Plain,
    /// An index into the chunk's actors.
    Actor,
    /// An op counter: 0 to 2^32 - 1.
    Counter,
    /// An op's action, 0 to 7.
    Action,
    /// An index into the document's changes.
    ChangeIndex,
}

/// A column's place in its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Has a row per row of the table, or none.
    Member,
    /// Defines the table's rows, which count `unit`.
    Rows(&'static str),
    /// A group column: one count per row of the table; the counts add up to the rows of the
    /// columns with its id that follow it, which count `unit`.
    Group(&'static str),
}

struct ColumnDef {
    spec: u64,
    name: &'static str,
    meaning: Meaning,
    role: Role,
}

const fn col(spec: u64, name: &'static str, meaning: Meaning) -> ColumnDef {
    ColumnDef {
        spec,
        name,
        meaning,
        role: Role::Member,
    }
}

const fn rows(spec: u64, name: &'static str, meaning: Meaning, unit: &'static str) -> ColumnDef {
    ColumnDef {
        spec,
        name,
        meaning,
        role: Role::Rows(unit),
    }
}

const fn group(spec: u64, name: &'static str, unit: &'static str) -> ColumnDef {
    ColumnDef {
        spec,
        name,
        meaning: Meaning::Plain,
        role: Role::Group(unit),
    }
}

use Meaning::{Action, Actor, ChangeIndex, Counter, Plain};

/// The op columns of a change, in spec order.
const CHANGE_OPS: &[ColumnDef] = &[
    col(0x01, "obj_actor", Actor),
    col(0x02, "obj_ctr", Counter),
    col(0x11, "key_actor", Actor),
    col(0x13, "key_ctr", Counter),
    col(0x15, "key_str", Plain),
    col(0x34, "insert", Plain),
    rows(0x42, "action", Action, "ops"),
    col(0x56, "value_meta", Plain),
    col(0x57, "value", Plain),
    group(0x70, "pred_count", "predecessors"),
    col(0x71, "pred_actor", Actor),
    col(0x73, "pred_ctr", Counter),
    col(0x94, "expand", Plain),
    col(0xa5, "mark_name", Plain),
];

/// The op columns of a document, in spec order.
const DOC_OPS: &[ColumnDef] = &[
    col(0x01, "obj_actor", Actor),
    col(0x02, "obj_ctr", Counter),
    col(0x11, "key_actor", Actor),
    col(0x13, "key_ctr", Counter),
    col(0x15, "key_str", Plain),
    rows(0x21, "id_actor", Actor, "ops"),
    col(0x23, "id_ctr", Counter),
    col(0x34, "insert", Plain),
    col(0x42, "action", Action),
    col(0x56, "value_meta", Plain),
    col(0x57, "value", Plain),
    group(0x80, "succ_count", "successors"),
    col(0x81, "succ_actor", Actor),
    col(0x83, "succ_ctr", Counter),
    col(0x94, "expand", Plain),
    col(0xa5, "mark_name", Plain),
];

/// The change columns of a document, in spec order.
const DOC_CHANGES: &[ColumnDef] = &[
    rows(0x01, "actor", Actor, "changes"),
    col(0x03, "seq", Plain),
    col(0x13, "max_op", Counter),
    col(0x23, "time", Plain),
    col(0x35, "message", Plain),
    group(0x40, "deps_count", "dependencies"),
    col(0x43, "deps_index", ChangeIndex),
    col(0x56, "extra_meta", Plain),
    col(0x57, "extra_value", Plain),
];

const fn column_type(spec: u64) -> u64 {
    spec & 0b111
}

const fn column_id(spec: u64) -> u64 {
    spec >> 4
}

/// A declared column's bytes and whether they are deflated; `None` when absent or empty.
type Slot<'a> = Option<(&'a [u8], bool)>;

/// Places each declared column in its table's slot (`None`: absent or empty), refusing
/// unknown, repeated or unordered specs; with `deflate_ok`, also says which are deflated.
fn lay_out<'a>(
    schema: &[ColumnDef],
    meta: &[(u64, u64)],
    data: &'a [u8],
    table: &'static str,
    deflate_ok: bool,
) -> Result<Vec<Slot<'a>>, Malformed> {
    let mut slots = vec![None; schema.len()];
    let mut r = Reader::new(data);
    let mut previous: Option<u64> = None;
    for &(spec, len) in meta {
        let deflated = spec & DEFLATE_BIT != 0;
        if deflated && !deflate_ok {
            return Err(Malformed::DeflatedColumn);
        }
        let plain = spec & !DEFLATE_BIT;
        if previous.is_some_and(|p| plain <= p) {
            return Err(Malformed::ColumnOrder(spec));
        }
        previous = Some(plain);
        let slot = schema
            .iter()
            .position(|c| c.spec == plain)
            .ok_or(Malformed::UnknownColumn(spec, table))?;
        let bytes = r.take(len, "column data")?;
        if !bytes.is_empty() {
            slots[slot] = Some((bytes, deflated));
        }
    }
    Ok(slots)
}

fn borrowed<'a>(cols: &'a [Option<Cow<'_, [u8]>>]) -> Vec<Option<&'a [u8]>> {
    cols.iter().map(|c| c.as_deref()).collect()
}

/// How many inflated bytes a document (or a compressed change) may still produce.
struct Budget {
    /// What the bytes make up, for the refusal.
    subject: &'static str,
    left: u64,
    limit: u64,
}

fn inflate_all<'a>(
    slots: Vec<Slot<'a>>,
    budget: &mut Budget,
) -> Result<Vec<Option<Cow<'a, [u8]>>>, Malformed> {
    let mut out = Vec::with_capacity(slots.len());
    for slot in slots {
        out.push(match slot {
            None => None,
            Some((bytes, false)) => {
                budget.spend(bytes.len() as u64)?;
                Some(Cow::Borrowed(bytes))
            }
            Some((bytes, true)) => Some(Cow::Owned(budget.inflate(bytes)?)),
        });
    }
    Ok(out)
}

impl Budget {
    fn spend(&mut self, n: u64) -> Result<(), Malformed> {
        match self.left.checked_sub(n) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(self.exceeded()),
        }
    }

    fn exceeded(&self) -> Malformed {
        over(
            self.subject,
            self.limit.saturating_add(1),
            "bytes once inflated (at least)",
            self.limit,
        )
    }

    /// Inflates one raw-DEFLATE column, reading at most one byte more than the budget has
    /// left: enough to tell that it is over.
    fn inflate(&mut self, bytes: &[u8]) -> Result<Vec<u8>, Malformed> {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(bytes)
            .take(self.left.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| Malformed::Inflate(e.to_string()))?;
        self.spend(out.len() as u64)?;
        Ok(out)
    }
}

/// Bounds for one table's walk.
struct TableLimits {
    subject: &'static str,
    /// Rows of the table.
    rows: u64,
    /// Rows of grouped columns (the group's counts added up).
    grouped: u64,
    /// How many actors the chunk declares.
    actors: u64,
    /// How many changes the document has (for change indexes).
    changes: u64,
}

/// What a table's walk found.
struct TableFacts {
    rows: u64,
    /// Largest change index seen, to check once the number of changes is known.
    max_change_index: Option<i128>,
}

/// Walks every column of a table, then checks that they agree.
fn check_table(
    schema: &[ColumnDef],
    slots: &[Option<&[u8]>],
    limits: &TableLimits,
) -> Result<TableFacts, Malformed> {
    let mut walked: Vec<Option<Walk>> = Vec::with_capacity(schema.len());
    for (i, def) in schema.iter().enumerate() {
        let group = group_of(schema, i);
        let rows_limit = match (def.role, group) {
            (Role::Rows(unit), _) => Limit {
                subject: limits.subject.to_string(),
                unit,
                max: limits.rows,
            },
            (_, Some(_)) => Limit {
                subject: format!("column {}", def.name),
                unit: "rows",
                max: limits.grouped,
            },
            _ => Limit {
                subject: format!("column {}", def.name),
                unit: "rows",
                max: limits.rows,
            },
        };
        let bytes = slots[i].unwrap_or(&[]);
        let walk = match column_type(def.spec) {
            // Group counts: the rows of the table, and their sum the grouped rows.
            0 => {
                let Role::Group(unit) = def.role else {
                    return Err(Malformed::UnknownColumn(def.spec, limits.subject));
                };
                let sum_limit = Limit {
                    subject: limits.subject.to_string(),
                    unit,
                    max: limits.grouped,
                };
                walk_rle(
                    def.name,
                    bytes,
                    Item::Unsigned,
                    &rows_limit,
                    Some(&sum_limit),
                )?
            }
            1 | 2 => walk_rle(def.name, bytes, Item::Unsigned, &rows_limit, None)?,
            3 => walk_rle(def.name, bytes, Item::Delta, &rows_limit, None)?,
            4 => walk_booleans(def.name, bytes, &rows_limit)?,
            5 => walk_rle(def.name, bytes, Item::Text, &rows_limit, None)?,
            6 => {
                let raw_slot = schema
                    .get(i + 1)
                    .filter(|next| next.spec == def.spec + 1)
                    .map(|next| (next.name, slots[i + 1]));
                let raw = raw_slot.and_then(|(_, s)| s).unwrap_or(&[]);
                if let (None, Some((name, Some(_)))) = (slots[i], raw_slot) {
                    return Err(Malformed::Column {
                        column: name,
                        problem: "raw values without their metadata column".into(),
                    });
                }
                walk_values(def.name, bytes, raw, &rows_limit)?
            }
            // Raw values are walked with their metadata, right before them.
            _ => {
                let has_meta =
                    i > 0 && schema[i - 1].spec + 1 == def.spec && slots[i - 1].is_some();
                if slots[i].is_some() && !has_meta {
                    return Err(Malformed::Column {
                        column: def.name,
                        problem: "raw values without their metadata column".into(),
                    });
                }
                walked.push(None);
                continue;
            }
        };
        walked.push(Some(walk));
    }

    // The table's rows, from its defining column (or the first, when none is defined).
    let reference = schema
        .iter()
        .position(|c| matches!(c.role, Role::Rows(_)))
        .unwrap_or(0);
    let rows = walked[reference].as_ref().map_or(0, |w| w.rows);
    let mut max_change_index = None;
    for (i, def) in schema.iter().enumerate() {
        let Some(w) = &walked[i] else { continue };
        match group_of(schema, i) {
            Some(g) => {
                let sum = walked[g].as_ref().map_or(0, |w| w.sum);
                if w.rows != sum {
                    return Err(Malformed::GroupMismatch {
                        column: def.name,
                        rows: w.rows,
                        group: schema[g].name,
                        sum,
                    });
                }
            }
            None => {
                // automerge leaves out columns whose every value is null or false.
                if w.rows != rows && w.rows != 0 {
                    return Err(Malformed::RowMismatch {
                        column: def.name,
                        rows: w.rows,
                        reference: schema[reference].name,
                        expected: rows,
                    });
                }
            }
        }
        let Some((min, max)) = w.range else { continue };
        let out_of = |what: String| Malformed::Column {
            column: def.name,
            problem: what,
        };
        match def.meaning {
            Meaning::Actor if min < 0 || max >= i128::from(limits.actors) => {
                return Err(out_of(format!(
                    "refers to actor {max} where the chunk declares {}",
                    Num(limits.actors)
                )));
            }
            Meaning::Counter if min < 0 || max > MAX_COUNTER => {
                return Err(out_of(format!(
                    "holds counter {} outside 0 to {}",
                    if min < 0 { min } else { max },
                    Num(u32::MAX as u64)
                )));
            }
            Meaning::Action if min < 0 || max > MAX_ACTION => {
                return Err(out_of(format!("holds unknown action {max}")));
            }
            Meaning::ChangeIndex => {
                if min < 0 || max >= i128::from(limits.changes) {
                    return Err(out_of(format!(
                        "refers to change {} of {}",
                        if min < 0 { min } else { max },
                        Num(limits.changes)
                    )));
                }
                max_change_index = Some(max);
            }
            _ => {}
        }
    }
    Ok(TableFacts {
        rows,
        max_change_index,
    })
}

/// The group column that column `i` belongs to: the nearest group column before it with the
/// same id.
fn group_of(schema: &[ColumnDef], i: usize) -> Option<usize> {
    let def = &schema[i];
    if column_type(def.spec) == 0 {
        return None;
    }
    schema[..i]
        .iter()
        .rposition(|c| column_type(c.spec) == 0 && column_id(c.spec) == column_id(def.spec))
}

/// A bound on a count, with the words for its error.
struct Limit {
    subject: String,
    unit: &'static str,
    max: u64,
}

impl Limit {
    /// `total + n`, refused as soon as it passes the limit.
    fn add(&self, total: u64, n: u64) -> Result<u64, Malformed> {
        let sum = total.saturating_add(n);
        if sum > self.max {
            return Err(over(self.subject.clone(), sum, self.unit, self.max));
        }
        Ok(sum)
    }
}

/// What walking one column found, without materialising a row.
#[derive(Debug, Default)]
struct Walk {
    rows: u64,
    /// Smallest and largest value (for delta columns: of the running total).
    range: Option<(i128, i128)>,
    /// Values added up (group columns).
    sum: u64,
}

impl Walk {
    fn see(&mut self, lo: i128, hi: i128) {
        let (lo, hi) = (lo.min(hi), lo.max(hi));
        self.range = Some(match self.range {
            None => (lo, hi),
            Some((a, b)) => (a.min(lo), b.max(hi)),
        });
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    /// uLEB values.
    Unsigned,
    /// sLEB deltas of a running total.
    Delta,
    /// uLEB length and that many bytes of UTF-8.
    Text,
}

/// Walks a run-length column: every loop reads at least one byte, and a run adds its
/// length to the row count without repeating anything.
fn walk_rle(
    name: &'static str,
    bytes: &[u8],
    item: Item,
    rows: &Limit,
    sum: Option<&Limit>,
) -> Result<Walk, Malformed> {
    let mut r = Reader::new(bytes);
    let mut w = Walk::default();
    let mut total: i128 = 0;
    let problem = |p: String| Malformed::Column {
        column: name,
        problem: p,
    };
    while !r.is_empty() {
        let n = r.sleb("run length")?;
        let (count, literal) = match n {
            0 => {
                let nulls = r.uleb("null run length")?;
                if nulls == 0 {
                    return Err(problem("a run of zero nulls".into()));
                }
                w.rows = rows.add(w.rows, nulls)?;
                continue;
            }
            n if n > 0 => (n as u64, false),
            n => {
                let count = n.unsigned_abs();
                // Each literal value takes at least one byte.
                if count > r.remaining() as u64 {
                    return Err(Malformed::Truncated("literal run"));
                }
                (count, true)
            }
        };
        w.rows = rows.add(w.rows, count)?;
        let repeats = if literal { 1 } else { count };
        for _ in 0..if literal { count } else { 1 } {
            match item {
                Item::Unsigned => {
                    let v = r.uleb("column value")?;
                    w.see(i128::from(v), i128::from(v));
                    if let Some(limit) = sum {
                        let add =
                            u64::try_from(u128::from(v) * u128::from(repeats)).unwrap_or(u64::MAX);
                        w.sum = limit.add(w.sum, add)?;
                    }
                }
                Item::Delta => {
                    let d = i128::from(r.sleb("column value")?);
                    // A run of equal deltas moves the total in one direction: its ends are
                    // its extremes.
                    let first = total + d;
                    total += d * i128::from(repeats);
                    if total < i128::from(i64::MIN) || total > i128::from(i64::MAX) {
                        return Err(problem("the running total leaves 64 bits".into()));
                    }
                    w.see(first, total);
                }
                Item::Text => {
                    let len = r.uleb("string length")?;
                    let s = r.take(len, "string")?;
                    if std::str::from_utf8(s).is_err() {
                        return Err(Malformed::Utf8("string"));
                    }
                }
            }
        }
    }
    Ok(w)
}

/// Walks a boolean column: alternating run lengths, the first (of `false`) may be 0.
fn walk_booleans(name: &'static str, bytes: &[u8], rows: &Limit) -> Result<Walk, Malformed> {
    let mut r = Reader::new(bytes);
    let mut w = Walk::default();
    let mut first = true;
    while !r.is_empty() {
        let n = r.uleb("boolean run length")?;
        if n == 0 && !first {
            return Err(Malformed::Column {
                column: name,
                problem: "an empty boolean run".into(),
            });
        }
        first = false;
        w.rows = rows.add(w.rows, n)?;
    }
    Ok(w)
}

/// Walks a value metadata column and its raw values together: the lengths the metadata
/// gives must tile the raw column exactly, and each value must read as its type says.
fn walk_values(
    name: &'static str,
    meta: &[u8],
    raw: &[u8],
    rows: &Limit,
) -> Result<Walk, Malformed> {
    let mut r = Reader::new(meta);
    let mut values = Reader::new(raw);
    let mut w = Walk::default();
    let problem = |p: String| Malformed::Column {
        column: name,
        problem: p,
    };
    while !r.is_empty() {
        let n = r.sleb("run length")?;
        let (count, literal) = match n {
            0 => {
                let nulls = r.uleb("null run length")?;
                if nulls == 0 {
                    return Err(problem("a run of zero nulls".into()));
                }
                w.rows = rows.add(w.rows, nulls)?;
                continue;
            }
            n if n > 0 => (n as u64, false),
            n => {
                let count = n.unsigned_abs();
                if count > r.remaining() as u64 {
                    return Err(Malformed::Truncated("literal run"));
                }
                (count, true)
            }
        };
        w.rows = rows.add(w.rows, count)?;
        let metas = if literal { count } else { 1 };
        let repeats = if literal { 1 } else { count };
        for _ in 0..metas {
            let m = r.uleb("value metadata")?;
            let (kind, len) = (m & 0xf, m >> 4);
            check_value_len(kind, len).map_err(problem)?;
            if len == 0 {
                continue;
            }
            // Enough raw bytes for every repeat, checked before reading any.
            let need = u128::from(len) * u128::from(repeats);
            if need > values.remaining() as u128 {
                return Err(problem(format!(
                    "describes more value bytes than the {} the value column has",
                    Num(raw.len() as u64)
                )));
            }
            for _ in 0..repeats {
                let v = values.take(len, "value")?;
                check_value(kind, v).map_err(problem)?;
            }
        }
    }
    if !values.is_empty() {
        return Err(problem(format!(
            "{} bytes of the value column are not described by the metadata",
            Num(values.remaining() as u64)
        )));
    }
    Ok(w)
}

fn check_value_len(kind: u64, len: u64) -> Result<(), String> {
    match kind {
        // null, false, true
        0..=2 if len != 0 => Err(format!("a value of type {kind} has {len} bytes")),
        0..=2 => Ok(()),
        // uLEB, sLEB, counter, timestamp
        3 | 4 | 8 | 9 if !(1..=10).contains(&len) => Err(format!("a number of {} bytes", Num(len))),
        5 if len != 8 => Err(format!("a float of {} bytes", Num(len))),
        3..=9 => Ok(()),
        _ => Err(format!("a value of unknown type {kind}")),
    }
}

/// Checks a value's bytes: numbers are one canonical LEB128 filling them, strings UTF-8.
fn check_value(kind: u64, bytes: &[u8]) -> Result<(), String> {
    let mut r = Reader::new(bytes);
    let read = match kind {
        3 => r.uleb("value").map(|_| ()),
        4 | 8 | 9 => r.sleb("value").map(|_| ()),
        6 if std::str::from_utf8(bytes).is_err() => return Err("a string that is not UTF-8".into()),
        _ => return Ok(()),
    };
    match read {
        Ok(()) if r.is_empty() => Ok(()),
        Ok(()) => Err("a number shorter than its length".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests;
