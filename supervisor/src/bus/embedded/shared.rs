//! State shared by the bus, its subscriptions and their ackers: the batch of queue writes
//! waiting for the store's writer, and the wake-ups of this process's subscriptions.
//!
//! Group commit: a write is appended to the pending batch; the first write of a batch queues
//! one job on the writer thread, which takes every write gathered by the time it runs and
//! commits them together. While the writer works on one batch the next one fills up, so under
//! load many publishes, claims and acks share a transaction, and a lone write waits for nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{oneshot, Notify};

use super::{bus_error, millis, DEDUP_WINDOW};
use crate::bus::BusError;
use crate::store::{QueueOp, QueueOutcome, QueueReply, Store};

/// How often messages past the deduplication window are purged (at most).
const PURGE_INTERVAL_MS: u64 = 30_000;

/// See the module documentation.
pub(super) struct Shared {
    /// The store holding the queue.
    pub(super) store: Store,
    pending: Mutex<Pending>,
    wakers: Mutex<HashMap<String, Arc<Notify>>>,
    /// When the last purge was queued, ms since the Unix epoch (0 = never).
    last_purge_ms: AtomicU64,
    /// Publication time up to which messages have been purged.
    purged_until_ms: AtomicU64,
}

/// Writes waiting for the writer thread.
#[derive(Default)]
struct Pending {
    ops: Vec<(QueueOp, QueueReply)>,
    /// Whether a writer job that will take `ops` is queued.
    scheduled: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(millis)
        .unwrap_or(0)
}

impl Shared {
    /// Shared state over `store`.
    pub(super) fn new(store: Store) -> Arc<Self> {
        Arc::new(Self {
            store,
            pending: Mutex::new(Pending::default()),
            wakers: Mutex::new(HashMap::new()),
            last_purge_ms: AtomicU64::new(0),
            purged_until_ms: AtomicU64::new(0),
        })
    }

    /// Adds `op` to the next batch; `reply` gets its outcome after the commit (on the writer
    /// thread). Never waits.
    pub(super) fn submit(self: &Arc<Self>, op: QueueOp, reply: QueueReply) {
        let purge = self.purge_due();
        let schedule = {
            let mut pending = lock(&self.pending);
            pending.ops.push((op, reply));
            if let Some(purge) = purge {
                pending.ops.push((purge, Box::new(log_purge)));
            }
            !std::mem::replace(&mut pending.scheduled, true)
        };
        if schedule {
            let shared = Arc::clone(self);
            let window = millis(DEDUP_WINDOW);
            if let Err(e) = self.store.queue_submit(move || shared.take(), window) {
                for (_, reply) in self.take() {
                    reply(Err(e.clone()));
                }
            }
        }
    }

    /// Runs `op` in the next batch and returns its outcome.
    pub(super) async fn call(self: &Arc<Self>, op: QueueOp) -> Result<QueueOutcome, BusError> {
        let (tx, rx) = oneshot::channel();
        self.submit(
            op,
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        );
        match rx.await {
            Ok(result) => result.map_err(bus_error),
            Err(_) => Err(BusError::Internal(
                "the queue write failed unexpectedly (see the log)".into(),
            )),
        }
    }

    /// Hands the pending batch to the writer.
    fn take(&self) -> Vec<(QueueOp, QueueReply)> {
        let mut pending = lock(&self.pending);
        pending.scheduled = false;
        std::mem::take(&mut pending.ops)
    }

    /// The purge to run now, if one is due: messages published since the previous purge's
    /// cutoff (less a window of slack for other processes' clocks) and before `now - window`.
    fn purge_due(&self) -> Option<QueueOp> {
        let now = now_ms();
        let last = self.last_purge_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < PURGE_INTERVAL_MS {
            return None;
        }
        self.last_purge_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .ok()?;
        let window = millis(DEDUP_WINDOW);
        let cutoff_ms = now.saturating_sub(window);
        let since_ms = self
            .purged_until_ms
            .swap(cutoff_ms, Ordering::Relaxed)
            .saturating_sub(window);
        Some(QueueOp::Purge {
            since_ms,
            cutoff_ms,
        })
    }

    /// The wake-up of subscription `name` (shared by its subscriptions in this process).
    pub(super) fn waker(&self, name: &str) -> Arc<Notify> {
        Arc::clone(lock(&self.wakers).entry(name.to_string()).or_default())
    }

    /// Wakes the waiting subscriptions named in `names`.
    pub(super) fn wake(&self, names: &[String]) {
        if names.is_empty() {
            return;
        }
        let wakers = lock(&self.wakers);
        for name in names {
            if let Some(waker) = wakers.get(name) {
                waker.notify_waiters();
            }
        }
    }
}

fn log_purge(result: Result<QueueOutcome, crate::store::StoreError>) {
    match result {
        Ok(QueueOutcome::Purged(0)) => {}
        Ok(QueueOutcome::Purged(n)) => tracing::debug!(messages = n, "purged delivered messages"),
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot purge delivered messages: {e}"),
    }
}
