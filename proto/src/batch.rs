//! Frame batching for the `work.batch` and `host.stream` features: a stream over a channel of
//! frames that yields, each time it is polled, everything already queued (bounded in count and
//! bytes), so a burst leaves in one frame while a lone frame leaves at once, never waiting for
//! company.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;

/// Yields `Vec`s of the items queued on a channel at the moment of each poll.
///
/// An item that `batchable` rejects always travels alone; an item that would take a batch
/// past `max_bytes` (as measured by `weight`) starts the next one. A batch holds at least one
/// item, whatever its weight.
pub struct ReadyBatches<T> {
    rx: mpsc::Receiver<T>,
    carry: Option<T>,
    max_items: usize,
    max_bytes: usize,
    weight: fn(&T) -> usize,
    batchable: fn(&T) -> bool,
}

impl<T> ReadyBatches<T> {
    /// Batches of at most `max_items` items and `max_bytes` bytes from `rx`.
    pub fn new(
        rx: mpsc::Receiver<T>,
        max_items: usize,
        max_bytes: usize,
        weight: fn(&T) -> usize,
        batchable: fn(&T) -> bool,
    ) -> Self {
        Self {
            rx,
            carry: None,
            max_items: max_items.max(1),
            max_bytes,
            weight,
            batchable,
        }
    }
}

impl<T> Unpin for ReadyBatches<T> {}

impl<T> Stream for ReadyBatches<T> {
    type Item = Vec<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Vec<T>>> {
        let this = self.get_mut();
        let first = match this.carry.take() {
            Some(item) => item,
            None => match this.rx.poll_recv(cx) {
                Poll::Ready(Some(item)) => item,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            },
        };
        if !(this.batchable)(&first) {
            return Poll::Ready(Some(vec![first]));
        }
        let mut bytes = (this.weight)(&first);
        let mut batch = vec![first];
        while batch.len() < this.max_items {
            let Ok(item) = this.rx.try_recv() else { break };
            let size = (this.weight)(&item);
            if !(this.batchable)(&item) || bytes + size > this.max_bytes {
                this.carry = Some(item);
                break;
            }
            bytes += size;
            batch.push(item);
        }
        Poll::Ready(Some(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll_all(batches: &mut ReadyBatches<u32>) -> Vec<Vec<u32>> {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut out = Vec::new();
        while let Poll::Ready(Some(batch)) = Pin::new(&mut *batches).poll_next(&mut cx) {
            out.push(batch);
        }
        out
    }

    fn noop_waker() -> std::task::Waker {
        std::task::Waker::noop().clone()
    }

    #[test]
    fn what_is_queued_leaves_together_within_the_bounds() {
        let (tx, rx) = mpsc::channel(64);
        // Items of weight = value; 0 is not batchable.
        let mut batches = ReadyBatches::new(rx, 3, 10, |v| *v as usize, |v| *v != 0);
        for v in [1, 2, 3, 4, 5, 0, 6, 9, 9] {
            tx.try_send(v).unwrap();
        }
        assert_eq!(
            poll_all(&mut batches),
            vec![
                vec![1, 2, 3],
                vec![4, 5],
                vec![0],
                vec![6],
                vec![9],
                vec![9]
            ]
        );
        // A lone item leaves at once; nothing is held back.
        tx.try_send(7).unwrap();
        assert_eq!(poll_all(&mut batches), vec![vec![7]]);
        drop(tx);
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(Pin::new(&mut batches).poll_next(&mut cx), Poll::Ready(None));
    }

    #[test]
    fn an_item_heavier_than_the_limit_still_travels() {
        let (tx, rx) = mpsc::channel(8);
        let mut batches = ReadyBatches::new(rx, 8, 4, |v| *v as usize, |_| true);
        tx.try_send(100).unwrap();
        tx.try_send(1).unwrap();
        assert_eq!(poll_all(&mut batches), vec![vec![100], vec![1]]);
    }
}
