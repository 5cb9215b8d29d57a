//! Shared helpers for the core's integration tests: phones are real SQLite files.
#![allow(dead_code)]

use std::sync::Arc;

use outpost_core::{FixedClock, Member, Role, Store};

pub const GRID: &str = "yinhang-1-3";
pub const T0: i64 = 1_780_000_000_000;

pub struct Phone {
    pub store: Store,
    pub clock: Arc<FixedClock>,
}

impl std::ops::Deref for Phone {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

pub fn phone(dir: &tempfile::TempDir, name: &str, role: Role) -> Phone {
    let clock = Arc::new(FixedClock::new(T0));
    let store = Store::open_with_clock(
        dir.path().join(format!("{name}.db")),
        Arc::new(clock.clone()),
    )
    .unwrap();
    let mut m = Member::new(name, name, role, [GRID]);
    if role == Role::Responder {
        m = m.with_unit("chengguan");
    }
    store.set_member(&m).unwrap();
    Phone { store, clock }
}

/// Hands every change `from` has and `to` lacks to `to`, as sync will.
pub fn hand_over(from: &Store, to: &Store) -> usize {
    let mut batch = Vec::new();
    for id in from.document_ids().unwrap() {
        let changes = from.changes_since(&id, &to.heads(&id).unwrap()).unwrap();
        if !changes.is_empty() {
            batch.push((id, changes));
        }
    }
    to.apply_remote(&batch).unwrap().new_changes
}

/// A small JPEG file as a camera leaves one, distinct for each `n`.
pub fn photo_file(dir: &tempfile::TempDir, n: u64) -> std::path::PathBuf {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend((0..600u32).map(|i| (i as u8).wrapping_mul(31) ^ n as u8));
    bytes.extend_from_slice(&n.to_le_bytes());
    let path = dir.path().join(format!("camera-{n}.jpg"));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The hash a photo file is known by.
pub fn photo_hash(path: &std::path::Path) -> String {
    outpost_core::sync::blobs::sha256_hex(&std::fs::read(path).unwrap())
}
