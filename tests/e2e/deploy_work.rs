//! Work in flight across deployments: worker messages published throughout a series of deploys
//! are all handled (embedded queue and NATS JetStream), and a cron run in flight at a switch
//! finishes on the old version while later ticks run on the new one, never on both.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use convotic_e2e::nats::NatsServer;
use convotic_e2e::packages::{deploy, fixture_defaults, fixture_package};
use convotic_e2e::Supervisor;
use reqwest::Method;
use serde_json::{json, Value};

const LONG: Duration = Duration::from_secs(60);
const WORKERS: &str =
    "[workers]\nretry_base = \"100ms\"\nretry_max = \"500ms\"\nack_wait = \"2s\"\n";

fn records(sup: &Supervisor, file: &str) -> Vec<Value> {
    std::fs::read_to_string(sup.data_dir().join("modules/ws_test/fixture").join(file))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn publish(sup: &Supervisor, key: &str, n: usize) -> String {
    let response = sup
        .http(Method::POST, "/v1/topics/fixture.events/messages")
        .header("x-api-key", key)
        .json(&json!({"payload": {"n": n, "sleep_ms": 150}}))
        .send()
        .expect("publish");
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().expect("json");
    body["message_id"].as_str().expect("id").to_string()
}

fn messages_published_throughout_deploys_are_all_handled(nats: Option<&NatsServer>) {
    let tables = match nats {
        Some(server) => format!("{WORKERS}[nats]\nurl = \"{}\"\n", server.url()),
        None => WORKERS.to_string(),
    };
    let sup = Supervisor::start_full(&[], &[&fixture_defaults()], &[], &tables);
    let root = sup.dir.path().join("packages-src");
    let v1 = fixture_package(&root, "fixture", "1", "ok", &[], &[]);
    let v2 = fixture_package(&root, "fixture", "2", "ok", &[], &[]);
    let (code, answer, stderr) = deploy(&sup, "ws_test", &v1);
    assert_eq!(code, 0, "{answer} {stderr}");
    let key = sup.create_key("ws_test");

    let publisher = {
        let (base, key) = (sup.base.clone(), key.clone());
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            (0..80)
                .map(|n| {
                    std::thread::sleep(Duration::from_millis(40));
                    let response = client
                        .post(format!("{base}/v1/topics/fixture.events/messages"))
                        .header("x-api-key", &key)
                        .json(&json!({"payload": {"n": n, "sleep_ms": 150}}))
                        .send()
                        .expect("publish");
                    assert_eq!(response.status().as_u16(), 202);
                    let body: Value = response.json().expect("json");
                    body["message_id"].as_str().expect("id").to_string()
                })
                .collect::<Vec<_>>()
        })
    };
    for round in 0..6 {
        let package = if round % 2 == 0 { &v2 } else { &v1 };
        let (code, answer, stderr) = deploy(&sup, "ws_test", package);
        assert_eq!(code, 0, "round {round}: {answer} {stderr}");
    }
    let mut expected: BTreeSet<String> = publisher.join().expect("publisher").into_iter().collect();
    expected.insert(publish(&sup, &key, 80));
    sup.wait_until(
        LONG,
        "every message published during the deploys handled",
        |s| {
            let done: BTreeSet<String> = records(s, "deliveries.jsonl")
                .iter()
                .filter(|r| r["phase"] == "done")
                .filter_map(|r| r["message_id"].as_str().map(str::to_string))
                .collect();
            expected.is_subset(&done)
        },
    );
    // Handled by several instances: the deploys really switched under the messages.
    let instances: BTreeSet<String> = records(&sup, "deliveries.jsonl")
        .iter()
        .filter_map(|r| r["instance"].as_str().map(str::to_string))
        .collect();
    assert!(instances.len() >= 3, "deliveries came from {instances:?}");
}

#[test]
fn embedded_queue_messages_published_throughout_deploys_are_all_handled() {
    messages_published_throughout_deploys_are_all_handled(None);
}

#[test]
fn nats_messages_published_throughout_deploys_are_all_handled() {
    let nats = NatsServer::start();
    messages_published_throughout_deploys_are_all_handled(Some(&nats));
}

#[test]
fn a_cron_run_in_flight_at_a_switch_finishes_there_and_ticks_never_run_twice() {
    let sup = Supervisor::start(&[], &[&fixture_defaults()]);
    let root = sup.dir.path().join("packages-src");
    let crons = [("MISBEHAVE_CRONS", "1")];
    let v1 = fixture_package(&root, "fixture", "1", "ok", &[], &crons);
    let v2 = fixture_package(&root, "fixture", "2", "ok", &[], &crons);
    let (code, answer, stderr) = deploy(&sup, "ws_test", &v1);
    assert_eq!(code, 0, "{answer} {stderr}");
    // Instance ids tell the versions apart (pids repeat across sandboxes' pid namespaces).
    let old = sup.module("fixture")["instance"]
        .as_str()
        .expect("instance")
        .to_string();

    // Wait for a `slow` run (3 s) to start, then switch while it runs.
    sup.wait_until(LONG, "a slow run to start", |s| {
        records(s, "crons.jsonl")
            .iter()
            .any(|r| r["cron"] == "slow" && r["phase"] == "start")
    });
    let in_flight = records(&sup, "crons.jsonl")
        .into_iter()
        .rfind(|r| r["cron"] == "slow" && r["phase"] == "start")
        .expect("slow start");
    let (code, answer, stderr) = deploy(&sup, "ws_test", &v2);
    assert_eq!(code, 0, "{answer} {stderr}");
    let new = sup.module("fixture")["instance"]
        .as_str()
        .expect("instance")
        .to_string();
    assert_ne!(new, old);
    let run_id = in_flight["run_id"].clone();
    sup.wait_until(
        LONG,
        "the in-flight slow run to finish on the old version",
        |s| {
            records(s, "crons.jsonl").iter().any(|r| {
                r["run_id"] == run_id && r["phase"] == "end" && r["instance"] == old.as_str()
            })
        },
    );
    sup.wait_until(LONG, "ticks on the new version", |s| {
        records(s, "crons.jsonl")
            .iter()
            .filter(|r| r["cron"] == "tick" && r["instance"] == new.as_str())
            .count()
            >= 3
    });
    let all = records(&sup, "crons.jsonl");
    // Every tick of `tick` started once, whichever instance ran it.
    let mut starts: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for r in all
        .iter()
        .filter(|r| r["phase"] == "start" && r["manual"] == false)
    {
        let key = (
            r["cron"].as_str().unwrap_or("").to_string(),
            r["scheduled_at_ms"].as_i64().unwrap_or(0),
        );
        *starts.entry(key).or_default() += 1;
    }
    let twice: Vec<_> = starts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "ticks run twice: {twice:?}");
    // `slow` (overlap skip) never ran on both instances at once.
    let slow: Vec<&Value> = all.iter().filter(|r| r["cron"] == "slow").collect();
    let new_slow_start = slow
        .iter()
        .filter(|r| r["phase"] == "start" && r["instance"] == new.as_str())
        .filter_map(|r| r["started_ms"].as_i64())
        .min();
    let old_slow_end = slow
        .iter()
        .filter(|r| r["phase"] == "end" && r["run_id"] == run_id)
        .filter_map(|r| r["finished_ms"].as_i64())
        .max();
    if let (Some(start), Some(end)) = (new_slow_start, old_slow_end) {
        assert!(
            start >= end,
            "the new version's slow run started before the old one ended"
        );
    }
}
