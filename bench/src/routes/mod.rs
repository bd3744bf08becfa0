//! `bench routes`: what it costs to serve an HTTP route from a module process.
//!
//! The same 1 KiB JSON echo, measured at concurrency 1 and 32 (keep-alive connections sending
//! back-to-back, 1 s warm-up, 5 s measured), 3 rounds (`--rounds N`) interleaving the
//! scenarios, best round per figure, served:
//!
//! * (a) in-process by warp: the ceiling;
//! * (b) by a bare forwarder: warp → one tonic `Work` stream over a Unix socket → a bare tonic
//!   echo server (separate runtimes in this process), requests multiplexed by id: the cost of
//!   the transport alone;
//! * (c) by the real supervisor → the Rust SDK module `hello-rust` (`POST /echo`);
//! * (d) like (c), with a handler making one `ctx.storage().get` host call;
//! * (b′), a diagnostic: the bare forwarder of (b) in front of the `hello-rust` process started
//!   directly instead of the bare echo server, which splits (c)'s cost between the SDK
//!   ((b′) − (b)) and the supervisor's gateway ((c) − (b′)).
//!
//! Why the best round: on a 2-core machine the load generator, the servers and anything else
//! running share the cores, and the figures move with where the scheduler puts the threads
//! (at concurrency 1, whether client and server run on the same core changes the latency by
//! 2×). Interference only ever slows a run down, so the best of a few rounds is the figure
//! least distorted by it.
//!
//! Then the ratios: (c)/(a) and (b)/(a) throughput at 32, and (c)'s latency added over (a) at
//! concurrency 1 against (b)'s. When the supervisor does not forward routes (yet), (c) and (d)
//! print "not available: <reason>" and the rest still runs.

mod echo;
mod echo_server;
mod forwarder;
pub(crate) mod histogram;
pub(crate) mod load;
mod module_process;
mod print;
mod setup;
mod supervised;

use std::time::Duration;

use load::{Plan, Report};

/// Concurrency levels measured.
const LEVELS: [usize; 2] = [1, 32];

/// Options of `bench routes`.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Warm-up per run.
    pub warmup: Duration,
    /// Measured time per run.
    pub duration: Duration,
    /// How many times each scenario is measured (the best round is printed).
    pub rounds: usize,
}

impl Options {
    /// Parses `--duration <s>`, `--warmup <s>` and `--rounds <n>`.
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut options = Options {
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
            rounds: 3,
        };
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            if flag == "--rounds" {
                options.rounds = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=20).contains(n))
                    .ok_or_else(|| format!("--rounds {value:?}: not a number from 1 to 20"))?;
                continue;
            }
            let seconds: f64 = value
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s <= 3600.0)
                .ok_or_else(|| format!("{flag} {value:?}: not a number of seconds (0-3600)"))?;
            match flag.as_str() {
                "--duration" if seconds > 0.0 => {
                    options.duration = Duration::from_secs_f64(seconds)
                }
                "--warmup" => options.warmup = Duration::from_secs_f64(seconds),
                _ => return Err(format!("unknown option {flag} (or a zero duration)")),
            }
        }
        Ok(options)
    }
}

/// The figures of one scenario at one concurrency level: the best over the rounds.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// Successful requests per second.
    pub rps: f64,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 99th percentile latency, µs.
    pub p99_us: f64,
    /// Failed requests, all rounds together.
    pub errors: u64,
    /// The first failure seen.
    pub first_error: Option<String>,
}

/// The smallest of some values, ignoring NaN (NaN when there are none).
fn best_low(values: impl Iterator<Item = f64>) -> f64 {
    values.filter(|v| !v.is_nan()).fold(f64::NAN, f64::min)
}

impl Cell {
    fn of(reports: &[Report]) -> Cell {
        Cell {
            rps: reports.iter().map(Report::rps).fold(f64::NAN, f64::max),
            p50_us: best_low(reports.iter().map(Report::p50_us)),
            p99_us: best_low(reports.iter().map(Report::p99_us)),
            errors: reports.iter().map(|r| r.errors).sum(),
            first_error: reports.iter().find_map(|r| r.first_error.clone()),
        }
    }
}

/// One scenario's cells (one per level), or why it could not run.
pub type Outcome = Result<Vec<Cell>, String>;

/// Starts the servers, measures every scenario at every level `rounds` times (interleaved) and
/// prints figures and ratios.
pub fn run(options: &Options) {
    let body = echo::request_body();
    println!(
        "\n## HTTP routes: {} byte JSON echo, keep-alive, {:.0} s warm-up + {:.0} s per run, best of {} round(s)",
        body.len(),
        options.warmup.as_secs_f64(),
        options.duration.as_secs_f64(),
        options.rounds
    );
    let setup = setup::start(&body);
    let mut reports: Vec<Vec<Vec<Report>>> =
        vec![vec![Vec::new(); LEVELS.len()]; setup::NAMES.len()];
    let mut failures: Vec<Option<String>> = vec![None; setup::NAMES.len()];
    for _ in 0..options.rounds {
        for (scenario, target) in setup.targets.iter().enumerate() {
            let Ok(target) = target else { continue };
            for (level, &concurrency) in LEVELS.iter().enumerate() {
                let plan = Plan {
                    concurrency,
                    warmup: options.warmup,
                    duration: options.duration,
                };
                match load::run(target, plan) {
                    Ok(report) => reports[scenario][level].push(report),
                    Err(e) => failures[scenario] = Some(e),
                }
            }
        }
    }
    let outcomes: Vec<Outcome> = setup
        .targets
        .iter()
        .zip(reports.iter().zip(failures))
        .map(|(target, (levels, failure))| match (target, failure) {
            (Err(reason), _) => Err(reason.clone()),
            (Ok(_), Some(reason)) => Err(reason),
            (Ok(_), None) => Ok(levels.iter().map(|r| Cell::of(r)).collect()),
        })
        .collect();
    drop(setup);
    print::table(&setup::NAMES, &outcomes);
    print::ratios(&outcomes);
}
