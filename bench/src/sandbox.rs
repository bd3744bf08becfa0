//! `bench sandbox`: spawn → Ready of the Rust example module under the `strict` sandbox and
//! without one (`none`), restarted alternately in one supervisor so both see the same machine
//! state. The difference is what the sandbox costs at start (target: at most 10 ms).

use std::time::Duration;

use convotic_e2e::{ModuleEntry, Supervisor};

use crate::{percentile, verdict};

const SAMPLES: usize = 40;

/// Runs the comparison.
pub fn run() {
    let mut strict = ModuleEntry::new("hello-rust", "hello-rust");
    strict.workspace = "ws_strict".into();
    let mut none = ModuleEntry::new("hello-rust", "hello-rust").with("sandbox = \"none\"");
    none.workspace = "ws_none".into();
    let sup = Supervisor::start(&[strict, none], &[]);
    sup.wait_until(Duration::from_secs(30), "both ready", |s| {
        s.get("/readyz").0 == 200
    });
    let mut strict_ms = Vec::with_capacity(SAMPLES);
    let mut none_ms = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        strict_ms.push(restart(&sup, "ws_strict"));
        none_ms.push(restart(&sup, "ws_none"));
    }
    for samples in [&mut strict_ms, &mut none_ms] {
        samples.sort_by(|a, b| a.total_cmp(b));
    }
    let strict_median = percentile(&strict_ms, 50.0);
    let none_median = percentile(&none_ms, 50.0);
    let added = strict_median - none_median;
    println!("\n## spawn → ready, strict sandbox vs none, Rust example ({SAMPLES} alternating starts each)");
    println!("| profile | median | p99 | min | max |");
    println!("|---|---|---|---|---|");
    for (name, samples) in [("strict", &strict_ms), ("none", &none_ms)] {
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
            percentile(samples, 50.0),
            percentile(samples, 99.0),
            samples[0],
            samples[samples.len() - 1]
        );
    }
    println!(
        "strict adds {added:.1} ms at the median (target ≤ 10 ms: {}); ratio strict/none {:.2}",
        verdict(added <= 10.0),
        strict_median / none_median
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
