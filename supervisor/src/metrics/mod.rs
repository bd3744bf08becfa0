//! Prometheus metrics of the supervisor: one registry of labelled families (modules, routes,
//! workers, crons, Host calls, nodes, Blocks, deployments, storage, and the supervisor's own
//! process), rendered in the text format at `/metrics`; and per-module totals the console
//! samples for its charts ([`module_totals`], [`samples`]).
//!
//! Labels are bounded: workspace, module, route pattern, handler, cron, node, block, action,
//! Host service and method, outcome. Never a raw path, an id or a payload.
//!
//! Events are recorded where they happen through [`global`]; gauges that mirror state (module
//! state, in-flight calls, storage status) are set when the exposition is rendered.

pub mod module_totals;
pub mod samples;

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub use module_totals::ModuleTotals;

/// Latency buckets of calls answered by modules (routes, workers, nodes, crons), in seconds.
const CALL_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Buckets of Host calls (a store round trip), in seconds.
const HOST_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.0,
];
/// Buckets of spawn → ready, in seconds.
const START_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Buckets of cron lateness (scheduled time → sent), in seconds.
const LATENESS_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0];

const WM: &[&str] = &["workspace", "module"];

/// Every family the supervisor exports.
pub struct Metrics {
    registry: Registry,
    /// Held while the state gauges are reset, set and gathered (two scrapes at once would
    /// otherwise see each other's half-set gauges).
    rendering: std::sync::Mutex<()>,
    module_up: IntGaugeVec,
    module_state: IntGaugeVec,
    module_in_flight: IntGaugeVec,
    module_replicas: IntGaugeVec,
    module_restarts: IntCounterVec,
    module_spawn_ready: HistogramVec,
    module_oom_kills: IntCounterVec,
    route_requests: IntCounterVec,
    route_duration: HistogramVec,
    worker_deliveries: IntCounterVec,
    worker_acks: IntCounterVec,
    worker_retries: IntCounterVec,
    worker_dead_letters: IntCounterVec,
    worker_in_flight: IntGaugeVec,
    worker_backlog: IntGaugeVec,
    worker_duration: HistogramVec,
    cron_runs: IntCounterVec,
    cron_lateness: HistogramVec,
    cron_duration: HistogramVec,
    host_calls: IntCounterVec,
    host_duration: HistogramVec,
    node_invocations: IntCounterVec,
    node_duration: HistogramVec,
    block_invocations: IntCounterVec,
    deployments: IntCounterVec,
    deliveries: IntCounterVec,
    delivery_duration: HistogramVec,
    storage_status: IntGaugeVec,
}

/// The process-wide metrics.
pub fn global() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let family = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
    registry
        .register(Box::new(family.clone()))
        .expect("unique name");
    family
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let family = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge");
    registry
        .register(Box::new(family.clone()))
        .expect("unique name");
    family
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    let family = HistogramVec::new(opts, labels).expect("valid histogram");
    registry
        .register(Box::new(family.clone()))
        .expect("unique name");
    family
}

/// A route's status class label.
fn class(status: u16) -> &'static str {
    match status / 100 {
        0 | 1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    fn new() -> Self {
        let r = Registry::new();
        let ws_module_handler = &["workspace", "module", "handler"];
        let ws_module_cron = &["workspace", "module", "cron"];
        let metrics = Self {
            module_up: gauge(&r, "convotic_module_up", "1 when the module is ready.", WM),
            module_state: gauge(
                &r,
                "convotic_module_state",
                "1 for the module's current state.",
                &["workspace", "module", "state"],
            ),
            module_in_flight: gauge(
                &r,
                "convotic_module_in_flight",
                "Invocations sent to the module and not answered yet.",
                WM,
            ),
            module_replicas: gauge(
                &r,
                "convotic_module_replicas",
                "Instances the module runs.",
                WM,
            ),
            module_restarts: counter(
                &r,
                "convotic_module_restarts_total",
                "Instances started again after one ended (crash, failed probes, operator).",
                WM,
            ),
            module_spawn_ready: histogram(
                &r,
                "convotic_module_spawn_ready_seconds",
                "Time from spawning an instance to its being ready.",
                WM,
                START_BUCKETS,
            ),
            module_oom_kills: counter(
                &r,
                "convotic_module_oom_kills_total",
                "Instances killed for going over their memory limit.",
                WM,
            ),
            route_requests: counter(
                &r,
                "convotic_route_requests_total",
                "Route requests answered, by route pattern and status class.",
                &["workspace", "module", "method", "route", "class"],
            ),
            route_duration: histogram(
                &r,
                "convotic_route_duration_seconds",
                "Time to answer a route request.",
                &["workspace", "module", "method", "route"],
                CALL_BUCKETS,
            ),
            worker_deliveries: counter(
                &r,
                "convotic_worker_deliveries_total",
                "Messages delivered to a worker handler (redeliveries included).",
                ws_module_handler,
            ),
            worker_acks: counter(
                &r,
                "convotic_worker_acks_total",
                "Messages a worker handler acknowledged.",
                ws_module_handler,
            ),
            worker_retries: counter(
                &r,
                "convotic_worker_retries_total",
                "Messages scheduled for another attempt.",
                ws_module_handler,
            ),
            worker_dead_letters: counter(
                &r,
                "convotic_worker_dead_letters_total",
                "Messages moved to the dead letters.",
                ws_module_handler,
            ),
            worker_in_flight: gauge(
                &r,
                "convotic_worker_in_flight",
                "Messages being handled now.",
                ws_module_handler,
            ),
            worker_backlog: gauge(
                &r,
                "convotic_worker_backlog",
                "Messages waiting for the handler (sampled every few seconds).",
                ws_module_handler,
            ),
            worker_duration: histogram(
                &r,
                "convotic_worker_duration_seconds",
                "Time a worker handler took for a message.",
                ws_module_handler,
                CALL_BUCKETS,
            ),
            cron_runs: counter(
                &r,
                "convotic_cron_runs_total",
                "Cron runs, by outcome.",
                &["workspace", "module", "cron", "outcome"],
            ),
            cron_lateness: histogram(
                &r,
                "convotic_cron_lateness_seconds",
                "Time from a tick's scheduled time to its run starting.",
                ws_module_cron,
                LATENESS_BUCKETS,
            ),
            cron_duration: histogram(
                &r,
                "convotic_cron_run_duration_seconds",
                "Time a cron run took.",
                ws_module_cron,
                CALL_BUCKETS,
            ),
            host_calls: counter(
                &r,
                "convotic_host_calls_total",
                "Host calls modules made, by service, method and result code.",
                &["workspace", "module", "service", "method", "code"],
            ),
            host_duration: histogram(
                &r,
                "convotic_host_call_duration_seconds",
                "Time to answer a Host call.",
                &["workspace", "module", "service", "method"],
                HOST_BUCKETS,
            ),
            node_invocations: counter(
                &r,
                "convotic_node_invocations_total",
                "Workflow node invocations, by outcome.",
                &["workspace", "module", "node", "outcome"],
            ),
            node_duration: histogram(
                &r,
                "convotic_node_invocation_duration_seconds",
                "Time a node invocation took.",
                &["workspace", "module", "node"],
                CALL_BUCKETS,
            ),
            block_invocations: counter(
                &r,
                "convotic_block_invocations_total",
                "Block calls (actions, connection tests), by outcome.",
                &["workspace", "module", "block", "action", "outcome"],
            ),
            deployments: counter(
                &r,
                "convotic_deployments_total",
                "Deployments and rollbacks, by outcome.",
                &["workspace", "module", "operation", "outcome"],
            ),
            deliveries: counter(
                &r,
                "convotic_deliveries_total",
                "Delivery attempts of messages and workflow runs, by target kind and outcome.",
                &["workspace", "outbox", "kind", "outcome"],
            ),
            delivery_duration: histogram(
                &r,
                "convotic_delivery_duration_seconds",
                "Time one delivery attempt took.",
                &["workspace", "outbox", "kind"],
                CALL_BUCKETS,
            ),
            storage_status: gauge(
                &r,
                "convotic_storage_status",
                "1 for the current state of the supervisor's storage (ok, full, read_only, unreachable).",
                &["state"],
            ),
            registry: r,
            rendering: std::sync::Mutex::new(()),
        };
        let process = prometheus::process_collector::ProcessCollector::for_self();
        // Only fails on a duplicate name, which a fresh registry cannot have.
        let _ = metrics.registry.register(Box::new(process));
        metrics
    }

    /// A module's instance started again.
    pub fn module_restarted(&self, workspace: &str, module: &str) {
        self.module_restarts
            .with_label_values(&[workspace, module])
            .inc();
    }

    /// A module's instance became ready `elapsed` after its spawn.
    pub fn module_started(&self, workspace: &str, module: &str, elapsed: Duration) {
        self.module_spawn_ready
            .with_label_values(&[workspace, module])
            .observe(elapsed.as_secs_f64());
    }

    /// A module's instance was killed for its memory.
    pub fn module_oom_killed(&self, workspace: &str, module: &str) {
        self.module_oom_kills
            .with_label_values(&[workspace, module])
            .inc();
    }

    /// A route request was answered (`route` is the matched pattern, or `unmatched`).
    pub fn route_answered(&self, labels: [&str; 4], status: u16, elapsed: Duration) {
        let [workspace, module, method, route] = labels;
        self.route_requests
            .with_label_values(&[workspace, module, method, route, class(status)])
            .inc();
        self.route_duration
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// The counters of one worker handler, to record its deliveries.
    pub fn worker(&self, workspace: &str, module: &str, handler: &str) -> WorkerMetrics {
        let labels = [workspace, module, handler];
        WorkerMetrics {
            deliveries: self.worker_deliveries.with_label_values(&labels),
            acks: self.worker_acks.with_label_values(&labels),
            retries: self.worker_retries.with_label_values(&labels),
            dead_letters: self.worker_dead_letters.with_label_values(&labels),
            in_flight: self.worker_in_flight.with_label_values(&labels),
            duration: self.worker_duration.with_label_values(&labels),
        }
    }

    /// A handler's numbers now (for the console).
    pub fn worker_numbers(&self, labels: [&str; 3]) -> WorkerNumbers {
        WorkerNumbers {
            deliveries: self.worker_deliveries.with_label_values(&labels).get(),
            acks: self.worker_acks.with_label_values(&labels).get(),
            retries: self.worker_retries.with_label_values(&labels).get(),
            dead_letters: self.worker_dead_letters.with_label_values(&labels).get(),
            in_flight: self.worker_in_flight.with_label_values(&labels).get(),
            backlog: self.worker_backlog.with_label_values(&labels).get(),
        }
    }

    /// Sets a handler's backlog (messages waiting).
    pub fn set_worker_backlog(&self, labels: [&str; 3], waiting: u64) {
        self.worker_backlog
            .with_label_values(&labels)
            .set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }

    /// A cron run ended with `outcome` (ok, error, timeout, skipped, ...).
    pub fn cron_ran(
        &self,
        labels: [&str; 3],
        outcome: &str,
        lateness: Option<Duration>,
        took: Option<Duration>,
    ) {
        let [workspace, module, cron] = labels;
        self.cron_runs
            .with_label_values(&[workspace, module, cron, outcome])
            .inc();
        if let Some(lateness) = lateness {
            self.cron_lateness
                .with_label_values(&labels)
                .observe(lateness.as_secs_f64());
        }
        if let Some(took) = took {
            self.cron_duration
                .with_label_values(&labels)
                .observe(took.as_secs_f64());
        }
    }

    /// A Host call was answered with `code` (`ok` or the gRPC code's name).
    pub fn host_called(&self, labels: [&str; 4], code: &str, elapsed: Duration) {
        let [workspace, module, service, method] = labels;
        self.host_calls
            .with_label_values(&[workspace, module, service, method, code])
            .inc();
        self.host_duration
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// A node invocation ended with `outcome`.
    pub fn node_invoked(&self, labels: [&str; 3], outcome: &str, elapsed: Duration) {
        let [workspace, module, node] = labels;
        self.node_invocations
            .with_label_values(&[workspace, module, node, outcome])
            .inc();
        self.node_duration
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// A Block call (`action`, or `test_connection`) ended with `outcome`.
    pub fn block_invoked(&self, labels: [&str; 4], outcome: &str) {
        let [workspace, module, block, action] = labels;
        self.block_invocations
            .with_label_values(&[workspace, module, block, action, outcome])
            .inc();
    }

    /// A deployment operation (`deploy`, `rollback`) ended with `outcome` (`active`, `failed`).
    pub fn deployment_ended(&self, workspace: &str, module: &str, operation: &str, outcome: &str) {
        self.deployments
            .with_label_values(&[workspace, module, operation, outcome])
            .inc();
    }

    /// A delivery attempt (`[workspace, outbox, kind]`) ended with `outcome` (`accepted`,
    /// `retried`, `failed`).
    pub fn delivered(&self, labels: [&str; 3], outcome: &str, elapsed: Duration) {
        let [workspace, outbox, kind] = labels;
        self.deliveries
            .with_label_values(&[workspace, outbox, kind, outcome])
            .inc();
        self.delivery_duration
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Drops every series of a module that left the set, so removed modules do not linger.
    pub fn forget_module(&self, workspace: &str, module: &str) {
        fn forget<T: prometheus::core::MetricVecBuilder>(
            family: &prometheus::core::MetricVec<T>,
            workspace: &str,
            module: &str,
        ) {
            use prometheus::core::Collector as _;
            for gathered in family.collect() {
                for metric in gathered.get_metric() {
                    let labels = metric.get_label();
                    let has = |name: &str, value: &str| {
                        labels
                            .iter()
                            .any(|l| l.name() == name && l.value() == value)
                    };
                    if has("workspace", workspace) && has("module", module) {
                        let labels: std::collections::HashMap<&str, &str> =
                            labels.iter().map(|l| (l.name(), l.value())).collect();
                        let _ = family.remove(&labels);
                    }
                }
            }
        }
        for family in [
            &self.module_up,
            &self.module_state,
            &self.module_in_flight,
            &self.module_replicas,
            &self.worker_in_flight,
            &self.worker_backlog,
        ] {
            forget(family, workspace, module);
        }
        for family in [
            &self.module_restarts,
            &self.module_oom_kills,
            &self.route_requests,
            &self.worker_deliveries,
            &self.worker_acks,
            &self.worker_retries,
            &self.worker_dead_letters,
            &self.cron_runs,
            &self.host_calls,
            &self.node_invocations,
            &self.block_invocations,
            &self.deployments,
        ] {
            forget(family, workspace, module);
        }
        for family in [
            &self.module_spawn_ready,
            &self.route_duration,
            &self.worker_duration,
            &self.cron_lateness,
            &self.cron_duration,
            &self.host_duration,
            &self.node_duration,
        ] {
            forget(family, workspace, module);
        }
    }

    /// Renders the exposition, after setting the gauges that mirror state from `modules`
    /// (each module's status) and `storage` (the current storage state's label).
    pub fn render(&self, modules: &[ModuleGauges], storage: &str) -> String {
        let _rendering = self.rendering.lock().unwrap_or_else(|e| e.into_inner());
        self.module_up.reset();
        self.module_state.reset();
        self.module_in_flight.reset();
        self.module_replicas.reset();
        for m in modules {
            let labels = [m.workspace.as_str(), m.module.as_str()];
            self.module_up
                .with_label_values(&labels)
                .set(i64::from(m.state == "ready"));
            self.module_state
                .with_label_values(&[m.workspace.as_str(), m.module.as_str(), m.state])
                .set(1);
            self.module_in_flight
                .with_label_values(&labels)
                .set(m.in_flight as i64);
            self.module_replicas
                .with_label_values(&labels)
                .set(m.replicas as i64);
        }
        for state in ["ok", "full", "read_only", "unreachable"] {
            self.storage_status
                .with_label_values(&[state])
                .set(i64::from(state == storage));
        }
        let mut out = Vec::new();
        // Encoding into a Vec only fails on a family without samples' type, which none has.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// What the exposition says of one module's state.
pub struct ModuleGauges {
    /// Workspace.
    pub workspace: String,
    /// Module name.
    pub module: String,
    /// State, as in the admin API (`ready`, `crash-loop`, ...).
    pub state: &'static str,
    /// Calls in flight.
    pub in_flight: usize,
    /// Replicas.
    pub replicas: usize,
}

/// One handler's totals since the supervisor started.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerNumbers {
    /// Deliveries (redeliveries included).
    pub deliveries: u64,
    /// Acknowledged.
    pub acks: u64,
    /// Retried.
    pub retries: u64,
    /// Dead-lettered.
    pub dead_letters: u64,
    /// Being handled now.
    pub in_flight: i64,
    /// Waiting (as last sampled).
    pub backlog: i64,
}

/// Counters of one worker handler, taken once per subscription.
#[derive(Clone)]
pub struct WorkerMetrics {
    deliveries: prometheus::IntCounter,
    acks: prometheus::IntCounter,
    retries: prometheus::IntCounter,
    dead_letters: prometheus::IntCounter,
    in_flight: prometheus::IntGauge,
    duration: prometheus::Histogram,
}

/// How a delivery was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Acknowledged.
    Ack,
    /// Scheduled for another attempt.
    Retry,
    /// Moved to the dead letters.
    DeadLetter,
}

impl WorkerMetrics {
    /// A delivery starts being handled.
    pub fn delivered(&self) {
        self.deliveries.inc();
        self.in_flight.inc();
    }

    /// A delivery was settled `elapsed` after it was delivered.
    pub fn settled(&self, how: Settled, elapsed: Duration) {
        self.in_flight.dec();
        self.duration.observe(elapsed.as_secs_f64());
        match how {
            Settled::Ack => self.acks.inc(),
            Settled::Retry => self.retries.inc(),
            Settled::DeadLetter => self.dead_letters.inc(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_with_labels_and_forget_removes_a_module() {
        let metrics = Metrics::new();
        metrics.route_answered(
            ["ws_a", "m", "GET", "/hello/{name}"],
            200,
            Duration::from_millis(3),
        );
        metrics.route_answered(["ws_a", "other", "GET", "/"], 503, Duration::from_millis(3));
        let worker = metrics.worker("ws_a", "m", "orders");
        worker.delivered();
        worker.settled(Settled::DeadLetter, Duration::from_millis(1));
        metrics.cron_ran(["ws_a", "m", "nightly"], "ok", Some(Duration::ZERO), None);
        let modules = [ModuleGauges {
            workspace: "ws_a".into(),
            module: "m".into(),
            state: "crash-loop",
            in_flight: 2,
            replicas: 1,
        }];
        let out = metrics.render(&modules, "ok");
        for line in [
            "convotic_route_requests_total{class=\"2xx\",method=\"GET\",module=\"m\",route=\"/hello/{name}\",workspace=\"ws_a\"} 1",
            "convotic_worker_dead_letters_total{handler=\"orders\",module=\"m\",workspace=\"ws_a\"} 1",
            "convotic_worker_in_flight{handler=\"orders\",module=\"m\",workspace=\"ws_a\"} 0",
            "convotic_module_state{module=\"m\",state=\"crash-loop\",workspace=\"ws_a\"} 1",
            "convotic_module_up{module=\"m\",workspace=\"ws_a\"} 0",
            "convotic_storage_status{state=\"ok\"} 1",
            "convotic_cron_runs_total{cron=\"nightly\",module=\"m\",outcome=\"ok\",workspace=\"ws_a\"} 1",
        ] {
            assert!(out.contains(line), "missing {line} in:\n{out}");
        }
        assert!(out.contains("# TYPE convotic_route_duration_seconds histogram"));
        metrics.forget_module("ws_a", "m");
        let out = metrics.render(&[], "ok");
        assert!(!out.contains("module=\"m\""), "{out}");
        assert!(out.contains("module=\"other\""), "{out}");
    }
}
