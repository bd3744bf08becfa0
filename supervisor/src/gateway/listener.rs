//! The accept loop and every connection's limits: at most `max_connections` connections are
//! served (a connection beyond gets a 503 and is closed, or is closed at once when even the
//! few slots for such answers are taken), a client must send a request head within
//! `header_read_timeout` of its first byte, a connection without a request in progress is
//! closed after `idle_timeout`, so is one whose client reads nothing of a response for
//! `idle_timeout`, and an HTTP/2 connection carries at most `http2_max_concurrent_streams`
//! streams. Body-read timeouts are enforced on the body stream (see `body.rs`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::response_budget::Reservation;
use super::tracked_body::TrackedBody;
use super::{client_errors, GatewayState, Limits};

/// Connections beyond the limit that are answered with a 503 at the same time; more are
/// closed without an answer.
const REFUSAL_SLOTS: usize = 64;
/// File descriptors kept free for modules, the store and the sockets to modules.
const RESERVED_FDS: u64 = 256;

/// Serves connections from `listener` until `shutdown` resolves, then lets the open ones finish
/// their requests (the caller bounds how long).
pub async fn serve(
    listener: TcpListener,
    state: Arc<GatewayState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let max = connection_limit(state.limits.max_connections);
    let slots = Arc::new(Semaphore::new(max));
    let refusals = Arc::new(Semaphore::new(REFUSAL_SLOTS));
    let stop = CancellationToken::new();
    let builder = http_builder(&state.limits);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        if let Ok(permit) = Arc::clone(&slots).try_acquire_owned() {
            tokio::spawn(connection(
                stream,
                peer,
                permit,
                builder.clone(),
                Arc::clone(&state),
                stop.clone(),
            ));
        } else if let Ok(permit) = Arc::clone(&refusals).try_acquire_owned() {
            tokio::spawn(refuse(stream, peer, permit, max));
        } else {
            client_errors::record(Some(peer), "connection over the limit closed unanswered");
        }
    }
    drop(listener);
    stop.cancel();
    let _ = slots.acquire_many(max as u32).await;
}

/// `max_connections`, lowered so that the connections fit the open-file limit.
fn connection_limit(configured: usize) -> usize {
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(1024);
    let limit = connections_that_fit(configured, soft);
    if limit < configured {
        tracing::warn!(
            configured,
            limit,
            open_file_limit = soft,
            "[server] max_connections lowered to fit the open-file limit (RLIMIT_NOFILE)"
        );
    }
    limit
}

/// How many client connections a process with `open_files` descriptors serves when
/// `max_connections` is `configured`: the descriptors for modules, the store and refusals are
/// kept free.
pub fn connections_that_fit(configured: usize, open_files: u64) -> usize {
    let fits = open_files
        .saturating_sub(RESERVED_FDS + REFUSAL_SLOTS as u64)
        .max(16);
    configured
        .min(usize::try_from(fits).unwrap_or(usize::MAX))
        .min(u32::MAX as usize)
}

fn http_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // The watchdog below times request heads from their first byte; hyper's own timer would
        // also count the idle time before it.
        .header_read_timeout(None::<Duration>)
        .max_buf_size(limits.max_header_bytes.max(8192) * 2);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(Some(20))
        .max_local_error_reset_streams(Some(256));
    builder
}

/// `accept` failed: out of file descriptors (wait a little for some to close) or a connection
/// that died before it was accepted.
async fn accept_failed(error: std::io::Error) {
    let out_of_files = matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
    if out_of_files {
        tracing::warn!("cannot accept connections: {error}; retrying");
        tokio::time::sleep(Duration::from_millis(100)).await;
    } else {
        client_errors::record(None, &format!("accept failed: {error}"));
    }
}

/// Answers a connection over the limit with a 503, then closes it after reading what the
/// client sent (closing with unread data would reset the connection and lose the answer).
async fn refuse(mut stream: TcpStream, peer: SocketAddr, permit: OwnedSemaphorePermit, max: usize) {
    client_errors::record(Some(peer), "connection over the limit refused with 503");
    let body = serde_json::json!({"error": {
        "code": "too_many_connections",
        "message": format!("the server is at its limit of {max} connections ([server] max_connections); retry shortly"),
        "request_id": super::new_request_id(),
    }})
    .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut total = 0usize;
        while total < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => total += n,
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    drop(permit);
}

/// What a connection has done, shared by its I/O, its requests and its watchdog.
#[derive(Default)]
struct Activity {
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    requests: AtomicU64,
    /// Requests being handled or whose response is being sent.
    active: AtomicUsize,
    /// Responses being sent.
    responding: AtomicUsize,
}

/// Counts a request as active until dropped (with its response body).
struct RequestGuard(Arc<Activity>);

impl RequestGuard {
    fn new(activity: &Arc<Activity>) -> Self {
        activity.requests.fetch_add(1, Ordering::Relaxed);
        activity.active.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(activity))
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a response as being sent until dropped (with its body).
struct ResponseGuard(#[allow(dead_code)] RequestGuard);

impl ResponseGuard {
    fn new(request: RequestGuard) -> Self {
        request.0.responding.fetch_add(1, Ordering::Relaxed);
        Self(request)
    }
}

impl Drop for ResponseGuard {
    fn drop(&mut self) {
        self.0 .0.responding.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    builder: auto::Builder<TokioExecutor>,
    state: Arc<GatewayState>,
    stop: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::default());
    let mut watchdog = Watchdog::new(&state.limits, &activity);
    let io = TokioIo::new(CountingIo {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |request| {
            let state = Arc::clone(&state);
            let guard = RequestGuard::new(&activity);
            async move {
                let response = super::respond(&state, request, Some(peer)).await;
                let (mut parts, body) = response.into_parts();
                let reservation = parts.extensions.remove::<Reservation>();
                let body = TrackedBody::new(body, ResponseGuard::new(guard), reservation);
                Ok::<_, Infallible>(hyper::Response::from_parts(parts, body))
            }
        })
    };
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut tick = tokio::time::interval(watchdog.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    client_errors::record(Some(peer), &format!("connection error: {error}"));
                }
                break;
            }
            _ = tick.tick() => {
                if let Some(reason) = watchdog.expired(&activity, Instant::now()) {
                    client_errors::record(Some(peer), &format!("connection closed: {reason}"));
                    break;
                }
            }
            _ = stop.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
    drop(permit);
}

/// Decides when a connection has been idle or slow for too long, from samples of its
/// [`Activity`] taken every `tick`.
struct Watchdog {
    header_timeout: Duration,
    idle_timeout: Duration,
    tick: Duration,
    seen_requests: u64,
    idle_since: Instant,
    read_mark: u64,
    head_started: Option<Instant>,
    written_mark: u64,
    write_progress: Instant,
}

impl Watchdog {
    fn new(limits: &Limits, activity: &Activity) -> Self {
        let shortest = limits.header_read_timeout.min(limits.idle_timeout);
        let now = Instant::now();
        Self {
            header_timeout: limits.header_read_timeout,
            idle_timeout: limits.idle_timeout,
            tick: (shortest / 4).clamp(Duration::from_millis(50), Duration::from_secs(1)),
            seen_requests: 0,
            idle_since: now,
            read_mark: activity.bytes_read.load(Ordering::Relaxed),
            head_started: None,
            written_mark: 0,
            write_progress: now,
        }
    }

    /// Why the connection must be closed now, if it must.
    fn expired(&mut self, activity: &Activity, now: Instant) -> Option<String> {
        let requests = activity.requests.load(Ordering::Relaxed);
        let read = activity.bytes_read.load(Ordering::Relaxed);
        let written = activity.bytes_written.load(Ordering::Relaxed);
        if activity.active.load(Ordering::Relaxed) > 0 || requests != self.seen_requests {
            // A request is in progress, or one came and went since the last sample: the
            // connection is idle again only from now on.
            self.seen_requests = requests;
            self.idle_since = now;
            self.read_mark = read;
            self.head_started = None;
            let stalled = activity.responding.load(Ordering::Relaxed) > 0
                && written == self.written_mark
                && now.duration_since(self.write_progress) >= self.idle_timeout;
            if written != self.written_mark || activity.responding.load(Ordering::Relaxed) == 0 {
                self.written_mark = written;
                self.write_progress = now;
            }
            return stalled.then(|| {
                format!(
                    "the client read nothing of the response for {} ([server] idle_timeout)",
                    humantime::format_duration(self.idle_timeout)
                )
            });
        }
        if self.head_started.is_none() && read != self.read_mark {
            self.head_started = Some(now);
        }
        match self.head_started {
            Some(started) if now.duration_since(started) >= self.header_timeout => Some(format!(
                "no complete request head within {} ([server] header_read_timeout)",
                humantime::format_duration(self.header_timeout)
            )),
            None if now.duration_since(self.idle_since) >= self.idle_timeout => Some(format!(
                "idle for {} ([server] idle_timeout)",
                humantime::format_duration(self.idle_timeout)
            )),
            _ => None,
        }
    }
}

/// The TCP stream, counting the bytes each way into the connection's [`Activity`].
struct CountingIo {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for CountingIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            self.activity
                .bytes_read
                .fetch_add(read as u64, Ordering::Relaxed);
        }
        result
    }
}

impl AsyncWrite for CountingIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = result {
            self.activity
                .bytes_written
                .fetch_add(n as u64, Ordering::Relaxed);
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = result {
            self.activity
                .bytes_written
                .fetch_add(n as u64, Ordering::Relaxed);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::from(&crate::config::ServerConfig {
            header_read_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(10),
            ..Default::default()
        })
    }

    #[test]
    fn connections_fit_the_open_file_limit() {
        assert_eq!(connections_that_fit(4096, 1024), 1024 - 320);
        assert_eq!(connections_that_fit(4096, 1_048_576), 4096);
        assert_eq!(connections_that_fit(4096, 10), 16);
    }

    #[tokio::test]
    async fn partial_heads_idle_connections_and_stalled_readers_expire() {
        let activity = Activity::default();
        let mut dog = Watchdog::new(&limits(), &activity);
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        assert!(dog.expired(&activity, at(5)).is_none(), "idle, under 10s");
        activity.bytes_read.fetch_add(10, Ordering::Relaxed);
        assert!(
            dog.expired(&activity, at(6)).is_none(),
            "head started at 6s"
        );
        let reason = dog.expired(&activity, at(8)).expect("head timeout");
        assert!(reason.contains("header_read_timeout"), "{reason}");

        let activity = Activity::default();
        let mut dog = Watchdog::new(&limits(), &activity);
        // Created a moment after `start`: idle for over 10 s only at 11 s.
        assert!(dog
            .expired(&activity, at(11))
            .expect("idle")
            .contains("idle_timeout"));

        let activity = Arc::new(Activity::default());
        let mut dog = Watchdog::new(&limits(), &activity);
        let response = ResponseGuard::new(RequestGuard::new(&activity));
        assert!(dog.expired(&activity, at(1)).is_none());
        activity.bytes_written.fetch_add(100, Ordering::Relaxed);
        assert!(dog.expired(&activity, at(9)).is_none(), "progress at 9s");
        assert!(dog.expired(&activity, at(18)).is_none());
        assert!(dog
            .expired(&activity, at(19))
            .expect("stalled")
            .contains("read nothing"));
        drop(response);
        // Idle from the last sample that saw the request (19s).
        assert!(dog.expired(&activity, at(20)).is_none());
        assert!(dog.expired(&activity, at(28)).is_none());
        assert!(dog.expired(&activity, at(29)).is_some());
    }
}
