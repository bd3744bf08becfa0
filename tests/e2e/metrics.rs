//! `/metrics` on a live supervisor after routes, Host calls, workers (a dead letter included),
//! crons, nodes, a Block action and test, deployments and an OOM kill: Prometheus's own
//! `promtool check metrics` accepts the exposition, and every family of docs/metrics.md is
//! there with a non-zero sample. Labels stay bounded: no raw path reaches them.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use convotic_e2e::showcase::Showcase;
use convotic_e2e::ModuleEntry;
use reqwest::Method;

/// Families that must have a sample above zero after the traffic.
const NON_ZERO: &[&str] = &[
    "convotic_module_up",
    "convotic_module_state",
    "convotic_module_restarts_total",
    "convotic_module_replicas",
    "convotic_module_spawn_ready_seconds_count",
    "convotic_module_oom_kills_total",
    "convotic_route_requests_total",
    "convotic_route_duration_seconds_count",
    "convotic_worker_deliveries_total",
    "convotic_worker_acks_total",
    "convotic_worker_dead_letters_total",
    "convotic_worker_duration_seconds_count",
    "convotic_cron_runs_total",
    "convotic_cron_lateness_seconds_count",
    "convotic_cron_run_duration_seconds_count",
    "convotic_host_calls_total",
    "convotic_host_call_duration_seconds_count",
    "convotic_node_invocations_total",
    "convotic_node_invocation_duration_seconds_count",
    "convotic_block_invocations_total",
    "convotic_deployments_total",
    "convotic_storage_status",
    "process_resident_memory_bytes",
    "process_open_fds",
];

/// Families that must be present (their value may be zero).
const PRESENT: &[&str] = &[
    "convotic_module_in_flight",
    "convotic_worker_retries_total",
    "convotic_worker_in_flight",
    "convotic_worker_backlog",
    // Whole seconds in the client library's process collector: 0 for a young process.
    "process_cpu_seconds_total",
];

fn promtool() -> String {
    for candidate in ["promtool", "/usr/bin/promtool"] {
        if Command::new(candidate).arg("--version").output().is_ok() {
            return candidate.to_string();
        }
    }
    panic!("promtool is missing: install Debian's prometheus package (scripts/test does)");
}

/// The highest value of `family`'s samples (None when it has none).
fn highest(exposition: &str, family: &str) -> Option<f64> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .reduce(f64::max)
}

#[test]
fn every_family_is_exported_and_promtool_accepts_it() {
    let hog = ModuleEntry::fixture("hog", "ok").with("memory = \"64MiB\"");
    let mut hog = hog;
    hog.workspace = "ws_demo".into();
    let show = Showcase::start(vec![hog]);
    show.drive_traffic();
    show.deploy_twice();
    // Raw paths never become labels: these land on `unmatched` and the route patterns.
    for path in ["/no/such/route/12345", "/hello/someone-unique-987"] {
        show.call(Method::GET, &format!("/v1/modules/hello-rust{path}"), None);
    }
    let (status, _) = show.call(Method::GET, "/v1/modules/hog/escape/allocate/256", None);
    assert_eq!(status, 502, "the hog should be killed");
    show.sup.wait_state("hog", "ready", Duration::from_secs(60));
    // The backlog gauge is sampled every few seconds.
    std::thread::sleep(Duration::from_secs(6));

    let (status, exposition) = show.admin_text("/metrics");
    assert_eq!(status, 200, "{exposition}");
    let mut check = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    check
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition.as_bytes())
        .expect("write");
    let output = check.wait_with_output().expect("promtool");
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}\n--- exposition ---\n{exposition}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    for family in NON_ZERO {
        let value = highest(&exposition, family);
        assert!(
            value.is_some_and(|v| v > 0.0),
            "{family}: no sample above zero ({value:?}) in\n{exposition}"
        );
    }
    for family in PRESENT {
        assert!(
            highest(&exposition, family).is_some(),
            "{family}: missing in\n{exposition}"
        );
    }
    for needle in [
        "route=\"/hello/:name\"",
        "route=\"unmatched\"",
        "outcome=\"active\"",
        "service=\"contacts\"",
        "handler=\"",
    ] {
        assert!(
            exposition.contains(needle),
            "{needle} missing:\n{exposition}"
        );
    }
    assert!(!exposition.contains("12345"), "a raw path became a label");
    assert!(
        !exposition.contains("someone-unique-987"),
        "a raw path became a label"
    );

    // Without the admin token, /metrics is refused (public_metrics is off by default).
    let anonymous = show.sup.http(Method::GET, "/metrics").send().expect("get");
    assert_eq!(anonymous.status().as_u16(), 401);
}
