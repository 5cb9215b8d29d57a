//! `outpost demo`: the whole story on real SQLite files against a real server on loopback.
//! The server runs in this process on 127.0.0.1 with its database in a temporary
//! directory; every phone is its own store, enrolled with an invite code, and everything
//! between them travels through the server's sync feed.

use std::sync::Arc;
use std::time::Duration;

use outpost_core::sync::wire::{GridInfo, GridLevel, UnitInfo};
use outpost_core::sync::{SyncClient, SyncConfig, SyncReport};
use outpost_core::{AnswerValue, Datum, EventKind, FollowUp, Location, Role, Site, Store};
use outpost_server::{App, Directory, Limits, MemberEntry, SqliteStorage, Storage};

use crate::device::{Res, show};
use crate::jpeg;
use crate::say;

const GRID: &str = "yinhang-1-3";
const OTHER_GRID: &str = "yinhang-1-4";
const UNIT: &str = "juweihui-650";

fn directory() -> Directory {
    let grid = |id: &str, name: &str, level, parent: Option<&str>| GridInfo {
        id: id.into(),
        name: name.into(),
        level,
        parent: parent.map(Into::into),
    };
    let member = |id: &str, name: &str, role, grids: &[&str], unit: Option<&str>| MemberEntry {
        id: id.into(),
        name: name.into(),
        role,
        grids: grids.iter().map(|g| g.to_string()).collect(),
        unit: unit.map(Into::into),
    };
    Directory {
        grids: vec![
            grid("yinhang", "殷行街道", GridLevel::Street, None),
            grid(
                "yinhang-1",
                "殷行第一综合网格",
                GridLevel::Comprehensive,
                Some("yinhang"),
            ),
            grid(GRID, "殷行路650弄网格", GridLevel::Grid, Some("yinhang-1")),
            grid(OTHER_GRID, "开鲁路网格", GridLevel::Grid, Some("yinhang-1")),
        ],
        units: vec![
            UnitInfo {
                id: UNIT.into(),
                name: "居委会 Residents' committee".into(),
            },
            UnitInfo {
                id: "chengguan".into(),
                name: "城管 City management".into(),
            },
        ],
        members: vec![
            member("rider-07", "王师傅", Role::Courier, &[], None),
            member("gm-li", "李网格员", Role::GridMember, &[GRID], None),
            member("gm-zhao", "赵网格员", Role::GridMember, &[GRID], None),
            member("gm-sun", "孙网格员", Role::GridMember, &[OTHER_GRID], None),
            member(
                "lead-chen",
                "陈网格长",
                Role::GridLead,
                &["yinhang-1"],
                None,
            ),
            member("resp-wu", "吴主任", Role::Responder, &[], Some(UNIT)),
        ],
        templates: outpost_core::Template::builtin(),
        version: 0,
    }
}

struct Phone {
    name: &'static str,
    store: Store,
}

/// Runs the server and the phones; `figures` collects every sync for the closing table.
struct World {
    rt: tokio::runtime::Runtime,
    client: SyncClient,
    figures: Vec<(String, SyncReport)>,
}

impl World {
    fn sync(&mut self, p: &Phone, why: &str) -> Res<SyncReport> {
        let r = self.rt.block_on(self.client.sync(&p.store, None))?;
        say!(
            "   {:<6} synced: pushed {} doc(s), pulled {} change(s), {} round trip(s){}",
            p.name,
            r.pushed_docs,
            r.pulled_changes,
            r.round_trips,
            if r.blobs_uploaded > 0 {
                format!(", uploaded {} photo(s)", r.blobs_uploaded)
            } else {
                String::new()
            }
        );
        for (hash, why) in &r.blobs_failed {
            say!("     photo {hash} failed: {why}");
        }
        for x in &r.refused {
            say!("     refused {}: {}", x.id, x.reason);
        }
        self.figures
            .push((format!("{} · {why}", p.name), r.clone()));
        Ok(r)
    }
}

pub fn run() -> Res<()> {
    let dir = tempfile::tempdir()?;
    let storage = Arc::new(SqliteStorage::open(dir.path().join("server.db"))?);
    outpost_server::cli::import(&*storage, &directory()).map_err(|e| format!("directory: {e}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = App::new(storage.clone(), Limits::default());
    app.set_blob_store(Arc::new(outpost_server::blobs::SqliteBlobStore::open(
        dir.path().join("server-blobs.db"),
    )?));
    let server = rt.spawn(outpost_server::serve(
        app,
        listener,
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));
    say!("== 0. Server on {url}, SQLite in {}", dir.path().display());
    let mut world = World {
        client: SyncClient::new(SyncConfig::new(&url))?,
        rt,
        figures: Vec::new(),
    };
    let enroll = |name: &'static str, member: &str| -> Res<Phone> {
        let store = Store::open(dir.path().join(format!("{name}.db")))?;
        let code = outpost_server::cli::invite(&*storage, member, 1)
            .map_err(|e| format!("invite: {e}"))?;
        let out = world
            .rt
            .block_on(world.client.enroll(&store, &code, name))?;
        say!(
            "   {name:<6} enrolled with invite {code} as {} ({})",
            out.directory.member.name,
            out.directory.member.role.as_str()
        );
        Ok(Phone { name, store })
    };
    let courier = enroll("rider", "rider-07")?;
    let li = enroll("li", "gm-li")?;
    let zhao = enroll("zhao", "gm-zhao")?;
    let lead = enroll("lead", "lead-chen")?;
    let sun = enroll("sun", "gm-sun")?;
    let wu = enroll("wu", "resp-wu")?;

    say!("== 1. The courier flags a fallen elder with no signal");
    let spot = Location::new(31.3178, 121.5203, Datum::Wgs84)
        .with_accuracy(12.0)
        .with_address("殷行路650弄 小区门口");
    let flag = courier.store.flag_person_in_distress(
        GRID,
        Some(spot),
        Some("老人倒地，疑似中暑"),
        None,
    )?;
    say!("   saved {flag} at once, offline");
    // The camera's file: a small real JPEG stands in for the photo.
    let lane_jpg = dir.path().join("lane-650.jpg");
    std::fs::write(
        &lane_jpg,
        jpeg::blocks(96, 64, |c, r| (40 + c * 14 + r * 9) as u8),
    )?;
    let lane_photo = courier.store.add_photo_to_case(&flag, &lane_jpg)?;
    say!(
        "   and adds the photo she took ({} bytes): {lane_photo}",
        std::fs::metadata(&lane_jpg)?.len()
    );

    say!("== 2. Li opens a fire-safety walkthrough; Zhao picks it up before both go offline");
    let mut site = Site::new("殷行路650弄 12号楼", GRID);
    site.address = Some("殷行路650弄12号".into());
    let insp = li
        .store
        .start_inspection("residential-fire-safety", site, None)?;
    world.sync(&li, "share walkthrough")?;
    world.sync(&zhao, "get walkthrough")?;
    let template = li.store.inspection(&insp)?.template;
    let stairwell_jpg = dir.path().join("stairwell.jpg");
    std::fs::write(
        &stairwell_jpg,
        jpeg::blocks(128, 96, |c, r| {
            if (c + r) % 3 == 0 {
                200
            } else {
                60 + r as u8 * 12
            }
        }),
    )?;
    for item in template.items() {
        let (value, photos): (AnswerValue, Vec<&std::path::Path>) = match item.id.as_str() {
            "flying_wire_charging" => (AnswerValue::Yes, vec![]),
            "stairwell_debris" => (AnswerValue::Fail, vec![]),
            "extinguisher_count" => (AnswerValue::Number(2.0), vec![]),
            "other_findings" => (AnswerValue::Text("三楼有纸箱堆放".into()), vec![]),
            "stairwell_photo" => (AnswerValue::Photo, vec![stairwell_jpg.as_path()]),
            "gas_modification" | "indoor_ebike" => (AnswerValue::No, vec![]),
            _ => (AnswerValue::Pass, vec![]),
        };
        // Li walks the first sections, Zhao the rest; both answer the extinguishers.
        let section = template
            .sections
            .iter()
            .position(|s| s.items.iter().any(|i| i.id == item.id))
            .unwrap_or(0);
        let who = if section < 3 || item.id == "extinguishers" {
            &li
        } else {
            &zhao
        };
        who.store
            .answer_with_photos(&insp, &item.id, value, "", &photos)?;
    }
    zhao.store.answer(
        &insp,
        "extinguishers",
        AnswerValue::Fail,
        "二楼灭火器过期",
        &[],
    )?;
    say!("   both filled their parts offline; both answered 'extinguishers'");

    say!("== 3. Signal returns: everyone syncs");
    world.sync(&courier, "flag")?;
    world.sync(&li, "answers")?;
    world.sync(&zhao, "answers")?;
    world.sync(&li, "merge")?;
    let hazards = li.store.submit_inspection(&insp)?;
    say!(
        "   Li submits the merged walkthrough: {} hazard case(s) raised",
        hazards.len()
    );
    world.sync(&li, "submit")?;
    world.sync(&zhao, "converge")?;
    world.sync(&lead, "queue")?;
    world.sync(&sun, "other grid")?;
    say!(
        "   the other grid's member holds {} case(s): nothing of grid {GRID} reached it",
        sun.store.all_cases(100, 0)?.len()
    );
    // Photos travel on demand: the lead's phone fetches the stairwell photo it was sent.
    let merged = lead.store.inspection(&insp)?;
    let stairwell = merged
        .answer("stairwell_photo")
        .map(|a| a.winner().photos.clone())
        .unwrap_or_default();
    for hash in &stairwell {
        let before = lead.store.photo_path(hash)?.is_some();
        let path = world
            .rt
            .block_on(world.client.fetch_blob(&lead.store, hash, None))?;
        let same = std::fs::read(&path)? == std::fs::read(&stairwell_jpg)?;
        say!(
            "   lead's phone held the stairwell photo before: {before}; fetched {} bytes, identical to the photo taken: {same}",
            std::fs::metadata(&path)?.len()
        );
    }

    say!("== 4. The lead accepts, dispatches to the residents' committee, and follows up");
    lead.store.record(&flag, EventKind::Accepted)?;
    world.sync(&lead, "accept")?;
    world.sync(&courier, "acknowledgement")?;
    let ack = courier.store.case(&flag)?;
    say!(
        "   courier sees: acknowledged = {} (status {})",
        ack.acknowledged,
        ack.status
    );
    let deadline = lead.store.now() + 2 * 3_600_000;
    lead.store.record(
        &flag,
        EventKind::Dispatched {
            unit_id: UNIT.into(),
            deadline,
        },
    )?;
    world.sync(&lead, "dispatch")?;
    world.sync(&wu, "dispatched to unit")?;
    say!(
        "   the unit received the case with its whole history: {} event(s)",
        wu.store.case(&flag)?.timeline.len()
    );
    wu.store.record(
        &flag,
        EventKind::Progress {
            note: "居委会带志愿者和轮椅赶到".into(),
        },
    )?;
    wu.store.record(
        &flag,
        EventKind::Resolved {
            note: "已送医，家属已联系".into(),
        },
    )?;
    world.sync(&wu, "resolve")?;
    world.sync(&lead, "resolution")?;
    let visit = FollowUp {
        visited_at: lead.store.now(),
        satisfaction: 5,
        note: "家属表示感谢".into(),
    };
    lead.store.record(&flag, EventKind::FollowUp(visit))?;
    world.sync(&lead, "close")?;
    world.sync(&courier, "closed")?;
    let lane = world
        .rt
        .block_on(world.client.fetch_blob(&wu.store, &lane_photo, None))?;
    say!(
        "   the unit's phone fetched the courier's photo: identical = {}",
        std::fs::read(&lane)? == std::fs::read(&lane_jpg)?
    );

    say!("\n== The merged case, as the courier's phone has it");
    show(&courier.store, &flag)?;

    say!("\n== The merged checklist, as Zhao's phone has it");
    show(&zhao.store, &insp)?;
    let same = li.store.inspection(&insp)? == zhao.store.inspection(&insp)?
        && lead.store.inspection(&insp)? == zhao.store.inspection(&insp)?;
    say!("   Li, Zhao and the lead hold the same checklist: {same}");

    say!("\n== The workstation's figures (server)");
    let figs = storage.figures(&outpost_server::stats::FigureQuery {
        grids: None,
        now: outpost_server::api::now_ms(),
        weeks: 4,
        standards: Default::default(),
    })?;
    for g in &figs.grids {
        let f = &g.figures;
        say!(
            "   grid {:<12} {} case(s), {} open, resolution rate {}, satisfaction {}",
            g.grid_id,
            f.total,
            f.open,
            f.resolution_rate
                .map(|r| format!("{:.0}%", r * 100.0))
                .unwrap_or_else(|| "-".into()),
            f.avg_satisfaction
                .map(|s| format!("{s:.1}"))
                .unwrap_or_else(|| "-".into())
        );
    }

    say!("\n== Sync figures");
    say!(
        "   {:<34} {:>6} {:>8} {:>9} {:>7} {:>7} {:>7}",
        "device · why",
        "trips",
        "B up",
        "B down",
        "pushed",
        "pulled",
        "photos"
    );
    for (what, r) in &world.figures {
        say!(
            "   {:<34} {:>6} {:>8} {:>9} {:>7} {:>7} {:>7}",
            what,
            r.round_trips,
            r.bytes_sent,
            r.bytes_received,
            r.pushed_docs,
            r.pulled_changes,
            r.blobs_uploaded
        );
    }
    let idle = world.sync(&courier, "nothing new")?;
    say!(
        "   a sync with nothing new: {} round trip, {} B up, {} B down (bodies)",
        idle.round_trips,
        idle.bytes_sent,
        idle.bytes_received
    );
    let _ = stop.send(());
    world.rt.block_on(server)??;
    Ok(())
}
