//! A fake regional SMS provider: a real HTTP server on loopback serving the provider's API,
//! recording what it receives. Nothing is ever sent; messages are numbered.
//!
//! Contract (what the `regional-sms` module expects):
//!
//! * `GET /v1/account` with `Authorization: Bearer <valid token>` → 200
//!   `{"account": {"name": "Test Account", "phone": "+33100000000"}}`;
//! * `POST /v1/messages` with the token and `{"from", "to", "text"}` → 201
//!   `{"id": "msg_<n>", "status": "queued"}` (n = 1, 2, ...); a missing field → 400
//!   `{"error": {"message": "<field> is required"}}`; with an `Idempotency-Key` already seen,
//!   201 with the first send's id, nothing recorded again (counted in `duplicates`);
//! * a missing or wrong token → 401
//!   `{"error": {"code": "invalid_token", "message": "invalid API token"}}`;
//! * another path → 404, another method → 405, both with `{"error": {"message": ...}}`;
//! * after [`Provider::set_failing`]`(status)`, every request → that status with
//!   `{"error": {"message": "provider is down"}}`.
//!
//! [`Provider`] is the behaviour and the record, [`Provider::serve`] serves it on a listener
//! until told to stop (the `fake-sms-provider` binary does that on its own runtime), and
//! [`FakeProvider`] runs one on a free loopback port from a background thread, for tests:
//!
//! ```no_run
//! use regional_sms::fake_provider::FakeProvider;
//!
//! let provider = FakeProvider::start("demo-token-123");
//! // create a regional-sms connection with base_url = provider.url(), send a message...
//! assert_eq!(provider.messages()[0]["to"], "+33612345678");
//! assert_eq!(provider.messages()[0]["authorization"], "Bearer demo-token-123");
//! ```

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use serde_json::{json, Map, Value};
use warp::http::{Method, StatusCode};
use warp::Filter;

/// What the provider has seen.
#[derive(Debug, Default)]
struct Recorded {
    /// Requests received, on any path.
    requests: usize,
    /// Accepted message bodies, each with an `"authorization"` field added.
    messages: Vec<Value>,
    /// The status every request gets while non-zero.
    failing: u16,
    /// The id given to each `Idempotency-Key` seen.
    keys: std::collections::HashMap<String, String>,
    /// Sends whose key was already seen (answered with the first id, not recorded again).
    duplicates: usize,
}

/// The provider's behaviour: the accepted tokens, whether it prints what it does, and what
/// it has recorded. Shared (in an [`Arc`]) between the server and whoever inspects it.
#[derive(Debug)]
pub struct Provider {
    tokens: Vec<String>,
    print: bool,
    recorded: Mutex<Recorded>,
}

impl Provider {
    /// A provider that accepts any of `tokens` as `Authorization: Bearer <token>`, quiet.
    pub fn new(tokens: Vec<String>) -> Provider {
        Provider {
            tokens,
            print: false,
            recorded: Mutex::new(Recorded::default()),
        }
    }

    /// Makes the provider print a line on stdout per request (`GET /v1/account -> 200`) and
    /// per accepted message (`msg_1: from ACME to +33612345678: hi`).
    pub fn printing(mut self) -> Provider {
        self.print = true;
        self
    }

    /// Every accepted `POST /v1/messages` body, in order, each with the request's
    /// `Authorization` header value added as `"authorization"`.
    pub fn messages(&self) -> Vec<Value> {
        self.lock().messages.clone()
    }

    /// How many requests arrived, on any path and whatever their answer.
    pub fn requests(&self) -> usize {
        self.lock().requests
    }

    /// Sends that repeated an `Idempotency-Key` already seen (answered, not recorded again).
    pub fn duplicates(&self) -> usize {
        self.lock().duplicates
    }

    /// Makes every following request answer `status` with
    /// `{"error": {"message": "provider is down"}}`; `0` restores normal answers.
    pub fn set_failing(&self, status: u16) {
        self.lock().failing = status;
    }

    /// Serves the provider's API on `listener` until `shutdown` completes. Connections still
    /// open then are dropped with the runtime that runs them.
    pub async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
    ) {
        let routes = warp::method()
            .and(warp::path::full())
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::header::optional::<String>("idempotency-key"))
            .and(warp::body::bytes())
            .map(
                move |method: Method,
                      path: warp::path::FullPath,
                      authorization: Option<String>,
                      key: Option<String>,
                      body: warp::hyper::body::Bytes| {
                    let (status, answer) = self.handle(
                        &method,
                        path.as_str(),
                        authorization.as_deref(),
                        key.as_deref(),
                        &body,
                    );
                    if self.print {
                        say(&format!(
                            "{method} {} -> {}",
                            path.as_str(),
                            status.as_u16()
                        ));
                    }
                    warp::reply::with_status(warp::reply::json(&answer), status)
                },
            );
        tokio::select! {
            () = warp::serve(routes).incoming(listener).run() => {}
            () = shutdown => {}
        }
    }

    /// The record; a panic elsewhere while holding the lock does not poison it.
    fn lock(&self) -> MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers one request: status and JSON body.
    fn handle(
        &self,
        method: &Method,
        path: &str,
        authorization: Option<&str>,
        key: Option<&str>,
        body: &[u8],
    ) -> (StatusCode, Value) {
        let mut recorded = self.lock();
        recorded.requests += 1;
        if recorded.failing != 0 {
            let status =
                StatusCode::from_u16(recorded.failing).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return error(status, "provider is down");
        }
        if !matches!(path, "/v1/account" | "/v1/messages") {
            return error(StatusCode::NOT_FOUND, "no such endpoint");
        }
        let token = authorization.and_then(|value| value.strip_prefix("Bearer "));
        if !token.is_some_and(|t| self.tokens.iter().any(|valid| valid == t)) {
            return (
                StatusCode::UNAUTHORIZED,
                json!({"error": {"code": "invalid_token", "message": "invalid API token"}}),
            );
        }
        match (method.as_str(), path) {
            ("GET", "/v1/account") => (
                StatusCode::OK,
                json!({"account": {"name": "Test Account", "phone": "+33100000000"}}),
            ),
            ("POST", "/v1/messages") => match message(body) {
                Ok(_) if key.is_some_and(|k| recorded.keys.contains_key(k)) => {
                    recorded.duplicates += 1;
                    let id = key
                        .and_then(|k| recorded.keys.get(k))
                        .cloned()
                        .unwrap_or_default();
                    (StatusCode::CREATED, json!({"id": id, "status": "queued"}))
                }
                Ok(mut message) => {
                    let id = format!("msg_{}", recorded.messages.len() + 1);
                    if let Some(key) = key {
                        recorded.keys.insert(key.to_string(), id.clone());
                    }
                    if self.print {
                        say(&format!(
                            "{id}: from {} to {}: {}",
                            message["from"].as_str().unwrap_or_default(),
                            message["to"].as_str().unwrap_or_default(),
                            message["text"].as_str().unwrap_or_default(),
                        ));
                    }
                    message.insert(
                        "authorization".into(),
                        Value::String(authorization.unwrap_or_default().to_string()),
                    );
                    recorded.messages.push(Value::Object(message));
                    (StatusCode::CREATED, json!({"id": id, "status": "queued"}))
                }
                Err(answer) => answer,
            },
            _ => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        }
    }
}

/// A `POST /v1/messages` body with non-empty `from`, `to` and `text`, or the 400 answer.
fn message(body: &[u8]) -> Result<Map<String, Value>, (StatusCode, Value)> {
    let Ok(Value::Object(message)) = serde_json::from_slice::<Value>(body) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object",
        ));
    };
    for field in ["from", "to", "text"] {
        let present = message
            .get(field)
            .and_then(Value::as_str)
            .is_some_and(|value| !value.is_empty());
        if !present {
            return Err(error(
                StatusCode::BAD_REQUEST,
                &format!("{field} is required"),
            ));
        }
    }
    Ok(message)
}

/// An error answer in the provider's format.
fn error(status: StatusCode, message: &str) -> (StatusCode, Value) {
    (status, json!({"error": {"message": message}}))
}

/// Prints a line on stdout; a closed stdout (the reader went away) does not stop the server.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// A quiet fake SMS provider serving on `127.0.0.1:<free port>` from a background thread with
/// its own tokio runtime (so it works from plain and async tests alike). Stopped on drop.
pub struct FakeProvider {
    addr: SocketAddr,
    provider: Arc<Provider>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeProvider {
    /// Starts a provider that accepts `valid_token` as `Authorization: Bearer <valid_token>`.
    /// It accepts connections as soon as this returns.
    pub fn start(valid_token: &str) -> FakeProvider {
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fake provider");
        let addr = std_listener.local_addr().expect("fake provider address");
        std_listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("fake provider runtime");
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener).expect("fake provider listener")
        };
        let provider = Arc::new(Provider::new(vec![valid_token.to_string()]));
        let served = Arc::clone(&provider);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("fake-sms-provider".into())
            .spawn(move || {
                runtime.block_on(served.serve(listener, async {
                    let _ = stopped.await;
                }));
                // Dropping the runtime here cancels the open connections' tasks.
            })
            .expect("spawn the fake provider thread");
        FakeProvider {
            addr,
            provider,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Base URL, `http://127.0.0.1:PORT` (the connection's `base_url`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every accepted `POST /v1/messages` body, in order, each with the request's
    /// `Authorization` header value added as `"authorization"`.
    pub fn messages(&self) -> Vec<Value> {
        self.provider.messages()
    }

    /// How many requests arrived, on any path and whatever their answer.
    pub fn requests(&self) -> usize {
        self.provider.requests()
    }

    /// Sends that repeated an `Idempotency-Key` already seen.
    pub fn duplicates(&self) -> usize {
        self.provider.duplicates()
    }

    /// Makes every following request answer `status` with
    /// `{"error": {"message": "provider is down"}}`; `0` restores normal answers.
    pub fn set_failing(&self, status: u16) {
        self.provider.set_failing(status);
    }
}

impl std::fmt::Debug for FakeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeProvider")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl Drop for FakeProvider {
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
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::*;

    /// A raw HTTP/1.1 request (no client library needed); answers status and JSON body.
    fn request(provider: &FakeProvider, head: &str, body: &str) -> (u16, Value) {
        let mut stream = TcpStream::connect(provider.addr).expect("connect");
        write!(
            stream,
            "{head}\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            provider.addr,
            body.len()
        )
        .expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        let status = answer[9..12].parse().expect("status");
        let (_, json) = answer.split_once("\r\n\r\n").expect("body");
        (status, serde_json::from_str(json).expect("JSON body"))
    }

    #[test]
    fn contract() {
        let provider = FakeProvider::start("tok-12345");
        let (status, body) = request(
            &provider,
            "GET /v1/account HTTP/1.1\r\nAuthorization: Bearer tok-12345",
            "",
        );
        assert_eq!(status, 200);
        assert_eq!(body["account"]["phone"], "+33100000000");
        let (status, body) = request(&provider, "GET /v1/account HTTP/1.1", "");
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (401, json!("invalid_token"))
        );

        let post = "POST /v1/messages HTTP/1.1\r\nAuthorization: Bearer tok-12345";
        let sms = r#"{"from":"ACME","to":"+33612345678","text":"hi"}"#;
        let (status, body) = request(&provider, post, sms);
        assert_eq!(
            (status, body),
            (201, json!({"id": "msg_1", "status": "queued"}))
        );
        let (status, body) = request(&provider, post, r#"{"from":"ACME","text":"hi"}"#);
        assert_eq!(
            (status, body),
            (400, json!({"error": {"message": "to is required"}}))
        );
        assert_eq!(
            provider.messages(),
            vec![
                json!({"from": "ACME", "to": "+33612345678", "text": "hi", "authorization": "Bearer tok-12345"})
            ]
        );

        provider.set_failing(503);
        let (status, body) = request(&provider, post, sms);
        assert_eq!(
            (status, body),
            (503, json!({"error": {"message": "provider is down"}}))
        );
        provider.set_failing(0);
        assert_eq!(provider.messages().len(), 1);
        assert_eq!(provider.requests(), 5);

        // An idle keep-alive connection does not hold the provider up when it is dropped.
        let idle = TcpStream::connect(provider.addr).expect("connect");
        drop(provider);
        drop(idle);
    }

    #[test]
    fn several_tokens_unknown_paths_and_methods() {
        let provider = Provider::new(vec!["tok-one".into(), "tok-two".into()]);
        let get = Method::GET;
        for token in ["tok-one", "tok-two"] {
            let bearer = format!("Bearer {token}");
            let (status, _) = provider.handle(&get, "/v1/account", Some(&bearer), None, b"");
            assert_eq!(status, StatusCode::OK);
        }
        let (status, _) = provider.handle(&get, "/v1/account", Some("Bearer tok-three"), None, b"");
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = provider.handle(&get, "/v2/other", Some("Bearer tok-one"), None, b"");
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = provider.handle(&get, "/v1/messages", Some("Bearer tok-one"), None, b"");
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(provider.requests(), 5);
    }
}
