//! [`Context`] (`ctx`): what a handler knows about its call and its typed clients of the
//! Convotic host services (contacts, conversations, messages, workflows, storage, logger).

mod contacts;
mod conversations;
pub(crate) mod host;
mod host_stream;
mod logger;
mod messages;
mod storage;
mod workflows;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use contacts::{Contact, ContactPage, ContactUpdate, Contacts, NewContact};
pub use conversations::{
    Conversation, ConversationFilter, ConversationPage, ConversationUpdate, Conversations,
    NewConversation,
};
pub use logger::Logger;
pub use messages::{Messages, OutboundMessage, OutgoingMessage};
pub use storage::{Storage, StorageEntry, StoragePage};
pub use workflows::{WorkflowRun, Workflows};

use crate::error::HostError;
use host::{Host, HostChannel};

/// The context a handler runs in: the call's identity, its deadline and the host services.
///
/// Cheap to clone; clones share the same host connection.
#[derive(Clone)]
pub struct Context {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    host: Host,
    module: String,
    workspace: String,
    instance: String,
    request_id: String,
    deadline: Option<Instant>,
    call_timeout: Duration,
}

/// Identity of the running instance, shared by every context.
#[derive(Clone, Default)]
pub(crate) struct Identity {
    pub(crate) module: String,
    pub(crate) workspace: String,
    pub(crate) instance: String,
}

impl Context {
    /// A context for one invocation.
    pub(crate) fn new(
        host: Host,
        identity: &Identity,
        workspace: Option<String>,
        request_id: String,
        deadline: Option<Instant>,
    ) -> Self {
        let call_timeout = host.timeout();
        Context {
            inner: Arc::new(ContextInner {
                host,
                module: identity.module.clone(),
                workspace: workspace
                    .filter(|w| !w.is_empty())
                    .unwrap_or_else(|| identity.workspace.clone()),
                instance: identity.instance.clone(),
                request_id,
                deadline,
                call_timeout,
            }),
        }
    }

    /// A context with no host connection (every host call fails with
    /// [`HostError::NotConfigured`], logs go to stderr). Useful in unit tests of handlers.
    pub fn detached(module: impl Into<String>) -> Self {
        let identity = Identity {
            module: module.into(),
            ..Identity::default()
        };
        Context::new(Host::detached(), &identity, None, String::new(), None)
    }

    /// The same context with another default timeout for host calls (10 s unless changed).
    #[must_use]
    pub fn with_call_timeout(&self, timeout: Duration) -> Self {
        Context {
            inner: Arc::new(ContextInner {
                host: self.inner.host.clone(),
                module: self.inner.module.clone(),
                workspace: self.inner.workspace.clone(),
                instance: self.inner.instance.clone(),
                request_id: self.inner.request_id.clone(),
                deadline: self.inner.deadline,
                call_timeout: timeout,
            }),
        }
    }

    /// Request id of the call (`X-Request-Id` for HTTP), may be empty.
    pub fn request_id(&self) -> &str {
        &self.inner.request_id
    }

    /// The workspace the call belongs to.
    pub fn workspace(&self) -> &str {
        &self.inner.workspace
    }

    /// The module name.
    pub fn module(&self) -> &str {
        &self.inner.module
    }

    /// The instance id (unique per start of the module), may be empty.
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// When the call's deadline passes, if it has one.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline
    }

    /// Contacts of the workspace.
    pub fn contacts(&self) -> Contacts {
        Contacts::new(self.clone())
    }

    /// Conversations of the workspace.
    pub fn conversations(&self) -> Conversations {
        Conversations::new(self.clone())
    }

    /// Outbound messages.
    pub fn messages(&self) -> Messages {
        Messages::new(self.clone())
    }

    /// Workflow triggers and runs.
    pub fn workflows(&self) -> Workflows {
        Workflows::new(self.clone())
    }

    /// Key-value storage scoped to the module in its workspace.
    pub fn storage(&self) -> Storage {
        Storage::new(self.clone())
    }

    /// The structured logger.
    pub fn logger(&self) -> Logger {
        Logger::new(self.clone())
    }

    pub(crate) fn host(&self) -> &Host {
        &self.inner.host
    }

    /// The timeout of the next host call: the default, but no later than the call's deadline.
    fn call_timeout(&self) -> Duration {
        let timeout = self.inner.call_timeout;
        match self.inner.deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                timeout.min(left).max(Duration::from_millis(1))
            }
            None => timeout,
        }
    }

    /// Runs one host call with the token, the timeout and error mapping: on the call stream
    /// when the supervisor offered `host.stream`, else as a unary call made by `send`.
    pub(crate) async fn call<Req, Resp, F, Fut>(
        &self,
        call: &'static str,
        message: Req,
        send: F,
    ) -> Result<Resp, HostError>
    where
        Req: prost::Message,
        Resp: prost::Message + Default,
        F: FnOnce(HostChannel, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
    {
        let channel = self.inner.host.channel(call)?;
        let timeout = self.call_timeout();
        let started = Instant::now();
        let streamed = (message.encoded_len() <= host_stream::MAX_STREAMED_CALL)
            .then(|| self.inner.host.stream(timeout));
        let stream = match streamed {
            Some(opening) => opening.await,
            None => None,
        };
        // Opening the stream counts against the call's timeout.
        let timeout = timeout
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(1));
        if let Some(stream) = stream {
            let path = host_stream::method_path(call);
            return match stream.call(&path, message.encode_to_vec(), timeout).await {
                Ok(bytes) => Resp::decode(bytes.as_slice()).map_err(|e| HostError::Status {
                    call,
                    status: tonic::Status::internal(format!(
                        "the host's answer does not decode: {e}"
                    )),
                }),
                Err(Some(status)) => Err(HostError::Status { call, status }),
                Err(None) => Err(HostError::Timeout { call, timeout }),
            };
        }
        let mut request = tonic::Request::new(message);
        request.set_timeout(timeout);
        match tokio::time::timeout(timeout, send(channel, request)).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(HostError::Status { call, status }),
            Err(_) => Err(HostError::Timeout { call, timeout }),
        }
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("module", &self.inner.module)
            .field("workspace", &self.inner.workspace)
            .field("request_id", &self.inner.request_id)
            .finish_non_exhaustive()
    }
}

/// Maps a NOT_FOUND failure to `None`.
pub(crate) fn optional<T>(result: Result<T, HostError>) -> Result<Option<T>, HostError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.is_not_found() => Ok(None),
        Err(err) => Err(err),
    }
}

/// Decodes `*_json` bytes from the host.
pub(crate) fn decode_json(
    call: &'static str,
    bytes: &[u8],
) -> Result<serde_json::Value, HostError> {
    crate::types::parse_json(bytes).map_err(|source| HostError::Json { call, source })
}

/// Encodes a value as `*_json` bytes for the host.
pub(crate) fn encode_json(
    call: &'static str,
    value: impl serde::Serialize,
) -> Result<Vec<u8>, HostError> {
    let value = serde_json::to_value(value).map_err(|source| HostError::Json { call, source })?;
    Ok(crate::types::json_bytes(&value))
}

/// An empty page token means "no more pages".
pub(crate) fn next_token(token: String) -> Option<String> {
    if token.is_empty() {
        None
    } else {
        Some(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn detached_calls_fail_clearly() {
        let ctx = Context::detached("m");
        let err = ctx.contacts().get("c1").await.unwrap_err();
        assert!(matches!(
            err,
            HostError::NotConfigured {
                call: "contacts.get"
            }
        ));
        assert_eq!(err.code(), tonic::Code::Unavailable);
        ctx.logger().info("goes to stderr");
    }

    #[tokio::test]
    async fn host_timeout_never_exceeds_deadline() {
        let identity = Identity::default();
        let deadline = Instant::now() + Duration::from_millis(200);
        let ctx = Context::new(
            Host::detached(),
            &identity,
            Some("ws".into()),
            "r".into(),
            Some(deadline),
        );
        assert!(ctx.call_timeout() <= Duration::from_millis(200));
        assert_eq!(ctx.workspace(), "ws");
        let longer = ctx.with_call_timeout(Duration::from_secs(60));
        assert!(longer.call_timeout() <= Duration::from_millis(200));
    }
}
