//! (bare): the reference. A private `nats-server`, a stream of its own, [`NATS_MESSAGES`]
//! messages published beforehand, then one durable pull consumer in this process (pull batch
//! [`BATCH`], `max_ack_pending` [`BATCH`], deliver all) acknowledging each message with a plain
//! ack as it arrives. The time runs from opening the pull until the server reports nothing
//! pending and nothing awaiting an ack. Also the JetStream helpers (nats) shares.

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::stream::{self, StorageType};
use async_nats::jetstream::Context;
use bytes::Bytes;
use convotic_e2e::nats::NatsServer;
use futures::{StreamExt as _, TryStreamExt as _};
use tokio::runtime::Runtime;

use super::{cpu, poll, rate, Round, NATS_MESSAGES, ROUND_TIMEOUT};

/// The stream of this scenario.
const STREAM: &str = "BENCH_BARE";
/// Messages asked for per pull, and acks outstanding at most.
pub const BATCH: usize = 256;
/// Publishes awaiting their acknowledgement at once.
const PIPELINE: usize = 512;

/// A private server with the scenario's stream; the server is killed when dropped.
pub struct Bare {
    client: async_nats::Client,
    js: Context,
    stream: stream::Stream,
    server: NatsServer,
}

/// Starts a private `nats-server`; `Err` when it cannot start.
pub fn start_server() -> Result<NatsServer, String> {
    std::panic::catch_unwind(NatsServer::start).map_err(|_| {
        "nats-server did not start (install it, or set NATS_SERVER to its path)".to_string()
    })
}

/// Publishes `count` copies of `payload` on `subject`, [`PIPELINE`] at a time, each awaiting
/// the stream's acknowledgement.
pub async fn publish_all(
    js: &Context,
    subject: &str,
    payload: &Bytes,
    count: usize,
) -> Result<(), String> {
    futures::stream::iter(0..count)
        .map(|_| async move {
            let ack = js
                .publish(subject.to_string(), payload.clone())
                .await
                .map_err(|e| format!("publish to {subject}: {e}"))?;
            ack.await
                .map(drop)
                .map_err(|e| format!("publish to {subject}: {e}"))
        })
        .buffer_unordered(PIPELINE)
        .try_for_each(|()| async { Ok(()) })
        .await
}

/// Waits until the server reports nothing pending and nothing awaiting an ack on `consumer`.
pub async fn settled(consumer: &PullConsumer, every: Duration) -> Result<(), String> {
    poll(
        "every message to be acked",
        every,
        ROUND_TIMEOUT,
        || async move {
            let info = consumer
                .get_info()
                .await
                .map_err(|e| format!("consumer info: {e}"))?;
            Ok((info.num_pending == 0 && info.num_ack_pending == 0).then_some(()))
        },
    )
    .await
}

impl Bare {
    /// Starts the server and creates the stream.
    pub fn start(rt: &Runtime) -> Result<Bare, String> {
        let server = start_server()?;
        let url = server.url();
        let (client, js, stream) = rt.block_on(async {
            let client = async_nats::connect(&url)
                .await
                .map_err(|e| format!("connect to {url}: {e}"))?;
            let js = async_nats::jetstream::new(client.clone());
            let stream = js
                .create_stream(stream::Config {
                    name: STREAM.into(),
                    subjects: vec!["bench.bare.>".into()],
                    storage: StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(|e| format!("create stream {STREAM}: {e}"))?;
            Ok::<_, String>((client, js, stream))
        })?;
        Ok(Bare {
            client,
            js,
            stream,
            server,
        })
    }

    /// One round: publish, then consume and ack (timed).
    pub fn round(&self, rt: &Runtime, payload: &Bytes, round: usize) -> Result<Round, String> {
        rt.block_on(async {
            let subject = format!("bench.bare.r{round}");
            let name = format!("bare_r{round}");
            let outcome = tokio::time::timeout(
                ROUND_TIMEOUT,
                self.consume(&subject, &name, payload, NATS_MESSAGES),
            )
            .await
            .unwrap_or_else(|_| Err(format!("round not done within {ROUND_TIMEOUT:?}")));
            let _ = self.stream.delete_consumer(&name).await;
            let _ = self.stream.purge().filter(subject.as_str()).await;
            outcome.map(|(elapsed, cpu)| Round {
                rate: rate(NATS_MESSAGES, elapsed),
                detail: cpu,
            })
        })
    }

    async fn consume(
        &self,
        subject: &str,
        name: &str,
        payload: &Bytes,
        count: usize,
    ) -> Result<(Duration, String), String> {
        publish_all(&self.js, subject, payload, count).await?;
        let consumer: PullConsumer = self
            .stream
            .create_consumer(pull::Config {
                durable_name: Some(name.to_string()),
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::Explicit,
                filter_subject: subject.to_string(),
                max_ack_pending: BATCH as i64,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("create consumer {name}: {e}"))?;
        let groups = cpu::nats_server(self.server.port).and(cpu::this_process());
        let first = groups.sample();
        let started = Instant::now();
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(BATCH)
            .messages()
            .await
            .map_err(|e| format!("pull from {name}: {e}"))?;
        let mut acked = 0;
        while acked < count {
            let message = messages
                .next()
                .await
                .ok_or_else(|| "the pull stream ended".to_string())?
                .map_err(|e| format!("pull: {e}"))?;
            message.ack().await.map_err(|e| format!("ack: {e}"))?;
            acked += 1;
        }
        self.client
            .flush()
            .await
            .map_err(|e| format!("flush: {e}"))?;
        settled(&consumer, Duration::from_millis(1)).await?;
        let elapsed = started.elapsed();
        Ok((
            elapsed,
            groups.report(&first, &groups.sample(), count, elapsed),
        ))
    }
}
