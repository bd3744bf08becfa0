//! Delivery of the outboxes: messages to their channel's target (a Block action, a signed
//! webhook, a JetStream subject) and workflow runs to the workspace's workflow engine (a
//! signed webhook or a subject), at least once.
//!
//! One loop per outbox claims due items in batches (as many as free attempt slots, and at most a
//! quarter of the slots for one workspace, so a slow or flooded target cannot starve the
//! others), runs each
//! attempt with a deadline, and settles it: accepted (`sent` / `delivered`), retried with
//! jittered exponential backoff for retryable failures (5xx, 408, 429, timeouts, connection
//! errors, a Block error marked retryable), or failed and dead-lettered after the last attempt
//! or a final refusal. Every target gets the item's id as idempotency key (`Idempotency-Key`
//! header, the Block input's `idempotency_key`, `Nats-Msg-Id`). The store wakes a loop when an
//! item is queued; otherwise it looks every [`IDLE_POLL`]. A supervisor that dies mid-attempt
//! leaves the item `sending` until its deadline; the next claim (after a restart) retries it.

pub mod address;
pub mod secret;
mod targets;

use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use tokio::sync::Semaphore;

use crate::config::DeliveryConfig;
use crate::store::delivery::{Claimed, Outbox, Settlement};
use crate::store::Store;

pub use targets::{Attempt, Targets};

/// How long an idle loop waits before looking again without being woken.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Pause after the store failed to claim.
const STORE_PAUSE: Duration = Duration::from_secs(1);

/// Starts the two delivery loops.
pub fn start(store: Store, targets: Arc<Targets>, config: DeliveryConfig) {
    let config = Arc::new(config);
    for outbox in [Outbox::Messages, Outbox::WorkflowRuns] {
        tokio::spawn(run(
            outbox,
            store.clone(),
            Arc::clone(&targets),
            Arc::clone(&config),
        ));
    }
}

/// Claims and delivers `outbox`'s items until the process ends.
async fn run(outbox: Outbox, store: Store, targets: Arc<Targets>, config: Arc<DeliveryConfig>) {
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let wake = store.outbox_waker();
    let attempt_ms = config.attempt_timeout.as_millis() as u64 + 5_000;
    loop {
        // Wait for at least one free slot, then claim as many items as there are free slots.
        let first = match Arc::clone(&slots).acquire_owned().await {
            Ok(permit) => permit,
            Err(_) => return,
        };
        // Registered before claiming: a wake between an empty claim and the wait is kept.
        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let free = 1 + slots.available_permits();
        let per_workspace = (config.concurrency / 4).max(1) as u32;
        let claimed = match store
            .outbox_claim(outbox, free as u32, per_workspace, attempt_ms)
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(outbox = outbox.label(), "cannot claim deliveries: {e}");
                drop(first);
                tokio::time::sleep(STORE_PAUSE).await;
                continue;
            }
        };
        if claimed.is_empty() {
            drop(first);
            let _ = tokio::time::timeout(IDLE_POLL, woken).await;
            continue;
        }
        let mut permit = Some(first);
        for item in claimed {
            let slot = match permit.take() {
                Some(slot) => slot,
                None => match Arc::clone(&slots).acquire_owned().await {
                    Ok(slot) => slot,
                    Err(_) => return,
                },
            };
            let (store, targets, config) =
                (store.clone(), Arc::clone(&targets), Arc::clone(&config));
            tokio::spawn(async move {
                deliver(&store, &targets, &config, item).await;
                drop(slot);
            });
        }
    }
}

/// One attempt of `item`, settled.
async fn deliver(store: &Store, targets: &Targets, config: &DeliveryConfig, item: Claimed) {
    let started = std::time::Instant::now();
    let attempt = tokio::time::timeout(config.attempt_timeout, targets.attempt(&item))
        .await
        .unwrap_or_else(|_| {
            Attempt::Retryable(format!(
                "no answer within {}",
                humantime::format_duration(config.attempt_timeout)
            ))
        });
    let outcome = match &attempt {
        Attempt::Accepted { .. } => "accepted",
        Attempt::Retryable(_) if item.attempt >= config.max_attempts => "failed",
        Attempt::Retryable(_) => "retried",
        Attempt::Final(_) => "failed",
    };
    crate::metrics::global().delivered(
        [&item.workspace, item.outbox.label(), &item.target.kind],
        outcome,
        started.elapsed(),
    );
    let settlement = match attempt {
        Attempt::Accepted {
            provider_id,
            delivered,
        } => Settlement::Accepted {
            provider_id,
            delivered,
        },
        Attempt::Retryable(error) if item.attempt >= config.max_attempts => Settlement::Failed {
            error: format!(
                "gave up after {} attempts; last error: {error}",
                item.attempt
            ),
        },
        Attempt::Retryable(error) => Settlement::Retry {
            at_ms: now_ms() + backoff(config, item.attempt).as_millis() as u64,
            error,
        },
        Attempt::Final(error) => Settlement::Failed { error },
    };
    if let Settlement::Failed { error } = &settlement {
        tracing::warn!(workspace = %item.workspace, id = %item.id, target = %item.target.kind, "delivery failed for good (dead-lettered): {error}");
    }
    match store
        .outbox_settle(item.outbox, &item.id, item.attempt, settlement)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!(id = %item.id, "the item moved on during the attempt; its result is dropped")
        }
        // The item stays `sending` and is claimed again after its deadline.
        Err(e) => tracing::warn!(id = %item.id, "cannot record a delivery attempt: {e}"),
    }
}

/// `retry_base × 2^(attempt-1)`, at most `retry_max`, ±20 % jitter.
fn backoff(config: &DeliveryConfig, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(20);
    let base = config
        .retry_base
        .saturating_mul(1u32 << exponent)
        .min(config.retry_max);
    let jitter = rand::rng().random_range(0.8..=1.2);
    base.mul_f64(jitter)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let config = DeliveryConfig {
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(1),
            ..Default::default()
        };
        for _ in 0..50 {
            let first = backoff(&config, 1);
            assert!(first >= Duration::from_millis(80) && first <= Duration::from_millis(120));
            let third = backoff(&config, 3);
            assert!(third >= Duration::from_millis(320) && third <= Duration::from_millis(480));
            assert!(backoff(&config, 40) <= Duration::from_millis(1200));
        }
    }
}
