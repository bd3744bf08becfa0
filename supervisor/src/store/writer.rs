//! The single writer: one std thread owns the write connection and runs the write closures it
//! receives over a channel, one at a time, answering each through a tokio oneshot.
//!
//! SQLite allows one writer at a time; funnelling every write through one connection means
//! writers never wait on each other's locks inside this process (other processes, such as the
//! CLI, are covered by `busy_timeout`).

use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{StorageHealth, StoreError};

/// A closure run on the writer thread.
pub(super) type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Handle to the writer thread; the thread ends when the last handle is dropped.
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
    health: Arc<StorageHealth>,
}

impl Writer {
    /// Starts the writer thread owning `conn`; the outcome of every [`Writer::run`] is noted in
    /// `health` (a full or read-only disk is named in the error).
    pub(super) fn start(
        mut conn: Connection,
        health: Arc<StorageHealth>,
    ) -> std::io::Result<Writer> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("convotic-store-writer".into())
            .spawn(move || {
                for job in queue {
                    // A panicking closure loses its own answer (its caller sees an error); any
                    // transaction it held is rolled back while unwinding. The thread goes on.
                    if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() {
                        tracing::error!("a store write panicked; it was rolled back");
                    }
                }
            })?;
        Ok(Writer { jobs, health })
    }

    /// Queues `job` on the writer thread without waiting for it (it answers through whatever it
    /// captured); fails when the thread has stopped.
    pub(super) fn submit(&self, job: Job) -> Result<(), StoreError> {
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Internal("the store writer thread has stopped".into()))
    }

    /// Runs `f` on the writer thread and returns its result.
    pub(super) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let health = Arc::clone(&self.health);
        let job: Job = Box::new(move |conn| {
            let _ = reply.send(health.observe(f(conn)));
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Internal("the store writer thread has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Internal("the store write failed unexpectedly (see the log)".into())
        })?
    }
}
