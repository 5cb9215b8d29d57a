//! The device token never sits in the device's database: not after enrollment, not after a
//! store from a version that kept it there (`sync_state.token`) is opened by this one.
//! Every table is read back and every byte of the database's files (main file, WAL, shared
//! memory) searched for the token the server issued.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use outpost_core::sync::{FileTokenStore, MemoryTokenStore, SyncClient, SyncConfig, TokenStore};
use outpost_core::{Category, NewCase, Store, Urgency};
use outpost_tests::harness::{Device, Server, city, fast};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn files_of(db: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|s| {
            let mut n = db.as_os_str().to_owned();
            n.push(s);
            PathBuf::from(n)
        })
        .filter(|p| p.exists())
        .collect()
}

/// Where in the database `token` appears: tables (any column, text or blob, whole or part)
/// and raw file bytes. Empty when it appears nowhere.
fn token_traces(db: &Path, token: &str) -> Vec<String> {
    let needle = token.as_bytes();
    let contains = |hay: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    let mut found = Vec::new();
    // Raw bytes first: opening the file below may checkpoint the WAL.
    for f in files_of(db) {
        if contains(&std::fs::read(&f).unwrap()) {
            found.push(format!("bytes of {}", f.display()));
        }
    }
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(tables.iter().any(|t| t == "sync_state"), "{tables:?}");
    for t in &tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let cols = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..cols {
                let hit = match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => {
                        contains(b)
                    }
                    _ => false,
                };
                if hit {
                    found.push(format!("table {t}, column {i}"));
                }
            }
        }
    }
    found
}

fn waste(title: &str) -> NewCase {
    NewCase::new(Category::Waste, Urgency::Low, title, "G1")
}

#[test]
fn after_enrollment_the_token_is_in_the_token_store_and_nowhere_in_the_database() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();

    // The terminal client's way: a file beside the database, readable by its user only.
    let dev = Device::enroll(&server, &server.url, dir.path(), "member-a1");
    dev.store.create_case(waste("heap of bags")).unwrap();
    dev.sync();
    let token = dev.token();
    assert!(token.len() >= 16, "{token}");
    let file = FileTokenStore::beside(&dev.db);
    assert_eq!(file.load().unwrap().as_deref(), Some(token.as_str()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the token file is readable by others: {mode:o}"
        );
    }
    assert_eq!(token_traces(&dev.db, &token), Vec::<String>::new());

    // The phone's way: the platform's store (here in memory), through a reopened store.
    let db = dir.path().join("phone.db");
    let keychain = Arc::new(MemoryTokenStore::default());
    let store = Store::open_with_token_store(&db, keychain.clone()).unwrap();
    let client = SyncClient::new(fast(SyncConfig::new(&server.url))).unwrap();
    let rt = runtime();
    rt.block_on(client.enroll(&store, &server.invite("member-a2"), "phone"))
        .unwrap();
    store.create_case(waste("broken bench")).unwrap();
    let report = rt.block_on(client.sync(&store, None)).unwrap();
    assert_eq!(report.pushed_docs, 1);
    let token = keychain.load().unwrap().expect("enrolled");
    assert_eq!(
        store.sync_state().unwrap().token.as_deref(),
        Some(token.as_str())
    );
    assert!(!FileTokenStore::beside(&db).path().exists());
    assert_eq!(token_traces(&db, &token), Vec::<String>::new());
    drop(store);
    assert_eq!(token_traces(&db, &token), Vec::<String>::new());
}

#[test]
fn a_store_that_kept_its_token_in_the_database_moves_it_out_and_erases_it() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let dev = Device::enroll(&server, &server.url, dir.path(), "member-a1");
    let case = dev.store.create_case(waste("heap of bags")).unwrap();
    dev.sync();
    let token = dev.token();
    let db = dev.db.clone();
    drop(dev);

    // What the previous version left: the token in sync_state, written at enrollment and
    // rewritten with the row at every sync, and copies in pages freed since (a dropped
    // table stands for them).
    std::fs::remove_file(FileTokenStore::beside(&db).path()).unwrap();
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute("UPDATE sync_state SET token = ?1 WHERE id = 1", [&token])
            .unwrap();
        for i in 0..20 {
            c.execute(
                "UPDATE sync_state SET pushed_total = pushed_total + ?1 WHERE id = 1",
                [i],
            )
            .unwrap();
        }
        c.execute_batch("CREATE TABLE scratch (t TEXT)").unwrap();
        for i in 0..200 {
            c.execute(
                "INSERT INTO scratch VALUES (?1)",
                [format!("{i} {token} {}", "x".repeat(300))],
            )
            .unwrap();
        }
        c.execute_batch("DROP TABLE scratch").unwrap();
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    let before = token_traces(&db, &token);
    assert!(
        before
            .iter()
            .any(|t| t.contains("sync_state") || t.contains("table")),
        "the old store holds the token: {before:?}"
    );
    assert!(
        before.iter().any(|t| t.starts_with("bytes of")),
        "{before:?}"
    );

    // This version opens it: the token moves to the token store and leaves the files.
    let store = Store::open(&db).unwrap();
    assert_eq!(token_traces(&db, &token), Vec::<String>::new());
    assert_eq!(
        FileTokenStore::beside(&db).load().unwrap().as_deref(),
        Some(token.as_str())
    );
    // And the device still syncs with it, its data intact.
    let client = SyncClient::new(fast(SyncConfig::new(&server.url))).unwrap();
    store
        .record(
            &case,
            outpost_core::EventKind::Comment {
                text: "still there".into(),
            },
        )
        .unwrap();
    let report = runtime().block_on(client.sync(&store, None)).unwrap();
    assert_eq!(report.pushed_docs, 1);
    assert_eq!(store.case(&case).unwrap().title, "heap of bags");
    drop(store);
    assert_eq!(token_traces(&db, &token), Vec::<String>::new());

    // An app's token store gets it the same way.
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute("UPDATE sync_state SET token = ?1 WHERE id = 1", [&token])
            .unwrap();
    }
    let keychain = Arc::new(MemoryTokenStore::default());
    let store = Store::open_with_token_store(&db, keychain.clone()).unwrap();
    assert_eq!(keychain.load().unwrap().as_deref(), Some(token.as_str()));
    assert_eq!(token_traces(&db, &token), Vec::<String>::new());
    drop(store);
}
