//! Store benchmarks. Each figure is printed beside a baseline measured in the same run on
//! the same disk, so the ratio means something on a noisy machine.
//!
//! cargo bench -p outpost-core --bench store            (100,000 cases; a few minutes)
//! OUTPOST_BENCH_CASES=10000 cargo bench -p outpost-core --bench store

use std::path::Path;
use std::time::{Duration, Instant};

use outpost_core::{AnswerValue, Category, Member, NewCase, Role, Site, Store, Urgency};
use rusqlite::Connection;

const GRID: &str = "g-bench";

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn report(
    what: &str,
    mut ours: Vec<Duration>,
    base_name: &str,
    mut base: Vec<Duration>,
    target: &str,
) {
    let (p50, p99) = (percentile(&mut ours, 0.5), percentile(&mut ours, 0.99));
    let (b50, b99) = (percentile(&mut base, 0.5), percentile(&mut base, 0.99));
    println!("{what}");
    println!("  outpost   p50 {:>10}  p99 {:>10}", ms(p50), ms(p99));
    println!(
        "  baseline  p50 {:>10}  p99 {:>10}   ({base_name})",
        ms(b50),
        ms(b99)
    );
    println!(
        "  ratio     p50 {:>9.2}×  p99 {:>9.2}×   target: {target}",
        p50.as_secs_f64() / b50.as_secs_f64(),
        p99.as_secs_f64() / b99.as_secs_f64()
    );
}

/// Raw SQLite with the store's durability: WAL, synchronous=FULL, one commit per row.
fn raw_durable(path: &Path) -> Connection {
    let c = Connection::open(path).unwrap();
    c.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .unwrap();
    c.execute_batch(
        "PRAGMA synchronous = FULL; CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, b BLOB);",
    )
    .unwrap();
    c
}

fn raw_inserts(c: &Connection, bytes: usize, n: usize) -> Vec<Duration> {
    let blob = vec![7u8; bytes];
    (0..n)
        .map(|_| {
            let t = Instant::now();
            c.execute("INSERT INTO t(b) VALUES (?1)", [&blob]).unwrap();
            t.elapsed()
        })
        .collect()
}

fn change_bytes(path: &Path) -> f64 {
    let c = Connection::open(path).unwrap();
    c.query_row("SELECT avg(length(bytes)) FROM changes", [], |r| r.get(0))
        .unwrap()
}

fn main() {
    let total: usize = std::env::var("OUTPOST_BENCH_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let lead = Member::new("lead-bench", "Bench", Role::GridLead, [GRID]);
    println!("Outpost store benchmarks ({total} cases; WAL, synchronous=FULL)\n");

    // 1. Recording a case durably vs a raw durable insert of the same number of bytes.
    let rec = dir.path().join("record.db");
    let store = Store::open(&rec).unwrap();
    store.set_member(&lead).unwrap();
    let n = 400;
    let ours: Vec<Duration> = (0..n)
        .map(|i| {
            let mut c = NewCase::new(
                Category::FireHazard,
                Urgency::Urgent,
                &format!("楼道堆物 {i}"),
                GRID,
            );
            c.description = "三楼楼道纸箱堆放，影响疏散".into();
            let t = Instant::now();
            store.create_case(c).unwrap();
            t.elapsed()
        })
        .collect();
    let avg = change_bytes(&rec);
    let raw = raw_durable(&dir.path().join("raw-record.db"));
    let base = raw_inserts(&raw, avg as usize, n);
    report(
        &format!("record a case durably ({n} samples; change ≈ {avg:.0} B)"),
        ours,
        "raw SQLite insert of the same bytes, same durability",
        base,
        "≤ 3×",
    );

    // 2. Answering one checklist item.
    let insp = store
        .start_inspection("residential-fire-safety", Site::new("12号楼", GRID), None)
        .unwrap();
    let ours: Vec<Duration> = (0..n)
        .map(|i| {
            let t = Instant::now();
            store
                .answer(
                    &insp,
                    "other_findings",
                    AnswerValue::Text(format!("发现 {i}")),
                    "",
                    &[],
                )
                .unwrap();
            t.elapsed()
        })
        .collect();
    let base = raw_inserts(&raw, 200, n);
    println!();
    report(
        "answer one checklist item",
        ours,
        "raw durable insert of 200 B",
        base,
        "(none set)",
    );
    drop(store);

    // 3. Fill a store with `total` cases (one transaction per 2,000, as a large sync pull).
    let big = dir.path().join("big.db");
    let store = Store::open(&big).unwrap();
    store.set_member(&lead).unwrap();
    let t = Instant::now();
    let urgencies = Urgency::ALL;
    let mut made = 0;
    while made < total {
        let batch: Vec<NewCase> = (made..(made + 2000).min(total))
            .map(|i| {
                let mut c = NewCase::new(
                    Category::ALL[i % 11],
                    urgencies[i % 4],
                    &format!("案件 {i} 沿街商户油污"),
                    GRID,
                );
                c.description = format!("第{i}号 描述文字");
                c
            })
            .collect();
        made += batch.len();
        store.create_cases(&batch).unwrap();
    }
    let fill = t.elapsed();
    drop(store);
    let size = std::fs::metadata(&big).unwrap().len()
        + std::fs::metadata(big.with_extension("db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    println!(
        "\nseeded {total} cases in {:.1} s ({:.0} cases/s), file {:.1} MB",
        fill.as_secs_f64(),
        total as f64 / fill.as_secs_f64(),
        size as f64 / 1e6
    );

    // 4. Cold open: open the file and show the first page of the queue.
    let mut ours = Vec::new();
    let mut base = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        let s = Store::open(&big).unwrap();
        let page = s.open_cases(50, 0).unwrap();
        ours.push(t.elapsed());
        assert_eq!(page.len(), 50);
        drop(s);
        let t = Instant::now();
        let c = Connection::open(&big).unwrap();
        c.execute_batch("PRAGMA synchronous = FULL;").unwrap();
        let rows: i64 = c
            .query_row(
                "SELECT count(*) FROM (SELECT id FROM cases WHERE is_open = 1 ORDER BY urgency_rank, created_at, id LIMIT 50)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        base.push(t.elapsed());
        assert_eq!(rows, 50);
    }
    println!();
    report(
        &format!("cold open of a store with {total} cases + first page of 50"),
        ours,
        "raw rusqlite open + the same page query",
        base,
        "≤ 50 ms absolute",
    );

    // 5. First page of 50 open cases, warm.
    let s = Store::open(&big).unwrap();
    let ours: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(s.open_cases(50, 0).unwrap().len(), 50);
            t.elapsed()
        })
        .collect();
    let c = Connection::open(&big).unwrap();
    let base: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            let mut st = c
                .prepare_cached("SELECT * FROM cases WHERE is_open = 1 ORDER BY urgency_rank, created_at, id LIMIT 50")
                .unwrap();
            let n = st.query_map([], |_| Ok(())).unwrap().count();
            assert_eq!(n, 50);
            t.elapsed()
        })
        .collect();
    println!();
    report(
        &format!("first page of 50 open cases out of {total}"),
        ours,
        "raw rusqlite, the same query, no row mapping",
        base,
        "≤ 5 ms absolute",
    );

    // 6. Search (trigram index) for comparison.
    let t = Instant::now();
    let hits = s.search("沿街商户", 50).unwrap().len();
    println!(
        "\nsearch '沿街商户' over {total} cases: {hits} hits in {}",
        ms(t.elapsed())
    );
}
