//! Property test: three replicas run random case and inspection operations with random
//! merges in between; after a full exchange they hold identical heads, documents and
//! projections, and every event anyone recorded is still there.

mod common;

use common::*;
use outpost_core::{
    AnswerValue, Category, EventKind, FollowUp, Member, NewCase, Role, Site, Store, Urgency,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Create {
        at: usize,
        urgency: usize,
    },
    Event {
        at: usize,
        case: usize,
        kind: usize,
    },
    Edit {
        at: usize,
        case: usize,
        title: u8,
    },
    Start {
        at: usize,
    },
    Answer {
        at: usize,
        insp: usize,
        item: usize,
        fail: bool,
    },
    Submit {
        at: usize,
        insp: usize,
    },
    Merge {
        from: usize,
        to: usize,
    },
    Tick {
        ms: i64,
    },
}

fn op(n: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..n, 0..4usize).prop_map(|(at, urgency)| Op::Create { at, urgency }),
        6 => (0..n, 0..8usize, 0..8usize).prop_map(|(at, case, kind)| Op::Event { at, case, kind }),
        1 => (0..n, 0..8usize, any::<u8>()).prop_map(|(at, case, title)| Op::Edit { at, case, title }),
        1 => (0..n).prop_map(|at| Op::Start { at }),
        5 => (0..n, 0..3usize, 0..20usize, any::<bool>())
            .prop_map(|(at, insp, item, fail)| Op::Answer { at, insp, item, fail }),
        1 => (0..n, 0..3usize).prop_map(|(at, insp)| Op::Submit { at, insp }),
        3 => (0..n, 0..n).prop_map(|(from, to)| Op::Merge { from, to }),
        1 => (1..100_000i64).prop_map(|ms| Op::Tick { ms }),
    ]
}

fn event(kind: usize, now: i64) -> EventKind {
    match kind {
        0 => EventKind::Accepted,
        1 => EventKind::Dispatched {
            unit_id: format!("unit-{}", now % 3),
            deadline: now + 3_600_000,
        },
        2 => EventKind::Progress {
            note: "跟进中".into(),
        },
        3 => EventKind::Resolved {
            note: "已处理".into(),
        },
        4 => EventKind::FollowUp(FollowUp {
            visited_at: now,
            satisfaction: 1 + now % 5,
            note: String::new(),
        }),
        5 => EventKind::Reopened {
            reason: "复发".into(),
        },
        6 => EventKind::Cancelled {
            reason: "重复".into(),
        },
        _ => EventKind::Comment {
            text: format!("备注 {now}"),
        },
    }
}

fn answer_for(
    dir: &tempfile::TempDir,
    kind: outpost_core::AnswerKind,
    fail: bool,
) -> (AnswerValue, Vec<std::path::PathBuf>) {
    use outpost_core::AnswerKind::*;
    match (kind, fail) {
        (PassFail, f) => (
            if f {
                AnswerValue::Fail
            } else {
                AnswerValue::Pass
            },
            vec![],
        ),
        (YesNo, f) => (if f { AnswerValue::Yes } else { AnswerValue::No }, vec![]),
        (Number, f) => (AnswerValue::Number(if f { 0.0 } else { 3.0 }), vec![]),
        (Text, f) => (AnswerValue::Text(format!("{f}")), vec![]),
        (Photo, f) => (AnswerValue::Photo, vec![photo_file(dir, f as u64 + 1)]),
    }
}

fn snapshot(s: &Store) -> String {
    let mut out = String::new();
    for id in s.document_ids().unwrap() {
        out += &format!("{id} {:?}\n", s.heads(&id).unwrap());
        match s.case(&id) {
            Ok(c) => out += &format!("{c:?}\n"),
            Err(_) => out += &format!("{:?}\n", s.inspection(&id).unwrap()),
        }
    }
    out += &format!(
        "{:?}\n{:?}\n",
        s.all_cases(10_000, 0).unwrap(),
        s.inspections(None, 10_000).unwrap()
    );
    out += &format!("{:?}\n", s.open_cases(10_000, 0).unwrap());
    out
}

/// Admins, so the role rules never hide a merge problem; the state rules still apply.
fn admins(dir: &tempfile::TempDir) -> Vec<Phone> {
    (0..3)
        .map(|i| phone(dir, &format!("admin-{i}"), Role::Admin))
        .collect()
}

/// Everyone who acts on a grid's cases, each acting offline on what their phone shows:
/// their actions cross (a courier cancels what the lead has dispatched, a responder
/// resolves what went to another unit) and the merge must judge each where it lands.
fn mixed(dir: &tempfile::TempDir) -> Vec<Phone> {
    let people = [
        Member::new("lead", "L", Role::GridLead, [GRID]),
        Member::new("rider", "R", Role::Courier, [GRID]),
        Member::new("gm", "G", Role::GridMember, [GRID]),
        Member::new("resp-0", "U0", Role::Responder, [GRID]).with_unit("unit-0"),
        Member::new("resp-1", "U1", Role::Responder, [GRID]).with_unit("unit-1"),
    ];
    people
        .into_iter()
        .map(|m| {
            let clock = std::sync::Arc::new(outpost_core::FixedClock::new(T0));
            let store = Store::open_with_clock(
                dir.path().join(format!("{}.db", m.id)),
                std::sync::Arc::new(clock.clone()),
            )
            .unwrap();
            store.set_member(&m).unwrap();
            Phone { store, clock }
        })
        .collect()
}

/// Replays each case's timeline in its fold order: every event that took effect was
/// allowed to its author on the state right before it, as the merged history has it.
fn no_action_beyond_its_rights(s: &Store, cases: &[String]) -> Result<(), TestCaseError> {
    use outpost_core::case::{Acting, CaseState, fold, permit};
    for id in cases {
        let c = s.case(id).unwrap();
        let events: Vec<_> = c.timeline.iter().map(|t| t.event.clone()).collect();
        for k in 1..events.len() {
            let before = fold(&c.root, &events[..k]);
            let state = CaseState {
                status: before.status,
                grid_id: &before.grid_id,
                reporter_id: &c.reporter_id,
                assigned_unit: before.assigned_unit.as_deref(),
            };
            let e = &events[k];
            if c.timeline[k].conflict.is_none() {
                prop_assert!(
                    permit(&Acting::of_event(e), &state, &e.kind).is_ok(),
                    "{:?} by {} took effect on {:?}",
                    e.kind,
                    e.author,
                    state
                );
            }
        }
        let all = fold(&c.root, &events);
        prop_assert_eq!(
            (all.status, all.assigned_unit.as_deref()),
            (c.status, c.assigned_unit.as_deref())
        );
    }
    Ok(())
}

fn run(ops: Vec<Op>, people: fn(&tempfile::TempDir) -> Vec<Phone>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let phones = people(&dir);
    let n = phones.len();
    let mut cases: Vec<String> = Vec::new();
    let mut insps: Vec<String> = Vec::new();
    let mut events_recorded = 0usize;
    let mut answered: std::collections::BTreeSet<(String, String)> = Default::default();
    for op in ops {
        match op {
            Op::Create { at, urgency } => {
                let u = Urgency::ALL[urgency];
                // A responder may not report: refused, nothing recorded.
                if let Ok(id) =
                    phones[at].create_case(NewCase::new(Category::Other, u, "随机", GRID))
                {
                    cases.push(id);
                    events_recorded += 1;
                }
            }
            Op::Event { at, case, kind } => {
                let Some(id) = cases.get(case) else { continue };
                let p = &phones[at];
                if p.record(id, event(kind, p.now())).is_ok() {
                    events_recorded += 1;
                }
            }
            Op::Edit { at, case, title } => {
                let Some(id) = cases.get(case) else { continue };
                let edit = outpost_core::CaseEdit {
                    title: Some(format!("标题{title}")),
                    ..Default::default()
                };
                if phones[at].edit_case(id, edit).is_ok() {
                    events_recorded += 1;
                }
            }
            Op::Start { at } => {
                let site = Site::new("楼", GRID);
                if let Ok(id) = phones[at].start_inspection("residential-fire-safety", site, None) {
                    insps.push(id);
                }
            }
            Op::Answer {
                at,
                insp,
                item,
                fail,
            } => {
                let Some(id) = insps.get(insp) else { continue };
                let p = &phones[at];
                let Ok(i) = p.inspection(id) else { continue };
                let items: Vec<_> = i.template.items().cloned().collect();
                let it = &items[item % items.len()];
                let (v, photos) = answer_for(&dir, it.answer, fail);
                if p.answer_with_photos(id, &it.id, v, "", &photos).is_ok() {
                    answered.insert((id.clone(), it.id.clone()));
                }
            }
            Op::Submit { at, insp } => {
                let Some(id) = insps.get(insp) else { continue };
                if let Ok(raised) = phones[at].submit_inspection(id) {
                    events_recorded += raised.len();
                    cases.extend(raised);
                }
            }
            Op::Merge { from, to } if from != to => {
                hand_over(&phones[from], &phones[to]);
            }
            Op::Merge { .. } => {}
            Op::Tick { ms } => phones.iter().for_each(|p| p.clock.advance(ms)),
        }
    }
    for _ in 0..2 {
        for a in 0..n {
            for b in 0..n {
                if a != b {
                    hand_over(&phones[a], &phones[b]);
                }
            }
        }
    }
    let first = snapshot(&phones[0]);
    for p in &phones[1..] {
        prop_assert_eq!(&snapshot(p), &first);
    }
    let total: usize = cases
        .iter()
        .map(|id| phones[0].case(id).unwrap().timeline.len())
        .sum();
    prop_assert_eq!(total, events_recorded, "an event was lost or invented");
    for (insp, item) in answered {
        prop_assert!(
            phones[0].inspection(&insp).unwrap().answer(&item).is_some(),
            "answer to {} lost",
            item
        );
    }
    no_action_beyond_its_rights(&phones[0], &cases)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, max_shrink_iters: 200, ..ProptestConfig::default() })]
    #[test]
    fn three_replicas_converge_on_identical_documents_and_projections(ops in prop::collection::vec(op(3), 1..60)) {
        run(ops, admins)?;
    }

    #[test]
    fn crossing_actions_of_every_role_converge_and_none_takes_effect_beyond_its_rights(
        ops in prop::collection::vec(op(5), 1..80)
    ) {
        run(ops, mixed)?;
    }
}
