//! The connection to the Convotic host services: a lazily connected gRPC channel over the
//! Unix socket named by CONVOTIC_HOST_SOCKET, the token interceptor, the background task
//! that ships log lines, and the call stream when the supervisor offers `host.stream`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use convotic_proto::host::v1::{logger_client::LoggerClient, LogRequest};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint, Uri};

use super::host_stream::HostStreamConn;
use crate::error::{HostError, SdkError};
use crate::logging;

/// Largest message accepted from or sent to the host.
pub(crate) const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Log lines queued for the host before new ones go straight to stderr.
const LOG_QUEUE: usize = 4096;

/// Timeout of one `Logger.Log` call.
const LOG_TIMEOUT: Duration = Duration::from_secs(2);

/// Adds `x-convotic-plugin-token` to every host call.
#[derive(Clone)]
pub(crate) struct TokenInterceptor {
    token: Option<AsciiMetadataValue>,
}

impl Interceptor for TokenInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.token {
            request
                .metadata_mut()
                .insert(convotic_proto::TOKEN_METADATA_KEY, token.clone());
        }
        Ok(request)
    }
}

/// The channel type every host client is built on.
pub(crate) type HostChannel = InterceptedService<Channel, TokenInterceptor>;

/// How long calls stay unary after the call stream could not be opened.
const REOPEN_AFTER: Duration = Duration::from_secs(30);

/// The call stream of a host connection and when to try opening it again.
#[derive(Default)]
struct StreamState {
    conn: Option<Arc<HostStreamConn>>,
    retry_at: Option<tokio::time::Instant>,
}

/// A handle on the host connection, cheap to clone.
#[derive(Clone)]
pub(crate) struct Host {
    inner: Arc<HostInner>,
}

struct HostInner {
    channel: Option<HostChannel>,
    timeout: Duration,
    logs: Option<mpsc::Sender<LogRequest>>,
    /// Whether the supervisor offered `host.stream` in its last `Describe`.
    stream_offered: AtomicBool,
    /// The call stream, opened with the first call once offered, reopened after it broke.
    stream: tokio::sync::Mutex<StreamState>,
}

impl Host {
    /// A host that is not configured: every call fails with [`HostError::NotConfigured`] and
    /// logs go to stderr.
    pub(crate) fn detached() -> Self {
        Host {
            inner: Arc::new(HostInner {
                channel: None,
                timeout: Duration::from_secs(10),
                logs: None,
                stream_offered: AtomicBool::new(false),
                stream: tokio::sync::Mutex::default(),
            }),
        }
    }

    /// Sets up a lazy connection to the host socket. Must run inside a tokio runtime.
    pub(crate) fn connect(
        socket: PathBuf,
        token: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, SdkError> {
        let token = match token {
            Some(token) => {
                Some(
                    MetadataValue::try_from(token).map_err(|_| SdkError::InvalidEnv {
                        name: convotic_proto::env::PLUGIN_TOKEN,
                        reason: "not a valid metadata value".to_string(),
                    })?,
                )
            }
            None => None,
        };
        let endpoint =
            Endpoint::try_from("http://[::]:50051").map_err(|e| SdkError::Host(e.to_string()))?;
        let channel = endpoint.connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }));
        let channel = InterceptedService::new(channel, TokenInterceptor { token });

        let (tx, rx) = mpsc::channel(LOG_QUEUE);
        tokio::spawn(ship_logs(channel.clone(), rx));
        Ok(Host {
            inner: Arc::new(HostInner {
                channel: Some(channel),
                timeout,
                logs: Some(tx),
                stream_offered: AtomicBool::new(false),
                stream: tokio::sync::Mutex::default(),
            }),
        })
    }

    /// The channel to build a client on, or [`HostError::NotConfigured`].
    pub(crate) fn channel(&self, call: &'static str) -> Result<HostChannel, HostError> {
        self.inner
            .channel
            .clone()
            .ok_or(HostError::NotConfigured { call })
    }

    /// Records whether the supervisor offered `host.stream` (called on each `Describe`).
    pub(crate) fn set_stream_offered(&self, offered: bool) {
        self.inner.stream_offered.store(offered, Ordering::Relaxed);
    }

    /// The call stream, when the supervisor offered it and it is (or can be, within
    /// `timeout`) open; `None` means: make the call unary. While another call is opening the
    /// stream, or for [`REOPEN_AFTER`] after an attempt failed, calls go unary.
    pub(crate) async fn stream(&self, timeout: Duration) -> Option<Arc<HostStreamConn>> {
        if !self.inner.stream_offered.load(Ordering::Relaxed) {
            return None;
        }
        let channel = self.inner.channel.clone()?;
        let mut state = self.inner.stream.try_lock().ok()?;
        if let Some(conn) = state.conn.as_ref().filter(|conn| conn.is_open()) {
            return Some(Arc::clone(conn));
        }
        let now = tokio::time::Instant::now();
        if state.retry_at.is_some_and(|at| now < at) {
            return None;
        }
        let opened =
            HostStreamConn::open(channel, timeout.min(super::host_stream::OPEN_TIMEOUT)).await;
        state.retry_at = opened.is_none().then(|| now + REOPEN_AFTER);
        state.conn.clone_from(&opened);
        opened
    }

    /// The default timeout of one call.
    pub(crate) fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Queues a log line for the host; writes it to stderr when there is no host or the queue
    /// is full.
    pub(crate) fn log(&self, line: LogRequest) {
        match &self.inner.logs {
            Some(tx) => {
                if let Err(err) = tx.try_send(line) {
                    let line = match err {
                        mpsc::error::TrySendError::Full(line)
                        | mpsc::error::TrySendError::Closed(line) => line,
                    };
                    logging::log_request_to_stderr(&line);
                }
            }
            None => logging::log_request_to_stderr(&line),
        }
    }
}

/// Sends queued log lines to the host's Logger service, one at a time (so they keep their
/// order); a line the host does not take goes to stderr.
async fn ship_logs(channel: HostChannel, mut rx: mpsc::Receiver<LogRequest>) {
    let mut client = LoggerClient::new(channel);
    while let Some(line) = rx.recv().await {
        let mut request = tonic::Request::new(line.clone());
        request.set_timeout(LOG_TIMEOUT);
        let sent = tokio::time::timeout(LOG_TIMEOUT, client.log(request)).await;
        if !matches!(sent, Ok(Ok(_))) {
            logging::log_request_to_stderr(&line);
        }
    }
}
