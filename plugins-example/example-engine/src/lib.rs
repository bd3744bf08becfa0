//! `example-engine`: a small workflow engine and webhook receiver for the examples. It takes the
//! messages and workflow runs the supervisor delivers to a webhook target, verifies their
//! signature, answers idempotently, and (in engine mode) reports each new workflow run
//! `running` then `succeeded` back to the supervisor.
//!
//! What a delivery looks like: a JSON `POST` (on any path; [`Receiver::url`] names
//! `/hook`) with the headers
//!
//! * `x-convotic-signature: t=<unix ms>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
//!   checked with the SDK's [`SignatureVerifier`] (5 min replay window, 30 s clock skew);
//! * `idempotency-key: <item id>`: the same key again is the same item, delivered again;
//! * `x-convotic-attempt: <n>`.
//!
//! Answers, in the order the checks are made:
//!
//! * after [`Receiver::set_failing`]`(status)`: that status with
//!   `{"error": {"message": "receiver is down"}}`;
//! * a method other than `POST` → 405;
//! * no secret set ([`Receiver::set_secret`]) → 500 `{"error": {"message": "no secret
//!   configured"}}`;
//! * a missing, malformed, wrong, expired or future-dated signature → 401
//!   `{"error": {"message": "<why>"}}` (the [`SignatureError`]'s text);
//! * a body that is not a JSON object, or no `idempotency-key` header → 400;
//! * else 200 `{"id": "rcv_<n>"}`, `n` counting the distinct keys from 1. A key seen before
//!   gets the same id again and is counted as a duplicate.
//!
//! Engine mode ([`Receiver::set_engine`]): for each newly accepted body with a string
//! `"run_id"` (a workflow run), the receiver sends, in the background,
//!
//! ```text
//! PATCH {supervisor}/v1/workflow-runs/{run_id}   X-API-Key: <key>
//! {"status": "running"}
//! PATCH {supervisor}/v1/workflow-runs/{run_id}   X-API-Key: <key>
//! {"status": "succeeded", "output": {"handled_by": "example-engine", "workflow_id": <workflow_id>}}
//! ```
//!
//! each tried up to 5 times, 200 ms apart, while the supervisor is unreachable or answers 5xx.
//!
//! ```no_run
//! use example_engine::Receiver;
//!
//! let receiver = Receiver::start();
//! receiver.set_secret("whsec_0123456789abcdef");
//! // PUT /v1/workflow-engine {"kind": "webhook", "url": receiver.url(), "secret": ...},
//! // start a run...
//! assert_eq!(receiver.accepted()[0]["workflow_id"], "wf_abc123");
//! ```

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use convotic_plugin_sdk::signature::DEFAULT_HEADER;
use convotic_plugin_sdk::{SignatureError, SignatureVerifier};
use serde_json::{json, Value};
use warp::http::{HeaderMap, Method, StatusCode};
use warp::Filter;

/// The header naming the delivered item; a repeated key is a repeated delivery.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// The header carrying the delivery attempt (1, 2, ...).
pub const ATTEMPT_HEADER: &str = "x-convotic-attempt";

/// How many times one run report is tried while the supervisor fails.
const REPORT_ATTEMPTS: u32 = 5;

/// The pause between two tries of a run report.
const REPORT_PAUSE: Duration = Duration::from_millis(200);

/// How long one run report may take.
const REPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how run progress is reported in engine mode.
#[derive(Debug, Clone)]
struct Engine {
    supervisor: String,
    api_key: String,
}

/// What the receiver has seen and how it is configured.
#[derive(Debug, Default)]
struct Recorded {
    /// Requests received, whatever their answer.
    requests: usize,
    /// Requests refused for their signature.
    rejected: usize,
    /// Accepted deliveries of a key seen before.
    duplicates: usize,
    /// Accepted bodies, in arrival order, each with `"_idempotency_key"` added.
    accepted: Vec<Value>,
    /// The answer id given to each distinct key.
    ids: HashMap<String, String>,
    /// The status every request gets while non-zero.
    failing: u16,
    /// The verifier of the configured secret.
    verifier: Option<SignatureVerifier>,
    /// Engine mode's settings.
    engine: Option<Engine>,
}

/// The receiver's state, shared between the server and the [`Receiver`] handle.
#[derive(Debug)]
struct Shared {
    print: AtomicBool,
    client: reqwest::Client,
    recorded: Mutex<Recorded>,
}

/// A run to report to the supervisor.
#[derive(Debug)]
struct RunReport {
    engine: Engine,
    run_id: String,
    workflow_id: Value,
    /// The line printed once reported (printing receivers only).
    line: String,
}

/// One answered request: status, JSON body, and what follows from it.
#[derive(Debug)]
struct Outcome {
    status: StatusCode,
    answer: Value,
    /// What to print about the request.
    line: String,
    /// A workflow run to report (engine mode, new runs only).
    report: Option<RunReport>,
}

impl Shared {
    fn new() -> Shared {
        let client = reqwest::Client::builder()
            .timeout(REPORT_TIMEOUT)
            .build()
            .unwrap_or_default();
        Shared {
            print: AtomicBool::new(false),
            client,
            recorded: Mutex::new(Recorded::default()),
        }
    }

    /// The record; a panic elsewhere while holding the lock does not poison it.
    fn lock(&self) -> MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn printing(&self) -> bool {
        self.print.load(Ordering::Relaxed)
    }

    /// Answers one request as if the time were `now_ms`.
    fn handle(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
        now_ms: u64,
    ) -> Outcome {
        let mut recorded = self.lock();
        recorded.requests += 1;
        if recorded.failing != 0 {
            let status =
                StatusCode::from_u16(recorded.failing).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return refused(status, "receiver is down", format!("{method} {path}"));
        }
        if method != Method::POST {
            return refused(
                StatusCode::METHOD_NOT_ALLOWED,
                "only POST is accepted",
                format!("{method} {path}"),
            );
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let checked = match &recorded.verifier {
            Some(verifier) => verifier.verify_at(header(DEFAULT_HEADER), body, now_ms),
            None => Err(SignatureError::NoSecret),
        };
        match checked {
            Ok(_) => {}
            Err(SignatureError::NoSecret) => {
                return refused(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "no secret configured",
                    format!("POST {path}"),
                );
            }
            Err(err) => {
                recorded.rejected += 1;
                return refused(
                    StatusCode::UNAUTHORIZED,
                    &err.to_string(),
                    format!("POST {path} rejected"),
                );
            }
        }
        let Ok(Value::Object(mut item)) = serde_json::from_slice::<Value>(body) else {
            return refused(
                StatusCode::BAD_REQUEST,
                "the body must be a JSON object",
                format!("POST {path}"),
            );
        };
        let Some(key) = header(IDEMPOTENCY_HEADER).filter(|key| !key.is_empty()) else {
            return refused(
                StatusCode::BAD_REQUEST,
                "the idempotency-key header is required",
                format!("POST {path}"),
            );
        };
        let key = key.to_string();
        let what = describe(&item, &key);
        item.insert("_idempotency_key".into(), Value::String(key.clone()));
        let run_id = item
            .get("run_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let workflow_id = item.get("workflow_id").cloned().unwrap_or(Value::Null);
        recorded.accepted.push(Value::Object(item));

        if let Some(id) = recorded.ids.get(&key).cloned() {
            recorded.duplicates += 1;
            let attempt = header(ATTEMPT_HEADER).unwrap_or("?");
            return Outcome {
                status: StatusCode::OK,
                answer: json!({ "id": id }),
                line: format!(
                    "{what}: duplicate delivery (attempt {attempt}), answered {id} again"
                ),
                report: None,
            };
        }
        let id = format!("rcv_{}", recorded.ids.len() + 1);
        recorded.ids.insert(key, id.clone());
        let line = format!("{what} accepted");
        let report = match (run_id, &recorded.engine) {
            (Some(run_id), Some(engine)) => Some(RunReport {
                engine: engine.clone(),
                run_id,
                workflow_id,
                line: line.clone(),
            }),
            _ => None,
        };
        Outcome {
            status: StatusCode::OK,
            answer: json!({ "id": id }),
            line,
            report,
        }
    }

    /// Reports a run `running` then `succeeded`; prints the outcome when printing.
    async fn report(self: Arc<Self>, run: RunReport) {
        let steps = [
            ("running", json!({"status": "running"})),
            (
                "succeeded",
                json!({
                    "status": "succeeded",
                    "output": {"handled_by": "example-engine", "workflow_id": run.workflow_id},
                }),
            ),
        ];
        let mut reported = Vec::new();
        let mut problems = Vec::new();
        for (status, body) in steps {
            match patch(&self.client, &run.engine, &run.run_id, &body).await {
                Ok(()) => reported.push(status),
                Err(err) => problems.push(format!("could not report {status}: {err}")),
            }
        }
        if self.printing() {
            let mut parts = Vec::new();
            if !reported.is_empty() {
                parts.push(format!("reported {}", reported.join(", ")));
            }
            parts.extend(problems);
            say(&format!("{}; {}", run.line, parts.join("; ")));
        }
    }
}

/// `PATCH {supervisor}/v1/workflow-runs/{run_id}` with `body`, tried again while the
/// supervisor is unreachable or answers 5xx.
async fn patch(
    client: &reqwest::Client,
    engine: &Engine,
    run_id: &str,
    body: &Value,
) -> Result<(), String> {
    let mut url = reqwest::Url::parse(&engine.supervisor)
        .map_err(|err| format!("supervisor URL {:?}: {err}", engine.supervisor))?;
    url.path_segments_mut()
        .map_err(|()| format!("supervisor URL {:?} cannot have a path", engine.supervisor))?
        .pop_if_empty()
        .extend(["v1", "workflow-runs", run_id]);
    let mut last = String::new();
    for attempt in 1..=REPORT_ATTEMPTS {
        if attempt > 1 {
            tokio::time::sleep(REPORT_PAUSE).await;
        }
        let sent = client
            .patch(url.clone())
            .header("X-API-Key", &engine.api_key)
            .json(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                last = format!("HTTP {}: {}", status.as_u16(), text.trim());
                if !status.is_server_error() {
                    return Err(last);
                }
            }
            Err(err) => last = with_causes(&err),
        }
    }
    Err(last)
}

/// An error's text followed by its causes', e.g. `error sending request ...: tcp connect
/// error: Connection refused (os error 111)`.
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(err) = cause {
        let more = err.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = err.source();
    }
    text
}

/// A short description of a delivered item for the printed lines.
fn describe(item: &serde_json::Map<String, Value>, key: &str) -> String {
    let text = |field: &str| item.get(field).and_then(Value::as_str);
    match (text("run_id"), text("id")) {
        (Some(run), _) => format!("run {run} of {}", text("workflow_id").unwrap_or("?")),
        (None, Some(message)) => {
            format!("message {message} ({})", text("channel").unwrap_or("?"))
        }
        (None, None) => format!("delivery {key}"),
    }
}

/// An error answer in the receiver's format, with its printed line.
fn refused(status: StatusCode, message: &str, line: String) -> Outcome {
    Outcome {
        status,
        answer: json!({"error": {"message": message}}),
        line: format!("{line} -> {}: {message}", status.as_u16()),
        report: None,
    }
}

/// The current time in ms since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Prints a line on stdout; a closed stdout (the reader went away) does not stop the server.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// Serves `shared` on `listener` until `stopped` completes.
async fn serve(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let routes = warp::method()
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(
            move |method: Method,
                  path: warp::path::FullPath,
                  headers: HeaderMap,
                  body: warp::hyper::body::Bytes| {
                let outcome = shared.handle(&method, path.as_str(), &headers, &body, now_ms());
                match outcome.report {
                    Some(run) => {
                        tokio::spawn(Arc::clone(&shared).report(run));
                    }
                    None if shared.printing() => say(&outcome.line),
                    None => {}
                }
                warp::reply::with_status(warp::reply::json(&outcome.answer), outcome.status)
            },
        );
    tokio::select! {
        () = warp::serve(routes).incoming(listener).run() => {}
        _ = stopped => {}
    }
}

/// A webhook receiver (and, in engine mode, workflow engine) serving from a background thread
/// with its own tokio runtime, so it works from plain and async tests alike. Quiet unless
/// [`printing`](Receiver::printing). Stopped on drop; reports still under way are abandoned.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Starts a receiver on `127.0.0.1:<free port>`; it accepts connections as soon as this
    /// returns. No secret is set yet: every delivery is answered 500 until
    /// [`set_secret`](Receiver::set_secret).
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound or the runtime cannot be built.
    pub fn start() -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        Receiver::serve_on(listener)
    }

    /// Starts a receiver on an already bound `listener`; it accepts connections as soon as
    /// this returns.
    ///
    /// # Panics
    ///
    /// If the listener cannot be made non-blocking or the runtime cannot be built.
    pub fn serve_on(listener: std::net::TcpListener) -> Receiver {
        let addr = listener.local_addr().expect("receiver address");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("receiver runtime");
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener).expect("receiver listener")
        };
        let shared = Arc::new(Shared::new());
        let served = Arc::clone(&shared);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("example-engine".into())
            .spawn(move || {
                runtime.block_on(serve(served, listener, stopped));
                // Dropping the runtime here cancels open connections and pending reports.
            })
            .expect("spawn the receiver thread");
        Receiver {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Makes the receiver print one line per request on stdout, e.g.
    /// `run run_1 of wf_abc123 accepted; reported running, succeeded` or
    /// `POST /hook rejected -> 401: mismatch: no v1 signature matches the body`.
    #[must_use]
    pub fn printing(self) -> Receiver {
        self.shared.print.store(true, Ordering::Relaxed);
        self
    }

    /// The address the receiver listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The webhook URL, `http://127.0.0.1:PORT/hook` (any path is accepted).
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The signing secret signatures are verified with (the one the supervisor returned or
    /// was given for the webhook target). An empty secret verifies nothing: every delivery is
    /// then answered 500.
    pub fn set_secret(&self, secret: &str) {
        self.shared.lock().verifier = Some(SignatureVerifier::new(secret));
    }

    /// Makes every following request answer `status` with
    /// `{"error": {"message": "receiver is down"}}`; `0` restores normal answers.
    pub fn set_failing(&self, status: u16) {
        self.shared.lock().failing = status;
    }

    /// Engine mode: every newly accepted workflow run (a body with a string `"run_id"`) is
    /// reported `running` then `succeeded` to `supervisor` (its base URL, e.g.
    /// `http://127.0.0.1:8080`) with `X-API-Key: <api_key>`.
    pub fn set_engine(&self, supervisor: &str, api_key: &str) {
        self.shared.lock().engine = Some(Engine {
            supervisor: supervisor.to_string(),
            api_key: api_key.to_string(),
        });
    }

    /// Every accepted delivery's body, duplicates included, in arrival order, each with the
    /// `idempotency-key` header's value added as `"_idempotency_key"`. Its length is
    /// [`unique`](Receiver::unique) + [`duplicates`](Receiver::duplicates).
    pub fn accepted(&self) -> Vec<Value> {
        self.shared.lock().accepted.clone()
    }

    /// How many distinct idempotency keys were accepted.
    pub fn unique(&self) -> usize {
        self.shared.lock().ids.len()
    }

    /// How many accepted deliveries carried a key accepted before.
    pub fn duplicates(&self) -> usize {
        self.shared.lock().duplicates
    }

    /// How many requests were refused for their signature (401).
    pub fn rejected(&self) -> usize {
        self.shared.lock().rejected
    }

    /// How many requests arrived, whatever their answer.
    pub fn requests(&self) -> usize {
        self.shared.lock().requests
    }
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use convotic_plugin_sdk::signature::sign;
    use reqwest::blocking::Client;

    use super::*;

    const SECRET: &str = "whsec_test_0123456789";

    /// POSTs `body` to the receiver with `signature` and key; answers status and JSON body.
    fn post(receiver: &Receiver, signature: Option<&str>, key: &str, body: &str) -> (u16, Value) {
        let mut request = Client::new()
            .post(receiver.url())
            .header("content-type", "application/json")
            .header(IDEMPOTENCY_HEADER, key)
            .header(ATTEMPT_HEADER, "1")
            .body(body.to_string());
        if let Some(signature) = signature {
            request = request.header(DEFAULT_HEADER, signature);
        }
        let response = request.send().expect("send");
        let status = response.status().as_u16();
        (status, response.json().expect("JSON answer"))
    }

    /// POSTs `body` signed with `secret` now.
    fn post_signed(receiver: &Receiver, secret: &str, key: &str, body: &str) -> (u16, Value) {
        let signature = sign(secret, now_ms(), body.as_bytes());
        post(receiver, Some(&signature), key, body)
    }

    fn run_body(run_id: &str) -> String {
        json!({
            "run_id": run_id,
            "workspace": "ws_demo",
            "workflow_id": "wf_abc123",
            "payload": {"order": 42},
            "module": "erp-webhook",
            "created_at_ms": 1_700_000_000_000_u64,
            "request_id": "req_1",
            "attempt": 1,
        })
        .to_string()
    }

    #[test]
    fn accepts_once_and_answers_duplicates_with_the_same_id() {
        let receiver = Receiver::start();
        receiver.set_secret(SECRET);
        let body = run_body("run_1");

        let (status, answer) = post_signed(&receiver, SECRET, "run_1", &body);
        assert_eq!((status, answer), (200, json!({"id": "rcv_1"})));
        let mut expected: Value = serde_json::from_str(&body).unwrap();
        expected["_idempotency_key"] = json!("run_1");
        assert_eq!(receiver.accepted(), vec![expected.clone()]);
        assert_eq!((receiver.unique(), receiver.duplicates()), (1, 0));

        let (status, answer) = post_signed(&receiver, SECRET, "run_1", &body);
        assert_eq!((status, answer), (200, json!({"id": "rcv_1"})));
        assert_eq!((receiver.unique(), receiver.duplicates()), (1, 1));
        assert_eq!(receiver.accepted(), vec![expected.clone(), expected]);

        let message = r#"{"id":"msg_1","channel":"email","text":"hi","attempt":1}"#;
        let (status, answer) = post_signed(&receiver, SECRET, "msg_1", message);
        assert_eq!((status, answer), (200, json!({"id": "rcv_2"})));
        assert_eq!(receiver.accepted()[2]["_idempotency_key"], "msg_1");
        assert_eq!((receiver.unique(), receiver.duplicates()), (2, 1));
        assert_eq!((receiver.rejected(), receiver.requests()), (0, 3));
    }

    #[test]
    fn refuses_bad_signatures() {
        let receiver = Receiver::start();
        let body = run_body("run_1");

        let (status, answer) = post_signed(&receiver, SECRET, "run_1", &body);
        assert_eq!(
            (status, answer),
            (500, json!({"error": {"message": "no secret configured"}}))
        );
        receiver.set_secret(SECRET);

        let signature = sign(SECRET, now_ms(), body.as_bytes());
        let tampered = body.replace("wf_abc123", "wf_evil");
        let (status, answer) = post(&receiver, Some(&signature), "run_1", &tampered);
        assert_eq!(status, 401);
        assert_eq!(
            answer["error"]["message"],
            "mismatch: no v1 signature matches the body"
        );
        assert_eq!(receiver.rejected(), 1);

        let (status, _) = post_signed(&receiver, "another-secret-123", "run_1", &body);
        assert_eq!(status, 401);
        let (status, answer) = post(&receiver, None, "run_1", &body);
        assert_eq!(status, 401);
        assert_eq!(
            answer["error"]["message"],
            "missing header x-convotic-signature"
        );
        let old = sign(SECRET, now_ms() - 10 * 60 * 1000, body.as_bytes());
        let (status, answer) = post(&receiver, Some(&old), "run_1", &body);
        assert_eq!(status, 401);
        assert!(answer["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("expired: "));
        assert_eq!(receiver.rejected(), 4);

        let (status, _) = post_signed(&receiver, SECRET, "run_1", "not json");
        assert_eq!(status, 400);
        let (status, _) = post_signed(&receiver, SECRET, "", &body);
        assert_eq!(status, 400);

        assert!(receiver.accepted().is_empty());
        assert_eq!((receiver.unique(), receiver.rejected()), (0, 4));
        assert_eq!(receiver.requests(), 7);
    }

    #[test]
    fn failing_answers_the_status() {
        let receiver = Receiver::start();
        receiver.set_secret(SECRET);
        let body = run_body("run_1");
        receiver.set_failing(503);
        let (status, answer) = post_signed(&receiver, SECRET, "run_1", &body);
        assert_eq!(
            (status, answer),
            (503, json!({"error": {"message": "receiver is down"}}))
        );
        assert_eq!((receiver.requests(), receiver.unique()), (1, 0));

        receiver.set_failing(0);
        let (status, answer) = post_signed(&receiver, SECRET, "run_1", &body);
        assert_eq!((status, answer), (200, json!({"id": "rcv_1"})));
        assert_eq!(receiver.requests(), 2);

        let status = Client::new().get(receiver.url()).send().unwrap().status();
        assert_eq!(status.as_u16(), 405);
    }

    /// A stand-in for the supervisor's `PATCH /v1/workflow-runs/{id}`: records
    /// `(path, api key, body)` and answers 503 to the first `fail_first` requests.
    struct FakeSupervisor {
        addr: SocketAddr,
        patches: Arc<Mutex<Vec<(String, String, Value)>>>,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<JoinHandle<()>>,
    }

    impl FakeSupervisor {
        fn start(fail_first: usize) -> FakeSupervisor {
            let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = std_listener.local_addr().unwrap();
            std_listener.set_nonblocking(true).unwrap();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let listener = {
                let _entered = runtime.enter();
                tokio::net::TcpListener::from_std(std_listener).unwrap()
            };
            let patches = Arc::new(Mutex::new(Vec::new()));
            let recorded = Arc::clone(&patches);
            let seen = Arc::new(Mutex::new(0_usize));
            let routes = warp::patch()
                .and(warp::path::full())
                .and(warp::header::<String>("x-api-key"))
                .and(warp::body::json::<Value>())
                .map(
                    move |path: warp::path::FullPath, key: String, body: Value| {
                        let mut seen = seen.lock().unwrap();
                        *seen += 1;
                        if *seen <= fail_first {
                            return warp::reply::with_status(
                                warp::reply::json(&json!({"error": "busy"})),
                                StatusCode::SERVICE_UNAVAILABLE,
                            );
                        }
                        recorded
                            .lock()
                            .unwrap()
                            .push((path.as_str().to_string(), key, body));
                        warp::reply::with_status(warp::reply::json(&json!({})), StatusCode::OK)
                    },
                );
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let thread = std::thread::spawn(move || {
                runtime.block_on(async {
                    tokio::select! {
                        () = warp::serve(routes).incoming(listener).run() => {}
                        _ = stopped => {}
                    }
                });
            });
            FakeSupervisor {
                addr,
                patches,
                stop: Some(stop),
                thread: Some(thread),
            }
        }

        /// The recorded PATCHes once there are `n` of them (waits up to 10 s).
        fn wait_for(&self, n: usize) -> Vec<(String, String, Value)> {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let patches = self.patches.lock().unwrap().clone();
                if patches.len() >= n || Instant::now() > deadline {
                    return patches;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    impl Drop for FakeSupervisor {
        fn drop(&mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }

    #[test]
    fn engine_mode_reports_new_runs_once() {
        let supervisor = FakeSupervisor::start(1);
        let receiver = Receiver::start();
        receiver.set_secret(SECRET);
        receiver.set_engine(&format!("http://{}/", supervisor.addr), "key_demo");

        let body = run_body("run_7");
        assert_eq!(post_signed(&receiver, SECRET, "run_7", &body).0, 200);
        let message = r#"{"id":"msg_1","channel":"email","text":"hi"}"#;
        assert_eq!(post_signed(&receiver, SECRET, "msg_1", message).0, 200);

        let patches = supervisor.wait_for(2);
        let path = "/v1/workflow-runs/run_7".to_string();
        let key = "key_demo".to_string();
        assert_eq!(
            patches,
            vec![
                (path.clone(), key.clone(), json!({"status": "running"})),
                (
                    path,
                    key,
                    json!({
                        "status": "succeeded",
                        "output": {"handled_by": "example-engine", "workflow_id": "wf_abc123"},
                    })
                ),
            ]
        );

        // A duplicate delivery is not reported again.
        assert_eq!(post_signed(&receiver, SECRET, "run_7", &body).0, 200);
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(supervisor.patches.lock().unwrap().len(), 2);
        assert_eq!((receiver.unique(), receiver.duplicates()), (2, 1));
    }

    #[test]
    fn serves_on_a_given_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let receiver = Receiver::serve_on(listener);
        assert_eq!(receiver.addr(), addr);
        assert_eq!(receiver.url(), format!("http://{addr}/hook"));
        receiver.set_secret(SECRET);
        let (status, _) = post_signed(&receiver, SECRET, "k", "{}");
        assert_eq!(status, 200);
        // An idle connection does not hold the receiver up when it is dropped.
        let idle = std::net::TcpStream::connect(addr).unwrap();
        drop(receiver);
        drop(idle);
    }
}
