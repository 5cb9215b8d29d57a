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
        "uploaded 1 photo(s)",
        "lead's phone held the stairwell photo before: false",
        "identical to the photo taken: true",
        "the unit's phone fetched the courier's photo: identical = true",
    ] {
        assert!(text.contains(expected), "missing '{expected}' in:\n{text}");
    }
    assert!(!text.contains("refused"), "{text}");
}

/// A server on loopback with grid G1, a courier, a lead and two grid members; its URL and
/// one invite code per member.
fn server(dir: &std::path::Path) -> (tokio::runtime::Runtime, String, Vec<(String, String)>) {
    let storage = Arc::new(SqliteStorage::open(dir.join("server.db")).unwrap());
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
                member("gm-li", outpost_core::Role::GridMember),
                member("gm-zhao", outpost_core::Role::GridMember),
            ],
            templates: outpost_core::Template::builtin(),
            ..Directory::default()
        })
        .unwrap();
    let codes = ["rider", "lead", "gm-li", "gm-zhao"]
        .iter()
        .map(|m| {
            let code = outpost_server::cli::invite(&*storage, m, 1).unwrap();
            (m.to_string(), code)
        })
        .collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = App::new(storage, Limits::default());
    app.set_blob_store(Arc::new(
        outpost_server::blobs::SqliteBlobStore::open(dir.join("blobs.db")).unwrap(),
    ));
    rt.spawn(outpost_server::serve(
        app,
        listener,
        std::future::pending(),
        Duration::from_secs(1),
    ));
    (rt, url, codes)
}

fn code<'a>(codes: &'a [(String, String)], member: &str) -> &'a str {
    &codes.iter().find(|(m, _)| m == member).unwrap().1
}

#[test]
fn a_device_enrolls_flags_syncs_and_sees_the_acceptance() {
    let dir = tempfile::tempdir().unwrap();
    let (_rt, url, codes) = server(dir.path());
    let (rider_code, lead_code) = (code(&codes, "rider"), code(&codes, "lead"));

    let rider = dir.path().join("rider.db");
    let lead = dir.path().join("lead.db");
    let (ok, text) = outpost(&rider, &["enroll", &url, rider_code]);
    assert!(ok, "{text}");
    assert!(text.contains("courier"), "{text}");
    let (ok, text) = outpost(&lead, &["enroll", &url, lead_code]);
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

/// A small real JPEG written by the demo's encoder is not reachable from here: a JFIF
/// header and random bytes are a photo as far as core's type check goes.
fn photo_file(dir: &std::path::Path, name: &str, len: usize, seed: u8) -> std::path::PathBuf {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
    let mut x = u32::from(seed) + 1;
    v.extend((4..len).map(|_| {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (x >> 16) as u8
    }));
    let p = dir.join(name);
    std::fs::write(&p, v).unwrap();
    p
}

#[test]
fn photos_from_files_travel_to_another_phone_and_show_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let (_rt, url, codes) = server(dir.path());
    let li = dir.path().join("li.db");
    let zhao = dir.path().join("zhao.db");
    assert!(outpost(&li, &["enroll", &url, code(&codes, "gm-li")]).0);
    assert!(outpost(&zhao, &["enroll", &url, code(&codes, "gm-zhao")]).0);
    // The token is in a file beside the database, not in it.
    let token = std::fs::read_to_string(dir.path().join("li.db.token")).unwrap();
    let db_bytes = std::fs::read(&li).unwrap();
    assert!(!db_bytes.windows(token.len()).any(|w| w == token.as_bytes()));

    let front = photo_file(dir.path(), "front.jpg", 150_000, 1);
    let side = photo_file(dir.path(), "side.jpg", 40_000, 2);
    let (ok, case_id) = outpost(
        &li,
        &[
            "report",
            "--category",
            "fire_hazard",
            "--urgency",
            "urgent",
            "--title",
            "消防通道堵塞",
            "--lat",
            "31.3181",
            "--lon",
            "121.5125",
            "--accuracy",
            "8",
            "--address",
            "殷行路650弄",
            "--photo",
            front.to_str().unwrap(),
            "--photo",
            side.to_str().unwrap(),
        ],
    );
    assert!(ok, "{case_id}");
    let case_id = case_id.trim().to_string();
    // The lead takes it on; Li reports progress with a note.
    let lead = dir.path().join("lead.db");
    assert!(outpost(&lead, &["enroll", &url, code(&codes, "lead")]).0);
    let (ok, text) = outpost(&li, &["sync"]);
    assert!(ok && text.contains("photos: 2 sent"), "{text}");
    assert!(outpost(&lead, &["sync"]).0);
    let (ok, text) = outpost(&lead, &["accept", &case_id]);
    assert!(ok, "{text}");
    assert!(outpost(&lead, &["sync"]).0);
    assert!(outpost(&li, &["sync"]).0);
    let (ok, text) = outpost(&li, &["progress", &case_id, "已通知物业清理"]);
    assert!(ok, "{text}");
    // Not a photo: refused before anything is saved.
    let notes = dir.path().join("notes.jpg");
    std::fs::write(&notes, "not a picture").unwrap();
    let (ok, text) = outpost(
        &li,
        &[
            "report",
            "--category",
            "waste",
            "--title",
            "x",
            "--photo",
            notes.to_str().unwrap(),
        ],
    );
    assert!(
        !ok && text.contains("is not a JPEG, PNG, WebP or HEIC photo"),
        "{text}"
    );

    let (ok, text) = outpost(&li, &["show", &case_id]);
    assert!(ok, "{text}");
    for expected in [
        "31.318100, 121.512500",
        "±8 m",
        "殷行路650弄",
        "on this device",
        "已通知物业清理",
        " UTC",
    ] {
        assert!(text.contains(expected), "missing '{expected}' in:\n{text}");
    }
    let hashes: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("photo "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(hashes.len(), 2, "{text}");

    let (ok, text) = outpost(&li, &["sync"]);
    assert!(
        ok && text.contains("photos: 0 sent"),
        "sent at the first sync: {text}"
    );
    let (ok, text) = outpost(&zhao, &["sync", "--no-photos"]);
    assert!(ok && text.contains("0 fetched"), "{text}");
    let (_, text) = outpost(&zhao, &["show", &case_id]);
    assert!(text.contains("not fetched"), "{text}");
    let out = dir.path().join("fetched.jpg");
    let (ok, text) = outpost(
        &zhao,
        &["photo", &hashes[0], "--out", out.to_str().unwrap()],
    );
    assert!(ok, "{text}");
    let original =
        if std::fs::metadata(&front).unwrap().len() == std::fs::metadata(&out).unwrap().len() {
            &front
        } else {
            &side
        };
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(original).unwrap()
    );

    // A checklist answer with a photo file, fetched by the other phone's sync.
    let (ok, insp) = outpost(
        &li,
        &["inspect", "residential-fire-safety", "--site", "12号楼"],
    );
    assert!(ok, "{insp}");
    let insp = insp.trim().to_string();
    let stair = photo_file(dir.path(), "stair.jpg", 90_000, 3);
    let (ok, text) = outpost(
        &li,
        &[
            "answer",
            &insp,
            "stairwell_photo",
            "photo",
            "--photo",
            stair.to_str().unwrap(),
        ],
    );
    assert!(ok && text.contains("photo "), "{text}");
    assert!(outpost(&li, &["sync"]).1.contains("photos: 1 sent"));
    let (ok, text) = outpost(&zhao, &["sync"]);
    assert!(ok && text.contains("1 fetched, 0 failed"), "{text}");
    let (_, text) = outpost(&zhao, &["show", &insp]);
    assert!(
        text.contains("stairwell_photo") && text.contains("on this device"),
        "{text}"
    );
    let (ok, text) = outpost(&zhao, &["show", "no-such-thing"]);
    assert!(
        !ok && text.contains("no case or inspection no-such-thing"),
        "{text}"
    );
}

#[test]
fn lists_say_where_they_were_cut_and_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    {
        let store = outpost_core::Store::open(&db).unwrap();
        store
            .set_member(&outpost_core::Member::new(
                "m",
                "M",
                outpost_core::Role::GridMember,
                ["G1"],
            ))
            .unwrap();
        let cases: Vec<_> = (0..2500)
            .map(|i| {
                outpost_core::NewCase::new(
                    outpost_core::Category::Waste,
                    outpost_core::Urgency::Low,
                    &format!("case {i}"),
                    "G1",
                )
            })
            .collect();
        store.create_cases(&cases).unwrap();
    }
    let (ok, text) = outpost(&db, &["list", "all", "--limit", "3"]);
    assert!(ok, "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains("case ")).count(),
        3,
        "{text}"
    );
    assert!(text.contains("more follow: --offset 3"), "{text}");
    let (_, text) = outpost(&db, &["list", "all", "--limit", "3", "--offset", "2497"]);
    assert_eq!(
        text.lines().filter(|l| l.contains("case ")).count(),
        3,
        "{text}"
    );
    assert!(!text.contains("more follow"), "{text}");
    let (_, text) = outpost(&db, &["list", "all", "--limit", "5000"]);
    assert_eq!(text.lines().filter(|l| l.contains("case ")).count(), 2500);

    // `outpost list all --limit 5000 | head -n 1`: the reader leaves after one line.
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .arg("--db")
        .arg(&db)
        .args(["list", "all", "--limit", "5000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("case 0"), "{first}");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?} {err}", out.status);
    assert!(!err.contains("panicked"), "{err}");
}
