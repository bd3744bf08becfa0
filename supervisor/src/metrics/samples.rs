//! Recent samples of one module's totals, for the console's charts: every few seconds the
//! change since the previous sample becomes a point (request rate, error rate, p99 latency,
//! worker throughput), and the last [`KEPT`] points are kept in memory.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use super::module_totals::Snapshot;

/// Points kept (10 minutes at the default interval).
pub const KEPT: usize = 120;
/// Time between samples.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// One point of a module's charts.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    /// When it was taken (ms since the Unix epoch).
    pub at_ms: u64,
    /// Route requests per second.
    pub requests_per_s: f64,
    /// Share of route answers that were 5xx (0..1).
    pub error_ratio: f64,
    /// The 99th percentile of route latency, in milliseconds (bucket bound; None without
    /// requests).
    pub p99_ms: Option<f64>,
    /// Worker messages settled per second.
    pub messages_per_s: f64,
}

/// A module's recent points and the snapshot they were computed from.
#[derive(Debug, Default)]
pub struct Series {
    inner: Mutex<(Option<Snapshot>, VecDeque<Point>)>,
}

impl Series {
    /// Adds the point for what changed since the last call (the first call only remembers).
    pub fn sample(&self, now: Snapshot, at_ms: u64, interval: Duration) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (last, points) = &mut *inner;
        if let Some(previous) = last.as_ref() {
            let delta = now.since(previous);
            let seconds = interval.as_secs_f64().max(0.001);
            let requests = delta.requests();
            let p99 =
                delta
                    .latency_quantile(0.99)
                    .map(|s| if s.is_finite() { s * 1000.0 } else { 30_000.0 });
            points.push_back(Point {
                at_ms,
                requests_per_s: requests as f64 / seconds,
                error_ratio: if requests == 0 {
                    0.0
                } else {
                    delta.by_class[4] as f64 / requests as f64
                },
                p99_ms: p99,
                messages_per_s: delta.messages as f64 / seconds,
            });
            while points.len() > KEPT {
                points.pop_front();
            }
        }
        *last = Some(now);
    }

    /// The points kept, oldest first.
    pub fn points(&self) -> Vec<Point> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.1.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ModuleTotals;

    #[test]
    fn points_are_rates_of_the_change() {
        let totals = ModuleTotals::default();
        let series = Series::default();
        series.sample(totals.snapshot(), 0, INTERVAL);
        assert!(series.points().is_empty());
        for _ in 0..9 {
            totals.record(200, Duration::from_millis(2));
        }
        totals.record(500, Duration::from_millis(200));
        totals.record_message(false);
        series.sample(totals.snapshot(), 5_000, INTERVAL);
        let points = series.points();
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].requests_per_s, 2.0);
        assert_eq!(points[0].error_ratio, 0.1);
        assert_eq!(points[0].p99_ms, Some(250.0));
        assert_eq!(points[0].messages_per_s, 0.2);
        for i in 0..KEPT + 5 {
            series.sample(totals.snapshot(), i as u64, INTERVAL);
        }
        assert_eq!(series.points().len(), KEPT);
        assert_eq!(series.points()[KEPT - 1].requests_per_s, 0.0);
    }
}
