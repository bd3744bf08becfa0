//! Throughput of the NATS bus: publishes N messages of S bytes through `NatsBus` (pipelined:
//! many publishes awaiting their acknowledgements at once) while one subscription consumes and
//! acknowledges them, then compares plain and confirmed ("double") acks on a bare consumer.
//!
//! ```text
//! cargo run --release -p convotic-supervisor --example nats_throughput -- \
//!     nats://127.0.0.1:4222 [messages=20000] [bytes=1024] [max_in_flight=256]
//! ```
//!
//! It uses the server's Convotic streams (created if missing) under a fresh workspace
//! `ws_bench_<random>`, and removes its consumers and messages at the end. Point it at a
//! scratch server.

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use bytes::Bytes;
use convotic_supervisor::bus::nats::NatsBus;
use convotic_supervisor::bus::{Backend, Outgoing, SubscriptionSpec};
use convotic_supervisor::config::NatsConfig;
use futures::stream::{self, FuturesUnordered, StreamExt};

const PIPELINE: usize = 512;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .first()
        .cloned()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let arg = |i: usize, default: usize| -> anyhow::Result<usize> {
        Ok(match args.get(i) {
            Some(value) => value.parse()?,
            None => default,
        })
    };
    let count = arg(1, 20_000)?;
    let size = arg(2, 1024)?;
    let max_in_flight = arg(3, 256)?;

    let config = NatsConfig {
        url: url.clone(),
        stream: "CONVOTIC_TOPICS".into(),
        dead_letter_stream: "CONVOTIC_DEAD".into(),
        duplicate_window: Duration::from_secs(120),
        request_timeout: Duration::from_secs(5),
        replicas: 1,
    };
    let bus = NatsBus::connect(&config).await?;
    let workspace = format!("ws_bench_{}", hex::encode(rand::random::<[u8; 4]>()));
    let spec = SubscriptionSpec {
        workspace: workspace.clone(),
        module: "bench".into(),
        handler: "bench".into(),
        topic: "bench".into(),
        max_attempts: 5,
        ack_wait: Duration::from_secs(60),
        max_in_flight,
    };
    let payload = Bytes::from(format!(
        "{{\"pad\":\"{}\"}}",
        "x".repeat(size.saturating_sub(10))
    ));
    println!(
        "{count} messages of {} bytes, max_in_flight {max_in_flight}, {url}",
        payload.len()
    );

    // A second handler on the topic, consumed after the publishes: consume + ack alone.
    let stored_spec = SubscriptionSpec {
        handler: "stored".into(),
        ..spec.clone()
    };
    let mut stored = bus.subscribe(&stored_spec).await?;

    // NatsBus: pipelined publish, consume + plain ack.
    let mut subscription = bus.subscribe(&spec).await?;
    let started = Instant::now();
    let consumer = tokio::spawn(async move {
        for _ in 0..count {
            let delivery = subscription.next().await?;
            delivery.acker.ack().await?;
        }
        anyhow::Ok(started.elapsed())
    });
    let published = stream::iter(0..count)
        .map(|_| {
            bus.publish(
                &workspace,
                "bench",
                Outgoing {
                    payload: payload.clone(),
                    ..Default::default()
                },
            )
        })
        .buffer_unordered(PIPELINE)
        .fold(Ok(0usize), |acc, result| async move {
            Ok::<_, anyhow::Error>(acc? + usize::from(result.is_ok()))
        })
        .await?;
    let publish_time = started.elapsed();
    let total_time = consumer.await??;
    println!(
        "NatsBus publish: {published} in {:.2?} = {:.0} msg/s",
        publish_time,
        rate(published, publish_time)
    );
    println!(
        "NatsBus publish + consume + ack (end to end): {count} in {:.2?} = {:.0} msg/s",
        total_time,
        rate(count, total_time)
    );

    let started = Instant::now();
    for _ in 0..count {
        let delivery = stored.next().await?;
        delivery.acker.ack().await?;
    }
    let elapsed = started.elapsed();
    println!(
        "NatsBus consume + ack of stored messages: {count} in {elapsed:.2?} = {:.0} msg/s",
        rate(count, elapsed)
    );

    // Bare consumers: plain ack versus double ack, on messages already stored.
    let client = async_nats::connect(&url).await?;
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream(&config.stream).await?;
    for double in [false, true] {
        let name = format!("{workspace}_{}", if double { "double" } else { "plain" });
        let consumer = stream
            .create_consumer(pull::Config {
                durable_name: Some(name.clone()),
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::Explicit,
                filter_subject: format!("convotic.{workspace}.topics.bench"),
                max_ack_pending: i64::try_from(max_in_flight)?,
                ..Default::default()
            })
            .await?;
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(max_in_flight)
            .messages()
            .await?;
        let started = Instant::now();
        let mut acks = FuturesUnordered::new();
        let mut received = 0;
        while received < count {
            let Some(message) = messages.next().await else {
                break;
            };
            let message = message.map_err(|e| anyhow::anyhow!("{e}"))?;
            received += 1;
            if double {
                acks.push(async move { message.double_ack().await });
                while acks.len() >= max_in_flight {
                    if let Some(result) = acks.next().await {
                        result.map_err(|e| anyhow::anyhow!("{e}"))?;
                    }
                }
            } else {
                message.ack().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }
        while let Some(result) = acks.next().await {
            result.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let elapsed = started.elapsed();
        println!(
            "bare consumer, {} ack: {received} in {elapsed:.2?} = {:.0} msg/s",
            if double { "double" } else { "plain" },
            rate(received, elapsed)
        );
        stream.delete_consumer(&name).await?;
    }

    stream.delete_consumer(&spec.durable_name()).await?;
    stream.delete_consumer(&stored_spec.durable_name()).await?;
    stream
        .purge()
        .filter(format!("convotic.{workspace}.>"))
        .await?;
    Ok(())
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}
