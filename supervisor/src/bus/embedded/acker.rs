//! Settling one delivery of the embedded queue. Each call joins the next write batch and
//! returns after its commit; the delivery's in-flight permit is given back when the acker is
//! settled or dropped.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit};

use super::shared::Shared;
use super::{cut_reason, millis};
use crate::bus::{Acker, BusError};
use crate::store::{QueueHold, QueueOp};

/// The [`Acker`] of an embedded delivery.
pub(super) struct EmbeddedAcker {
    shared: Arc<Shared>,
    hold: QueueHold,
    ack_wait: Duration,
    /// The subscription's wake-up (a retried delivery may be due before its next poll).
    waker: Arc<Notify>,
    _permit: OwnedSemaphorePermit,
}

impl EmbeddedAcker {
    /// The acker of the claim `hold`.
    pub(super) fn new(
        shared: Arc<Shared>,
        hold: QueueHold,
        ack_wait: Duration,
        waker: Arc<Notify>,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        Self {
            shared,
            hold,
            ack_wait,
            waker,
            _permit: permit,
        }
    }
}

#[tonic::async_trait]
impl Acker for EmbeddedAcker {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        self.shared.call(QueueOp::Ack(self.hold)).await.map(drop)
    }

    async fn retry(self: Box<Self>, delay: Duration) -> Result<(), BusError> {
        let result = self
            .shared
            .call(QueueOp::Retry {
                hold: self.hold,
                delay_ms: millis(delay),
            })
            .await;
        self.waker.notify_waiters();
        result.map(drop)
    }

    async fn dead_letter(self: Box<Self>, reason: String) -> Result<(), BusError> {
        self.shared
            .call(QueueOp::DeadLetter {
                hold: self.hold,
                reason: cut_reason(reason),
            })
            .await
            .map(drop)
    }

    async fn in_progress(&self) -> Result<(), BusError> {
        self.shared
            .call(QueueOp::Extend {
                hold: self.hold,
                ack_wait_ms: millis(self.ack_wait),
            })
            .await
            .map(drop)
    }
}
