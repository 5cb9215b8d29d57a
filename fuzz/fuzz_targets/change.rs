//! A change a device pushed: inspected, decoded under the guard, applied to the server's
//! document and to an empty one. The inspection and automerge must agree on what they read,
//! and automerge must never panic on a change the inspection let through.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_core::untrusted::{ChangeLimits, Malformed, decode_change, guard, inspect_change};
use outpost_fuzz::{chunk_input, fixture, strict};

fuzz_target!(|data: &[u8]| {
    let Some(bytes) = chunk_input(data, 1) else {
        return;
    };
    let limits = ChangeLimits::default();
    let inspected = inspect_change(&bytes, &limits);
    let change = match decode_change(&bytes, &limits) {
        Ok(c) => c,
        // Decoding is the inspection's to make safe: a panic here is a gap in it.
        Err(Malformed::Panicked { message, .. }) => {
            panic!("automerge panicked decoding an inspected change: {message}")
        }
        Err(_) => return,
    };
    let info = inspected.expect("decoded what the inspection refused");
    assert_eq!(info.ops, change.len() as u64);
    assert_eq!(info.seq, change.seq());
    assert_eq!(info.start_op, change.start_op().get());
    assert_eq!(info.deps, change.deps().len() as u64);
    assert_eq!(&info.actor, change.actor_id());

    for mut doc in [fixture().doc.clone(), automerge::AutoCommit::new()] {
        let applied = guard("applying a change", || doc.apply_changes([change.clone()]));
        strict(&applied);
        if let Ok(Ok(())) = applied {
            // What automerge holds after applying it reads back through the inspection.
            let again = guard("reading changes back", || {
                doc.get_changes(&[])
                    .iter()
                    .map(|c| c.raw_bytes().to_vec())
                    .collect::<Vec<_>>()
            });
            strict(&again);
            for raw in again.unwrap_or_default() {
                if let Err(e) = inspect_change(&raw, &limits) {
                    panic!("automerge holds a change the inspection refuses: {e}");
                }
            }
        }
    }
});
