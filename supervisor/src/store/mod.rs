//! The supervisor's SQLite store: one file (`<data_dir>/convotic.db`) holding workspaces, API
//! keys, the platform data modules reach through their `ctx` (contacts, conversations, outbound
//! messages, workflow runs) and module storage.
//!
//! * WAL mode; `busy_timeout`, `synchronous=FULL` and `foreign_keys` on every connection.
//! * **An acknowledgement means on disk.** Every write that is answered as done (a queue
//!   publish's 202, a contact or storage write's 2xx, an API key printed by the CLI) has been
//!   committed with `synchronous=FULL`: the WAL is fsynced at each commit, before the answer, so
//!   a power cut or an OS crash cannot take back what was acknowledged. The queue groups its
//!   writes (many publishes, claims and acks in one transaction, see `queue.rs`), so one fsync
//!   covers a whole batch; other writes pay one fsync each.
//! * Migrations are versioned in code ([`schema`]) and applied in transactions when the file is
//!   opened; a file written by a newer supervisor is refused.
//! * Every write runs on one dedicated writer thread ([`writer`]); reads use a small pool of
//!   connections on tokio's blocking threads ([`pool`]).
//! * `queue.rs` holds the embedded message queue of workers (`bus::embedded`).
//! * Everything is scoped: each query on workspace data takes the workspace id, storage takes
//!   (workspace, module). A record of another workspace is [`StoreError::NotFound`], exactly as
//!   one that does not exist.

mod connections;
mod contacts;
mod conversations;
mod cron_runs;
pub mod delivery;
mod deployments;
mod health;
mod keys;
mod kv;
mod messages;
mod nodes;
mod pool;
pub(crate) mod postgres;
mod queue;
mod schema;
mod util;
mod workflows;
mod workspaces;
mod writer;

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use serde::Serialize;

pub use crate::names::is_workspace_id;
pub use connections::{new_connection_id, StoredConnection, MAX_CONNECTIONS_PER_BLOCK};
pub use contacts::{Contact, ContactPatch, NewContact};
pub use conversations::{Conversation, ConversationPatch, NewConversation};
pub use cron_runs::{CronOutcome, CronRun, INTERRUPTED_MESSAGE};
pub use deployments::{DeployedModule, Deployment, NewDeployment, INTERRUPTED_DEPLOYMENT};
pub use health::{StorageFault, StorageHealth, StorageStatus};
pub use keys::{ApiKey, KeyScope};
pub use kv::StorageEntry;
pub use messages::{NewMessage, OutboundMessage};
pub use nodes::{ClusterNode, CLUSTER_KEY_LEN, MAX_NODE_SNAPSHOT};
pub use queue::{
    ClaimedDelivery, QueueDeadLetter, QueueHold, QueueMessage, QueueOp, QueueOutcome, QueueReply,
    QueueSubscription,
};
pub use schema::SCHEMA_VERSION;
pub use util::truncate_utf8;
pub use workflows::{NewWorkflowRun, WorkflowRun};
pub use workspaces::Workspace;

/// Milliseconds since the Unix epoch (the store's clock).
pub fn util_now_ms() -> u64 {
    util::now_ms()
}

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "convotic.db";

/// How often [`Store::start_sweeper`] purges expired storage entries.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Why a store call failed. Messages name the field or the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No such record (or not visible in this workspace).
    #[error("{0}")]
    NotFound(String),
    /// A uniqueness conflict (duplicate id, external id...).
    #[error("{0}")]
    Conflict(String),
    /// Bad input; the message names the field.
    #[error("{0}")]
    InvalidArgument(String),
    /// The record is not in the state the call requires (compare-and-set mismatch).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The database failed.
    #[error("{0}")]
    Internal(String),
    /// The storage cannot take writes (full, read-only): retry once it is fixed.
    #[error("{message}")]
    Storage {
        /// The cause.
        fault: StorageFault,
        /// What failed.
        message: String,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match health::fault_of(&e) {
            Some(fault) => StoreError::Storage {
                fault,
                message: format!("database error: {e}"),
            },
            None => StoreError::Internal(format!("database error: {e}")),
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The records of this page, in list order.
    pub items: Vec<T>,
    /// Token of the next page; `None` on the last page.
    pub next_page_token: Option<String>,
}

/// Cron runs kept per cron by the sweeper (the newest).
pub const CRON_RUNS_KEPT: usize = 1000;
/// Age after which the sweeper deletes cron runs.
pub const CRON_RUNS_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The store. Cheap to clone: every clone shares the writer thread and the read pool.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    auth_cache: keys::AuthCache,
    /// Woken when an item is queued in an outbox (messages, workflow runs).
    outbox_waker: Arc<tokio::sync::Notify>,
}

/// Where the records live.
enum Backend {
    /// One SQLite file: a writer thread and a read pool.
    Sqlite(SqliteBackend),
    /// A PostgreSQL database, shared by a cluster.
    Postgres(postgres::PgStore),
}

/// The SQLite file and what serves it.
struct SqliteBackend {
    path: PathBuf,
    health: Arc<StorageHealth>,
    writer: writer::Writer,
    readers: pool::ReadPool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating it and its parent directory when missing) the database at `path`, switches
    /// it to WAL mode, applies pending migrations and starts the writer thread.
    ///
    /// Fails when the file cannot be opened or was written by a newer supervisor.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let health = Arc::new(StorageHealth::new(dir.to_path_buf()));
        // SQLite reports a full or read-only disk met while opening as "disk I/O error": name
        // the cause when the filesystem shows it.
        let fail = |e: &dyn std::fmt::Display| match health.diagnose() {
            Some(fault) => StoreError::Storage {
                fault,
                message: format!("cannot open {}: {} ({e})", path.display(), fault.describe()),
            },
            None => StoreError::Internal(format!("cannot open {}: {e}", path.display())),
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| fail(&e))?;
        }
        let existed = path.exists();
        let mut conn = open_connection(path).map_err(|e| fail(&e))?;
        if !existed {
            // Contacts and key hashes: readable by the supervisor's user only.
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| fail(&e))?;
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(|e| fail(&e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(fail(&format!(
                "the database refused WAL mode (journal_mode is {mode})"
            )));
        }
        schema::migrate(&mut conn).map_err(|e| match e {
            StoreError::Internal(m) | StoreError::Storage { message: m, .. } => fail(&m),
            other => other,
        })?;
        let writer = writer::Writer::start(conn, Arc::clone(&health)).map_err(|e| fail(&e))?;
        Ok(Store::with_backend(Backend::Sqlite(SqliteBackend {
            path: path.to_path_buf(),
            health,
            writer,
            readers: pool::ReadPool::new(path.to_path_buf()),
        })))
    }

    /// Connects to the PostgreSQL database at `url` (at most `max_connections` connections) and
    /// applies pending migrations (once per cluster, under an advisory lock).
    pub async fn open_postgres(url: &str, max_connections: usize) -> Result<Store, StoreError> {
        let pg = postgres::PgStore::connect(url, max_connections).await?;
        Ok(Store::with_backend(Backend::Postgres(pg)))
    }

    fn with_backend(backend: Backend) -> Store {
        Store {
            inner: Arc::new(Inner {
                backend,
                auth_cache: keys::AuthCache::default(),
                outbox_waker: Arc::new(tokio::sync::Notify::new()),
            }),
        }
    }

    /// The PostgreSQL backend, when the store is on PostgreSQL.
    fn pg(&self) -> Option<&postgres::PgStore> {
        match &self.inner.backend {
            Backend::Postgres(pg) => Some(pg),
            Backend::Sqlite(_) => None,
        }
    }

    /// The SQLite backend, or the error of a call only SQLite serves.
    fn sqlite(&self) -> Result<&SqliteBackend, StoreError> {
        match &self.inner.backend {
            Backend::Sqlite(sqlite) => Ok(sqlite),
            Backend::Postgres(_) => Err(StoreError::Internal(
                "this operation needs the SQLite store (the embedded queue); with a PostgreSQL \
                 store, configure [nats]"
                    .into(),
            )),
        }
    }

    /// Whether the records live in PostgreSQL (shared by a cluster).
    pub fn is_shared(&self) -> bool {
        self.pg().is_some()
    }

    /// Opens `<data_dir>/convotic.db`.
    pub fn open_in(data_dir: &Path) -> Result<Store, StoreError> {
        Self::open(&data_dir.join(DB_FILE))
    }

    /// Woken when a message or a workflow run is queued (the delivery loops wait on it).
    pub fn outbox_waker(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.inner.outbox_waker)
    }

    /// Where the records live: the SQLite file's path, or `postgres://user@host:port/db`.
    pub fn location(&self) -> String {
        match &self.inner.backend {
            Backend::Sqlite(sqlite) => sqlite.path.display().to_string(),
            Backend::Postgres(pg) => pg.target().to_string(),
        }
    }

    /// Whether the storage can take writes now (full, read-only), for `/readyz` and metrics.
    /// On PostgreSQL: `unreachable` while the last attempt to get a connection failed (the
    /// membership heartbeat makes one every 5 s), else `ok`; the server's own disk is its
    /// business (a full or read-only server is named in the errors of the writes it refuses).
    pub fn storage_status(&self) -> StorageStatus {
        match &self.inner.backend {
            Backend::Sqlite(sqlite) => sqlite.health.status(),
            Backend::Postgres(pg) if pg.is_reachable() => StorageStatus::Ok,
            Backend::Postgres(_) => StorageStatus::Unreachable,
        }
    }

    /// Runs `f` on the writer thread (all writes go through it, one at a time).
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.sqlite()?.writer.run(f).await
    }

    /// The storage health, for the queue's batches (refines their errors).
    fn health(&self) -> Result<Arc<StorageHealth>, StoreError> {
        Ok(Arc::clone(&self.sqlite()?.health))
    }

    /// Runs `f` on a pooled read connection, on a blocking thread.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.sqlite()?.readers.run(f).await
    }

    /// Runs a point read `f` (a few pages at most) on this thread with an idle pooled
    /// connection, or on a blocking thread when none is idle.
    async fn read_point<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, StoreError> + Send + Sync + 'static,
    {
        self.sqlite()?.readers.run_inline(f).await
    }

    /// Spawns the periodic sweep (every [`SWEEP_INTERVAL`]) that deletes expired storage
    /// entries and prunes cron run history to [`CRON_RUNS_KEPT`] runs per cron and
    /// [`CRON_RUNS_MAX_AGE`]; the task ends when the returned handle is aborted.
    pub fn start_sweeper(&self) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match store.purge_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(entries = n, "purged expired storage entries"),
                    Err(e) => tracing::warn!("cannot purge expired storage entries: {e}"),
                }
                match store
                    .cron_runs_prune(CRON_RUNS_KEPT, CRON_RUNS_MAX_AGE.as_millis() as u64)
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(runs = n, "pruned old cron runs"),
                    Err(e) => tracing::warn!("cannot prune cron run history: {e}"),
                }
            }
        })
    }
}

/// Opens one connection with the per-connection settings.
/// How long a connection waits for a lock held by another connection or process.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // FULL in WAL mode: the WAL is fsynced at every commit (NORMAL syncs only at checkpoints,
    // and a power cut loses the commits since the last one). See the module documentation.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

#[cfg(test)]
mod durability_tests {
    /// Every connection commits with `synchronous=FULL` (2): acknowledged writes are fsynced.
    #[test]
    fn connections_commit_synchronously() {
        let dir = tempfile::tempdir().unwrap();
        let conn = super::open_connection(&dir.path().join("x.db")).unwrap();
        let level: i64 = conn
            .query_row("PRAGMA synchronous", [], |row| row.get(0))
            .unwrap();
        assert_eq!(level, 2, "synchronous must be FULL (2)");
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A store in a fresh temporary directory or a fresh PostgreSQL database, and
    //! [`both_backends!`], which runs a test once on each.

    use std::cell::Cell;

    use super::{postgres, Backend, Store};

    thread_local! {
        /// Whether [`temp_store`] on this thread opens PostgreSQL (set by [`use_postgres`]).
        static POSTGRES: Cell<bool> = const { Cell::new(false) };
    }

    /// Makes [`temp_store`] on this thread open a fresh PostgreSQL database until the returned
    /// guard is dropped.
    pub fn use_postgres() -> impl Drop {
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                POSTGRES.with(|p| p.set(false));
            }
        }
        POSTGRES.with(|p| p.set(true));
        Reset
    }

    /// What keeps a test store's data alive: a temporary directory or a test database.
    #[derive(Debug)]
    pub enum TestGuard {
        /// The SQLite file's directory.
        Dir(tempfile::TempDir),
        /// The PostgreSQL database (dropped with the guard).
        Db(postgres::test_db::TestDb),
    }

    impl TestGuard {
        /// A second store on the same file or database: another process (the CLI) or another
        /// supervisor of a cluster.
        pub fn open_again(&self) -> Store {
            match self {
                TestGuard::Dir(dir) => {
                    Store::open(&dir.path().join(super::DB_FILE)).expect("reopen store")
                }
                TestGuard::Db(db) => Store::with_backend(Backend::Postgres(
                    postgres::PgStore::build(&db.url(), 8).expect("second pool"),
                )),
            }
        }
    }

    /// A store in a temporary directory or database (kept alive by the returned guard).
    pub fn temp_store() -> (TestGuard, Store) {
        if POSTGRES.with(|p| p.get()) {
            let db = postgres::test_db::TestDb::create();
            let url = db.url();
            // Migrate on a runtime of its own (this may be called from synchronous code), then
            // hand the test a pool that connects on the test's runtime.
            let migrate_url = url.clone();
            postgres::test_db::on_own_runtime(move || async move {
                postgres::PgStore::connect(&migrate_url, 2).await.map(drop)
            })
            .expect("migrate the test database");
            let pg = postgres::PgStore::build(&url, 8).expect("test database pool");
            return (
                TestGuard::Db(db),
                Store::with_backend(Backend::Postgres(pg)),
            );
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join(super::DB_FILE)).expect("open store");
        (TestGuard::Dir(dir), store)
    }

    /// A store with workspaces `ws_a` and `ws_b`.
    pub async fn two_workspaces() -> (TestGuard, Store) {
        let (guard, store) = temp_store();
        store.ensure_workspace("ws_a").await.expect("ws_a");
        store.ensure_workspace("ws_b").await.expect("ws_b");
        (guard, store)
    }

    /// Runs each `#[tokio::test]` given to it twice: in `mod sqlite` on a SQLite file and in
    /// `mod postgres` on a fresh PostgreSQL database ([`temp_store`] picks the backend). The
    /// store's behaviour suite is every test written inside it.
    macro_rules! both_backends {
        ($( #[tokio::test $(($($args:tt)*))?] async fn $name:ident() $body:block )*) => {
            mod sqlite {
                #[allow(unused_imports)]
                use super::*;
                $( #[tokio::test $(($($args)*))?] async fn $name() $body )*
            }
            mod postgres {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[tokio::test $(($($args)*))?]
                    async fn $name() {
                        let _postgres = $crate::store::test_support::use_postgres();
                        $body
                    }
                )*
            }
        };
    }
    pub(crate) use both_backends;
}
