//! `bench lifecycle`: spawn-to-ready of the Rust example module over sequential restarts, 100
//! modules becoming ready together, and the supervisor's memory per idle module.

use std::time::{Duration, Instant};

use convotic_e2e::{ModuleEntry, Supervisor};

use crate::{percentile, verdict};

/// Runs the lifecycle figures.
pub fn run() {
    spawn_to_ready();
    hundred_modules();
}

/// Median and p99 of spawn → Ready for the Rust example, over sequential restarts.
fn spawn_to_ready() {
    const SAMPLES: usize = 60;
    let sup = Supervisor::start(&[ModuleEntry::new("hello-rust", "hello-rust")], &[]);
    let mut status = sup.wait_state("hello-rust", "ready", Duration::from_secs(30));
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let instance = status["instance"].clone();
        let (code, _) = sup.request(
            reqwest::Method::POST,
            "/admin/v1/modules/hello-rust/restart",
        );
        assert_eq!(code, 202);
        sup.wait_until(Duration::from_secs(30), "restart", |s| {
            status = s.module("hello-rust");
            status["state"] == "ready" && status["instance"] != instance
        });
        samples.push(status["start_ms"].as_f64().unwrap_or(f64::NAN));
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let median = percentile(&samples, 50.0);
    let p99 = percentile(&samples, 99.0);
    println!("\n## spawn → ready, Rust example module ({SAMPLES} sequential starts)");
    println!(
        "median {median:.1} ms (target ≤ 15 ms: {})",
        verdict(median <= 15.0)
    );
    println!("p99    {p99:.1} ms");
    println!(
        "min    {:.1} ms, max {:.1} ms",
        samples[0],
        samples[samples.len() - 1]
    );
}

/// 100 modules becoming ready together, and the supervisor's memory per idle module.
fn hundred_modules() {
    let idle = Supervisor::start(&[], &[]);
    std::thread::sleep(Duration::from_secs(2));
    let rss_empty = rss(&idle);
    drop(idle);

    // The example's manifest calls it hello-rust, so the 100 copies live in 100 workspaces.
    let modules: Vec<ModuleEntry> = (0..100)
        .map(|i| {
            let mut m = ModuleEntry::new("hello-rust", "hello-rust");
            m.workspace = format!("ws_bench{i:03}");
            m
        })
        .collect();
    let started = Instant::now();
    let sup = Supervisor::start(&modules, &[]);
    sup.wait_until(Duration::from_secs(60), "100 modules ready", |s| {
        s.get("/readyz").0 == 200
    });
    let all_ready = started.elapsed();
    let (_, body) = sup.get("/admin/v1/modules");
    let mut starts: Vec<f64> = body["modules"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["start_ms"].as_f64()).collect())
        .unwrap_or_default();
    starts.sort_by(|a, b| a.total_cmp(b));
    std::thread::sleep(Duration::from_secs(3));
    let rss_full = rss(&sup);
    let per_module = (rss_full.saturating_sub(rss_empty)) as f64 / 100.0;
    println!("\n## 100 Rust example modules started together");
    println!(
        "all ready {:.0} ms after the supervisor was spawned (target ≤ 3000 ms: {})",
        all_ready.as_secs_f64() * 1000.0,
        verdict(all_ready <= Duration::from_secs(3))
    );
    println!(
        "per-module spawn → ready under that load: median {:.1} ms, max {:.1} ms",
        percentile(&starts, 50.0),
        starts.last().copied().unwrap_or(f64::NAN)
    );
    println!("\n## supervisor memory per idle module");
    println!("RSS with 0 modules   {:.1} MiB", mib(rss_empty));
    println!("RSS with 100 modules {:.1} MiB", mib(rss_full));
    println!(
        "per module           {:.0} KiB (target ≤ 1024 KiB: {})",
        per_module / 1024.0,
        verdict(per_module <= 1024.0 * 1024.0)
    );
}

fn rss(sup: &Supervisor) -> u64 {
    convotic_supervisor::process::tree::rss_bytes(sup.pid()).unwrap_or(0)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
