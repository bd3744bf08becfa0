//! The read pool: a few connections reused by reads, which run on tokio's blocking threads.
//! WAL mode lets them read while the writer writes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::StoreError;

/// Reads running at once (and idle connections kept).
const READERS: usize = 4;

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
