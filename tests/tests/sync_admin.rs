//! Directory administration seen from the devices: export and import, a member moved to
//! another grid, a case moved to another grid, a directory change reaching a phone — and a
//! feed read while many devices write, which must never skip a change.

use std::sync::{Arc, Barrier};

use outpost_core::{Category, NewCase, Urgency};
use outpost_server::Storage;
use outpost_tests::harness::{Device, Server, city};

#[test]
fn the_directory_exports_imports_and_refuses_what_does_not_fit() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dir.json");
    server.admin(&["directory", "export", out.to_str().unwrap()]);
    let exported: outpost_server::Directory =
        serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(exported.members.len(), city().members.len());
    assert_eq!(exported.grids.len(), 5);

    // Into a fresh server: the same directory comes out.
    let other = Server::start(&outpost_server::Directory::default());
    other.admin(&["directory", "import", out.to_str().unwrap()]);
    let again = dir.path().join("again.json");
    other.admin(&["directory", "export", again.to_str().unwrap()]);
    let mut a: outpost_server::Directory =
        serde_json::from_slice(&std::fs::read(&again).unwrap()).unwrap();
    let mut b = exported.clone();
    a.version = 0;
    b.version = 0;
    assert_eq!(a, b);

    // A responder without a unit, a grid under a missing parent: refused, nothing changes.
    let bad = std::process::Command::new(outpost_tests::harness::bin("outpost-test-server"))
        .arg("--data-dir")
        .arg(&other.data_dir)
        .args(["member", "add", "x", "--name", "X", "--role", "responder"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("needs a unit"));
    let bad = std::process::Command::new(outpost_tests::harness::bin("outpost-test-server"))
        .arg("--data-dir")
        .arg(&other.data_dir)
        .args([
            "grid", "add", "G9", "--name", "n", "--level", "grid", "--parent", "nowhere",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert_eq!(other.storage().directory().unwrap().grids.len(), 5);
}

#[test]
fn documents_entering_a_scope_arrive_with_their_whole_history() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let a1 = Device::enroll(&server, &server.url, dir.path(), "member-a1");
    let b = Device::enroll(&server, &server.url, dir.path(), "member-b");
    let admin = Device::enroll(&server, &server.url, dir.path(), "admin");

    let mut c = NewCase::new(Category::Noise, Urgency::Normal, "夜间施工", "G1");
    c.description = "凌晨两点还在施工".into();
    let case_g1 = a1.store.create_case(c).unwrap();
    a1.store
        .record(
            &case_g1,
            outpost_core::EventKind::Comment {
                text: "已联系物业".into(),
            },
        )
        .unwrap();
    a1.sync();
    b.sync();
    assert!(b.store.case(&case_g1).is_err());

    // An administrator moves the case to G2: G2's member receives all of it.
    admin.sync();
    admin.store.move_case(&case_g1, "G2").unwrap();
    assert!(admin.sync().refused.is_empty());
    b.sync();
    let moved = b.store.case(&case_g1).expect("G2 has the moved case");
    assert_eq!(moved.grid_id, "G2");
    assert_eq!(moved.timeline.len(), 3, "created, comment, the move");

    // An administrator moves member-b to G1 as well: its device receives G1's cases whole.
    let mut g1_only = NewCase::new(Category::Waste, Urgency::Low, "垃圾", "G1");
    g1_only.description = "楼下".into();
    let other_case = a1.store.create_case(g1_only).unwrap();
    a1.sync();
    b.sync();
    assert!(b.store.case(&other_case).is_err());
    server.admin(&[
        "member",
        "add",
        "member-b",
        "--name",
        "B",
        "--role",
        "grid_member",
        "--grid",
        "G2",
        "--grid",
        "G1",
    ]);
    let r = b.sync();
    assert!(r.directory_updated, "the new directory reached the phone");
    assert_eq!(
        b.store.member().unwrap().unwrap().grids,
        vec!["G1", "G1A", "G2"]
    );
    assert!(b.store.case(&other_case).is_ok());

    // A new unit in the directory reaches a phone on its next sync.
    server.admin(&["unit", "add", "U3", "--name", "gas company"]);
    let r = a1.sync();
    assert!(r.directory_updated);
    assert!(
        a1.store
            .directory()
            .unwrap()
            .unwrap()
            .units
            .iter()
            .any(|u| u.id == "U3")
    );
}

#[test]
fn a_feed_read_while_many_devices_write_never_skips_a_change() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let writers: Vec<Device> = (0..6)
        .map(|i| {
            Device::enroll(
                &server,
                &server.url,
                dir.path(),
                ["member-a1", "member-a2"][i % 2],
            )
        })
        .collect();
    let reader = Device::enroll(&server, &server.url, dir.path(), "lead-c1");
    const EACH: usize = 15;
    let go = Arc::new(Barrier::new(writers.len() + 1));
    std::thread::scope(|s| {
        for (i, w) in writers.iter().enumerate() {
            let go = go.clone();
            s.spawn(move || {
                go.wait();
                for j in 0..EACH {
                    let title = format!("并发 {i}-{j}");
                    w.store
                        .create_case(NewCase::new(Category::Other, Urgency::Low, &title, "G1"))
                        .unwrap();
                    w.sync();
                }
            });
        }
        go.wait();
        // The reader pulls again and again while the writes land.
        for _ in 0..40 {
            reader.sync();
        }
    });
    reader.sync();
    let total = writers.len() * EACH;
    assert_eq!(server.storage().cases(None).unwrap().len(), total);
    assert_eq!(
        reader.store.all_cases(10_000, 0).unwrap().len(),
        total,
        "every change reached the reader"
    );
}
