//! Throughput of the embedded queue end to end (publish → deliver → ack) on a SQLite file in a
//! temporary directory.
//!
//! Two runs of N messages (default 20,000) with one subscription (`max_in_flight` 256):
//! * `live`: publishers (64 at a time) and the consumer run together;
//! * `backlog`: everything is published first, then consumed.
//!
//! ```text
//! cargo run --release -p convotic-supervisor --example embedded_queue_throughput [-- N]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};

use convotic_supervisor::bus::embedded::EmbeddedBus;
use convotic_supervisor::bus::{Backend, Outgoing, Subscription, SubscriptionSpec};
use convotic_supervisor::store::Store;

/// Publishes in flight at once.
const PUBLISHERS: usize = 64;

/// The subscription of run `run` (each run has its own topic).
fn spec(run: &str) -> SubscriptionSpec {
    SubscriptionSpec {
        workspace: "ws_bench".into(),
        module: "bench".into(),
        handler: run.into(),
        topic: format!("bench.{run}"),
        max_attempts: 5,
        ack_wait: Duration::from_secs(60),
        max_in_flight: 256,
    }
}

async fn publish_all(bus: &EmbeddedBus, run: &str, n: usize) -> anyhow::Result<()> {
    let topic = format!("bench.{run}");
    futures::stream::iter(0..n)
        .map(|i| {
            bus.publish(
                "ws_bench",
                &topic,
                Outgoing {
                    payload: Bytes::from(format!(r#"{{"order":{i},"total":"19.90"}}"#)),
                    ..Outgoing::default()
                },
            )
        })
        .buffer_unordered(PUBLISHERS)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    Ok(())
}

/// Receives `n` deliveries and acks each in its own task; returns when all acks committed.
async fn consume_all(mut sub: Box<dyn Subscription>, n: usize) -> anyhow::Result<()> {
    let mut acks = Vec::with_capacity(n);
    for _ in 0..n {
        let delivery = sub.next().await?;
        acks.push(tokio::spawn(delivery.acker.ack()));
    }
    for ack in acks {
        ack.await??;
    }
    Ok(())
}

fn report(label: &str, n: usize, elapsed: Duration) {
    println!(
        "{label:>8}: {n} messages in {:.2}s = {:.0} msg/s",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse().context("N must be a number")?,
        None => 20_000,
    };
    let dir = tempfile::tempdir()?;
    let bus = Arc::new(EmbeddedBus::new(Store::open(
        &dir.path().join("convotic.db"),
    )?));

    let sub = bus.subscribe(&spec("live")).await?;
    let start = Instant::now();
    let consumer = tokio::spawn(consume_all(sub, n));
    publish_all(&bus, "live", n).await?;
    consumer.await??;
    report("live", n, start.elapsed());

    let sub = bus.subscribe(&spec("backlog")).await?;
    let start = Instant::now();
    publish_all(&bus, "backlog", n).await?;
    let published = start.elapsed();
    consume_all(sub, n).await?;
    report("backlog", n, start.elapsed());
    println!(
        "          (publish {:.2}s, consume + ack {:.2}s)",
        published.as_secs_f64(),
        (start.elapsed() - published).as_secs_f64()
    );
    Ok(())
}
