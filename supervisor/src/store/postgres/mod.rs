//! The store on PostgreSQL (`[store] url = "postgres://…"`): the same records, the same
//! validation and the same answers as the SQLite store, shared by every supervisor of a cluster.
//!
//! * A pool of connections ([`deadpool_postgres`]), bounded in size, in time to connect and in
//!   time to wait for a free connection; every statement is bounded by `statement_timeout` and
//!   every session commits with `synchronous_commit = on` (an answered write is on the
//!   server's disk, as with SQLite's `synchronous=FULL`).
//! * Writes that read before they write run as `SERIALIZABLE` transactions ([`pg_transaction!`])
//!   retried on serialization failures and deadlocks: two supervisors racing on one record see
//!   the same outcome as two writes through SQLite's single writer (one wins, the other sees the
//!   winner's state).
//! * Migrations are versioned in code ([`schema`]) and applied once, under an advisory lock, by
//!   whichever supervisor connects first; a database from a newer supervisor is refused.
//! * Text columns that are compared or ordered (ids, keys, names) use the `"C"` collation: lists
//!   come back in byte order, as they do from SQLite.
//!
//! Each record kind has its file here, next to its SQLite twin in `store/`; the `Store` methods
//! validate input once, then call the backend in use.

mod connections;
mod contacts;
mod conversations;
mod cron_runs;
mod delivery;
mod deployments;
mod keys;
pub(super) mod kv;
mod messages;
mod nodes;
pub(super) mod schema;
mod tls;
pub(crate) mod util;
mod workflows;
mod workspaces;

#[cfg(test)]
pub(crate) mod test_db;

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use super::{StorageFault, StoreError};

/// How long opening one connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call waits for a free pooled connection before failing.
const POOL_WAIT: Duration = Duration::from_secs(10);
/// The longest any one statement may run (server side).
const STATEMENT_TIMEOUT_MS: u64 = 30_000;
/// A transaction left idle this long (a stuck caller) is ended by the server.
const IDLE_IN_TRANSACTION_MS: u64 = 60_000;
/// Attempts of a transaction that keeps meeting serialization failures.
pub(super) const TRANSACTION_ATTEMPTS: u32 = 10;

/// The PostgreSQL store: a connection pool and where it points (without a password).
pub(crate) struct PgStore {
    pool: Pool,
    target: String,
    /// Whether the last attempt to get a connection succeeded (for `/readyz`).
    reachable: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// An error inside a PostgreSQL call: a store error to answer as is, or a database error to
/// map (and perhaps retry).
#[derive(Debug)]
pub(crate) enum PgError {
    /// Answer this.
    Store(StoreError),
    /// The database failed.
    Db(tokio_postgres::Error),
    /// No connection could be had (pool timeout, server down).
    Pool(String),
}

impl From<StoreError> for PgError {
    fn from(e: StoreError) -> Self {
        PgError::Store(e)
    }
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        PgError::Db(e)
    }
}

impl From<deadpool_postgres::PoolError> for PgError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        // The cause (refused by the server, a certificate not verified...) is in the chain: a
        // message of "db error" alone would hide it.
        let mut message = format!("no PostgreSQL connection: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        PgError::Pool(message)
    }
}

impl PgError {
    /// The SQLSTATE of a database error.
    pub(crate) fn code(&self) -> Option<&SqlState> {
        match self {
            PgError::Db(e) => e.code(),
            _ => None,
        }
    }

    /// Whether running the transaction again can succeed (it lost a race).
    pub(crate) fn is_retryable(&self) -> bool {
        lost_a_race(self.code())
    }

    /// Whether this is a uniqueness violation.
    pub(crate) fn is_unique_violation(&self) -> bool {
        self.code() == Some(&SqlState::UNIQUE_VIOLATION)
    }

    /// Whether this is a foreign key violation.
    pub(crate) fn is_foreign_key_violation(&self) -> bool {
        self.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION)
    }
}

/// Whether `code` says a transaction lost a race: a serialization failure or a deadlock.
fn lost_a_race(code: Option<&SqlState>) -> bool {
    matches!(
        code,
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

impl From<PgError> for StoreError {
    fn from(e: PgError) -> Self {
        match e {
            PgError::Store(e) => e,
            // Retry once the server answers again: 503 with Retry-After, not a 500.
            PgError::Pool(message) => StoreError::Storage {
                fault: StorageFault::Unreachable,
                message,
            },
            PgError::Db(e) if e.is_closed() => StoreError::Storage {
                fault: StorageFault::Unreachable,
                message: format!("the connection to the database was lost: {e}"),
            },
            // Still losing races after every retry of the transaction: 503 with Retry-After,
            // not a 500 (nothing is wrong but the load on one record).
            PgError::Db(e) if lost_a_race(e.code()) => {
                let detail = match e.as_db_error() {
                    Some(db) => format!("{} ({})", db.message(), db.code().code()),
                    None => e.to_string(),
                };
                StoreError::Storage {
                    fault: StorageFault::Contended,
                    message: format!(
                        "a transaction lost {TRANSACTION_ATTEMPTS} races with concurrent \
                         writers: {detail}"
                    ),
                }
            }
            PgError::Db(e) => {
                let message = match e.as_db_error() {
                    Some(db) => format!("database error: {} ({})", db.message(), db.code().code()),
                    None => format!("database error: {e}"),
                };
                match e.code() {
                    Some(c) if *c == SqlState::DISK_FULL => StoreError::Storage {
                        fault: StorageFault::Full,
                        message,
                    },
                    Some(c) if *c == SqlState::READ_ONLY_SQL_TRANSACTION => StoreError::Storage {
                        fault: StorageFault::ReadOnly,
                        message,
                    },
                    // A NUL or an invalid byte sequence in a value (an id, a token, a filter)
                    // that validation let through: the caller's input, not a server fault.
                    Some(c)
                        if *c == SqlState::CHARACTER_NOT_IN_REPERTOIRE
                            || *c == SqlState::UNTRANSLATABLE_CHARACTER =>
                    {
                        StoreError::InvalidArgument(
                            "a value holds a character the store cannot keep (U+0000)".into(),
                        )
                    }
                    _ => StoreError::Internal(message),
                }
            }
        }
    }
}

/// Runs `$body` in a `SERIALIZABLE` transaction `$tx` on a pooled connection of `$pg`, committed
/// when the body ends with `Ok`; runs it again (up to [`TRANSACTION_ATTEMPTS`] times, with a
/// short random pause) when PostgreSQL reports a serialization failure or a deadlock. The body
/// uses `?` on database calls and store errors alike; the whole evaluates to
/// `Result<T, StoreError>`.
macro_rules! pg_transaction {
    ($pg:expr, |$tx:ident| $body:block) => {{
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result: Result<_, $crate::store::postgres::PgError> = async {
                let mut client = $pg.client().await?;
                let $tx = client
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::Serializable)
                    .start()
                    .await?;
                let value = $body;
                $tx.commit().await?;
                Ok(value)
            }
            .await;
            match result {
                Err(e)
                    if e.is_retryable()
                        && attempt < $crate::store::postgres::TRANSACTION_ATTEMPTS =>
                {
                    let pause = rand::random_range(1..=(5 * attempt as u64));
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
                other => break other.map_err($crate::store::StoreError::from),
            }
        }
    }};
}
pub(crate) use pg_transaction;

/// A READ COMMITTED transaction holding the transaction-scoped advisory lock `lock` (taken
/// first, so every later statement sees what the previous holder committed; the isolation is
/// set here, whatever the server's default): check-then-insert across the cluster.
pub(crate) async fn locked_transaction<'a>(
    client: &'a mut deadpool_postgres::Object,
    lock: &str,
) -> Result<deadpool_postgres::Transaction<'a>, StoreError> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
        .start()
        .await
        .map_err(PgError::from)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&lock],
    )
    .await
    .map_err(PgError::from)?;
    Ok(tx)
}

impl PgStore {
    /// Connects to `url` (a `postgres://` URL or a `key=value` string), checks that the server
    /// answers, and applies the pending migrations under an advisory lock.
    pub(crate) async fn connect(url: &str, max_connections: usize) -> Result<PgStore, StoreError> {
        let store = PgStore::build(url, max_connections)?;
        let unreachable = |e: PgError| {
            let detail = StoreError::from(e);
            StoreError::Internal(format!(
                "cannot use the PostgreSQL store at {}: {detail}",
                store.target
            ))
        };
        let mut client = store.client().await.map_err(unreachable)?;
        schema::migrate(&mut client).await.map_err(unreachable)?;
        drop(client);
        Ok(store)
    }

    /// The pool for `url`, without connecting (connections are opened when first needed).
    pub(crate) fn build(url: &str, max_connections: usize) -> Result<PgStore, StoreError> {
        let (url, tls) = tls::split_tls_options(url)?;
        let mut config = tokio_postgres::Config::from_str(&url).map_err(|e| {
            StoreError::InvalidArgument(format!(
                "store.url: not a PostgreSQL URL ({e}); expected postgres://user@host:port/database"
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("convotic-supervisor");
        }
        let mut options = config.get_options().unwrap_or_default().to_string();
        options.push_str(&format!(
            " -c synchronous_commit=on -c statement_timeout={STATEMENT_TIMEOUT_MS} \
             -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"
        ));
        config.options(options.trim());
        let target = describe_target(&config);
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match tls {
            tls::TlsMode::Disable => {
                config.ssl_mode(tokio_postgres::config::SslMode::Disable);
                Manager::from_config(config, NoTls, manager_config)
            }
            tls::TlsMode::Verify { roots, client } => {
                config.ssl_mode(tokio_postgres::config::SslMode::Require);
                let connector = tls::connector(roots.as_deref(), client.as_ref())?;
                Manager::from_config(config, connector, manager_config)
            }
        };
        let pool = Pool::builder(manager)
            .max_size(max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT + Duration::from_secs(1)))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Internal(format!("PostgreSQL pool: {e}")))?;
        Ok(PgStore {
            pool,
            target,
            reachable: std::sync::atomic::AtomicBool::new(true),
        })
    }

    /// Where the store lives: `postgres://user@host:port/database` (never a password).
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, PgError> {
        use std::sync::atomic::Ordering;
        match self.pool.get().await {
            Ok(client) => {
                self.reachable.store(true, Ordering::Relaxed);
                Ok(client)
            }
            Err(e) => {
                self.reachable.store(false, Ordering::Relaxed);
                Err(e.into())
            }
        }
    }

    /// Whether the server answered the last attempt to get a connection.
    pub(crate) fn is_reachable(&self) -> bool {
        self.reachable.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// `postgres://user@host:port/database` of a configuration, without its password.
fn describe_target(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use crate::store::{StorageFault, StorageStatus, Store, StoreError};

    /// A real serialization failure (two SERIALIZABLE transactions each reading what the other
    /// writes) that reaches a caller is a 503-kind storage fault, not an internal error.
    #[tokio::test]
    async fn a_lost_race_is_contention_not_an_internal_error() {
        let db = super::test_db::TestDb::create();
        let connect = || async {
            let (client, connection) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            client
        };
        let (mut first, mut second) = (connect().await, connect().await);
        first
            .batch_execute(
                "CREATE TABLE t (k INT PRIMARY KEY, v INT); INSERT INTO t VALUES (1, 0), (2, 0)",
            )
            .await
            .unwrap();
        let a = first
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::Serializable)
            .start()
            .await
            .unwrap();
        let b = second
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::Serializable)
            .start()
            .await
            .unwrap();
        a.query("SELECT v FROM t WHERE k = 2", &[]).await.unwrap();
        b.query("SELECT v FROM t WHERE k = 1", &[]).await.unwrap();
        a.execute("UPDATE t SET v = 1 WHERE k = 1", &[])
            .await
            .unwrap();
        b.execute("UPDATE t SET v = 1 WHERE k = 2", &[])
            .await
            .unwrap();
        a.commit().await.unwrap();
        let lost = b.commit().await.unwrap_err();
        let error = StoreError::from(super::PgError::from(lost));
        assert!(
            matches!(
                &error,
                StoreError::Storage {
                    fault: StorageFault::Contended,
                    message,
                } if message.contains("40001")
            ),
            "{error:?}"
        );
    }

    /// A server that does not answer: calls fail with `Unreachable` (503, retry later) and the
    /// store reports itself unreachable (not ready) until a connection succeeds again.
    #[tokio::test]
    async fn an_unreachable_server_is_named_and_not_ready() {
        let pg = super::PgStore::build("postgres://convotic@127.0.0.1:1/nowhere", 2).unwrap();
        let store = Store::with_backend(super::super::Backend::Postgres(pg));
        assert_eq!(store.storage_status(), StorageStatus::Ok);
        let error = store.kv_get("ws_a", "m", "k").await.unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::Storage {
                    fault: StorageFault::Unreachable,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(store.storage_status(), StorageStatus::Unreachable);
        assert!(store
            .location()
            .starts_with("postgres://convotic@127.0.0.1:1/"));
    }
}
