//! `bench sandbox`: spawn → Ready of the Rust example module under the `strict` sandbox, under
//! `strict` without cgroup limits (`memory = "unlimited"`, `pids = 0`: namespaces, private
//! root, privileges, Landlock and seccomp only), and without a sandbox (`none`), restarted in
//! turn in one supervisor so all see the same machine state. The difference to `none` is what
//! the sandbox costs at start (target: at most 10 ms).

use std::time::Duration;

use convotic_e2e::{ModuleEntry, Supervisor};

use crate::{percentile, verdict};

/// Target of what the strict profile adds to spawn → ready at the median, ms.
const STRICT_ADDS_MS: f64 = 3.0;

const SAMPLES: usize = 40;

/// The variants: (workspace, label, extra config lines).
const VARIANTS: [(&str, &str, &[&str]); 3] = [
    ("ws_strict", "strict", &[]),
    (
        "ws_nocgroup",
        "strict without cgroup limits",
        &["memory = \"unlimited\"", "pids = 0"],
    ),
    ("ws_none", "none", &["sandbox = \"none\""]),
];

/// Runs the comparison.
pub fn run() {
    let modules: Vec<ModuleEntry> = VARIANTS
        .iter()
        .map(|(workspace, _, lines)| {
            let mut entry = ModuleEntry::new("hello-rust", "hello-rust");
            entry.workspace = (*workspace).into();
            for line in *lines {
                entry = entry.with(line);
            }
            entry
        })
        .collect();
    let sup = Supervisor::start(&modules, &[]);
    sup.wait_until(Duration::from_secs(30), "all ready", |s| {
        s.get("/readyz").0 == 200
    });
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(SAMPLES); VARIANTS.len()];
    for _ in 0..SAMPLES {
        for (i, (workspace, _, _)) in VARIANTS.iter().enumerate() {
            samples[i].push(restart(&sup, workspace));
        }
    }
    for series in &mut samples {
        series.sort_by(|a, b| a.total_cmp(b));
    }
    println!(
        "\n## spawn → ready by sandbox profile, Rust example ({SAMPLES} starts each, in turn)"
    );
    println!("| profile | median | p99 | min | max |");
    println!("|---|---|---|---|---|");
    for ((_, label, _), series) in VARIANTS.iter().zip(&samples) {
        println!(
            "| {label} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
            percentile(series, 50.0),
            percentile(series, 99.0),
            series[0],
            series[series.len() - 1]
        );
    }
    let none = percentile(&samples[2], 50.0);
    let strict = percentile(&samples[0], 50.0);
    let layers = percentile(&samples[1], 50.0);
    println!(
        "strict adds {:.1} ms at the median (target ≤ {STRICT_ADDS_MS} ms: {}); without cgroup limits it adds {:.1} ms ({})",
        strict - none,
        verdict(strict - none <= STRICT_ADDS_MS),
        layers - none,
        verdict(layers - none <= STRICT_ADDS_MS)
    );
    crate::summary::record(
        "strict sandbox: added spawn → ready (median)",
        format!(
            "{:.1} ms ({:.1} ms without cgroup limits)",
            strict - none,
            layers - none
        ),
        "≤ 3 ms",
        Some(strict - none <= STRICT_ADDS_MS),
    );
}

/// Restarts hello-rust of `workspace` and returns its spawn → Ready time in ms.
fn restart(sup: &Supervisor, workspace: &str) -> f64 {
    let path = format!("/admin/v1/modules/hello-rust?workspace={workspace}");
    let before = sup.get(&path).1["instance"].clone();
    let (code, body) = sup.request(
        reqwest::Method::POST,
        &format!("/admin/v1/modules/hello-rust/restart?workspace={workspace}"),
    );
    assert_eq!(code, 202, "{body}");
    let mut status = serde_json::Value::Null;
    sup.wait_until(Duration::from_secs(30), "restart", |s| {
        status = s.get(&path).1;
        status["state"] == "ready" && status["instance"] != before
    });
    status["start_ms"].as_f64().unwrap_or(f64::NAN)
}
