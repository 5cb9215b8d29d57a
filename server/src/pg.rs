//! PostgreSQL connections for the server's stores: a pool of blocking clients, each with
//! its prepared statements, and transactions that run again when they lost a race with
//! another process (a deadlock, a serialization failure or a unique-key race).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, IsolationLevel, NoTls, Row, Statement, Transaction};

use crate::storage::{StoreError, StoreResult};

/// Runs of a write transaction that failed on a lost race.
const ATTEMPTS: u32 = 8;

/// A failure inside a transaction: the database's own (perhaps worth a retry) or ours.
pub enum Fail {
    Pg(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl Fail {
    fn retryable(&self) -> bool {
        let Fail::Pg(e) = self else { return false };
        matches!(
            e.code(),
            Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::UNIQUE_VIOLATION
        )
    }

    pub fn into_store(self) -> StoreError {
        match self {
            Fail::Pg(e) => StoreError::Db(pg_message(&e)),
            Fail::Store(e) => e,
        }
    }
}

/// The database's code and message, or the client's error.
pub fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

pub type Res<T> = Result<T, Fail>;

/// A pooled connection with its prepared statements.
struct Conn {
    client: Client,
    stmts: HashMap<String, Statement>,
}

/// One transaction with its connection's statement cache.
pub struct Cx<'a> {
    pub tx: Transaction<'a>,
    stmts: &'a mut HashMap<String, Statement>,
}

impl Cx<'_> {
    fn stmt(&mut self, sql: &str) -> Res<Statement> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql)?;
        self.stmts.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    pub fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Res<Vec<Row>> {
        let s = self.stmt(sql)?;
        Ok(self.tx.query(&s, params)?)
    }

    pub fn opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Res<Option<Row>> {
        let s = self.stmt(sql)?;
        Ok(self.tx.query_opt(&s, params)?)
    }

    pub fn one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Res<Row> {
        let s = self.stmt(sql)?;
        Ok(self.tx.query_one(&s, params)?)
    }

    pub fn exec(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Res<u64> {
        let s = self.stmt(sql)?;
        Ok(self.tx.execute(&s, params)?)
    }
}

/// Blocking connections to one database, kept between requests.
pub struct PgPool {
    config: postgres::Config,
    idle: Mutex<Vec<Conn>>,
    keep: usize,
}

impl PgPool {
    /// For `url` (`postgres://user:password@host:port/database`, or the key=value form);
    /// `name` is the application name the server shows in `pg_stat_activity`; `keep` idle
    /// connections are kept. Connects lazily.
    pub fn new(url: &str, name: &str, keep: usize) -> StoreResult<PgPool> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| StoreError::Invalid(format!("database URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name(name);
        Ok(PgPool {
            config,
            idle: Mutex::new(Vec::new()),
            keep,
        })
    }

    /// Runs `f` in one transaction on a pooled connection.
    pub fn run<R>(
        &self,
        isolation: IsolationLevel,
        read_only: bool,
        f: impl FnOnce(&mut Cx<'_>) -> Res<R>,
    ) -> Res<R> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) if !c.client.is_closed() => c,
            _ => Conn {
                client: self.config.connect(NoTls).map_err(|e| {
                    Fail::Store(StoreError::Db(format!("connect: {}", pg_message(&e))))
                })?,
                stmts: HashMap::new(),
            },
        };
        let out = (|| {
            let tx = conn
                .client
                .build_transaction()
                .isolation_level(isolation)
                .read_only(read_only)
                .start()?;
            let mut cx = Cx {
                tx,
                stmts: &mut conn.stmts,
            };
            let out = f(&mut cx)?;
            cx.tx.commit()?;
            Ok(out)
        })();
        if !conn.client.is_closed() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < self.keep {
                idle.push(conn);
            }
        }
        out
    }

    /// A read-only transaction on one snapshot.
    pub fn read<R>(&self, f: impl FnOnce(&mut Cx<'_>) -> Res<R>) -> StoreResult<R> {
        self.run(IsolationLevel::RepeatableRead, true, f)
            .map_err(Fail::into_store)
    }

    /// A `READ COMMITTED` write transaction, run again when it lost a race with another
    /// process.
    pub fn write<R>(&self, mut f: impl FnMut(&mut Cx<'_>) -> Res<R>) -> StoreResult<R> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.run(IsolationLevel::ReadCommitted, false, &mut f) {
                Err(e) if attempt < ATTEMPTS && e.retryable() => {
                    let jitter = u64::from(rand::random::<u8>() % 20);
                    std::thread::sleep(Duration::from_millis((1u64 << attempt.min(6)) + jitter));
                }
                other => return other.map_err(Fail::into_store),
            }
        }
    }
}
