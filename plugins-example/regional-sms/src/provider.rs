//! The regional SMS provider's HTTP API, as the block uses it: the connection settings, the
//! account check behind the connection test, and sending a message. Every provider answer is
//! turned into what the supervisor understands: a [`TestResult`], an output, or a
//! [`HandlerError`] marked retryable when trying again later may help.
//!
//! The API token is sent as `Authorization: Bearer <token>` and never appears in an error
//! message, a log line or a `Debug` output.

use std::time::Duration;

use convotic_plugin_sdk::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Deadline of one request to the provider, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection's settings: where the provider is, the token and the sender id.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    /// The provider's API base URL, without a trailing `/`.
    pub(crate) base_url: String,
    /// The API token (secret).
    api_token: String,
    /// The sender id messages are sent from.
    pub(crate) sender_id: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("base_url", &self.base_url)
            .field("api_token", &"<redacted>")
            .field("sender_id", &self.sender_id)
            .finish()
    }
}

impl Settings {
    /// Reads the settings from a connection's configuration.
    ///
    /// Fields are read one by one rather than deserialized, so that an error never quotes a
    /// value (a token of the wrong type would otherwise end up in the message).
    pub(crate) fn from_connection(conn: &Connection) -> Result<Self, HandlerError> {
        let field = |name: &str| {
            conn.get_str(name)
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(str::to_string)
                .ok_or_else(|| {
                    HandlerError::bad_input(format!(
                        "the connection's {name} is missing or not a string"
                    ))
                })
        };
        Ok(Settings {
            base_url: field("base_url")?.trim_end_matches('/').to_string(),
            api_token: field("api_token")?,
            sender_id: field("sender_id")?,
        })
    }

    /// Settings built directly (tests).
    #[cfg(test)]
    pub(crate) fn new(base_url: &str, api_token: &str, sender_id: &str) -> Self {
        Settings {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_token: api_token.to_string(),
            sender_id: sender_id.to_string(),
        }
    }

    /// The URL of an API path, e.g. `/v1/account`; the error says why the base URL is not
    /// usable. This example talks plain HTTP only (the workspace's HTTP client is built
    /// without TLS), which is what the fake provider serves.
    fn endpoint(&self, path: &str) -> Result<String, String> {
        if self.base_url.starts_with("http://") {
            Ok(format!("{}{path}", self.base_url))
        } else if self.base_url.starts_with("https://") {
            Err(format!(
                "base_url {} uses https, but this build of regional-sms speaks plain http only",
                self.base_url
            ))
        } else {
            Err(format!(
                "base_url {:?} is not an http:// URL",
                self.base_url
            ))
        }
    }
}

/// A message to send.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct Sms {
    /// Recipient, E.164 (`+33612345678`).
    pub(crate) to: String,
    /// The text.
    pub(crate) text: String,
    /// Sent as `Idempotency-Key`: the provider takes a repeated send with the same key once
    /// (what the supervisor's delivery passes, so a retry after a crash is not sent twice).
    #[serde(default)]
    pub(crate) idempotency_key: Option<String>,
}

/// What the provider answered, parsed as far as possible.
struct Answer {
    /// The HTTP status.
    status: StatusCode,
    /// The body as JSON, or `Null` when it was empty or not JSON.
    body: Value,
}

/// Client of the provider's API (cheap to clone: clones share the connection pool).
#[derive(Debug, Clone)]
pub(crate) struct Provider {
    http: reqwest::Client,
}

impl Provider {
    /// A client with a 10 s deadline per request that does not follow redirects.
    pub(crate) fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("convotic-regional-sms/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Provider { http })
    }

    /// Sends a request and reads the answer; the error is a transport failure (cannot
    /// connect, timeout, connection reset while reading).
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Answer, reqwest::Error> {
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    /// The connection test: `GET {base_url}/v1/account` with the token.
    ///
    /// 200 with an account succeeds, labelled with the account's phone (or name); 401/403 and
    /// an unreachable provider fail with the reason; a failing provider (5xx, 429) is a
    /// retryable error, since the credentials may well be right.
    pub(crate) async fn test(&self, settings: &Settings) -> Result<TestResult, HandlerError> {
        let url = match settings.endpoint("/v1/account") {
            Ok(url) => url,
            Err(reason) => return Ok(TestResult::failed(reason)),
        };
        let request = self.http.get(url).bearer_auth(&settings.api_token);
        let answer = match self.call(request).await {
            Ok(answer) => answer,
            Err(err) => {
                return Ok(TestResult::failed(format!(
                    "cannot reach the provider at {}: {}",
                    settings.base_url,
                    transport_error(&err)
                )))
            }
        };
        let status = answer.status;
        if status == StatusCode::OK {
            let Some(account) = answer.body.get("account").filter(|a| a.is_object()) else {
                return Ok(TestResult::failed(format!(
                    "the provider at {} answered 200 without an account: is base_url its API?",
                    settings.base_url
                )));
            };
            let label = ["phone", "name"]
                .iter()
                .filter_map(|field| account.get(*field).and_then(Value::as_str))
                .find(|value| !value.is_empty())
                .unwrap_or_default();
            return Ok(TestResult::ok().account_label(label));
        }
        let reason = reason(&answer);
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Ok(TestResult::failed(reason));
        }
        if is_transient(status) {
            return Err(HandlerError::new(format!(
                "the provider could not check the account: {reason}"
            ))
            .retryable()
            .with_details(json!({ "provider_status": status.as_u16() })));
        }
        Ok(TestResult::failed(format!(
            "the provider at {} answered {reason}: is base_url right?",
            settings.base_url
        )))
    }

    /// Sends `sms` from the connection's sender id: `POST {base_url}/v1/messages`.
    ///
    /// Answers `{"message_id", "status"}`. A rejection (4xx) is final; a failing or
    /// unreachable provider (5xx, 429, transport error) is retryable. A request that timed
    /// out may still have been accepted: a retry then sends the message twice unless the
    /// input carried an `idempotency_key` (passed as `Idempotency-Key`).
    pub(crate) async fn send(&self, settings: &Settings, sms: &Sms) -> Result<Value, HandlerError> {
        let url = settings
            .endpoint("/v1/messages")
            .map_err(HandlerError::new)?;
        let mut request = self
            .http
            .post(url)
            .bearer_auth(&settings.api_token)
            .json(&json!({ "from": settings.sender_id, "to": sms.to, "text": sms.text }));
        if let Some(key) = sms.idempotency_key.as_deref().filter(|k| !k.is_empty()) {
            request = request.header("idempotency-key", key);
        }
        let answer = self.call(request).await.map_err(|err| {
            HandlerError::new(format!(
                "cannot reach the provider at {}: {}",
                settings.base_url,
                transport_error(&err)
            ))
            .retryable()
        })?;
        let status = answer.status;
        let details = json!({ "provider_status": status.as_u16() });
        if status == StatusCode::OK || status == StatusCode::CREATED {
            let Some(id) = answer.body.get("id").and_then(Value::as_str) else {
                // Not retryable: the provider may have queued the message anyway.
                return Err(HandlerError::new(format!(
                    "the provider answered {} without a message id",
                    status_line(status)
                ))
                .with_details(details));
            };
            let state = answer
                .body
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("accepted");
            return Ok(json!({ "message_id": id, "status": state }));
        }
        let reason = reason(&answer);
        if is_transient(status) {
            return Err(HandlerError::new(format!(
                "the provider failed to take the message: {reason}"
            ))
            .retryable()
            .with_details(details));
        }
        if status.is_client_error() {
            return Err(
                HandlerError::new(format!("the provider rejected the message: {reason}"))
                    .with_details(details),
            );
        }
        Err(
            HandlerError::new(format!("unexpected answer from the provider: {reason}"))
                .with_details(details),
        )
    }
}

/// Whether trying again later may succeed: a server error or rate limiting.
fn is_transient(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

/// `HTTP 401 Unauthorized`.
fn status_line(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(text) => format!("HTTP {} {text}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// The provider's reason for an error answer: `error.message`, or `error` when it is a
/// string, or the status line.
fn reason(answer: &Answer) -> String {
    let error = answer.body.get("error");
    error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .or_else(|| error.and_then(Value::as_str))
        .filter(|text| !text.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| status_line(answer.status))
}

/// Why a request got no answer, e.g. `tcp connect error: Connection refused (os error 111)`.
///
/// reqwest's own message ("error sending request for url (...)") hides the cause, so this
/// lists the causes instead, leaving out the generic wrapper layers.
fn transport_error(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return format!("no answer within {} s", REQUEST_TIMEOUT.as_secs());
    }
    let mut causes: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        let wrapper = text.starts_with("client error (");
        if !wrapper && !causes.iter().any(|seen| seen.contains(&text)) {
            causes.push(text);
        }
        source = cause.source();
    }
    if causes.is_empty() {
        err.to_string()
    } else {
        causes.join(": ")
    }
}

#[cfg(test)]
mod tests {
    //! The client against a stub provider on loopback that answers a canned status and body
    //! and records what it received.

    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use warp::Filter;

    use super::*;

    /// What the stub received: method, path, authorization header, JSON body.
    type Seen = Arc<Mutex<Vec<(String, String, Option<String>, Value)>>>;

    /// Starts a stub answering `status` and `body` to every request.
    async fn stub(status: u16, body: Value) -> (String, Seen) {
        let seen: Seen = Arc::default();
        let record = Arc::clone(&seen);
        let routes = warp::method()
            .and(warp::path::full())
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::body::bytes())
            .map(
                move |method: warp::http::Method,
                      path: warp::path::FullPath,
                      auth: Option<String>,
                      bytes: warp::hyper::body::Bytes| {
                    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    record.lock().unwrap().push((
                        method.to_string(),
                        path.as_str().to_string(),
                        auth,
                        json,
                    ));
                    warp::reply::with_status(
                        warp::reply::json(&body),
                        warp::http::StatusCode::from_u16(status).unwrap(),
                    )
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(routes).incoming(listener).run());
        (format!("http://{addr}/"), seen)
    }

    fn settings(base_url: &str) -> Settings {
        Settings::new(base_url, "secret-token-1", "ACME")
    }

    fn sms() -> Sms {
        Sms {
            idempotency_key: None,
            to: "+33612345678".into(),
            text: "hi".into(),
        }
    }

    #[tokio::test]
    async fn test_ok_is_labelled_with_the_phone_or_the_name() {
        let provider = Provider::new().unwrap();
        let (url, seen) = stub(
            200,
            json!({"account": {"name": "Acme", "phone": "+33100000000"}}),
        )
        .await;
        let result = provider.test(&settings(&url)).await.unwrap();
        assert_eq!(result, TestResult::ok().account_label("+33100000000"));
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen[0].0, "GET");
        assert_eq!(seen[0].1, "/v1/account");
        assert_eq!(seen[0].2.as_deref(), Some("Bearer secret-token-1"));

        let (url, _) = stub(200, json!({"account": {"name": "Acme"}})).await;
        let result = provider.test(&settings(&url)).await.unwrap();
        assert_eq!(result.account_label, "Acme");

        let (url, _) = stub(200, json!({"hello": true})).await;
        assert!(!provider.test(&settings(&url)).await.unwrap().ok);
    }

    #[tokio::test]
    async fn test_rejected_credentials_fail_with_the_providers_reason() {
        let provider = Provider::new().unwrap();
        let (url, _) = stub(
            401,
            json!({"error": {"code": "invalid_token", "message": "invalid API token"}}),
        )
        .await;
        assert_eq!(
            provider.test(&settings(&url)).await.unwrap(),
            TestResult::failed("invalid API token")
        );
        let (url, _) = stub(403, json!({"error": "account suspended"})).await;
        assert_eq!(
            provider.test(&settings(&url)).await.unwrap(),
            TestResult::failed("account suspended")
        );
        let (url, _) = stub(403, Value::Null).await;
        assert_eq!(
            provider.test(&settings(&url)).await.unwrap(),
            TestResult::failed("HTTP 403 Forbidden")
        );
    }

    #[tokio::test]
    async fn test_failing_provider_is_retryable_and_unreachable_one_fails() {
        let provider = Provider::new().unwrap();
        let (url, _) = stub(503, json!({"error": {"message": "provider is down"}})).await;
        let err = provider.test(&settings(&url)).await.unwrap_err();
        assert!(err.is_retryable());
        assert!(
            err.message().contains("provider is down"),
            "{}",
            err.message()
        );

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let result = provider.test(&settings(&base)).await.unwrap();
        assert!(!result.ok);
        assert!(
            result
                .message
                .starts_with(&format!("cannot reach the provider at {base}: ")),
            "{}",
            result.message
        );
        assert!(!result.message.contains("secret-token-1"));

        let result = provider
            .test(&settings("https://api.regional-sms.example"))
            .await
            .unwrap();
        assert!(!result.ok);
        assert!(result.message.contains("plain http"), "{}", result.message);
    }

    #[tokio::test]
    async fn send_posts_the_message_and_maps_the_answer() {
        let provider = Provider::new().unwrap();
        let (url, seen) = stub(201, json!({"id": "msg_1", "status": "queued"})).await;
        let out = provider.send(&settings(&url), &sms()).await.unwrap();
        assert_eq!(out, json!({"message_id": "msg_1", "status": "queued"}));
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen[0].0, "POST");
        assert_eq!(seen[0].1, "/v1/messages");
        assert_eq!(seen[0].2.as_deref(), Some("Bearer secret-token-1"));
        assert_eq!(
            seen[0].3,
            json!({"from": "ACME", "to": "+33612345678", "text": "hi"})
        );
    }

    #[tokio::test]
    async fn send_errors_are_retryable_only_when_it_may_help() {
        let provider = Provider::new().unwrap();
        let (url, _) = stub(400, json!({"error": {"message": "to is required"}})).await;
        let err = provider.send(&settings(&url), &sms()).await.unwrap_err();
        assert!(!err.is_retryable());
        assert!(
            err.message().contains("to is required"),
            "{}",
            err.message()
        );

        for status in [500, 502, 503, 429] {
            let (url, _) = stub(status, json!({"error": {"message": "provider is down"}})).await;
            let err = provider.send(&settings(&url), &sms()).await.unwrap_err();
            assert!(err.is_retryable(), "{status}");
            assert_eq!(err.details(), Some(&json!({"provider_status": status})));
        }

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = provider
            .send(&settings(&format!("http://127.0.0.1:{port}")), &sms())
            .await
            .unwrap_err();
        assert!(err.is_retryable());
        assert!(!err.message().contains("secret-token-1"));
    }

    #[test]
    fn settings_come_from_the_connection_and_never_show_the_token() {
        let conn = Connection {
            config: json!({
                "base_url": "http://127.0.0.1:8089/",
                "api_token": "demo-token-123",
                "sender_id": "ACME"
            }),
            ..Connection::default()
        };
        let settings = Settings::from_connection(&conn).unwrap();
        assert_eq!(settings.base_url, "http://127.0.0.1:8089");
        assert!(!format!("{settings:?}").contains("demo-token-123"));

        let bad = Connection {
            config: json!({"base_url": "http://x", "api_token": 12345678, "sender_id": "A"}),
            ..Connection::default()
        };
        let err = Settings::from_connection(&bad).unwrap_err();
        assert!(err.message().contains("api_token"));
        assert!(!err.message().contains("12345678"));
    }
}
