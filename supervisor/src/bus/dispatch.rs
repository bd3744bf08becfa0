//! The worker dispatcher: for every ready module, one consumer loop per worker handler pulls
//! deliveries from the bus (at most the handler's concurrency at once), forwards each as a
//! `WorkerMessage` over the module's work stream, and settles it from the outcome:
//!
//! | outcome | settlement |
//! |---|---|
//! | `WorkerResult` ACK (or unspecified) | ack |
//! | `WorkerResult` RETRY, a handler error, a deadline, a crash | retry with backoff, or dead letter on the last attempt |
//! | `WorkerResult` DISCARD, `BAD_INPUT`, `NOT_FOUND` | dead letter now |
//! | a delivery beyond `max_attempts` (its last holder died) | dead letter without calling the handler |
//!
//! While a handler runs, the dispatcher reports progress to the bus every third of `ack_wait`,
//! so long handlers keep their message and a dead supervisor's messages come back quickly. When
//! the module stops being ready, its consumer loops stop; messages wait in the bus.

use std::sync::Arc;
use std::time::Duration;

use convotic_proto::plugin::v1::{
    invocation, outcome, Disposition, Manifest, WorkerDef, WorkerMessage,
};
use futures::stream::{FuturesUnordered, StreamExt as _};
use tokio_util::sync::CancellationToken;

use super::{Backend, Delivery, SubscriptionSpec};
use crate::config::WorkersConfig;
use crate::metrics::Settled;
use crate::outcomes::{worker_fate, Failure, WorkerFate};
use crate::protocol::{InvokeOptions, WorkClient, WorkError};
use crate::supervision::{ModuleHandle, Supervisor};

/// Defaults of a worker entry whose manifest fields are 0.
const DEFAULT_MAX_ATTEMPTS: u32 = 5;
const DEFAULT_CONCURRENCY: u32 = 1;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause before subscribing again after a bus error.
const RESUBSCRIBE_PAUSE: Duration = Duration::from_secs(1);

/// Starts one watcher per module, for the modules of the set now and those added later; each
/// runs the module's consumers while it is ready and ends when the module is removed.
pub fn start(supervisor: &Supervisor, bus: Arc<dyn Backend>, config: WorkersConfig) {
    let config = Arc::new(config);
    supervisor.follow(move |module| {
        tokio::spawn(watch_module(module, Arc::clone(&bus), Arc::clone(&config)));
    });
}

/// Runs the consumers of each ready instance of `module`, stopping them when it is not ready.
async fn watch_module(
    module: Arc<ModuleHandle>,
    bus: Arc<dyn Backend>,
    config: Arc<WorkersConfig>,
) {
    let mut ready = module.watch_serving();
    loop {
        let serving = ready.borrow_and_update().clone();
        let stop = CancellationToken::new();
        if let Some(serving) = serving {
            let manifest = &serving.declared.manifest;
            start_consumers(&module, manifest, &serving.work, &bus, &config, &stop);
        }
        let changed = tokio::select! {
            changed = ready.changed() => changed.is_ok(),
            _ = module.retired() => false,
        };
        stop.cancel();
        if !changed {
            return;
        }
    }
}

fn start_consumers(
    module: &Arc<ModuleHandle>,
    manifest: &Manifest,
    work: &WorkClient,
    bus: &Arc<dyn Backend>,
    config: &Arc<WorkersConfig>,
    stop: &CancellationToken,
) {
    for worker in &manifest.workers {
        let handler = Handler::new(module, worker, config);
        tokio::spawn(report_backlog(
            handler.spec.clone(),
            Arc::clone(bus),
            stop.child_token(),
        ));
        tokio::spawn(consume(
            handler,
            Arc::clone(module),
            work.clone(),
            Arc::clone(bus),
            Arc::clone(config),
            stop.child_token(),
        ));
    }
}

/// How often a handler's backlog is read from the bus.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);

/// Sets the handler's backlog gauge every [`BACKLOG_EVERY`] until `stop` (each read bounded,
/// so a slow bus only makes the gauge older).
async fn report_backlog(spec: SubscriptionSpec, bus: Arc<dyn Backend>, stop: CancellationToken) {
    let labels = [
        spec.workspace.as_str(),
        spec.module.as_str(),
        spec.handler.as_str(),
    ];
    let mut every = tokio::time::interval(BACKLOG_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let read = tokio::time::timeout(BACKLOG_EVERY, bus.backlog(&spec)).await;
        match read {
            Ok(Ok(Some(waiting))) => crate::metrics::global().set_worker_backlog(labels, waiting),
            Ok(Ok(None)) => return,
            Ok(Err(e)) => tracing::debug!(handler = %spec.handler, "cannot read the backlog: {e}"),
            Err(_) => tracing::debug!(handler = %spec.handler, "reading the backlog timed out"),
        }
    }
}

/// One handler of one module, with its effective settings.
struct Handler {
    spec: SubscriptionSpec,
    timeout: Duration,
    metrics: crate::metrics::WorkerMetrics,
}

impl Handler {
    fn new(module: &ModuleHandle, worker: &WorkerDef, config: &WorkersConfig) -> Self {
        let name = if worker.name.is_empty() {
            worker.topic.clone()
        } else {
            worker.name.clone()
        };
        let nonzero = |v: u32, default: u32| if v == 0 { default } else { v };
        let timeout = if worker.timeout_ms == 0 {
            DEFAULT_TIMEOUT
        } else {
            Duration::from_millis(worker.timeout_ms.into())
        };
        let metrics = crate::metrics::global().worker(&module.workspace, &module.name, &name);
        Self {
            metrics,
            spec: SubscriptionSpec {
                workspace: module.workspace.clone(),
                module: module.name.clone(),
                handler: name,
                topic: worker.topic.clone(),
                max_attempts: nonzero(worker.max_attempts, DEFAULT_MAX_ATTEMPTS),
                ack_wait: config.ack_wait,
                max_in_flight: nonzero(worker.concurrency, DEFAULT_CONCURRENCY) as usize,
            },
            timeout,
        }
    }
}

/// Pulls and handles deliveries until `stop`, then finishes the ones in flight.
///
/// The deliveries in flight (at most `max_in_flight`) are futures driven by this task rather
/// than tasks of their own: no spawn per message, and the outcomes that arrive together are
/// settled in one poll, so their acks reach the bus together (one write for a burst of acks
/// instead of one each).
async fn consume(
    handler: Handler,
    module: Arc<ModuleHandle>,
    work: WorkClient,
    bus: Arc<dyn Backend>,
    config: Arc<WorkersConfig>,
    stop: CancellationToken,
) {
    let spec = &handler.spec;
    let max_in_flight = spec.max_in_flight.max(1);
    let mut in_flight = FuturesUnordered::new();
    'subscribe: while !stop.is_cancelled() {
        let subscribed = bus.subscribe(spec);
        tokio::pin!(subscribed);
        let subscription = loop {
            tokio::select! {
                _ = stop.cancelled() => break 'subscribe,
                Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
                result = &mut subscribed => match result {
                    Ok(subscription) => break subscription,
                    Err(e) => {
                        tracing::warn!(workspace = %spec.workspace, module = %spec.module, handler = %spec.handler, "cannot subscribe to topic {}: {e}; retrying", spec.topic);
                        pause(&stop, &mut in_flight).await;
                        continue 'subscribe;
                    }
                },
            }
        };
        tracing::debug!(workspace = %spec.workspace, module = %spec.module, handler = %spec.handler, backend = bus.name(), "consuming topic {}", spec.topic);
        // The subscription is either idle or inside the pending pull, which is kept across
        // iterations: a pull is only ever cancelled at stop.
        let mut idle = Some(subscription);
        let mut pulling = None;
        loop {
            if in_flight.len() < max_in_flight {
                if let Some(mut subscription) = idle.take() {
                    pulling = Some(Box::pin(async move {
                        let delivery = subscription.next().await;
                        (subscription, delivery)
                    }));
                }
            }
            let (subscription, delivery) = tokio::select! {
                _ = stop.cancelled() => break 'subscribe,
                Some(()) = in_flight.next(), if !in_flight.is_empty() => continue,
                pulled = async {
                    match pulling.as_mut() {
                        Some(pull) => pull.await,
                        None => std::future::pending().await,
                    }
                } => pulled,
            };
            pulling = None;
            match delivery {
                Ok(delivery) => {
                    idle = Some(subscription);
                    in_flight.push(settle(&handler, &module, &work, &config, delivery));
                }
                Err(e) => {
                    tracing::warn!(workspace = %spec.workspace, module = %spec.module, handler = %spec.handler, "subscription to {} failed: {e}; subscribing again", spec.topic);
                    drop(subscription);
                    pause(&stop, &mut in_flight).await;
                    continue 'subscribe;
                }
            }
        }
    }
    // Stopped: no new deliveries, but the ones in flight are still settled.
    while in_flight.next().await.is_some() {}
}

/// Waits [`RESUBSCRIBE_PAUSE`] (or until `stop`), settling deliveries in flight meanwhile.
async fn pause<F: std::future::Future<Output = ()>>(
    stop: &CancellationToken,
    in_flight: &mut FuturesUnordered<F>,
) {
    let sleep = tokio::time::sleep(RESUBSCRIBE_PAUSE);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = &mut sleep => return,
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
        }
    }
}

/// What to do with a delivery after the call.
#[derive(Debug, PartialEq, Eq)]
enum Settlement {
    Ack,
    /// Retry (after the backoff, or the module's `retry_after`), or dead-letter when attempts are
    /// used up.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    DeadLetter(String),
}

/// Calls the module for one delivery and settles it (on the instance that replaced `work`'s,
/// if one took over since the delivery was pulled).
async fn settle(
    handler: &Handler,
    module: &ModuleHandle,
    work: &WorkClient,
    config: &WorkersConfig,
    delivery: Delivery,
) {
    let spec = &handler.spec;
    let started = std::time::Instant::now();
    handler.metrics.delivered();
    let Delivery {
        message_id,
        topic,
        payload,
        headers,
        attempt,
        published_at_ms,
        acker,
    } = delivery;
    let settlement = if attempt > spec.max_attempts {
        Settlement::DeadLetter(format!(
            "delivered {attempt} times without an answer (max_attempts {}): its last holder stopped",
            spec.max_attempts
        ))
    } else {
        let message = WorkerMessage {
            handler: spec.handler.clone(),
            topic,
            message_id: message_id.clone(),
            payload_json: payload.to_vec(),
            headers: headers.into_iter().collect(),
            attempt,
            published_at_ms,
        };
        // Each delivery goes to the least-loaded ready replica.
        let target = module.work().unwrap_or_else(|| work.clone());
        let call = module.invoke(
            &target,
            invocation::Kind::Message(message),
            InvokeOptions {
                timeout: Some(handler.timeout),
                request_id: message_id.clone(),
                payload_bytes: payload.len(),
                wait_for_credit: true,
                ..Default::default()
            },
        );
        // Report progress while the handler runs, so the message is not redelivered.
        let progress_every = (spec.ack_wait / 3).max(Duration::from_millis(100));
        tokio::pin!(call);
        let result = loop {
            tokio::select! {
                result = &mut call => break result,
                _ = tokio::time::sleep(progress_every) => {
                    let _ = acker.in_progress().await;
                }
            }
        };
        settlement_of(result)
    };
    tracing::debug!(workspace = %spec.workspace, module = %spec.module, handler = %spec.handler, message_id, attempt, ?settlement, "settling a message");
    let (outcome, settled) = match settlement {
        Settlement::Ack => (acker.ack().await, Settled::Ack),
        Settlement::DeadLetter(reason) => (acker.dead_letter(reason).await, Settled::DeadLetter),
        Settlement::Retry { reason, .. } if attempt >= spec.max_attempts => (
            acker
                .dead_letter(format!("failed {attempt} times; last error: {reason}"))
                .await,
            Settled::DeadLetter,
        ),
        Settlement::Retry { after, .. } => (
            acker
                .retry(after.unwrap_or_else(|| backoff(config, attempt)))
                .await,
            Settled::Retry,
        ),
    };
    handler.metrics.settled(settled, started.elapsed());
    module.totals.record_message(settled != Settled::Ack);
    if let Err(e) = outcome {
        // The delivery comes back after ack_wait: at-least-once still holds.
        tracing::warn!(workspace = %spec.workspace, module = %spec.module, handler = %spec.handler, message_id, "could not settle a message: {e}");
    }
}

/// Maps the result of the call onto a settlement.
fn settlement_of(result: Result<outcome::Result, WorkError>) -> Settlement {
    match result {
        Ok(outcome::Result::Message(answer)) => {
            match Disposition::try_from(answer.disposition).unwrap_or(Disposition::Ack) {
                Disposition::Ack | Disposition::Unspecified => Settlement::Ack,
                Disposition::Retry => Settlement::Retry {
                    reason: if answer.reason.is_empty() {
                        "the handler asked for a retry".into()
                    } else {
                        answer.reason
                    },
                    after: (answer.retry_after_ms > 0)
                        .then(|| Duration::from_millis(answer.retry_after_ms.into())),
                },
                Disposition::Discard => {
                    Settlement::DeadLetter(format!("discarded: {}", answer.reason))
                }
            }
        }
        // The outcome table (PROTOCOL.md §5.7): BAD_INPUT and NOT_FOUND are final unless
        // marked retryable; everything else retries.
        Ok(outcome::Result::Error(error)) => {
            match worker_fate(Failure::of_error_code(error.code), error.retryable) {
                WorkerFate::DeadLetter => Settlement::DeadLetter(error.message),
                WorkerFate::Retry => Settlement::Retry {
                    reason: error.message,
                    after: None,
                },
            }
        }
        Ok(_) => Settlement::Retry {
            reason: "the module answered with another kind of result".into(),
            after: None,
        },
        Err(e) => match worker_fate(Failure::of_work_error(&e), false) {
            WorkerFate::DeadLetter => Settlement::DeadLetter(e.to_string()),
            WorkerFate::Retry => Settlement::Retry {
                reason: e.to_string(),
                after: None,
            },
        },
    }
}

/// `retry_base × 2^(attempt-1)`, at most `retry_max`.
fn backoff(config: &WorkersConfig, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(20);
    config
        .retry_base
        .saturating_mul(1u32 << exponent)
        .min(config.retry_max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use convotic_proto::plugin::v1::{Error, ErrorCode, WorkerResult};

    #[test]
    fn outcomes_map_to_settlements() {
        let ack = Ok(outcome::Result::Message(WorkerResult::default()));
        assert_eq!(settlement_of(ack), Settlement::Ack);
        let discard = Ok(outcome::Result::Message(WorkerResult {
            disposition: Disposition::Discard as i32,
            reason: "bad order".into(),
            retry_after_ms: 0,
        }));
        assert_eq!(
            settlement_of(discard),
            Settlement::DeadLetter("discarded: bad order".into())
        );
        let retry = Ok(outcome::Result::Message(WorkerResult {
            disposition: Disposition::Retry as i32,
            reason: "busy".into(),
            retry_after_ms: 250,
        }));
        assert_eq!(
            settlement_of(retry),
            Settlement::Retry {
                reason: "busy".into(),
                after: Some(Duration::from_millis(250))
            }
        );
        let handler_error = Ok(outcome::Result::Error(Error {
            code: ErrorCode::Handler as i32,
            message: "db down".into(),
            retryable: true,
            details_json: vec![],
        }));
        assert_eq!(
            settlement_of(handler_error),
            Settlement::Retry {
                reason: "db down".into(),
                after: None
            }
        );
        let bad_input = Ok(outcome::Result::Error(Error {
            code: ErrorCode::BadInput as i32,
            message: "not JSON".into(),
            ..Default::default()
        }));
        assert_eq!(
            settlement_of(bad_input),
            Settlement::DeadLetter("not JSON".into())
        );
        let retryable_not_found = Ok(outcome::Result::Error(Error {
            code: ErrorCode::NotFound as i32,
            message: "customer not synced yet".into(),
            retryable: true,
            ..Default::default()
        }));
        assert!(matches!(
            settlement_of(retryable_not_found),
            Settlement::Retry { .. }
        ));
        let crash = Err(WorkError::LaneClosed("gone".into()));
        assert!(matches!(settlement_of(crash), Settlement::Retry { .. }));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let config = WorkersConfig {
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(1),
            ack_wait: Duration::from_secs(30),
        };
        assert_eq!(backoff(&config, 1), Duration::from_millis(100));
        assert_eq!(backoff(&config, 2), Duration::from_millis(200));
        assert_eq!(backoff(&config, 4), Duration::from_millis(800));
        assert_eq!(backoff(&config, 5), Duration::from_secs(1));
        assert_eq!(backoff(&config, 60), Duration::from_secs(1));
    }
}
