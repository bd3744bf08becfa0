//! The cluster's acceptance test: three supervisors as three hosts (network namespaces joined
//! by a bridge, see `convotic_e2e::netns`), sharing a throwaway PostgreSQL server and a 3-node
//! NATS cluster with R3 streams (`[nats] replicas = 3`), one NATS node per host.
//!
//! One cluster, scenarios in turn:
//! * the supervisors' JetStream streams have 3 replicas;
//! * routes answer the same data from every node (a key made through A's CLI, a contact
//!   created through B listed through all three), and every node lists the three with their
//!   addresses;
//! * a module's storage written through A is read through C;
//! * 10,000 worker messages are all handled (at least once; duplicates are reported) while
//!   supervisor C and NATS node 3 are SIGKILLed midway; C's module processes die with it;
//! * after C and NATS node 3 are back, a cron firing every second runs exactly once per tick
//!   across the three nodes (run history in the store, and the module's own records);
//! * packages deployed through B switch all three nodes with no failed call under load, and a
//!   version failing on C only is rolled back on all three (`cluster_netns/deployments.rs`).
//!
//! Needs root and iproute2 (it fails, saying so, without them), nats-server and PostgreSQL's
//! server binaries (`/usr/lib/postgresql/<version>/bin`).

#[path = "cluster_netns/deployments.rs"]
mod deployments;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use convotic_e2e::netns::{Cluster, NODE_IDS};
use convotic_e2e::{wait_all_dead, ModuleEntry, Supervisor};
use nix::sys::signal::Signal;
use reqwest::Method;
use serde_json::{json, Value};

/// Worker messages published in the kill scenario.
const MESSAGES: usize = 10_000;
/// Threads publishing them.
const PUBLISHERS: usize = 8;
/// Ticks of the every-second cron observed.
const TICKS: u64 = 10;
/// Streams the supervisor creates.
const STREAMS: [&str; 4] = [
    "CONVOTIC_TOPICS",
    "CONVOTIC_DEAD",
    "CONVOTIC_CRON",
    "CONVOTIC_OUTBOX",
];

/// `hello-rust` (routes, storage) and the fixture (a worker on `fixture.events` recording
/// every delivery, and per-second crons recording every run).
fn modules() -> Vec<ModuleEntry> {
    vec![
        ModuleEntry::new("hello-rust", "hello-rust"),
        ModuleEntry::fixture("fixture", "ok").env("MISBEHAVE_CRONS", "1"),
    ]
}

#[test]
fn three_nodes_in_network_namespaces_share_store_work_and_crons() {
    let started = Instant::now();
    let mut cluster = Cluster::start(&modules(), "");
    println!("cluster up in {:?}", started.elapsed());
    streams_have_three_replicas(&cluster);
    let key = routes_answer_the_same_data_on_every_node(&cluster);
    storage_written_through_a_is_read_through_c(&cluster, &key);
    worker_messages_survive_a_supervisor_and_a_nats_node_killed(&mut cluster, &key);
    bring_back_c_and_nats_node_3(&mut cluster);
    each_cron_tick_runs_once_across_the_nodes(&cluster);
    deployments::deployments_sent_to_b_switch_all_three(&cluster, &key);
    println!("whole test {:?}", started.elapsed());
}

/// The streams' configuration and cluster placement, through the JetStream API.
fn streams_have_three_replicas(cluster: &Cluster) {
    let url = cluster.nats.node_url(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = async_nats::connect(&url).await.expect("connect to NATS");
        let jetstream = async_nats::jetstream::new(client);
        for name in STREAMS {
            let mut stream = jetstream
                .get_stream(name)
                .await
                .unwrap_or_else(|e| panic!("stream {name}: {e}"));
            let info = stream.info().await.expect("stream info");
            assert_eq!(info.config.num_replicas, 3, "{name}: {:?}", info.config);
            let placement = info.cluster.as_ref().expect("cluster info");
            assert!(placement.leader.is_some(), "{name} has no leader");
            assert_eq!(placement.replicas.len(), 2, "{name}: {placement:?}");
        }
    });
}

/// Sends a request; returns (status, JSON body).
fn send(request: reqwest::blocking::RequestBuilder) -> (u16, Value) {
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// A key made through A's CLI opens every node's routes; a contact created through B is
/// listed on all three; each node lists the three nodes at their own addresses. Returns the
/// key.
fn routes_answer_the_same_data_on_every_node(cluster: &Cluster) -> String {
    let a = cluster.node("a");
    let (code, stdout, stderr) = a.cli_config(&["keys", "create", "--workspace", "ws_test"]);
    assert_eq!(code, 0, "keys create through A: {stderr}");
    let key = stdout.lines().next().unwrap_or_default().trim().to_string();

    let (status, created) = send(
        cluster
            .node("b")
            .http(Method::POST, "/v1/contacts")
            .header("x-api-key", &key)
            .json(&json!({"external_id": "cust-1", "name": "Ada"})),
    );
    assert!((200..300).contains(&status), "create contact: {created}");
    for id in NODE_IDS {
        let (status, list) = send(
            cluster
                .node(id)
                .http(Method::GET, "/v1/contacts")
                .header("x-api-key", &key),
        );
        assert_eq!(status, 200, "contacts through {id}: {list}");
        let contacts = list["contacts"].as_array().expect("contacts");
        assert_eq!(contacts.len(), 1, "contacts through {id}: {list}");
        assert_eq!(contacts[0]["id"], created["id"], "through {id}: {list}");
        assert_eq!(contacts[0]["name"], "Ada", "through {id}: {list}");
    }

    let addresses: BTreeMap<String, String> = NODE_IDS
        .iter()
        .zip(cluster.network.hosts())
        .map(|(id, host)| (id.to_string(), host.address.to_string()))
        .collect();
    for id in NODE_IDS {
        cluster.wait_until(
            Duration::from_secs(20),
            Duration::from_millis(200),
            &format!("node {id} to list the three nodes"),
            |c| {
                let (code, stdout, stderr) = c.node(id).cli(&["ps", "--cluster", "--json"]);
                let body: Value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
                let listed: BTreeMap<String, String> = body["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|n| Some((n["id"].as_str()?.into(), n["address"].as_str()?.into())))
                    .collect();
                let at_home = listed.len() == 3
                    && listed.iter().all(|(node, address)| {
                        addresses
                            .get(node)
                            .is_some_and(|ip| address.starts_with(&format!("http://{ip}:")))
                    });
                if code == 0 && at_home {
                    Ok(())
                } else {
                    Err(format!("exit {code}, listed {listed:?}, {stderr}"))
                }
            },
        );
    }
    key
}

/// A value stored through A is read through B and C; one stored through C is read through A.
fn storage_written_through_a_is_read_through_c(cluster: &Cluster, key: &str) {
    let put = |node: &str, text: &str| {
        let (status, body) = send(
            cluster
                .node(node)
                .http(Method::PUT, "/v1/modules/hello-rust/kv/greeting")
                .header("x-api-key", key)
                .json(&json!({ "text": text })),
        );
        assert!((200..300).contains(&status), "PUT through {node}: {body}");
    };
    let get = |node: &str| {
        let (status, body) = send(
            cluster
                .node(node)
                .http(Method::GET, "/v1/modules/hello-rust/kv/greeting")
                .header("x-api-key", key),
        );
        assert_eq!(status, 200, "GET through {node}: {body}");
        body["value"].clone()
    };
    put("a", "from A");
    assert_eq!(get("c"), json!({"text": "from A"}));
    assert_eq!(get("b"), json!({"text": "from A"}));
    put("c", "from C");
    assert_eq!(get("a"), json!({"text": "from C"}));
}

/// The fixture's delivery records on one node (`deliveries.jsonl` in its module data dir; a
/// torn last line is skipped).
fn deliveries(node: &Supervisor) -> Vec<Value> {
    let path = node
        .data_dir()
        .join("modules/ws_test/fixture/deliveries.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// How many times each message id was handled to the end (`done`), over every node.
fn handled(cluster: &Cluster) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for node in &cluster.nodes {
        for record in deliveries(node) {
            if record["phase"] == "done" {
                if let Some(id) = record["message_id"].as_str() {
                    *counts.entry(id.to_string()).or_insert(0) += 1;
                }
            }
        }
    }
    counts
}

/// The id of message `n`.
fn message_id(n: usize) -> String {
    format!("netns-{n:05}")
}

/// Threads publishing [`MESSAGES`] messages with ids of their own through the nodes in turn,
/// as a load balancer without health checks would; a publish that fails (a node gone, NATS
/// unavailable) is tried again with the same id on the next node (the stream deduplicates
/// ids).
struct Publishers {
    threads: Vec<std::thread::JoinHandle<()>>,
    accepted: Arc<AtomicUsize>,
    /// Failed attempts that were tried again, by node and reason.
    retried: Arc<Mutex<BTreeMap<String, usize>>>,
    failures: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Publishers {
    fn start(bases: Vec<String>, key: &str) -> Self {
        let accepted = Arc::new(AtomicUsize::new(0));
        let retried = Arc::new(Mutex::new(BTreeMap::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..PUBLISHERS)
            .map(|thread| {
                let (bases, key) = (bases.clone(), key.to_string());
                let (accepted, retried) = (Arc::clone(&accepted), Arc::clone(&retried));
                let (failures, stop) = (Arc::clone(&failures), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let client = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(10))
                        .build()
                        .expect("client");
                    for n in (thread..MESSAGES).step_by(PUBLISHERS) {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        match publish(&client, &bases, &key, n, &retried) {
                            Ok(()) => accepted.fetch_add(1, Ordering::Relaxed),
                            Err(e) => {
                                failures.lock().unwrap().push(e);
                                return;
                            }
                        };
                    }
                })
            })
            .collect();
        Self {
            threads,
            accepted,
            retried,
            failures,
            stop,
        }
    }

    /// Waits for the threads; returns (failed attempts tried again by node and reason,
    /// messages never accepted).
    fn finish(mut self) -> (BTreeMap<String, usize>, Vec<String>) {
        for thread in std::mem::take(&mut self.threads) {
            let _ = thread.join();
        }
        let failures = self.failures.lock().unwrap().clone();
        let retried = self.retried.lock().unwrap().clone();
        (retried, failures)
    }
}

impl Drop for Publishers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Publishes message `n`, trying the nodes in turn (pausing after each round) for up to a
/// minute; counts each failed attempt in `retried` by node and reason.
fn publish(
    client: &reqwest::blocking::Client,
    bases: &[String],
    key: &str,
    n: usize,
    retried: &Mutex<BTreeMap<String, usize>>,
) -> Result<(), String> {
    let started = Instant::now();
    let mut last = String::new();
    for attempt in 0.. {
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
        if attempt > 0 && attempt % bases.len() == 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
        let node = (n + attempt) % bases.len();
        let response = client
            .post(format!("{}/v1/topics/fixture.events/messages", bases[node]))
            .header("x-api-key", key)
            .json(&json!({"payload": {"n": n}, "message_id": message_id(n)}))
            .send();
        let reason = match response {
            Ok(r) if r.status().as_u16() == 202 => return Ok(()),
            Ok(r) => {
                let status = r.status();
                last = format!("{status} {}", r.text().unwrap_or_default());
                format!("HTTP {}", status.as_u16())
            }
            Err(e) => {
                last = e.to_string();
                if e.is_connect() {
                    "no connection".to_string()
                } else if e.is_timeout() {
                    "timeout".to_string()
                } else {
                    "error".to_string()
                }
            }
        };
        *retried
            .lock()
            .unwrap()
            .entry(format!("{}: {reason}", NODE_IDS[node]))
            .or_insert(0) += 1;
    }
    Err(format!("message {n} not accepted within a minute: {last}"))
}

/// The dead letters of the workspace, for failure messages.
fn dead_letters(node: &Supervisor, key: &str) -> Vec<Value> {
    let (_, body) = send(
        node.http(Method::GET, "/v1/dead-letters?page_size=100")
            .header("x-api-key", key),
    );
    body["dead_letters"].as_array().cloned().unwrap_or_default()
}

/// 10,000 messages published through the three nodes; when half are handled, supervisor C
/// and NATS node 3 are SIGKILLed (every supervisor has all three NATS URLs, so none loses its
/// only server). Every message is handled at least once; C's module processes are gone.
fn worker_messages_survive_a_supervisor_and_a_nats_node_killed(cluster: &mut Cluster, key: &str) {
    let c_processes = cluster.node("c").descendants();
    assert!(
        !c_processes.is_empty(),
        "supervisor C runs no module process"
    );
    let bases: Vec<String> = cluster.nodes.iter().map(|n| n.base.clone()).collect();
    let started = Instant::now();
    let publishers = Publishers::start(bases, key);
    cluster.wait_until(
        Duration::from_secs(180),
        Duration::from_millis(250),
        "half of the messages handled",
        |c| {
            let done = handled(c).len();
            (done >= MESSAGES / 2)
                .then_some(())
                .ok_or(format!("{done} handled"))
        },
    );
    let at_kill = handled(cluster).len();
    let published_at_kill = publishers.accepted.load(Ordering::Relaxed);
    let c = cluster.node_mut("c");
    c.signal(Signal::SIGKILL);
    c.wait_exit(Duration::from_secs(10))
        .expect("supervisor C exits on SIGKILL");
    cluster.nats.kill(2);
    println!(
        "SIGKILLed supervisor C and NATS node 3 after {:?}: {at_kill} handled, \
         {published_at_kill} published",
        started.elapsed()
    );
    let survivors = wait_all_dead(&c_processes, Duration::from_secs(10));
    assert!(
        survivors.is_empty(),
        "module processes of supervisor C outlived it: {:?}",
        survivors
            .iter()
            .map(|p| format!("{p} {}", convotic_e2e::cmdline(*p)))
            .collect::<Vec<_>>()
    );

    let (retried, failures) = publishers.finish();
    assert!(failures.is_empty(), "publishing failed: {failures:?}");
    let expected: BTreeSet<String> = (0..MESSAGES).map(message_id).collect();
    cluster.wait_until(
        Duration::from_secs(180),
        Duration::from_millis(500),
        "every message handled after the kills",
        |c| {
            let done = handled(c);
            let missing: Vec<&String> = expected
                .iter()
                .filter(|id| !done.contains_key(*id))
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            Err(format!(
                "{} of {MESSAGES} not handled (first: {:?}); dead letters: {:?}",
                missing.len(),
                &missing[..missing.len().min(5)],
                dead_letters(c.node("a"), key)
                    .iter()
                    .take(5)
                    .map(|d| format!("{} {}", d["message_id"], d["reason"]))
                    .collect::<Vec<_>>()
            ))
        },
    );
    let done = handled(cluster);
    let unexpected: Vec<&String> = done.keys().filter(|id| !expected.contains(*id)).collect();
    assert!(unexpected.is_empty(), "unknown ids handled: {unexpected:?}");
    let duplicates = done.values().filter(|n| **n > 1).count();
    let per_node: Vec<String> = NODE_IDS
        .iter()
        .map(|id| {
            let records = deliveries(cluster.node(id));
            let count = records.iter().filter(|r| r["phase"] == "done").count();
            format!("{id}: {count}")
        })
        .collect();
    println!(
        "{MESSAGES} messages handled in {:?}; handled more than once (at-least-once): \
         {duplicates}; handled per node: {}; failed publish attempts tried again: {retried:?}",
        started.elapsed(),
        per_node.join(", ")
    );
    assert!(
        dead_letters(cluster.node("a"), key).is_empty(),
        "dead letters after every message was handled"
    );
}

/// Restarts NATS node 3 (on its store) and supervisor C, and waits until C's modules are
/// ready and it is listed as live again.
fn bring_back_c_and_nats_node_3(cluster: &mut Cluster) {
    cluster.nats.restart(2);
    let restarted_at = now_ms();
    let c = cluster.node_mut("c");
    c.restart_after_kill();
    for module in modules() {
        c.wait_state(&module.name, "ready", Duration::from_secs(60));
    }
    convotic_e2e::netns::assert_is_the_supervisor(cluster.node("c"));
    cluster.wait_until(
        Duration::from_secs(30),
        Duration::from_millis(200),
        "A to list the restarted C",
        |c| {
            let (code, stdout, stderr) = c.node("a").cli(&["ps", "--cluster", "--json"]);
            let body: Value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
            let nodes = body["nodes"].as_array().cloned().unwrap_or_default();
            let restarted = nodes.iter().any(|n| {
                n["id"] == "c"
                    && n["started_at_ms"]
                        .as_u64()
                        .is_some_and(|t| t >= restarted_at)
            });
            (code == 0 && nodes.len() == 3 && restarted)
                .then_some(())
                .ok_or(format!("exit {code}, nodes {nodes:?}, {stderr}"))
        },
    );
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The scheduled times of the fixture's `tick` runs that started on `node`, from its own
/// records (`crons.jsonl`).
fn tick_starts(node: &Supervisor) -> Vec<u64> {
    let path = node.data_dir().join("modules/ws_test/fixture/crons.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["cron"] == "tick" && r["phase"] == "start" && r["manual"] == false)
        .filter_map(|r| r["scheduled_at_ms"].as_u64())
        .collect()
}

/// Observes [`TICKS`] ticks of the every-second cron `tick`: the run history (read through
/// A: the store is shared) holds exactly one run per tick, ended ok, and the module ran each
/// tick on exactly one node.
fn each_cron_tick_runs_once_across_the_nodes(cluster: &Cluster) {
    // From the second after next: C's crons have started.
    let from = (now_ms() / 1000 + 2) * 1000;
    let until = from + TICKS * 1000;
    // Until every tick of the window has ended (a tick starts within a second).
    while now_ms() < until + 3000 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let in_window = |at: u64| (from..until).contains(&at);
    let (status, body) = cluster
        .node("a")
        .get("/admin/v1/crons/fixture/tick/runs?page_size=500");
    assert_eq!(status, 200, "runs of tick: {body}");
    // Every scheduled tick of the history: its runs' outcomes and nodes.
    let mut history: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for run in body["runs"].as_array().expect("runs") {
        let Some(at) = run["scheduled_at_ms"].as_u64() else {
            continue;
        };
        if run["manual"] == false {
            history.entry(at).or_default().push(format!(
                "{} on {}",
                run["outcome"].as_str().unwrap_or("?"),
                run["supervisor_id"].as_str().unwrap_or("?")
            ));
        }
    }
    let per_tick: BTreeMap<u64, Vec<String>> = history
        .iter()
        .filter(|(at, _)| in_window(**at))
        .map(|(at, runs)| (*at, runs.clone()))
        .collect();
    let expected: Vec<u64> = (from..until).step_by(1000).collect();
    assert_eq!(
        per_tick.keys().copied().collect::<Vec<_>>(),
        expected,
        "one run per tick of [{from}, {until}): {per_tick:#?}"
    );
    for (at, outcomes) in &per_tick {
        assert!(
            outcomes.len() == 1 && outcomes[0].starts_with("ok on "),
            "tick {at}: {outcomes:?}"
        );
    }
    // Before the window (the kills, the restarts), for the record: ticks recorded more than
    // once.
    let repeated: Vec<_> = history
        .iter()
        .filter(|(at, runs)| **at < from && runs.len() > 1)
        .collect();
    println!("ticks before the window recorded more than once: {repeated:?}");
    // The module's own view: each tick started on one node only.
    let mut started: Vec<(u64, &str)> = NODE_IDS
        .iter()
        .flat_map(|id| {
            tick_starts(cluster.node(id))
                .into_iter()
                .filter(|at| in_window(*at))
                .map(move |at| (at, *id))
        })
        .collect();
    started.sort_unstable();
    let ticks: Vec<u64> = started.iter().map(|(at, _)| *at).collect();
    assert_eq!(
        ticks, expected,
        "each tick started once across the nodes: {started:?}"
    );
    let nodes: BTreeSet<&str> = started.iter().map(|(_, id)| *id).collect();
    println!("{TICKS} ticks, each run once, by nodes {nodes:?}");
}
