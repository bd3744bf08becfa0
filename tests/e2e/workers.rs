//! Workers end to end, one behaviour suite run against both backends: the embedded queue
//! (SQLite) and NATS JetStream (a private nats-server per test). Messages go through the real
//! supervisor to the fixture's worker, which records every delivery in its data dir.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use convotic_e2e::nats::NatsServer;
use convotic_e2e::{ModuleEntry, Supervisor};
use reqwest::Method;
use serde_json::{json, Value};

const LONG: Duration = Duration::from_secs(60);
const WORKERS: &str =
    "[workers]\nretry_base = \"100ms\"\nretry_max = \"500ms\"\nack_wait = \"2s\"\n";

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Embedded,
    Nats,
}

/// A supervisor running the fixture, on one backend.
struct Bench {
    sup: Supervisor,
    nats: Option<NatsServer>,
    key: String,
}

fn tables(nats: Option<&NatsServer>) -> String {
    match nats {
        Some(server) => format!("{WORKERS}[nats]\nurl = \"{}\"\n", server.url()),
        None => WORKERS.to_string(),
    }
}

fn start(backend: Backend) -> Bench {
    let nats = matches!(backend, Backend::Nats).then(NatsServer::start);
    let sup = start_supervisor(nats.as_ref());
    let key = sup.create_key("ws_test");
    Bench { sup, nats, key }
}

fn start_supervisor(nats: Option<&NatsServer>) -> Supervisor {
    let sup = Supervisor::start_full(
        &[ModuleEntry::fixture("fixture", "ok")],
        &[],
        &[],
        &tables(nats),
    );
    sup.wait_state("fixture", "ready", LONG);
    sup
}

impl Bench {
    fn publish(&self, payload: Value, headers: Value) -> String {
        publish(&self.sup, &self.key, payload, headers)
    }
}

fn publish(sup: &Supervisor, key: &str, payload: Value, headers: Value) -> String {
    let response = sup
        .http(Method::POST, "/v1/topics/fixture.events/messages")
        .header("x-api-key", key)
        .json(&json!({"payload": payload, "headers": headers}))
        .send()
        .expect("publish");
    let status = response.status().as_u16();
    let body: Value = response.json().unwrap_or(Value::Null);
    assert_eq!(status, 202, "publish: {body}");
    body["message_id"].as_str().expect("message id").to_string()
}

/// The fixture's delivery records.
fn deliveries(sup: &Supervisor) -> Vec<Value> {
    let path: PathBuf = sup
        .data_dir()
        .join("modules/ws_test/fixture/deliveries.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn done_ids(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .filter(|r| r["phase"] == "done")
        .filter_map(|r| r["message_id"].as_str().map(str::to_string))
        .collect()
}

fn attempts_of(records: &[Value], id: &str) -> Vec<u64> {
    records
        .iter()
        .filter(|r| r["phase"] == "received" && r["message_id"] == id)
        .filter_map(|r| r["attempt"].as_u64())
        .collect()
}

fn dead_letters(sup: &Supervisor, key: &str) -> Vec<Value> {
    let response = sup
        .http(Method::GET, "/v1/dead-letters")
        .header("x-api-key", key)
        .send()
        .expect("list");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().expect("json");
    body["dead_letters"].as_array().cloned().unwrap_or_default()
}

fn messages_reach_the_handler_with_payload_and_headers(backend: Backend) {
    let bench = start(backend);
    let id = bench.publish(
        json!({"order_id": 42, "items": ["a", "b"]}),
        json!({"x-source": "erp", "trace": "t-1"}),
    );
    bench
        .sup
        .wait_until(LONG, "delivery", |s| done_ids(&deliveries(s)).contains(&id));
    let records = deliveries(&bench.sup);
    let received = records
        .iter()
        .find(|r| r["message_id"] == id.as_str())
        .unwrap();
    assert_eq!(
        received["payload"],
        json!({"order_id": 42, "items": ["a", "b"]})
    );
    assert_eq!(received["headers"]["x-source"], "erp");
    assert_eq!(received["headers"]["trace"], "t-1");
    assert_eq!(received["attempt"], 1);
    // Deduplication by message id.
    let first = bench
        .sup
        .http(Method::POST, "/v1/topics/fixture.events/messages")
        .header("x-api-key", &bench.key)
        .json(&json!({"payload": {"dup": true}, "message_id": "order-42-created"}))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap();
    let second = bench
        .sup
        .http(Method::POST, "/v1/topics/fixture.events/messages")
        .header("x-api-key", &bench.key)
        .json(&json!({"payload": {"dup": true}, "message_id": "order-42-created"}))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap();
    assert_eq!(first["message_id"], "order-42-created");
    assert_eq!(second["duplicate"], true, "{second}");
    // Bad input is refused with the problem named.
    let response = bench
        .sup
        .http(Method::POST, "/v1/topics/bad topic/messages")
        .header("x-api-key", &bench.key)
        .json(&json!({"payload": 1}))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let response = bench
        .sup
        .http(Method::POST, "/v1/topics/fixture.events/messages")
        .header("x-api-key", &bench.key)
        .json(&json!({"order_id": 1}))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
}

fn retries_count_attempts_and_dead_letters_can_be_redriven(backend: Backend) {
    let bench = start(backend);
    let flaky = bench.publish(json!({"fail_times": 2}), json!({}));
    let doomed = bench.publish(json!({"always_fail": true}), json!({}));
    let discarded = bench.publish(json!({"discard": "malformed order"}), json!({}));
    bench.sup.wait_until(LONG, "flaky message done", |s| {
        done_ids(&deliveries(s)).contains(&flaky)
    });
    assert_eq!(attempts_of(&deliveries(&bench.sup), &flaky), [1, 2, 3]);
    let mut letters = Vec::new();
    bench.sup.wait_until(LONG, "two dead letters", |s| {
        letters = dead_letters(s, &bench.key);
        letters.len() == 2
    });
    let doomed_letter = letters
        .iter()
        .find(|l| l["message_id"] == doomed.as_str())
        .expect("doomed dead letter");
    assert_eq!(doomed_letter["attempts"], 3, "{doomed_letter}");
    assert!(
        doomed_letter["reason"]
            .as_str()
            .unwrap()
            .contains("always fails"),
        "{doomed_letter}"
    );
    assert_eq!(doomed_letter["payload"], json!({"always_fail": true}));
    let discarded_letter = letters
        .iter()
        .find(|l| l["message_id"] == discarded.as_str())
        .expect("discarded");
    assert!(discarded_letter["reason"]
        .as_str()
        .unwrap()
        .contains("malformed order"));
    assert_eq!(attempts_of(&deliveries(&bench.sup), &doomed), [1, 2, 3]);
    assert_eq!(attempts_of(&deliveries(&bench.sup), &discarded), [1]);
    // Re-drive: delivered again from attempt 1, and dead-lettered again after 3 attempts.
    let id = doomed_letter["id"].as_str().unwrap();
    let response = bench
        .sup
        .http(Method::POST, &format!("/v1/dead-letters/{id}/retry"))
        .header("x-api-key", &bench.key)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    bench.sup.wait_until(LONG, "re-driven deliveries", |s| {
        let records = deliveries(s);
        records
            .iter()
            .filter(|r| r["phase"] == "received" && r["payload"] == json!({"always_fail": true}))
            .count()
            == 6
    });
    let response = bench
        .sup
        .http(Method::POST, "/v1/dead-letters/dl_nope/retry")
        .header("x-api-key", &bench.key)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

fn a_module_killed_while_holding_messages_loses_none(backend: Backend) {
    let bench = start(backend);
    let ids: Vec<String> = (0..40)
        .map(|i| bench.publish(json!({"n": i, "sleep_ms": 300}), json!({})))
        .collect();
    bench
        .sup
        .wait_until(LONG, "some deliveries", |s| !deliveries(s).is_empty());
    let pid = bench.sup.module("fixture")["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let expected: BTreeSet<String> = ids.into_iter().collect();
    bench
        .sup
        .wait_until(LONG, "every message done after the restart", |s| {
            done_ids(&deliveries(s)) == expected
        });
    assert!(dead_letters(&bench.sup, &bench.key).is_empty());
}

fn a_supervisor_killed_and_restarted_loses_nothing(backend: Backend) {
    let mut bench = start(backend);
    let ids: Vec<String> = (0..20)
        .map(|i| bench.publish(json!({"n": i, "sleep_ms": 200}), json!({})))
        .collect();
    bench
        .sup
        .wait_until(LONG, "some deliveries", |s| !deliveries(s).is_empty());
    bench.sup.signal(nix::sys::signal::Signal::SIGKILL);
    bench
        .sup
        .wait_exit(Duration::from_secs(10))
        .expect("killed");
    bench.sup.restart_after_kill();
    bench.sup.wait_state("fixture", "ready", LONG);
    let expected: BTreeSet<String> = ids.into_iter().collect();
    bench.sup.wait_until(LONG, "every message done", |s| {
        done_ids(&deliveries(s)) == expected
    });
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(#[test] fn $name() { super::$name(super::Backend::Embedded) })*
        }
        mod nats {
            $(#[test] fn $name() { super::$name(super::Backend::Nats) })*
        }
    };
}

on_both_backends!(
    messages_reach_the_handler_with_payload_and_headers,
    retries_count_attempts_and_dead_letters_can_be_redriven,
    a_module_killed_while_holding_messages_loses_none,
    a_supervisor_killed_and_restarted_loses_nothing,
);

#[test]
fn nats_messages_published_straight_on_the_subject_reach_the_handler() {
    let bench = start(Backend::Nats);
    let server = bench.nats.as_ref().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(server.url()).await.unwrap();
        let jetstream = async_nats::jetstream::new(client);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("x-origin", "outside");
        jetstream
            .publish_with_headers(
                "convotic.ws_test.topics.fixture.events",
                headers,
                r#"{"from":"nats"}"#.into(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    });
    bench.sup.wait_until(LONG, "delivery", |s| {
        deliveries(s)
            .iter()
            .any(|r| r["phase"] == "done" && r["payload"] == json!({"from": "nats"}))
    });
    let record = deliveries(&bench.sup)
        .into_iter()
        .find(|r| r["payload"] == json!({"from": "nats"}))
        .unwrap();
    assert_eq!(record["headers"]["x-origin"], "outside");
}

#[test]
fn a_nats_outage_loses_nothing_and_publishing_resumes() {
    let mut bench = start(Backend::Nats);
    let mut expected: BTreeSet<String> = (0..10)
        .map(|i| bench.publish(json!({"n": i, "sleep_ms": 100}), json!({})))
        .collect();
    bench.nats.as_mut().unwrap().stop();
    std::thread::sleep(Duration::from_secs(3));
    // During the outage publishing fails cleanly (no hang, no 500).
    let response = bench
        .sup
        .http(Method::POST, "/v1/topics/fixture.events/messages")
        .header("x-api-key", &bench.key)
        .json(&json!({"payload": {"during": "outage"}}))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    assert!(
        status == 503 || status == 202,
        "publish during the outage: {status}"
    );
    if status == 202 {
        let body: Value = response.json().unwrap();
        expected.insert(body["message_id"].as_str().unwrap().to_string());
    }
    let mut server = bench.nats.take().unwrap();
    server.restart();
    bench.nats = Some(server);
    // Publishing resumes (the client reconnects in the background).
    let mut resumed = None;
    bench.sup.wait_until(LONG, "publishing to resume", |s| {
        let response = s
            .http(Method::POST, "/v1/topics/fixture.events/messages")
            .header("x-api-key", &bench.key)
            .json(&json!({"payload": {"after": "outage"}}))
            .send()
            .unwrap();
        if response.status().as_u16() == 202 {
            resumed = response.json::<Value>().ok();
            true
        } else {
            false
        }
    });
    expected.insert(resumed.unwrap()["message_id"].as_str().unwrap().to_string());
    bench.sup.wait_until(LONG, "every message done", |s| {
        expected.is_subset(&done_ids(&deliveries(s)))
    });
}

#[test]
fn two_supervisors_on_one_nats_share_the_work() {
    let nats = NatsServer::start();
    let first = start_supervisor(Some(&nats));
    let second = start_supervisor(Some(&nats));
    let key = first.create_key("ws_test");
    let ids: BTreeSet<String> = (0..60)
        .map(|i| publish(&first, &key, json!({"n": i, "sleep_ms": 50}), json!({})))
        .collect();
    let union = |a: &Supervisor, b: &Supervisor| {
        let mut all = done_ids(&deliveries(a));
        all.extend(done_ids(&deliveries(b)));
        all
    };
    first.wait_until(LONG, "all messages done by the two", |_| {
        union(&first, &second) == ids
    });
    let (a, b) = (
        done_ids(&deliveries(&first)),
        done_ids(&deliveries(&second)),
    );
    assert!(
        !a.is_empty() && !b.is_empty(),
        "one supervisor did all the work: {} / {}",
        a.len(),
        b.len()
    );
    // Each message handled once (no redelivery happened: nothing failed or timed out).
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for record in deliveries(&first).into_iter().chain(deliveries(&second)) {
        if record["phase"] == "received" {
            *counts
                .entry(record["message_id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    let doubled: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "handled more than once: {doubled:?}");
}

/// A supervisor SIGKILLed with a backlog on NATS: the deliveries it held fill the handler's
/// `max_ack_pending` until `ack_wait` passes, so with the default `ack_wait` (kept short, and
/// extended by progress reports while a handler runs) the next supervisor gets messages again
/// within seconds, not after 30 s.
#[test]
fn nats_deliveries_resume_within_seconds_after_a_supervisor_sigkill() {
    let nats = NatsServer::start();
    // The default ack_wait: not set here.
    let tables = format!(
        "[workers]\nretry_base = \"100ms\"\nretry_max = \"500ms\"\n[nats]\nurl = \"{}\"\n",
        nats.url()
    );
    let mut sup =
        Supervisor::start_full(&[ModuleEntry::fixture("fixture", "ok")], &[], &[], &tables);
    sup.wait_state("fixture", "ready", LONG);
    let key = sup.create_key("ws_test");
    // Concurrency 8; each message takes 3 s (longer than a third of any ack_wait: the progress
    // reports must keep it).
    let ids: BTreeSet<String> = (0..40)
        .map(|i| publish(&sup, &key, json!({"n": i, "sleep_ms": 3000}), json!({})))
        .collect();
    sup.wait_until(LONG, "the handler holds 8 messages", |s| {
        deliveries(s)
            .iter()
            .filter(|r| r["phase"] == "received")
            .count()
            >= 8
    });
    sup.signal(nix::sys::signal::Signal::SIGKILL);
    sup.wait_exit(Duration::from_secs(10)).expect("killed");
    let killed_at = std::time::Instant::now();
    // The module died with its supervisor (and runs as pid 2 of its own PID namespace each
    // time, so pids cannot tell the two apart): every record after this count is the new one's.
    let received = |s: &Supervisor| {
        deliveries(s)
            .iter()
            .filter(|r| r["phase"] == "received")
            .count()
    };
    let before = received(&sup);
    sup.restart_after_kill();
    sup.wait_until(LONG, "a delivery to the new supervisor's module", |s| {
        received(s) > before
    });
    let resumed_after = killed_at.elapsed();
    println!("deliveries resumed {resumed_after:?} after the SIGKILL");
    assert!(
        resumed_after < Duration::from_secs(12),
        "deliveries resumed only {resumed_after:?} after the SIGKILL"
    );
    sup.wait_until(Duration::from_secs(120), "every message done", |s| {
        ids.is_subset(&done_ids(&deliveries(s)))
    });
}
