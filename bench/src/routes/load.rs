//! The load generator: N keep-alive HTTP/1.1 connections (hyper 1 client), each sending the
//! same request back-to-back; after a warm-up, every answer completing inside the measured
//! window is counted and its latency recorded. The connections are spread over
//! [`CLIENT_THREADS`] threads, each with a single-threaded runtime of its own (cheaper than a
//! work-stealing one: the client's CPU is taken from the servers it measures). It stops by
//! itself: no request outlives the window by more than [`STRAGGLER_GRACE`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::histogram::Histogram;

/// How long a request may still take after the window closed before it is abandoned.
const STRAGGLER_GRACE: Duration = Duration::from_secs(2);

/// Worker threads of the load generator's runtime.
const CLIENT_THREADS: usize = 2;

/// What to send. Only loopback addresses are accepted.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server, on 127.0.0.1.
    pub addr: SocketAddr,
    /// Method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// Extra headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Body (may be empty).
    pub body: Bytes,
    /// Statuses that count as success; others count as errors.
    pub ok_statuses: Vec<u16>,
    /// When set, a successful answer must have a body of this length.
    pub body_len: Option<usize>,
}

/// How much load.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Concurrent connections, each with one request in flight.
    pub concurrency: usize,
    /// Time before measuring starts.
    pub warmup: Duration,
    /// Measured time.
    pub duration: Duration,
}

/// The outcome of one run.
#[derive(Clone, Default)]
pub struct Report {
    /// Latencies of the successful answers in the window.
    pub latencies: Histogram,
    /// Failed requests in the window (bad status, wrong body, I/O error).
    pub errors: u64,
    /// The first failure, for the printout.
    pub first_error: Option<String>,
    /// The measured time.
    pub window: Duration,
}

impl Report {
    /// Successful requests per second.
    pub fn rps(&self) -> f64 {
        self.latencies.count() as f64 / self.window.as_secs_f64().max(f64::EPSILON)
    }

    /// Median latency in µs (NaN when nothing succeeded).
    pub fn p50_us(&self) -> f64 {
        micros(self.latencies.quantile(0.50))
    }

    /// 99th percentile latency in µs (NaN when nothing succeeded).
    pub fn p99_us(&self) -> f64 {
        micros(self.latencies.quantile(0.99))
    }

    fn fail(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }

    fn merge(&mut self, other: Report) {
        self.latencies.merge(&other.latencies);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

fn micros(d: Option<Duration>) -> f64 {
    d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
}

/// Runs `plan` against `target` on [`CLIENT_THREADS`] threads, each with a single-threaded
/// runtime driving its share of the connections, and returns what it measured.
pub fn run(target: &Target, plan: Plan) -> Result<Report, String> {
    if !target.addr.ip().is_loopback() {
        return Err(format!("refusing to load {}: not loopback", target.addr));
    }
    let target = Arc::new(target.clone());
    let measure_from = Instant::now() + plan.warmup;
    let until = measure_from + plan.duration;
    let connections = plan.concurrency.max(1);
    let threads: Vec<_> = (0..CLIENT_THREADS.min(connections))
        .map(|t| {
            let share = connections / CLIENT_THREADS.min(connections)
                + usize::from(t < connections % CLIENT_THREADS.min(connections));
            let target = target.clone();
            std::thread::Builder::new()
                .name(format!("bench-client-{t}"))
                .spawn(move || client_thread(target, share, measure_from, until))
                .map_err(|e| format!("client thread: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let mut total = Report {
        window: plan.duration,
        ..Report::default()
    };
    for thread in threads {
        match thread.join() {
            Ok(Ok(report)) => total.merge(report),
            Ok(Err(e)) => return Err(e),
            Err(_) => total.fail("a client thread panicked".to_string()),
        }
    }
    Ok(total)
}

/// One client thread: `connections` connections on a current-thread runtime.
fn client_thread(
    target: Arc<Target>,
    connections: usize,
    measure_from: Instant,
    until: Instant,
) -> Result<Report, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("client runtime: {e}"))?;
    let report = runtime.block_on(async move {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async move {
                let workers: Vec<_> = (0..connections)
                    .map(|_| {
                        tokio::task::spawn_local(connection(target.clone(), measure_from, until))
                    })
                    .collect();
                let mut total = Report::default();
                for worker in workers {
                    match worker.await {
                        Ok(report) => total.merge(report),
                        Err(e) => total.fail(format!("load worker failed: {e}")),
                    }
                }
                total
            })
            .await
    });
    Ok(report)
}

/// One connection's loop: (re)connect, then send requests until `until`.
async fn connection(target: Arc<Target>, measure_from: Instant, until: Instant) -> Report {
    let mut report = Report::default();
    while Instant::now() < until {
        let mut sender = match connect(target.addr).await {
            Ok(sender) => sender,
            Err(e) => {
                if Instant::now() >= measure_from {
                    report.fail(format!("connect: {e}"));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        while Instant::now() < until {
            let started = Instant::now();
            let answer =
                tokio::time::timeout_at(until + STRAGGLER_GRACE, send(&mut sender, &target)).await;
            let done = Instant::now();
            let in_window = done >= measure_from && done < until;
            match answer {
                Ok(Ok(())) if in_window => report.latencies.record(done - started),
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    if in_window {
                        report.fail(e);
                    }
                    break; // reconnect
                }
                Err(_) => return report, // past the window: stop
            }
        }
    }
    report
}

/// Opens one keep-alive HTTP/1.1 connection.
async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one request and reads the whole answer; an unexpected status or body is an error.
async fn send(sender: &mut SendRequest<Full<Bytes>>, target: &Target) -> Result<(), String> {
    sender
        .ready()
        .await
        .map_err(|e| format!("connection: {e}"))?;
    let mut request = Request::builder()
        .method(target.method.clone())
        .uri(target.path.as_str())
        .header(HOST, target.addr.to_string())
        .header(CONTENT_LENGTH, target.body.len());
    for (name, value) in &target.headers {
        request = request.header(name, value);
    }
    let request = request
        .body(Full::new(target.body.clone()))
        .map_err(|e| format!("request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    if !target.ok_statuses.contains(&status) {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(format!("status {status}: {text}"));
    }
    match target.body_len {
        Some(len) if len != body.len() => Err(format!(
            "status {status} with a {} byte body, expected {len}",
            body.len()
        )),
        _ => Ok(()),
    }
}
