//! (nats): JetStream → supervisor → `bench-worker` → ack.
//!
//! A private `nats-server` and a supervisor with `[nats]` (and `[workers] ack_wait = "30s"`)
//! running `bench-worker`. Once the handler's durable consumer exists, each round stops the
//! supervisor (SIGTERM), waits until its pull requests are gone from the server, publishes
//! [`NATS_MESSAGES`] messages straight on `convotic.ws_test.topics.bench.events`, and starts
//! the supervisor again. The time runs from the first poll of the consumer's info that shows a
//! delivery until one shows nothing pending and nothing awaiting an ack (polled every 2 ms).

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::stream::Stream;
use async_nats::jetstream::Context;
use bytes::Bytes;
use convotic_e2e::nats::NatsServer;
use convotic_e2e::{ModuleEntry, Supervisor};
use convotic_supervisor::bus::SubscriptionSpec;
use tokio::runtime::Runtime;

use super::bare::{publish_all, settled, start_server};
use super::{cpu, poll, rate, Round, NATS_MESSAGES, ROUND_TIMEOUT};

/// The module, its workspace and its worker's topic.
pub const MODULE: &str = "bench-worker";
/// See [`MODULE`].
pub const WORKSPACE: &str = "ws_test";
/// See [`MODULE`].
pub const TOPIC: &str = "bench.events";
/// The supervisor's topics stream (the `[nats] stream` default).
const STREAM: &str = "CONVOTIC_TOPICS";
/// The `[workers]` table of both supervised scenarios.
pub const WORKERS: &str = "[workers]\nack_wait = \"30s\"\n";
/// How long the supervisor may take to stop or start.
const START_STOP: Duration = Duration::from_secs(30);

/// The supervisor (dropped first), the bench's connection and the server (dropped last).
pub struct Supervised {
    sup: Supervisor,
    js: Context,
    stream: Stream,
    consumer: PullConsumer,
    server: NatsServer,
}

/// Starts a supervisor with `tables` (and `[defaults]` lines `defaults`) running
/// `bench-worker` and waits until it is ready.
pub fn start_supervisor(tables: &str, defaults: &[&str]) -> Result<Supervisor, String> {
    std::panic::catch_unwind(|| {
        let sup =
            Supervisor::start_full(&[ModuleEntry::new(MODULE, MODULE)], defaults, &[], tables);
        sup.wait_state(MODULE, "ready", START_STOP);
        sup
    })
    .map_err(|_| {
        format!(
            "the supervisor or {MODULE} did not start (are both built next to the bench binary?)"
        )
    })
}

/// Stops the supervisor with SIGTERM and waits for it to exit.
pub fn stop(sup: &mut Supervisor) -> Result<(), String> {
    sup.signal(nix::sys::signal::Signal::SIGTERM);
    sup.wait_exit(START_STOP)
        .map(drop)
        .ok_or_else(|| "the supervisor did not stop".to_string())
}

/// Starts the stopped supervisor again on the same config and data.
pub fn restart(sup: &mut Supervisor) -> Result<(), String> {
    std::panic::catch_unwind(AssertUnwindSafe(|| sup.restart_after_kill()))
        .map_err(|_| "the supervisor did not start again".to_string())
}

/// The durable consumer name of the bench's handler.
fn durable() -> String {
    SubscriptionSpec {
        workspace: WORKSPACE.into(),
        module: MODULE.into(),
        handler: TOPIC.into(),
        topic: TOPIC.into(),
        max_attempts: 5,
        ack_wait: Duration::from_secs(30),
        max_in_flight: 256,
    }
    .durable_name()
}

impl Supervised {
    /// Starts the server and the supervisor, and waits for the handler's consumer. With
    /// `features_off`, the supervisor offers neither `work.batch` nor `host.stream`.
    pub fn start(rt: &Runtime, features_off: bool) -> Result<Supervised, String> {
        let server = start_server()?;
        let url = server.url();
        let defaults: &[&str] = if features_off {
            &[crate::FEATURES_OFF]
        } else {
            &[]
        };
        let sup = start_supervisor(&format!("{}[nats]\nurl = \"{url}\"\n", WORKERS), defaults)?;
        let (js, stream, consumer) = rt.block_on(async {
            let client = async_nats::connect(&url)
                .await
                .map_err(|e| format!("connect to {url}: {e}"))?;
            let js = async_nats::jetstream::new(client);
            let js_ref = &js;
            let every = Duration::from_millis(20);
            let stream = poll("the topics stream", every, START_STOP, || async move {
                Ok(js_ref.get_stream(STREAM).await.ok())
            })
            .await?;
            let stream_ref = &stream;
            let name = durable();
            let name_ref = name.as_str();
            let consumer: PullConsumer =
                poll("the handler's consumer", every, START_STOP, || async move {
                    Ok(stream_ref.get_consumer(name_ref).await.ok())
                })
                .await?;
            Ok::<_, String>((js, stream, consumer))
        })?;
        Ok(Supervised {
            sup,
            js,
            stream,
            consumer,
            server,
        })
    }

    /// One round. Redeliveries and the like go to `notes`.
    pub fn round(
        &mut self,
        rt: &Runtime,
        payload: &Bytes,
        notes: &mut Vec<String>,
    ) -> Result<Round, String> {
        let subject = format!("convotic.{WORKSPACE}.topics.{TOPIC}");
        stop(&mut self.sup)?;
        let consumer = &self.consumer;
        let before = rt.block_on(async {
            // A pull request outlives its subscriber on the server until it expires; a message
            // it attracted would come back only after ack_wait.
            let gone = poll(
                "the stopped supervisor's pull requests to go",
                Duration::from_millis(20),
                Duration::from_secs(10),
                || async move {
                    let info = consumer.get_info().await.map_err(|e| e.to_string())?;
                    Ok((info.num_waiting == 0).then_some(()))
                },
            )
            .await;
            if let Err(e) = gone {
                notes.push(format!("(nats) {e}; published anyway"));
            }
            publish_all(&self.js, &subject, payload, NATS_MESSAGES).await?;
            let info = consumer.get_info().await.map_err(|e| e.to_string())?;
            if info.num_pending != NATS_MESSAGES as u64 {
                return Err(format!(
                    "{} messages pending after publishing {NATS_MESSAGES}",
                    info.num_pending
                ));
            }
            Ok(info)
        })?;
        let watcher = {
            let consumer = self.consumer.clone();
            let delivered = before.delivered.consumer_sequence;
            let config = self.sup.config_path();
            let port = self.server.port;
            rt.spawn(async move {
                let consumer = &consumer;
                let started = poll(
                    "the first delivery",
                    Duration::from_millis(1),
                    ROUND_TIMEOUT,
                    || async move {
                        let info = consumer.get_info().await.map_err(|e| e.to_string())?;
                        Ok((info.delivered.consumer_sequence > delivered).then(Instant::now))
                    },
                )
                .await?;
                let groups = cpu::supervisor(&config)
                    .and(cpu::nats_server(port))
                    .and(cpu::this_process());
                let first = groups.sample();
                settled(consumer, Duration::from_millis(2)).await?;
                let elapsed = started.elapsed();
                let cpu = groups.report(&first, &groups.sample(), NATS_MESSAGES, elapsed);
                Ok::<_, String>((elapsed, cpu))
            })
        };
        if let Err(e) = restart(&mut self.sup) {
            watcher.abort();
            return Err(e);
        }
        let elapsed = rt
            .block_on(watcher)
            .map_err(|e| format!("watcher: {e}"))
            .and_then(|outcome| outcome);
        let after = rt.block_on(async {
            let after = consumer.get_info().await.ok();
            let _ = self.stream.purge().filter(subject.as_str()).await;
            after
        });
        let (elapsed, cpu) = elapsed?;
        if let Some(after) = after {
            let deliveries = after.delivered.consumer_sequence - before.delivered.consumer_sequence;
            if deliveries != NATS_MESSAGES as u64 {
                notes.push(format!(
                    "(nats) {deliveries} deliveries for {NATS_MESSAGES} messages (redeliveries)"
                ));
            }
        }
        Ok(Round {
            rate: rate(NATS_MESSAGES, elapsed),
            detail: cpu,
        })
    }
}
