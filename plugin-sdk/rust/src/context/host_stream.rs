//! Host calls on one stream (feature `host.stream`): when the supervisor offers it, every
//! `ctx` call travels as a `HostCall` on a single `HostStream.Calls` stream, opened with the
//! first call, instead of as its own HTTP/2 stream. Calls queued together leave in one frame.
//!
//! The stream grants credits (calls in flight) in its first frame; a call waits for a credit
//! within its own timeout. When the stream cannot be opened (an older supervisor) or breaks,
//! the calls in flight on it fail UNAVAILABLE and later calls go back to unary gRPC.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use convotic_proto::batch::ReadyBatches;
use convotic_proto::host::v1 as pb;
use futures::StreamExt;
use pb::host_stream_client::HostStreamClient;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::host::{HostChannel, MAX_MESSAGE_BYTES};

/// Most calls in one `HostCallBatch`.
const BATCH_ITEMS: usize = 256;
/// Most bytes of calls in one `HostCallBatch` (a larger call still travels, alone).
const BATCH_BYTES: usize = 1024 * 1024;
/// How long opening the stream may take before calls go unary.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// The most credits honoured, whatever the supervisor grants.
const MAX_CREDITS: u32 = 4096;

type Pending = Mutex<HashMap<u64, oneshot::Sender<pb::HostReply>>>;

/// An open `HostStream.Calls` stream.
pub(crate) struct HostStreamConn {
    calls: mpsc::Sender<pb::HostCall>,
    pending: Arc<Pending>,
    credits: Arc<Semaphore>,
    next_id: std::sync::atomic::AtomicU64,
}

impl HostStreamConn {
    /// Opens the stream on `channel` and waits for its credits; `None` when the supervisor
    /// does not serve it or does not answer in time.
    pub(crate) async fn open(channel: HostChannel) -> Option<Arc<Self>> {
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
        let opened = tokio::time::timeout(OPEN_TIMEOUT, async {
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
        tokio::time::timeout(timeout, self.call_untimed(method, request, timeout))
            .await
            .map_err(|_| None)?
            .map_err(Some)
    }

    async fn call_untimed(
        &self,
        method: &str,
        request: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, tonic::Status> {
        let broken = || tonic::Status::unavailable("the Host call stream closed");
        let _credit = self.credits.acquire().await.map_err(|_| broken())?;
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        // Removes the entry if this call is dropped (timed out) before its reply.
        let _forget = Forget {
            pending: &self.pending,
            id,
        };
        let call = pb::HostCall {
            id,
            method: method.to_string(),
            request,
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
        };
        self.calls.send(call).await.map_err(|_| broken())?;
        let reply = rx.await.map_err(|_| broken())?;
        if reply.code == 0 {
            return Ok(reply.response);
        }
        let code = i32::try_from(reply.code).unwrap_or(2);
        Err(tonic::Status::new(tonic::Code::from(code), reply.message))
    }
}

struct Forget<'a> {
    pending: &'a Pending,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        lock(self.pending).remove(&self.id);
    }
}

/// Hands each reply to its caller; when the stream ends, fails the calls still waiting (their
/// senders are dropped) and closes the credits so no new call waits on the stream.
async fn read_replies(
    mut replies: tonic::Streaming<pb::HostReplyBatch>,
    pending: Arc<Pending>,
    credits: Arc<Semaphore>,
) {
    while let Ok(Some(batch)) = replies.message().await {
        let mut waiting = lock(&pending);
        for reply in batch.replies {
            // A reply for an id not waiting (answered late, after a timeout) is dropped.
            if let Some(caller) = waiting.remove(&reply.id) {
                let _ = caller.send(reply);
            }
        }
    }
    credits.close();
    lock(&pending).clear();
}

fn lock(
    pending: &Pending,
) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<pb::HostReply>>> {
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
