//! `bench crons`: fire-time lateness of 100 crons on a 1-second schedule across 20 modules.
//!
//! Each module is the fixture with `MISBEHAVE_CRON_COUNT=5`; every run records its scheduled
//! time and the moment the handler started in the module's data dir. Lateness is
//! `handler start − scheduled time`. Ticks are counted over the measured window (after a
//! settling second, before the last ones): a tick seen twice is "doubled", a second with no run
//! of a cron is "lost". Prints figures against the targets; asserts nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use convotic_e2e::{ModuleEntry, Supervisor};

const MODULES: usize = 20;
const CRONS_PER_MODULE: usize = 5;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Runs the benchmark for `seconds` (default 60, `CONVOTIC_BENCH_CRON_SECS` overrides).
pub fn run() {
    let seconds: u64 = std::env::var("CONVOTIC_BENCH_CRON_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let modules: Vec<ModuleEntry> = (0..MODULES)
        .map(|i| {
            ModuleEntry::fixture(&format!("cron-{i:02}"), "ok")
                .env("MISBEHAVE_CRON_COUNT", &CRONS_PER_MODULE.to_string())
        })
        .collect();
    let sup = Supervisor::start(&modules, &[]);
    sup.wait_until(Duration::from_secs(60), "all modules ready", |s| {
        s.get("/readyz").0 == 200
    });
    // Measure whole seconds from a little after every module is ready.
    let from = (now_ms() / 1000 + 2) * 1000;
    std::thread::sleep(Duration::from_millis(
        from.saturating_sub(now_ms()) + seconds * 1000 + 1500,
    ));
    let to = from + seconds * 1000;

    let mut lateness = Vec::new();
    let mut seen: BTreeMap<(String, String, u64), usize> = BTreeMap::new();
    for i in 0..MODULES {
        let path = sup
            .data_dir()
            .join(format!("modules/ws_test/cron-{i:02}/crons.jsonl"));
        for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
            let Ok(record) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let cron = record["cron"].as_str().unwrap_or_default();
            let (Some(scheduled), Some(started)) = (
                record["scheduled_at_ms"].as_u64(),
                record["started_ms"].as_u64(),
            ) else {
                continue;
            };
            if !cron.starts_with("every-second-") || record["phase"] != "start" {
                continue;
            }
            if scheduled < from || scheduled >= to {
                continue;
            }
            lateness.push(started.saturating_sub(scheduled));
            *seen
                .entry((format!("cron-{i:02}"), cron.to_string(), scheduled))
                .or_default() += 1;
        }
    }
    let doubled: usize = seen.values().filter(|n| **n > 1).map(|n| n - 1).sum();
    let expected = MODULES * CRONS_PER_MODULE * seconds as usize;
    let distinct: BTreeSet<_> = seen.keys().collect();
    let lost = expected.saturating_sub(distinct.len());
    lateness.sort_unstable();
    let pick = |p: f64| -> u64 {
        if lateness.is_empty() {
            return 0;
        }
        lateness[((p / 100.0) * (lateness.len() - 1) as f64).round() as usize]
    };
    println!("\n## cron fire-time lateness: {} crons on a 1-second schedule across {MODULES} modules, {seconds} s", MODULES * CRONS_PER_MODULE);
    println!("runs measured {} (expected {expected})", lateness.len());
    println!(
        "lateness (handler start − scheduled): median {} ms, p99 {} ms, max {} ms",
        pick(50.0),
        pick(99.0),
        lateness.last().copied().unwrap_or(0)
    );
    println!(
        "target p99 ≤ 600 ms: {}",
        if pick(99.0) <= 600 { "met" } else { "NOT met" }
    );
    println!("ticks doubled {doubled} (target 0), ticks lost {lost} (target 0)");
}
