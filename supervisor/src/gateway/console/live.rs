//! Live logs over Server-Sent Events: the module's recent lines, then each new one as it is
//! printed (read from the module's log buffer every [`POLL`]). A reconnecting browser sends
//! `Last-Event-ID` and continues after it. A stream ends when the client goes away, when its
//! session ends (logout, expiry, a revoked key), or after [`MOST_TIME`], after which the
//! browser reconnects by itself. Streams are bounded per session and in all, and so is what
//! one poll sends.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use warp::http::StatusCode;
use warp::reply::{Reply as _, Response};

use super::{plain, Visit};
use crate::supervision::ModuleHandle;

/// Most live-log streams of one session.
const PER_SESSION: usize = 4;
/// Most live-log streams in all.
const IN_ALL: usize = 128;
/// Most bytes of log text sent per poll.
const BYTES_PER_POLL: usize = 256 * 1024;

/// The live-log streams open now, by session id.
#[derive(Default)]
pub struct Streams {
    open: Mutex<HashMap<String, usize>>,
}

/// A place taken in [`Streams`], given back when dropped.
struct StreamSlot {
    streams: Arc<Streams>,
    session: String,
}

impl Streams {
    /// Takes a place for a stream of `session`, unless it or everyone has too many.
    fn take(self: &Arc<Self>, session: &str) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = open.values().sum();
        let mine = open.get(session).copied().unwrap_or(0);
        if total >= IN_ALL || mine >= PER_SESSION {
            return None;
        }
        *open.entry(session.to_string()).or_insert(0) += 1;
        Some(StreamSlot {
            streams: Arc::clone(self),
            session: session.to_string(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.session) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.session);
            }
        }
    }
}

/// How often the buffer is read.
const POLL: Duration = Duration::from_millis(250);
/// Lines sent when a stream opens.
const BACKLOG: usize = 200;
/// Lines sent per poll at most (a module flooding its output is sampled, not queued).
const BURST: usize = 200;
/// Longest life of one stream.
const MOST_TIME: Duration = Duration::from_secs(30 * 60);

/// `GET /console/modules/{ws}/{name}/logs` (`text/event-stream`).
pub fn logs(visit: &Visit<'_>, module: Arc<ModuleHandle>) -> Response {
    let resume = visit
        .request
        .headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let console = &visit.state.console;
    let Some(slot) = console.streams.take(&visit.session_id) else {
        return plain(
            StatusCode::TOO_MANY_REQUESTS,
            "too many live-log streams open: close other console tabs",
        );
    };
    let sessions = Arc::clone(&console.sessions);
    let session_id = visit.session_id.clone();
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<warp::sse::Event, Infallible>>(16);
    tokio::spawn(async move {
        let _slot = slot;
        let deadline = tokio::time::Instant::now() + MOST_TIME;
        let mut after = resume;
        let mut first = resume.is_none();
        loop {
            let lines = if first {
                first = false;
                module.logs.since(None, BACKLOG)
            } else {
                module.logs.since(after, BURST)
            };
            if sessions.get(&session_id).is_none() {
                return;
            }
            let mut sent = 0;
            for line in lines {
                after = Some(line.seq);
                sent += line.text.len();
                if sent > BYTES_PER_POLL {
                    // The rest of this burst is skipped: the next poll starts after it.
                    continue;
                }
                let data = serde_json::json!({
                    "seq": line.seq,
                    "ts_ms": line.ts_ms,
                    "stream": line.stream.as_str(),
                    "instance": line.instance,
                    "text": line.text,
                });
                let event = warp::sse::Event::default()
                    .id(line.seq.to_string())
                    .data(data.to_string());
                if sender.send(Ok(event)).await.is_err() {
                    return;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::select! {
                _ = sender.closed() => return,
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(receiver);
    let mut response = warp::sse::reply(warp::sse::keep_alive().stream(stream)).into_response();
    response.headers_mut().insert(
        "cache-control",
        warp::http::HeaderValue::from_static("no-store"),
    );
    response
}
