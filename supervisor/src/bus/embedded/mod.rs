//! The embedded durable queue in the SQLite store: the workers' bus when `[nats]` is absent, so
//! a fresh machine needs nothing else. Same semantics as the NATS backend (see [`crate::bus`]).
//!
//! * Tables and SQL live in the store (`store/queue.rs`): messages, one delivery row per
//!   (subscription, message), subscriptions and dead letters. Everything is in the database
//!   file, so it survives restarts; a delivery held by a process that was killed comes back when
//!   its hold (`ack_wait`) expires.
//! * `subscribe` registers the subscription; `publish` creates a delivery for every subscription
//!   of its (workspace, topic) registered at that moment. Messages published before a
//!   subscription was first registered are not delivered to it, as with a new JetStream durable
//!   consumer created with `DeliverPolicy::New`.
//! * Publishes are deduplicated on (workspace, `message_id`) for as long as the message is
//!   stored: at least [`DEDUP_WINDOW`] after its publication (NATS's default duplicate window),
//!   longer while a delivery of it is pending.
//! * A subscription claims due deliveries in one write (oldest first, as many as it may hold)
//!   and hands them out from a local buffer; several subscriptions with the same spec share the
//!   rows safely, since every claim runs on the store's single writer. Every write of the bus
//!   (publish, claim, ack, retry, ...) joins a batch that commits once (`shared.rs`).
//! * An idle subscription wakes when this process publishes or retries for it, when its earliest
//!   delivery becomes due, and at least every [`POLL_INTERVAL`] (messages published by another
//!   process, such as the CLI).
//! * A delivery that was already made `max_attempts + 1` times and comes due again (its holder
//!   died, or it was retried) is moved to the dead letters by the claim instead of being
//!   delivered again.
//! * Settling with a stale delivery (its hold expired and another claim took it): `ack` still
//!   removes it (the work was done), `retry`, `dead_letter` and `in_progress` do nothing (the new
//!   holder decides).

mod acker;
mod shared;
mod subscription;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use crate::bus::{
    Backend, BusError, DeadLetter, DeadLetterPage, Outgoing, Published, Subscription,
    SubscriptionSpec,
};
use crate::names::is_topic;
use crate::store::{QueueDeadLetter, QueueMessage, QueueOp, QueueOutcome, QueueSubscription};
use crate::store::{Store, StoreError};

use shared::Shared;
use subscription::EmbeddedSubscription;

/// How long after its publication a message id is remembered for deduplication (at least).
pub const DEDUP_WINDOW: Duration = Duration::from_secs(120);

/// Longest an idle subscription waits before looking for deliveries again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Longest workspace, module, handler or message id, in bytes.
const MAX_NAME: usize = 256;

/// Longest dead-letter reason kept, in bytes (longer ones are cut).
const MAX_REASON: usize = 64 * 1024;

/// The embedded queue backend. Cheap to clone (clones share batches and wake-ups).
#[derive(Clone)]
pub struct EmbeddedBus {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EmbeddedBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBus")
            .field("store", &self.shared.store)
            .finish_non_exhaustive()
    }
}

impl EmbeddedBus {
    /// A bus on the queue tables of `store`.
    pub fn new(store: Store) -> Self {
        Self {
            shared: Shared::new(store),
        }
    }
}

/// The bus error for a store error.
fn bus_error(e: StoreError) -> BusError {
    match e {
        StoreError::NotFound(m) => BusError::NotFound(m),
        StoreError::InvalidArgument(m) => BusError::InvalidArgument(m),
        // A dead letter whose message id is taken by a newer message: it can be re-driven once
        // that one is gone.
        StoreError::Conflict(m) | StoreError::FailedPrecondition(m) => BusError::Unavailable(m),
        StoreError::Internal(m) => BusError::Internal(m),
        StoreError::Storage { fault, message } => BusError::Storage { fault, message },
    }
}

/// Checks a required name-like field.
fn check_name(field: &str, value: &str) -> Result<(), BusError> {
    if value.is_empty() {
        return Err(BusError::InvalidArgument(format!("{field}: required")));
    }
    if value.len() > MAX_NAME {
        return Err(BusError::InvalidArgument(format!(
            "{field}: longer than {MAX_NAME} bytes"
        )));
    }
    Ok(())
}

fn check_topic(topic: &str) -> Result<(), BusError> {
    if is_topic(topic) {
        Ok(())
    } else {
        Err(BusError::InvalidArgument(format!(
            "topic: {topic:?} is not a topic (1-128 bytes of dot-separated [A-Za-z0-9_-] segments)"
        )))
    }
}

/// Milliseconds of `d`, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `reason` cut to [`MAX_REASON`] bytes (at a character boundary).
fn cut_reason(mut reason: String) -> String {
    if reason.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

fn dead_letter(d: QueueDeadLetter) -> DeadLetter {
    DeadLetter {
        id: d.id,
        workspace: d.workspace,
        module: d.module,
        handler: d.handler,
        topic: d.topic,
        message_id: d.message_id,
        payload: d.payload,
        headers: d.headers,
        attempts: d.attempts,
        reason: d.reason,
        published_at_ms: d.published_at_ms,
        failed_at_ms: d.failed_at_ms,
    }
}

/// The `Published` answer of a publish or re-drive, waking the subscriptions that got it.
fn published(shared: &Shared, outcome: QueueOutcome) -> Result<Published, BusError> {
    match outcome {
        QueueOutcome::Published {
            message_id,
            duplicate,
            subscriptions,
        } => {
            shared.wake(&subscriptions);
            Ok(Published {
                message_id,
                duplicate,
            })
        }
        other => Err(BusError::Internal(format!(
            "unexpected answer of the queue to a publish: {other:?}"
        ))),
    }
}

#[tonic::async_trait]
impl Backend for EmbeddedBus {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn publish(
        &self,
        workspace: &str,
        topic: &str,
        message: Outgoing,
    ) -> Result<Published, BusError> {
        check_name("workspace", workspace)?;
        check_topic(topic)?;
        let message_id = message.message_id.filter(|id| !id.is_empty());
        if let Some(id) = &message_id {
            check_name("message_id", id)?;
        }
        let payload = String::from_utf8(Vec::from(message.payload))
            .map_err(|_| BusError::InvalidArgument("payload: not UTF-8".into()))?;
        let outcome = self
            .shared
            .call(QueueOp::Publish(QueueMessage {
                workspace: workspace.to_string(),
                topic: topic.to_string(),
                message_id,
                payload,
                headers: message.headers,
            }))
            .await?;
        published(&self.shared, outcome)
    }

    async fn subscribe(&self, spec: &SubscriptionSpec) -> Result<Box<dyn Subscription>, BusError> {
        check_name("workspace", &spec.workspace)?;
        check_name("module", &spec.module)?;
        check_name("handler", &spec.handler)?;
        check_topic(&spec.topic)?;
        if spec.max_attempts == 0 {
            return Err(BusError::InvalidArgument(
                "max_attempts: must be at least 1".into(),
            ));
        }
        if spec.max_in_flight == 0 {
            return Err(BusError::InvalidArgument(
                "max_in_flight: must be at least 1".into(),
            ));
        }
        if millis(spec.ack_wait) == 0 {
            return Err(BusError::InvalidArgument(
                "ack_wait: must be at least 1ms".into(),
            ));
        }
        let name = spec.durable_name();
        self.shared
            .store
            .queue_subscribe(QueueSubscription {
                name: name.clone(),
                workspace: spec.workspace.clone(),
                module: spec.module.clone(),
                handler: spec.handler.clone(),
                topic: spec.topic.clone(),
                max_attempts: spec.max_attempts,
            })
            .await
            .map_err(bus_error)?;
        Ok(Box::new(EmbeddedSubscription::new(
            Arc::clone(&self.shared),
            name,
            spec,
        )))
    }

    async fn backlog(&self, spec: &SubscriptionSpec) -> Result<Option<u64>, BusError> {
        let waiting = self
            .shared
            .store
            .queue_backlog(&spec.durable_name())
            .await
            .map_err(bus_error)?;
        Ok(Some(waiting))
    }

    async fn list_dead_letters(
        &self,
        workspace: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<DeadLetterPage, BusError> {
        let page = self
            .shared
            .store
            .queue_dead_letters(workspace, page_size, page_token)
            .await
            .map_err(bus_error)?;
        Ok(DeadLetterPage {
            dead_letters: page.items.into_iter().map(dead_letter).collect(),
            next_page_token: page.next_page_token,
        })
    }

    async fn retry_dead_letter(&self, workspace: &str, id: &str) -> Result<Published, BusError> {
        let outcome = self
            .shared
            .call(QueueOp::RedriveDeadLetter {
                workspace: workspace.to_string(),
                id: id.to_string(),
            })
            .await?;
        published(&self.shared, outcome)
    }
}
