//! Request bodies, read with a size limit enforced on the stream itself: `Content-Length`
//! is checked up front, and chunked bodies (no length, common for webhook senders) are cut off
//! as soon as they pass the limit.

use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

/// The request body as a stream of chunks.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, BodyReadError>> + Send>>;

/// Why the next chunk of a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyReadError {
    /// The client did not finish sending within the body-read timeout.
    TimedOut(Duration),
    /// The connection failed or the framing was broken.
    Failed(String),
}

impl std::fmt::Display for BodyReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TimedOut(limit) => write!(
                f,
                "the body was not received within {}",
                humantime::format_duration(*limit)
            ),
            Self::Failed(message) => f.write_str(message),
        }
    }
}

/// The body of a hyper request as a [`BodyStream`] that fails with
/// [`BodyReadError::TimedOut`] once `timeout` has passed since this call (the whole body,
/// not each chunk, so a client trickling bytes cannot hold the request open).
pub fn from_incoming(body: hyper::body::Incoming, timeout: Duration) -> BodyStream {
    let deadline = tokio::time::Instant::now() + timeout;
    let chunks = http_body_util::BodyDataStream::new(body);
    Box::pin(futures::stream::unfold(
        Some(chunks),
        move |chunks| async move {
            let mut chunks = chunks?;
            match tokio::time::timeout_at(deadline, chunks.next()).await {
                Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(chunks))),
                Ok(Some(Err(e))) => Some((Err(BodyReadError::Failed(e.to_string())), None)),
                Ok(None) => None,
                Err(_) => Some((Err(BodyReadError::TimedOut(timeout)), None)),
            }
        },
    ))
}

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Over the limit (the limit, in bytes).
    TooLarge(u64),
    /// Not received within the body-read timeout.
    TimedOut(Duration),
    /// The client stopped sending or the connection failed.
    Broken(String),
}

/// Most an over-limit body is read (and dropped) so the client can finish sending and read
/// the 413; a larger one is cut off (the connection closes).
const DRAIN_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// Longest time spent draining an over-limit body.
const DRAIN_MAX_TIME: Duration = Duration::from_secs(2);

/// Reads the whole body, refusing more than `limit` bytes.
pub async fn read_limited(
    body: &mut BodyStream,
    content_length: Option<u64>,
    limit: u64,
) -> Result<Bytes, BodyError> {
    if content_length.is_some_and(|n| n > limit) {
        drain(body, 0).await;
        return Err(BodyError::TooLarge(limit));
    }
    // Grown as bytes arrive: a Content-Length never reserves memory by itself.
    let mut buffer =
        BytesMut::with_capacity(content_length.unwrap_or(0).min(limit).min(1024 * 1024) as usize);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| match e {
            BodyReadError::TimedOut(limit) => BodyError::TimedOut(limit),
            BodyReadError::Failed(message) => BodyError::Broken(message),
        })?;
        if buffer.len() as u64 + chunk.len() as u64 > limit {
            drain(body, buffer.len() as u64 + chunk.len() as u64).await;
            return Err(BodyError::TooLarge(limit));
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.freeze())
}

/// Reads the body of `request` with the gateway's limit (its `Content-Length` checked up
/// front), answering 413 `body_too_large` or 400 `bad_body` when it cannot.
pub async fn read_request_body(
    request: &super::Incoming,
    body: &mut BodyStream,
    limit: u64,
) -> Result<Bytes, warp::reply::Response> {
    let content_length = request
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    read_limited(body, content_length, limit)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge(limit) => super::error_response(
                warp::http::StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                &format!("the request body is over the limit of {limit} bytes"),
                &request.request_id,
            ),
            BodyError::Broken(e) => super::error_response(
                warp::http::StatusCode::BAD_REQUEST,
                "bad_body",
                &format!("could not read the body: {e}"),
                &request.request_id,
            ),
            BodyError::TimedOut(limit) => body_timeout(limit, &request.request_id),
        })
}

/// 408 `body_timeout`: the client did not send the whole body within `limit`.
pub fn body_timeout(limit: Duration, request_id: &str) -> warp::reply::Response {
    let mut response = super::error_response(
        warp::http::StatusCode::REQUEST_TIMEOUT,
        "body_timeout",
        &format!(
            "the request body was not received within {} ([server] body_read_timeout)",
            humantime::format_duration(limit)
        ),
        request_id,
    );
    response
        .headers_mut()
        .insert("connection", warp::http::HeaderValue::from_static("close"));
    response
}

/// Reads and drops the rest of a refused body (bounded in size and time). Answering while the
/// client is still sending makes the server close the connection, and many clients then report
/// a reset instead of the 413.
async fn drain(body: &mut BodyStream, mut seen: u64) {
    let _ = tokio::time::timeout(DRAIN_MAX_TIME, async {
        while let Some(Ok(chunk)) = body.next().await {
            seen += chunk.len() as u64;
            if seen > DRAIN_MAX_BYTES {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(chunks: Vec<&'static [u8]>) -> BodyStream {
        Box::pin(futures::stream::iter(
            chunks.into_iter().map(|c| Ok(Bytes::from_static(c))),
        ))
    }

    #[tokio::test]
    async fn limits_apply_with_and_without_length() {
        let mut body = stream(vec![b"abc", b"def"]);
        assert_eq!(read_limited(&mut body, None, 6).await.unwrap(), "abcdef");
        let mut body = stream(vec![b"abc", b"defg"]);
        assert_eq!(
            read_limited(&mut body, None, 6).await,
            Err(BodyError::TooLarge(6))
        );
        let mut body = stream(vec![]);
        assert_eq!(
            read_limited(&mut body, Some(7), 6).await,
            Err(BodyError::TooLarge(6))
        );
    }
}
