//! The PostgreSQL backend: for a city that outgrows one machine. Server processes keep no
//! state of their own, so several can run on one database behind a load balancer.
//!
//! # Gap safety
//! Change rows are inserted without a feed position. Positions are handed out as the last
//! step of the write transaction ([`Sql::number`]), by `UPDATE meta SET value = value + n
//! WHERE key = 'feed_head'`: that row lock is held until the transaction ends, so the next
//! writer can take positions only after this one has committed (or rolled back) and is
//! visible to every new snapshot. Positions therefore become visible in increasing order,
//! also across processes, which is the rule of [`super`]. The head a reader uses is that
//! counter, and every statement of a read is bounded by it.
//!
//! Writes to the same document serialize on a transaction-scoped advisory lock per
//! document, taken for all documents of a transaction in one sorted statement; a deadlock
//! or a unique-key race between two processes rolls the transaction back and runs it again.
//! Reads run outside transactions: one round trip per statement.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::BytesMut;
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, GenericClient, IsolationLevel, NoTls, Statement};

use super::sql::{self, Backend, Param, Row, Sql, Value};
use super::watch::{self, FeedWatch};
use super::{StoreError, StoreResult, feed};

/// Schema versions; `meta.schema` holds how many have run.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE grids (id TEXT PRIMARY KEY, name TEXT NOT NULL, level TEXT NOT NULL, parent TEXT);
    CREATE TABLE units (id TEXT PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE members (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, grids TEXT NOT NULL,
        unit TEXT
    );
    CREATE TABLE templates (
        id TEXT NOT NULL, version BIGINT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (id, version)
    );
    CREATE TABLE invites (
        code_hash BYTEA PRIMARY KEY, member_id TEXT NOT NULL, created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL, used_at BIGINT, device_id TEXT
    );
    CREATE TABLE devices (
        id TEXT PRIMARY KEY, member_id TEXT NOT NULL, actor TEXT NOT NULL,
        token_hash BYTEA NOT NULL UNIQUE, name TEXT NOT NULL, created_at BIGINT NOT NULL,
        revoked_at BIGINT
    );
    -- Two processes enrolling one actor at once: the second fails here and retries.
    CREATE UNIQUE INDEX devices_actor ON devices(actor) WHERE revoked_at IS NULL;

    -- The feed. `seq` stays NULL until the pushing transaction numbers its rows just before
    -- it commits (see the module documentation).
    CREATE TABLE changes (
        id BIGSERIAL PRIMARY KEY,
        seq BIGINT UNIQUE,
        doc_id TEXT NOT NULL,
        hash BYTEA NOT NULL,
        actor BYTEA NOT NULL,
        bytes BYTEA NOT NULL,
        UNIQUE (doc_id, hash)
    );
    CREATE INDEX changes_doc ON changes(doc_id, seq);

    CREATE TABLE docs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        snapshot BYTEA NOT NULL,
        grid_id TEXT NOT NULL,
        category TEXT,
        urgency TEXT,
        urgency_rank BIGINT,
        status TEXT NOT NULL,
        is_open BOOLEAN NOT NULL,
        title TEXT NOT NULL,
        reporter_id TEXT NOT NULL,
        assigned_unit TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        accepted_at BIGINT,
        resolved_at BIGINT,
        deadline BIGINT,
        satisfaction BIGINT
    );
    CREATE INDEX docs_grid ON docs(kind, grid_id);

    CREATE TABLE doc_scopes (
        doc_id TEXT NOT NULL, key TEXT NOT NULL, since BIGINT NOT NULL, current BOOLEAN NOT NULL,
        PRIMARY KEY (doc_id, key)
    );
    CREATE INDEX doc_scopes_key ON doc_scopes(key, current, since);

    INSERT INTO meta(key, value) VALUES ('directory_version', 0), ('feed_head', 0);
"#,
    r#"
    CREATE TABLE doc_states (id TEXT PRIMARY KEY, heads BYTEA NOT NULL, snapshot BYTEA NOT NULL);
    INSERT INTO doc_states(id, heads, snapshot) SELECT id, ''::bytea, snapshot FROM docs;
    DROP INDEX docs_grid;
    ALTER TABLE docs DROP COLUMN snapshot, ADD COLUMN accept_ms BIGINT, ADD COLUMN response_ms BIGINT,
        ADD COLUMN resolve_ms BIGINT, ADD COLUMN rectification BOOLEAN NOT NULL DEFAULT FALSE;
    ALTER TABLE doc_scopes ADD COLUMN last_seq BIGINT NOT NULL DEFAULT 0;
    UPDATE doc_scopes s SET last_seq =
        coalesce((SELECT max(seq) FROM changes c WHERE c.doc_id = s.doc_id), 0);
    DROP INDEX doc_scopes_key;
    INSERT INTO meta(key, value) VALUES ('projection', 0);
"#,
    r#"
    -- Stored documents whose snapshot does not load (damaged): never loaded again, pushes
    -- to them refused, until an operator repairs them (server README).
    CREATE TABLE quarantine (doc_id TEXT PRIMARY KEY, reason TEXT NOT NULL, at BIGINT NOT NULL);
"#,
    // Version 4: only shared statements (the console's tables, `sql::SHARED_MIGRATIONS`).
    "",
];

/// Advisory lock key (single bigint space) that serializes schema migrations.
const MIGRATE_LOCK: i64 = 0x6f75_7470_6f73_7401;
/// Idle connections kept between requests.
const POOL: usize = 32;
/// Runs of a write transaction that failed on a deadlock, serialization or unique-key race.
const ATTEMPTS: u32 = 8;

/// Points inside a push where a test can stop the transaction (see [`PostgresStorage::set_hook`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookPoint {
    /// Change rows are written but have no feed position yet.
    BeforePositions,
    /// Positions are assigned (the feed counter is locked); the commit comes next.
    BeforeCommit,
}

type Hook = Arc<dyn Fn(HookPoint) + Send + Sync>;

/// Keeps `watch` fed for as long as it lives, connecting again after a failure.
fn listen(config: &postgres::Config, watch: &Weak<FeedWatch>) {
    loop {
        let outcome = hear(config, watch);
        let Some(w) = watch.upgrade() else { return };
        w.lost();
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "feed watch lost its connection: syncs ask the database until it is back");
        }
        drop(w);
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Listens, reads where the feed stands, then applies notifications until the connection
/// fails or the watch is dropped (`Ok`).
fn hear(config: &postgres::Config, watch: &Weak<FeedWatch>) -> Result<(), String> {
    let mut client = config.connect(NoTls).map_err(|e| format!("connect: {e}"))?;
    // Listening first: what commits while the state is read is heard as well.
    client
        .batch_execute("LISTEN outpost_feed; LISTEN outpost_directory")
        .map_err(|e| e.to_string())?;
    let head: i64 = client
        .query_one("SELECT value FROM meta WHERE key = 'feed_head'", &[])
        .and_then(|r| r.try_get(0))
        .map_err(|e| e.to_string())?;
    let mut keys = HashMap::new();
    for r in client
        .query(
            "SELECT key, max(last_seq) FROM doc_scopes WHERE current GROUP BY key",
            &[],
        )
        .map_err(|e| e.to_string())?
    {
        let key: String = r.try_get(0).map_err(|e| e.to_string())?;
        let at: i64 = r.try_get(1).map_err(|e| e.to_string())?;
        keys.insert(key, at.max(0) as u64);
    }
    match watch.upgrade() {
        Some(w) => w.restart(head.max(0) as u64, keys),
        None => return Ok(()),
    }
    loop {
        let Some(w) = watch.upgrade() else {
            return Ok(());
        };
        let mut heard = false;
        let mut notes = client.notifications();
        let mut iter = notes.timeout_iter(Duration::from_secs(5));
        while let Some(n) = iter.next().map_err(|e| e.to_string())? {
            heard = true;
            match n.channel() {
                "outpost_directory" => w.directory_changed(),
                "outpost_feed" => match watch::parse_payload(n.payload()) {
                    Some((at, keys)) => w.changed(at, keys.as_deref()),
                    None => return Err(format!("a feed notice not understood: {:?}", n.payload())),
                },
                _ => {}
            }
        }
        drop(iter);
        drop(notes);
        if !heard {
            // Quiet for a while: make sure the connection still is.
            client.simple_query("SELECT 1").map_err(|e| e.to_string())?;
        }
    }
}

/// A pooled connection with its prepared statements.
struct Conn {
    client: Client,
    stmts: HashMap<String, Statement>,
}

pub struct PostgresStorage {
    config: postgres::Config,
    pool: Mutex<Vec<Conn>>,
    hook: Mutex<Option<Hook>>,
    /// This process's feed watch, once started.
    watch: Mutex<Weak<FeedWatch>>,
}

fn pg_error(e: postgres::Error) -> StoreError {
    let message = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    };
    let retry = matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::UNIQUE_VIOLATION
    );
    if retry {
        StoreError::Retry(message)
    } else {
        StoreError::Db(message)
    }
}

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Param::Null => Ok(IsNull::Yes),
            Param::Int(v) => match *ty {
                Type::INT2 => i16::try_from(v)?.to_sql_checked(ty, out),
                Type::INT4 => i32::try_from(v)?.to_sql_checked(ty, out),
                _ => v.to_sql_checked(ty, out),
            },
            Param::Bool(v) => v.to_sql_checked(ty, out),
            Param::Text(v) => v.to_sql_checked(ty, out),
            Param::Blob(v) => v.to_sql_checked(ty, out),
            Param::Texts(v) => v.to_sql_checked(ty, out),
            Param::Ints(v) => v.to_sql_checked(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// `?N` → `$N`, `IN LIST(?N)` → `= ANY($N)`.
fn dialect(sql: &str) -> String {
    let lists = sql::expand_lists(sql, |n| format!("= ANY(${n})"));
    let mut out = String::with_capacity(lists.len());
    let mut chars = lists.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

fn value(r: &postgres::Row, i: usize) -> Result<Value, postgres::Error> {
    let ty = r.columns()[i].type_();
    Ok(match *ty {
        Type::BOOL => r
            .try_get::<_, Option<bool>>(i)?
            .map_or(Value::Null, |b| Value::Int(i64::from(b))),
        Type::INT2 => r
            .try_get::<_, Option<i16>>(i)?
            .map_or(Value::Null, |v| Value::Int(v.into())),
        Type::INT4 => r
            .try_get::<_, Option<i32>>(i)?
            .map_or(Value::Null, |v| Value::Int(v.into())),
        Type::FLOAT4 | Type::FLOAT8 => r
            .try_get::<_, Option<f64>>(i)?
            .map_or(Value::Null, Value::Real),
        Type::BYTEA => r
            .try_get::<_, Option<Vec<u8>>>(i)?
            .map_or(Value::Null, Value::Blob),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => r
            .try_get::<_, Option<String>>(i)?
            .map_or(Value::Null, Value::Text),
        _ => r
            .try_get::<_, Option<i64>>(i)?
            .map_or(Value::Null, Value::Int),
    })
}

/// A connection (or a transaction on one) speaking the shared dialect.
struct Pg<'a, C: GenericClient> {
    client: &'a mut C,
    stmts: &'a mut HashMap<String, Statement>,
    storage: &'a PostgresStorage,
    /// Positions were handed out: the commit comes next.
    numbered: bool,
    /// What this transaction announced, for this process's own watch once it commits.
    announced: Vec<Announced>,
}

/// A notification a transaction sent.
enum Announced {
    Feed(u64, Vec<String>),
    Directory,
}

impl<C: GenericClient> Pg<'_, C> {
    fn stmt(&mut self, sql: &str) -> StoreResult<Statement> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(&dialect(sql)).map_err(pg_error)?;
        self.stmts.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    fn params<'p>(params: &'p [Param<'_>]) -> Vec<&'p (dyn ToSql + Sync)> {
        params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
    }
}

impl<C: GenericClient> Sql for Pg<'_, C> {
    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<Vec<Row>> {
        let s = self.stmt(sql)?;
        let rows = self
            .client
            .query(&s, &Self::params(params))
            .map_err(pg_error)?;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| value(r, i))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Row)
                    .map_err(pg_error)
            })
            .collect()
    }

    fn exec(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<u64> {
        let s = self.stmt(sql)?;
        self.client
            .execute(&s, &Self::params(params))
            .map_err(pg_error)
    }

    fn announce_feed(&mut self, at: u64, keys: &[&str]) -> StoreResult<()> {
        // Delivered when (and only if) the transaction commits, in commit order.
        self.exec(
            "SELECT pg_notify('outpost_feed', ?1)::text",
            &[watch::payload(at, keys).as_str().into()],
        )?;
        self.announced.push(Announced::Feed(
            at,
            keys.iter().map(|k| k.to_string()).collect(),
        ));
        Ok(())
    }

    fn announce_directory(&mut self) -> StoreResult<()> {
        self.exec("SELECT pg_notify('outpost_directory', '')::text", &[])?;
        self.announced.push(Announced::Directory);
        Ok(())
    }

    /// The counter the last numbering transaction committed.
    fn head_sql(&self) -> &'static str {
        "(SELECT value FROM meta WHERE key = 'feed_head')"
    }

    fn lock_docs(&mut self, ids: &[String]) -> StoreResult<()> {
        // Every document at once, in one order for all processes: no deadlock between two
        // writers that share documents.
        self.exec(
            "SELECT pg_advisory_xact_lock(2, h)::text
             FROM (SELECT DISTINCT hashtext(x) AS h FROM unnest(?1::text[]) AS x ORDER BY 1) s",
            &[Param::Texts(ids)],
        )?;
        Ok(())
    }

    fn number(&mut self, rows: &[i64]) -> StoreResult<Vec<u64>> {
        self.storage.fire(HookPoint::BeforePositions);
        // The counter row stays locked until commit: positions are handed out in commit order.
        let head = self
            .query(
                "UPDATE meta SET value = value + ?1 WHERE key = 'feed_head' RETURNING value",
                &[rows.len().into()],
            )?
            .first()
            .ok_or_else(|| StoreError::Corrupt("no feed counter".into()))?
            .int(0)?;
        let first = head - rows.len() as i64 + 1;
        let seqs: Vec<i64> = (first..=head).collect();
        self.exec(
            "UPDATE changes c SET seq = v.seq
             FROM unnest(?1::bigint[], ?2::bigint[]) AS v(id, seq) WHERE c.id = v.id",
            &[Param::Ints(rows), Param::Ints(&seqs)],
        )?;
        self.numbered = true;
        Ok(seqs.into_iter().map(|s| s.max(0) as u64).collect())
    }
}

impl PostgresStorage {
    /// Connects to `url` (`postgres://user:password@host:port/database`, or the key=value
    /// form) and brings the schema up to date.
    pub fn open(url: &str) -> StoreResult<PostgresStorage> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| StoreError::Invalid(format!("database URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("outpost-server");
        // Statements are prepared once per connection and run thousands of times with
        // parameters that never change their best plan (they all start from an index). Left
        // to itself PostgreSQL keeps planning most of them anew on every run, which costs
        // more than running them: a sync with nothing new then took 150 µs of planning.
        let options = match config.get_options() {
            Some(o) => format!("{o} -c plan_cache_mode=force_generic_plan"),
            None => "-c plan_cache_mode=force_generic_plan".to_string(),
        };
        config.options(&options);
        let storage = PostgresStorage {
            config,
            pool: Mutex::new(Vec::new()),
            hook: Mutex::new(None),
            watch: Mutex::new(Weak::new()),
        };
        storage.migrate()?;
        feed::reproject(&storage)?;
        Ok(storage)
    }

    /// Starts hearing the feed's and the directory's notifications on a connection of its
    /// own, on a thread that ends once the returned watch is dropped (see [`watch`]). Until
    /// it has heard from the database the watch answers nothing.
    pub fn watch_feed(&self) -> Arc<FeedWatch> {
        let w = Arc::new(FeedWatch::new());
        let weak = Arc::downgrade(&w);
        *self.watch.lock().unwrap_or_else(|p| p.into_inner()) = weak.clone();
        let config = self.config.clone();
        let started = std::thread::Builder::new()
            .name("outpost-watch".into())
            .spawn(move || listen(&config, &weak));
        if let Err(e) = started {
            tracing::warn!(error = %e, "cannot start the feed watch: syncs ask the database");
        }
        w
    }

    /// Applies a committed transaction's announcements to this process's watch.
    fn heard(&self, announced: Vec<Announced>) {
        if announced.is_empty() {
            return;
        }
        let Some(w) = self
            .watch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .upgrade()
        else {
            return;
        };
        for a in announced {
            match a {
                Announced::Feed(at, keys) => w.wrote(at, &keys),
                Announced::Directory => w.directory_changed(),
            }
        }
    }

    /// Calls `hook` at fixed points of every push of this instance (tests provoke races
    /// with it; `None` removes it).
    #[doc(hidden)]
    pub fn set_hook(&self, hook: Option<Hook>) {
        *self.hook.lock().unwrap_or_else(|p| p.into_inner()) = hook;
    }

    fn fire(&self, point: HookPoint) {
        let hook = self.hook.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(h) = hook {
            h(point);
        }
    }

    fn checkout(&self) -> StoreResult<Conn> {
        let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match pooled {
            Some(c) if !c.client.is_closed() => Ok(c),
            _ => Ok(Conn {
                client: self
                    .config
                    .connect(NoTls)
                    .map_err(|e| StoreError::Db(format!("connect: {e}")))?,
                stmts: HashMap::new(),
            }),
        }
    }

    fn checkin(&self, conn: Conn) {
        if !conn.client.is_closed() {
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < POOL {
                pool.push(conn);
            }
        }
    }

    /// One transaction on a pooled connection.
    fn transaction<R>(&self, f: &mut impl FnMut(&mut dyn Sql) -> StoreResult<R>) -> StoreResult<R> {
        let mut conn = self.checkout()?;
        let out = (|| {
            let mut tx = conn
                .client
                .build_transaction()
                .isolation_level(IsolationLevel::ReadCommitted)
                .start()
                .map_err(pg_error)?;
            let mut pg = Pg {
                client: &mut tx,
                stmts: &mut conn.stmts,
                storage: self,
                numbered: false,
                announced: Vec::new(),
            };
            let out = f(&mut pg)?;
            if pg.numbered {
                self.fire(HookPoint::BeforeCommit);
            }
            let announced = std::mem::take(&mut pg.announced);
            tx.commit().map_err(pg_error)?;
            // This process's own requests see its writes at once, before the reply that
            // says they are stored; the others hear them from the database.
            self.heard(announced);
            Ok(out)
        })();
        self.checkin(conn);
        out
    }

    fn migrate(&self) -> StoreResult<()> {
        self.write(|db| {
            // Two processes starting at once: one migrates, the other waits and sees it done.
            db.exec(
                "SELECT pg_advisory_xact_lock(?1)::text",
                &[MIGRATE_LOCK.into()],
            )?;
            db.exec("SET LOCAL client_min_messages = warning", &[])?;
            db.exec(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)",
                &[],
            )?;
            db.exec(
                "INSERT INTO meta(key, value) VALUES ('schema', 0) ON CONFLICT DO NOTHING",
                &[],
            )?;
            let version = db
                .one("SELECT value FROM meta WHERE key = 'schema'", &[])?
                .int(0)?;
            if version > MIGRATIONS.len() as i64 {
                return Err(StoreError::Invalid(format!(
                    "the database was written by a newer server (schema {version})"
                )));
            }
            for (i, ddl) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                for part in [*ddl, sql::SHARED_MIGRATIONS.get(i).copied().unwrap_or("")] {
                    for stmt in statements(part) {
                        db.exec(&stmt, &[])?;
                    }
                }
                db.exec(
                    "UPDATE meta SET value = ?1 WHERE key = 'schema'",
                    &[(i as i64 + 1).into()],
                )?;
            }
            Ok(())
        })
    }
}

/// The statements of a migration, one at a time (prepared statements hold one each):
/// `--` comments dropped, split at `;`. Migrations hold no string with either.
fn statements(ddl: &str) -> Vec<String> {
    let code: String = ddl
        .lines()
        .map(|l| l.split("--").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    code.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

impl Backend for PostgresStorage {
    fn read<R>(&self, f: impl FnOnce(&mut dyn Sql) -> StoreResult<R>) -> StoreResult<R> {
        let mut conn = self.checkout()?;
        let out = f(&mut Pg {
            client: &mut conn.client,
            stmts: &mut conn.stmts,
            storage: self,
            numbered: false,
            announced: Vec::new(),
        });
        self.checkin(conn);
        out
    }

    fn start_watch(&self) -> Option<Arc<FeedWatch>> {
        Some(self.watch_feed())
    }

    fn write<R>(&self, mut f: impl FnMut(&mut dyn Sql) -> StoreResult<R>) -> StoreResult<R> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.transaction(&mut f) {
                Err(StoreError::Retry(_)) if attempt < ATTEMPTS => {
                    let jitter = u64::from(rand::random::<u8>() % 20);
                    std::thread::sleep(Duration::from_millis((1u64 << attempt.min(6)) + jitter));
                }
                Err(StoreError::Retry(m)) => return Err(StoreError::Db(m)),
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_split_into_statements_without_their_comments() {
        let ddl = "-- a; comment\nCREATE TABLE a (x BIGINT); -- trailing; too\n\nCREATE INDEX b ON a(x);\n";
        assert_eq!(
            statements(ddl),
            ["CREATE TABLE a (x BIGINT)", "CREATE INDEX b ON a(x)"]
        );
        assert_eq!(
            dialect("x IN LIST(?2) AND y = ?10"),
            "x = ANY($2) AND y = $10"
        );
    }
}
