//! Workers' message bus: where module topics are published and consumed, with at-least-once
//! delivery, retries and dead letters.
//!
//! Two backends implement [`Backend`] with the same semantics and pass one behaviour suite:
//! NATS JetStream ([`nats`], when `[nats]` is configured) and an embedded durable queue in the
//! SQLite store ([`embedded`], the default). The dispatcher ([`dispatch`]) consumes every
//! worker handler of every ready module and forwards deliveries over the module's work stream.
//!
//! Semantics every backend provides:
//! * `publish` stores the message durably before returning its id; a publish that repeats a
//!   `message_id` already published is deduplicated (the first id is returned).
//! * One subscription per (workspace, module, handler): every handler gets its own copy of each
//!   message of its topic in its workspace. Several subscriptions with the same spec (several
//!   supervisors) share the deliveries: each message goes to one of them at a time.
//! * A delivery is held until `ack`, `retry`, `dead_letter`, or until `ack_wait` passes without
//!   `in_progress` (a crashed holder): then it is delivered again with `attempt + 1`.
//! * `attempt` starts at 1 and counts deliveries. Backends deliver at most `max_attempts + 1`
//!   times: the extra delivery lets the dispatcher dead-letter a message whose last attempt was
//!   lost with its holder, without calling the handler again.
//! * `dead_letter` moves the message to the dead letters with the reason; dead letters are
//!   listable per workspace and can be re-driven (published again to their topic, attempts reset).

pub mod dispatch;
pub mod embedded;
pub mod nats;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

/// Why a bus operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// Bad input (topic name, payload); the message names the field.
    #[error("{0}")]
    InvalidArgument(String),
    /// No such dead letter (in this workspace).
    #[error("{0}")]
    NotFound(String),
    /// The backend cannot be reached right now; retry later.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
    /// The embedded queue's storage cannot take writes (full, read-only); retry later.
    #[error("{message}")]
    Storage {
        /// The cause.
        fault: crate::store::StorageFault,
        /// What failed.
        message: String,
    },
}

/// A message to publish.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    /// UTF-8 JSON payload (already validated by the caller).
    pub payload: Bytes,
    /// Message headers (string to string).
    pub headers: BTreeMap<String, String>,
    /// Deduplication id; when absent the backend generates one.
    pub message_id: Option<String>,
}

/// What `publish` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Published {
    /// The message's id (the same on every delivery).
    pub message_id: String,
    /// Whether an earlier publish with the same id was found (nothing new was stored).
    pub duplicate: bool,
}

/// One consumer: a handler of a module in a workspace, on a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSpec {
    /// Workspace id.
    pub workspace: String,
    /// Module name.
    pub module: String,
    /// Handler name (unique in the module).
    pub handler: String,
    /// Topic, `[A-Za-z0-9_-]` segments separated by `.`.
    pub topic: String,
    /// Deliveries that may fail before the message is dead-lettered (≥ 1).
    pub max_attempts: u32,
    /// How long a delivery may be held without `in_progress` before it is redelivered.
    pub ack_wait: Duration,
    /// Deliveries the subscriber holds at once at most.
    pub max_in_flight: usize,
}

impl SubscriptionSpec {
    /// A stable, unique name for the consumer: `<workspace>__<module>__<handler>` with every
    /// character outside `[A-Za-z0-9_-]` replaced by `_` (NATS durable names forbid `.`), plus an
    /// FNV-1a hash of the exact triple so that `a.b` and `a_b` never share a consumer.
    pub fn durable_name(&self) -> String {
        let clean = |s: &str| {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        };
        let mut hash: u32 = 0x811c_9dc5;
        for byte in [&self.workspace, &self.module, &self.handler]
            .iter()
            .flat_map(|s| s.bytes().chain(std::iter::once(0)))
        {
            hash ^= u32::from(byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
        format!(
            "{}__{}__{}_{hash:08x}",
            clean(&self.workspace),
            clean(&self.module),
            clean(&self.handler)
        )
    }
}

/// A delivered message.
pub struct Delivery {
    /// Stable id of the message.
    pub message_id: String,
    /// Its topic.
    pub topic: String,
    /// UTF-8 JSON payload.
    pub payload: Bytes,
    /// Headers.
    pub headers: BTreeMap<String, String>,
    /// 1 on the first delivery.
    pub attempt: u32,
    /// When it was published, ms since the Unix epoch.
    pub published_at_ms: u64,
    /// How to settle it.
    pub acker: Box<dyn Acker>,
}

/// Settles one delivery. Exactly one of `ack`, `retry`, `dead_letter` should be called; if
/// none is (the holder crashed), the delivery comes back after `ack_wait`.
#[tonic::async_trait]
pub trait Acker: Send + Sync {
    /// Done: the message is removed for this subscription.
    async fn ack(self: Box<Self>) -> Result<(), BusError>;
    /// Deliver again after at least `delay`.
    async fn retry(self: Box<Self>, delay: Duration) -> Result<(), BusError>;
    /// Move to the dead letters with `reason`.
    async fn dead_letter(self: Box<Self>, reason: String) -> Result<(), BusError>;
    /// Still working: restart the `ack_wait` clock.
    async fn in_progress(&self) -> Result<(), BusError>;
}

/// A stream of deliveries for one [`SubscriptionSpec`].
#[tonic::async_trait]
pub trait Subscription: Send {
    /// The next delivery; waits for one. The backend reconnects by itself after outages; an
    /// error means the subscription cannot go on (the dispatcher resubscribes after a pause).
    async fn next(&mut self) -> Result<Delivery, BusError>;
}

/// A dead-lettered message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// Id of the dead letter (for retry).
    pub id: String,
    /// Workspace.
    pub workspace: String,
    /// Module whose handler gave up.
    pub module: String,
    /// That handler.
    pub handler: String,
    /// Topic.
    pub topic: String,
    /// The original message id.
    pub message_id: String,
    /// The payload (JSON).
    pub payload: serde_json::Value,
    /// Headers.
    pub headers: BTreeMap<String, String>,
    /// Deliveries made.
    pub attempts: u32,
    /// Why it was dead-lettered (the handler's error, "discarded: ...", ...).
    pub reason: String,
    /// When it was published, ms since the Unix epoch.
    pub published_at_ms: u64,
    /// When it was dead-lettered, ms since the Unix epoch.
    pub failed_at_ms: u64,
}

/// One page of dead letters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetterPage {
    /// Oldest first.
    pub dead_letters: Vec<DeadLetter>,
    /// Token of the next page, `None` on the last.
    pub next_page_token: Option<String>,
}

/// A message bus backend.
#[tonic::async_trait]
pub trait Backend: Send + Sync {
    /// `"nats"` or `"embedded"`, for logs and `doctor`.
    fn name(&self) -> &'static str;
    /// The NATS connection, when the backend is NATS (node invocations are served on it too).
    fn nats_client(&self) -> Option<async_nats::Client> {
        None
    }
    /// Publishes durably to `topic` in `workspace`.
    async fn publish(
        &self,
        workspace: &str,
        topic: &str,
        message: Outgoing,
    ) -> Result<Published, BusError>;
    /// Opens (or joins) the subscription of `spec`, creating the durable consumer if needed.
    async fn subscribe(&self, spec: &SubscriptionSpec) -> Result<Box<dyn Subscription>, BusError>;
    /// Dead letters of `workspace`, oldest first.
    async fn list_dead_letters(
        &self,
        workspace: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<DeadLetterPage, BusError>;
    /// Publishes a dead letter again to its topic (for the same handler, attempts from 1) and
    /// removes it from the dead letters.
    async fn retry_dead_letter(&self, workspace: &str, id: &str) -> Result<Published, BusError>;
    /// Messages waiting for the handler of `spec` (not yet delivered, or due again), for the
    /// backlog gauge; `None` when the backend cannot tell.
    async fn backlog(&self, _spec: &SubscriptionSpec) -> Result<Option<u64>, BusError> {
        Ok(None)
    }

    /// Claims the tick of `cron` scheduled at `scheduled_at_ms` for this supervisor: `true` for
    /// exactly one of the supervisors sharing the backend, `false` for the others. The default
    /// (a backend only one supervisor uses, like the embedded queue) always wins.
    async fn claim_tick(
        &self,
        _workspace: &str,
        _module: &str,
        _cron: &str,
        _scheduled_at_ms: u64,
    ) -> Result<bool, BusError> {
        Ok(true)
    }
}

/// Opens the configured backend: NATS JetStream when `[nats]` is set, else the embedded queue
/// in the store. One instance serves both the gateway and the dispatcher.
pub async fn open(
    nats: Option<&crate::config::NatsConfig>,
    store: &crate::store::Store,
) -> Result<std::sync::Arc<dyn Backend>, BusError> {
    Ok(match nats {
        Some(config) => std::sync::Arc::new(nats::NatsBus::connect(config).await?),
        None => std::sync::Arc::new(embedded::EmbeddedBus::new(store.clone())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_names_are_nats_safe() {
        let spec = SubscriptionSpec {
            workspace: "ws_a".into(),
            module: "orders".into(),
            handler: "orders.created".into(),
            topic: "orders.created".into(),
            max_attempts: 5,
            ack_wait: Duration::from_secs(60),
            max_in_flight: 4,
        };
        let name = spec.durable_name();
        assert!(name.starts_with("ws_a__orders__orders_created_"), "{name}");
        let other = SubscriptionSpec {
            handler: "orders_created".into(),
            ..spec.clone()
        };
        assert_ne!(other.durable_name(), name);
    }
}
