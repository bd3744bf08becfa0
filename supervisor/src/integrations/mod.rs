//! Workflow nodes and Blocks: the catalog a visual builder renders (every node and block of
//! the workspace's Ready modules, with their JSON Schemas), node invocation (input validated
//! before the module is called), and the Block connection flow (configuration validated, tested
//! by the module, stored with its secrets sealed, used by actions and nodes).
//!
//! The logic here does not know about HTTP or NATS: calls return an [`Answer`] or an
//! [`ApiError`] (status, code, message, retryable flag, field errors) that the gateway
//! (`gateway::nodes`, `gateway::blocks`) and the NATS responder ([`responder`]) render.

pub mod catalog;
pub mod connections;
pub mod failure;
pub mod nodes;
pub mod responder;
pub mod schema;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use warp::http::StatusCode;

pub use schema::FieldError;

use crate::secrets::Keyring;
use crate::store::Store;
use crate::supervision::Supervisor;

/// Default deadline of a node invocation, a connection test and an action call.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The deadline of an entry whose `timeout_ms` is `ms` (0 = [`DEFAULT_CALL_TIMEOUT`]).
pub fn call_timeout(ms: u32) -> Duration {
    if ms == 0 {
        DEFAULT_CALL_TIMEOUT
    } else {
        Duration::from_millis(u64::from(ms))
    }
}

/// What node and block calls need.
pub struct Integrations {
    /// The modules.
    pub supervisor: Arc<Supervisor>,
    /// Connections.
    pub store: Store,
    /// Keys sealing connection secrets.
    pub keyring: Arc<Keyring>,
}

/// Where a call comes from, for the module's logs.
#[derive(Debug, Clone, Default)]
pub struct CallInfo {
    /// Request id (HTTP `X-Request-Id`, or the NATS request's).
    pub request_id: String,
    /// W3C traceparent, may be empty.
    pub traceparent: String,
}

impl CallInfo {
    /// Options of a module call with the entry's `timeout_ms` (0 = [`DEFAULT_CALL_TIMEOUT`]),
    /// waiting for a free slot until that deadline.
    pub fn options(&self, timeout_ms: u32, payload_bytes: usize) -> crate::protocol::InvokeOptions {
        crate::protocol::InvokeOptions {
            timeout: Some(call_timeout(timeout_ms)),
            request_id: self.request_id.clone(),
            traceparent: self.traceparent.clone(),
            payload_bytes,
            wait_for_credit: true,
            idempotent: false,
        }
    }
}

/// A successful answer: status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// 200, 201 or 204.
    pub status: StatusCode,
    /// The body (`Value::Null` for 204).
    pub body: Value,
}

impl Answer {
    fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body,
        }
    }
}

/// A failed call, rendered as `{"error": {"code", "message", "request_id", ...}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status (also sent as the `Convotic-Status` header of NATS replies).
    pub status: StatusCode,
    /// Machine-readable code, e.g. `invalid_input`.
    pub code: &'static str,
    /// What went wrong and how to fix it.
    pub message: String,
    /// For failures of the module or its provider: whether trying again may succeed.
    pub retryable: Option<bool>,
    /// For validation failures: each invalid field.
    pub fields: Vec<FieldError>,
    /// Structured details the module attached to its error.
    pub details: Option<Value>,
}

impl ApiError {
    /// An error without fields or retry information.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retryable: None,
            fields: Vec::new(),
            details: None,
        }
    }

    /// Marks it retryable or not.
    #[must_use]
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = Some(retryable);
        self
    }

    /// 400 `invalid_argument`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_argument", message)
    }

    /// 422 with the invalid fields; the message lists them too.
    pub fn invalid(code: &'static str, what: &str, fields: Vec<FieldError>) -> Self {
        let list: Vec<String> = fields
            .iter()
            .map(|f| {
                let path = if f.path.is_empty() { "(root)" } else { &f.path };
                format!("{path}: {}", f.message)
            })
            .collect();
        Self {
            fields,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                format!("{what} does not match its schema: {}", list.join("; ")),
            )
        }
    }

    /// Whether the caller should be told to retry after a moment (`Retry-After: 1`).
    pub fn wants_retry_after(&self) -> bool {
        self.status == StatusCode::SERVICE_UNAVAILABLE
    }

    /// The JSON body.
    pub fn body(&self, request_id: &str) -> Value {
        let mut error = json!({
            "code": self.code,
            "message": self.message,
            "request_id": request_id,
        });
        if let Some(retryable) = self.retryable {
            error["retryable"] = json!(retryable);
        }
        if !self.fields.is_empty() {
            error["fields"] = json!(self.fields);
        }
        if let Some(details) = &self.details {
            error["details"] = details.clone();
        }
        json!({ "error": error })
    }
}

/// A JSON body of a request (node invocation, connection, action), parsed into `T`; the
/// message names what is wrong and shows the expected shape.
pub fn parse_body<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    shape: &str,
) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("the body is empty; expected {shape}"),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("expected {shape}: {e}"),
        )
    })
}

/// The metric outcome of a call to a module: `ok`, `error` (the module answered with an
/// error), `timeout`, or `failed` (not delivered, or the instance died before answering).
pub(crate) fn outcome_label(
    result: &Result<convotic_proto::plugin::v1::outcome::Result, crate::protocol::WorkError>,
) -> &'static str {
    use convotic_proto::plugin::v1::outcome::Result as Answer;
    match result {
        Ok(Answer::Error(_)) => "error",
        Ok(_) => "ok",
        Err(crate::protocol::WorkError::DeadlineExceeded(_)) => "timeout",
        Err(_) => "failed",
    }
}
