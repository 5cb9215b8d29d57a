//! The whole offline flow on real SQLite files, one store per phone. Until the sync server
//! exists, documents travel between phones by handing over Automerge changes directly,
//! which is exactly what the server will relay.

use std::error::Error;

use outpost_core::{AnswerValue, Datum, EventKind, FollowUp, Location, Member, Role, Site, Store};

type Res<T> = Result<T, Box<dyn Error>>;

const GRID: &str = "yinhang-1-3";

/// Copies every change `from` has and `to` lacks, for every document `from` holds.
fn hand_over(from: &Store, to: &Store) -> Res<usize> {
    let mut batch = Vec::new();
    for id in from.document_ids()? {
        let changes = from.changes_since(&id, &to.heads(&id)?)?;
        if !changes.is_empty() {
            batch.push((id, changes));
        }
    }
    Ok(to.apply_remote(&batch)?.new_changes)
}

pub fn run() -> Res<()> {
    let dir = tempfile::tempdir()?;
    let phone = |name: &str, m: Member| -> Res<Store> {
        let s = Store::open(dir.path().join(format!("{name}.db")))?;
        s.set_member(&m)?;
        Ok(s)
    };
    let grids = [GRID];
    let courier = phone(
        "courier",
        Member::new("rider-07", "王师傅", Role::Courier, grids),
    )?;
    let li = phone(
        "li",
        Member::new("gm-li", "李网格员", Role::GridMember, grids),
    )?;
    let zhao = phone(
        "zhao",
        Member::new("gm-zhao", "赵网格员", Role::GridMember, grids),
    )?;
    let lead = phone(
        "lead",
        Member::new("lead-chen", "陈网格长", Role::GridLead, grids),
    )?;

    println!("== 1. A courier flags a fallen elder, offline");
    let spot = Location::new(31.3178, 121.5203, Datum::Wgs84)
        .with_accuracy(12.0)
        .with_address("殷行路650弄 小区门口");
    let flag =
        courier.flag_person_in_distress(GRID, Some(spot), Some("老人倒地，疑似中暑"), None)?;
    println!("   saved {flag} at once, no signal needed");

    println!("== 2. Two grid members fill one fire-safety walkthrough offline");
    let mut site = Site::new("殷行路650弄 12号楼", GRID);
    site.address = Some("殷行路650弄12号".into());
    let insp = li.start_inspection("residential-fire-safety", site, None)?;
    hand_over(&li, &zhao)?; // Zhao opened the same checklist before going offline.
    let template = li.inspection(&insp)?.template;
    for item in template.items() {
        let (value, photos): (AnswerValue, Vec<String>) = match item.id.as_str() {
            "flying_wire_charging" => (AnswerValue::Yes, vec![]),
            "stairwell_debris" => (AnswerValue::Fail, vec![]),
            "extinguisher_count" => (AnswerValue::Number(2.0), vec![]),
            "other_findings" => (AnswerValue::Text("三楼有纸箱堆放".into()), vec![]),
            "stairwell_photo" => (AnswerValue::Photo, vec![format!("{:064x}", 0xC0FFEEu64)]),
            "gas_modification" | "indoor_ebike" => (AnswerValue::No, vec![]),
            _ => (AnswerValue::Pass, vec![]),
        };
        // Li walks the first half, Zhao the second; both answer the extinguishers.
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
        who.answer(&insp, &item.id, value.clone(), "", &photos)?;
    }
    zhao.answer(
        &insp,
        "extinguishers",
        AnswerValue::Fail,
        "二楼灭火器过期",
        &[],
    )?;
    let moved = hand_over(&li, &zhao)? + hand_over(&zhao, &li)?;
    println!("   merged {moved} changes between the two phones");
    let hazards = li.submit_inspection(&insp)?;
    println!(
        "   submitted: {} failed item(s) raised hazard cases",
        hazards.len()
    );

    println!("== 3. Everyone syncs (the lead receives the flag and the walkthrough)");
    for p in [&courier, &li, &zhao] {
        hand_over(p, &lead)?;
    }

    println!("== 4. The lead accepts, dispatches, and closes after a follow-up visit");
    lead.record(&flag, EventKind::Accepted)?;
    hand_over(&lead, &courier)?;
    let ack = courier.case(&flag)?;
    println!(
        "   courier sees: acknowledged = {} (status {})",
        ack.acknowledged, ack.status
    );
    let deadline = lead.now() + 2 * 60 * 60 * 1000;
    lead.record(
        &flag,
        EventKind::Dispatched {
            unit_id: "juweihui-650".into(),
            deadline,
        },
    )?;
    hand_over(&lead, &li)?;
    li.record(
        &flag,
        EventKind::Progress {
            note: "居委会带志愿者和轮椅赶到".into(),
        },
    )?;
    li.record(
        &flag,
        EventKind::Resolved {
            note: "已送医，家属已联系".into(),
        },
    )?;
    hand_over(&li, &lead)?;
    let visit = FollowUp {
        visited_at: lead.now(),
        satisfaction: 5,
        note: "家属表示感谢".into(),
    };
    lead.record(&flag, EventKind::FollowUp(visit))?;

    println!("\n== The merged case");
    let case = lead.case(&flag)?;
    println!(
        "   {} [{}] {} — status {}",
        case.id, case.urgency, case.title, case.status
    );
    for e in &case.timeline {
        let c = e
            .conflict
            .as_deref()
            .map(|c| format!("  ⚠ {c}"))
            .unwrap_or_default();
        println!(
            "   · {:<12} by {:<10} ({}){c}",
            e.event.kind.name(),
            e.event.author,
            e.event.role.as_str()
        );
    }

    println!("\n== The merged checklist");
    let merged = lead.inspection(&insp)?;
    for item in merged.template.items() {
        let Some(a) = merged.answer(&item.id) else {
            continue;
        };
        let w = a.winner();
        let others: Vec<String> = a.answers[1..]
            .iter()
            .map(|o| format!("{:?} by {}", o.value, o.by))
            .collect();
        let conflict = if others.is_empty() {
            String::new()
        } else {
            format!("   (also: {})", others.join(", "))
        };
        println!(
            "   {:<24} {:<14} by {}{conflict}",
            item.id,
            format!("{:?}", w.value),
            w.by
        );
    }

    println!("\n== The lead's queue (open cases, most urgent first)");
    for c in lead.open_cases(50, 0)? {
        let due = c
            .deadline
            .map(|d| format!("due in {}h", (d - lead.now()) / 3_600_000))
            .unwrap_or_default();
        println!(
            "   [{:<8}] {:<10} {} {due}",
            c.urgency.as_str(),
            c.status.as_str(),
            c.title
        );
    }
    Ok(())
}
