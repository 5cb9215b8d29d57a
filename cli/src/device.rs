//! The device subcommands: each opens the store, does one thing, and prints the result.

use std::error::Error;
use std::path::Path;

use outpost_core::sync::{SyncClient, SyncConfig, SyncListener, SyncProgress, SyncReport};
use outpost_core::{
    AnswerValue, Category, Datum, EventKind, FollowUp, Location, NewCase, Site, Store, Urgency,
};

use crate::Command;

pub type Res<T> = Result<T, Box<dyn Error>>;

pub fn run(db: &Path, cmd: Command) -> Res<()> {
    let store = Store::open(db)?;
    match cmd {
        Command::Demo => return crate::demo::run(),
        Command::Enroll { server, code, name } => {
            let client = SyncClient::new(SyncConfig::new(&server))?;
            let out = runtime()?.block_on(client.enroll(&store, &code, &name))?;
            let m = out.directory.member;
            println!(
                "enrolled device {} as {} ({}, {}), grids: {}",
                out.device_id,
                m.name,
                m.id,
                m.role.as_str(),
                m.grids.join(", ")
            );
        }
        Command::Flag {
            grid,
            note,
            lat,
            lon,
            address,
        } => {
            let grid = grid_or_default(&store, grid)?;
            let loc = match (lat, lon) {
                (Some(lat), Some(lon)) => {
                    let mut l = Location::new(lat, lon, Datum::Wgs84);
                    l.address = address;
                    Some(l)
                }
                _ => None,
            };
            let id = store.flag_person_in_distress(&grid, loc, note.as_deref(), None)?;
            println!("{id}");
        }
        Command::Report {
            category,
            urgency,
            title,
            description,
            grid,
        } => {
            let grid = grid_or_default(&store, grid)?;
            let mut c = NewCase::new(
                Category::parse(&category)?,
                Urgency::parse(&urgency)?,
                &title,
                &grid,
            );
            c.description = description;
            println!("{}", store.create_case(c)?);
        }
        Command::List { what } => list(&store, &what)?,
        Command::Show { id } => show(&store, &id)?,
        Command::Inspect {
            template,
            site,
            grid,
            address,
        } => {
            let grid = grid_or_default(&store, grid)?;
            let mut s = Site::new(&site, &grid);
            s.address = address;
            println!("{}", store.start_inspection(&template, s, None)?);
        }
        Command::Answer {
            inspection,
            item,
            value,
            note,
            photos,
        } => {
            store.answer(&inspection, &item, parse_answer(&value)?, &note, &photos)?;
            println!("answered {item}");
        }
        Command::Submit { inspection } => {
            let raised = store.submit_inspection(&inspection)?;
            println!("submitted; {} hazard case(s) raised", raised.len());
            for id in raised {
                println!("  {id}");
            }
        }
        Command::Accept { case } => {
            store.record(&case, EventKind::Accepted)?;
            println!("accepted");
        }
        Command::Dispatch { case, unit, hours } => {
            let deadline = store.now() + hours * 3_600_000;
            store.record(
                &case,
                EventKind::Dispatched {
                    unit_id: unit,
                    deadline,
                },
            )?;
            println!("dispatched");
        }
        Command::Progress { case, note } => {
            store.record(&case, EventKind::Progress { note })?;
            println!("recorded");
        }
        Command::Resolve { case, note } => {
            store.record(&case, EventKind::Resolved { note })?;
            println!("resolved");
        }
        Command::FollowUp {
            case,
            satisfaction,
            note,
        } => {
            let f = FollowUp {
                visited_at: store.now(),
                satisfaction,
                note,
            };
            store.record(&case, EventKind::FollowUp(f))?;
            println!("closed after follow-up");
        }
        Command::Sync => {
            let report = sync(&store, true)?;
            print_report(&report);
        }
        Command::Status => status(&store)?,
    }
    Ok(())
}

pub fn runtime() -> Res<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Prints each round trip as it completes.
struct Printer;

impl SyncListener for Printer {
    fn progress(&self, p: &SyncProgress) {
        eprintln!(
            "  round {}: pushed {} doc(s), pulled {} change(s), {} B up, {} B down{}",
            p.round,
            p.pushed_docs,
            p.pulled_changes,
            p.bytes_sent,
            p.bytes_received,
            if p.more { ", more…" } else { "" }
        );
    }
}

/// Syncs with the server this store enrolled with.
pub fn sync(store: &Store, verbose: bool) -> Res<SyncReport> {
    let url = store
        .sync_state()?
        .server_url
        .ok_or("this device is not enrolled; run `outpost enroll SERVER CODE`")?;
    let client = SyncClient::new(SyncConfig::new(&url))?;
    let listener: Option<&dyn SyncListener> = if verbose { Some(&Printer) } else { None };
    Ok(runtime()?.block_on(client.sync(store, listener))?)
}

pub fn print_report(r: &SyncReport) {
    println!(
        "synced in {} round trip(s), {} ms: pushed {} doc(s) ({} new change(s)), pulled {} change(s) in {} doc(s), {} B up, {} B down",
        r.round_trips,
        r.duration_ms,
        r.pushed_docs,
        r.pushed_changes,
        r.pulled_changes,
        r.pulled_docs,
        r.bytes_sent,
        r.bytes_received
    );
    for x in &r.refused {
        println!("  refused {} ({}): {}", x.id, x.code, x.reason);
    }
}

fn grid_or_default(store: &Store, grid: Option<String>) -> Res<String> {
    if let Some(g) = grid {
        return Ok(g);
    }
    let m = store
        .member()?
        .ok_or("no member on this device; enroll first")?;
    if let Some(g) = m.grids.first() {
        return Ok(g.clone());
    }
    // A courier has no grids of its own: the first grid of the directory is its patch.
    let d = store.directory()?.ok_or("no directory yet; sync first")?;
    d.grids
        .iter()
        .find(|g| g.level == outpost_core::sync::wire::GridLevel::Grid)
        .map(|g| g.id.clone())
        .ok_or_else(|| "name a --grid".into())
}

pub fn parse_answer(v: &str) -> Res<AnswerValue> {
    Ok(match v {
        "pass" => AnswerValue::Pass,
        "fail" => AnswerValue::Fail,
        "na" => AnswerValue::NotApplicable,
        "yes" => AnswerValue::Yes,
        "no" => AnswerValue::No,
        "photo" => AnswerValue::Photo,
        other => match other.strip_prefix("text:") {
            Some(t) => AnswerValue::Text(t.to_string()),
            None => AnswerValue::Number(
                other
                    .parse()
                    .map_err(|_| format!("'{other}' is not an answer"))?,
            ),
        },
    })
}

fn list(store: &Store, what: &str) -> Res<()> {
    if what == "inspections" {
        for i in store.inspections(None, 100)? {
            println!(
                "{}  {:<12} {}/{} answered, {} failed  {} · {}",
                i.id,
                i.status.as_str(),
                i.answered,
                i.total,
                i.failed,
                i.title,
                i.site_name
            );
        }
        return Ok(());
    }
    let rows = match what {
        "open" => store.open_cases(100, 0)?,
        "mine" => store.my_reports(100, 0)?,
        "overdue" => store.overdue(100)?,
        "all" => store.all_cases(1000, 0)?,
        other => return Err(format!("unknown list '{other}'").into()),
    };
    for c in rows {
        println!(
            "{}  [{:<11}] {:<11} {:<10} {}",
            c.id,
            c.urgency.as_str(),
            c.status.as_str(),
            c.grid_id,
            c.title
        );
    }
    Ok(())
}

pub fn show(store: &Store, id: &str) -> Res<()> {
    if let Ok(c) = store.case(id) {
        println!(
            "{} [{}] {} — {} (grid {}, reported by {})",
            c.id, c.urgency, c.title, c.status, c.grid_id, c.reporter_id
        );
        if !c.description.is_empty() {
            println!("  {}", c.description);
        }
        for e in &c.timeline {
            let conflict = e
                .conflict
                .as_deref()
                .map(|c| format!("  ⚠ {c}"))
                .unwrap_or_default();
            println!(
                "  · {:<12} by {:<10} ({}){conflict}",
                e.event.kind.name(),
                e.event.author,
                e.event.role.as_str()
            );
        }
        return Ok(());
    }
    let i = store.inspection(id)?;
    println!(
        "{} {} · {} — {} (inspectors: {})",
        i.id,
        i.template.title,
        i.site.name,
        i.status.as_str(),
        i.inspectors.join(", ")
    );
    for item in i.template.items() {
        let Some(a) = i.answer(&item.id) else {
            println!("  {:<24} —", item.id);
            continue;
        };
        let w = a.winner();
        let others: Vec<String> = a.answers[1..]
            .iter()
            .map(|o| format!("{:?} by {}", o.value, o.by))
            .collect();
        let also = if others.is_empty() {
            String::new()
        } else {
            format!("   (also: {})", others.join(", "))
        };
        println!(
            "  {:<24} {:<14} by {}{also}",
            item.id,
            format!("{:?}", w.value),
            w.by
        );
    }
    Ok(())
}

fn status(store: &Store) -> Res<()> {
    let s = store.sync_state()?;
    match store.member()? {
        Some(m) => println!("member {} ({}, {})", m.name, m.id, m.role.as_str()),
        None => println!("no member"),
    }
    println!("actor {}", store.actor_id()?);
    println!(
        "server {}",
        s.server_url.as_deref().unwrap_or("(not enrolled)")
    );
    println!("cursor {:?}", s.cursor);
    println!(
        "pushed {} change(s), pulled {} change(s) in total",
        s.pushed_total, s.pulled_total
    );
    if let Some(e) = s.last_error {
        println!("last error: {e}");
    }
    println!(
        "waiting to sync: {} document(s)",
        store.outbox(10_000)?.len()
    );
    for r in store.refused_docs()? {
        println!("refused {} ({}): {}", r.id, r.code, r.reason);
    }
    Ok(())
}
