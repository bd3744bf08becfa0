//! Live logs over Server-Sent Events: the module's recent lines, then each new one as it is
//! printed (read from the module's log buffer every [`POLL`]). A reconnecting browser sends
//! `Last-Event-ID` and continues after it. A stream ends when the client goes away or after
//! [`MOST_TIME`], after which the browser reconnects by itself.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use warp::reply::{Reply as _, Response};

use super::Visit;
use crate::supervision::ModuleHandle;

/// How often the buffer is read.
const POLL: Duration = Duration::from_millis(250);
/// Lines sent when a stream opens.
const BACKLOG: usize = 200;
/// Lines sent per poll at most (a module flooding its output is sampled, not queued).
const BURST: usize = 500;
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
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<warp::sse::Event, Infallible>>(64);
    tokio::spawn(async move {
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
            for line in lines {
                after = Some(line.seq);
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
