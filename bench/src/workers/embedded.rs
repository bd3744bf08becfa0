//! (embedded): the embedded queue (SQLite store) end to end.
//!
//! A supervisor without `[nats]` (with `[workers] ack_wait = "30s"`) running `bench-worker`,
//! and an API key of its workspace.
//!
//! * Live round, the figure: [`PUBLISHERS`] HTTP clients (keep-alive) publish
//!   [`EMBEDDED_MESSAGES`] messages through `POST /v1/topics/bench.events/messages` while the
//!   module consumes them. The time runs from the first publish until the module's
//!   `GET /count` (polled every 5 ms) has grown by that many. The module counts a message when
//!   its handler runs, just before it answers; the supervisor's ack follows in the next write
//!   batch of the store.
//! * Backlog round, a diagnostic: the supervisor is stopped, the messages are stored through
//!   the same queue code from this process (`EmbeddedBus` on the supervisor's database), and
//!   the supervisor is started again; the time runs from the first poll showing a handled
//!   message until the count reaches the total. It splits the live figure between publishing
//!   over HTTP and consuming.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use convotic_e2e::Supervisor;
use convotic_supervisor::bus::embedded::EmbeddedBus;
use convotic_supervisor::bus::{Backend, Outgoing};
use convotic_supervisor::store::Store;
use futures::{StreamExt as _, TryStreamExt as _};
use tokio::runtime::Runtime;

use super::nats::{restart, start_supervisor, stop, MODULE, TOPIC, WORKERS, WORKSPACE};
use super::{cpu, poll, rate, Round, EMBEDDED_MESSAGES, ROUND_TIMEOUT};

/// HTTP publishers at once in a live round.
pub const PUBLISHERS: usize = 16;
/// Publishes at once in a backlog round (straight to the store).
const STORE_PIPELINE: usize = 64;

/// The running supervisor and what the rounds need to talk to it.
pub struct Supervised {
    sup: Supervisor,
    http: reqwest::Client,
    key: String,
}

impl Supervised {
    /// Starts the supervisor and creates an API key.
    pub fn start(_rt: &Runtime) -> Result<Supervised, String> {
        let sup = start_supervisor(WORKERS, &[])?;
        let (code, stdout, stderr) = sup.cli(&["keys", "create", "--workspace", WORKSPACE]);
        if code != 0 {
            let reason = stderr.lines().next().unwrap_or_default().to_string();
            return Err(format!("keys create exited with {code}: {reason}"));
        }
        let key = stdout.lines().next().unwrap_or_default().trim().to_string();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(PUBLISHERS * 2)
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Supervised { sup, http, key })
    }

    /// Live round: publish over HTTP while the module consumes; the rate is end to end, the
    /// detail gives the publishing rate alone.
    pub fn live_round(&self, rt: &Runtime, payload: &Bytes) -> Result<Round, String> {
        let body = Bytes::from(
            [&b"{\"payload\":"[..], payload, b"}"]
                .concat()
                .into_boxed_slice(),
        );
        let count = EMBEDDED_MESSAGES;
        let client = Counter::new(self);
        rt.block_on(async {
            let before = client.count().await?;
            let groups = cpu::supervisor(&self.sup.config_path()).and(cpu::this_process());
            let first = groups.sample();
            let started = Instant::now();
            let next = Arc::new(AtomicUsize::new(0));
            let url = format!("{}/v1/topics/{TOPIC}/messages", self.sup.base);
            let publishers: Vec<_> = (0..PUBLISHERS)
                .map(|_| {
                    let (http, key, url, body, next) = (
                        self.http.clone(),
                        self.key.clone(),
                        url.clone(),
                        body.clone(),
                        Arc::clone(&next),
                    );
                    tokio::spawn(async move {
                        while next.fetch_add(1, Ordering::Relaxed) < count {
                            let response = http
                                .post(&url)
                                .header("x-api-key", &key)
                                .header("content-type", "application/json")
                                .body(body.clone())
                                .send()
                                .await
                                .map_err(|e| format!("publish: {e}"))?;
                            let status = response.status().as_u16();
                            // Read the answer, so the connection is reused.
                            let answer = response.bytes().await.unwrap_or_default();
                            if status != 202 {
                                return Err(format!(
                                    "publish answered {status}: {}",
                                    String::from_utf8_lossy(&answer)
                                ));
                            }
                        }
                        Ok::<_, String>(())
                    })
                })
                .collect();
            let client = &client;
            let done = poll(
                "the module to handle every message",
                Duration::from_millis(5),
                ROUND_TIMEOUT,
                || async move {
                    let count_now = client.count().await?;
                    Ok((count_now >= before + count as u64).then(|| started.elapsed()))
                },
            );
            let published = async {
                for publisher in publishers {
                    publisher.await.map_err(|e| format!("publisher: {e}"))??;
                }
                Ok::<_, String>(started.elapsed())
            };
            let (published, done) = futures::future::join(published, done).await;
            let published = published?;
            let done = done?;
            let cpu = groups.report(&first, &groups.sample(), count, done);
            Ok(Round {
                rate: rate(count, done),
                detail: format!(
                    "HTTP publishing alone {:.0} msg/s; {cpu}",
                    rate(count, published)
                ),
            })
        })
    }

    /// Backlog round: store the messages while the supervisor is stopped, then time their
    /// consumption.
    pub fn backlog_round(&mut self, rt: &Runtime, payload: &Bytes) -> Result<Round, String> {
        let count = EMBEDDED_MESSAGES;
        stop(&mut self.sup)?;
        let data_dir = self.sup.data_dir();
        rt.block_on(async {
            let store = Store::open_in(&data_dir).map_err(|e| format!("open the store: {e}"))?;
            let bus = EmbeddedBus::new(store);
            let bus = &bus;
            futures::stream::iter(0..count)
                .map(|_| async move {
                    let message = Outgoing {
                        payload: payload.clone(),
                        ..Outgoing::default()
                    };
                    bus.publish(WORKSPACE, TOPIC, message).await
                })
                .buffer_unordered(STORE_PIPELINE)
                .map_err(|e| format!("store a message: {e}"))
                .try_for_each(|_| async { Ok(()) })
                .await
        })?;
        let watcher = {
            let client = Counter::new(self);
            let config = self.sup.config_path();
            rt.spawn(async move {
                let client = &client;
                // The count starts from 0 with the restarted module; errors mean "not up yet".
                let started = poll(
                    "the first handled message",
                    Duration::from_millis(2),
                    ROUND_TIMEOUT,
                    || async move {
                        Ok(matches!(client.count().await, Ok(n) if n > 0).then(Instant::now))
                    },
                )
                .await?;
                let groups = cpu::supervisor(&config).and(cpu::this_process());
                let first = groups.sample();
                let elapsed = poll(
                    "the module to handle every message",
                    Duration::from_millis(5),
                    ROUND_TIMEOUT,
                    || async move {
                        let handled = client.count().await?;
                        Ok((handled >= count as u64).then(|| started.elapsed()))
                    },
                )
                .await?;
                let cpu = groups.report(&first, &groups.sample(), count, elapsed);
                Ok::<_, String>((elapsed, cpu))
            })
        };
        if let Err(e) = restart(&mut self.sup) {
            watcher.abort();
            return Err(e);
        }
        let (elapsed, cpu) = rt
            .block_on(watcher)
            .map_err(|e| format!("watcher: {e}"))
            .and_then(|outcome| outcome)?;
        Ok(Round {
            rate: rate(count, elapsed),
            detail: cpu,
        })
    }
}

/// Reads the module's count of handled messages.
struct Counter {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Counter {
    fn new(supervised: &Supervised) -> Counter {
        Counter {
            http: supervised.http.clone(),
            url: format!("{}/v1/modules/{MODULE}/count", supervised.sup.base),
            key: supervised.key.clone(),
        }
    }

    async fn count(&self) -> Result<u64, String> {
        let response = self
            .http
            .get(&self.url)
            .header("x-api-key", &self.key)
            .send()
            .await
            .map_err(|e| format!("GET /count: {e}"))?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| format!("GET /count: {e}"))?;
        match body["count"].as_u64() {
            Some(count) if status == 200 => Ok(count),
            _ => Err(format!("GET /count answered {status}: {body}")),
        }
    }
}
