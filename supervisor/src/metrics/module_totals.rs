//! Per-module totals kept beside the Prometheus families: route answers by status class, a
//! route latency histogram and worker messages handled, as plain atomics (recorded on the
//! request path without locks). The console's charts are drawn from periodic snapshots of
//! them ([`super::samples`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// One module's totals since it joined the set.
#[derive(Debug, Default)]
pub struct ModuleTotals {
    /// Responses by status class: index 0 = 1xx ... 4 = 5xx.
    by_class: [AtomicU64; 5],
    /// Histogram counts, one per bucket plus +Inf (not cumulative).
    buckets: [AtomicU64; BUCKETS.len() + 1],
    /// Worker messages settled (acked, retried or dead-lettered).
    messages: AtomicU64,
    /// Worker messages that failed (retried or dead-lettered).
    message_failures: AtomicU64,
}

/// A copy of [`ModuleTotals`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Route answers by class (1xx..5xx).
    pub by_class: [u64; 5],
    /// Route latency counts per bucket (+Inf last), not cumulative.
    pub buckets: [u64; BUCKETS.len() + 1],
    /// Worker messages settled.
    pub messages: u64,
    /// Worker messages that failed.
    pub message_failures: u64,
}

impl ModuleTotals {
    /// Records one answered route request.
    pub fn record(&self, status: u16, elapsed: Duration) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// Records one settled worker message.
    pub fn record_message(&self, failed: bool) {
        self.messages.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.message_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The totals now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            by_class: std::array::from_fn(|i| self.by_class[i].load(Ordering::Relaxed)),
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            messages: self.messages.load(Ordering::Relaxed),
            message_failures: self.message_failures.load(Ordering::Relaxed),
        }
    }
}

impl Snapshot {
    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        Snapshot {
            by_class: std::array::from_fn(|i| self.by_class[i].saturating_sub(earlier.by_class[i])),
            buckets: std::array::from_fn(|i| self.buckets[i].saturating_sub(earlier.buckets[i])),
            messages: self.messages.saturating_sub(earlier.messages),
            message_failures: self
                .message_failures
                .saturating_sub(earlier.message_failures),
        }
    }

    /// Route answers in all.
    pub fn requests(&self) -> u64 {
        self.by_class.iter().sum()
    }

    /// The upper bound of the bucket holding quantile `q` of the latencies, in seconds (None
    /// without requests; 30+ s shows as infinity).
    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        let total = self.buckets.iter().sum::<u64>();
        if total == 0 {
            return None;
        }
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in self.buckets.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(BUCKETS.get(i).copied().unwrap_or(f64::INFINITY));
            }
        }
        Some(f64::INFINITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_subtract_and_give_quantiles() {
        let totals = ModuleTotals::default();
        let before = totals.snapshot();
        totals.record(200, Duration::from_micros(500));
        totals.record(201, Duration::from_millis(20));
        totals.record(503, Duration::from_secs(60));
        totals.record_message(false);
        totals.record_message(true);
        let delta = totals.snapshot().since(&before);
        assert_eq!(delta.by_class, [0, 2, 0, 0, 1]);
        assert_eq!(delta.requests(), 3);
        assert_eq!(delta.messages, 2);
        assert_eq!(delta.message_failures, 1);
        assert_eq!(delta.latency_quantile(0.3), Some(0.001));
        assert_eq!(delta.latency_quantile(0.5), Some(0.025));
        assert_eq!(delta.latency_quantile(0.99), Some(f64::INFINITY));
        assert_eq!(Snapshot::default().latency_quantile(0.99), None);
    }
}
