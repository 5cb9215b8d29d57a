//! kill -9 at random moments: every action acknowledged before the kill is in the store
//! after reopening, and the store still opens and passes SQLite's integrity check.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use outpost_core::{AnswerValue, Store};
use rand::Rng;

#[test]
fn every_acknowledged_write_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("phone.db");
    let mut rng = rand::rng();
    let mut acked_cases: Vec<(String, String)> = Vec::new();
    let mut acked_events: Vec<(String, String)> = Vec::new();
    let mut acked_answers: Vec<(String, String, String)> = Vec::new();
    for round in 0..12 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
            .arg(&db)
            .arg(round.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Let it write for a random while, then pull the plug.
        let deadline = Instant::now() + Duration::from_millis(rng.random_range(30..400));
        let mut lines = Vec::new();
        while Instant::now() < deadline {
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(5)) {
                lines.push(l);
            }
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        for l in lines {
            let parts: Vec<&str> = l.splitn(4, ' ').collect();
            match parts.as_slice() {
                ["case", id, title @ ..] => acked_cases.push((id.to_string(), title.join(" "))),
                ["event", case, ev] => acked_events.push((case.to_string(), ev.to_string())),
                ["answer", insp, item, text] => {
                    acked_answers.push((insp.to_string(), item.to_string(), text.to_string()))
                }
                ["inspection", _] => {}
                other => panic!("unexpected line {other:?}"),
            }
        }

        let store = Store::open(&db).expect("the store opens after a kill");
        store.check_integrity().unwrap();
        for (id, title) in &acked_cases {
            let c = store
                .case(id)
                .unwrap_or_else(|e| panic!("acknowledged case {id} lost: {e}"));
            assert_eq!(&c.title, title);
        }
        for (case, ev) in &acked_events {
            let c = store.case(case).unwrap();
            assert!(
                c.timeline.iter().any(|e| &e.event.id == ev),
                "acknowledged event {ev} lost"
            );
        }
        // Each item shows its last acknowledged answer, or one written after it whose
        // acknowledgement the kill cut off; never an older one.
        let mut last = std::collections::HashMap::new();
        for (insp, item, text) in &acked_answers {
            last.insert((insp.clone(), item.clone()), order(text));
        }
        for ((insp, item), acked) in &last {
            let i = store.inspection(insp).unwrap();
            let a = i
                .answer(item)
                .unwrap_or_else(|| panic!("acknowledged answer to {item} lost"));
            let AnswerValue::Text(shown) = &a.winner().value else {
                panic!("wrong answer kind")
            };
            assert!(
                order(shown) >= *acked,
                "{item}: shows {shown}, older than acknowledged {acked:?}"
            );
        }
        let listed = store.all_cases(1_000_000, 0).unwrap().len();
        assert!(
            listed >= acked_cases.len(),
            "projection lost rows: {listed} < {}",
            acked_cases.len()
        );
    }
    assert!(
        acked_cases.len() > 20,
        "the writer barely ran ({} cases); the test proves nothing",
        acked_cases.len()
    );
}

/// "r3 n17" → (3, 17): the order in which the writer made its answers.
fn order(text: &str) -> (u64, u64) {
    let mut nums = text.split(' ').map(|p| p[1..].parse::<u64>().unwrap());
    (nums.next().unwrap(), nums.next().unwrap())
}
