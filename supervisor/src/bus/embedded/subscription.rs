//! One subscription of the embedded queue: claims due deliveries in batches and hands them out
//! one at a time.
//!
//! The subscription holds at most `max_in_flight` deliveries (handed out and not settled, or
//! claimed and buffered): a semaphore permit travels with each delivery into its acker. A claim
//! asks for as many deliveries as there are free permits, up to [`MAX_CLAIM`].
//!
//! `next` may be cancelled: a claim in flight is kept and awaited by the next call. Dropping
//! the subscription gives its claimed, never handed out deliveries back (ready at once, with
//! their attempt unchanged).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{oneshot, Notify, OwnedSemaphorePermit, Semaphore};

use super::acker::EmbeddedAcker;
use super::shared::Shared;
use super::{bus_error, millis, POLL_INTERVAL};
use crate::bus::{BusError, Delivery, Subscription, SubscriptionSpec};
use crate::store::{ClaimedDelivery, QueueHold, QueueOp, QueueOutcome, StoreError};

/// Most deliveries one claim asks for.
pub(super) const MAX_CLAIM: usize = 512;

/// A subscription of the embedded queue.
pub(super) struct EmbeddedSubscription {
    shared: Arc<Shared>,
    /// Durable name.
    name: String,
    max_attempts: u32,
    ack_wait: Duration,
    max_claim: usize,
    permits: Arc<Semaphore>,
    waker: Arc<Notify>,
    buffer: VecDeque<Buffered>,
    claim: Option<PendingClaim>,
}

/// A claimed delivery not handed out yet.
struct Buffered {
    delivery: ClaimedDelivery,
    permit: OwnedSemaphorePermit,
    /// When its hold started (at the latest).
    held_since: Instant,
}

/// A claim sent to the writer.
struct PendingClaim {
    answer: oneshot::Receiver<Result<QueueOutcome, StoreError>>,
    permits: Vec<OwnedSemaphorePermit>,
    sent: Instant,
}

/// Gives claimed deliveries back (ready now, attempt unchanged) and wakes the subscription.
fn release(shared: &Arc<Shared>, waker: &Arc<Notify>, holds: impl IntoIterator<Item = QueueHold>) {
    for hold in holds {
        let waker = Arc::clone(waker);
        shared.submit(
            QueueOp::Release(hold),
            Box::new(move |_| waker.notify_waiters()),
        );
    }
}

impl EmbeddedSubscription {
    /// A subscription named `name` (already registered) for `spec`.
    pub(super) fn new(shared: Arc<Shared>, name: String, spec: &SubscriptionSpec) -> Self {
        let max_in_flight = spec.max_in_flight.clamp(1, Semaphore::MAX_PERMITS);
        let waker = shared.waker(&name);
        Self {
            shared,
            name,
            max_attempts: spec.max_attempts,
            ack_wait: spec.ack_wait,
            max_claim: max_in_flight.min(MAX_CLAIM),
            permits: Arc::new(Semaphore::new(max_in_flight)),
            waker,
            buffer: VecDeque::new(),
            claim: None,
        }
    }

    /// The next buffered delivery, refreshing its hold first when it has waited in the buffer
    /// for half its `ack_wait`.
    async fn next_buffered(&mut self) -> Result<Option<Delivery>, BusError> {
        loop {
            let Some(front) = self.buffer.front() else {
                return Ok(None);
            };
            if front.held_since.elapsed() >= self.ack_wait / 2 {
                let hold = front.delivery.hold;
                let refreshed = Instant::now();
                let outcome = self
                    .shared
                    .call(QueueOp::Extend {
                        hold,
                        ack_wait_ms: millis(self.ack_wait),
                    })
                    .await?;
                if outcome != QueueOutcome::Settled(true) {
                    // Its hold expired and another claim took it.
                    self.buffer.pop_front();
                    continue;
                }
                if let Some(front) = self.buffer.front_mut() {
                    front.held_since = refreshed;
                }
            }
            return Ok(self.buffer.pop_front().map(|item| self.delivery(item)));
        }
    }

    fn delivery(&self, item: Buffered) -> Delivery {
        let Buffered {
            delivery, permit, ..
        } = item;
        Delivery {
            message_id: delivery.message_id,
            topic: delivery.topic,
            payload: Bytes::from(delivery.payload),
            headers: delivery.headers,
            attempt: delivery.hold.attempt,
            published_at_ms: delivery.published_at_ms,
            acker: Box::new(EmbeddedAcker::new(
                Arc::clone(&self.shared),
                delivery.hold,
                self.ack_wait,
                Arc::clone(&self.waker),
                permit,
            )),
        }
    }

    /// At least one permit (waiting for it), plus every other free one up to `max_claim`.
    async fn acquire_permits(&self) -> Result<Vec<OwnedSemaphorePermit>, BusError> {
        let first = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| BusError::Internal("the subscription is closed".into()))?;
        let mut permits = vec![first];
        while permits.len() < self.max_claim {
            match Arc::clone(&self.permits).try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        Ok(permits)
    }

    /// Sends a claim for as many deliveries as `permits`.
    fn start_claim(&mut self, permits: Vec<OwnedSemaphorePermit>) {
        let (tx, answer) = oneshot::channel();
        let shared = Arc::clone(&self.shared);
        let waker = Arc::clone(&self.waker);
        let op = QueueOp::Claim {
            subscription: self.name.clone(),
            max_attempts: self.max_attempts,
            ack_wait_ms: millis(self.ack_wait),
            limit: permits.len(),
        };
        self.shared.submit(
            op,
            Box::new(move |result| {
                if let Err(Ok(QueueOutcome::Claimed { deliveries, .. })) = tx.send(result) {
                    // The subscription went away while claiming: give them back.
                    release(&shared, &waker, deliveries.iter().map(|d| d.hold));
                }
            }),
        );
        self.claim = Some(PendingClaim {
            answer,
            permits,
            sent: Instant::now(),
        });
    }

    /// Waits for the pending claim and buffers what it got; returns how long until the
    /// subscription's earliest remaining delivery is due, when nothing was claimed.
    async fn finish_claim(&mut self) -> Result<Option<u64>, BusError> {
        let Some(claim) = self.claim.as_mut() else {
            return Ok(None);
        };
        let answer = (&mut claim.answer).await;
        let Some(PendingClaim {
            mut permits, sent, ..
        }) = self.claim.take()
        else {
            return Ok(None);
        };
        let outcome = answer
            .map_err(|_| BusError::Internal("the claim failed unexpectedly (see the log)".into()))?
            .map_err(bus_error)?;
        let QueueOutcome::Claimed {
            deliveries,
            next_due_in_ms,
        } = outcome
        else {
            return Err(BusError::Internal(format!(
                "unexpected answer of the queue to a claim: {outcome:?}"
            )));
        };
        for delivery in deliveries {
            match permits.pop() {
                Some(permit) => self.buffer.push_back(Buffered {
                    delivery,
                    permit,
                    held_since: sent,
                }),
                None => release(&self.shared, &self.waker, [delivery.hold]),
            }
        }
        Ok(next_due_in_ms)
    }
}

#[tonic::async_trait]
impl Subscription for EmbeddedSubscription {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            if let Some(delivery) = self.next_buffered().await? {
                return Ok(delivery);
            }
            // Listen before claiming, so that a publish committed after the claim read the
            // table is not missed.
            let waker = Arc::clone(&self.waker);
            let notified = waker.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.claim.is_none() {
                let permits = self.acquire_permits().await?;
                self.start_claim(permits);
            }
            let next_due_in_ms = self.finish_claim().await?;
            if !self.buffer.is_empty() {
                continue;
            }
            let wait = next_due_in_ms
                .map(|ms| Duration::from_millis(ms.max(1)).min(POLL_INTERVAL))
                .unwrap_or(POLL_INTERVAL);
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

impl Drop for EmbeddedSubscription {
    fn drop(&mut self) {
        let holds: Vec<QueueHold> = self.buffer.drain(..).map(|b| b.delivery.hold).collect();
        release(&self.shared, &self.waker, holds);
    }
}
