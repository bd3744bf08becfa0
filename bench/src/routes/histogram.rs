//! A latency histogram with bounded memory: log-linear buckets (64 per power of two) over
//! nanoseconds, so any recorded value is reported within 1.6 % of itself.

use std::time::Duration;

/// Sub-buckets per power of two, as a power of two.
const SUB_BITS: u32 = 6;
const SUB_COUNT: usize = 1 << SUB_BITS;
/// Buckets needed to cover every `u64`.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB_COUNT;

/// Counts of latencies.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max_ns: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max_ns: 0,
        }
    }
}

/// The bucket of a value.
fn index(value: u64) -> usize {
    if value < SUB_COUNT as u64 {
        return value as usize;
    }
    let msb = 63 - value.leading_zeros();
    let shift = msb - SUB_BITS;
    let sub = ((value >> shift) as usize) & (SUB_COUNT - 1);
    ((shift as usize + 1) << SUB_BITS) | sub
}

/// The middle of a bucket's range.
fn value_of(index: usize) -> u64 {
    if index < SUB_COUNT {
        return index as u64;
    }
    let shift = (index >> SUB_BITS) as u32 - 1;
    let sub = (index & (SUB_COUNT - 1)) as u64;
    let low = (SUB_COUNT as u64 + sub) << shift;
    low + (1u64 << shift) / 2
}

impl Histogram {
    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.counts[index(ns)] += 1;
        self.total += 1;
        self.max_ns = self.max_ns.max(ns);
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `q` quantile (0..=1), `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Duration::from_nanos(value_of(i).min(self.max_ns)));
            }
        }
        Some(Duration::from_nanos(self.max_ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_precise() {
        let mut last = 0;
        for v in (0..100_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let i = index(v);
            assert!(i >= last && i < BUCKETS, "{v}");
            last = i;
            let back = value_of(i) as f64;
            assert!(
                (back - v as f64).abs() <= (v as f64 / 64.0).max(0.5),
                "{v} → {back}"
            );
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for us in 1..=100u64 {
            h.record(Duration::from_micros(us));
        }
        let mut other = Histogram::default();
        other.record(Duration::from_millis(10));
        h.merge(&other);
        assert_eq!(h.count(), 101);
        let p50 = h.quantile(0.5).unwrap().as_nanos() as f64;
        assert!((p50 - 51_000.0).abs() < 51_000.0 / 60.0, "{p50}");
        let p99 = h.quantile(0.99).unwrap().as_nanos() as f64;
        assert!((p99 - 100_000.0).abs() < 100_000.0 / 60.0, "{p99}");
        assert_eq!(h.quantile(1.0), Some(Duration::from_millis(10)));
    }
}
