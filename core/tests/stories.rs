//! The stories users tell about the app, each on real store files.

mod common;

use common::*;
use outpost_core::{
    AnswerValue, Category, Datum, Error, EventKind, FollowUp, InspectionStatus, Location, NewCase,
    Role, Site, Status, Urgency, ValidationError,
};

const HOUR: i64 = 3_600_000;

fn walkthrough(p: &Phone) -> String {
    p.start_inspection(
        "residential-fire-safety",
        Site::new("650弄 12号楼", GRID),
        None,
    )
    .unwrap()
}

fn answer_all_passing(dir: &tempfile::TempDir, p: &Phone, insp: &str) {
    let t = p.inspection(insp).unwrap().template;
    for item in t.items() {
        let (v, photo) = passing(&item.answer, item.fails_when);
        let files: Vec<_> = photo.map(|n| photo_file(dir, n)).into_iter().collect();
        p.answer_with_photos(insp, &item.id, v, "", &files).unwrap();
    }
}

fn passing(
    kind: &outpost_core::AnswerKind,
    fails_when: Option<bool>,
) -> (AnswerValue, Option<u64>) {
    use outpost_core::AnswerKind::*;
    match kind {
        PassFail => (AnswerValue::Pass, None),
        YesNo => (
            if fails_when == Some(true) {
                AnswerValue::No
            } else {
                AnswerValue::Yes
            },
            None,
        ),
        Number => (AnswerValue::Number(4.0), None),
        Text => (AnswerValue::Text("无".into()), None),
        Photo => (AnswerValue::Photo, Some(1)),
    }
}

#[test]
fn a_courier_flags_a_fallen_elder_offline_without_a_location_fix() {
    let dir = tempfile::tempdir().unwrap();
    let rider = phone(&dir, "rider", Role::Courier);
    // A photo the phone does not hold is refused: it could never be uploaded.
    let elsewhere = "7".repeat(64);
    assert!(matches!(
        rider.flag_person_in_distress(GRID, None, Some("老人倒地"), Some(&elsewhere)),
        Err(outpost_core::Error::Invalid(
            outpost_core::ValidationError::PhotoNotOnDevice(_)
        ))
    ));
    assert!(rider.my_reports(10, 0).unwrap().is_empty());
    let id = rider
        .flag_person_in_distress(GRID, None, Some("老人倒地"), None)
        .unwrap();
    let shot = photo_file(&dir, 7);
    let hash = rider.add_photo_to_case(&id, &shot).unwrap();
    assert_eq!(hash, photo_hash(&shot));
    let c = rider.case(&id).unwrap();
    assert_eq!(
        (c.category, c.urgency, c.status),
        (Category::PersonInDistress, Urgency::LifeSafety, Status::New)
    );
    assert_eq!(
        c.attachments,
        vec![hash],
        "added photos count as the case's"
    );
    assert!(!c.acknowledged);
    assert_eq!(rider.my_reports(10, 0).unwrap()[0].id, id);
    // Life-safety goes to the front of the outbox.
    assert_eq!(rider.outbox(10).unwrap()[0].priority, 0);
}

#[test]
fn two_grid_members_answer_different_items_offline_and_both_answers_survive_the_merge() {
    let dir = tempfile::tempdir().unwrap();
    let li = phone(&dir, "li", Role::GridMember);
    let zhao = phone(&dir, "zhao", Role::GridMember);
    let insp = walkthrough(&li);
    hand_over(&li, &zhao);

    li.answer(&insp, "fire_lane_clear", AnswerValue::Pass, "", &[])
        .unwrap();
    zhao.answer(
        &insp,
        "stairwell_debris",
        AnswerValue::Fail,
        "三楼纸箱",
        &[],
    )
    .unwrap();
    hand_over(&li, &zhao);
    hand_over(&zhao, &li);

    for p in [&li, &zhao] {
        let i = p.inspection(&insp).unwrap();
        assert_eq!(i.answer("fire_lane_clear").unwrap().winner().by, "li");
        let debris = i.answer("stairwell_debris").unwrap();
        assert_eq!(
            (debris.winner().value.clone(), debris.winner().note.as_str()),
            (AnswerValue::Fail, "三楼纸箱")
        );
        assert_eq!(i.conflicts(), 0);
        assert_eq!(i.inspectors, vec!["li".to_string(), "zhao".to_string()]);
    }
    assert_eq!(li.heads(&insp).unwrap(), zhao.heads(&insp).unwrap());
}

#[test]
fn two_grid_members_answer_the_same_item_and_both_values_stay_visible_with_the_same_winner() {
    let dir = tempfile::tempdir().unwrap();
    let li = phone(&dir, "li", Role::GridMember);
    let zhao = phone(&dir, "zhao", Role::GridMember);
    let lead = phone(&dir, "lead", Role::GridLead);
    let insp = walkthrough(&li);
    hand_over(&li, &zhao);

    li.answer(&insp, "extinguishers", AnswerValue::Pass, "", &[])
        .unwrap();
    zhao.answer(&insp, "extinguishers", AnswerValue::Fail, "过期", &[])
        .unwrap();
    // Merge in different orders on different phones.
    hand_over(&zhao, &li);
    hand_over(&li, &lead);
    hand_over(&li, &zhao);

    let seen: Vec<_> = [&li, &zhao, &lead]
        .iter()
        .map(|p| p.inspection(&insp).unwrap())
        .collect();
    let a = seen[0].answer("extinguishers").unwrap();
    assert!(a.is_conflict());
    let mut values: Vec<_> = a
        .answers
        .iter()
        .map(|x| format!("{:?}/{}", x.value, x.by))
        .collect();
    values.sort();
    assert_eq!(values, ["Fail/zhao", "Pass/li"]);
    for other in &seen[1..] {
        assert_eq!(
            other.answer("extinguishers"),
            Some(a),
            "same winner and same order everywhere"
        );
    }
    assert_eq!(li.inspections(None, 10).unwrap()[0].conflicts, 1);
    // A later answer made after seeing both settles it.
    lead.answer(&insp, "extinguishers", AnswerValue::Fail, "复核：过期", &[])
        .unwrap();
    hand_over(&lead, &li);
    let settled = li.inspection(&insp).unwrap();
    assert!(!settled.answer("extinguishers").unwrap().is_conflict());
}

#[test]
fn a_lead_dispatches_while_a_member_resolves_offline_and_both_events_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let rider = phone(&dir, "rider", Role::Courier);
    let lead = phone(&dir, "lead", Role::GridLead);
    let li = phone(&dir, "li", Role::GridMember);
    let id = rider
        .create_case(NewCase::new(
            Category::Waste,
            Urgency::Normal,
            "垃圾堆放 waste pile",
            GRID,
        ))
        .unwrap();
    hand_over(&rider, &lead);
    hand_over(&rider, &li);

    lead.record(
        &id,
        EventKind::Dispatched {
            unit_id: "chengguan".into(),
            deadline: T0 + 48 * HOUR,
        },
    )
    .unwrap();
    li.record(
        &id,
        EventKind::Resolved {
            note: "已清理".into(),
        },
    )
    .unwrap();
    hand_over(&lead, &li);
    hand_over(&li, &lead);
    hand_over(&li, &rider);

    let cases: Vec<_> = [&lead, &li, &rider]
        .iter()
        .map(|p| p.case(&id).unwrap())
        .collect();
    for c in &cases {
        assert_eq!(c, &cases[0]);
        let kinds: Vec<_> = c
            .timeline
            .iter()
            .map(|e| e.event.kind.name().to_string())
            .collect();
        assert!(
            kinds.contains(&"dispatched".to_string()) && kinds.contains(&"resolved".to_string())
        );
        assert_eq!(c.timeline.len(), 3);
    }
    // Whichever order the merge chose, the status is the same everywhere and any event
    // that no longer fits is flagged, not dropped.
    let c = &cases[0];
    assert_eq!(c.status, Status::Resolved);
    let order: Vec<_> = c.timeline.iter().map(|e| e.event.kind.name()).collect();
    if order[1] == "resolved" {
        assert!(c.timeline[2].conflict.is_some());
        assert_eq!(c.conflicts, 1);
    } else {
        assert_eq!(c.conflicts, 0);
        assert_eq!(c.assigned_unit.as_deref(), Some("chengguan"));
    }
    assert_eq!(
        lead.all_cases(10, 0).unwrap(),
        rider.all_cases(10, 0).unwrap()
    );
}

#[test]
fn the_lead_accepts_dispatches_and_closes_after_a_follow_up_and_the_courier_sees_the_acknowledgement()
 {
    let dir = tempfile::tempdir().unwrap();
    let rider = phone(&dir, "rider", Role::Courier);
    let lead = phone(&dir, "lead", Role::GridLead);
    let unit = phone(&dir, "unit", Role::Responder);
    let id = rider
        .flag_person_in_distress(GRID, None, None, None)
        .unwrap();
    hand_over(&rider, &lead);
    lead.record(&id, EventKind::Accepted).unwrap();
    hand_over(&lead, &rider);
    assert!(rider.case(&id).unwrap().acknowledged);

    // The responder may not touch it before it is dispatched to its unit.
    hand_over(&lead, &unit);
    assert!(matches!(
        unit.record(
            &id,
            EventKind::Resolved {
                note: String::new()
            }
        ),
        Err(Error::Forbidden(_))
    ));
    lead.record(
        &id,
        EventKind::Dispatched {
            unit_id: "chengguan".into(),
            deadline: T0 + HOUR,
        },
    )
    .unwrap();
    hand_over(&lead, &unit);
    unit.record(
        &id,
        EventKind::Progress {
            note: "到场".into(),
        },
    )
    .unwrap();
    unit.record(
        &id,
        EventKind::Resolved {
            note: "送医".into(),
        },
    )
    .unwrap();
    hand_over(&unit, &lead);
    lead.record(
        &id,
        EventKind::FollowUp(FollowUp {
            visited_at: T0 + 2 * HOUR,
            satisfaction: 5,
            note: "满意".into(),
        }),
    )
    .unwrap();
    let c = lead.case(&id).unwrap();
    assert_eq!(c.status, Status::Closed);
    assert_eq!(c.follow_up.map(|f| f.satisfaction), Some(5));
    assert_eq!(c.conflicts, 0);
}

#[test]
fn role_rules_are_enforced_in_core() {
    let dir = tempfile::tempdir().unwrap();
    let rider = phone(&dir, "rider", Role::Courier);
    let other_rider = phone(&dir, "rider2", Role::Courier);
    let li = phone(&dir, "li", Role::GridMember);
    let id = rider
        .flag_person_in_distress(GRID, None, None, None)
        .unwrap();
    hand_over(&rider, &other_rider);
    hand_over(&rider, &li);
    let dispatch = EventKind::Dispatched {
        unit_id: "u".into(),
        deadline: T0 + HOUR,
    };
    let close = EventKind::FollowUp(FollowUp {
        visited_at: T0,
        satisfaction: 4,
        note: String::new(),
    });
    assert!(matches!(
        rider.record(&id, dispatch.clone()),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        rider.record(&id, EventKind::Accepted),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        rider.record(&id, close.clone()),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        other_rider.record(&id, EventKind::Comment { text: "hi".into() }),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(li.record(&id, dispatch), Err(Error::Forbidden(_))));
    assert!(matches!(
        li.record(&id, EventKind::Accepted),
        Err(Error::Forbidden(_))
    ));
    // A member outside the grid cannot open a case there; a responder cannot open one at all.
    let stranger = phone(&dir, "stranger", Role::GridMember);
    stranger
        .set_member(&outpost_core::Member::new(
            "stranger",
            "s",
            Role::GridMember,
            ["other-grid"],
        ))
        .unwrap();
    let c = NewCase::new(Category::Noise, Urgency::Low, "噪音", GRID);
    assert!(matches!(
        stranger.create_case(c.clone()),
        Err(Error::Forbidden(_))
    ));
    let unit = phone(&dir, "unit", Role::Responder);
    assert!(matches!(unit.create_case(c), Err(Error::Forbidden(_))));
    assert!(matches!(
        rider.start_inspection("residential-fire-safety", Site::new("x", GRID), None),
        Err(Error::Forbidden(_))
    ));
    // The courier may still comment on and cancel its own new report.
    rider
        .record(
            &id,
            EventKind::Comment {
                text: "老人已被扶起".into(),
            },
        )
        .unwrap();
    rider
        .record(
            &id,
            EventKind::Cancelled {
                reason: "误报".into(),
            },
        )
        .unwrap();
    assert!(matches!(
        rider.record(
            &id,
            EventKind::Resolved {
                note: String::new()
            }
        ),
        Err(Error::Forbidden(_))
    ));
    let lead = phone(&dir, "lead", Role::GridLead);
    hand_over(&rider, &lead);
    assert!(matches!(
        lead.record(&id, EventKind::Accepted),
        Err(Error::Transition { .. })
    ));
}

#[test]
fn every_bad_input_gets_a_typed_error_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lead = phone(&dir, "lead", Role::GridLead);
    let bad = |c: NewCase| lead.create_case(c).unwrap_err();
    let base = NewCase::new(Category::FireHazard, Urgency::Urgent, "楼道堆物", GRID);
    let mut c = base.clone();
    c.title = "   ".into();
    assert!(matches!(
        bad(c),
        Error::Invalid(ValidationError::Empty { field: "title" })
    ));
    let mut c = base.clone();
    c.location = Some(Location::new(91.0, 121.0, Datum::Wgs84));
    assert!(matches!(
        bad(c),
        Error::Invalid(ValidationError::Latitude(_))
    ));
    let mut c = base.clone();
    c.location = Some(Location::new(31.0, -181.0, Datum::Gcj02));
    assert!(matches!(
        bad(c),
        Error::Invalid(ValidationError::Longitude(_))
    ));
    let mut c = base.clone();
    c.location = Some(Location::new(f64::NAN, 0.0, Datum::Gcj02));
    assert!(matches!(
        bad(c),
        Error::Invalid(ValidationError::Latitude(_))
    ));
    let mut c = base.clone();
    c.title = "长".repeat(201);
    assert!(matches!(
        bad(c),
        Error::Invalid(ValidationError::TooLong { .. })
    ));
    let mut c = base.clone();
    c.attachments = vec!["not-a-hash".into()];
    assert!(matches!(
        bad(c),
        Error::Invalid(ValidationError::PhotoHash(_))
    ));
    assert!(lead.all_cases(10, 0).unwrap().is_empty());

    let id = lead.create_case(base).unwrap();
    let follow = |s| {
        EventKind::FollowUp(FollowUp {
            visited_at: T0,
            satisfaction: s,
            note: String::new(),
        })
    };
    for s in [0, 6, -1] {
        assert!(matches!(
            lead.record(&id, follow(s)),
            Err(Error::Invalid(ValidationError::Satisfaction(_)))
        ));
    }
    assert!(matches!(
        lead.record(
            &id,
            EventKind::Dispatched {
                unit_id: "u".into(),
                deadline: T0 - 1
            }
        ),
        Err(Error::Invalid(ValidationError::DeadlineInPast))
    ));
    assert!(matches!(
        lead.record("no-such-case", EventKind::Accepted),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        lead.case("no-such-case"),
        Err(Error::NotFound { kind: "case", .. })
    ));
    assert!(matches!(
        lead.record(&id, follow(5)),
        Err(Error::Transition { .. })
    ));

    let insp = walkthrough(&lead);
    let wrong = lead
        .answer(&insp, "fire_lane_clear", AnswerValue::Number(3.0), "", &[])
        .unwrap_err();
    assert!(
        matches!(
            wrong,
            Error::Invalid(ValidationError::WrongAnswerKind { .. })
        ),
        "{wrong}"
    );
    assert!(matches!(
        lead.answer(&insp, "no_such_item", AnswerValue::Pass, "", &[]),
        Err(Error::Invalid(ValidationError::UnknownItem(_)))
    ));
    assert!(matches!(
        lead.answer(&insp, "stairwell_photo", AnswerValue::Photo, "", &[]),
        Err(Error::Invalid(ValidationError::PhotoRequired(_)))
    ));
    assert!(matches!(
        lead.answer(
            &insp,
            "extinguisher_count",
            AnswerValue::Number(f64::INFINITY),
            "",
            &[]
        ),
        Err(Error::Invalid(ValidationError::NotFinite(_)))
    ));
    assert!(matches!(
        lead.submit_inspection(&insp),
        Err(Error::Invalid(ValidationError::Unanswered { .. }))
    ));
    assert!(matches!(
        lead.start_inspection("no-such-template", Site::new("x", GRID), None),
        Err(Error::NotFound {
            kind: "template",
            ..
        })
    ));
    // Nothing of the rejected answers was stored.
    assert!(lead.inspection(&insp).unwrap().answers.is_empty());
    assert_eq!(lead.case(&id).unwrap().timeline.len(), 1);
}

#[test]
fn submitting_a_walkthrough_raises_hazard_cases_and_a_reinspection_closes_them() {
    let dir = tempfile::tempdir().unwrap();
    let li = phone(&dir, "li", Role::GridMember);
    let insp = walkthrough(&li);
    answer_all_passing(&dir, &li, &insp);
    let wire_photo = photo_file(&dir, 9);
    li.answer_with_photos(
        &insp,
        "flying_wire_charging",
        AnswerValue::Yes,
        "二楼窗口",
        &[&wire_photo],
    )
    .unwrap();
    li.answer(&insp, "stairwell_debris", AnswerValue::Fail, "", &[])
        .unwrap();
    li.answer(
        &insp,
        "extinguisher_count",
        AnswerValue::Number(1.0),
        "",
        &[],
    )
    .unwrap();
    let raised = li.submit_inspection(&insp).unwrap();
    assert_eq!(raised.len(), 3);
    let i = li.inspection(&insp).unwrap();
    assert_eq!(i.status, InspectionStatus::Submitted);
    let wire = li
        .case(&i.hazard_for("flying_wire_charging").unwrap()[0])
        .unwrap();
    assert_eq!(
        (wire.urgency, wire.deadline),
        (Urgency::Urgent, Some(T0 + 24 * HOUR))
    );
    assert_eq!(wire.attachments, vec![photo_hash(&wire_photo)]);
    assert_eq!(
        wire.source.as_ref().map(|s| s.item_id.as_str()),
        Some("flying_wire_charging")
    );
    let debris = li
        .case(&i.hazard_for("stairwell_debris").unwrap()[0])
        .unwrap();
    assert_eq!(debris.deadline, Some(T0 + 72 * HOUR));
    assert!(matches!(
        li.answer(&insp, "hydrants", AnswerValue::Pass, "", &[]),
        Err(Error::Transition { .. })
    ));

    // Two days later the wiring is fixed but the debris is still there: one overdue.
    li.clock.advance(48 * HOUR);
    assert_eq!(
        li.overdue(10)
            .unwrap()
            .iter()
            .map(|c| c.id.clone())
            .collect::<Vec<_>>(),
        vec![wire.id.clone()]
    );
    let again = li
        .start_inspection(
            "residential-fire-safety",
            Site::new("650弄 12号楼", GRID),
            Some(&insp),
        )
        .unwrap();
    answer_all_passing(&dir, &li, &again);
    li.answer(
        &again,
        "stairwell_debris",
        AnswerValue::Fail,
        "仍有杂物",
        &[],
    )
    .unwrap();
    li.answer(
        &again,
        "extinguisher_count",
        AnswerValue::Number(1.0),
        "",
        &[],
    )
    .unwrap();
    let raised_again = li.submit_inspection(&again).unwrap();
    assert_eq!(
        raised_again.len(),
        2,
        "still-failing items raise fresh cases on the re-inspection"
    );
    assert_eq!(li.case(&wire.id).unwrap().status, Status::Resolved);
    assert_eq!(li.case(&debris.id).unwrap().status, Status::New);
    let verified = li.inspection(&again).unwrap().verified;
    assert_eq!(
        verified,
        vec![("flying_wire_charging".to_string(), wire.id.clone())]
    );
    assert!(li.overdue(10).unwrap().is_empty());
}

#[test]
fn lists_read_projections_and_search_finds_chinese_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lead.db");
    {
        let lead = phone(&dir, "lead", Role::GridLead);
        let mut c = NewCase::new(
            Category::DrainageOil,
            Urgency::Normal,
            "沿街商户油污排放",
            GRID,
        );
        c.description = "雨水井口有油污，居民投诉".into();
        c.location = Some(Location::new(31.3, 121.5, Datum::Gcj02).with_address("殷行路650弄"));
        lead.create_case(c).unwrap();
        lead.create_case(NewCase::new(
            Category::Noise,
            Urgency::Low,
            "夜间施工噪音",
            GRID,
        ))
        .unwrap();
        lead.create_case(NewCase::new(
            Category::FireHazard,
            Urgency::Urgent,
            "消防通道被占用",
            GRID,
        ))
        .unwrap();
        lead.flag_person_in_distress(GRID, None, None, None)
            .unwrap();
    }
    // Reopen: lists come straight from the projection tables.
    let lead = outpost_core::Store::open(&path).unwrap();
    let open: Vec<_> = lead
        .open_cases(10, 0)
        .unwrap()
        .into_iter()
        .map(|c| c.urgency)
        .collect();
    assert_eq!(
        open,
        [
            Urgency::LifeSafety,
            Urgency::Urgent,
            Urgency::Normal,
            Urgency::Low
        ]
    );
    assert_eq!(lead.open_cases(2, 2).unwrap().len(), 2);
    assert_eq!(
        lead.cases_in_grid(GRID, Some(Category::Noise), 10, 0)
            .unwrap()
            .len(),
        1
    );
    assert!(lead.cases_in_grid("other", None, 10, 0).unwrap().is_empty());
    let titles = |q: &str| {
        lead.search(q, 10)
            .unwrap()
            .into_iter()
            .map(|c| c.title)
            .collect::<Vec<_>>()
    };
    assert_eq!(titles("油污排放"), ["沿街商户油污排放"]);
    assert_eq!(
        titles("居民投诉"),
        ["沿街商户油污排放"],
        "description is searched"
    );
    assert_eq!(
        titles("殷行路"),
        ["沿街商户油污排放"],
        "address is searched"
    );
    assert_eq!(
        titles("噪音"),
        ["夜间施工噪音"],
        "two-character words work too"
    );
    assert_eq!(titles("消防 通道"), ["消防通道被占用"]);
    assert!(titles("燃气泄漏").is_empty());
    assert!(titles("\"; DROP TABLE cases; --").is_empty());
    assert_eq!(lead.all_cases(10, 0).unwrap().len(), 4);
}

#[test]
fn edits_merge_field_by_field_and_are_recorded_in_the_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let rider = phone(&dir, "rider", Role::Courier);
    let li = phone(&dir, "li", Role::GridMember);
    let id = rider
        .create_case(NewCase::new(
            Category::Other,
            Urgency::Normal,
            "井盖缺失",
            GRID,
        ))
        .unwrap();
    hand_over(&rider, &li);
    rider
        .edit_case(
            &id,
            outpost_core::CaseEdit {
                description: Some("人行道上".into()),
                ..Default::default()
            },
        )
        .unwrap();
    li.edit_case(
        &id,
        outpost_core::CaseEdit {
            category: Some(Category::FacilityDamage),
            urgency: Some(Urgency::Urgent),
            ..Default::default()
        },
    )
    .unwrap();
    hand_over(&rider, &li);
    hand_over(&li, &rider);
    let c = rider.case(&id).unwrap();
    assert_eq!(c, li.case(&id).unwrap());
    assert_eq!(
        (c.category, c.urgency, c.description.as_str()),
        (Category::FacilityDamage, Urgency::Urgent, "人行道上")
    );
    assert_eq!(
        c.timeline
            .iter()
            .filter(|e| e.event.kind.name() == "edited")
            .count(),
        2
    );
}
