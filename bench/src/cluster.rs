//! `bench cluster`: route requests and worker messages per second with 1, 2 and 3 supervisors
//! sharing one PostgreSQL database (`[store] url`, a fresh database on the local server) and
//! one `nats-server`, all on this machine over loopback, with the scaling factor against one
//! node. Routes: `GET /v1/modules/hello-rust/kv/greeting` (one storage read in PostgreSQL per
//! request), 32 connections in all spread evenly over the nodes (what a load balancer does),
//! by this bench's own load generator (`routes::load`). Workers: 20,000 messages of 1 KiB
//! published on the topic of `bench-worker` while the nodes measured run (the others stopped),
//! timed from the first publish until the handler's durable consumer (shared by the nodes)
//! has nothing pending or unacknowledged. Best of interleaved rounds; asserts nothing. On a
//! machine with 2 cores the nodes share them: read the factors as the cost of coordination,
//! not as capacity.

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::PullConsumer;
use bytes::Bytes;
use convotic_e2e::postgres::TestDatabase;
use convotic_e2e::{ModuleEntry, Supervisor};
use futures::StreamExt;
use hyper::header::{HeaderName, HeaderValue};
use hyper::Method;

use crate::routes::load::{self, Plan, Target};
use crate::workers::bare::{publish_all, settled, start_server};
use crate::workers::nats::{restart, stop, MODULE, TOPIC, WORKERS, WORKSPACE};

const NODES: usize = 3;
const CONNECTIONS: usize = 32;
const MESSAGES: usize = 20_000;

struct Node {
    sup: Supervisor,
    running: bool,
}

fn start_node(tables: &str) -> Result<Node, String> {
    std::panic::catch_unwind(|| {
        let sup = Supervisor::start_full(
            &[
                ModuleEntry::new("hello-rust", "hello-rust"),
                ModuleEntry::new(MODULE, MODULE),
            ],
            &[],
            &[],
            tables,
        );
        sup.wait_state("hello-rust", "ready", Duration::from_secs(30));
        sup.wait_state(MODULE, "ready", Duration::from_secs(30));
        sup
    })
    .map(|sup| Node { sup, running: true })
    .map_err(|_| "a supervisor did not start (binaries built next to the bench?)".into())
}

/// Runs the first `n` nodes and stops the others.
fn use_nodes(nodes: &mut [Node], n: usize) -> Result<(), String> {
    for (i, node) in nodes.iter_mut().enumerate() {
        if i < n && !node.running {
            restart(&mut node.sup)?;
            node.sup
                .wait_state(MODULE, "ready", Duration::from_secs(30));
            node.running = true;
        } else if i >= n && node.running {
            stop(&mut node.sup)?;
            node.running = false;
        }
    }
    Ok(())
}

/// Route requests per second over the first `n` nodes.
fn routes(nodes: &[Node], n: usize, key: &str, options: &crate::routes::Options) -> f64 {
    let per_node = (CONNECTIONS / n).max(1);
    let threads: Vec<_> = nodes[..n]
        .iter()
        .map(|node| {
            let addr = node
                .sup
                .base
                .trim_start_matches("http://")
                .parse()
                .expect("addr");
            let target = Target {
                addr,
                method: Method::GET,
                path: "/v1/modules/hello-rust/kv/greeting".into(),
                headers: vec![(
                    HeaderName::from_static("x-api-key"),
                    HeaderValue::from_str(key).expect("key header"),
                )],
                body: Bytes::new(),
                ok_statuses: vec![200],
                body_len: None,
            };
            let plan = Plan {
                concurrency: per_node,
                warmup: options.warmup,
                duration: options.duration,
            };
            std::thread::spawn(move || load::run(&target, plan))
        })
        .collect();
    threads
        .into_iter()
        .map(|t| match t.join() {
            Ok(Ok(report)) => {
                if report.errors > 0 {
                    eprintln!(
                        "bench cluster: {} failed requests ({})",
                        report.errors,
                        report.first_error.as_deref().unwrap_or_default()
                    );
                }
                report.rps()
            }
            Ok(Err(e)) => {
                eprintln!("bench cluster: load: {e}");
                0.0
            }
            Err(_) => 0.0,
        })
        .sum()
}

/// Worker messages per second with the nodes now running.
fn workers(
    rt: &tokio::runtime::Runtime,
    js: &async_nats::jetstream::Context,
    consumer: &PullConsumer,
) -> Result<f64, String> {
    let subject = format!("convotic.{WORKSPACE}.topics.{TOPIC}");
    let payload = crate::workers::payload();
    rt.block_on(async {
        let started = Instant::now();
        publish_all(js, &subject, &payload, MESSAGES).await?;
        settled(consumer, Duration::from_millis(5)).await?;
        Ok(MESSAGES as f64 / started.elapsed().as_secs_f64())
    })
}

/// Runs the benchmark.
pub fn run(options: &crate::routes::Options) {
    println!("\n== cluster: 1, 2 and 3 supervisors sharing PostgreSQL and NATS (loopback) ==");
    if let Err(e) = measure(options) {
        println!("  cluster: {e}");
    }
}

fn measure(options: &crate::routes::Options) -> Result<(), String> {
    let db = TestDatabase::create();
    let server = start_server()?;
    let tables = format!(
        "{}[nats]\nurl = \"{}\"\n{WORKERS}",
        db.store_table(),
        server.url()
    );
    let mut nodes = Vec::new();
    for _ in 0..NODES {
        nodes.push(start_node(&tables)?);
    }
    let (code, stdout, stderr) =
        nodes[0]
            .sup
            .cli_config(&["keys", "create", "--workspace", WORKSPACE]);
    if code != 0 {
        return Err(format!("keys create: {stderr}"));
    }
    let key = stdout.lines().next().unwrap_or_default().trim().to_string();
    let (status, _) = nodes[0].sup.request(reqwest::Method::GET, "/readyz");
    if status != 200 {
        return Err(format!("node 1 is not ready ({status})"));
    }
    let put = nodes[0]
        .sup
        .http(reqwest::Method::PUT, "/v1/modules/hello-rust/kv/greeting")
        .header("x-api-key", &key)
        .json(&serde_json::json!({"text": "hello"}))
        .send()
        .map_err(|e| e.to_string())?;
    if !put.status().is_success() {
        return Err(format!("storing the greeting: {}", put.status()));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (js, consumer) = rt.block_on(async {
        let client = async_nats::connect(server.url())
            .await
            .map_err(|e| e.to_string())?;
        let js = async_nats::jetstream::new(client);
        let stream = js
            .get_stream("CONVOTIC_TOPICS")
            .await
            .map_err(|e| e.to_string())?;
        let name = stream.consumer_names().next().await;
        let name = match name {
            Some(Ok(name)) => name,
            _ => return Err("no durable consumer for the bench worker".to_string()),
        };
        let consumer: PullConsumer = stream
            .get_consumer(&name)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((js, consumer))
    })?;
    let mut best_routes = [0f64; NODES];
    let mut best_workers = [0f64; NODES];
    for _ in 0..options.rounds.max(1) {
        for n in 1..=NODES {
            use_nodes(&mut nodes, n)?;
            best_routes[n - 1] = best_routes[n - 1].max(routes(&nodes, n, &key, options));
            match workers(&rt, &js, &consumer) {
                Ok(rate) => best_workers[n - 1] = best_workers[n - 1].max(rate),
                Err(e) => eprintln!("bench cluster: workers with {n} node(s): {e}"),
            }
        }
    }
    for n in 1..=NODES {
        println!(
            "  {n} node(s): routes {:>8.0} req/s (×{:.2})   workers {:>8.0} msg/s (×{:.2})",
            best_routes[n - 1],
            best_routes[n - 1] / best_routes[0].max(1.0),
            best_workers[n - 1],
            best_workers[n - 1] / best_workers[0].max(1.0)
        );
        crate::summary::record(
            &format!("cluster of {n}: route req/s, worker msg/s (×1 node)"),
            format!(
                "{:.0} (×{:.2}), {:.0} (×{:.2})",
                best_routes[n - 1],
                best_routes[n - 1] / best_routes[0].max(1.0),
                best_workers[n - 1],
                best_workers[n - 1] / best_workers[0].max(1.0)
            ),
            "reported",
            None,
        );
    }
    use_nodes(&mut nodes, NODES)?;
    drop(nodes);
    drop(server);
    drop(db);
    Ok(())
}
