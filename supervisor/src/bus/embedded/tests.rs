//! Tests of the embedded queue against real SQLite files in temporary directories.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::EmbeddedBus;
use crate::bus::{Backend, BusError, Delivery, Outgoing, Subscription, SubscriptionSpec};
use crate::store::{Store, DB_FILE};

/// How long a test waits to be sure nothing is delivered.
const QUIET: Duration = Duration::from_millis(300);

fn open(dir: &Path) -> EmbeddedBus {
    EmbeddedBus::new(Store::open(&dir.join(DB_FILE)).expect("open store"))
}

fn temp_bus() -> (tempfile::TempDir, EmbeddedBus) {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = open(dir.path());
    (dir, bus)
}

fn spec(handler: &str) -> SubscriptionSpec {
    SubscriptionSpec {
        workspace: "ws_a".into(),
        module: "orders".into(),
        handler: handler.into(),
        topic: "orders.created".into(),
        max_attempts: 3,
        ack_wait: Duration::from_secs(30),
        max_in_flight: 8,
    }
}

fn outgoing(n: u32, message_id: Option<&str>) -> Outgoing {
    Outgoing {
        payload: Bytes::from(format!(r#"{{"n":{n}}}"#)),
        headers: BTreeMap::from([("trace".to_string(), format!("t{n}"))]),
        message_id: message_id.map(str::to_string),
    }
}

async fn publish(bus: &EmbeddedBus, ws: &str, n: u32) -> String {
    bus.publish(ws, "orders.created", outgoing(n, None))
        .await
        .expect("publish")
        .message_id
}

async fn next_within(sub: &mut Box<dyn Subscription>, wait: Duration) -> Option<Delivery> {
    tokio::time::timeout(wait, sub.next())
        .await
        .ok()
        .map(|d| d.expect("next"))
}

async fn next(sub: &mut Box<dyn Subscription>) -> Delivery {
    next_within(sub, Duration::from_secs(5))
        .await
        .expect("a delivery within 5s")
}

#[tokio::test]
async fn publish_claim_ack() {
    let (_dir, bus) = temp_bus();
    let mut sub = bus.subscribe(&spec("h")).await.unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let ids = [
        publish(&bus, "ws_a", 1).await,
        publish(&bus, "ws_a", 2).await,
        publish(&bus, "ws_a", 3).await,
    ];
    assert!(ids.iter().all(|id| id.starts_with("msg_")), "{ids:?}");
    for (n, id) in (1..=3).zip(&ids) {
        let d = next(&mut sub).await;
        assert_eq!(&d.message_id, id);
        assert_eq!(d.topic, "orders.created");
        assert_eq!(d.payload, Bytes::from(format!(r#"{{"n":{n}}}"#)));
        assert_eq!(d.headers.get("trace"), Some(&format!("t{n}")));
        assert_eq!(d.attempt, 1);
        assert!(d.published_at_ms >= before);
        d.acker.ack().await.unwrap();
    }
    assert!(next_within(&mut sub, QUIET).await.is_none());
    assert_eq!(bus.name(), "embedded");
}

#[tokio::test]
async fn duplicates_are_stored_once_per_workspace() {
    let (_dir, bus) = temp_bus();
    let mut sub = bus.subscribe(&spec("h")).await.unwrap();
    let first = bus
        .publish("ws_a", "orders.created", outgoing(1, Some("order-1")))
        .await
        .unwrap();
    assert_eq!(first.message_id, "order-1");
    assert!(!first.duplicate);
    let d = next(&mut sub).await;
    d.acker.ack().await.unwrap();
    // Still a duplicate after its delivery was acked (deduplication window).
    let again = bus
        .publish("ws_a", "orders.created", outgoing(2, Some("order-1")))
        .await
        .unwrap();
    assert_eq!(again.message_id, "order-1");
    assert!(again.duplicate);
    assert!(next_within(&mut sub, QUIET).await.is_none());
    // Another workspace has its own ids.
    let other = bus
        .publish("ws_b", "orders.created", outgoing(3, Some("order-1")))
        .await
        .unwrap();
    assert!(!other.duplicate);
}

#[tokio::test]
async fn invalid_input_is_refused() {
    let (_dir, bus) = temp_bus();
    let err = bus
        .publish("ws_a", "orders.>", outgoing(1, None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BusError::InvalidArgument(m) if m.starts_with("topic")),
        "{err}"
    );
    let bad = Outgoing {
        payload: Bytes::from_static(&[0xff, 0xfe]),
        ..Outgoing::default()
    };
    let err = bus.publish("ws_a", "orders", bad).await.unwrap_err();
    assert!(
        matches!(&err, BusError::InvalidArgument(m) if m.starts_with("payload")),
        "{err}"
    );
    let zero = SubscriptionSpec {
        max_attempts: 0,
        ..spec("h")
    };
    assert!(matches!(
        bus.subscribe(&zero).await.err(),
        Some(BusError::InvalidArgument(m)) if m.starts_with("max_attempts")
    ));
}

#[tokio::test]
async fn retry_with_delay_redelivers_with_the_next_attempt() {
    let (_dir, bus) = temp_bus();
    let mut sub = bus.subscribe(&spec("h")).await.unwrap();
    let id = publish(&bus, "ws_a", 1).await;
    let d = next(&mut sub).await;
    assert_eq!(d.attempt, 1);
    let retried = Instant::now();
    d.acker.retry(Duration::from_millis(150)).await.unwrap();
    let d = next(&mut sub).await;
    assert!(retried.elapsed() >= Duration::from_millis(140));
    assert_eq!((d.message_id.as_str(), d.attempt), (id.as_str(), 2));
    d.acker.retry(Duration::ZERO).await.unwrap();
    let d = next(&mut sub).await;
    assert_eq!(d.attempt, 3);
    d.acker.ack().await.unwrap();
    assert!(next_within(&mut sub, QUIET).await.is_none());
}

#[tokio::test]
async fn an_unsettled_delivery_comes_back_after_ack_wait() {
    let (_dir, bus) = temp_bus();
    let short = SubscriptionSpec {
        ack_wait: Duration::from_millis(300),
        ..spec("h")
    };
    let mut sub = bus.subscribe(&short).await.unwrap();
    let mut other = bus.subscribe(&short).await.unwrap();
    let id = publish(&bus, "ws_a", 1).await;
    let d = next(&mut sub).await;
    // Held while in_progress keeps restarting the clock.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        d.acker.in_progress().await.unwrap();
    }
    assert!(next_within(&mut other, Duration::from_millis(150))
        .await
        .is_none());
    // The holder goes silent: redelivered with the next attempt.
    drop(d);
    let again = next(&mut other).await;
    assert_eq!((again.message_id.as_str(), again.attempt), (id.as_str(), 2));
    again.acker.ack().await.unwrap();
    assert!(next_within(&mut sub, QUIET).await.is_none());
}

#[tokio::test]
async fn every_handler_gets_every_message() {
    let (_dir, bus) = temp_bus();
    let mut first = bus.subscribe(&spec("h1")).await.unwrap();
    let mut second = bus.subscribe(&spec("h2")).await.unwrap();
    let mut ids = BTreeSet::new();
    for n in 0..5 {
        ids.insert(publish(&bus, "ws_a", n).await);
    }
    for sub in [&mut first, &mut second] {
        let mut got = BTreeSet::new();
        for _ in 0..5 {
            let d = next(sub).await;
            got.insert(d.message_id.clone());
            d.acker.ack().await.unwrap();
        }
        assert_eq!(got, ids);
        assert!(next_within(sub, QUIET).await.is_none());
    }
}

#[tokio::test]
async fn subscribers_of_one_spec_share_the_messages() {
    let (_dir, bus) = temp_bus();
    let small = SubscriptionSpec {
        max_in_flight: 3,
        ..spec("h")
    };
    let subs = [
        bus.subscribe(&small).await.unwrap(),
        bus.subscribe(&small).await.unwrap(),
    ];
    let mut ids = BTreeSet::new();
    for n in 0..60 {
        ids.insert(publish(&bus, "ws_a", n).await);
    }
    let consumers = subs.into_iter().map(|mut sub| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(d) = next_within(&mut sub, QUIET).await {
                assert_eq!(d.attempt, 1, "no message is delivered twice");
                got.push(d.message_id.clone());
                tokio::time::sleep(Duration::from_millis(1)).await;
                d.acker.ack().await.unwrap();
            }
            got
        })
    });
    let mut all = Vec::new();
    let mut counts = Vec::new();
    for consumer in consumers.collect::<Vec<_>>() {
        let got = consumer.await.unwrap();
        counts.push(got.len());
        all.extend(got);
    }
    assert_eq!(all.len(), 60, "{counts:?}");
    assert_eq!(all.into_iter().collect::<BTreeSet<_>>(), ids);
}

#[tokio::test]
async fn messages_before_the_first_subscribe_and_of_other_workspaces_are_not_delivered() {
    let (_dir, bus) = temp_bus();
    publish(&bus, "ws_a", 0).await;
    let mut sub = bus.subscribe(&spec("h")).await.unwrap();
    publish(&bus, "ws_b", 1).await;
    bus.publish("ws_a", "orders.updated", outgoing(2, None))
        .await
        .unwrap();
    assert!(next_within(&mut sub, QUIET).await.is_none());
    let id = publish(&bus, "ws_a", 3).await;
    assert_eq!(next(&mut sub).await.message_id, id);
}

#[tokio::test]
async fn no_delivery_beyond_max_attempts_plus_one() {
    let (_dir, bus) = temp_bus();
    let once = SubscriptionSpec {
        max_attempts: 1,
        ..spec("h")
    };
    let mut sub = bus.subscribe(&once).await.unwrap();
    let id = publish(&bus, "ws_a", 1).await;
    for attempt in 1..=2 {
        let d = next(&mut sub).await;
        assert_eq!(d.attempt, attempt);
        d.acker.retry(Duration::ZERO).await.unwrap();
    }
    assert!(next_within(&mut sub, QUIET).await.is_none());
    let page = bus.list_dead_letters("ws_a", 0, "").await.unwrap();
    assert_eq!(page.dead_letters.len(), 1);
    assert_eq!(page.dead_letters[0].message_id, id);
    assert_eq!(page.dead_letters[0].attempts, 2);
}

#[tokio::test]
async fn dead_letters_are_listed_and_retried_for_their_handler_only() {
    let (_dir, bus) = temp_bus();
    let mut sub = bus.subscribe(&spec("h")).await.unwrap();
    let mut bystander = bus.subscribe(&spec("other")).await.unwrap();
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(publish(&bus, "ws_a", n).await);
        let d = next(&mut sub).await;
        d.acker.dead_letter(format!("boom {n}")).await.unwrap();
        next(&mut bystander).await.acker.ack().await.unwrap();
    }
    assert!(next_within(&mut sub, QUIET).await.is_none());

    let first = bus.list_dead_letters("ws_a", 2, "").await.unwrap();
    assert_eq!(first.dead_letters.len(), 2);
    let token = first.next_page_token.clone().expect("a second page");
    let second = bus.list_dead_letters("ws_a", 2, &token).await.unwrap();
    assert_eq!(second.dead_letters.len(), 1);
    assert_eq!(second.next_page_token, None);
    let letters: Vec<_> = first
        .dead_letters
        .iter()
        .chain(&second.dead_letters)
        .collect();
    assert_eq!(
        letters.iter().map(|d| &d.message_id).collect::<Vec<_>>(),
        ids.iter().collect::<Vec<_>>()
    );
    let dl = letters[0].clone();
    assert!(dl.id.starts_with("dl_"), "{}", dl.id);
    assert_eq!(
        (
            dl.workspace.as_str(),
            dl.module.as_str(),
            dl.handler.as_str()
        ),
        ("ws_a", "orders", "h")
    );
    assert_eq!(dl.topic, "orders.created");
    assert_eq!(dl.payload, serde_json::json!({"n": 0}));
    assert_eq!(dl.headers.get("trace").map(String::as_str), Some("t0"));
    assert_eq!((dl.attempts, dl.reason.as_str()), (1, "boom 0"));
    assert!(dl.failed_at_ms >= dl.published_at_ms);
    assert!(bus
        .list_dead_letters("ws_b", 0, "")
        .await
        .unwrap()
        .dead_letters
        .is_empty());

    // Another workspace cannot see or retry it.
    let err = bus.retry_dead_letter("ws_b", &dl.id).await.unwrap_err();
    assert!(
        matches!(&err, BusError::NotFound(m) if m.contains(&dl.id)),
        "{err}"
    );

    let redriven = bus.retry_dead_letter("ws_a", &dl.id).await.unwrap();
    assert_eq!(redriven.message_id, ids[0]);
    assert!(!redriven.duplicate);
    let d = next(&mut sub).await;
    assert_eq!((d.message_id.as_str(), d.attempt), (ids[0].as_str(), 1));
    assert_eq!(d.payload, Bytes::from_static(br#"{"n":0}"#));
    d.acker.ack().await.unwrap();
    assert!(next_within(&mut bystander, QUIET).await.is_none());

    let err = bus.retry_dead_letter("ws_a", &dl.id).await.unwrap_err();
    assert!(
        matches!(&err, BusError::NotFound(m) if m.contains(&dl.id)),
        "{err}"
    );
    assert_eq!(
        bus.list_dead_letters("ws_a", 0, "")
            .await
            .unwrap()
            .dead_letters
            .len(),
        2
    );
    assert!(matches!(
        bus.list_dead_letters("ws_a", 0, "!!").await,
        Err(BusError::InvalidArgument(m)) if m.starts_with("page_token")
    ));
}

#[tokio::test]
async fn a_dropped_subscription_gives_back_what_it_had_not_handed_out() {
    let (_dir, bus) = temp_bus();
    let mut sub = bus.subscribe(&spec("h")).await.unwrap();
    for n in 0..3 {
        publish(&bus, "ws_a", n).await;
    }
    let d = next(&mut sub).await;
    d.acker.ack().await.unwrap();
    drop(sub);
    let mut sub = bus.subscribe(&spec("h")).await.unwrap();
    for _ in 0..2 {
        let d = next(&mut sub).await;
        assert_eq!(d.attempt, 1);
        d.acker.ack().await.unwrap();
    }
}

#[tokio::test]
async fn everything_survives_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let short = SubscriptionSpec {
        ack_wait: Duration::from_millis(200),
        max_in_flight: 1,
        ..spec("h")
    };
    let (held, waiting, dead) = {
        let bus = open(dir.path());
        let mut sub = bus.subscribe(&short).await.unwrap();
        let held = publish(&bus, "ws_a", 1).await;
        let dead = publish(&bus, "ws_a", 2).await;
        let d = next(&mut sub).await;
        assert_eq!(d.message_id, held);
        let d2 = {
            // Free the single in-flight slot without settling: the holder "crashed".
            drop(d);
            let d2 = next(&mut sub).await;
            assert_eq!(d2.message_id, dead);
            d2
        };
        d2.acker.dead_letter("kept".into()).await.unwrap();
        let waiting = publish(&bus, "ws_a", 3).await;
        (held, waiting, dead)
    };
    // A new process on the same file.
    let bus = open(dir.path());
    let mut sub = bus.subscribe(&short).await.unwrap();
    let mut got = BTreeMap::new();
    for _ in 0..2 {
        let d = next(&mut sub).await;
        got.insert(d.message_id.clone(), d.attempt);
        d.acker.ack().await.unwrap();
    }
    assert_eq!(got, BTreeMap::from([(held, 2), (waiting, 1)]));
    let letters = bus.list_dead_letters("ws_a", 0, "").await.unwrap();
    assert_eq!(letters.dead_letters.len(), 1);
    assert_eq!(letters.dead_letters[0].message_id, dead);
    assert_eq!(letters.dead_letters[0].reason, "kept");
}
