//! `convotic.host.v1.HostStream` (feature `host.stream`): every unary Host call carried on one
//! bidirectional stream, so a call costs one frame each way instead of an HTTP/2 stream.
//!
//! Each `HostCall` is decoded and handed to the very service object that serves the unary
//! call (same scope, same validation, same error mapping); its answer goes back as a
//! `HostReply` with the gRPC code the unary call would have had. The stream's first frame
//! grants [`CREDITS`] calls in flight; a call beyond them, a duplicate or zero id, and a call
//! whose request does not decode are answered at once with an error, never trusted. The token
//! is checked once, when the stream opens (the interceptor of the server).

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use convotic_proto::batch::ReadyBatches;
use convotic_proto::host::v1 as pb;
use futures::{Stream, StreamExt};
use pb::contacts_server::Contacts;
use pb::conversations_server::Conversations;
use pb::host_stream_server::HostStream;
use pb::logger_server::Logger;
use pb::messages_server::Messages;
use pb::storage_server::Storage;
use pb::workflows_server::Workflows;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tonic::{Request, Response, Status, Streaming};

use super::call_metrics::{code_label, service_and_method};
use super::contacts::HostContacts;
use super::conversations::HostConversations;
use super::logger::HostLogger;
use super::messages::HostMessages;
use super::storage::HostStorage;
use super::workflows::HostWorkflows;
use super::HostIdentity;

/// Calls a module may have in flight on its stream (running, or answered but not yet taken by
/// the stream); also the most calls one `HostCallBatch` may hold.
pub const CREDITS: u32 = 256;
/// Largest `HostCallBatch` accepted, in bytes; a call that does not fit goes unary.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// Longest a call may run, and the limit of a call that gives none.
pub const MAX_CALL_TIME: Duration = Duration::from_secs(30);
/// Most replies in one `HostReplyBatch`.
const BATCH_ITEMS: usize = 256;
/// Most bytes of replies in one `HostReplyBatch` (a larger reply still travels, alone).
const BATCH_BYTES: usize = 1024 * 1024;

/// The service objects of one instance, shared by the unary servers and the stream.
pub struct Services {
    /// `Contacts`.
    pub contacts: Arc<HostContacts>,
    /// `Conversations`.
    pub conversations: Arc<HostConversations>,
    /// `Messages`.
    pub messages: Arc<HostMessages>,
    /// `Workflows`.
    pub workflows: Arc<HostWorkflows>,
    /// `Storage`.
    pub storage: Arc<HostStorage>,
    /// `Logger`.
    pub logger: Arc<HostLogger>,
}

/// The `HostStream` service of one instance.
pub struct HostStreamService {
    services: Arc<Services>,
    identity: Arc<HostIdentity>,
    /// Whether the stream may be used (`host.stream` not in `disabled_features`).
    allowed: Arc<AtomicBool>,
    /// Whether a stream is open: one per instance, so credits bound the instance's calls.
    open: Arc<AtomicBool>,
}

impl HostStreamService {
    /// Serves the calls of `identity`'s module with `services` while `allowed` holds.
    pub fn new(
        services: Arc<Services>,
        identity: Arc<HostIdentity>,
        allowed: Arc<AtomicBool>,
    ) -> Self {
        Self {
            services,
            identity,
            allowed,
            open: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// A reply and the credit of its call, released once the reply is taken by the stream.
type Queued = (pb::HostReply, Option<OwnedSemaphorePermit>);

type Replies = Pin<Box<dyn Stream<Item = Result<pb::HostReplyBatch, Status>> + Send>>;

/// Clears the "a stream is open" mark when the stream's task ends.
struct OpenMark(Arc<AtomicBool>);

impl Drop for OpenMark {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[tonic::async_trait]
impl HostStream for HostStreamService {
    type CallsStream = Replies;

    async fn calls(
        &self,
        request: Request<Streaming<pb::HostCallBatch>>,
    ) -> Result<Response<Replies>, Status> {
        if !self.allowed.load(Ordering::Acquire) {
            return Err(Status::failed_precondition(
                "host.stream is disabled for this module (disabled_features): make unary Host calls",
            ));
        }
        if self.open.swap(true, Ordering::AcqRel) {
            return Err(Status::resource_exhausted(
                "a Host call stream is already open for this instance: use it, or make unary calls",
            ));
        }
        let mark = OpenMark(Arc::clone(&self.open));
        let (tx, rx) = mpsc::channel::<Queued>(CREDITS as usize + BATCH_ITEMS);
        tokio::spawn(serve_calls(
            Arc::clone(&self.services),
            Arc::clone(&self.identity),
            request.into_inner(),
            tx,
            mark,
        ));
        let grant = pb::HostReplyBatch {
            replies: Vec::new(),
            credits: CREDITS,
        };
        let replies = ReadyBatches::new(
            rx,
            BATCH_ITEMS,
            BATCH_BYTES,
            |queued: &Queued| prost::Message::encoded_len(&queued.0),
            |_| true,
        )
        .map(|queued| {
            // Taking the replies releases their calls' credits.
            Ok(pb::HostReplyBatch {
                replies: queued.into_iter().map(|(reply, _credit)| reply).collect(),
                credits: 0,
            })
        });
        Ok(Response::new(Box::pin(
            futures::stream::once(async move { Ok(grant) }).chain(replies),
        )))
    }
}

/// Reads the calls of one stream and runs each as its own task, which sends its reply when
/// done. A call holds one of [`CREDITS`] from its admission until its reply is taken by the
/// response stream, so calls running plus replies waiting never exceed the credits, whether or
/// not the module reads its replies. Ends (aborting what still runs) when the replies can no
/// longer be sent, when the module breaks the protocol or the stream, or once the module has
/// closed its side and every call was answered.
async fn serve_calls(
    services: Arc<Services>,
    identity: Arc<HostIdentity>,
    mut inbound: Streaming<pb::HostCallBatch>,
    replies: mpsc::Sender<Queued>,
    _open: OpenMark,
) {
    let credits = Arc::new(Semaphore::new(CREDITS as usize));
    let in_flight: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let mut running = JoinSet::new();
    let mut reading = true;
    loop {
        if !reading && running.is_empty() {
            return;
        }
        tokio::select! {
            batch = inbound.message(), if reading => match batch {
                Ok(Some(batch)) if batch.calls.len() > CREDITS as usize => {
                    tracing::warn!(workspace = %identity.workspace, module = %identity.module, calls = batch.calls.len(), "Host call stream closed: a batch held more calls than the stream's credits");
                    return;
                }
                Ok(Some(batch)) => {
                    for call in batch.calls {
                        let admitted = admit(&lock(&in_flight), &call).and_then(|()| {
                            Arc::clone(&credits).try_acquire_owned().map_err(|_| {
                                Status::resource_exhausted(format!(
                                    "more than {CREDITS} calls in flight on this stream: wait for replies before sending more"
                                ))
                            })
                        });
                        match admitted {
                            Ok(credit) => {
                                lock(&in_flight).insert(call.id);
                                let (services, identity) = (Arc::clone(&services), Arc::clone(&identity));
                                let (replies, in_flight) = (replies.clone(), Arc::clone(&in_flight));
                                running.spawn(async move {
                                    let id = call.id;
                                    let reply = run(services, identity, call).await;
                                    lock(&in_flight).remove(&id);
                                    let _ = replies.send((reply, Some(credit))).await;
                                });
                            }
                            Err(status) => {
                                if replies.send((reply(call.id, Err(status)), None)).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
                // The module closed its side: answer what runs, then end.
                Ok(None) => reading = false,
                // A broken stream or a frame that does not decode (too large...): end it, so
                // the module sees the stream close and goes back to unary calls.
                Err(status) => {
                    tracing::debug!(workspace = %identity.workspace, module = %identity.module, "Host call stream ended: {status}");
                    return;
                }
            },
            Some(_) = running.join_next(), if !running.is_empty() => {}
            () = replies.closed() => return,
        }
    }
}

fn lock(set: &Mutex<HashSet<u64>>) -> std::sync::MutexGuard<'_, HashSet<u64>> {
    set.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why a call is answered at once instead of run.
fn admit(in_flight: &HashSet<u64>, call: &pb::HostCall) -> Result<(), Status> {
    if call.id == 0 {
        return Err(Status::invalid_argument("HostCall.id must not be 0"));
    }
    if in_flight.contains(&call.id) {
        return Err(Status::invalid_argument(format!(
            "HostCall.id {} is already in flight on this stream: ids must be unique among the calls in flight",
            call.id
        )));
    }
    Ok(())
}

/// Runs one call within its time limit, counts it, and makes its reply.
async fn run(
    services: Arc<Services>,
    identity: Arc<HostIdentity>,
    call: pb::HostCall,
) -> pb::HostReply {
    let started = Instant::now();
    let limit = match call.timeout_ms {
        0 => MAX_CALL_TIME,
        ms => Duration::from_millis(u64::from(ms)).min(MAX_CALL_TIME),
    };
    let result = match tokio::time::timeout(limit, dispatch(&services, &call)).await {
        Ok(result) => result,
        Err(_) => Err(Status::deadline_exceeded(format!(
            "{} did not answer within {} ms",
            call.method,
            limit.as_millis()
        ))),
    };
    let code = match &result {
        Ok(_) => "ok",
        Err(status) => code_label(status.code()),
    };
    let (service, method) = match code {
        "unimplemented" => ("unknown", "unknown"),
        _ => service_and_method(&call.method),
    };
    crate::metrics::global().host_called(
        [&identity.workspace, &identity.module, service, method],
        code,
        started.elapsed(),
    );
    reply(call.id, result)
}

fn reply(id: u64, result: Result<Vec<u8>, Status>) -> pb::HostReply {
    match result {
        Ok(response) => pb::HostReply {
            id,
            code: 0,
            message: String::new(),
            response,
        },
        Err(status) => pb::HostReply {
            id,
            code: u32::try_from(i32::from(status.code())).unwrap_or(2),
            message: status.message().to_string(),
            response: Vec::new(),
        },
    }
}

/// Decodes the request of `Req`, runs `serve` on it and encodes its answer.
async fn unary<Req, Resp, Fut>(
    bytes: &[u8],
    serve: impl FnOnce(Request<Req>) -> Fut,
) -> Result<Vec<u8>, Status>
where
    Req: prost::Message + Default,
    Resp: prost::Message,
    Fut: std::future::Future<Output = Result<Response<Resp>, Status>>,
{
    let request = Req::decode(bytes)
        .map_err(|e| Status::invalid_argument(format!("HostCall.request does not decode: {e}")))?;
    let response = serve(Request::new(request)).await?;
    Ok(prost::Message::encode_to_vec(response.get_ref()))
}

/// Runs `call` on the service its method names.
async fn dispatch(s: &Services, call: &pb::HostCall) -> Result<Vec<u8>, Status> {
    let b = call.request.as_slice();
    match call.method.as_str() {
        "/convotic.host.v1.Storage/Get" => unary(b, |r| s.storage.get(r)).await,
        "/convotic.host.v1.Storage/Set" => unary(b, |r| s.storage.set(r)).await,
        "/convotic.host.v1.Storage/Delete" => unary(b, |r| s.storage.delete(r)).await,
        "/convotic.host.v1.Storage/List" => unary(b, |r| s.storage.list(r)).await,
        "/convotic.host.v1.Storage/CompareAndSet" => {
            unary(b, |r| s.storage.compare_and_set(r)).await
        }
        "/convotic.host.v1.Contacts/Get" => unary(b, |r| Contacts::get(&*s.contacts, r)).await,
        "/convotic.host.v1.Contacts/FindByExternalId" => {
            unary(b, |r| s.contacts.find_by_external_id(r)).await
        }
        "/convotic.host.v1.Contacts/Create" => {
            unary(b, |r| Contacts::create(&*s.contacts, r)).await
        }
        "/convotic.host.v1.Contacts/Update" => {
            unary(b, |r| Contacts::update(&*s.contacts, r)).await
        }
        "/convotic.host.v1.Contacts/Delete" => {
            unary(b, |r| Contacts::delete(&*s.contacts, r)).await
        }
        "/convotic.host.v1.Contacts/List" => unary(b, |r| Contacts::list(&*s.contacts, r)).await,
        "/convotic.host.v1.Conversations/Create" => {
            unary(b, |r| Conversations::create(&*s.conversations, r)).await
        }
        "/convotic.host.v1.Conversations/Get" => {
            unary(b, |r| Conversations::get(&*s.conversations, r)).await
        }
        "/convotic.host.v1.Conversations/Update" => {
            unary(b, |r| Conversations::update(&*s.conversations, r)).await
        }
        "/convotic.host.v1.Conversations/List" => {
            unary(b, |r| Conversations::list(&*s.conversations, r)).await
        }
        "/convotic.host.v1.Conversations/Close" => unary(b, |r| s.conversations.close(r)).await,
        "/convotic.host.v1.Messages/Send" => unary(b, |r| s.messages.send(r)).await,
        "/convotic.host.v1.Messages/Get" => unary(b, |r| Messages::get(&*s.messages, r)).await,
        "/convotic.host.v1.Workflows/Trigger" => unary(b, |r| s.workflows.trigger(r)).await,
        "/convotic.host.v1.Workflows/Get" => unary(b, |r| Workflows::get(&*s.workflows, r)).await,
        "/convotic.host.v1.Logger/Log" => unary(b, |r| s.logger.log(r)).await,
        other => Err(Status::unimplemented(format!(
            "{:?} is not a Host method (expected a path like \"/convotic.host.v1.Storage/Get\")",
            other.chars().take(200).collect::<String>()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn calls_are_admitted_with_fresh_nonzero_ids() {
        let call = |id| pb::HostCall {
            id,
            ..Default::default()
        };
        let mut in_flight = HashSet::new();
        assert!(admit(&in_flight, &call(1)).is_ok());
        assert_eq!(
            admit(&in_flight, &call(0)).unwrap_err().code(),
            Code::InvalidArgument
        );
        in_flight.insert(1);
        assert_eq!(
            admit(&in_flight, &call(1)).unwrap_err().code(),
            Code::InvalidArgument
        );
        assert!(admit(&in_flight, &call(2)).is_ok());
    }

    #[test]
    fn replies_carry_the_unary_code_and_message() {
        let ok = reply(7, Ok(vec![1, 2]));
        assert_eq!((ok.id, ok.code, ok.response), (7, 0, vec![1, 2]));
        let failed = reply(8, Err(Status::not_found("no key \"a\"")));
        assert_eq!(failed.code, Code::NotFound as u32);
        assert_eq!(failed.message, "no key \"a\"");
        assert!(failed.response.is_empty());
    }
}
