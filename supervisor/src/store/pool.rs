//! The read pool: a few connections reused by reads, which run on tokio's blocking threads.
//! WAL mode lets them read while the writer writes. Point reads (one row by primary key) may
//! instead run on the calling thread with an idle connection ([`ReadPool::run_inline`]),
//! saving the hand-off to a blocking thread, which costs more than such a read.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::StoreError;

/// Reads running at once (and idle connections kept).
const READERS: usize = 4;

thread_local! {
    /// Set when SQLite found the database busy during an inline read on this thread.
    static BUSY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The busy handler of inline reads: notes the contention and does not wait.
fn refuse_to_wait(_attempts: i32) -> bool {
    BUSY.with(|busy| busy.set(true));
    false
}

/// The read connections of one database file.
pub(super) struct ReadPool {
    path: PathBuf,
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Semaphore,
}

impl ReadPool {
    /// A pool opening connections to `path` on demand.
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Arc::new(Mutex::new(Vec::new())),
            permits: Semaphore::new(READERS),
        }
    }

    /// Runs `f` at once on this thread when a connection is idle; otherwise, or when the
    /// database is busy (a WAL reader rarely is: during a WAL reset or recovery), like
    /// [`ReadPool::run`]. Inline, the busy handler refuses to wait (SQLite's own short retries
    /// for a WAL read lock, microseconds in practice, still apply): `f` must be a read bounded
    /// to a few pages, such as one row by primary key, since it holds the async thread.
    pub(super) async fn run_inline<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, StoreError> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let Ok(permit) = self.permits.try_acquire() else {
            return self.run(move |conn| f(conn)).await;
        };
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let Some(mut conn) = pooled else {
            drop(permit);
            return self.run(move |conn| f(conn)).await;
        };
        BUSY.with(|busy| busy.set(false));
        let result = match conn.busy_handler(Some(refuse_to_wait)) {
            Ok(()) => f(&conn),
            Err(e) => Err(e.into()),
        };
        let was_busy = BUSY.with(|busy| busy.replace(false));
        let restored = conn.busy_timeout(super::BUSY_TIMEOUT).is_ok();
        if restored {
            if let Ok(mut idle) = self.idle.lock() {
                if idle.len() < READERS {
                    idle.push(conn);
                }
            }
        }
        drop(permit);
        if was_busy && result.is_err() {
            return self.run(move |conn| f(conn)).await;
        }
        result
    }

    /// Runs `f` on a pooled connection on a blocking thread.
    pub(super) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Internal("the store read pool is closed".into()))?;
        let idle = Arc::clone(&self.idle);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = idle.lock().ok().and_then(|mut idle| idle.pop());
            let conn = match pooled {
                Some(conn) => conn,
                None => super::open_connection(&path).map_err(|e| {
                    StoreError::Internal(format!("cannot open {}: {e}", path.display()))
                })?,
            };
            let result = f(&conn);
            if let Ok(mut idle) = idle.lock() {
                if idle.len() < READERS {
                    idle.push(conn);
                }
            }
            result
        })
        .await
        .map_err(|e| StoreError::Internal(format!("a store read failed unexpectedly: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn read(conn: &Connection) -> Result<i64, StoreError> {
        conn.query_row("SELECT v FROM t", [], |row| row.get(0))
            .map_err(StoreError::from)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn inline_reads_never_wait_on_this_thread_and_fall_back_when_busy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let setup = super::super::open_connection(&path).unwrap();
        setup
            .execute_batch("CREATE TABLE t(v INTEGER); INSERT INTO t VALUES (7);")
            .unwrap();
        drop(setup);
        let pool = Arc::new(ReadPool::new(path.clone()));
        // Nothing idle yet: read on a blocking thread, and keep the connection.
        assert_eq!(pool.run_inline(read).await.unwrap(), 7);
        assert_eq!(pool.idle.lock().unwrap().len(), 1);
        assert_eq!(pool.run_inline(read).await.unwrap(), 7);
        assert_eq!(pool.idle.lock().unwrap().len(), 1);
        // Another connection takes the database for itself: the inline attempt must give up
        // at once (this single-threaded runtime keeps running) and the blocking path waits.
        let locker = Connection::open(&path).unwrap();
        locker
            .execute_batch(
                "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; UPDATE t SET v = 8; COMMIT;",
            )
            .unwrap();
        let reader = Arc::clone(&pool);
        let pending = tokio::spawn(async move { reader.run_inline(read).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !pending.is_finished(),
            "the read should still wait for the lock"
        );
        drop(locker);
        let value = tokio::time::timeout(Duration::from_secs(10), pending)
            .await
            .expect("the read ends once the lock is released")
            .unwrap()
            .unwrap();
        assert_eq!(value, 8);
    }
}
