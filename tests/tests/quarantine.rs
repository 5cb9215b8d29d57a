//! A stored document whose snapshot no longer loads (a torn write, a bad restore) is
//! quarantined by a real server process: marked in the database, named once in the log and
//! counted in /metrics, never loaded again, pushes to it refused with a reason, while every
//! other document goes on syncing.

use outpost_core::{Category, EventKind, NewCase, Urgency};
use outpost_server::Storage;
use outpost_tests::harness::{Device, Launch, Server, city, http};

/// Cuts document `id`'s stored snapshot in half, behind the running server's back.
fn damage_snapshot(server: &Server, id: &str) {
    let cut = |s: Vec<u8>| s[..s.len() / 2].to_vec();
    match &server.database {
        Some(db) => {
            let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
            let s: Vec<u8> = c
                .query_one("SELECT snapshot FROM doc_states WHERE id = $1", &[&id])
                .unwrap()
                .get(0);
            c.execute(
                "UPDATE doc_states SET snapshot = $2 WHERE id = $1",
                &[&id, &cut(s)],
            )
            .unwrap();
        }
        None => {
            let c = rusqlite::Connection::open(server.data_dir.join("outpost-server.db")).unwrap();
            let s: Vec<u8> = c
                .query_row("SELECT snapshot FROM doc_states WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .unwrap();
            c.execute(
                "UPDATE doc_states SET snapshot = ?2 WHERE id = ?1",
                rusqlite::params![id, cut(s)],
            )
            .unwrap();
        }
    }
}

fn comment(d: &Device, id: &str, text: &str) {
    d.store
        .record(id, EventKind::Comment { text: text.into() })
        .unwrap();
}

fn quarantined_gauge(server: &Server) -> String {
    let r = http(server.addr, "GET", "/metrics", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    String::from_utf8_lossy(&r.body)
        .lines()
        .find(|l| l.starts_with("outpost_quarantined_docs "))
        .unwrap_or("no outpost_quarantined_docs line")
        .to_string()
}

#[test]
fn a_damaged_stored_document_is_quarantined_and_the_rest_keeps_syncing() {
    let server = Server::launch(
        &city(),
        Launch {
            open_metrics: true,
            log: true,
            ..Launch::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let a1 = Device::enroll(&server, &server.url, dir.path(), "member-a1");
    let a2 = Device::enroll(&server, &server.url, dir.path(), "member-a2");
    let damaged = a1
        .store
        .create_case(NewCase::new(
            Category::Noise,
            Urgency::Normal,
            "夜间施工",
            "G1",
        ))
        .unwrap();
    let healthy = a1
        .store
        .create_case(NewCase::new(
            Category::Waste,
            Urgency::Urgent,
            "垃圾满溢",
            "G1",
        ))
        .unwrap();
    assert!(a1.sync().refused.is_empty());
    assert_eq!(quarantined_gauge(&server), "outpost_quarantined_docs 0");

    damage_snapshot(&server, &damaged);
    let before = server.storage().change_count(Some(&healthy)).unwrap();
    comment(&a1, &damaged, "已联系物业");
    comment(&a1, &healthy, "已清运");
    let report = a1.sync();
    assert_eq!(report.refused.len(), 1, "{:?}", report.refused);
    assert_eq!(report.refused[0].id, damaged);
    assert!(
        report.refused[0].reason.contains("damaged"),
        "{}",
        report.refused[0].reason
    );
    // The other document of the same push is stored.
    assert_eq!(
        server.storage().change_count(Some(&healthy)).unwrap(),
        before + 1
    );

    let q = server.storage().quarantined().unwrap();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0].0, damaged);
    assert_eq!(quarantined_gauge(&server), "outpost_quarantined_docs 1");

    // Pushing to it again is refused without loading it again: one log line in all.
    comment(&a1, &damaged, "第二次");
    let again = a1.sync();
    assert_eq!(again.refused.len(), 1, "{:?}", again.refused);
    let warned = server
        .log_text()
        .lines()
        .filter(|l| l.contains("stored document quarantined") && l.contains(&damaged))
        .count();
    assert_eq!(warned, 1, "{}", server.log_text());

    // Everything else is served: another phone pulls both cases (the damaged one from its
    // stored changes) and the healthy one's comment; new cases still sync.
    a2.sync();
    assert!(a2.store.case(&damaged).is_ok());
    let seen = a2.store.case(&healthy).unwrap();
    assert!(
        format!("{seen:?}").contains("已清运"),
        "the healthy case's comment reached the other phone"
    );
    let later = a2
        .store
        .create_case(NewCase::new(
            Category::Other,
            Urgency::Normal,
            "路灯不亮",
            "G1",
        ))
        .unwrap();
    assert!(a2.sync().refused.is_empty());
    a1.sync();
    assert!(a1.store.case(&later).is_ok());
    assert_eq!(quarantined_gauge(&server), "outpost_quarantined_docs 1");
}
