//! The device subcommands: each opens the store, does one thing, and prints the result.
//! The device token lives in `<db>.token`, a file only its user may read (core's
//! `FileTokenStore`), never in the database.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use outpost_core::sync::{SyncClient, SyncConfig, SyncListener, SyncProgress, SyncReport};
use outpost_core::{
    AnswerValue, Case, Category, Datum, EventKind, FollowUp, Inspection, Location, NewCase, Site,
    Store, Urgency,
};

use crate::{Command, Place, note, say};

pub type Res<T> = Result<T, Box<dyn Error>>;

pub fn run(db: &Path, cmd: Command) -> Res<()> {
    let store = Store::open(db)?;
    match cmd {
        Command::Demo => return crate::demo::run(),
        Command::Enroll { server, code, name } => {
            let host = server.split("://").nth(1).unwrap_or(&server);
            if !host
                .split(['/', '?', '#'])
                .next()
                .unwrap_or(host)
                .is_ascii()
            {
                return Err(format!(
                    "write the server's name in its ASCII form (xn--…), not {server}"
                )
                .into());
            }
            let client = SyncClient::new(SyncConfig::new(&server))?;
            let out = runtime()?.block_on(client.enroll(&store, &code, &name))?;
            let m = out.directory.member;
            say!(
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
            at,
            photos,
        } => {
            let grid = grid_or_default(&store, grid)?;
            // Every photo is checked before anything is saved; then the flag goes first and
            // the photos follow on its timeline, so a photo never holds up the flag.
            let imported = photos
                .iter()
                .map(|p| store.import_photo(p))
                .collect::<Result<Vec<_>, _>>()?;
            let id = store.flag_person_in_distress(&grid, location(at), note.as_deref(), None)?;
            for b in &imported {
                store.add_imported_photo_to_case(&id, b)?;
            }
            say!("{id}");
        }
        Command::Report {
            category,
            urgency,
            title,
            description,
            grid,
            at,
            photos,
        } => {
            let grid = grid_or_default(&store, grid)?;
            let mut c = NewCase::new(
                Category::parse(&category)?,
                Urgency::parse(&urgency)?,
                &title,
                &grid,
            );
            c.description = description;
            c.location = location(at);
            say!("{}", store.create_case_with_photos(c, &photos)?);
        }
        Command::List {
            what,
            limit,
            offset,
        } => list(&store, &what, limit, offset)?,
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
            say!("{}", store.start_inspection(&template, s, None)?);
        }
        Command::Answer {
            inspection,
            item,
            value,
            note,
            photos,
        } => {
            let hashes = store.answer_with_photos(
                &inspection,
                &item,
                parse_answer(&value)?,
                &note,
                &photos,
            )?;
            say!("answered {item}");
            for h in hashes {
                say!("  photo {h}");
            }
        }
        Command::Photo { hash, out } => {
            let path = photo_file(&store, &hash)?;
            std::fs::copy(&path, &out)
                .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            say!(
                "photo {hash} → {} ({} bytes)",
                out.display(),
                std::fs::metadata(&out)?.len()
            );
        }
        Command::Submit { inspection } => {
            let raised = store.submit_inspection(&inspection)?;
            say!("submitted; {} hazard case(s) raised", raised.len());
            for id in raised {
                say!("  {id}");
            }
        }
        Command::Accept { case } => {
            store.record(&case, EventKind::Accepted)?;
            say!("accepted");
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
            say!("dispatched");
        }
        Command::Progress { case, note } => {
            store.record(&case, EventKind::Progress { note })?;
            say!("recorded");
        }
        Command::Resolve { case, note } => {
            store.record(&case, EventKind::Resolved { note })?;
            say!("resolved");
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
            say!("closed after follow-up");
        }
        Command::Sync { no_photos } => {
            let mut report = sync(&store, true)?;
            let fetched = if no_photos {
                Fetched::default()
            } else {
                fetch_new_photos(&store, &report, true)?
            };
            report.blobs_failed.extend(fetched.failed.iter().cloned());
            print_report(&report, fetched.count);
        }
        Command::Status => status(&store)?,
    }
    Ok(())
}

fn location(at: Place) -> Option<Location> {
    let (lat, lon) = (at.lat?, at.lon?);
    let mut l = Location::new(lat, lon, Datum::Wgs84);
    l.accuracy_m = at.accuracy;
    l.address = at.address;
    Some(l)
}

pub fn runtime() -> Res<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Prints each round trip and photo progress as they happen, and a line every ten seconds
/// in which nothing did (a slow link, a server that does not answer), so a long sync is
/// never silent.
struct Printer {
    started: Instant,
    /// Milliseconds since `started` of the last line printed.
    last: AtomicU64,
}

impl Printer {
    fn new() -> Self {
        Printer {
            started: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn line(&self, text: std::fmt::Arguments<'_>) {
        let at = self.started.elapsed();
        self.last.store(at.as_millis() as u64, Ordering::Relaxed);
        note!("  {:>5.1} s  {text}", at.as_secs_f64());
    }

    /// Runs `work` while a thread reports silences longer than ten seconds.
    fn around<T>(&self, work: impl FnOnce() -> T) -> T {
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(250));
                    let now = self.started.elapsed().as_millis() as u64;
                    let quiet = now.saturating_sub(self.last.load(Ordering::Relaxed));
                    if quiet >= 10_000 && !done.load(Ordering::Relaxed) {
                        self.line(format_args!(
                            "waiting for the server ({} s without progress)…",
                            quiet / 1000
                        ));
                    }
                }
            });
            let out = work();
            done.store(true, Ordering::Relaxed);
            out
        })
    }
}

impl SyncListener for Printer {
    fn progress(&self, p: &SyncProgress) {
        if p.round == 0 {
            // Photo transfers report with round 0.
            if p.blob_bytes_sent > 0 {
                self.line(format_args!(
                    "photos: {} B sent{}",
                    p.blob_bytes_sent,
                    if p.more { "" } else { ", one complete" }
                ));
            } else if !p.more {
                self.line(format_args!(
                    "photo: {} B received, complete",
                    p.blob_bytes_received
                ));
            }
            return;
        }
        self.line(format_args!(
            "round {}: pushed {} doc(s), pulled {} change(s), {} B up, {} B down{}",
            p.round,
            p.pushed_docs,
            p.pulled_changes,
            p.bytes_sent,
            p.bytes_received,
            if p.more { ", more…" } else { "" }
        ));
    }
}

fn client_for(store: &Store) -> Res<SyncClient> {
    let url = store
        .sync_state()?
        .server_url
        .ok_or("this device is not enrolled; run `outpost enroll SERVER CODE`")?;
    Ok(SyncClient::new(SyncConfig::new(&url))?)
}

/// Syncs with the server this store enrolled with.
pub fn sync(store: &Store, verbose: bool) -> Res<SyncReport> {
    let client = client_for(store)?;
    let rt = runtime()?;
    if !verbose {
        return Ok(rt.block_on(client.sync(store, None))?);
    }
    let printer = Printer::new();
    printer.line(format_args!("syncing with {}", client.config().server_url));
    Ok(printer.around(|| rt.block_on(client.sync(store, Some(&printer))))?)
}

/// Photos fetched after a sync.
#[derive(Default)]
pub struct Fetched {
    pub count: usize,
    /// (hash, reason) of those that could not be fetched now.
    pub failed: Vec<(String, String)>,
}

/// Fetches the photos of the cases and inspections a sync changed that this device does
/// not hold yet.
pub fn fetch_new_photos(store: &Store, report: &SyncReport, verbose: bool) -> Res<Fetched> {
    let mut wanted: Vec<String> = Vec::new();
    for id in &report.changed_cases {
        let c = store.case(id)?;
        wanted.extend(case_photos(&c));
    }
    for id in &report.changed_inspections {
        let i = store.inspection(id)?;
        wanted.extend(
            i.answers
                .iter()
                .flat_map(|a| a.answers.iter())
                .flat_map(|a| a.photos.clone()),
        );
    }
    wanted.sort();
    wanted.dedup();
    let mut missing = Vec::new();
    for h in wanted {
        if store.photo_path(&h)?.is_none() {
            missing.push(h);
        }
    }
    let mut out = Fetched::default();
    if missing.is_empty() {
        return Ok(out);
    }
    let client = client_for(store)?;
    let rt = runtime()?;
    let printer = Printer::new();
    for h in missing {
        let listener: Option<&dyn SyncListener> = if verbose { Some(&printer) } else { None };
        match printer.around(|| rt.block_on(client.fetch_blob(store, &h, listener))) {
            Ok(_) => out.count += 1,
            Err(e) => out.failed.push((h, e.to_string())),
        }
    }
    Ok(out)
}

/// The file of a photo, fetched from the server if this device does not hold it.
fn photo_file(store: &Store, hash: &str) -> Res<PathBuf> {
    if let Some(p) = store.photo_path(hash)? {
        return Ok(p);
    }
    let client = client_for(store)?;
    let printer = Printer::new();
    printer.line(format_args!("fetching photo {hash}"));
    let rt = runtime()?;
    Ok(printer.around(|| rt.block_on(client.fetch_blob(store, hash, Some(&printer))))?)
}

fn case_photos(c: &Case) -> Vec<String> {
    let mut out = c.attachments.clone();
    for e in &c.timeline {
        if let EventKind::PhotoAdded { hash } = &e.event.kind {
            out.push(hash.clone());
        }
    }
    out
}

pub fn print_report(r: &SyncReport, fetched: usize) {
    say!(
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
    say!(
        "photos: {} sent ({} B), {} fetched, {} failed",
        r.blobs_uploaded,
        r.blob_bytes_sent,
        fetched,
        r.blobs_failed.len()
    );
    for (hash, why) in &r.blobs_failed {
        say!("  photo {hash} failed: {why}");
    }
    for x in &r.refused {
        say!("  refused {} ({}): {}", x.id, x.code, x.reason);
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

/// Prints a page of a list, and says so when there is more after it.
fn list(store: &Store, what: &str, limit: u32, offset: u32) -> Res<()> {
    let (limit, offset) = (i64::from(limit), i64::from(offset));
    // One row more than asked for tells whether the list goes on.
    let window = limit + 1;
    let shown = if what == "inspections" {
        // The store lists inspections from the newest without an offset: skip here.
        let rows = store.inspections(None, offset + window)?;
        let page: Vec<_> = rows.into_iter().skip(offset as usize).collect();
        for i in page.iter().take(limit as usize) {
            say!(
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
        page.len() as i64
    } else {
        let rows = match what {
            "open" => store.open_cases(window, offset)?,
            "mine" => store.my_reports(window, offset)?,
            "overdue" => store
                .overdue(offset + window)?
                .into_iter()
                .skip(offset as usize)
                .collect(),
            "all" => store.all_cases(window, offset)?,
            other => {
                return Err(format!(
                    "unknown list '{other}' (open, mine, overdue, all, inspections)"
                )
                .into());
            }
        };
        for c in rows.iter().take(limit as usize) {
            say!(
                "{}  [{:<11}] {:<11} {:<10} {}",
                c.id,
                c.urgency.as_str(),
                c.status.as_str(),
                c.grid_id,
                c.title
            );
        }
        rows.len() as i64
    };
    if shown > limit {
        say!(
            "… {limit} shown from {}; more follow: --offset {} (--limit sets the page size)",
            offset + 1,
            offset + limit
        );
    }
    Ok(())
}

/// A case or an inspection, whichever `id` is.
pub fn show(store: &Store, id: &str) -> Res<()> {
    match store.case(id) {
        Ok(c) => {
            show_case(store, &c)?;
            return Ok(());
        }
        Err(outpost_core::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    match store.inspection(id) {
        Ok(i) => show_inspection(store, &i),
        Err(outpost_core::Error::NotFound { .. }) => {
            Err(format!("no case or inspection {id} on this device").into())
        }
        Err(e) => Err(e.into()),
    }
}

fn show_case(store: &Store, c: &Case) -> Res<()> {
    say!(
        "{} [{}] {} — {} (grid {}, reported by {})",
        c.id,
        c.urgency,
        c.title,
        c.status,
        c.grid_id,
        c.reporter_id
    );
    say!("  {} · reported {}", c.category, when(c.created_at));
    if let Some(l) = &c.location {
        say!("  at {}", place(l));
    }
    if !c.description.is_empty() {
        say!("  {}", c.description);
    }
    if let Some(u) = &c.assigned_unit {
        let due = c.deadline.map(|d| format!(", due {}", when(d)));
        say!("  assigned to {u}{}", due.unwrap_or_default());
    }
    for h in &c.attachments {
        say!("  photo {h} ({})", held(store, h)?);
    }
    for e in &c.timeline {
        let conflict = e
            .conflict
            .as_deref()
            .map(|c| format!("  ⚠ {c}"))
            .unwrap_or_default();
        let detail = match &e.event.kind {
            EventKind::Dispatched { unit_id, deadline } => {
                format!(": {unit_id}, due {}", when(*deadline))
            }
            EventKind::Progress { note } | EventKind::Resolved { note } => said(note),
            EventKind::FollowUp(f) => format!(
                ": satisfaction {}/5, visited {}{}",
                f.satisfaction,
                when(f.visited_at),
                said(&f.note).replacen(':', ",", 1)
            ),
            EventKind::Reopened { reason } | EventKind::Cancelled { reason } => said(reason),
            EventKind::Comment { text } => said(text),
            EventKind::PhotoAdded { hash } => format!(": {hash} ({})", held(store, hash)?),
            EventKind::Edited(edit) => format!(": {}", edit.field_names()),
            EventKind::Moved { grid_id } => format!(": to grid {grid_id}"),
            EventKind::Created | EventKind::Accepted | EventKind::Unknown { .. } => String::new(),
        };
        say!(
            "  · {}  {:<12} by {:<10} ({}){detail}{conflict}",
            when(e.event.at),
            e.event.kind.name(),
            e.event.author,
            e.event.role.as_str()
        );
    }
    Ok(())
}

fn show_inspection(store: &Store, i: &Inspection) -> Res<()> {
    say!(
        "{} {} · {} — {} (inspectors: {})",
        i.id,
        i.template.title,
        i.site.name,
        i.status.as_str(),
        i.inspectors.join(", ")
    );
    say!(
        "  started {} by {}{}",
        when(i.started_at),
        i.started_by,
        i.submitted_at
            .map(|t| format!(", submitted {}", when(t)))
            .unwrap_or_default()
    );
    if let Some(a) = &i.site.address {
        say!("  address {a}");
    }
    if let Some(l) = &i.site.location {
        say!("  at {}", place(l));
    }
    for item in i.template.items() {
        let Some(a) = i.answer(&item.id) else {
            say!("  {:<24} —", item.id);
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
        say!(
            "  {:<24} {:<14} by {} {}{}{also}",
            item.id,
            format!("{:?}", w.value),
            w.by,
            when(w.at),
            said(&w.note)
        );
        for h in &w.photos {
            say!("  {:<24} photo {h} ({})", "", held(store, h)?);
        }
    }
    for (item, cases) in &i.hazards {
        say!("  hazard from {item}: {}", cases.join(", "));
    }
    Ok(())
}

fn said(text: &str) -> String {
    if text.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", text.trim())
    }
}

fn held(store: &Store, hash: &str) -> Res<&'static str> {
    Ok(if store.photo_path(hash)?.is_some() {
        "on this device"
    } else {
        "not fetched: outpost photo HASH --out FILE"
    })
}

fn place(l: &Location) -> String {
    let mut s = format!("{:.6}, {:.6} ({:?})", l.lat, l.lon, l.datum);
    if let Some(a) = l.accuracy_m {
        s.push_str(&format!(" ±{a:.0} m"));
    }
    if let Some(a) = &l.address {
        s.push_str(&format!(", {a}"));
    }
    s
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM UTC`.
pub fn when(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn status(store: &Store) -> Res<()> {
    let s = store.sync_state()?;
    match store.member()? {
        Some(m) => say!("member {} ({}, {})", m.name, m.id, m.role.as_str()),
        None => say!("no member"),
    }
    say!("actor {}", store.actor_id()?);
    say!(
        "server {}",
        s.server_url.as_deref().unwrap_or("(not enrolled)")
    );
    say!("cursor {:?}", s.cursor);
    say!(
        "pushed {} change(s), pulled {} change(s) in total",
        s.pushed_total,
        s.pulled_total
    );
    if let Some(e) = s.last_error {
        say!("last error: {e}");
    }
    say!(
        "waiting to sync: {} document(s)",
        store.outbox(10_000)?.len()
    );
    let waiting = store.pending_uploads()?;
    let (local, cached) = store.blob_bytes()?;
    say!(
        "photos waiting to upload: {} ({local} B); uploaded or fetched kept here: {cached} B",
        waiting.len()
    );
    for r in store.refused_docs()? {
        say!("refused {} ({}): {}", r.id, r.code, r.reason);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_utc_dates() {
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(when(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(when(1_798_761_599_000), "2026-12-31 23:59 UTC");
        assert_eq!(when(-60_000), "1969-12-31 23:59 UTC");
    }
}
