//! The server's handling of a sync body: decoded (gzip with a size cap, then CBOR), then
//! every pushed document judged by `check_push` against the document the server holds,
//! pushed by one of the fixture's devices. Each change goes through the inspection first,
//! as the server's validation does (issue 10).
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_core::sync::validate::check_push;
use outpost_core::sync::wire::{SyncRequest, decode_body};
use outpost_core::untrusted::{ChangeLimits, decode_change};
use outpost_fuzz::{City, fixture, sync_input};

/// The server's default cap on a decompressed body (server `Limits::max_decompressed`).
const MAX_DECOMPRESSED: usize = 32 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((gzipped, device, body)) = sync_input(data) else {
        return;
    };
    let Ok(req) = decode_body::<SyncRequest>(body, gzipped, MAX_DECOMPRESSED) else {
        return;
    };
    let f = fixture();
    let device = &f.devices[device % f.devices.len()];
    let limits = ChangeLimits::default();
    for doc in &req.push {
        let changes: Vec<Vec<u8>> = doc.changes.iter().map(|c| c.to_vec()).collect();
        if changes.iter().any(|c| decode_change(c, &limits).is_err()) {
            continue;
        }
        let existing = (doc.id == f.doc_id).then(|| f.doc.clone());
        let _ = check_push(
            &device.member,
            &device.actor,
            &doc.id,
            existing,
            &changes,
            &City,
        );
    }
});
