//! One handler's subscription: its durable pull consumer and a pull stream over it.
//!
//! The consumer is created or updated from the spec: explicit acks, `ack_wait`, `max_deliver =
//! max_attempts + 1` (the bus contract's extra delivery), `max_ack_pending = max_in_flight`
//! (for the consumer as a whole: supervisors sharing it share that budget), deliver policy
//! `new`. Deliveries come from a long-lived pull stream asking for `max_in_flight` messages at a
//! time, with idle heartbeats so a dead connection is noticed.
//!
//! When the pull stream fails (server restart, lost heartbeats, consumer deleted), the
//! subscription logs it, waits (100 ms doubling up to 5 s), creates or updates the consumer
//! again and opens a new pull stream; [`Subscription::next`] keeps waiting meanwhile. It returns
//! an error only when the server answers that the consumer cannot be created (after trying to
//! re-create the topics stream if it was missing), never for an outage.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::pull::{Config, Stream as PullStream};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, ReplayPolicy};
use async_nats::jetstream::stream::ConsumerErrorKind;
use async_nats::jetstream::ErrorCode;
use futures::StreamExt;

use super::acker::{DeadLetterContext, HandlerInfo, NatsAcker};
use super::headers;
use super::{streams, Shared};
use crate::bus::{BusError, Delivery, Subscription, SubscriptionSpec};

/// Idle heartbeat asked of the server on each pull.
const HEARTBEAT: Duration = Duration::from_millis(500);
/// Lifetime of one pull request (the stream renews it). Kept short on purpose: a pull request
/// outlives the subscription that made it on the server (nats-server does not know the inbox
/// is gone), and messages it attracts meanwhile are lost to that delivery attempt until
/// `ack_wait` passes; a short expiry bounds how many attempts a restart can cost.
const PULL_EXPIRES: Duration = Duration::from_secs(2);
/// First pause after a failure.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// Longest pause between attempts to re-open the pull.
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// A [`Subscription`] on a JetStream durable pull consumer.
pub(crate) struct NatsSubscription {
    shared: Arc<Shared>,
    spec: SubscriptionSpec,
    durable: String,
    /// Shared by the dead-letter context of every delivery.
    info: Arc<HandlerInfo>,
    /// `convotic.<workspace>.topics.`, stripped from subjects to get topics.
    topic_prefix: String,
    consumer_config: Config,
    batch: usize,
    messages: Option<PullStream>,
    pause: Duration,
}

/// Why opening the pull failed.
enum OpenError {
    /// Try again later (no connection, timeout).
    Transient(String),
    /// The server refuses: the subscription cannot go on.
    Fatal(String),
}

impl NatsSubscription {
    /// Creates or updates the consumer of `spec` and opens its pull stream.
    pub(crate) async fn open(
        shared: Arc<Shared>,
        spec: &SubscriptionSpec,
    ) -> Result<NatsSubscription, BusError> {
        headers::check_workspace(&spec.workspace)?;
        headers::check_topic(&spec.topic)?;
        if spec.max_attempts == 0 {
            return Err(BusError::InvalidArgument(
                "max_attempts: must be at least 1".into(),
            ));
        }
        if spec.ack_wait.is_zero() {
            return Err(BusError::InvalidArgument(
                "ack_wait: must be positive".into(),
            ));
        }
        let durable = spec.durable_name();
        let max_in_flight = spec.max_in_flight.max(1);
        let consumer_config = Config {
            durable_name: Some(durable.clone()),
            description: Some(format!(
                "Convotic handler {} of module {} in {}, topic {}",
                spec.handler, spec.module, spec.workspace, spec.topic
            )),
            deliver_policy: DeliverPolicy::New,
            ack_policy: AckPolicy::Explicit,
            ack_wait: spec.ack_wait,
            max_deliver: i64::from(spec.max_attempts) + 1,
            filter_subject: headers::topic_subject(&spec.workspace, &spec.topic),
            replay_policy: ReplayPolicy::Instant,
            max_ack_pending: i64::try_from(max_in_flight).unwrap_or(i64::MAX),
            ..Default::default()
        };
        let info = Arc::new(HandlerInfo {
            shared: shared.clone(),
            workspace: spec.workspace.clone(),
            module: spec.module.clone(),
            handler: spec.handler.clone(),
            durable: durable.clone(),
        });
        let mut subscription = NatsSubscription {
            shared,
            spec: spec.clone(),
            durable,
            info,
            topic_prefix: headers::topic_prefix(&spec.workspace),
            consumer_config,
            batch: max_in_flight,
            messages: None,
            pause: FIRST_PAUSE,
        };
        match subscription.try_open().await {
            Ok(messages) => subscription.messages = Some(messages),
            Err(OpenError::Fatal(message) | OpenError::Transient(message)) => {
                return Err(BusError::Unavailable(message));
            }
        }
        Ok(subscription)
    }

    async fn create_consumer(&self) -> Result<PullConsumer, OpenError> {
        let stream = &self.shared.config.stream;
        let mut recreated_stream = false;
        loop {
            let result = self
                .shared
                .js
                .create_consumer_on_stream(self.consumer_config.clone(), stream)
                .await;
            let err = match result {
                Ok(consumer) => return Ok(consumer),
                Err(err) => err,
            };
            let message = format!(
                "cannot create NATS consumer {} on stream {stream}: {err}",
                self.durable
            );
            match err.kind() {
                ConsumerErrorKind::JetStream(js_err)
                    if js_err.error_code() == ErrorCode::STREAM_NOT_FOUND && !recreated_stream =>
                {
                    recreated_stream = true;
                    streams::ensure_topics(&self.shared.js, &self.shared.config)
                        .await
                        .map_err(|err| OpenError::Transient(err.to_string()))?;
                }
                ConsumerErrorKind::JetStream(js_err)
                    if js_err.error_code() == ErrorCode::JETSTREAM_NOT_ENABLED
                        || js_err.code() == 503 =>
                {
                    return Err(OpenError::Transient(message));
                }
                ConsumerErrorKind::JetStream(_)
                | ConsumerErrorKind::InvalidName
                | ConsumerErrorKind::InvalidConsumerType => {
                    return Err(OpenError::Fatal(message));
                }
                _ => return Err(OpenError::Transient(message)),
            }
        }
    }

    async fn try_open(&self) -> Result<PullStream, OpenError> {
        let consumer = self.create_consumer().await?;
        consumer
            .stream()
            .max_messages_per_batch(self.batch)
            .heartbeat(HEARTBEAT)
            .expires(PULL_EXPIRES)
            .messages()
            .await
            .map_err(|err| {
                OpenError::Transient(format!(
                    "cannot pull from NATS consumer {}: {err}",
                    self.durable
                ))
            })
    }

    /// Opens the pull stream again, waiting out outages; fails only when the server refuses.
    async fn reopen(&mut self) -> Result<(), BusError> {
        loop {
            match self.try_open().await {
                Ok(messages) => {
                    tracing::info!(consumer = %self.durable, "NATS pull re-opened");
                    self.messages = Some(messages);
                    return Ok(());
                }
                Err(OpenError::Transient(message)) => {
                    tracing::warn!(consumer = %self.durable, error = %message, retry_in = ?self.pause, "NATS pull not available yet");
                    self.wait().await;
                }
                Err(OpenError::Fatal(message)) => return Err(BusError::Unavailable(message)),
            }
        }
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
    }

    /// Turns a JetStream message into a delivery; `None` for a message to skip (acked).
    async fn delivery(&self, message: async_nats::jetstream::Message) -> Option<Delivery> {
        let (delivered, stream_sequence, published) = match message.info() {
            Ok(info) => (info.delivered, info.stream_sequence, info.published),
            Err(err) => {
                tracing::warn!(consumer = %self.durable, error = %err, subject = %message.subject, "NATS message without delivery info skipped");
                return None;
            }
        };
        let (message, acker) = message.split();
        let nats_headers = message.headers.as_ref();
        if let Some(only) = headers::get(nats_headers, headers::ONLY_HANDLER) {
            if only != self.durable {
                if let Err(err) = acker.ack().await {
                    tracing::debug!(consumer = %self.durable, error = %err, "ack of a re-drive for another handler failed; it comes back");
                }
                return None;
            }
        }
        let message_id = headers::get(nats_headers, headers::REDRIVE_OF)
            .or_else(|| headers::get(nats_headers, headers::NATS_MSG_ID))
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}-{stream_sequence}", self.shared.config.stream));
        let published_at_ms =
            headers::get_u64(nats_headers, headers::PUBLISHED_AT).unwrap_or_else(|| {
                u64::try_from(published.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
            });
        let topic = message
            .subject
            .as_str()
            .strip_prefix(self.topic_prefix.as_str())
            .unwrap_or(&self.spec.topic)
            .to_string();
        let user_headers = headers::from_nats(nats_headers);
        let attempt = u32::try_from(delivered.max(1)).unwrap_or(u32::MAX);
        let context = DeadLetterContext {
            info: Arc::clone(&self.info),
            topic: topic.clone(),
            message_id: message_id.clone(),
            payload: message.payload.clone(),
            headers: user_headers.clone(),
            attempt,
            published_at_ms,
            stream_sequence,
        };
        Some(Delivery {
            message_id,
            topic,
            payload: message.payload,
            headers: user_headers,
            attempt,
            published_at_ms,
            acker: Box::new(NatsAcker::new(acker, context)),
        })
    }
}

#[tonic::async_trait]
impl Subscription for NatsSubscription {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            let Some(messages) = self.messages.as_mut() else {
                self.reopen().await?;
                continue;
            };
            match messages.next().await {
                Some(Ok(message)) => {
                    self.pause = FIRST_PAUSE;
                    if let Some(delivery) = self.delivery(message).await {
                        return Ok(delivery);
                    }
                }
                Some(Err(err)) => {
                    tracing::warn!(consumer = %self.durable, error = %err, retry_in = ?self.pause, "NATS pull failed; re-opening");
                    self.messages = None;
                    self.wait().await;
                }
                None => {
                    tracing::warn!(consumer = %self.durable, "NATS pull ended; re-opening");
                    self.messages = None;
                    self.wait().await;
                }
            }
        }
    }
}
