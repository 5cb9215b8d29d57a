//! The sweep: every role × status × action. What `case_actions` offers succeeds through the
//! store; what it withholds is refused with the very reason it gave.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;
use crate::case::{Category, NewCase, Status, Urgency};
use crate::clock::FixedClock;
use crate::error::Error;
use crate::store::Store;

const T0: i64 = 1_780_000_000_000;
const DAY: i64 = 86_400_000;

/// Who asks, on their own phone. `None` as member: a phone not enrolled.
fn people() -> Vec<(&'static str, Option<Member>)> {
    vec![
        (
            "reporting courier",
            Some(Member::new("rider", "R", Role::Courier, ["g1"])),
        ),
        (
            "other courier",
            Some(Member::new("rider2", "R2", Role::Courier, ["g1"])),
        ),
        (
            "grid member",
            Some(Member::new("gm", "GM", Role::GridMember, ["g1"])),
        ),
        (
            "member of another grid",
            Some(Member::new("gm2", "GM2", Role::GridMember, ["g2"])),
        ),
        (
            "grid lead",
            Some(Member::new("lead", "L", Role::GridLead, ["g1"])),
        ),
        (
            "lead of another grid",
            Some(Member::new("lead2", "L2", Role::GridLead, ["g2"])),
        ),
        (
            "responder of the unit",
            Some(Member::new("resp", "Re", Role::Responder, ["g1"]).with_unit("u1")),
        ),
        (
            "responder of another unit",
            Some(Member::new("resp2", "Re2", Role::Responder, ["g1"]).with_unit("u2")),
        ),
        (
            "administrator",
            Some(Member::new("admin", "A", Role::Admin, ["g1"])),
        ),
        ("phone not enrolled", None),
    ]
}

const STATUSES: [Status; 8] = [
    Status::New,
    Status::Accepted,
    Status::Dispatched,
    Status::InProgress,
    Status::Resolved,
    Status::Closed,
    Status::Reopened,
    Status::Cancelled,
];

fn phone(dir: &Path, name: &str, member: Option<&Member>) -> Store {
    let s = Store::open_with_clock(
        dir.join(format!("{name}.db")),
        Arc::new(FixedClock::new(T0)),
    )
    .unwrap();
    if let Some(m) = member {
        s.set_member(m).unwrap();
    }
    s
}

fn hand_over(from: &Store, to: &Store) {
    let mut batch = Vec::new();
    for id in from.document_ids().unwrap() {
        let changes = from.changes_since(&id, &to.heads(&id).unwrap()).unwrap();
        if !changes.is_empty() {
            batch.push((id, changes));
        }
    }
    to.apply_remote(&batch).unwrap();
}

/// A case the courier reported, taken by the administrator to `status`; the phone of the
/// administrator holds it.
fn case_in(dir: &Path, status: Status) -> (Store, String) {
    let rider = phone(
        dir,
        "setup-rider",
        Some(&Member::new("rider", "R", Role::Courier, ["g1"])),
    );
    let id = rider
        .create_case(NewCase::new(Category::Waste, Urgency::Normal, "堆物", "g1"))
        .unwrap();
    let admin = phone(
        dir,
        "setup-admin",
        Some(&Member::new("admin", "A", Role::Admin, ["g1"])),
    );
    hand_over(&rider, &admin);
    let path: &[EventKind] = match status {
        Status::New => &[],
        Status::Accepted => &[EventKind::Accepted],
        Status::Dispatched => &[EventKind::Accepted, dispatch()],
        Status::InProgress => &[EventKind::Accepted, dispatch(), progress()],
        Status::Resolved => &[EventKind::Accepted, dispatch(), resolve()],
        Status::Closed => &[EventKind::Accepted, dispatch(), resolve(), follow_up()],
        Status::Reopened => &[EventKind::Accepted, dispatch(), resolve(), reopen()],
        Status::Cancelled => &[cancel()],
    };
    for k in path {
        admin.record(&id, k.clone()).unwrap();
    }
    assert_eq!(admin.case(&id).unwrap().status, status);
    (admin, id)
}

fn dispatch() -> EventKind {
    EventKind::Dispatched {
        unit_id: "u1".into(),
        deadline: T0 + DAY,
    }
}
fn progress() -> EventKind {
    EventKind::Progress {
        note: "在处理".into(),
    }
}
fn resolve() -> EventKind {
    EventKind::Resolved {
        note: "已清理".into(),
    }
}
fn follow_up() -> EventKind {
    EventKind::FollowUp(FollowUp {
        visited_at: T0,
        satisfaction: 5,
        note: "满意".into(),
    })
}
fn reopen() -> EventKind {
    EventKind::Reopened {
        reason: "又堆了".into(),
    }
}
fn cancel() -> EventKind {
    EventKind::Cancelled {
        reason: "误报".into(),
    }
}

fn photo(dir: &Path) -> PathBuf {
    let p = dir.join("shot.jpg");
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    b.extend((0..500u32).map(|i| i as u8));
    std::fs::write(&p, b).unwrap();
    p
}

/// Tries `action` through the store's public calls, with a valid payload.
fn attempt(s: &Store, dir: &Path, id: &str, action: Action) -> crate::Result<()> {
    match action {
        Action::Accept => s.record(id, EventKind::Accepted).map(drop),
        Action::Dispatch => s.record(id, dispatch()).map(drop),
        Action::Progress => s.record(id, progress()).map(drop),
        Action::Resolve => s.record(id, resolve()).map(drop),
        Action::FollowUp => s.record(id, follow_up()).map(drop),
        Action::Reopen => s.record(id, reopen()).map(drop),
        Action::Cancel => s.record(id, cancel()).map(drop),
        Action::Comment => s
            .record(
                id,
                EventKind::Comment {
                    text: "看到了".into(),
                },
            )
            .map(drop),
        Action::AddPhoto => s.add_photo_to_case(id, photo(dir)).map(drop),
        Action::Edit => s.edit_case(
            id,
            CaseEdit {
                title: Some("堆物（已核实）".into()),
                ..Default::default()
            },
        ),
        Action::Move => s.move_case(id, "g2").map(drop),
    }
}

#[test]
fn every_role_status_and_action_does_what_the_offer_says() {
    let dir = tempfile::tempdir().unwrap();
    let mut offered_cells = 0;
    let mut n = 0;
    for status in STATUSES {
        let (source, id) = case_in(dir.path(), status);
        for (who, member) in people() {
            let offers = {
                let p = phone(dir.path(), &format!("ask-{n}"), member.as_ref());
                n += 1;
                hand_over(&source, &p);
                p.case_actions(&id).unwrap()
            };
            assert_eq!(
                offers.iter().map(|o| o.action).collect::<Vec<_>>(),
                Action::ALL.to_vec(),
                "button order"
            );
            for offer in offers {
                // A fresh phone per attempt: each starts from the same merged state.
                let p = phone(dir.path(), &format!("try-{n}"), member.as_ref());
                n += 1;
                hand_over(&source, &p);
                let before = p.case(&id).unwrap();
                let result = attempt(&p, dir.path(), &id, offer.action);
                let cell = format!("{who} · {status} · {:?}", offer.action);
                match (offer.allowed(), result) {
                    (true, Ok(())) => {
                        offered_cells += 1;
                        assert_ne!(p.case(&id).unwrap(), before, "{cell}: nothing recorded");
                    }
                    (true, Err(e)) => panic!("{cell}: offered, but refused: {e}"),
                    (false, Ok(())) => {
                        panic!("{cell}: withheld ({:?}), but it succeeded", offer.reason)
                    }
                    (false, Err(e)) => {
                        let kind = match &e {
                            Error::NoMember => Withheld::NoMember,
                            Error::Forbidden(_) if offer.withheld == Some(Withheld::OutOfScope) => {
                                Withheld::OutOfScope
                            }
                            Error::Forbidden(_) => Withheld::Role,
                            Error::Transition { .. } => Withheld::State,
                            other => panic!("{cell}: refused with an unexpected error: {other}"),
                        };
                        assert_eq!(Some(kind), offer.withheld, "{cell}");
                        assert_eq!(
                            offer.reason.as_deref(),
                            Some(e.to_string().as_str()),
                            "{cell}"
                        );
                        assert_eq!(p.case(&id).unwrap(), before, "{cell}: refused but changed");
                    }
                }
            }
        }
    }
    // The sweep means something only if both sides are well populated.
    assert!(offered_cells > 60, "{offered_cells} offered cells");
}

/// A few cells spelled out, so the sweep cannot pass on rules that allow nothing or all.
#[test]
fn the_offers_people_rely_on() {
    let dir = tempfile::tempdir().unwrap();
    let ask = |status, member: Member| {
        let sub = tempfile::tempdir_in(dir.path()).unwrap();
        let (source, id) = case_in(sub.path(), status);
        let p = phone(sub.path(), "ask", Some(&member));
        hand_over(&source, &p);
        p.case_actions(&id).unwrap()
    };
    let allowed = |offers: &[ActionOffer]| -> Vec<Action> {
        offers
            .iter()
            .filter(|o| o.allowed())
            .map(|o| o.action)
            .collect()
    };
    let rider = Member::new("rider", "R", Role::Courier, ["g1"]);
    assert_eq!(
        allowed(&ask(Status::New, rider.clone())),
        [
            Action::Cancel,
            Action::Comment,
            Action::AddPhoto,
            Action::Edit
        ]
    );
    let after_accept = ask(Status::Accepted, rider);
    let cancel = &after_accept[Action::ALL
        .iter()
        .position(|a| *a == Action::Cancel)
        .unwrap()];
    assert_eq!(cancel.withheld, Some(Withheld::State));
    let lead = Member::new("lead", "L", Role::GridLead, ["g1"]);
    assert_eq!(
        allowed(&ask(Status::New, lead.clone()))[..3],
        [Action::Accept, Action::Dispatch, Action::Resolve]
    );
    assert!(allowed(&ask(Status::Resolved, lead)).contains(&Action::FollowUp));
    let resp = Member::new("resp", "Re", Role::Responder, ["g1"]).with_unit("u1");
    assert_eq!(
        allowed(&ask(Status::Dispatched, resp.clone())),
        [
            Action::Progress,
            Action::Resolve,
            Action::Comment,
            Action::AddPhoto
        ]
    );
    let not_yet = ask(Status::Accepted, resp);
    assert!(
        not_yet
            .iter()
            .all(|o| o.withheld == Some(Withheld::OutOfScope))
    );
    let other = Member::new("gm2", "GM2", Role::GridMember, ["g2"]);
    assert!(
        ask(Status::New, other)
            .iter()
            .all(|o| o.withheld == Some(Withheld::OutOfScope))
    );
}

#[test]
fn items_say_their_choices_and_photos() {
    let t = crate::template::Template::builtin()
        .into_iter()
        .next()
        .unwrap();
    let rules: Vec<ItemRule> = t.items().map(item_rule).collect();
    assert!(rules.iter().any(|r| r.kind == AnswerKind::PassFail
        && r.choices
            == [
                AnswerValue::Pass,
                AnswerValue::Fail,
                AnswerValue::NotApplicable
            ]
        && r.failing_choices == [AnswerValue::Fail]));
    assert!(
        rules
            .iter()
            .filter(|r| r.kind == AnswerKind::Photo)
            .all(|r| r.photo_required && r.choices.is_empty())
    );
}

#[test]
fn a_walkthrough_says_what_is_missing_and_who_may_submit() {
    let dir = tempfile::tempdir().unwrap();
    let gm = Member::new("gm", "GM", Role::GridMember, ["g1"]);
    let s = phone(dir.path(), "gm", Some(&gm));
    let insp = s
        .start_inspection(
            "residential-fire-safety",
            crate::inspection::Site::new("12号楼", "g1"),
            None,
        )
        .unwrap();
    let r = s.inspection_readiness(&insp).unwrap();
    assert!(!r.can_submit && r.can_answer && r.withheld.is_none());
    let total = s.inspection(&insp).unwrap().template.items().count();
    assert_eq!(r.missing.len(), total);
    assert!(s.submit_inspection(&insp).is_err());
    let courier = phone(
        dir.path(),
        "rider",
        Some(&Member::new("rider", "R", Role::Courier, ["g1"])),
    );
    hand_over(&s, &courier);
    let r = courier.inspection_readiness(&insp).unwrap();
    assert_eq!((r.can_submit, r.withheld), (false, Some(Withheld::Role)));
    assert_eq!(
        courier.submit_inspection(&insp).unwrap_err().to_string(),
        r.reason.unwrap()
    );
}
