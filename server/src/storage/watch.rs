//! What a server process knows of the feed without asking the database: the position each
//! scope key last changed at, heard from the database's notifications as writes commit (on
//! PostgreSQL, every process hears every other's). A known device's sync with nothing to
//! push whose scope did not change after its cursor is answered from here, with no
//! statement: the cost of an idle sync no longer depends on the database's round trip.
//!
//! Nothing is lost by answering early: a change this process has not heard of yet is after
//! the feed head it knows, so the cursor it hands out stays before it and the device's next
//! sync gets it. Whatever may have made a remembered device stale (a revocation, a new
//! directory, a lost connection to the notifications) starts a new *epoch*: devices checked
//! in an earlier one take the whole way again.

use std::collections::HashMap;
use std::sync::RwLock;

use super::Scope;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct FeedWatch {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Notifications are heard and the positions below are whole.
    live: bool,
    epoch: u64,
    /// The highest feed position heard of.
    head: u64,
    /// Everything up to here may have changed in any scope (a write too large to name its
    /// keys).
    floor: u64,
    /// The last position each scope key changed at.
    keys: HashMap<String, u64>,
}

impl FeedWatch {
    pub fn new() -> FeedWatch {
        FeedWatch::default()
    }

    /// The epoch now, `None` while the watch is not live. Read it *before* checking a
    /// device with the database, and remember the device with it.
    pub fn epoch(&self) -> Option<u64> {
        let s = self.read();
        s.live.then_some(s.epoch)
    }

    /// The cursor for a device remembered in `epoch`, seeing `scope`, at `after`, when
    /// nothing in its scope changed after `after` as far as this process has heard: `None`
    /// when that is not certain (ask the database).
    pub fn quiet(&self, epoch: u64, scope: &Scope, after: u64) -> Option<u64> {
        let s = self.read();
        if !s.live || s.epoch != epoch || after > s.head || after < s.floor {
            return None;
        }
        let quiet = match scope {
            Scope::All => after == s.head,
            Scope::Keys(keys) => keys
                .iter()
                .all(|k| s.keys.get(k).is_none_or(|&at| at <= after)),
        };
        quiet.then_some(s.head)
    }

    /// A write was heard committed, in commit order: `keys` changed at position `at` (its
    /// last). `None`: keys not named, anything up to `at` may have changed.
    pub fn changed(&self, at: u64, keys: Option<&[String]>) {
        let mut s = self.write();
        s.head = s.head.max(at);
        match keys {
            Some(keys) => {
                for k in keys {
                    let e = s.keys.entry(k.clone()).or_insert(0);
                    *e = (*e).max(at);
                }
            }
            None => s.floor = s.floor.max(at),
        }
    }

    /// This process committed a write: `keys` changed at `at`. Its own requests must see
    /// it at once; the head moves only with what is heard, in commit order (an earlier
    /// write of another process may not be heard yet).
    pub fn wrote(&self, at: u64, keys: &[String]) {
        let mut s = self.write();
        for k in keys {
            let e = s.keys.entry(k.clone()).or_insert(0);
            *e = (*e).max(at);
        }
    }

    /// Devices or the directory changed: remembered devices are checked again.
    pub fn directory_changed(&self) {
        self.write().epoch += 1;
    }

    /// Notifications are heard again from now on and `keys`/`head` were read after that:
    /// the watch is whole.
    pub fn restart(&self, head: u64, keys: HashMap<String, u64>) {
        let mut s = self.write();
        s.epoch += 1;
        s.head = head;
        s.floor = 0;
        s.keys = keys;
        s.live = true;
    }

    /// Notifications may be missed: nothing is answered from here until [`FeedWatch::restart`].
    pub fn lost(&self) {
        let mut s = self.write();
        s.live = false;
        s.epoch += 1;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a committed write tells the other processes: its last position and the scope keys
/// it changed, as one notification payload (`<position> <key> <key> …`; keys hold no
/// spaces). Too many keys for one payload: the position alone (anything may have changed).
pub fn payload(at: u64, keys: &[&str]) -> String {
    /// PostgreSQL's limit is 8000 bytes.
    const MAX: usize = 7000;
    let mut out = at.to_string();
    for k in keys {
        if out.len() + 1 + k.len() > MAX || k.contains(' ') {
            return at.to_string();
        }
        out.push(' ');
        out.push_str(k);
    }
    if keys.is_empty() {
        // A write with no key still moves the head; say so explicitly.
        out.push_str(" -");
    }
    out
}

/// The position and keys of a payload (`None` keys: anything may have changed); `None` for
/// a payload that is not one of ours.
pub fn parse_payload(p: &str) -> Option<(u64, Option<Vec<String>>)> {
    let mut parts = p.split(' ');
    let at: u64 = parts.next()?.parse().ok()?;
    let keys: Vec<String> = parts.filter(|k| *k != "-").map(str::to_string).collect();
    if p.contains(' ') {
        Some((at, Some(keys)))
    } else {
        Some((at, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> Scope {
        Scope::Keys(k.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn answers_only_what_it_is_sure_of() {
        let w = FeedWatch::new();
        assert_eq!(w.epoch(), None, "not live before its first restart");
        assert_eq!(w.quiet(0, &keys(&["g:G1"]), 0), None);
        w.restart(10, HashMap::from([("g:G1".to_string(), 7)]));
        let e = w.epoch().unwrap();
        assert_eq!(w.quiet(e, &keys(&["g:G1", "m:a"]), 7), Some(10));
        assert_eq!(
            w.quiet(e, &keys(&["g:G1"]), 6),
            None,
            "changed after the cursor"
        );
        assert_eq!(
            w.quiet(e, &keys(&["g:G1"]), 11),
            None,
            "a cursor beyond what it heard"
        );
        assert_eq!(w.quiet(e, &Scope::All, 9), None);
        assert_eq!(w.quiet(e, &Scope::All, 10), Some(10));
        // Another process wrote to G2: G1's devices stay quiet, and their cursor moves on.
        w.changed(12, Some(&["g:G2".to_string()]));
        assert_eq!(w.quiet(e, &keys(&["g:G1"]), 10), Some(12));
        assert_eq!(w.quiet(e, &keys(&["g:G2"]), 10), None);
        // This process's own write is seen at once, but moves no cursor past what was heard.
        w.wrote(15, &["g:G1".to_string()]);
        assert_eq!(w.quiet(e, &keys(&["g:G1"]), 12), None);
        assert_eq!(w.quiet(e, &keys(&["m:a"]), 12), Some(12));
        w.changed(15, Some(&["g:G1".to_string()]));
        assert_eq!(w.quiet(e, &keys(&["g:G1"]), 15), Some(15));
        // A write too large to name its keys: every cursor before it asks the database.
        w.changed(20, None);
        assert_eq!(w.quiet(e, &keys(&["g:G1"]), 12), None);
        assert_eq!(w.quiet(e, &keys(&["g:G1"]), 20), Some(20));
        // Remembered devices are stale after a directory change or a lost connection.
        w.directory_changed();
        assert_eq!(w.quiet(e, &keys(&["g:G1"]), 20), None);
        let e = w.epoch().unwrap();
        assert_eq!(w.quiet(e, &keys(&["g:G1"]), 20), Some(20));
        w.lost();
        assert_eq!(w.epoch(), None);
        assert_eq!(w.quiet(e, &keys(&["g:G1"]), 20), None);
    }

    #[test]
    fn payloads_round_trip_or_say_everything() {
        assert_eq!(
            parse_payload(&payload(5, &["g:G1", "m:a"])),
            Some((5, Some(vec!["g:G1".to_string(), "m:a".to_string()])))
        );
        assert_eq!(parse_payload(&payload(6, &[])), Some((6, Some(vec![]))));
        let many: Vec<String> = (0..2000).map(|i| format!("m:member-{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(parse_payload(&payload(7, &many)), Some((7, None)));
        assert_eq!(parse_payload(&payload(8, &["a b"])), Some((8, None)));
        assert_eq!(parse_payload("not ours"), None);
        assert_eq!(parse_payload(""), None);
    }
}
