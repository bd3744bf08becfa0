//! `bench workers`: messages per second through the workers' bus, 1 KiB JSON messages.
//!
//! * (bare) the reference: an async-nats JetStream pull consumer in this process (batch 256,
//!   `max_ack_pending` 256, plain acks) consuming messages published beforehand to a stream of
//!   a private `nats-server`; only the consume + ack phase is timed, up to the moment the
//!   server has every ack ([`bare`]).
//! * (nats) JetStream → supervisor → the `bench-worker` module → ack: the supervisor is stopped,
//!   the messages are published on the handler's subject, the supervisor is started again, and
//!   the time runs from the first delivery the consumer reports until it reports nothing
//!   pending and nothing awaiting an ack ([`nats`]).
//! * (embedded) the embedded queue end to end: the messages are published over HTTP
//!   (`POST /v1/topics/bench.events/messages`, [`embedded::PUBLISHERS`] clients at once) while
//!   the module consumes them; the time runs from the first publish until the module has
//!   handled them all (its `GET /count`). A diagnostic (backlog) splits that cost: the
//!   messages are stored while the supervisor is stopped, then only consumed ([`embedded`]).
//!
//! `bench-worker` (built next to the bench binary) handles `bench.events` with concurrency 256
//! and `max_in_flight` 1024, and acknowledges each message at once, so the figures measure the
//! bus, the dispatcher and the work stream, not a handler. Each scenario runs `--rounds` times
//! (interleaved; the best round is printed, as for `bench routes`), followed by where the CPU
//! went in its best round: the CPU time of each process per message, and how many cores they
//! kept busy against the whole machine's ([`cpu`]), which tells a saturated pipeline from one
//! waiting on something, and shows when other load on the machine distorted a round.

pub(crate) mod bare;
mod cpu;
mod embedded;
pub(crate) mod nats;

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use tokio::runtime::Runtime;

use crate::verdict;

/// Messages per round of (bare) and (nats).
pub const NATS_MESSAGES: usize = 50_000;
/// Messages per round of (embedded).
pub const EMBEDDED_MESSAGES: usize = 20_000;
/// Size of every message's JSON payload.
pub const PAYLOAD_BYTES: usize = 1024;
/// Target of (nats)/(bare).
const NATS_TARGET: f64 = 0.8;
/// Target of (embedded), messages per second.
const EMBEDDED_TARGET: f64 = 25_000.0;
/// Longest a round may take before it is given up.
const ROUND_TIMEOUT: Duration = Duration::from_secs(120);

/// A compact JSON object of exactly [`PAYLOAD_BYTES`] bytes, keys sorted (so that parsing and
/// serializing it again, as the gateway does, gives back the same bytes).
pub fn payload() -> Bytes {
    let mut fields = serde_json::Map::new();
    let size = |fields: &serde_json::Map<String, Value>| {
        serde_json::to_vec(fields).map_or(0, |bytes| bytes.len())
    };
    let mut i = 0;
    while size(&fields) < PAYLOAD_BYTES - 64 {
        fields.insert(
            format!("field_{i:02}"),
            Value::from(format!("value-{i:04}-abcdefgh")),
        );
        i += 1;
    }
    // `,"pad":""` adds 9 bytes plus the padding.
    let pad = PAYLOAD_BYTES.saturating_sub(size(&fields) + 9);
    fields.insert("pad".into(), Value::from("x".repeat(pad)));
    Bytes::from(serde_json::to_vec(&fields).unwrap_or_default())
}

/// Messages per second.
fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// The best (highest) of some rates, NaN when there are none.
fn best(rates: &[f64]) -> f64 {
    rates.iter().copied().fold(f64::NAN, f64::max)
}

/// The async runtime of the bench's own clients: 2 worker threads.
fn runtime() -> Result<Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-workers")
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))
}

/// Polls `check` every `every` until it answers `Some`, for at most `timeout`.
pub(crate) async fn poll<T, F, Fut>(
    what: &str,
    every: Duration,
    timeout: Duration,
    mut check: F,
) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, String>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if started.elapsed() > timeout {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        tokio::time::sleep(every).await;
    }
}

/// One measured round of a scenario.
#[derive(Debug)]
pub struct Round {
    /// Messages per second.
    pub rate: f64,
    /// Where the CPU went (and any other detail of the round).
    pub detail: String,
}

/// The results of one scenario over the rounds.
#[derive(Debug, Default)]
struct Results {
    rates: Vec<f64>,
    details: Vec<String>,
    failure: Option<String>,
}

impl Results {
    fn record(&mut self, outcome: Result<Round, String>) {
        match outcome {
            Ok(round) => {
                self.rates.push(round.rate);
                self.details.push(round.detail);
            }
            Err(e) => {
                if self.failure.is_none() {
                    self.failure = Some(e);
                }
            }
        }
    }

    /// "123,456 msg/s (rounds: ...)" or why there is no figure.
    fn line(&self) -> String {
        if self.rates.is_empty() {
            return format!(
                "not available: {}",
                self.failure.as_deref().unwrap_or("not run")
            );
        }
        let rounds: Vec<String> = self.rates.iter().map(|r| format!("{r:.0}")).collect();
        let mut line = format!(
            "{:>7.0} msg/s   (rounds: {})",
            best(&self.rates),
            rounds.join(", ")
        );
        if let Some(failure) = &self.failure {
            line.push_str(&format!("; a round failed: {failure}"));
        }
        line
    }

    /// The detail of the best round.
    fn best_detail(&self) -> Option<&str> {
        let best = best(&self.rates);
        let index = self.rates.iter().position(|r| *r == best)?;
        self.details.get(index).map(String::as_str)
    }
}

/// Runs the scenarios `rounds` times, interleaved, and prints figures and ratios.
pub fn run(rounds: usize) {
    let payload = payload();
    println!(
        "\n## workers: {} byte JSON messages; (bare) and (nats) {} messages per round, (embedded) {}; best of {rounds} round(s)",
        payload.len(),
        NATS_MESSAGES,
        EMBEDDED_MESSAGES
    );
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            println!("not available: {e}");
            return;
        }
    };
    let mut bare = Results::default();
    let mut nats = Results::default();
    let mut nats_off = Results::default();
    let mut live = Results::default();
    let mut backlog = Results::default();
    let bare_setup = bare::Bare::start(&rt);
    let mut nats_setup = nats::Supervised::start(&rt, false);
    let mut nats_off_setup = nats::Supervised::start(&rt, true);
    let mut embedded_setup = embedded::Supervised::start(&rt);
    let mut notes = Vec::new();
    for round in 0..rounds {
        bare.record(match &bare_setup {
            Ok(setup) => setup.round(&rt, &payload, round),
            Err(e) => Err(e.clone()),
        });
        nats.record(match &mut nats_setup {
            Ok(setup) => setup.round(&rt, &payload, &mut notes),
            Err(e) => Err(e.clone()),
        });
        nats_off.record(match &mut nats_off_setup {
            Ok(setup) => setup.round(&rt, &payload, &mut notes),
            Err(e) => Err(e.clone()),
        });
        live.record(match &embedded_setup {
            Ok(setup) => setup.live_round(&rt, &payload),
            Err(e) => Err(e.clone()),
        });
        backlog.record(match &mut embedded_setup {
            Ok(setup) => setup.backlog_round(&rt, &payload),
            Err(e) => Err(e.clone()),
        });
    }
    drop(embedded_setup);
    drop(nats_setup);
    drop(nats_off_setup);
    drop(bare_setup);

    let scenarios = [
        ("(bare)", "async-nats pull consumer, plain acks", &bare),
        ("(nats)", "JetStream → supervisor → module → ack", &nats),
        (
            "(nats₀)",
            "(nats) without work.batch, host.stream",
            &nats_off,
        ),
        ("(embedded)", "HTTP publish → queue → module → ack", &live),
        ("(backlog)", "diagnostic: stored → module → ack", &backlog),
    ];
    for (label, name, results) in scenarios {
        println!("{label:<10} {name:<37} {}", results.line());
    }
    println!("\nwhere the CPU went (best round; CPU time of each process over the timed phase):");
    for (label, _, results) in scenarios {
        if let Some(detail) = results.best_detail() {
            println!("{label:<10} {detail}");
        }
    }
    for note in &notes {
        println!("note: {note}");
    }
    println!("\nratios:");
    let (bare_best, nats_best) = (best(&bare.rates), best(&nats.rates));
    if bare_best.is_finite() && nats_best.is_finite() {
        let ratio = nats_best / bare_best;
        println!(
            "(nats)/(bare) = {ratio:.2} (target ≥ {NATS_TARGET}: {})",
            verdict(ratio >= NATS_TARGET)
        );
        crate::summary::record(
            "JetStream → supervisor → module → ack, ÷ bare async-nats consumer",
            format!("{ratio:.2} ({nats_best:.0} vs {bare_best:.0} msg/s)"),
            "≥ 0.8",
            Some(ratio >= NATS_TARGET),
        );
    } else {
        println!("(nats)/(bare): not available");
    }
    let off_best = best(&nats_off.rates);
    if bare_best.is_finite() && off_best.is_finite() {
        println!(
            "(nats₀)/(bare) = {:.2}: the same without work.batch and host.stream",
            off_best / bare_best
        );
    }
    let live_best = best(&live.rates);
    if live_best.is_finite() {
        println!(
            "(embedded) = {live_best:.0} msg/s (target ≥ {EMBEDDED_TARGET:.0}: {})",
            verdict(live_best >= EMBEDDED_TARGET)
        );
        crate::summary::record(
            "embedded queue, HTTP publish → module → ack",
            format!("{live_best:.0} msg/s"),
            "≥ 25k msg/s",
            Some(live_best >= EMBEDDED_TARGET),
        );
    } else {
        println!("(embedded): not available");
    }
}
