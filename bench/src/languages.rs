//! `bench languages`: the same echo route (`GET /echo/:id` of the conformance module,
//! `tests/conformance/SPEC.md`) written with the Rust, TypeScript and Python SDKs, in one
//! supervisor under the strict sandbox: cold start (spawn → Ready over restarts), sequential
//! round-trip latency through the supervisor, and throughput at 16 concurrent callers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use convotic_e2e::conformance::Language;
use convotic_e2e::Supervisor;

use crate::percentile;

const RESTARTS: usize = 8;
const SEQUENTIAL: usize = 1000;
const CONCURRENCY: usize = 16;
const LOAD: Duration = Duration::from_secs(4);

/// Runs the comparison.
pub fn run() {
    let modules: Vec<_> = Language::ALL.iter().map(|l| l.module()).collect();
    let sup = Supervisor::start(&modules, &["start_timeout = \"30s\""]);
    sup.wait_until(Duration::from_secs(60), "every module ready", |s| {
        s.get("/readyz").0 == 200
    });
    println!(
        "\n## the same echo module in three languages (strict sandbox, through the supervisor)"
    );
    println!("| SDK | cold start median (max) | round trip p50 | p99 | requests/s at {CONCURRENCY} callers |");
    println!("|---|---|---|---|---|");
    for language in Language::ALL {
        let key = sup.create_key(&language.workspace());
        let cold = cold_starts(&sup, language);
        let (p50, p99) = round_trips(&sup, &key);
        let rate = throughput(&sup, &key);
        println!(
            "| {} | {:.0} ms ({:.0} ms) | {:.2} ms | {:.2} ms | {:.0} |",
            language.name(),
            percentile(&cold, 50.0),
            cold[cold.len() - 1],
            p50,
            p99,
            rate
        );
    }
}

fn status_path(language: Language) -> String {
    format!(
        "/admin/v1/modules/conformance?workspace={}",
        language.workspace()
    )
}

/// Spawn → Ready of `RESTARTS` restarts, sorted, in ms.
fn cold_starts(sup: &Supervisor, language: Language) -> Vec<f64> {
    let mut samples = Vec::with_capacity(RESTARTS);
    for _ in 0..RESTARTS {
        let before = sup.get(&status_path(language)).1["instance"].clone();
        let (code, body) = sup.request(
            reqwest::Method::POST,
            &format!(
                "/admin/v1/modules/conformance/restart?workspace={}",
                language.workspace()
            ),
        );
        assert_eq!(code, 202, "{body}");
        let mut status = serde_json::Value::Null;
        sup.wait_until(Duration::from_secs(60), "restart", |s| {
            status = s.get(&status_path(language)).1;
            status["state"] == "ready" && status["instance"] != before
        });
        samples.push(status["start_ms"].as_f64().unwrap_or(f64::NAN));
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    samples
}

fn echo_url(sup: &Supervisor) -> String {
    format!("{}/v1/modules/conformance/echo/42", sup.base)
}

/// p50 and p99 of sequential round trips, in ms (after a warm-up).
fn round_trips(sup: &Supervisor, key: &str) -> (f64, f64) {
    let client = reqwest::blocking::Client::new();
    let url = echo_url(sup);
    let call = || {
        let response = client
            .get(&url)
            .header("x-api-key", key)
            .send()
            .expect("echo");
        assert_eq!(response.status().as_u16(), 200);
        let _ = response.bytes();
    };
    for _ in 0..100 {
        call();
    }
    let mut samples = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let started = Instant::now();
        call();
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    (percentile(&samples, 50.0), percentile(&samples, 99.0))
}

/// Requests per second with `CONCURRENCY` callers for `LOAD`.
fn throughput(sup: &Supervisor, key: &str) -> f64 {
    let done = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + LOAD;
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (url, key, done) = (echo_url(sup), key.to_string(), Arc::clone(&done));
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                while Instant::now() < deadline {
                    if let Ok(response) = client.get(&url).header("x-api-key", &key).send() {
                        if response.status().is_success() {
                            let _ = response.bytes();
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    done.load(Ordering::Relaxed) as f64 / LOAD.as_secs_f64()
}
