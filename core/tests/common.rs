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

pub fn photo(n: u64) -> String {
    format!("{n:064x}")
}
