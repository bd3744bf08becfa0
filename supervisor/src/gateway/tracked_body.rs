//! Response bodies as the listener hands them to a connection: cut into pieces the connection
//! asks for one at a time (so it pulls more only as the client reads), carrying what must live
//! exactly as long as the response is being sent — the connection's count of requests in
//! progress and the response's [`Reservation`] of the buffer budget.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use super::response_budget::Reservation;

/// Largest piece handed to the connection at once.
const PIECE_BYTES: usize = 64 * 1024;

/// A response body with the guards that must outlive its sending.
pub struct TrackedBody<B, G> {
    inner: B,
    pending: Bytes,
    _guard: G,
    _reservation: Option<Reservation>,
}

impl<B, G> TrackedBody<B, G> {
    /// Wraps `inner`; `guard` and `reservation` are dropped with the body.
    pub fn new(inner: B, guard: G, reservation: Option<Reservation>) -> Self {
        Self {
            inner,
            pending: Bytes::new(),
            _guard: guard,
            _reservation: reservation,
        }
    }
}

impl<B, G> Body for TrackedBody<B, G>
where
    B: Body<Data = Bytes> + Unpin,
    G: Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if !this.pending.is_empty() {
            let take = this.pending.len().min(PIECE_BYTES);
            return Poll::Ready(Some(Ok(Frame::data(this.pending.split_to(take)))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(mut data) if data.len() > PIECE_BYTES => {
                    this.pending = data.split_off(PIECE_BYTES);
                    Poll::Ready(Some(Ok(Frame::data(data))))
                }
                Ok(data) => Poll::Ready(Some(Ok(Frame::data(data)))),
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let pending = self.pending.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + pending);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + pending);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn large_bodies_come_in_pieces_with_their_size() {
        let data = Bytes::from(vec![7u8; PIECE_BYTES * 2 + 5]);
        let body = TrackedBody::new(http_body_util::Full::new(data.clone()), (), None);
        assert_eq!(body.size_hint().exact(), Some(data.len() as u64));
        let mut body = body;
        let mut sizes = Vec::new();
        let mut all = Vec::new();
        while let Some(frame) = body.frame().await {
            let chunk = frame.expect("frame").into_data().expect("data");
            sizes.push(chunk.len());
            all.extend_from_slice(&chunk);
        }
        assert_eq!(sizes, vec![PIECE_BYTES, PIECE_BYTES, 5]);
        assert_eq!(all, data);
    }
}
