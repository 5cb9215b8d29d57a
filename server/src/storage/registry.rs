//! Who may talk to the server: the directory (grids, units, members, templates), invite
//! codes and enrolled devices. Written once for every backend (see `sql.rs`).

use outpost_core::sync::wire::{GridInfo, GridLevel, UnitInfo};
use outpost_core::{Role, Template};

use super::sql::{Row, Sql};
use super::{DeviceRecord, Directory, EnrollOutcome, MemberEntry, RevokeTarget};
use super::{StoreError, StoreResult};

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

pub fn directory_version(db: &mut dyn Sql) -> StoreResult<i64> {
    db.one(
        "SELECT value FROM meta WHERE key = 'directory_version'",
        &[],
    )?
    .int(0)
}

pub fn directory(db: &mut dyn Sql) -> StoreResult<Directory> {
    let version = directory_version(db)?;
    let mut grids = Vec::new();
    for mut r in db.query("SELECT id, name, level, parent FROM grids ORDER BY id", &[])? {
        let level = r.text(2)?;
        grids.push(GridInfo {
            id: r.text(0)?,
            name: r.text(1)?,
            level: GridLevel::parse(&level)
                .ok_or_else(|| corrupt(format!("grid level {level}")))?,
            parent: r.opt_text(3)?,
        });
    }
    let mut units = Vec::new();
    for mut r in db.query("SELECT id, name FROM units ORDER BY id", &[])? {
        units.push(UnitInfo {
            id: r.text(0)?,
            name: r.text(1)?,
        });
    }
    let mut members = Vec::new();
    for mut r in db.query(
        "SELECT id, name, role, grids, unit FROM members ORDER BY id",
        &[],
    )? {
        members.push(MemberEntry {
            id: r.text(0)?,
            name: r.text(1)?,
            role: Role::parse(&r.text(2)?).map_err(corrupt)?,
            grids: serde_json::from_str(&r.text(3)?).map_err(corrupt)?,
            unit: r.opt_text(4)?,
        });
    }
    let mut templates = Vec::new();
    for mut r in db.query(
        "SELECT body FROM templates t
         WHERE version = (SELECT max(version) FROM templates WHERE id = t.id) ORDER BY id",
        &[],
    )? {
        templates.push(Template::from_json(&r.text(0)?).map_err(corrupt)?);
    }
    Ok(Directory {
        version,
        grids,
        units,
        members,
        templates,
    })
}

pub fn import_directory(db: &mut dyn Sql, d: &Directory) -> StoreResult<i64> {
    for g in &d.grids {
        db.exec(
            "INSERT INTO grids(id, name, level, parent) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(id) DO UPDATE SET name = excluded.name, level = excluded.level,
                 parent = excluded.parent",
            &[
                (&g.id).into(),
                (&g.name).into(),
                g.level.as_str().into(),
                (&g.parent).into(),
            ],
        )?;
    }
    for u in &d.units {
        db.exec(
            "INSERT INTO units(id, name) VALUES (?1, ?2)
             ON CONFLICT(id) DO UPDATE SET name = excluded.name",
            &[(&u.id).into(), (&u.name).into()],
        )?;
    }
    for m in &d.members {
        let grids =
            serde_json::to_string(&m.grids).map_err(|e| StoreError::Invalid(e.to_string()))?;
        db.exec(
            "INSERT INTO members(id, name, role, grids, unit) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(id) DO UPDATE SET name = excluded.name, role = excluded.role,
                 grids = excluded.grids, unit = excluded.unit",
            &[
                (&m.id).into(),
                (&m.name).into(),
                m.role.as_str().into(),
                (&grids).into(),
                (&m.unit).into(),
            ],
        )?;
    }
    for t in &d.templates {
        db.exec(
            "INSERT INTO templates(id, version, body) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            &[(&t.id).into(), t.version.into(), (&t.to_json()).into()],
        )?;
    }
    let version = db
        .one(
            "UPDATE meta SET value = value + 1 WHERE key = 'directory_version' RETURNING value",
            &[],
        )?
        .int(0)?;
    db.announce_directory()?;
    Ok(version)
}

pub fn create_invite(
    db: &mut dyn Sql,
    code_hash: &[u8],
    member_id: &str,
    now: i64,
    expires_at: i64,
) -> StoreResult<()> {
    if db
        .opt("SELECT 1 FROM members WHERE id = ?1", &[member_id.into()])?
        .is_none()
    {
        return Err(StoreError::Invalid(format!("no member {member_id}")));
    }
    db.exec(
        "INSERT INTO invites(code_hash, member_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        &[
            code_hash.into(),
            member_id.into(),
            now.into(),
            expires_at.into(),
        ],
    )?;
    Ok(())
}

pub fn enroll(
    db: &mut dyn Sql,
    code_hash: &[u8],
    actor: &str,
    token_hash: &[u8],
    device_name: &str,
    now: i64,
) -> StoreResult<EnrollOutcome> {
    let valid = "FROM invites WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2
                   AND member_id IN (SELECT id FROM members)";
    if db
        .opt(
            &format!("SELECT 1 {valid}"),
            &[code_hash.into(), now.into()],
        )?
        .is_none()
    {
        return Ok(EnrollOutcome::BadCode);
    }
    if db
        .opt(
            "SELECT 1 FROM devices WHERE actor = ?1 AND revoked_at IS NULL",
            &[actor.into()],
        )?
        .is_some()
    {
        return Ok(EnrollOutcome::ActorInUse);
    }
    // Spent only if still unspent: of two processes spending one code at once, the second
    // waits for the first's row lock, then updates nothing.
    let Some(mut spent) = db.opt(
        "UPDATE invites SET used_at = ?2
         WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2
         RETURNING member_id",
        &[code_hash.into(), now.into()],
    )?
    else {
        return Ok(EnrollOutcome::BadCode);
    };
    let member_id = spent.text(0)?;
    let device_id = uuid::Uuid::now_v7().to_string();
    db.exec(
        "INSERT INTO devices(id, member_id, actor, token_hash, name, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            (&device_id).into(),
            (&member_id).into(),
            actor.into(),
            token_hash.into(),
            device_name.into(),
            now.into(),
        ],
    )?;
    db.exec(
        "UPDATE invites SET device_id = ?2 WHERE code_hash = ?1",
        &[code_hash.into(), (&device_id).into()],
    )?;
    Ok(EnrollOutcome::Enrolled {
        device_id,
        member_id,
    })
}

const DEVICE_COLUMNS: &str = "id, member_id, actor, name, created_at, revoked_at";

/// The member an invite code was made for (used, expired or not); `None`: never issued.
pub fn invite_member(db: &mut dyn Sql, code_hash: &[u8]) -> StoreResult<Option<String>> {
    db.opt(
        "SELECT member_id FROM invites WHERE code_hash = ?1",
        &[code_hash.into()],
    )?
    .map(|mut r| r.text(0))
    .transpose()
}

/// A device from the first six columns of `r`.
pub(crate) fn device_row(r: &mut Row) -> StoreResult<DeviceRecord> {
    Ok(DeviceRecord {
        id: r.text(0)?,
        member_id: r.text(1)?,
        actor: r.text(2)?,
        name: r.text(3)?,
        created_at: r.int(4)?,
        revoked_at: r.opt_int(5)?,
    })
}

pub fn authenticate(
    db: &mut dyn Sql,
    token_hash: &[u8],
) -> StoreResult<Option<(DeviceRecord, i64)>> {
    let Some(mut r) = db.opt(
        "SELECT id, member_id, actor, name, created_at, revoked_at,
                (SELECT value FROM meta WHERE key = 'directory_version')
         FROM devices WHERE token_hash = ?1",
        &[token_hash.into()],
    )?
    else {
        return Ok(None);
    };
    let version = r.int(6)?;
    Ok(Some((device_row(&mut r)?, version)))
}

pub fn devices(db: &mut dyn Sql) -> StoreResult<Vec<DeviceRecord>> {
    let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY created_at, id");
    db.query(&sql, &[])?.iter_mut().map(device_row).collect()
}

pub fn revoke(db: &mut dyn Sql, target: &RevokeTarget<'_>, now: i64) -> StoreResult<usize> {
    let n = match target {
        RevokeTarget::Device(id) => db.exec(
            "UPDATE devices SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            &[(*id).into(), now.into()],
        )?,
        RevokeTarget::Member(id) => {
            // Unused invites of the member go too.
            db.exec(
                "UPDATE invites SET used_at = ?2 WHERE member_id = ?1 AND used_at IS NULL",
                &[(*id).into(), now.into()],
            )?;
            db.exec(
                "UPDATE devices SET revoked_at = ?2 WHERE member_id = ?1 AND revoked_at IS NULL",
                &[(*id).into(), now.into()],
            )?
        }
    };
    if n > 0 {
        db.announce_directory()?;
    }
    Ok(n as usize)
}
