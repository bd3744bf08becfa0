//! Prometheus metrics: per-module route counters and latency histograms (atomics, recorded on
//! the request path without locks), and module state gauges, rendered as text at `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// Route metrics of one module.
#[derive(Debug, Default)]
pub struct RouteMetrics {
    /// Responses by status class: index 0 = 1xx ... 4 = 5xx.
    by_class: [AtomicU64; 5],
    /// Cumulative histogram counts, one per bucket plus +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl RouteMetrics {
    /// Records one answered request.
    pub fn record(&self, status: u16, elapsed: Duration) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Appends this module's series to `out`.
    pub fn render(&self, labels: &str, out: &mut String) {
        for (i, counter) in self.by_class.iter().enumerate() {
            let _ = writeln!(
                out,
                "convotic_route_requests_total{{{labels},class=\"{}xx\"}} {}",
                i + 1,
                counter.load(Ordering::Relaxed)
            );
        }
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "convotic_route_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += self.buckets[BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "convotic_route_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {cumulative}"
        );
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "convotic_route_duration_seconds_sum{{{labels}}} {sum}");
        let _ = writeln!(
            out,
            "convotic_route_duration_seconds_count{{{labels}}} {cumulative}"
        );
    }
}

/// Header lines of the exposition.
pub const HEADER: &str = "\
# HELP convotic_module_up 1 when the module is ready.
# TYPE convotic_module_up gauge
# HELP convotic_module_restarts_total Restarts since the supervisor started.
# TYPE convotic_module_restarts_total counter
# HELP convotic_module_in_flight Invocations sent to the module and not answered yet.
# TYPE convotic_module_in_flight gauge
# HELP convotic_route_requests_total Route requests answered, by status class.
# TYPE convotic_route_requests_total counter
# HELP convotic_route_duration_seconds Time to answer a route request.
# TYPE convotic_route_duration_seconds histogram
";

/// `workspace="..",module=".."`, escaped.
pub fn labels(workspace: &str, module: &str) -> String {
    let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "workspace=\"{}\",module=\"{}\"",
        escape(workspace),
        escape(module)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let metrics = RouteMetrics::default();
        metrics.record(200, Duration::from_micros(500));
        metrics.record(201, Duration::from_millis(20));
        metrics.record(503, Duration::from_secs(60));
        let mut out = String::new();
        metrics.render(&labels("ws_a", "m"), &mut out);
        assert!(out.contains("class=\"2xx\"} 2"), "{out}");
        assert!(out.contains("class=\"5xx\"} 1"));
        assert!(out.contains("le=\"0.001\"} 1"));
        assert!(out.contains("le=\"0.025\"} 2"));
        assert!(out.contains("le=\"30\"} 2"));
        assert!(out.contains("le=\"+Inf\"} 3"));
        assert!(out.contains("_count{workspace=\"ws_a\",module=\"m\"} 3"));
    }
}
