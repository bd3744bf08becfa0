//! The NATS JetStream bus backend against a real `nats-server -js` started per test on a free
//! port (never the machine's own server): delivery, dedup, headers, retries, ack wait,
//! the delivery cap, dead letters and their re-drive, foreign publishers, a server restart and
//! shared subscriptions.

#[path = "support/nats_server.rs"]
mod nats_server;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use convotic_supervisor::bus::nats::NatsBus;
use convotic_supervisor::bus::{
    Backend, BusError, Delivery, Outgoing, Subscription, SubscriptionSpec,
};
use convotic_supervisor::config::NatsConfig;
use nats_server::{NatsCluster, NatsServer};

const WS: &str = "ws_test";

fn config(url: &str) -> NatsConfig {
    NatsConfig {
        url: url.to_string(),
        stream: "CONVOTIC_TOPICS".into(),
        dead_letter_stream: "CONVOTIC_DEAD".into(),
        duplicate_window: Duration::from_secs(120),
        request_timeout: Duration::from_secs(5),
        replicas: 1,
    }
}

async fn setup() -> Option<(NatsServer, NatsBus)> {
    let server = NatsServer::start()?;
    let bus = NatsBus::connect(&config(&server.url()))
        .await
        .expect("connect to the test server");
    Some((server, bus))
}

/// Shows the bus's logs in a failing test's output (`RUST_LOG` overrides the level).
fn init_logs() {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "convotic_supervisor=info".into());
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(filter)
        .try_init();
}

fn spec(handler: &str, topic: &str) -> SubscriptionSpec {
    SubscriptionSpec {
        workspace: WS.into(),
        module: "orders".into(),
        handler: handler.into(),
        topic: topic.into(),
        max_attempts: 3,
        ack_wait: Duration::from_secs(30),
        max_in_flight: 8,
    }
}

fn message(payload: &str) -> Outgoing {
    Outgoing {
        payload: Bytes::from(payload.to_string()),
        ..Default::default()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The next delivery, failing the test after `within`.
async fn next_within(sub: &mut Box<dyn Subscription>, within: Duration) -> Delivery {
    tokio::time::timeout(within, sub.next())
        .await
        .expect("a delivery in time")
        .expect("a delivery")
}

/// Asserts that nothing is delivered during `during`.
async fn assert_quiet(sub: &mut Box<dyn Subscription>, during: Duration) {
    if let Ok(result) = tokio::time::timeout(during, sub.next()).await {
        let delivery = result.expect("no error");
        panic!(
            "unexpected delivery of {} (attempt {})",
            delivery.message_id, delivery.attempt
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_deliver_ack() {
    let Some((_server, bus)) = setup().await else {
        return;
    };
    assert_eq!(bus.name(), "nats");
    let mut sub = bus
        .subscribe(&spec("created", "orders.created"))
        .await
        .unwrap();
    let before = now_ms();
    let published = bus
        .publish(WS, "orders.created", message(r#"{"id":1}"#))
        .await
        .unwrap();
    assert!(published.message_id.starts_with("msg_"), "{published:?}");
    assert!(!published.duplicate);

    let delivery = next_within(&mut sub, Duration::from_secs(5)).await;
    assert_eq!(delivery.message_id, published.message_id);
    assert_eq!(delivery.topic, "orders.created");
    assert_eq!(&delivery.payload[..], br#"{"id":1}"#);
    assert_eq!(delivery.attempt, 1);
    assert!(delivery.headers.is_empty(), "{:?}", delivery.headers);
    assert!(delivery.published_at_ms >= before && delivery.published_at_ms <= now_ms());
    delivery.acker.ack().await.unwrap();
    assert_quiet(&mut sub, Duration::from_millis(500)).await;

    // Bad input is refused before anything is sent.
    let err = bus
        .publish(WS, "orders.*", message("{}"))
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::InvalidArgument(_)), "{err:?}");
    let err = bus
        .publish("ws.bad", "orders.created", message("{}"))
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::InvalidArgument(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_message_ids_are_stored_once() {
    let Some((_server, bus)) = setup().await else {
        return;
    };
    let mut sub = bus
        .subscribe(&spec("created", "orders.created"))
        .await
        .unwrap();
    let with_id = |payload: &str| Outgoing {
        message_id: Some("order-42".into()),
        ..message(payload)
    };
    let first = bus
        .publish(WS, "orders.created", with_id("{}"))
        .await
        .unwrap();
    let second = bus
        .publish(WS, "orders.created", with_id("{}"))
        .await
        .unwrap();
    assert_eq!(first.message_id, "order-42");
    assert!(!first.duplicate);
    assert_eq!(second.message_id, "order-42");
    assert!(second.duplicate);

    let delivery = next_within(&mut sub, Duration::from_secs(5)).await;
    assert_eq!(delivery.message_id, "order-42");
    delivery.acker.ack().await.unwrap();
    assert_quiet(&mut sub, Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_round_trip_and_reserved_ones_are_refused() {
    let Some((_server, bus)) = setup().await else {
        return;
    };
    let mut sub = bus
        .subscribe(&spec("created", "orders.created"))
        .await
        .unwrap();
    let headers: BTreeMap<String, String> = [
        ("X-Trace-Id", "abc-123"),
        ("content-type", "application/json"),
        ("x-unicode", "héllo wörld"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    bus.publish(
        WS,
        "orders.created",
        Outgoing {
            headers: headers.clone(),
            ..message("{}")
        },
    )
    .await
    .unwrap();
    let delivery = next_within(&mut sub, Duration::from_secs(5)).await;
    assert_eq!(delivery.headers, headers);
    delivery.acker.ack().await.unwrap();

    for (name, value) in [
        ("Nats-Msg-Id", "x"),
        ("Convotic-Reason", "x"),
        ("bad name", "x"),
        ("X-Ok", "two\r\nlines"),
    ] {
        let mut headers = BTreeMap::new();
        headers.insert(name.to_string(), value.to_string());
        let err = bus
            .publish(
                WS,
                "orders.created",
                Outgoing {
                    headers,
                    ..message("{}")
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, BusError::InvalidArgument(_)),
            "{name}: {err:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_redelivers_with_the_next_attempt_after_the_delay() {
    let Some((_server, bus)) = setup().await else {
        return;
    };
    let mut sub = bus
        .subscribe(&spec("created", "orders.created"))
        .await
        .unwrap();
    let published = bus
        .publish(WS, "orders.created", message("{}"))
        .await
        .unwrap();

    let first = next_within(&mut sub, Duration::from_secs(5)).await;
    assert_eq!(first.attempt, 1);
    first.acker.retry(Duration::ZERO).await.unwrap();
    let second = next_within(&mut sub, Duration::from_secs(5)).await;
    assert_eq!(second.attempt, 2);
    assert_eq!(second.message_id, published.message_id);

    let delay = Duration::from_millis(800);
    let nak_at = std::time::Instant::now();
    second.acker.retry(delay).await.unwrap();
    let third = next_within(&mut sub, Duration::from_secs(5)).await;
    assert!(
        nak_at.elapsed() >= delay - Duration::from_millis(50),
        "{:?}",
        nak_at.elapsed()
    );
    assert_eq!(third.attempt, 3);
    third.acker.ack().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsettled_deliveries_come_back_after_ack_wait_unless_in_progress() {
    let Some((_server, bus)) = setup().await else {
        return;
    };
    let spec = SubscriptionSpec {
        ack_wait: Duration::from_secs(1),
        ..spec("created", "orders.created")
    };
    let mut sub = bus.subscribe(&spec).await.unwrap();
    bus.publish(WS, "orders.created", message("{}"))
        .await
        .unwrap();

    // Held without a word: back after about ack_wait, attempt 2.
    let held = next_within(&mut sub, Duration::from_secs(5)).await;
    let started = std::time::Instant::now();
    let again = next_within(&mut sub, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(again.attempt, 2);
    assert_eq!(again.message_id, held.message_id);
    drop(held);

    // Kept alive with in_progress for three ack waits: not redelivered meanwhile.
    for _ in 0..6 {
        again.acker.in_progress().await.unwrap();
        assert_quiet(&mut sub, Duration::from_millis(500)).await;
    }
    again.acker.ack().await.unwrap();
    assert_quiet(&mut sub, Duration::from_millis(1500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_stop_after_max_attempts_plus_one() {
    let Some((_server, bus)) = setup().await else {
        return;
    };
    let spec = SubscriptionSpec {
        max_attempts: 2,
        ..spec("created", "orders.created")
    };
    let mut sub = bus.subscribe(&spec).await.unwrap();
    bus.publish(WS, "orders.created", message("{}"))
        .await
        .unwrap();
    for attempt in 1..=3 {
        let delivery = next_within(&mut sub, Duration::from_secs(5)).await;
        assert_eq!(delivery.attempt, attempt);
        delivery.acker.retry(Duration::ZERO).await.unwrap();
    }
    assert_quiet(&mut sub, Duration::from_millis(1500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_redriven_to_their_handler_only() {
    let Some((_server, bus)) = setup().await else {
        return;
    };
    let failing_spec = spec("fails", "orders.created");
    let mut failing = bus.subscribe(&failing_spec).await.unwrap();
    let mut other = bus
        .subscribe(&spec("works", "orders.created"))
        .await
        .unwrap();
    let headers: BTreeMap<String, String> = [("X-Trace".to_string(), "t1".to_string())].into();
    let before = now_ms();
    let published = bus
        .publish(
            WS,
            "orders.created",
            Outgoing {
                headers: headers.clone(),
                ..message(r#"{"order":7}"#)
            },
        )
        .await
        .unwrap();

    let delivery = next_within(&mut other, Duration::from_secs(5)).await;
    delivery.acker.ack().await.unwrap();
    let first = next_within(&mut failing, Duration::from_secs(5)).await;
    first.acker.retry(Duration::ZERO).await.unwrap();
    let second = next_within(&mut failing, Duration::from_secs(5)).await;
    assert_eq!(second.attempt, 2);
    second
        .acker
        .dead_letter("handler error: boom\nline two".into())
        .await
        .unwrap();
    assert_quiet(&mut failing, Duration::from_millis(500)).await;

    let page = bus.list_dead_letters(WS, 10, "").await.unwrap();
    assert_eq!(page.next_page_token, None);
    assert_eq!(page.dead_letters.len(), 1, "{page:?}");
    let dead = &page.dead_letters[0];
    assert!(dead.id.starts_with("dl_"), "{dead:?}");
    assert_eq!(dead.workspace, WS);
    assert_eq!(dead.module, "orders");
    assert_eq!(dead.handler, "fails");
    assert_eq!(dead.topic, "orders.created");
    assert_eq!(dead.message_id, published.message_id);
    assert_eq!(dead.payload, serde_json::json!({"order": 7}));
    assert_eq!(dead.headers, headers);
    assert_eq!(dead.attempts, 2);
    assert_eq!(dead.reason, "handler error: boom line two");
    assert!(dead.published_at_ms >= before);
    assert!(dead.failed_at_ms >= dead.published_at_ms && dead.failed_at_ms <= now_ms());

    // Other workspaces see nothing and cannot touch it.
    let empty = bus.list_dead_letters("ws_other", 10, "").await.unwrap();
    assert!(empty.dead_letters.is_empty());
    let err = bus
        .retry_dead_letter("ws_other", &dead.id)
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::NotFound(_)), "{err:?}");
    let err = bus.retry_dead_letter(WS, "dl_999999").await.unwrap_err();
    assert!(matches!(err, BusError::NotFound(_)), "{err:?}");
    let err = bus.retry_dead_letter(WS, "nonsense").await.unwrap_err();
    assert!(matches!(err, BusError::NotFound(_)), "{err:?}");

    // Re-drive: only the handler that gave up gets it, from attempt 1.
    let redriven = bus.retry_dead_letter(WS, &dead.id).await.unwrap();
    assert!(!redriven.duplicate);
    assert_eq!(redriven.message_id, published.message_id);
    let again = next_within(&mut failing, Duration::from_secs(5)).await;
    assert_eq!(again.message_id, published.message_id);
    assert_eq!(again.attempt, 1);
    assert_eq!(again.published_at_ms, dead.published_at_ms);
    assert_eq!(again.topic, "orders.created");
    assert_eq!(&again.payload[..], br#"{"order":7}"#);
    assert_eq!(again.headers, headers);
    again.acker.ack().await.unwrap();
    assert_quiet(&mut other, Duration::from_millis(1000)).await;

    assert!(bus
        .list_dead_letters(WS, 10, "")
        .await
        .unwrap()
        .dead_letters
        .is_empty());
    let err = bus.retry_dead_letter(WS, &dead.id).await.unwrap_err();
    assert!(matches!(err, BusError::NotFound(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_page_oldest_first() {
    let Some((_server, bus)) = setup().await else {
        return;
    };
    let mut sub = bus
        .subscribe(&spec("fails", "orders.created"))
        .await
        .unwrap();
    let mut other_ws = bus
        .subscribe(&SubscriptionSpec {
            workspace: "ws_other".into(),
            ..spec("fails", "orders.created")
        })
        .await
        .unwrap();
    bus.publish("ws_other", "orders.created", message("{}"))
        .await
        .unwrap();
    let delivery = next_within(&mut other_ws, Duration::from_secs(5)).await;
    delivery.acker.dead_letter("other".into()).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let published = bus
            .publish(WS, "orders.created", message(&format!(r#"{{"n":{i}}}"#)))
            .await
            .unwrap();
        ids.push(published.message_id);
        let delivery = next_within(&mut sub, Duration::from_secs(5)).await;
        delivery
            .acker
            .dead_letter(format!("reason {i}"))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = bus.list_dead_letters(WS, 2, &token).await.unwrap();
        pages += 1;
        assert!(page.dead_letters.len() <= 2);
        seen.extend(page.dead_letters.into_iter().map(|d| d.message_id));
        match page.next_page_token {
            Some(next) => token = next,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);
    let err = bus.list_dead_letters(WS, 2, "x").await.unwrap_err();
    assert!(matches!(err, BusError::InvalidArgument(_)), "{err:?}");
    let err = bus.list_dead_letters(WS, 501, "").await.unwrap_err();
    assert!(matches!(err, BusError::InvalidArgument(_)), "{err:?}");
    let other = bus.list_dead_letters("ws_other", 0, "").await.unwrap();
    assert_eq!(other.dead_letters.len(), 1);
    assert_eq!(other.dead_letters[0].reason, "other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_from_other_publishers_are_delivered() {
    let Some((server, bus)) = setup().await else {
        return;
    };
    let mut sub = bus
        .subscribe(&spec("created", "orders.created"))
        .await
        .unwrap();
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let subject = format!("convotic.{WS}.topics.orders.created");
    let before = now_ms();
    let ack = js
        .publish(subject.clone(), Bytes::from_static(b"{\"plain\":true}"))
        .await
        .unwrap()
        .await
        .unwrap();
    let delivery = next_within(&mut sub, Duration::from_secs(5)).await;
    assert_eq!(
        delivery.message_id,
        format!("CONVOTIC_TOPICS-{}", ack.sequence)
    );
    assert_eq!(&delivery.payload[..], b"{\"plain\":true}");
    assert_eq!(delivery.topic, "orders.created");
    assert_eq!(delivery.attempt, 1);
    assert!(
        delivery.published_at_ms + 1000 >= before && delivery.published_at_ms <= now_ms() + 1000,
        "{} vs {before}",
        delivery.published_at_ms
    );
    delivery.acker.ack().await.unwrap();

    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "external-1");
    headers.insert("X-From", "elsewhere");
    js.publish_with_headers(subject, headers, Bytes::from_static(b"{}"))
        .await
        .unwrap()
        .await
        .unwrap();
    let delivery = next_within(&mut sub, Duration::from_secs(5)).await;
    assert_eq!(delivery.message_id, "external-1");
    assert_eq!(
        delivery.headers,
        BTreeMap::from([("X-From".to_string(), "elsewhere".to_string())])
    );
    delivery.acker.ack().await.unwrap();
}

/// Publishes until the server takes it (same message id: retries are deduplicated).
async fn publish_retrying(bus: &NatsBus, id: String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let outgoing = Outgoing {
            message_id: Some(id.clone()),
            ..message("{}")
        };
        match bus.publish(WS, "orders.created", outgoing).await {
            Ok(_) => return,
            Err(err) if std::time::Instant::now() < deadline => {
                assert!(matches!(err, BusError::Unavailable(_)), "{err:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => panic!("publish {id} kept failing: {err:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_loses_nothing() {
    init_logs();
    let Some((mut server, bus)) = setup().await else {
        return;
    };
    let spec = SubscriptionSpec {
        ack_wait: Duration::from_secs(2),
        ..spec("created", "orders.created")
    };
    let mut sub = bus.subscribe(&spec).await.unwrap();
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let consumer = tokio::spawn({
        let acked = acked.clone();
        async move {
            loop {
                let delivery = sub
                    .next()
                    .await
                    .expect("the subscription survives restarts");
                let id = delivery.message_id.clone();
                // Slow enough that deliveries are outstanding when the server stops.
                tokio::time::sleep(Duration::from_millis(10)).await;
                if delivery.acker.ack().await.is_ok() {
                    acked.lock().unwrap().insert(id);
                }
            }
        }
    });

    for i in 0..25 {
        publish_retrying(&bus, format!("m{i}")).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before_restart = acked.lock().unwrap().len();
    assert!(
        before_restart < 25,
        "the restart should find deliveries outstanding"
    );
    server.restart();
    for i in 25..50 {
        publish_retrying(&bus, format!("m{i}")).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 50 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of 50 acked",
            acked.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let expected: BTreeSet<String> = (0..50).map(|i| format!("m{i}")).collect();
    assert_eq!(*acked.lock().unwrap(), expected);

    // Nothing left pending or unacknowledged on the server (acks lost in the restart come back
    // after ack_wait and are acknowledged again).
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("CONVOTIC_TOPICS").await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let info = stream.consumer_info(spec.durable_name()).await.unwrap();
        if info.num_pending == 0 && info.num_ack_pending == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{info:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(stream.info().await.unwrap().state.messages, 50);
    consumer.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_outage_is_waited_out_by_subscriptions() {
    init_logs();
    let Some(mut server) = NatsServer::start() else {
        return;
    };
    let bus = NatsBus::connect(&NatsConfig {
        request_timeout: Duration::from_secs(2),
        ..config(&server.url())
    })
    .await
    .unwrap();
    let mut sub = bus
        .subscribe(&spec("created", "orders.created"))
        .await
        .unwrap();
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let consumer = tokio::spawn({
        let acked = acked.clone();
        async move {
            loop {
                let delivery = sub.next().await.expect("the subscription survives outages");
                let id = delivery.message_id.clone();
                if delivery.acker.ack().await.is_ok() {
                    acked.lock().unwrap().insert(id);
                }
            }
        }
    });
    publish_retrying(&bus, "before".into()).await;
    // Longer than two idle heartbeats: the pull stream fails and is re-opened.
    server.stop();
    tokio::time::sleep(Duration::from_secs(12)).await;
    let err = bus
        .publish(WS, "orders.created", message("{}"))
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::Unavailable(_)), "{err:?}");
    server.start_again();
    publish_retrying(&bus, "after".into()).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            acked.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!consumer.is_finished());
    consumer.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_with_the_same_spec_share_deliveries() {
    let Some((_server, bus)) = setup().await else {
        return;
    };
    let spec = spec("created", "orders.created");
    let mut tasks = Vec::new();
    let seen: Vec<Arc<Mutex<Vec<String>>>> = (0..2).map(|_| Arc::default()).collect();
    for seen in &seen {
        let mut sub = bus.subscribe(&spec).await.unwrap();
        let seen = seen.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let delivery = sub.next().await.unwrap();
                assert_eq!(delivery.attempt, 1, "no redelivery expected");
                seen.lock().unwrap().push(delivery.message_id.clone());
                tokio::time::sleep(Duration::from_millis(5)).await;
                delivery.acker.ack().await.unwrap();
            }
        }));
    }
    for _ in 0..60 {
        bus.publish(WS, "orders.created", message("{}"))
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let total: usize = seen.iter().map(|s| s.lock().unwrap().len()).sum();
        if total >= 60 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{total} of 60");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a: BTreeSet<String> = seen[0].lock().unwrap().iter().cloned().collect();
    let b: BTreeSet<String> = seen[1].lock().unwrap().iter().cloned().collect();
    assert!(!a.is_empty() && !b.is_empty(), "{} / {}", a.len(), b.len());
    assert!(a.is_disjoint(&b));
    assert_eq!(a.len() + b.len(), 60);
    for task in tasks {
        task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_fails_clearly_when_nothing_listens() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let url = format!("nats://127.0.0.1:{port}");
    let config = NatsConfig {
        request_timeout: Duration::from_millis(700),
        ..config(&url)
    };
    let started = std::time::Instant::now();
    let err = NatsBus::connect(&config).await.err().expect("no server");
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert!(started.elapsed() < Duration::from_secs(5));
    match err {
        BusError::Unavailable(message) => assert!(message.contains(&url), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubscribing_with_changed_settings_updates_the_consumer() {
    let Some((server, bus)) = setup().await else {
        return;
    };
    let first = spec("created", "orders.created");
    drop(bus.subscribe(&first).await.unwrap());
    let changed = SubscriptionSpec {
        ack_wait: Duration::from_secs(7),
        max_attempts: 9,
        max_in_flight: 3,
        ..first.clone()
    };
    drop(bus.subscribe(&changed).await.unwrap());
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("CONVOTIC_TOPICS").await.unwrap();
    let info = stream.consumer_info(changed.durable_name()).await.unwrap();
    assert_eq!(info.config.ack_wait, Duration::from_secs(7));
    assert_eq!(info.config.max_deliver, 10);
    assert_eq!(info.config.max_ack_pending, 3);

    let moved = SubscriptionSpec {
        topic: "orders.updated".into(),
        ..changed
    };
    let mut sub = bus.subscribe(&moved).await.unwrap();
    bus.publish(WS, "orders.updated", message("{}"))
        .await
        .unwrap();
    let delivery = next_within(&mut sub, Duration::from_secs(5)).await;
    assert_eq!(delivery.topic, "orders.updated");
    delivery.acker.ack().await.unwrap();
}

/// The streams of a NATS cluster's supervisors are replicated (`[nats] replicas = 3`); the
/// supervisors of a cluster start together and each creates them at once. A creation racing
/// another of the same replicated stream (or a lookup of it) can go unanswered on nats-server
/// 2.9.10: each bus looks again and finds the stream, so every one connects. The race is
/// played three times (the streams deleted in between), since it is not lost every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buses_connecting_at_once_to_a_nats_cluster_share_replicated_streams() {
    init_logs();
    let cluster = NatsCluster::start(3);
    cluster.wait_ready().await;
    // Each through another server, as supervisors on different machines.
    let [first, second, third] = [0, 1, 2].map(|node| NatsConfig {
        replicas: 3,
        ..config(&cluster.node_url(node))
    });
    let client = async_nats::connect(cluster.node_url(0)).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let streams = [
        "CONVOTIC_TOPICS",
        "CONVOTIC_DEAD",
        "CONVOTIC_CRON",
        "CONVOTIC_OUTBOX",
    ];
    for round in 0..3 {
        let (a, b, c) = tokio::join!(
            NatsBus::connect(&first),
            NatsBus::connect(&second),
            NatsBus::connect(&third)
        );
        for bus in [a, b, c] {
            bus.unwrap_or_else(|e| panic!("round {round}: a bus did not connect: {e}"));
        }
        for name in streams {
            let mut stream = js.get_stream(name).await.unwrap();
            let info = stream.info().await.unwrap();
            assert_eq!(info.config.num_replicas, 3, "{name}");
            js.delete_stream(name).await.unwrap();
        }
    }
}

/// More replicas than a lone server can hold: refused at connect, with the server's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicated_streams_on_a_single_server_are_refused_at_connect() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let result = NatsBus::connect(&NatsConfig {
        replicas: 3,
        ..config(&server.url())
    })
    .await;
    let Err(err) = result else {
        panic!("R3 streams on a single server were accepted");
    };
    let message = err.to_string();
    assert!(
        message.contains("cannot create NATS stream CONVOTIC_TOPICS")
            && message.contains("replicas"),
        "{message}"
    );
}

/// One supervisor wins a cron tick, once: a second claim of the same tick, by another
/// supervisor or by the winner itself (its scheduler restarted), loses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_tick_is_won_once() {
    init_logs();
    let Some((server, first)) = setup().await else {
        return;
    };
    let second = NatsBus::connect(&config(&server.url())).await.unwrap();
    assert!(first
        .claim_tick(WS, "reports", "daily", 1_000)
        .await
        .unwrap());
    assert!(!second
        .claim_tick(WS, "reports", "daily", 1_000)
        .await
        .unwrap());
    assert!(
        !first
            .claim_tick(WS, "reports", "daily", 1_000)
            .await
            .unwrap(),
        "a tick is won once, also by the same supervisor"
    );
    assert!(!second
        .claim_tick(WS, "reports", "daily", 1_000)
        .await
        .unwrap());
    // The next tick is another claim: the other supervisor may win it.
    assert!(second
        .claim_tick(WS, "reports", "daily", 2_000)
        .await
        .unwrap());
    assert!(!first
        .claim_tick(WS, "reports", "daily", 2_000)
        .await
        .unwrap());

    // A claim stored by anything else (an older supervisor stored the tick id alone) is not
    // this supervisor's.
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", format!("{WS}/reports/daily/3000").as_str());
    js.publish_with_headers(
        format!("convotic.{WS}.cron.reports.daily"),
        headers,
        Bytes::from(format!("{WS}/reports/daily/3000")),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    assert!(!first
        .claim_tick(WS, "reports", "daily", 3_000)
        .await
        .unwrap());
    assert!(!second
        .claim_tick(WS, "reports", "daily", 3_000)
        .await
        .unwrap());
}

/// A tick claimed while NATS is down is tried again until NATS is back, and is then won by
/// that supervisor only (it used to be reported unclaimable at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_tick_claimed_during_a_nats_outage_is_won_once_nats_is_back() {
    init_logs();
    let Some(mut server) = NatsServer::start() else {
        return;
    };
    let quick = NatsConfig {
        request_timeout: Duration::from_secs(1),
        ..config(&server.url())
    };
    let first = NatsBus::connect(&quick).await.unwrap();
    let second = NatsBus::connect(&quick).await.unwrap();
    server.stop();
    let claiming = tokio::spawn({
        let first = first.clone();
        async move { first.claim_tick(WS, "reports", "hourly", 7_000).await }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!claiming.is_finished(), "the claim must wait for NATS");
    server.start_again();
    let won = claiming.await.unwrap().expect("claimed once NATS is back");
    assert!(won, "the only supervisor asking wins the tick");
    assert!(!second
        .claim_tick(WS, "reports", "hourly", 7_000)
        .await
        .unwrap());
}
