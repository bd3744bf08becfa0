//! Request bodies, read with a size limit enforced on the stream itself: `Content-Length`
//! is checked up front, and chunked bodies (no length, common for webhook senders) are cut off
//! as soon as they pass the limit.

use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

/// The request body as a stream of chunks.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, warp::Error>> + Send>>;

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Over the limit (the limit, in bytes).
    TooLarge(u64),
    /// The client stopped sending or the connection failed.
    Broken(String),
}

/// Reads the whole body, refusing more than `limit` bytes.
pub async fn read_limited(
    body: &mut BodyStream,
    content_length: Option<u64>,
    limit: u64,
) -> Result<Bytes, BodyError> {
    if content_length.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut buffer = BytesMut::with_capacity(content_length.unwrap_or(0).min(limit) as usize);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| BodyError::Broken(e.to_string()))?;
        if buffer.len() as u64 + chunk.len() as u64 > limit {
            return Err(BodyError::TooLarge(limit));
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.freeze())
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
