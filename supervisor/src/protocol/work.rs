//! The supervisor's end of the multiplexed work stream (docs/PROTOCOL.md, "Work stream").
//!
//! A [`WorkClient`] owns one or more `Work` streams ("lanes") to one module instance. Callers
//! [`invoke`](WorkClient::invoke) concurrently; each invocation gets a unique id, takes one
//! credit (the module's `max_in_flight`), travels on a lane (lane 1 for large payloads when the
//! module has two) and resolves when the module's `Outcome` with the same id arrives. A caller
//! whose deadline passes, or that goes away, makes the client send `Cancel{id}`; the credit
//! comes back when the module answers that id, or after [`CANCEL_GRACE`] if it never does.
//! A lane that breaks fails every invocation outstanding on it at once, so no caller hangs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use convotic_proto::batch::ReadyBatches;
use convotic_proto::plugin::v1::{
    invocation, module_frame, outcome, supervisor_frame, Cancel, Invocation, LaneOpen, ModuleFrame,
    SupervisorFrame, WorkBatch,
};
use futures::StreamExt as _;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tonic::transport::Channel;

use super::MAX_MESSAGE_BYTES;

/// How long a cancelled invocation keeps its credit while waiting for the module's answer.
pub const CANCEL_GRACE: Duration = Duration::from_secs(5);
/// Payloads above this size travel on the bulk lane (lane 1) when there is one.
pub const LARGE_PAYLOAD_BYTES: usize = 64 * 1024;
const LANE_QUEUE: usize = 1024;
/// The `Work` method's path.
const WORK_PATH: &str = "/convotic.plugin.v1.Plugin/Work";
/// Most invocations and cancels in one `WorkBatch` frame.
const BATCH_ITEMS: usize = 256;
/// Most bytes of invocations and cancels in one `WorkBatch` frame (a larger invocation still
/// travels, alone).
const BATCH_BYTES: usize = 1024 * 1024;

/// Why an invocation produced no outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkError {
    /// Every credit is taken: the module is at its `max_in_flight`.
    #[error("module is at its limit of {0} invocations in flight")]
    Overloaded(u32),
    /// The instance is draining or stopped and takes no new work.
    #[error("module instance is not taking work (draining or stopped)")]
    NotAccepting,
    /// The deadline passed before the outcome arrived (the module was sent a Cancel).
    #[error("deadline of {0:?} exceeded")]
    DeadlineExceeded(Duration),
    /// The lane closed (the module crashed or broke the stream) before answering.
    #[error("module connection lost before it answered: {0}")]
    LaneClosed(String),
    /// The module answered with an outcome that carries no result.
    #[error("module answered with an empty outcome")]
    EmptyOutcome,
}

/// An invocation a client no longer accepts, handed back unsent (see
/// [`WorkClient::try_invoke`]).
#[derive(Debug)]
pub struct Refused(pub invocation::Kind);

/// Per-call options.
#[derive(Debug, Clone, Default)]
pub struct InvokeOptions {
    /// Deadline; `None` = no deadline (the module's own timeout applies).
    pub timeout: Option<Duration>,
    /// Request id, for the module's logs.
    pub request_id: String,
    /// W3C traceparent.
    pub traceparent: String,
    /// Approximate payload size, to pick a lane.
    pub payload_bytes: usize,
    /// Wait (until the deadline) for a credit instead of failing with `Overloaded` at once.
    pub wait_for_credit: bool,
    /// The call may be sent again if its instance dies before answering (GET/HEAD routes):
    /// the module then tries another ready replica once.
    pub idempotent: bool,
}

type Reply = oneshot::Sender<Result<outcome::Result, WorkError>>;

struct Pending {
    /// `None` once cancelled: the entry only holds the credit until the module answers.
    reply: Option<Reply>,
    lane: usize,
    _credit: OwnedSemaphorePermit,
}

struct Inner {
    /// Lane senders; emptied by [`WorkClient::close_lanes`] (half-close).
    lanes: std::sync::RwLock<Vec<mpsc::Sender<SupervisorFrame>>>,
    lane_count: usize,
    credits: Arc<Semaphore>,
    max_in_flight: u32,
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, Pending>>,
    cancel_supported: bool,
    accepting: AtomicBool,
    broken: watch::Sender<Option<String>>,
    answered_after_cancel: AtomicU64,
    reclaimed: AtomicU64,
}

/// Counters of a work client's cancellations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CancelStats {
    /// Cancelled invocations the module answered (as the protocol requires).
    pub answered_after_cancel: u64,
    /// Cancelled invocations the module never answered; their credit was reclaimed.
    pub reclaimed: u64,
}

/// Client end of an instance's work lanes. Cheap to clone.
#[derive(Clone)]
pub struct WorkClient {
    inner: Arc<Inner>,
}

impl WorkClient {
    /// Opens `lanes` work streams on `channel` and waits for each `LaneReady` until `deadline`.
    /// With `batch` (the module speaks `work.batch`), the invocations and cancels queued on a
    /// lane when it is written leave in one frame.
    pub async fn open(
        channel: Channel,
        lanes: usize,
        max_in_flight: u32,
        cancel_supported: bool,
        batch: bool,
        deadline: Instant,
    ) -> Result<Self, WorkError> {
        let lanes = lanes.max(1);
        let mut senders = Vec::with_capacity(lanes);
        let mut inbounds = Vec::with_capacity(lanes);
        for lane in 0..lanes {
            let (tx, rx) = mpsc::channel(LANE_QUEUE);
            let open = SupervisorFrame {
                frame: Some(supervisor_frame::Frame::Open(LaneOpen {
                    lane: lane as u32,
                })),
            };
            tx.send(open)
                .await
                .map_err(|_| WorkError::LaneClosed("lane queue closed".into()))?;
            let response = tokio::time::timeout_at(deadline, open_lane(&channel, rx, batch))
                .await
                .map_err(|_| {
                    WorkError::LaneClosed(format!("lane {lane} was not accepted in time"))
                })?
                .map_err(|s| WorkError::LaneClosed(format!("lane {lane}: {}", s.message())))?;
            let mut inbound = response.into_inner();
            let first = tokio::time::timeout_at(deadline, inbound.message())
                .await
                .map_err(|_| WorkError::LaneClosed(format!("lane {lane}: no LaneReady in time")))?;
            match first {
                Ok(Some(ModuleFrame {
                    frame: Some(module_frame::Frame::Ready(_)),
                })) => {}
                Ok(other) => {
                    return Err(WorkError::LaneClosed(format!(
                        "lane {lane}: expected LaneReady, got {other:?}"
                    )))
                }
                Err(s) => {
                    return Err(WorkError::LaneClosed(format!(
                        "lane {lane}: {}",
                        s.message()
                    )))
                }
            }
            senders.push(tx);
            inbounds.push(inbound);
        }
        let max_in_flight = if max_in_flight == 0 {
            convotic_proto::DEFAULT_MAX_IN_FLIGHT
        } else {
            max_in_flight
        };
        let (broken, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            lane_count: senders.len(),
            lanes: std::sync::RwLock::new(senders),
            credits: Arc::new(Semaphore::new(max_in_flight as usize)),
            max_in_flight,
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            cancel_supported,
            accepting: AtomicBool::new(true),
            broken,
            answered_after_cancel: AtomicU64::new(0),
            reclaimed: AtomicU64::new(0),
        });
        for (lane, inbound) in inbounds.into_iter().enumerate() {
            tokio::spawn(read_lane(Arc::downgrade(&inner), lane, inbound));
        }
        Ok(Self { inner })
    }

    /// Sends one invocation and waits for its outcome.
    pub async fn invoke(
        &self,
        kind: invocation::Kind,
        options: InvokeOptions,
    ) -> Result<outcome::Result, WorkError> {
        match self.try_invoke(kind, options).await {
            Ok(result) => result,
            Err(Refused(_)) => Err(WorkError::NotAccepting),
        }
    }

    /// Like [`Self::invoke`], but an invocation this client no longer accepts (its instance is
    /// being replaced or stopped) is handed back unsent, for the caller to send to the
    /// instance that replaced it. Once this returns anything else, the invocation was sent and
    /// the instance's stop waits for its outcome.
    pub async fn try_invoke(
        &self,
        kind: invocation::Kind,
        options: InvokeOptions,
    ) -> Result<Result<outcome::Result, WorkError>, Refused> {
        let inner = &self.inner;
        if !inner.accepting.load(Ordering::SeqCst) {
            return Err(Refused(kind));
        }
        let started = Instant::now();
        let deadline = options.timeout.map(|t| started + t);
        let credit = match self.take_credit(&options, deadline).await {
            Ok(credit) => credit,
            Err(WorkError::NotAccepting) => return Err(Refused(kind)),
            Err(e) => return Ok(Err(e)),
        };
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let lane = if options.payload_bytes > LARGE_PAYLOAD_BYTES && inner.lane_count > 1 {
            1
        } else {
            0
        };
        let Some(sender) = inner.lane(lane) else {
            return Err(Refused(kind));
        };
        let (reply, outcome) = oneshot::channel();
        lock(&inner.pending).insert(
            id,
            Pending {
                reply: Some(reply),
                lane,
                _credit: credit,
            },
        );
        // Registered first, checked second (the stopping side does the reverse: stops
        // accepting, then waits for `pending` to empty): an invocation is either refused here
        // unsent or waited for by the stop.
        if !inner.accepting.load(Ordering::SeqCst) {
            lock(&inner.pending).remove(&id);
            return Err(Refused(kind));
        }
        let timeout_ms = deadline
            .map(|d| {
                d.saturating_duration_since(Instant::now())
                    .as_millis()
                    .max(1) as u64
            })
            .unwrap_or(0);
        let frame = SupervisorFrame {
            frame: Some(supervisor_frame::Frame::Invocation(Invocation {
                id,
                timeout_ms,
                request_id: options.request_id,
                traceparent: options.traceparent,
                kind: Some(kind),
            })),
        };
        // If the caller goes away from here on, the module is told to stop.
        let mut guard = CancelGuard {
            inner: Arc::clone(inner),
            id,
            armed: true,
        };
        if sender.send(frame).await.is_err() {
            guard.armed = false;
            lock(&inner.pending).remove(&id);
            return Ok(Err(WorkError::LaneClosed("the lane is closed".into())));
        }
        // A lane that broke while this invocation was being registered has already failed
        // every pending entry it saw; make sure this one does not wait for its deadline.
        if let Some(reason) = inner.broken.borrow().clone() {
            guard.armed = false;
            lock(&inner.pending).remove(&id);
            return Ok(Err(WorkError::LaneClosed(reason)));
        }
        let result = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, outcome).await {
                Ok(received) => received,
                Err(_) => {
                    guard.armed = false;
                    inner.cancel(id, "deadline exceeded");
                    return Ok(Err(WorkError::DeadlineExceeded(started.elapsed())));
                }
            },
            None => outcome.await,
        };
        guard.armed = false;
        Ok(result.unwrap_or_else(|_| Err(WorkError::LaneClosed("the lane closed".into()))))
    }

    async fn take_credit(
        &self,
        options: &InvokeOptions,
        deadline: Option<Instant>,
    ) -> Result<OwnedSemaphorePermit, WorkError> {
        let credits = Arc::clone(&self.inner.credits);
        if !options.wait_for_credit {
            return credits
                .try_acquire_owned()
                .map_err(|_| WorkError::Overloaded(self.inner.max_in_flight));
        }
        let acquire = credits.acquire_owned();
        let permit = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, acquire)
                .await
                .map_err(|_| WorkError::Overloaded(self.inner.max_in_flight))?,
            None => acquire.await,
        };
        permit.map_err(|_| WorkError::NotAccepting)
    }

    /// Stops taking new invocations (outstanding ones still complete): from now on
    /// [`Self::try_invoke`] hands invocations back unsent.
    pub fn stop_accepting(&self) {
        self.inner.accepting.store(false, Ordering::SeqCst);
    }

    /// Whether both are clients of the same work stream.
    pub fn same_as(&self, other: &WorkClient) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Whether invocations are still taken.
    pub fn is_accepting(&self) -> bool {
        self.inner.accepting.load(Ordering::SeqCst)
    }

    /// Half-closes every lane: the module sees the end of its request streams, sends the
    /// outcomes it still owes and ends the streams. No invocation can be sent afterwards.
    pub fn close_lanes(&self) {
        self.stop_accepting();
        self.inner
            .lanes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Invocations sent and not yet answered (including cancelled ones awaiting their answer).
    pub fn in_flight(&self) -> usize {
        lock(&self.inner.pending).len()
    }

    /// The module's credit limit.
    pub fn max_in_flight(&self) -> u32 {
        self.inner.max_in_flight
    }

    /// Number of lanes opened.
    pub fn lanes(&self) -> usize {
        self.inner.lane_count
    }

    /// How cancelled invocations were settled so far.
    pub fn cancel_stats(&self) -> CancelStats {
        CancelStats {
            answered_after_cancel: self.inner.answered_after_cancel.load(Ordering::Relaxed),
            reclaimed: self.inner.reclaimed.load(Ordering::Relaxed),
        }
    }

    /// Resolves with a reason when any lane breaks.
    pub fn broken(&self) -> watch::Receiver<Option<String>> {
        self.inner.broken.subscribe()
    }
}

impl Inner {
    fn lane(&self, lane: usize) -> Option<mpsc::Sender<SupervisorFrame>> {
        self.lanes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(lane)
            .cloned()
    }

    /// Fails the caller side now (if still waiting) and tells the module to stop `id`.
    fn cancel(self: &Arc<Self>, id: u64, reason: &str) {
        let lane = {
            let mut pending = lock(&self.pending);
            let Some(entry) = pending.get_mut(&id) else {
                return;
            };
            entry.reply = None;
            entry.lane
        };
        if self.cancel_supported {
            let frame = SupervisorFrame {
                frame: Some(supervisor_frame::Frame::Cancel(Cancel {
                    id,
                    reason: reason.to_string(),
                })),
            };
            if let Some(sender) = self.lane(lane) {
                let _ = sender.try_send(frame);
            }
        }
        let weak = Arc::downgrade(self);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            tokio::time::sleep(CANCEL_GRACE).await;
            if let Some(inner) = weak.upgrade() {
                if lock(&inner.pending).remove(&id).is_some() {
                    inner.reclaimed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        invocation = id,
                        "module did not answer a cancelled invocation within {CANCEL_GRACE:?}; its credit was reclaimed"
                    );
                }
            }
        });
    }

    fn complete(&self, id: u64, result: Result<outcome::Result, WorkError>) {
        let entry = lock(&self.pending).remove(&id);
        match entry {
            Some(Pending {
                reply: Some(reply), ..
            }) => {
                let _ = reply.send(result);
            }
            Some(_) => {
                // Cancelled earlier: the answer only returns the credit.
                self.answered_after_cancel.fetch_add(1, Ordering::Relaxed);
            }
            None => tracing::debug!(
                invocation = id,
                "outcome for an unknown invocation id ignored"
            ),
        }
    }

    fn fail_lane(&self, lane: usize, reason: &str) {
        // A broken instance takes no new work (the runner restarts it). Publish the break
        // before failing the pending entries, so `invoke` sees it for entries added meanwhile.
        self.accepting.store(false, Ordering::SeqCst);
        self.broken
            .send_replace(Some(format!("lane {lane}: {reason}")));
        let failed: Vec<Pending> = {
            let mut pending = lock(&self.pending);
            let ids: Vec<u64> = pending
                .iter()
                .filter(|(_, p)| p.lane == lane)
                .map(|(id, _)| *id)
                .collect();
            ids.iter().filter_map(|id| pending.remove(id)).collect()
        };
        for entry in failed {
            if let Some(reply) = entry.reply {
                let _ = reply.send(Err(WorkError::LaneClosed(reason.to_string())));
            }
        }
    }
}

/// Reads one lane's module frames until the stream ends.
async fn read_lane(inner: Weak<Inner>, lane: usize, mut inbound: tonic::Streaming<ModuleFrame>) {
    let reason = loop {
        let message = inbound.message().await;
        let Some(inner) = inner.upgrade() else { return };
        match message {
            Ok(Some(ModuleFrame {
                frame: Some(module_frame::Frame::Outcome(outcome)),
            })) => {
                let result = outcome.result.ok_or(WorkError::EmptyOutcome);
                inner.complete(outcome.id, result);
            }
            Ok(Some(ModuleFrame {
                frame: Some(module_frame::Frame::Outcomes(batch)),
            })) => {
                for outcome in batch.outcomes {
                    let result = outcome.result.ok_or(WorkError::EmptyOutcome);
                    inner.complete(outcome.id, result);
                }
            }
            Ok(Some(_)) => {} // LaneReady repeated or a frame kind from a newer protocol
            Ok(None) => break "the module closed the stream".to_string(),
            Err(status) => break format!("{}: {}", status.code(), status.message()),
        }
    };
    if let Some(inner) = inner.upgrade() {
        inner.fail_lane(lane, &reason);
    }
}

/// Opens one `Work` stream with the checked codec ([`super::frame_codec`]), as the generated
/// client would with prost's.
async fn open_lane(
    channel: &Channel,
    rx: mpsc::Receiver<SupervisorFrame>,
    batch: bool,
) -> Result<tonic::Response<tonic::Streaming<ModuleFrame>>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    grpc.ready().await.map_err(|e| {
        tonic::Status::unavailable(format!("the module's channel is not ready: {e}"))
    })?;
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(WORK_PATH);
    grpc.streaming(
        tonic::Request::new(outgoing(rx, batch)),
        path,
        super::frame_codec::WorkCodec,
    )
    .await
}

/// The frames a lane sends: one per queued frame, or (`batch`) everything queued when the lane
/// is written in one `WorkBatch` frame. Nothing waits to fill a batch.
fn outgoing(
    rx: mpsc::Receiver<SupervisorFrame>,
    batch: bool,
) -> impl futures::Stream<Item = SupervisorFrame> + Send + 'static {
    let max_items = if batch { BATCH_ITEMS } else { 1 };
    ReadyBatches::new(
        rx,
        max_items,
        BATCH_BYTES,
        prost::Message::encoded_len,
        |frame| {
            matches!(
                frame.frame,
                Some(supervisor_frame::Frame::Invocation(_) | supervisor_frame::Frame::Cancel(_))
            )
        },
    )
    .map(into_frame)
}

/// One frame for what was queued together: the frame itself when alone, a `WorkBatch`
/// otherwise (only invocations and cancels are ever batched together).
fn into_frame(mut frames: Vec<SupervisorFrame>) -> SupervisorFrame {
    if frames.len() == 1 {
        return frames.pop().unwrap_or_default();
    }
    let mut batch = WorkBatch::default();
    for frame in frames {
        match frame.frame {
            Some(supervisor_frame::Frame::Invocation(invocation)) => {
                batch.invocations.push(invocation)
            }
            Some(supervisor_frame::Frame::Cancel(cancel)) => batch.cancels.push(cancel),
            _ => {}
        }
    }
    SupervisorFrame {
        frame: Some(supervisor_frame::Frame::Batch(batch)),
    }
}

/// Cancels the invocation if the caller's future is dropped before the outcome arrives.
struct CancelGuard {
    inner: Arc<Inner>,
    id: u64,
    armed: bool,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if self.armed {
            self.inner.cancel(self.id, "caller went away");
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
