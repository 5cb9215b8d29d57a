//! Checks on the directory an administrator edits: the grid tree goes street → comprehensive
//! grid → grid → micro-grid, every reference names something that exists.

use std::collections::{HashMap, HashSet};

use outpost_core::Role;

use crate::storage::Directory;

/// `base` with `update`'s entries added or replaced, as an import leaves it.
pub fn merged(base: &Directory, update: &Directory) -> Directory {
    fn merge<T: Clone>(a: &[T], b: &[T], key: impl Fn(&T) -> String) -> Vec<T> {
        let mut out: Vec<T> = a.to_vec();
        for x in b {
            match out.iter().position(|y| key(y) == key(x)) {
                Some(i) => out[i] = x.clone(),
                None => out.push(x.clone()),
            }
        }
        out
    }
    Directory {
        version: base.version,
        grids: merge(&base.grids, &update.grids, |g| g.id.clone()),
        units: merge(&base.units, &update.units, |u| u.id.clone()),
        members: merge(&base.members, &update.members, |m| m.id.clone()),
        templates: merge(&base.templates, &update.templates, |t| {
            format!("{}@{}", t.id, t.version)
        }),
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// Every problem of a directory, one sentence each; empty when it is sound.
pub fn problems(d: &Directory) -> Vec<String> {
    let mut out = Vec::new();
    let grids: HashMap<&str, &outpost_core::sync::wire::GridInfo> =
        d.grids.iter().map(|g| (g.id.as_str(), g)).collect();
    let units: HashSet<&str> = d.units.iter().map(|u| u.id.as_str()).collect();
    for g in &d.grids {
        if !valid_id(&g.id) {
            out.push(format!("grid id '{}' is not a valid id", g.id));
        }
        match &g.parent {
            None => {}
            Some(p) => match grids.get(p.as_str()) {
                None => out.push(format!(
                    "grid {} names a parent {p} that does not exist",
                    g.id
                )),
                Some(parent) if parent.level >= g.level => out.push(format!(
                    "grid {} ({}) cannot sit under {} ({})",
                    g.id,
                    g.level.as_str(),
                    p,
                    parent.level.as_str()
                )),
                Some(_) => {}
            },
        }
    }
    for u in &d.units {
        if !valid_id(&u.id) {
            out.push(format!("unit id '{}' is not a valid id", u.id));
        }
    }
    for m in &d.members {
        if !valid_id(&m.id) {
            out.push(format!("member id '{}' is not a valid id", m.id));
        }
        for g in &m.grids {
            if !grids.contains_key(g.as_str()) {
                out.push(format!(
                    "member {} is in grid {g}, which does not exist",
                    m.id
                ));
            }
        }
        match (&m.unit, m.role) {
            (None, Role::Responder) => {
                out.push(format!("responder {} needs a unit", m.id));
            }
            (Some(u), _) if !units.contains(u.as_str()) => {
                out.push(format!(
                    "member {} works for unit {u}, which does not exist",
                    m.id
                ));
            }
            _ => {}
        }
        if matches!(m.role, Role::GridMember | Role::GridLead) && m.grids.is_empty() {
            out.push(format!(
                "{} {} needs at least one grid",
                m.role.as_str(),
                m.id
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemberEntry;
    use outpost_core::sync::wire::{GridInfo, GridLevel};

    #[test]
    fn a_grid_under_a_smaller_one_and_dangling_references_are_named() {
        let d = Directory {
            grids: vec![
                GridInfo {
                    id: "m".into(),
                    name: "micro".into(),
                    level: GridLevel::Micro,
                    parent: None,
                },
                GridInfo {
                    id: "s".into(),
                    name: "street".into(),
                    level: GridLevel::Street,
                    parent: Some("m".into()),
                },
            ],
            members: vec![MemberEntry {
                id: "r".into(),
                name: "R".into(),
                role: Role::Responder,
                grids: vec!["nowhere".into()],
                unit: None,
            }],
            ..Directory::default()
        };
        let p = problems(&d);
        assert_eq!(p.len(), 3, "{p:?}");
    }
}
