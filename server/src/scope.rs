//! Who sees what. A document carries scope keys (`g:<grid>`, `r:<reporter>`, `u:<unit>`);
//! a device sees the documents that carry one of its member's keys:
//!
//! | role | keys |
//! |---|---|
//! | courier | `r:<self>`: its own reports, with everything said on them |
//! | grid member, grid lead | `g:<grid>` for its grids and every sub-grid, `r:<self>` |
//! | responder | `u:<unit>`: cases dispatched to its unit, `r:<self>` |
//! | admin | everything |
//!
//! The cursor a device holds carries a short hash of its keys: when an administrator
//! changes a member's grids, role or unit, the hash changes and the device's next pull starts
//! from the beginning of the feed, so documents newly in its scope arrive whole.

use std::collections::{BTreeSet, HashMap, HashSet};

use outpost_core::sync::validate::{DocView, Known};
use outpost_core::{EventKind, Member, Role};
use sha2::{Digest, Sha256};

use crate::storage::{Directory, Scope};

/// The scope keys a document carries now.
pub fn doc_keys(view: &DocView) -> Vec<String> {
    match view {
        // Whoever a case has been with keeps seeing how it ends: the grids it was moved
        // out of and the units it was taken from learn that their offline actions after
        // that are conflicts (a unit's queue drops a case taken from it).
        DocView::Case(c) => {
            let mut k = vec![
                format!("g:{}", c.root.grid_id),
                format!("r:{}", c.reporter_id),
            ];
            let applied = c.timeline.iter().filter(|t| t.conflict.is_none());
            for t in applied {
                let key = match &t.event.kind {
                    EventKind::Moved { grid_id } => format!("g:{grid_id}"),
                    EventKind::Dispatched { unit_id, .. } => format!("u:{unit_id}"),
                    _ => continue,
                };
                if !k.contains(&key) {
                    k.push(key);
                }
            }
            k
        }
        DocView::Inspection(i) => vec![
            format!("g:{}", i.site.grid_id),
            format!("r:{}", i.started_by),
        ],
    }
}

/// The directory in the shape requests need it: members with their grids expanded.
#[derive(Debug, Default)]
pub struct DirectoryIndex {
    pub version: i64,
    pub directory: Directory,
    members: HashMap<String, Member>,
    grids: HashSet<String>,
    units: HashSet<String>,
}

impl DirectoryIndex {
    pub fn new(directory: Directory) -> DirectoryIndex {
        let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
        for g in &directory.grids {
            if let Some(p) = &g.parent {
                children.entry(p.as_str()).or_default().push(g.id.as_str());
            }
        }
        let expand = |roots: &[String]| -> Vec<String> {
            let mut out = BTreeSet::new();
            let mut stack: Vec<&str> = roots.iter().map(String::as_str).collect();
            while let Some(g) = stack.pop() {
                // A cycle in a hand-edited file cannot loop forever: each grid once.
                if out.insert(g.to_string())
                    && let Some(c) = children.get(g)
                {
                    stack.extend(c.iter().copied());
                }
            }
            out.into_iter().collect()
        };
        let members = directory
            .members
            .iter()
            .map(|m| {
                let member = Member {
                    id: m.id.clone(),
                    name: m.name.clone(),
                    role: m.role,
                    grids: expand(&m.grids),
                    unit_id: m.unit.clone(),
                };
                (m.id.clone(), member)
            })
            .collect();
        DirectoryIndex {
            version: directory.version,
            grids: directory.grids.iter().map(|g| g.id.clone()).collect(),
            units: directory.units.iter().map(|u| u.id.clone()).collect(),
            members,
            directory,
        }
    }

    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.get(id)
    }
}

impl Known for DirectoryIndex {
    fn grid(&self, id: &str) -> bool {
        self.grids.contains(id)
    }
    fn unit(&self, id: &str) -> bool {
        self.units.contains(id)
    }
    /// The app's own checklists, or one the directory publishes, in exactly that version.
    fn template(&self, t: &outpost_core::Template) -> bool {
        outpost_core::Template::builtin().iter().any(|b| b == t)
            || self.directory.templates.iter().any(|p| p == t)
    }
}

/// What `member`'s devices may see.
pub fn member_scope(member: &Member) -> Scope {
    let own = format!("r:{}", member.id);
    match member.role {
        Role::Admin => Scope::All,
        Role::Courier => Scope::Keys(vec![own]),
        Role::GridMember | Role::GridLead => {
            let mut k: Vec<String> = member.grids.iter().map(|g| format!("g:{g}")).collect();
            k.push(own);
            Scope::Keys(k)
        }
        Role::Responder => {
            let mut k = vec![own];
            if let Some(u) = &member.unit_id {
                k.push(format!("u:{u}"));
            }
            Scope::Keys(k)
        }
    }
}

/// A short fingerprint of a scope, carried in the cursor.
pub fn scope_tag(scope: &Scope) -> String {
    let mut h = Sha256::new();
    match scope {
        Scope::All => h.update(b"*"),
        Scope::Keys(keys) => {
            let mut sorted = keys.clone();
            sorted.sort();
            for k in sorted {
                h.update(k.as_bytes());
                h.update([0]);
            }
        }
    }
    hex::encode(&h.finalize()[..4])
}

/// The cursor a device holds: `<scope tag>.<feed position>`.
pub fn format_cursor(tag: &str, seq: u64) -> String {
    format!("{tag}.{seq}")
}

/// Where a device's pull starts: its position, or 0 when its scope changed since (or it
/// has no cursor yet). `None` for a cursor that is not one of ours.
pub fn parse_cursor(cursor: &str, tag: &str) -> Option<u64> {
    if cursor.is_empty() {
        return Some(0);
    }
    let (t, seq) = cursor.split_once('.')?;
    let seq: u64 = seq.parse().ok()?;
    if t.len() != 8 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(if t == tag { seq } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemberEntry;
    use outpost_core::sync::wire::{GridInfo, GridLevel};

    fn grid(id: &str, parent: Option<&str>) -> GridInfo {
        GridInfo {
            id: id.into(),
            name: id.into(),
            level: GridLevel::Grid,
            parent: parent.map(Into::into),
        }
    }

    #[test]
    fn a_member_sees_its_grids_and_every_sub_grid() {
        let d = Directory {
            grids: vec![
                grid("street", None),
                grid("a", Some("street")),
                grid("a1", Some("a")),
                grid("b", Some("street")),
            ],
            members: vec![MemberEntry {
                id: "m".into(),
                name: "M".into(),
                role: Role::GridLead,
                grids: vec!["a".into()],
                unit: None,
            }],
            ..Directory::default()
        };
        let idx = DirectoryIndex::new(d);
        assert_eq!(idx.member("m").unwrap().grids, vec!["a", "a1"]);
        let Scope::Keys(k) = member_scope(idx.member("m").unwrap()) else {
            panic!("a lead is scoped")
        };
        assert_eq!(k, vec!["g:a", "g:a1", "r:m"]);
    }

    #[test]
    fn cursors_restart_when_the_scope_changes() {
        let tag = scope_tag(&Scope::Keys(vec!["g:a".into()]));
        let other = scope_tag(&Scope::Keys(vec!["g:b".into()]));
        assert_eq!(parse_cursor(&format_cursor(&tag, 42), &tag), Some(42));
        assert_eq!(parse_cursor(&format_cursor(&other, 42), &tag), Some(0));
        assert_eq!(parse_cursor("", &tag), Some(0));
        assert_eq!(parse_cursor("garbage", &tag), None);
        assert_eq!(parse_cursor("abc.12", &tag), None);
    }
}
