//! What handlers receive and return: route requests and responses, worker messages, node
//! invocations and outputs, block connections, action calls, test results and cron ticks.

use std::collections::HashMap;

use convotic_proto::plugin::v1 as pb;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::HandlerError;

/// Parses `*_json` bytes: empty means JSON `null`.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    if bytes.is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_slice(bytes)
    }
}

/// Serializes a value into `*_json` bytes: `null` becomes empty.
pub(crate) fn json_bytes(value: &Value) -> Vec<u8> {
    if value.is_null() {
        Vec::new()
    } else {
        // Serializing a `serde_json::Value` cannot fail: its map keys are always strings.
        serde_json::to_vec(value).unwrap_or_default()
    }
}

/// Deserializes a JSON value into `T`, reporting a failure as bad input.
fn decode<T: DeserializeOwned>(value: &Value, what: &str) -> Result<T, HandlerError> {
    T::deserialize(value).map_err(|e| HandlerError::bad_input(format!("invalid {what}: {e}")))
}

/// An HTTP request to one of the module's routes.
#[derive(Debug, Clone, Default)]
pub struct RouteRequest {
    /// Upper-case HTTP method, e.g. `GET`.
    pub method: String,
    /// Path inside the module, percent-decoded, e.g. `/orders/42`.
    pub path: String,
    /// The registered pattern that matched, e.g. `/orders/:orderId`.
    pub route: String,
    /// Path parameters, e.g. `{"orderId": "42"}`.
    pub params: HashMap<String, String>,
    /// Query parameters (percent-decoded; the last value of a repeated name).
    pub query: HashMap<String, String>,
    /// The raw query string, without `?`.
    pub raw_query: String,
    /// Request headers, names lower-case; repeated headers joined with `, `.
    pub headers: HashMap<String, String>,
    /// The parsed JSON body; `Value::Null` when the body is empty or not JSON.
    pub body: Value,
    /// The body exactly as received (for JSON bodies too, e.g. to check a signature).
    pub raw_body: Vec<u8>,
    /// Whether the body was JSON (and so is available parsed in [`RouteRequest::body`]).
    pub body_is_json: bool,
    /// The workspace the request belongs to.
    pub workspace: String,
    /// Whether the caller authenticated with an API key.
    pub authenticated: bool,
    /// Peer address `ip:port`, may be empty.
    pub remote_addr: String,
    /// Request id of the call (`X-Request-Id`).
    pub request_id: String,
}

impl RouteRequest {
    /// Builds a request from its protocol form.
    pub(crate) fn from_proto(
        req: pb::RouteRequest,
        request_id: String,
    ) -> Result<Self, HandlerError> {
        let body_is_json = req.body_kind == pb::BodyKind::Json as i32;
        let body = if body_is_json {
            parse_json(&req.body)
                .map_err(|e| HandlerError::bad_input(format!("invalid JSON body: {e}")))?
        } else {
            Value::Null
        };
        Ok(RouteRequest {
            method: req.method,
            path: req.path,
            route: req.route,
            params: req.params,
            query: req.query,
            raw_query: req.raw_query,
            headers: req.headers,
            body,
            raw_body: req.body,
            body_is_json,
            workspace: req.workspace,
            authenticated: req.authenticated,
            remote_addr: req.remote_addr,
            request_id,
        })
    }

    /// A header by name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let lower = name.to_ascii_lowercase();
        self.headers.get(&lower).map(String::as_str)
    }

    /// A path parameter by name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The JSON body deserialized into `T`; a mismatch, or a body that is not JSON (another
    /// content type), is a bad-input error (HTTP 422 `rejected_input`) saying so.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HandlerError> {
        if !self.body_is_json && !self.raw_body.is_empty() {
            let content_type = self.header("content-type").unwrap_or("none");
            return Err(HandlerError::bad_input(format!(
                "this route expects a JSON body (content-type application/json), but got a {}-byte body of content-type {content_type} that is not JSON",
                self.raw_body.len()
            )));
        }
        decode(&self.body, "request body")
    }
}

/// The body of a [`RouteResponse`].
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseBody {
    /// No body.
    Empty,
    /// A JSON body; content-type defaults to `application/json`.
    Json(Value),
    /// Raw bytes; set the content-type header yourself.
    Bytes(Vec<u8>),
}

/// The answer to a route request.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteResponse {
    /// HTTP status, 100-599.
    pub status: u16,
    /// Response headers.
    pub headers: HashMap<String, String>,
    /// The body.
    pub body: ResponseBody,
}

impl RouteResponse {
    /// A JSON response.
    pub fn json(status: u16, body: Value) -> Self {
        RouteResponse {
            status,
            headers: HashMap::new(),
            body: ResponseBody::Json(body),
        }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        RouteResponse::bytes(
            status,
            "text/plain; charset=utf-8",
            body.into().into_bytes(),
        )
    }

    /// A response with raw bytes and the given content-type.
    pub fn bytes(status: u16, content_type: impl Into<String>, body: Vec<u8>) -> Self {
        RouteResponse {
            status,
            headers: HashMap::new(),
            body: ResponseBody::Bytes(body),
        }
        .header("content-type", content_type)
    }

    /// A response without a body.
    pub fn empty(status: u16) -> Self {
        RouteResponse {
            status,
            headers: HashMap::new(),
            body: ResponseBody::Empty,
        }
    }

    /// Adds (or replaces) a header. Names are stored lower-case.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .insert(name.into().to_ascii_lowercase(), value.into());
        self
    }

    /// Converts into the protocol form.
    pub(crate) fn into_proto(self) -> pb::RouteResponse {
        let (body_kind, body) = match self.body {
            ResponseBody::Empty => (pb::BodyKind::Empty, Vec::new()),
            ResponseBody::Json(value) => (
                pb::BodyKind::Json,
                // `null` is a valid JSON body: keep it as text rather than "no body".
                serde_json::to_vec(&value).unwrap_or_else(|_| b"null".to_vec()),
            ),
            ResponseBody::Bytes(bytes) => (pb::BodyKind::Bytes, bytes),
        };
        pb::RouteResponse {
            status: u32::from(self.status),
            headers: self.headers,
            body_kind: body_kind as i32,
            body,
        }
    }
}

/// A message delivered to a worker.
#[derive(Debug, Clone, Default)]
pub struct WorkerMessage {
    /// The handler name (the worker's name, by default its topic).
    pub handler: String,
    /// The topic the message was published on.
    pub topic: String,
    /// Stable id of the message, the same on every delivery.
    pub message_id: String,
    /// The JSON payload.
    pub payload: Value,
    /// Message headers.
    pub headers: HashMap<String, String>,
    /// Delivery attempt, 1 on the first delivery.
    pub attempt: u32,
    /// When the message was published, ms since the Unix epoch.
    pub published_at_ms: u64,
}

impl WorkerMessage {
    pub(crate) fn from_proto(msg: pb::WorkerMessage) -> Result<Self, HandlerError> {
        let payload = parse_json(&msg.payload_json)
            .map_err(|e| HandlerError::bad_input(format!("invalid JSON payload: {e}")))?;
        Ok(WorkerMessage {
            handler: msg.handler,
            topic: msg.topic,
            message_id: msg.message_id,
            payload,
            headers: msg.headers,
            attempt: msg.attempt,
            published_at_ms: msg.published_at_ms,
        })
    }

    /// The payload deserialized into `T`; a mismatch is a bad-input error (the message is
    /// discarded).
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, HandlerError> {
        decode(&self.payload, "message payload")
    }
}

/// A Block connection as a handler sees it: configuration with secrets decrypted.
///
/// Its `Debug` output shows the configuration's field names, never their values, so logging a
/// connection cannot leak a secret.
#[derive(Clone, Default)]
pub struct Connection {
    /// Connection id (empty for a connection under test that is not stored yet).
    pub id: String,
    /// The block the connection belongs to.
    pub block_id: String,
    /// The configuration (a JSON object), secrets included.
    pub config: Value,
}

impl Connection {
    pub(crate) fn from_proto(conn: Option<pb::Connection>) -> Result<Self, HandlerError> {
        let Some(conn) = conn else {
            return Ok(Connection::default());
        };
        let config = parse_json(&conn.config_json)
            .map_err(|e| HandlerError::bad_input(format!("invalid connection config: {e}")))?;
        Ok(Connection {
            id: conn.id,
            block_id: conn.block_id,
            config,
        })
    }

    /// A top-level string field of the configuration, e.g. `conn.get_str("api_key")`.
    pub fn get_str(&self, field: &str) -> Option<&str> {
        self.config.get(field).and_then(Value::as_str)
    }

    /// The configuration deserialized into `T`. The error names what did not fit but never
    /// quotes a value (the configuration holds secrets).
    pub fn config_as<T: DeserializeOwned>(&self) -> Result<T, HandlerError> {
        T::deserialize(&self.config).map_err(|e| {
            HandlerError::bad_input(format!(
                "the connection config does not have the expected shape ({})",
                redacted_reason(&e.to_string())
            ))
        })
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fields: Vec<&str> = self
            .config
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("block_id", &self.block_id)
            .field("config_fields", &fields)
            .finish_non_exhaustive()
    }
}

/// A serde error message without the offending value: serde quotes values as `string "..."`,
/// `integer `...``, so everything from the first quote or backtick up to `, expected` goes.
fn redacted_reason(message: &str) -> String {
    match (message.find(['"', '`']), message.find(", expected")) {
        (Some(start), Some(end)) if start < end => {
            format!("{}<redacted>{}", &message[..start], &message[end..])
        }
        (Some(start), _) => format!("{}<redacted>", &message[..start]),
        _ => message.to_string(),
    }
}

/// A call to a workflow node.
#[derive(Debug, Clone, Default)]
pub struct NodeInvocation {
    /// The node type.
    pub node_type: String,
    /// The node version.
    pub node_version: String,
    /// The JSON input, validated against the node's input schema.
    pub input: Value,
    /// The workflow being run.
    pub workflow_id: String,
    /// The run.
    pub run_id: String,
    /// The step within the run.
    pub step_id: String,
    /// The connection, when the node declares `connection_block`.
    pub connection: Option<Connection>,
}

impl NodeInvocation {
    pub(crate) fn from_proto(inv: pb::NodeInvocation) -> Result<Self, HandlerError> {
        let input = parse_json(&inv.input_json)
            .map_err(|e| HandlerError::bad_input(format!("invalid JSON input: {e}")))?;
        let connection = match inv.connection {
            Some(conn) => Some(Connection::from_proto(Some(conn))?),
            None => None,
        };
        Ok(NodeInvocation {
            node_type: inv.node_type,
            node_version: inv.node_version,
            input,
            workflow_id: inv.workflow_id,
            run_id: inv.run_id,
            step_id: inv.step_id,
            connection,
        })
    }

    /// The input deserialized into `T`; a mismatch is a bad-input error.
    pub fn input_as<T: DeserializeOwned>(&self) -> Result<T, HandlerError> {
        decode(&self.input, "node input")
    }

    /// The connection of a node that declares `connection_block` (the supervisor refuses an
    /// invocation of such a node without one, so this fails only for a node that declares
    /// none).
    pub fn connection(&self) -> Result<&Connection, HandlerError> {
        self.connection.as_ref().ok_or_else(|| {
            HandlerError::bad_input(format!(
                "node {} {} was invoked without a connection; declare connection_block",
                self.node_type, self.node_version
            ))
        })
    }
}

/// What a node returns: its output and the branch taken.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeOutput {
    /// The branch taken; one of the node's branches (`default` if it declares none).
    pub branch: String,
    /// The JSON output.
    pub output: Value,
}

impl NodeOutput {
    /// Output on the `default` branch.
    pub fn new(output: Value) -> Self {
        NodeOutput::branch("default", output)
    }

    /// Output on a named branch.
    pub fn branch(branch: impl Into<String>, output: Value) -> Self {
        NodeOutput {
            branch: branch.into(),
            output,
        }
    }
}

/// A call to one of a block's actions.
#[derive(Debug, Clone, Default)]
pub struct ActionCall {
    /// The block id.
    pub block_id: String,
    /// The action name.
    pub action: String,
    /// The connection the action runs with.
    pub connection: Connection,
    /// The JSON input, validated against the action's input schema.
    pub input: Value,
}

impl ActionCall {
    pub(crate) fn from_proto(call: pb::BlockActionCall) -> Result<Self, HandlerError> {
        let input = parse_json(&call.input_json)
            .map_err(|e| HandlerError::bad_input(format!("invalid JSON input: {e}")))?;
        Ok(ActionCall {
            block_id: call.block_id,
            action: call.action,
            connection: Connection::from_proto(call.connection)?,
            input,
        })
    }

    /// The input deserialized into `T`; a mismatch is a bad-input error.
    pub fn input_as<T: DeserializeOwned>(&self) -> Result<T, HandlerError> {
        decode(&self.input, "action input")
    }
}

/// The result of testing a block connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestResult {
    /// Whether the credentials work.
    pub ok: bool,
    /// Why not, or a note on success.
    pub message: String,
    /// A label for the account the credentials belong to, may be empty.
    pub account_label: String,
}

impl TestResult {
    /// The credentials work.
    pub fn ok() -> Self {
        TestResult {
            ok: true,
            ..TestResult::default()
        }
    }

    /// The credentials do not work, with the reason.
    pub fn failed(message: impl Into<String>) -> Self {
        TestResult {
            ok: false,
            message: message.into(),
            account_label: String::new(),
        }
    }

    /// Sets the message.
    #[must_use]
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Sets the account label.
    #[must_use]
    pub fn account_label(mut self, label: impl Into<String>) -> Self {
        self.account_label = label.into();
        self
    }
}

/// One run of a cron job.
#[derive(Debug, Clone, Default)]
pub struct CronTick {
    /// The cron name.
    pub cron: String,
    /// Unique id of this run.
    pub run_id: String,
    /// The tick's scheduled time, ms since the Unix epoch.
    pub scheduled_at_ms: u64,
    /// When it fired, ms since the Unix epoch.
    pub fired_at_ms: u64,
    /// True for a "run now" request.
    pub manual: bool,
}

impl From<pb::CronTick> for CronTick {
    fn from(tick: pb::CronTick) -> Self {
        CronTick {
            cron: tick.cron,
            run_id: tick.run_id,
            scheduled_at_ms: tick.scheduled_at_ms,
            fired_at_ms: tick.fired_at_ms,
            manual: tick.manual,
        }
    }
}

/// What a cron run reports: an optional note stored in the run history.
///
/// Cron handlers may return `()`, a `String` or a `&'static str`; each converts into this.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CronReport {
    /// The note, may be empty.
    pub message: String,
}

impl From<()> for CronReport {
    fn from(_: ()) -> Self {
        CronReport::default()
    }
}

impl From<String> for CronReport {
    fn from(message: String) -> Self {
        CronReport { message }
    }
}

impl From<&'static str> for CronReport {
    fn from(message: &'static str) -> Self {
        CronReport {
            message: message.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn connections_never_show_secret_values() {
        let conn = Connection {
            id: "conn_1".into(),
            block_id: "sms".into(),
            config: json!({"api_token": "sk_live_123456", "port": "not-a-number"}),
        };
        let debug = format!("{conn:?}");
        assert!(
            debug.contains("api_token") && !debug.contains("sk_live_123456"),
            "{debug}"
        );
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Config {
            api_token: u32,
        }
        let error = conn.config_as::<Config>().unwrap_err();
        assert!(
            !error.message().contains("sk_live_123456"),
            "{}",
            error.message()
        );
        assert!(
            error.message().contains("expected u32"),
            "{}",
            error.message()
        );
        let node = NodeInvocation::default();
        assert!(node.connection().is_err());
    }

    #[test]
    fn json_route_request() {
        let req = RouteRequest::from_proto(
            pb::RouteRequest {
                method: "POST".into(),
                body_kind: pb::BodyKind::Json as i32,
                body: br#"{"a":1}"#.to_vec(),
                headers: HashMap::from([("x-sig".to_string(), "abc".to_string())]),
                ..Default::default()
            },
            "req-1".into(),
        )
        .unwrap();
        assert_eq!(req.body, json!({"a": 1}));
        assert_eq!(req.raw_body, br#"{"a":1}"#.to_vec());
        assert_eq!(req.header("X-Sig"), Some("abc"));
        assert_eq!(req.request_id, "req-1");
    }

    #[test]
    fn bytes_route_request_has_null_body() {
        let req = RouteRequest::from_proto(
            pb::RouteRequest {
                body_kind: pb::BodyKind::Bytes as i32,
                body: b"raw".to_vec(),
                ..Default::default()
            },
            String::new(),
        )
        .unwrap();
        assert_eq!(req.body, Value::Null);
        assert_eq!(req.raw_body, b"raw".to_vec());
        assert!(!req.body_is_json);
    }

    #[test]
    fn responses_to_proto() {
        let r = RouteResponse::json(201, json!({"ok": true}))
            .header("X-Trace", "1")
            .into_proto();
        assert_eq!(r.status, 201);
        assert_eq!(r.body_kind, pb::BodyKind::Json as i32);
        assert_eq!(r.body, br#"{"ok":true}"#.to_vec());
        assert_eq!(r.headers.get("x-trace").map(String::as_str), Some("1"));

        let t = RouteResponse::text(200, "hi").into_proto();
        assert_eq!(t.body_kind, pb::BodyKind::Bytes as i32);
        assert_eq!(
            t.headers.get("content-type").map(String::as_str),
            Some("text/plain; charset=utf-8")
        );
        let e = RouteResponse::empty(204).into_proto();
        assert_eq!(e.body_kind, pb::BodyKind::Empty as i32);
        assert!(e.body.is_empty());
    }

    #[test]
    fn empty_json_is_null() {
        assert_eq!(parse_json(b"").unwrap(), Value::Null);
        assert!(json_bytes(&Value::Null).is_empty());
        assert_eq!(json_bytes(&json!([1])), b"[1]".to_vec());
    }
}
