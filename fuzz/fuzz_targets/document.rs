//! A saved document (a stored snapshot, or one received): inspected, loaded under the guard
//! (which also has automerge give back every change, checked against the inspection's
//! count). What loads must have passed the inspection, and what automerge saves of it must
//! pass the inspection again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_core::untrusted::{DocLimits, inspect_document, load_document};
use outpost_fuzz::{chunk_input, strict};

fuzz_target!(|data: &[u8]| {
    let Some(bytes) = chunk_input(data, 0) else {
        return;
    };
    let limits = DocLimits::default();
    let inspected = inspect_document(&bytes, &limits);
    let loaded = load_document(&bytes, &limits);
    strict(&loaded);
    let Ok(mut doc) = loaded else {
        return;
    };
    let info = inspected.expect("loaded what the inspection refused");
    assert_eq!(info.heads, doc.get_heads().len() as u64);
    let saved = doc.save();
    if let Err(e) = inspect_document(&saved, &limits) {
        panic!("automerge saved a document the inspection refuses: {e}");
    }
});
