//! The `outpost` binary as a person uses it: the demo, and a device's commands against a
//! server on loopback.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use outpost_server::{App, Directory, Limits, MemberEntry, SqliteStorage, Storage};

fn outpost(db: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run outpost");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_demo_runs_the_whole_story_through_the_server() {
    let out = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .arg("demo")
        .output()
        .expect("run the demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "courier sees: acknowledged = true",
        "the other grid's member holds 0 case(s)",
        "the unit received the case with its whole history",
        "— closed (grid yinhang-1-3",
        "(also: Fail by gm-zhao)",
        "hold the same checklist: true",
        "a sync with nothing new: 1 round trip",
    ] {
        assert!(text.contains(expected), "missing '{expected}' in:\n{text}");
    }
    assert!(!text.contains("refused"), "{text}");
}

#[test]
fn a_device_enrolls_flags_syncs_and_sees_the_acceptance() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(SqliteStorage::open(dir.path().join("server.db")).unwrap());
    let grid = outpost_core::sync::wire::GridInfo {
        id: "G1".into(),
        name: "grid".into(),
        level: outpost_core::sync::wire::GridLevel::Grid,
        parent: None,
    };
    let member = |id: &str, role| MemberEntry {
        id: id.into(),
        name: id.into(),
        role,
        grids: if role == outpost_core::Role::Courier {
            vec![]
        } else {
            vec!["G1".into()]
        },
        unit: None,
    };
    storage
        .import_directory(&Directory {
            grids: vec![grid],
            members: vec![
                member("rider", outpost_core::Role::Courier),
                member("lead", outpost_core::Role::GridLead),
            ],
            templates: outpost_core::Template::builtin(),
            ..Directory::default()
        })
        .unwrap();
    let rider_code = outpost_server::cli::invite(&*storage, "rider", 1).unwrap();
    let lead_code = outpost_server::cli::invite(&*storage, "lead", 1).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = App::new(storage, Limits::default());
    rt.spawn(outpost_server::serve(
        app,
        listener,
        std::future::pending(),
        Duration::from_secs(1),
    ));

    let rider = dir.path().join("rider.db");
    let lead = dir.path().join("lead.db");
    let (ok, text) = outpost(&rider, &["enroll", &url, &rider_code]);
    assert!(ok, "{text}");
    assert!(text.contains("courier"), "{text}");
    let (ok, text) = outpost(&lead, &["enroll", &url, &lead_code]);
    assert!(ok, "{text}");
    let (ok, case_id) = outpost(
        &rider,
        &[
            "flag",
            "--note",
            "老人倒地",
            "--lat",
            "31.3",
            "--lon",
            "121.5",
        ],
    );
    assert!(ok, "{case_id}");
    let case_id = case_id.trim().to_string();
    let (ok, text) = outpost(&rider, &["sync"]);
    assert!(ok && text.contains("pushed 1 doc"), "{text}");
    let (ok, text) = outpost(&lead, &["sync"]);
    assert!(ok, "{text}");
    let (_, text) = outpost(&lead, &["list", "open"]);
    assert!(text.contains(&case_id), "{text}");
    let (ok, text) = outpost(&lead, &["accept", &case_id]);
    assert!(ok, "{text}");
    outpost(&lead, &["sync"]);
    outpost(&rider, &["sync"]);
    let (_, text) = outpost(&rider, &["show", &case_id]);
    assert!(text.contains("accepted"), "{text}");
    let (_, text) = outpost(&rider, &["status"]);
    assert!(text.contains("waiting to sync: 0"), "{text}");
    // A courier may not accept: refused locally with a reason, nothing queued.
    let (ok, text) = outpost(&rider, &["accept", &case_id]);
    assert!(!ok && text.contains("not allowed"), "{text}");
}
