//! Settling a JetStream delivery: ack, NAK with delay, progress, and dead-lettering.
//!
//! `dead_letter` publishes the dead letter and waits for the dead-letter stream's
//! acknowledgement before it terminates the delivery (`+TERM`), so a dead letter is never lost:
//! if the terminate is lost the message comes back and is dead-lettered again, and the
//! dead letter's `Nats-Msg-Id` (`dead-<consumer>-<topic stream sequence>`) makes the second
//! store a duplicate within the duplicate window.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::message::Acker as JsAcker;
use async_nats::jetstream::AckKind;
use bytes::Bytes;

use super::headers;
use super::Shared;
use crate::bus::{Acker, BusError};

/// What every delivery of one subscription shares: the bus and who handles them.
pub(crate) struct HandlerInfo {
    pub(crate) shared: Arc<Shared>,
    pub(crate) workspace: String,
    pub(crate) module: String,
    pub(crate) handler: String,
    pub(crate) durable: String,
}

/// What a dead letter of a delivery records.
pub(crate) struct DeadLetterContext {
    pub(crate) info: Arc<HandlerInfo>,
    pub(crate) topic: String,
    pub(crate) message_id: String,
    pub(crate) payload: Bytes,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) attempt: u32,
    pub(crate) published_at_ms: u64,
    pub(crate) stream_sequence: u64,
}

/// The [`Acker`] of a JetStream delivery.
pub(crate) struct NatsAcker {
    acker: JsAcker,
    context: DeadLetterContext,
}

impl NatsAcker {
    pub(crate) fn new(acker: JsAcker, context: DeadLetterContext) -> NatsAcker {
        NatsAcker { acker, context }
    }

    async fn send(&self, kind: AckKind) -> Result<(), BusError> {
        self.acker.ack_with(kind).await.map_err(|err| {
            BusError::Unavailable(format!(
                "cannot settle a NATS delivery of {}: {err}",
                self.context.info.durable
            ))
        })
    }
}

#[tonic::async_trait]
impl Acker for NatsAcker {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        self.send(AckKind::Ack).await
    }

    async fn retry(self: Box<Self>, delay: Duration) -> Result<(), BusError> {
        let delay = (!delay.is_zero()).then_some(delay);
        self.send(AckKind::Nak(delay)).await
    }

    async fn dead_letter(self: Box<Self>, reason: String) -> Result<(), BusError> {
        let c = &self.context;
        let info = &c.info;
        let mut map = headers::to_nats_lossy(&c.headers);
        headers::set(
            &mut map,
            headers::NATS_MSG_ID,
            &format!("dead-{}-{}", info.durable, c.stream_sequence),
        );
        headers::set(&mut map, headers::REASON, headers::clip_reason(&reason));
        headers::set(&mut map, headers::TOPIC, &c.topic);
        headers::set(&mut map, headers::MODULE, &info.module);
        headers::set(&mut map, headers::HANDLER, &info.handler);
        headers::set(&mut map, headers::MESSAGE_ID, &c.message_id);
        headers::set(&mut map, headers::ATTEMPTS, &c.attempt.to_string());
        headers::set(
            &mut map,
            headers::PUBLISHED_AT,
            &c.published_at_ms.to_string(),
        );
        headers::set(&mut map, headers::FAILED_AT, &headers::now_ms().to_string());
        let subject = headers::dead_subject(&info.workspace, &info.module, &info.handler);
        info.shared.publish(subject, map, c.payload.clone()).await?;
        self.send(AckKind::Term).await
    }

    async fn in_progress(&self) -> Result<(), BusError> {
        self.send(AckKind::Progress).await
    }
}
