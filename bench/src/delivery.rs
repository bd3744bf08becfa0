//! `bench delivery`: messages delivered to a local webhook receiver (which verifies every
//! signature with the SDK's verifier and answers at once). Three figures:
//!
//! * the added latency from a send (`POST /v1/messages`, acknowledged once durable) to the
//!   receiver's arrival, one message at a time (p50, p99);
//! * a backlog of queued messages drained once the channel gets its target (delivery alone);
//! * messages per second end to end with 8 concurrent senders.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use convotic_e2e::Supervisor;
use serde_json::{json, Value};
use warp::Filter as _;

use crate::percentile;

const LATENCY_SAMPLES: usize = 300;
const BACKLOG: usize = 5000;
const SENDERS: usize = 8;
const PER_SENDER: usize = 625;
/// The secret both channels sign with.
const SECRET: &str = "bench-secret-0123456789";

/// Arrival times by idempotency key.
#[derive(Default)]
struct Arrivals {
    seen: Mutex<HashMap<String, Instant>>,
    changed: Condvar,
}

impl Arrivals {
    fn wait_for(&self, key: &str, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(at) = seen.get(key) {
                return Some(*at);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            seen = self
                .changed
                .wait_timeout(seen, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn wait_count(&self, count: usize, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if seen.len() >= count {
                return seen.values().max().copied();
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            seen = self
                .changed
                .wait_timeout(seen, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn clear(&self) {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Serves the receiver on its own runtime; returns its URL and where the secret goes.
fn receiver(arrivals: Arc<Arrivals>) -> (String, Arc<Mutex<String>>) {
    let secret = Arc::new(Mutex::new(String::new()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("non-blocking");
    let verify_with = Arc::clone(&secret);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let route = warp::post()
                .and(warp::header::optional::<String>("x-convotic-signature"))
                .and(warp::header::optional::<String>("idempotency-key"))
                .and(warp::body::bytes())
                .map(
                    move |signature: Option<String>, key: Option<String>, body: bytes::Bytes| {
                        let secret = verify_with
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .clone();
                        let verifier = convotic_plugin_sdk::SignatureVerifier::new(secret);
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_millis() as u64)
                            .unwrap_or_default();
                        if verifier
                            .verify_at(signature.as_deref(), &body, now)
                            .is_err()
                        {
                            return warp::reply::with_status(
                                "bad signature",
                                warp::http::StatusCode::UNAUTHORIZED,
                            );
                        }
                        let mut seen = arrivals.seen.lock().unwrap_or_else(|e| e.into_inner());
                        seen.entry(key.unwrap_or_default())
                            .or_insert_with(Instant::now);
                        arrivals.changed.notify_all();
                        warp::reply::with_status("{}", warp::http::StatusCode::OK)
                    },
                );
            warp::serve(route).incoming(listener).run().await;
        });
    });
    (format!("http://{addr}/hook"), secret)
}

fn post(client: &reqwest::blocking::Client, url: &str, key: &str, body: &Value) -> Value {
    let response = client
        .post(url)
        .header("x-api-key", key)
        .json(body)
        .send()
        .expect("request");
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.json().unwrap_or(Value::Null)
}

pub fn run() {
    // The receiver runs on this machine.
    let sup = Supervisor::start_full(&[], &[], &[], "[delivery]\nallow_private_targets = true\n");
    let (code, _, stderr) = sup.cli(&["workspaces", "create", "--id", "ws_bench"]);
    assert_eq!(code, 0, "{stderr}");
    let key = sup.create_key("ws_bench");
    let base = sup.base.clone();
    let client = reqwest::blocking::Client::new();
    let arrivals = Arc::new(Arrivals::default());
    let (url, secret) = receiver(Arc::clone(&arrivals));
    let contact = post(
        &client,
        &format!("{base}/v1/contacts"),
        &key,
        &json!({"name": "Bench", "email": "bench@example.com"}),
    )["id"]
        .as_str()
        .expect("contact")
        .to_string();
    let send = |client: &reqwest::blocking::Client, channel: &str, text: String| -> String {
        post(
            client,
            &format!("{base}/v1/messages"),
            &key,
            &json!({"contact_id": contact, "channel": channel, "text": text}),
        )["id"]
            .as_str()
            .expect("message id")
            .to_string()
    };
    let set_target = |channel: &str| {
        let answer = client
            .put(format!("{base}/v1/channels/{channel}"))
            .header("x-api-key", &key)
            .json(&json!({"kind": "webhook", "url": url, "secret": SECRET}))
            .send()
            .expect("put")
            .json::<Value>()
            .expect("json");
        assert_eq!(answer["kind"], "webhook", "{answer}");
    };
    *secret.lock().unwrap_or_else(|e| e.into_inner()) = SECRET.to_string();

    // Latency, one at a time.
    set_target("email");
    let mut latencies = Vec::with_capacity(LATENCY_SAMPLES);
    for i in 0..LATENCY_SAMPLES {
        let started = Instant::now();
        let id = send(&client, "email", format!("latency {i}"));
        let arrived = arrivals
            .wait_for(&id, Duration::from_secs(30))
            .expect("delivered");
        latencies.push(arrived.duration_since(started).as_secs_f64() * 1000.0);
    }
    latencies.sort_by(|a, b| a.total_cmp(b));

    // A backlog drained once the channel gets its target.
    for i in 0..BACKLOG {
        send(&client, "backlog", format!("backlog {i}"));
    }
    arrivals.clear();
    let drain_started = Instant::now();
    set_target("backlog");
    let last = arrivals
        .wait_count(BACKLOG, Duration::from_secs(300))
        .expect("backlog drained");
    let drain_rate = BACKLOG as f64 / last.duration_since(drain_started).as_secs_f64();

    // End to end with concurrent senders.
    arrivals.clear();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for s in 0..SENDERS {
            let send = &send;
            scope.spawn(move || {
                let client = reqwest::blocking::Client::new();
                for i in 0..PER_SENDER {
                    send(&client, "email", format!("sender {s} message {i}"));
                }
            });
        }
    });
    let last = arrivals
        .wait_count(SENDERS * PER_SENDER, Duration::from_secs(300))
        .expect("all delivered");
    let end_to_end = (SENDERS * PER_SENDER) as f64 / last.duration_since(started).as_secs_f64();

    println!("\n## delivery: messages to a local signed-webhook receiver");
    println!("| figure | measured |");
    println!("|---|---|");
    println!(
        "| send → receiver, one at a time ({LATENCY_SAMPLES} messages): p50 / p99 | {:.2} ms / {:.2} ms |",
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0)
    );
    println!("| backlog of {BACKLOG} drained (delivery alone) | {drain_rate:.0} msg/s |");
    println!(
        "| end to end, {SENDERS} concurrent senders ({} messages) | {end_to_end:.0} msg/s |",
        SENDERS * PER_SENDER
    );
}
