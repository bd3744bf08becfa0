//! Serves a module on a temporary Unix socket with `serve` and talks to it with the generated
//! gRPC client, as the supervisor does: health, `Describe`, a `Work` stream with concurrent,
//! cancelled and timed-out invocations, then `Shutdown`.

mod common;

use std::time::{Duration, Instant};

use common::{connect, error_code, get, Lane};
use convotic_plugin_sdk::prelude::*;
use convotic_plugin_sdk::{serve, ServeOptions};
use convotic_proto::plugin::v1 as pb;
use pb::outcome::Result as OutcomeResult;
use pb::plugin_client::PluginClient;
use pb::supervisor_frame::Frame as In;
use serde_json::json;
use tokio_stream::StreamExt;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

struct Sleepy;

impl ConvoticModule for Sleepy {
    fn name(&self) -> &str {
        "sleepy"
    }

    fn version(&self) -> &str {
        "2.3.4"
    }

    fn register(&self, sdk: &mut Sdk) {
        sdk.max_in_flight(32);
        sdk.register_route(Route::get("/sleep/:ms").handler(
            |req: RouteRequest, _ctx: Context| async move {
                let ms: u64 = req.params.get("ms").map_or(Ok(0), |ms| ms.parse())?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(RouteResponse::json(200, json!({ "slept": ms })))
            },
        ));
        sdk.register_worker_handler(
            WorkerHandler::new("orders.created").handler(|_msg, _ctx| async { Ok(()) }),
        );
        sdk.register_cron(Cron::new("tick", "* * * * *").handler(|_t, _c| async { Ok(()) }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_describe_work_and_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("plugin.sock");
    // A stale file at the socket path must be replaced.
    std::fs::write(&socket, b"stale").unwrap();
    let server = tokio::spawn(serve(Sleepy, ServeOptions::new(&socket)));
    let channel = connect(&socket).await;

    // Health.
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "convotic.plugin.v1.Plugin"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "service {service:?}");
    }

    // Describe.
    let mut client = PluginClient::new(channel.clone());
    let described = client
        .describe(pb::DescribeRequest {
            protocol_versions: vec![1],
            features: vec!["work.cancel".into(), "some.future.feature".into()],
            supervisor_version: "test".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(described.protocol_version, 1);
    assert_eq!(
        described.features,
        vec![
            "work.cancel",
            "work.lanes",
            "shutdown.drain",
            "work.batch",
            "host.stream"
        ]
    );
    let manifest = described.manifest.unwrap();
    assert_eq!(manifest.name, "sleepy");
    assert_eq!(manifest.version, "2.3.4");
    assert_eq!(manifest.max_in_flight, 32);
    assert_eq!(manifest.routes[0].path, "/sleep/:ms");
    assert_eq!(manifest.workers[0].topic, "orders.created");
    assert_eq!(manifest.crons[0].name, "tick");
    let refused = client
        .describe(pb::DescribeRequest {
            protocol_versions: vec![2],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);

    // A lane.
    let mut lane = Lane::open(&mut client, 0).await;
    let sleep = |id: u64, ms: u64, timeout_ms: u64| {
        let ms = ms.to_string();
        get(id, timeout_ms, "/sleep/:ms", &[("ms", ms.as_str())])
    };

    // 20 concurrent invocations, answered out of order (later ones sleep less).
    let started = Instant::now();
    for id in 1..=20u64 {
        lane.send(sleep(id, 400 - id * 15, 0)).await;
    }
    let mut order = Vec::new();
    for _ in 0..20 {
        let outcome = lane.outcome().await;
        assert!(matches!(outcome.result, Some(OutcomeResult::Route(ref r)) if r.status == 200));
        order.push(outcome.id);
    }
    let elapsed = started.elapsed();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=20).collect::<Vec<_>>());
    assert_ne!(order, sorted, "outcomes should come back out of order");
    assert!(
        elapsed < Duration::from_secs(3),
        "not concurrent: {elapsed:?}"
    );

    // Cancel a slow one.
    lane.send(sleep(100, 30_000, 0)).await;
    lane.send(In::Cancel(pb::Cancel {
        id: 100,
        reason: "caller went away".into(),
    }))
    .await;
    let cancelled = lane.outcome().await;
    assert_eq!(cancelled.id, 100);
    assert_eq!(error_code(&cancelled), Some(pb::ErrorCode::Cancelled));

    // A deadline.
    lane.send(sleep(101, 30_000, 100)).await;
    let expired = lane.outcome().await;
    assert_eq!(expired.id, 101);
    assert_eq!(error_code(&expired), Some(pb::ErrorCode::DeadlineExceeded));

    // A second lane works alongside the first.
    let mut lane2 = Lane::open(&mut client, 1).await;
    lane2.send(sleep(200, 1, 0)).await;
    assert_eq!(lane2.outcome().await.id, 200);

    // Shutdown drains: the in-flight invocation finishes, then Shutdown answers.
    lane.send(sleep(300, 300, 0)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut control = PluginClient::new(channel.clone());
    let shutdown = tokio::spawn(async move {
        control
            .shutdown(pb::ShutdownRequest {
                grace_ms: 5_000,
                reason: "test".into(),
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let status = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::NotServing as i32);
    lane.send(sleep(301, 1, 0)).await;
    let refused = lane.outcome().await;
    assert_eq!(refused.id, 301);
    assert_eq!(error_code(&refused), Some(pb::ErrorCode::Unavailable));
    let finished = lane.outcome().await;
    assert_eq!(finished.id, 300);
    assert!(matches!(finished.result, Some(OutcomeResult::Route(_))));
    let answer = shutdown.await.unwrap().unwrap().into_inner();
    assert_eq!(answer.abandoned, 0);

    // The supervisor half-closes the lanes: they end with status OK and serve() returns.
    for Lane { tx, mut rx } in [lane, lane2] {
        drop(tx);
        let end = tokio::time::timeout(Duration::from_secs(5), rx.next())
            .await
            .unwrap();
        assert!(end.is_none(), "{end:?}");
    }
    let stopping = Instant::now();
    drop(health);
    drop(client);
    drop(channel);
    let served = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve() did not return after Shutdown")
        .unwrap();
    assert!(served.is_ok(), "{served:?}");
    assert!(
        stopping.elapsed() < Duration::from_millis(900),
        "serve() waited for connections: {:?}",
        stopping.elapsed()
    );
    assert!(!socket.exists(), "the socket file should be removed");
}
