//! The Host services a module calls (its `ctx`), served on the instance's own Unix socket.
//!
//! Every call must carry the instance's token (`x-convotic-plugin-token`); the workspace and
//! module are fixed by the socket the call arrived on, never taken from the request.
//!
//! One file per service: `contacts`, `conversations`, `messages`, `workflows` and `storage`
//! over the [`Store`], `logger` into the module's log; `scope` maps store errors to gRPC
//! statuses; `stream` carries every one of their calls on one stream (feature `host.stream`).

mod call_metrics;
mod contacts;
mod conversations;
mod logger;
mod messages;
mod scope;
mod storage;
mod stream;
mod token;
mod workflows;

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use convotic_proto::host::v1::contacts_server::ContactsServer;
use convotic_proto::host::v1::conversations_server::ConversationsServer;
use convotic_proto::host::v1::host_stream_server::HostStreamServer;
use convotic_proto::host::v1::logger_server::LoggerServer;
use convotic_proto::host::v1::messages_server::MessagesServer;
use convotic_proto::host::v1::storage_server::StorageServer;
use convotic_proto::host::v1::workflows_server::WorkflowsServer;
use tokio::net::UnixListener;
use tokio::sync::oneshot;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::service::interceptor::InterceptedService;

use crate::process::LogSink;
use crate::store::Store;

pub use stream::{
    CREDITS as HOST_STREAM_CREDITS, MAX_BATCH_BYTES as HOST_STREAM_MAX_BATCH_BYTES,
    MAX_CALL_TIME as HOST_STREAM_MAX_CALL_TIME,
};
pub use token::{constant_time_eq, TokenCheck};

/// Who the calls on one host socket come from.
#[derive(Debug, Clone)]
pub struct HostIdentity {
    /// Workspace id.
    pub workspace: String,
    /// Module name.
    pub module: String,
    /// Instance id.
    pub instance: String,
}

/// A running Host server for one instance; stops when dropped.
pub struct HostServer {
    shutdown: Option<oneshot::Sender<()>>,
    stream_allowed: Arc<AtomicBool>,
}

impl HostServer {
    /// Binds `socket` (mode 0600) and serves the Host services on it: Contacts,
    /// Conversations, Messages, Workflows and Storage on `store`, scoped to `identity`, and
    /// Logger into `sink`. Every service checks `token`.
    pub async fn start(
        socket: &Path,
        token: String,
        identity: HostIdentity,
        sink: Arc<LogSink>,
        store: Store,
    ) -> io::Result<Self> {
        let _ = std::fs::remove_file(socket);
        let listener = UnixListener::bind(socket)?;
        std::fs::set_permissions(socket, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        let check = TokenCheck::new(token);
        let scope = scope::Scope {
            store,
            identity: Arc::new(identity.clone()),
        };
        let services = Arc::new(stream::Services {
            contacts: Arc::new(contacts::HostContacts::new(scope.clone())),
            conversations: Arc::new(conversations::HostConversations::new(scope.clone())),
            messages: Arc::new(messages::HostMessages::new(scope.clone())),
            workflows: Arc::new(workflows::HostWorkflows::new(scope.clone())),
            storage: Arc::new(storage::HostStorage::new(scope.clone())),
            logger: Arc::new(logger::HostLogger::new(sink)),
        });
        let logger = InterceptedService::new(
            LoggerServer::from_arc(Arc::clone(&services.logger)),
            check.clone(),
        );
        let contacts = InterceptedService::new(
            ContactsServer::from_arc(Arc::clone(&services.contacts)),
            check.clone(),
        );
        let conversations = InterceptedService::new(
            ConversationsServer::from_arc(Arc::clone(&services.conversations)),
            check.clone(),
        );
        let messages = InterceptedService::new(
            MessagesServer::from_arc(Arc::clone(&services.messages)),
            check.clone(),
        );
        let workflows = InterceptedService::new(
            WorkflowsServer::from_arc(Arc::clone(&services.workflows)),
            check.clone(),
        );
        let storage = InterceptedService::new(
            StorageServer::from_arc(Arc::clone(&services.storage)),
            check.clone(),
        );
        let layer = call_metrics::CallMetricsLayer::new(Arc::clone(&scope.identity));
        let stream_allowed = Arc::new(AtomicBool::new(true));
        let calls = InterceptedService::new(
            HostStreamServer::new(stream::HostStreamService::new(
                services,
                Arc::clone(&scope.identity),
                Arc::clone(&stream_allowed),
            ))
            .max_decoding_message_size(stream::MAX_BATCH_BYTES),
            check,
        );
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let result = tonic::transport::Server::builder()
                .layer(layer)
                .add_service(logger)
                .add_service(contacts)
                .add_service(conversations)
                .add_service(messages)
                .add_service(workflows)
                .add_service(storage)
                .add_service(calls)
                .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = result {
                tracing::warn!(workspace = %identity.workspace, module = %identity.module, instance = %identity.instance, "host service stopped: {e}");
            }
        });
        Ok(Self {
            shutdown: Some(shutdown),
            stream_allowed,
        })
    }

    /// Whether the module may make its calls on `HostStream.Calls` (feature `host.stream`);
    /// allowed unless turned off here, before the module starts.
    pub fn allow_stream(&self, allowed: bool) {
        self.stream_allowed.store(allowed, Ordering::Release);
    }
}

impl Drop for HostServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
