//! Host calls on one stream (feature `host.stream`): when the supervisor offers it, every
//! `ctx` call travels as a `HostCall` on a single `HostStream.Calls` stream, opened with the
//! first call, instead of as its own HTTP/2 stream. Calls queued together leave in one frame.
//!
//! The stream grants credits (calls in flight) in its first frame; a call waits for a credit
//! within its own timeout and gives it back only when its reply arrives (the supervisor counts
//! it until then, even after the caller gave up). A request larger than [`MAX_STREAMED_CALL`]
//! goes unary. When the stream cannot be opened (an older supervisor, `host.stream` disabled)
//! or breaks, the calls in flight on it fail UNAVAILABLE and calls go unary until a new stream
//! opens (the host retries later).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use convotic_proto::batch::ReadyBatches;
use convotic_proto::host::v1 as pb;
use futures::StreamExt;
use pb::host_stream_client::HostStreamClient;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::host::{HostChannel, MAX_MESSAGE_BYTES};

/// Most calls in one `HostCallBatch`.
const BATCH_ITEMS: usize = 256;
/// Most bytes of calls in one `HostCallBatch`, well under the 1 MiB the supervisor accepts.
const BATCH_BYTES: usize = 512 * 1024;
/// Largest request sent on the stream; a larger one is a unary call.
pub(crate) const MAX_STREAMED_CALL: usize = 256 * 1024;
/// Longest opening the stream may take before calls go unary.
pub(crate) const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// The most credits honoured, whatever the supervisor grants.
const MAX_CREDITS: u32 = 4096;

/// Where a reply goes, and the credit it frees.
type Waiting = (oneshot::Sender<pb::HostReply>, OwnedSemaphorePermit);
/// The calls waiting for their reply, by id.
type Pending = Mutex<HashMap<u64, Waiting>>;

/// An open `HostStream.Calls` stream.
pub(crate) struct HostStreamConn {
    calls: mpsc::Sender<pb::HostCall>,
    pending: Arc<Pending>,
    credits: Arc<Semaphore>,
    next_id: std::sync::atomic::AtomicU64,
}

impl HostStreamConn {
    /// Opens the stream on `channel` and waits for its credits; `None` when the supervisor
    /// does not serve it or does not answer within `timeout`.
    pub(crate) async fn open(channel: HostChannel, timeout: Duration) -> Option<Arc<Self>> {
        let (calls, rx) = mpsc::channel::<pb::HostCall>(BATCH_ITEMS);
        let outgoing = ReadyBatches::new(
            rx,
            BATCH_ITEMS,
            BATCH_BYTES,
            prost::Message::encoded_len,
            |_| true,
        )
        .map(|calls| pb::HostCallBatch { calls });
        let mut client = HostStreamClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let opened = tokio::time::timeout(timeout, async {
            let mut replies = client.calls(outgoing).await.ok()?.into_inner();
            let grant = replies.message().await.ok()??;
            Some((replies, grant.credits))
        })
        .await
        .ok()
        .flatten();
        let (replies, credits) = opened?;
        if credits == 0 {
            return None;
        }
        let pending: Arc<Pending> = Arc::default();
        let credits = Arc::new(Semaphore::new(credits.min(MAX_CREDITS) as usize));
        tokio::spawn(read_replies(
            replies,
            Arc::clone(&pending),
            Arc::clone(&credits),
        ));
        Some(Arc::new(HostStreamConn {
            calls,
            pending,
            credits,
            next_id: std::sync::atomic::AtomicU64::new(1),
        }))
    }

    /// Whether the stream still works (calls made now can be answered).
    pub(crate) fn is_open(&self) -> bool {
        !self.calls.is_closed() && !self.credits.is_closed()
    }

    /// One call: `request` for the unary `method` (full gRPC path), answered within
    /// `timeout`. `Err(None)` is a timeout; `Err(Some(status))` the status the unary call
    /// would have answered.
    pub(crate) async fn call(
        &self,
        method: &str,
        request: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, Option<tonic::Status>> {
        let deadline = Instant::now() + timeout;
        tokio::time::timeout_at(deadline, self.call_until(method, request, deadline))
            .await
            .map_err(|_| None)?
            .map_err(Some)
    }

    async fn call_until(
        &self,
        method: &str,
        request: Vec<u8>,
        deadline: Instant,
    ) -> Result<Vec<u8>, tonic::Status> {
        let broken = || tonic::Status::unavailable("the Host call stream closed");
        let credit = Arc::clone(&self.credits)
            .acquire_owned()
            .await
            .map_err(|_| broken())?;
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        // The entry (and its credit) stays until the reply arrives, even if this call is
        // dropped first: the supervisor counts the call until it answers.
        lock(&self.pending).insert(id, (tx, credit));
        let left = deadline.saturating_duration_since(Instant::now());
        let call = pb::HostCall {
            id,
            method: method.to_string(),
            request,
            timeout_ms: u32::try_from(left.as_millis()).unwrap_or(u32::MAX).max(1),
        };
        if self.calls.send(call).await.is_err() {
            lock(&self.pending).remove(&id);
            return Err(broken());
        }
        let reply = rx.await.map_err(|_| broken())?;
        if reply.code == 0 {
            return Ok(reply.response);
        }
        let code = i32::try_from(reply.code).unwrap_or(2);
        Err(tonic::Status::new(tonic::Code::from(code), reply.message))
    }
}

/// Hands each reply to its caller and frees its credit; when the stream ends, fails the calls
/// still waiting (their senders are dropped) and closes the credits so no new call waits on
/// the stream.
async fn read_replies(
    mut replies: tonic::Streaming<pb::HostReplyBatch>,
    pending: Arc<Pending>,
    credits: Arc<Semaphore>,
) {
    while let Ok(Some(batch)) = replies.message().await {
        let mut waiting = lock(&pending);
        for reply in batch.replies {
            // A caller that gave up no longer listens; the credit is freed all the same.
            if let Some((caller, _credit)) = waiting.remove(&reply.id) {
                let _ = caller.send(reply);
            }
        }
    }
    credits.close();
    lock(&pending).clear();
}

fn lock(pending: &Pending) -> std::sync::MutexGuard<'_, HashMap<u64, Waiting>> {
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The unary method's path of an SDK call name: `storage.compare_and_set` →
/// `/convotic.host.v1.Storage/CompareAndSet`.
pub(crate) fn method_path(call: &str) -> String {
    let (service, method) = call.split_once('.').unwrap_or((call, ""));
    format!(
        "/convotic.host.v1.{}/{}",
        camel(service),
        method.split('_').map(camel).collect::<String>()
    )
}

fn camel(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_names_map_to_unary_paths() {
        assert_eq!(method_path("storage.get"), "/convotic.host.v1.Storage/Get");
        assert_eq!(
            method_path("storage.compare_and_set"),
            "/convotic.host.v1.Storage/CompareAndSet"
        );
        assert_eq!(
            method_path("contacts.find_by_external_id"),
            "/convotic.host.v1.Contacts/FindByExternalId"
        );
        assert_eq!(
            method_path("workflows.trigger"),
            "/convotic.host.v1.Workflows/Trigger"
        );
    }
}
