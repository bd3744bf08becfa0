//! The work stream end to end: a real module process (the fixture, built with the Rust SDK)
//! answers invocations sent by the supervisor's protocol client, concurrently and out of
//! order, with cancel, deadlines, flow control, crashes and a graceful shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use convotic_e2e::binary;
use convotic_e2e::direct::DirectModule;
use convotic_proto::plugin::v1::plugin_client::PluginClient;
use convotic_proto::plugin::v1::{invocation, outcome, ErrorCode, RouteRequest, ShutdownRequest};
use convotic_supervisor::protocol::{InvokeOptions, WorkClient, WorkError};

fn get(path: &str, route: &str, params: &[(&str, &str)]) -> invocation::Kind {
    invocation::Kind::Route(RouteRequest {
        method: "GET".into(),
        path: path.into(),
        route: route.into(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
        workspace: "ws_test".into(),
        ..Default::default()
    })
}

fn sleep_for(ms: u64) -> invocation::Kind {
    get(
        &format!("/sleep/{ms}"),
        "/sleep/:ms",
        &[("ms", &ms.to_string())],
    )
}

fn opts(timeout: Option<Duration>) -> InvokeOptions {
    InvokeOptions {
        timeout,
        request_id: "req_test".into(),
        wait_for_credit: true,
        ..Default::default()
    }
}

fn status_of(result: &Result<outcome::Result, WorkError>) -> Option<u32> {
    match result {
        Ok(outcome::Result::Route(response)) => Some(response.status),
        _ => None,
    }
}

async fn ok_module() -> DirectModule {
    DirectModule::start(
        binary("misbehaving-module"),
        "fixture",
        &[("MISBEHAVE", "ok")],
    )
    .await
}

/// Polls `check` every 10 ms for up to `limit`; a liveness bound, not a performance check.
async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_are_answered_concurrently_and_out_of_order() {
    let module = ok_module().await;
    let work = module.work(2).await;
    assert_eq!(work.lanes(), 2);
    let finished = Arc::new(Mutex::new(Vec::new()));
    let mut calls = Vec::new();
    // Later invocations sleep less, so a module working on them concurrently answers them in
    // reverse order; one working serially would answer in send order.
    for i in 0..20u64 {
        let work = work.clone();
        let finished = Arc::clone(&finished);
        calls.push(tokio::spawn(async move {
            let result = work
                .invoke(
                    sleep_for((20 - i) * 25),
                    opts(Some(Duration::from_secs(20))),
                )
                .await;
            finished.lock().unwrap().push(i);
            result
        }));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for call in calls {
        let result = call.await.unwrap();
        assert_eq!(status_of(&result), Some(200), "{result:?}");
    }
    let order = finished.lock().unwrap().clone();
    let sent: Vec<u64> = (0..20).collect();
    assert_ne!(
        order, sent,
        "outcomes came back in send order: the module did not work concurrently"
    );
    assert!(
        order.first() > order.last(),
        "expected mostly reverse order, got {order:?}"
    );
    assert_eq!(work.in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_route_is_a_typed_not_found() {
    let module = ok_module().await;
    let work = module.work(1).await;
    let result = work
        .invoke(
            get("/nope", "/nope", &[]),
            opts(Some(Duration::from_secs(5))),
        )
        .await;
    match result {
        Ok(outcome::Result::Error(error)) => {
            assert_eq!(error.code, ErrorCode::NotFound as i32, "{error:?}");
            assert!(error.message.contains("/nope"), "{error:?}");
        }
        other => panic!("expected NOT_FOUND, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_going_away_cancels_the_invocation_in_the_module() {
    let module = ok_module().await;
    let work = module.work(1).await;
    let caller = {
        let work = work.clone();
        tokio::spawn(async move { work.invoke(sleep_for(60_000), opts(None)).await })
    };
    assert!(eventually(Duration::from_secs(5), || work.in_flight() == 1).await);
    caller.abort();
    // The module must answer the Cancel (CANCELLED), which returns the credit.
    assert!(
        eventually(Duration::from_secs(10), || work
            .cancel_stats()
            .answered_after_cancel
            == 1)
        .await,
        "module never answered the cancelled invocation: {:?}",
        work.cancel_stats()
    );
    assert_eq!(work.in_flight(), 0);
    assert_eq!(work.cancel_stats().reclaimed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_fails_the_caller_and_stops_the_handler() {
    let module = ok_module().await;
    let work = module.work(1).await;
    let result = work
        .invoke(sleep_for(60_000), opts(Some(Duration::from_millis(300))))
        .await;
    // Either side's deadline may fire first: the supervisor's (it fails the caller and cancels
    // the handler, which the module must then answer) or the module's own (it stops the handler
    // and answers DEADLINE_EXCEEDED). Both end the call at its deadline.
    match result {
        Err(WorkError::DeadlineExceeded(_)) => assert!(
            eventually(Duration::from_secs(10), || work
                .cancel_stats()
                .answered_after_cancel
                == 1)
            .await,
            "{:?}",
            work.cancel_stats()
        ),
        Ok(outcome::Result::Error(error)) => {
            assert_eq!(error.code, ErrorCode::DeadlineExceeded as i32, "{error:?}")
        }
        other => panic!("expected the deadline to end the call, got {other:?}"),
    }
    assert!(eventually(Duration::from_secs(10), || work.in_flight() == 0).await);
    // The module keeps serving after a cancelled call.
    let ping = work
        .invoke(
            get("/ping", "/ping", &[]),
            opts(Some(Duration::from_secs(5))),
        )
        .await;
    assert_eq!(status_of(&ping), Some(200), "{ping:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credits_cap_invocations_in_flight() {
    let module = ok_module().await;
    let work = module.work(2).await;
    let max = work.max_in_flight() as usize;
    assert!(max > 0);
    let mut calls = Vec::new();
    for _ in 0..max {
        let work = work.clone();
        calls.push(tokio::spawn(async move {
            work.invoke(sleep_for(60_000), opts(None)).await
        }));
    }
    assert!(eventually(Duration::from_secs(10), || work.in_flight() == max).await);
    let over = work
        .invoke(
            get("/ping", "/ping", &[]),
            InvokeOptions {
                wait_for_credit: false,
                ..opts(None)
            },
        )
        .await;
    assert_eq!(over, Err(WorkError::Overloaded(max as u32)));
    for call in &calls {
        call.abort();
    }
    assert!(eventually(Duration::from_secs(10), || work.in_flight() == 0).await);
    let after = work
        .invoke(
            get("/ping", "/ping", &[]),
            opts(Some(Duration::from_secs(5))),
        )
        .await;
    assert_eq!(status_of(&after), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_fails_every_outstanding_invocation_at_once() {
    let module = DirectModule::start(
        binary("misbehaving-module"),
        "fixture",
        &[("MISBEHAVE", "crash-after-n"), ("MISBEHAVE_N", "3")],
    )
    .await;
    let work: WorkClient = module.work(2).await;
    let mut slow = Vec::new();
    for _ in 0..2 {
        let work = work.clone();
        slow.push(tokio::spawn(async move {
            work.invoke(sleep_for(60_000), opts(None)).await
        }));
    }
    assert!(eventually(Duration::from_secs(5), || work.in_flight() == 2).await);
    // The third invocation makes the module abort.
    let third = work.invoke(get("/ping", "/ping", &[]), opts(None)).await;
    assert!(matches!(third, Err(WorkError::LaneClosed(_))), "{third:?}");
    for call in slow {
        let result = call.await.unwrap();
        assert!(
            matches!(result, Err(WorkError::LaneClosed(_))),
            "{result:?}"
        );
    }
    assert!(work.broken().borrow().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_handler_cannot_hang_the_caller() {
    let module = DirectModule::start(
        binary("misbehaving-module"),
        "fixture",
        &[("MISBEHAVE", "hang-in-call")],
    )
    .await;
    let work = module.work(1).await;
    let result = work
        .invoke(
            get("/ping", "/ping", &[]),
            opts(Some(Duration::from_millis(500))),
        )
        .await;
    assert!(
        matches!(result, Err(WorkError::DeadlineExceeded(_))),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_in_flight_work_then_the_module_exits() {
    let mut module = ok_module().await;
    let work = module.work(1).await;
    let mut calls = Vec::new();
    for _ in 0..3 {
        let work = work.clone();
        calls.push(tokio::spawn(async move {
            work.invoke(sleep_for(300), opts(Some(Duration::from_secs(10))))
                .await
        }));
    }
    assert!(eventually(Duration::from_secs(5), || work.in_flight() == 3).await);
    let mut client = PluginClient::new(module.channel.clone());
    let shutdown = client.shutdown(ShutdownRequest {
        grace_ms: 5000,
        reason: "test".into(),
    });
    let late = {
        let work = work.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            work.invoke(
                get("/ping", "/ping", &[]),
                opts(Some(Duration::from_secs(5))),
            )
            .await
        }
    };
    let (shutdown, late) = tokio::join!(shutdown, late);
    assert_eq!(shutdown.expect("shutdown").into_inner().abandoned, 0);
    match late {
        Ok(outcome::Result::Error(error)) => {
            assert_eq!(error.code, ErrorCode::Unavailable as i32, "{error:?}");
            assert!(error.retryable);
        }
        Err(WorkError::LaneClosed(_)) => {}
        other => panic!("new work during drain must be refused, got {other:?}"),
    }
    for call in calls {
        assert_eq!(status_of(&call.await.unwrap()), Some(200));
    }
    let status = module
        .wait_exit(Duration::from_secs(10))
        .expect("module exits after Shutdown");
    assert_eq!(status.code(), Some(0));
}
