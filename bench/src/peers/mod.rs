//! `bench peers`: our work stream side by side with HashiCorp go-plugin, the best-known way
//! to run a plugin in its own process.
//!
//! The same 1 KiB JSON echo, called back-to-back at concurrency 1 and 32 (warm-up, then a
//! measured window), in rounds that interleave (g) c=1, (c) c=1, (g) c=32, (c) c=32 (best
//! round per figure, `--rounds N`):
//!
//! * (g) a Go host → go-plugin's gRPC client → a go-plugin plugin process (Go), which checks
//!   the body is JSON and sends its bytes back; load from goroutines in the Go host
//!   ([`go_plugin`]);
//! * (c) this process → the supervisor's own [`WorkClient`](convotic_supervisor::protocol::WorkClient)
//!   → the `hello-rust` module (Rust SDK), route `POST /echo`, which parses the JSON body and
//!   serializes it back; load from tokio tasks in this process ([`work_stream`]).
//!
//! Then the ratios: ours ÷ go-plugin for calls/s, go-plugin ÷ ours for p50 (above 1 = ours is
//! faster). When Go or Debian's Go packages are missing, (g) prints why and how to install
//! them, and (c) still runs.

mod go_plugin;
mod work_stream;

use std::time::Duration;

use crate::routes::Options;

/// Concurrency levels measured.
const LEVELS: [usize; 2] = [1, 32];

/// The scenarios, in the order they are printed.
const NAMES: [&str; 2] = [
    "(g) Go host → go-plugin gRPC → Go plugin",
    "(c) work stream → hello-rust POST /echo",
];

/// The figures of one run, or the best over the rounds.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Successful calls per second.
    pub calls_per_s: f64,
    /// Median latency per call, µs.
    pub p50_us: f64,
    /// 99th percentile latency per call, µs.
    pub p99_us: f64,
    /// Failed calls.
    pub errors: u64,
    /// The first failure seen.
    pub first_error: Option<String>,
}

impl Figures {
    /// Figures from sorted latencies (µs) of the calls completed in a `window`.
    fn of(sorted_us: &[f64], window: Duration, errors: u64, first_error: Option<String>) -> Self {
        Figures {
            calls_per_s: sorted_us.len() as f64 / window.as_secs_f64().max(f64::EPSILON),
            p50_us: crate::percentile(sorted_us, 50.0),
            p99_us: crate::percentile(sorted_us, 99.0),
            errors,
            first_error,
        }
    }

    /// The best of several runs: highest rate, lowest latencies, errors summed.
    fn best(runs: &[Figures]) -> Option<Figures> {
        let low = |f: fn(&Figures) -> f64| {
            runs.iter()
                .map(f)
                .filter(|v| !v.is_nan())
                .fold(f64::NAN, f64::min)
        };
        (!runs.is_empty()).then(|| Figures {
            calls_per_s: runs.iter().map(|r| r.calls_per_s).fold(f64::NAN, f64::max),
            p50_us: low(|r| r.p50_us),
            p99_us: low(|r| r.p99_us),
            errors: runs.iter().map(|r| r.errors).sum(),
            first_error: runs.iter().find_map(|r| r.first_error.clone()),
        })
    }
}

/// One scenario: its runs per level, or why it is not available.
type Scenario = Result<Vec<Vec<Figures>>, String>;

/// Builds and starts both sides, measures them interleaved and prints figures and ratios.
pub fn run(options: &Options) {
    println!(
        "\n## Peers: go-plugin vs our work stream, 1 KiB JSON echo, {:.0} s warm-up + {:.0} s per run, best of {} round(s)",
        options.warmup.as_secs_f64(),
        options.duration.as_secs_f64(),
        options.rounds
    );
    println!("load generators: (g) Go goroutines in the Go host; (c) tokio tasks in this bench process (2 worker threads)");
    match go_plugin::go_version() {
        Ok(version) => println!(
            "go: {version}; go-plugin (Debian golang-github-hashicorp-go-plugin-dev) {}",
            go_plugin::go_plugin_version()
        ),
        Err(why) => println!("(g) needs Go: {why}"),
    }
    let mut go = go_plugin::start();
    if let Ok(host) = &go {
        println!("(g) host ready: {}", host.about);
    }
    let mut ours = work_stream::start();
    let body = request_body();
    println!("(c) body {} bytes", body.len());
    let mut runs: [Scenario; 2] = [
        go.as_ref()
            .map(|_| vec![Vec::new(); LEVELS.len()])
            .map_err(Clone::clone),
        ours.as_ref()
            .map(|_| vec![Vec::new(); LEVELS.len()])
            .map_err(Clone::clone),
    ];
    let (warmup, duration) = (options.warmup, options.duration);
    for _ in 0..options.rounds {
        for (level, &concurrency) in LEVELS.iter().enumerate() {
            if let (Ok(host), Ok(levels)) = (&mut go, &mut runs[0]) {
                match host.run(concurrency, warmup, duration) {
                    Ok(figures) => levels[level].push(figures),
                    Err(e) => runs[0] = Err(e),
                }
            }
            if let (Ok(peer), Ok(levels)) = (&mut ours, &mut runs[1]) {
                match peer.run(&body, concurrency, warmup, duration) {
                    Ok(figures) => levels[level].push(figures),
                    Err(e) => runs[1] = Err(e),
                }
            }
        }
    }
    drop(go);
    drop(ours);
    let best: Vec<Result<Vec<Option<Figures>>, String>> = runs
        .iter()
        .map(|scenario| {
            scenario
                .as_ref()
                .map(|levels| levels.iter().map(|r| Figures::best(r)).collect())
                .map_err(Clone::clone)
        })
        .collect();
    table(&best);
    ratios(&best);
}

/// The same compact, key-sorted JSON object of about 1 KiB as the Go host sends.
fn request_body() -> Vec<u8> {
    let mut fields = serde_json::Map::new();
    let mut i = 0;
    while serde_json::to_vec(&fields).map_or(0, |v| v.len()) < 1000 {
        fields.insert(
            format!("field_{i:02}"),
            format!("value-{i:04}-abcdefgh").into(),
        );
        i += 1;
    }
    serde_json::to_vec(&fields).unwrap_or_default()
}

/// One row per scenario and level.
fn table(best: &[Result<Vec<Option<Figures>>, String>]) {
    println!(
        "\n{:<44} {:>5} {:>10} {:>9} {:>9} {:>7}",
        "scenario", "conc", "calls/s", "p50 µs", "p99 µs", "errors"
    );
    for (name, scenario) in NAMES.iter().zip(best) {
        match scenario {
            Err(reason) => println!("{name:<44} not available: {reason}"),
            Ok(levels) => {
                for (level, figures) in LEVELS.iter().zip(levels) {
                    let Some(f) = figures else { continue };
                    println!(
                        "{name:<44} {level:>5} {:>10.0} {:>9.0} {:>9.0} {:>7}",
                        f.calls_per_s, f.p50_us, f.p99_us, f.errors
                    );
                    if let Some(error) = &f.first_error {
                        println!("{:<44}       first error: {error}", "");
                    }
                }
            }
        }
    }
}

/// Ours ÷ go-plugin for calls/s and go-plugin ÷ ours for p50, per level.
fn ratios(best: &[Result<Vec<Option<Figures>>, String>]) {
    println!("\nratios (above 1: the work stream is ahead)");
    let at = |scenario: usize, level: usize| -> Option<&Figures> {
        best.get(scenario)?.as_ref().ok()?.get(level)?.as_ref()
    };
    for (level, concurrency) in LEVELS.iter().enumerate() {
        match (at(0, level), at(1, level)) {
            (Some(g), Some(c)) => {
                println!(
                    "concurrency {concurrency:>2}: calls/s (c)/(g) {:.2}; p50 (g)/(c) {:.2}",
                    c.calls_per_s / g.calls_per_s,
                    g.p50_us / c.p50_us
                );
                crate::summary::record(
                    &format!("1 KiB echo vs go-plugin at concurrency {concurrency}: calls/s ours ÷ go-plugin's; p50"),
                    format!(
                        "{:.2} ({:.0} vs {:.0} calls/s); p50 {:.0} vs {:.0} µs",
                        c.calls_per_s / g.calls_per_s,
                        c.calls_per_s,
                        g.calls_per_s,
                        c.p50_us,
                        g.p50_us
                    ),
                    "reported",
                    None,
                );
            }
            _ => println!("concurrency {concurrency:>2}: not available"),
        }
    }
}
