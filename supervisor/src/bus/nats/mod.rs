//! The NATS JetStream backend (when `[nats]` is configured).
//!
//! Layout on the server (see [`streams`] for retention):
//! * Topic `T` of workspace `W` is the subject `convotic.W.topics.T` of the topics stream.
//!   Publishes carry `Nats-Msg-Id` (the message id, for the stream's duplicate window) and
//!   `Convotic-Published-At`. Messages published there by anything else are delivered too: their
//!   id is their `Nats-Msg-Id`, else `<stream>-<sequence>`, and their time the stream's.
//! * Each handler (workspace, module, handler) has one durable pull consumer named
//!   [`SubscriptionSpec::durable_name`](crate::bus::SubscriptionSpec::durable_name), filtered on
//!   its topic: every handler gets its own copy, and supervisors subscribing with the same spec
//!   share the consumer, hence the deliveries. A consumer is created with the `new` deliver
//!   policy: a handler sees the messages published from the moment its consumer first exists,
//!   not the stream's history (which may hold days of other handlers' traffic).
//! * Dead letters of handler `H` of module `M` are stored on `convotic.W.dead.M.H` in the
//!   dead-letter stream, with the payload, the publisher's headers and `Convotic-*` headers for
//!   the rest; their id is `dl_<sequence>`.
//!
//! Re-driving a dead letter must reach the handler that gave up only, but every consumer of the
//! topic sees the topic's subjects, and nats-server 2.9 has no multi-filter consumers (a
//! per-handler re-drive subject could not be added to the same consumer). The re-drive is
//! therefore published on the topic subject with a `Convotic-Only-Handler: <durable name>`
//! header: the other handlers' subscriptions acknowledge it and skip it without a delivery.
//! It keeps its message id (`Convotic-Redrive-Of`) under a new `Nats-Msg-Id`. See
//! `dead_letters.rs`.
//!
//! Settling: `ack` sends a plain `+ACK` (not the confirmed double ack): a lost ack only causes
//! a redelivery, which at-least-once allows, and the confirmed form costs a round trip and an
//! inbox subscription per message: `examples/nats_throughput.rs` measured 130-145k msg/s with
//! plain acks against 70-80k msg/s with double acks (256 outstanding; 2 cores, 1 KiB messages,
//! nats-server 2.9 on the same machine). `retry` is a NAK
//! with delay, `in_progress` a progress ack; `dead_letter` stores the dead letter (awaiting the
//! stream's acknowledgement) and then terminates the delivery.
//!
//! The connection reconnects by itself, without limit, after the first connect; subscriptions
//! re-open their pull after an outage without reporting it (see `subscription.rs`).

mod acker;
mod cron_claims;
mod dead_letters;
mod headers;
pub mod streams;
mod subscription;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::context::{Context, ContextBuilder, PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use async_nats::{ConnectOptions, Event, HeaderMap, ServerAddr};
use bytes::Bytes;

use crate::bus::{
    Backend, BusError, DeadLetterPage, Outgoing, Published, Subscription, SubscriptionSpec,
};
use crate::config::NatsConfig;

/// The NATS JetStream bus. Cheap to clone.
#[derive(Clone)]
pub struct NatsBus {
    shared: Arc<Shared>,
}

/// What subscriptions and ackers share with the bus.
pub(crate) struct Shared {
    /// JetStream context whose requests time out after `request_timeout`.
    pub(crate) js: Context,
    /// The `[nats]` settings.
    pub(crate) config: NatsConfig,
}

impl NatsBus {
    /// Connects to `config.url` (comma-separated URLs for a cluster), retrying for up to
    /// `request_timeout`, then creates or updates the topics and dead-letter streams.
    ///
    /// After this first connection the client reconnects by itself, without limit, and logs
    /// disconnections and reconnections.
    pub async fn connect(config: &NatsConfig) -> Result<NatsBus, BusError> {
        let addrs = parse_urls(&config.url)?;
        let deadline = Instant::now() + config.request_timeout;
        let client = loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let url = config.url.clone();
            let options = ConnectOptions::new()
                .name("convotic-supervisor")
                .max_reconnects(None)
                .connection_timeout(remaining.max(Duration::from_millis(100)))
                .request_timeout(Some(config.request_timeout))
                .event_callback(move |event| {
                    let url = url.clone();
                    async move { log_event(&url, event) }
                });
            match options.connect(addrs.clone()).await {
                Ok(client) => break client,
                Err(err) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    if remaining.is_zero() {
                        return Err(BusError::Unavailable(format!(
                            "cannot connect to NATS at {} within {}: {err}",
                            config.url,
                            humantime::format_duration(config.request_timeout)
                        )));
                    }
                    tracing::debug!(url = %config.url, error = %err, "NATS not reachable yet, retrying");
                    tokio::time::sleep(remaining.min(Duration::from_millis(250))).await;
                }
            }
        };
        let js = ContextBuilder::new()
            .timeout(config.request_timeout)
            .build(client);
        streams::ensure_all(&js, config).await?;
        tracing::info!(url = %config.url, stream = %config.stream, dead_letter_stream = %config.dead_letter_stream, "connected to NATS JetStream");
        Ok(NatsBus {
            shared: Arc::new(Shared {
                js,
                config: config.clone(),
            }),
        })
    }
}

fn parse_urls(urls: &str) -> Result<Vec<ServerAddr>, BusError> {
    let addrs = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<ServerAddr>().map_err(|err| {
                BusError::InvalidArgument(format!("nats.url: {u:?} is not a NATS URL: {err}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if addrs.is_empty() {
        return Err(BusError::InvalidArgument("nats.url: empty".into()));
    }
    Ok(addrs)
}

fn log_event(url: &str, event: Event) {
    match event {
        Event::Connected => tracing::info!(url, "NATS connection (re)established"),
        Event::Disconnected => tracing::warn!(url, "NATS connection lost; reconnecting"),
        Event::LameDuckMode => tracing::warn!(url, "NATS server entering lame duck mode"),
        Event::SlowConsumer(sid) => {
            tracing::warn!(
                url,
                subscription = sid,
                "NATS slow consumer: messages dropped"
            )
        }
        Event::ServerError(err) => tracing::warn!(url, error = %err, "NATS server error"),
        Event::ClientError(err) => tracing::warn!(url, error = %err, "NATS client error"),
        Event::Draining | Event::Closed => tracing::info!(url, event = %event, "NATS connection"),
    }
}

impl Shared {
    /// Publishes to a stream subject and waits for the stream's acknowledgement.
    pub(crate) async fn publish(
        &self,
        subject: String,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<PublishAck, BusError> {
        let message = PublishMessage::build().payload(payload).headers(headers);
        let ack = self
            .js
            .send_publish(subject.clone(), message)
            .await
            .map_err(|err| publish_error(&subject, err))?;
        ack.await.map_err(|err| publish_error(&subject, err))
    }
}

fn publish_error(subject: &str, err: PublishError) -> BusError {
    match err.kind() {
        PublishErrorKind::MaxPayloadExceeded => {
            BusError::InvalidArgument(format!("payload: too large for NATS: {err}"))
        }
        PublishErrorKind::StreamNotFound => BusError::Unavailable(format!(
            "publish to {subject}: no NATS stream stores this subject"
        )),
        _ => BusError::Unavailable(format!("publish to {subject}: {err}")),
    }
}

#[tonic::async_trait]
impl Backend for NatsBus {
    async fn claim_tick(
        &self,
        workspace: &str,
        module: &str,
        cron: &str,
        scheduled_at_ms: u64,
    ) -> Result<bool, BusError> {
        // Every supervisor publishes the same id for a tick; the stream's duplicate window makes
        // exactly one publish new (works on nats-server 2.9, unlike the KV store).
        let id = format!("{workspace}/{module}/{cron}/{scheduled_at_ms}");
        let subject = format!("convotic.{workspace}.cron.{module}.{cron}");
        cron_claims::claim(&self.shared, subject, &id).await
    }

    fn name(&self) -> &'static str {
        "nats"
    }

    fn nats_client(&self) -> Option<async_nats::Client> {
        Some(self.shared.js.client())
    }

    async fn publish(
        &self,
        workspace: &str,
        topic: &str,
        message: Outgoing,
    ) -> Result<Published, BusError> {
        headers::check_workspace(workspace)?;
        headers::check_topic(topic)?;
        let mut map = headers::to_nats(&message.headers)?;
        let message_id = match message.message_id {
            Some(id) if !id.is_empty() => {
                if id.contains(|c: char| c.is_control()) || id.trim() != id {
                    return Err(BusError::InvalidArgument(
                        "message_id: must not hold control characters or surrounding spaces".into(),
                    ));
                }
                id
            }
            _ => headers::new_message_id(),
        };
        headers::set(&mut map, headers::NATS_MSG_ID, &message_id);
        headers::set(
            &mut map,
            headers::PUBLISHED_AT,
            &headers::now_ms().to_string(),
        );
        let ack = self
            .shared
            .publish(
                headers::topic_subject(workspace, topic),
                map,
                message.payload,
            )
            .await?;
        Ok(Published {
            message_id,
            duplicate: ack.duplicate,
        })
    }

    async fn subscribe(&self, spec: &SubscriptionSpec) -> Result<Box<dyn Subscription>, BusError> {
        let subscription = subscription::NatsSubscription::open(self.shared.clone(), spec).await?;
        Ok(Box::new(subscription))
    }

    async fn backlog(&self, spec: &SubscriptionSpec) -> Result<Option<u64>, BusError> {
        let unavailable = |e: &dyn std::fmt::Display| BusError::Unavailable(e.to_string());
        let stream = self
            .shared
            .js
            .get_stream(&self.shared.config.stream)
            .await
            .map_err(|e| unavailable(&e))?;
        let info = stream
            .consumer_info(spec.durable_name())
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(Some(info.num_pending))
    }

    async fn list_dead_letters(
        &self,
        workspace: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<DeadLetterPage, BusError> {
        dead_letters::list(&self.shared, workspace, page_size, page_token).await
    }

    async fn retry_dead_letter(&self, workspace: &str, id: &str) -> Result<Published, BusError> {
        dead_letters::retry(&self.shared, workspace, id).await
    }
}
