//! `bench routes`: what it costs to serve an HTTP route from a module process.
//!
//! The same 1 KiB JSON echo, measured at concurrency 1 and 32 (keep-alive connections sending
//! back-to-back, 1 s warm-up, 5 s measured), served:
//!
//! * (a) in-process by warp: the ceiling;
//! * (b) by a bare forwarder: warp → one tonic `Work` stream over a Unix socket → a bare tonic
//!   echo server (separate runtimes in this process), requests multiplexed by id: the cost of
//!   the transport alone;
//! * (c) by the real supervisor → the Rust SDK module `hello-rust` (`POST /echo`);
//! * (d) like (c), with a handler making one `ctx.storage().get` host call.
//!
//! Then the ratios: (c)/(a) and (b)/(a) throughput at 32, and (c)'s latency added over (a) at
//! concurrency 1 against (b)'s. When the supervisor does not forward routes (yet), (c) and (d)
//! print "not available: <reason>" and the rest still runs.

mod echo;
mod echo_server;
mod forwarder;
mod histogram;
mod load;
mod supervised;

use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::Method;
use tokio::runtime::Runtime;

use crate::verdict;
use load::{Plan, Report, Target};

/// Concurrency levels measured.
const LEVELS: [usize; 2] = [1, 32];

/// Options of `bench routes`.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Warm-up per run.
    pub warmup: Duration,
    /// Measured time per run.
    pub duration: Duration,
}

impl Options {
    /// Parses `--duration <s>` and `--warmup <s>`.
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut options = Options {
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
        };
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
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

/// One scenario's results, one per concurrency level, or why it could not run.
type Outcome = Result<Vec<Report>, String>;

/// A multi-thread runtime with 2 workers (a process of its own would have as many).
fn runtime(name: &str) -> Result<Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(format!("bench-{name}"))
        .enable_all()
        .build()
        .map_err(|e| format!("{name} runtime: {e}"))
}

/// Runs `target` at every level.
fn measure(target: &Target, options: &Options) -> Outcome {
    LEVELS
        .iter()
        .map(|&concurrency| {
            let plan = Plan {
                concurrency,
                warmup: options.warmup,
                duration: options.duration,
            };
            load::run(target, plan)
        })
        .collect()
}

/// A `POST /echo` of `body` to a server of this process.
fn echo_target(addr: std::net::SocketAddr, body: &Bytes) -> Target {
    Target {
        addr,
        method: Method::POST,
        path: "/echo".into(),
        headers: vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body: body.clone(),
        ok_statuses: vec![200],
        body_len: Some(body.len()),
    }
}

/// (a) and (b), on servers of this process; they are stopped before returning.
fn in_process(body: &Bytes, options: &Options) -> (Outcome, Outcome) {
    let runtimes = runtime("gateway").and_then(|g| runtime("module").map(|m| (g, m)));
    let (gateway, module) = match runtimes {
        Ok(pair) => pair,
        Err(e) => return (Err(e.clone()), Err(e)),
    };
    let a = echo::in_process(&gateway).and_then(|server| {
        let outcome = measure(&echo_target(server.addr, body), options);
        drop(server);
        outcome
    });
    let b = tempfile::Builder::new()
        .prefix("cvt-bench")
        .tempdir_in("/tmp")
        .map_err(|e| format!("temp dir: {e}"))
        .and_then(|dir| {
            let socket = dir.path().join("echo.sock");
            let _echo = echo_server::start(&module, &socket)?;
            let server = forwarder::start(&gateway, &socket)?;
            measure(&echo_target(server.addr, body), options)
        });
    gateway.shutdown_timeout(Duration::from_secs(1));
    module.shutdown_timeout(Duration::from_secs(1));
    (a, b)
}

/// (c) and (d), through the supervisor.
fn supervised(body: &Bytes, options: &Options) -> (Outcome, Outcome) {
    let running = match supervised::start() {
        Ok(running) => running,
        Err(e) => return (Err(e.clone()), Err(e)),
    };
    let c = running
        .echo_target(body)
        .and_then(|target| measure(&target, options));
    let d = running
        .storage_target()
        .and_then(|target| measure(&target, options));
    (c, d)
}

/// Runs the four scenarios and prints figures and ratios.
pub fn run(options: &Options) {
    let body = echo::request_body();
    println!(
        "\n## HTTP routes: {} byte JSON echo, keep-alive, {:.0} s warm-up + {:.0} s per run",
        body.len(),
        options.warmup.as_secs_f64(),
        options.duration.as_secs_f64()
    );
    let (a, b) = in_process(&body, options);
    let (c, d) = supervised(&body, options);
    let scenarios = [
        ("(a) warp in-process", &a),
        ("(b) warp → 1 tonic stream (UDS) → bare echo", &b),
        ("(c) supervisor → hello-rust POST /echo", &c),
        ("(d) supervisor → hello-rust GET /kv (1 storage get)", &d),
    ];
    print_table(&scenarios);
    print_ratios(&a, &b, &c, &d);
}

fn print_table(scenarios: &[(&str, &Outcome)]) {
    println!(
        "\n{:<52} {:>5} {:>10} {:>9} {:>9} {:>7}",
        "scenario", "conc", "req/s", "p50 µs", "p99 µs", "errors"
    );
    for (name, outcome) in scenarios {
        match outcome {
            Err(reason) => println!("{name:<52} not available: {reason}"),
            Ok(reports) => {
                for (level, report) in LEVELS.iter().zip(reports.iter()) {
                    println!(
                        "{name:<52} {level:>5} {:>10.0} {:>9.0} {:>9.0} {:>7}",
                        report.rps(),
                        report.p50_us(),
                        report.p99_us(),
                        report.errors
                    );
                    if let Some(error) = &report.first_error {
                        println!("{:<52}       first error: {error}", "");
                    }
                }
            }
        }
    }
}

/// The report at `level`.
fn at(outcome: &Outcome, level: usize) -> Option<&Report> {
    let index = LEVELS.iter().position(|&l| l == level)?;
    outcome.as_ref().ok()?.get(index)
}

fn print_ratios(a: &Outcome, b: &Outcome, c: &Outcome, d: &Outcome) {
    println!("\nratios");
    let throughput = |x: &Outcome| at(x, 32).map(Report::rps);
    let p50 = |x: &Outcome| at(x, 1).map(Report::p50_us);
    let (a32, b32, c32, d32) = (throughput(a), throughput(b), throughput(c), throughput(d));
    if let (Some(a32), Some(b32)) = (a32, b32) {
        println!(
            "(b)/(a) throughput at 32: {:.2} (reference 0.60 on this machine kind)",
            b32 / a32
        );
    }
    match (a32, c32) {
        (Some(a32), Some(c32)) => println!(
            "(c)/(a) throughput at 32: {:.2} (target ≥ 0.5: {})",
            c32 / a32,
            verdict(c32 / a32 >= 0.5)
        ),
        _ => println!("(c)/(a) throughput at 32: not available"),
    }
    match (p50(a), p50(b), p50(c)) {
        (Some(a1), Some(b1), Some(c1)) => {
            let (b_added, c_added) = (b1 - a1, c1 - a1);
            let ratio = c_added / b_added.max(1.0);
            println!(
                "added p50 at concurrency 1: (c) +{c_added:.0} µs vs (b) +{b_added:.0} µs = {ratio:.2}× (target ≤ 1.2×: {})",
                verdict(ratio <= 1.2)
            );
        }
        (Some(a1), Some(b1), None) => println!(
            "added p50 at concurrency 1: (b) +{:.0} µs; (c) not available",
            b1 - a1
        ),
        _ => println!("added p50 at concurrency 1: not available"),
    }
    match (p50(c), p50(d), c32, d32) {
        (Some(c1), Some(d1), Some(c32), Some(d32)) => println!(
            "one host call (storage get): +{:.0} µs p50 at concurrency 1; (d)/(c) throughput at 32: {:.2}",
            d1 - c1,
            d32 / c32
        ),
        _ => println!("one host call (storage get): not available"),
    }
}
