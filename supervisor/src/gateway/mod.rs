//! The HTTP listener: `/healthz`, `/readyz`, `/metrics`, the admin API under `/admin/v1`,
//! the platform API under `/v1` and the operator console under `/console/`.
//!
//! Requests are dispatched by one function on (method, path) rather than a tree of warp
//! filters, so every unknown path is a JSON 404 and every known path with the wrong method a
//! JSON 405 with `Allow`. Every response carries `X-Request-Id` (the caller's, or a new one).

mod admin;
pub mod admin_token;
mod auth;
mod body;
mod client_errors;
pub mod console;
mod crons;
mod data;
mod deployments;
mod error;
mod forward;
mod integrations;
mod listener;
mod modules;
mod outbox;
mod request_target;
mod response_budget;
mod storage;
mod topics;
mod tracked_body;

use std::sync::Arc;

use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::Response;

pub use error::{error_response, new_request_id};
pub use listener::connections_that_fit;

use crate::store::Store;
use crate::supervision::Supervisor;
use body::BodyStream;

/// What the handlers need.
pub struct GatewayState {
    /// The modules.
    pub supervisor: Arc<Supervisor>,
    /// Bearer token of the admin API.
    pub admin_token: String,
    /// Workspaces, API keys and platform data.
    pub store: Store,
    /// Workers' message bus.
    pub bus: Arc<dyn crate::bus::Backend>,
    /// The cron scheduler (listing, history, run now).
    pub crons: Arc<crate::cron::Scheduler>,
    /// Nodes and blocks.
    pub integrations: Arc<crate::integrations::Integrations>,
    /// Sizes and timeouts.
    pub limits: Limits,
    /// Applies changes of the config file (`POST /admin/v1/reload`).
    pub reloader: Arc<crate::supervision::reload::Reloader>,
    /// Deploys, rolls back and removes deployed modules.
    pub deployer: Arc<crate::deploy::Deployer>,
    /// The operator console's settings and sessions.
    pub console: console::Console,
    /// Whether webhook targets may point at this machine or a private network.
    pub allow_private_targets: bool,
}

/// The gateway's limits (`[server]` in the config).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body.
    pub max_body_bytes: u64,
    /// Largest total header size.
    pub max_header_bytes: usize,
    /// Default route deadline.
    pub route_timeout: std::time::Duration,
    /// Most time for a request head, from its first byte.
    pub header_read_timeout: std::time::Duration,
    /// Most time a connection stays open without a request (or without the client reading).
    pub idle_timeout: std::time::Duration,
    /// Most time for a request body.
    pub body_read_timeout: std::time::Duration,
    /// Most open connections.
    pub max_connections: usize,
    /// Most concurrent streams per HTTP/2 connection.
    pub http2_max_concurrent_streams: u32,
    /// Largest module response body.
    pub max_response_bytes: u64,
    /// Module response bytes held in memory across all requests.
    pub response_budget: response_budget::ResponseBudget,
    /// Whether `/metrics` and `/readyz` details are open without the admin token.
    pub public_metrics: bool,
}

impl From<&crate::config::ServerConfig> for Limits {
    fn from(server: &crate::config::ServerConfig) -> Self {
        Self {
            max_body_bytes: server.max_body_bytes,
            max_header_bytes: server.max_header_bytes,
            route_timeout: server.route_timeout,
            header_read_timeout: server.header_read_timeout,
            idle_timeout: server.idle_timeout,
            body_read_timeout: server.body_read_timeout,
            max_connections: server.max_connections,
            http2_max_concurrent_streams: server.http2_max_concurrent_streams,
            max_response_bytes: server.max_response_bytes,
            response_budget: response_budget::ResponseBudget::new(server.response_buffer_bytes),
            public_metrics: server.public_metrics,
        }
    }
}

/// A parsed request.
pub struct Incoming {
    /// Method.
    pub method: Method,
    /// Path, still percent-encoded.
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Request id.
    pub request_id: String,
    /// The peer's address.
    pub remote: Option<std::net::SocketAddr>,
}

/// Serves the gateway on `listener` until `shutdown` resolves (see [`listener`] for the
/// connection limits and timeouts).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<GatewayState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    listener::serve(listener, state, shutdown).await;
}

/// Answers one HTTP request: targets without a path are refused before anything else, then
/// the request is dispatched on (method, path). Every answer carries `X-Request-Id`.
async fn respond(
    state: &GatewayState,
    request: warp::http::Request<hyper::body::Incoming>,
    remote: Option<std::net::SocketAddr>,
) -> Response {
    let (parts, body) = request.into_parts();
    let request_id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(new_request_id);
    let mut response = match request_target::check(&parts.method, &parts.uri, &request_id) {
        Some(answer) => {
            client_errors::record(remote, &format!("request target {}", parts.uri));
            answer
        }
        None => {
            let incoming = Incoming {
                method: parts.method,
                path: parts.uri.path().to_string(),
                query: parts.uri.query().unwrap_or_default().to_string(),
                headers: parts.headers,
                request_id: request_id.clone(),
                remote,
            };
            let body = body::from_incoming(body, state.limits.body_read_timeout);
            dispatch(state, incoming, body).await
        }
    };
    if let Ok(value) = request_id.parse() {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

async fn dispatch(state: &GatewayState, request: Incoming, body: BodyStream) -> Response {
    let header_bytes: usize = request
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > state.limits.max_header_bytes {
        return error_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            &format!(
                "request headers total {header_bytes} bytes, over the limit of {}",
                state.limits.max_header_bytes
            ),
            &request.request_id,
        );
    }
    if console::is_console_path(&request.path) {
        return console::handle(state, request, body).await;
    }
    if let Some(target) = modules::parse_target(&request.path) {
        return modules::handle(state, request, target, body).await;
    }
    if outbox::is_outbox_path(&request.path) {
        return outbox::handle(state, request, body).await;
    }
    if data::is_data_path(&request.path) {
        return data::handle(state, request, body).await;
    }
    if crons::is_crons_path(&request.path) {
        return crons::handle(state, request).await;
    }
    if integrations::is_integrations_path(&request.path) {
        return integrations::handle(state, request, body).await;
    }
    if topics::is_topics_path(&request.path) {
        return topics::handle(state, request, body).await;
    }
    let path = request.path.clone();
    match path.as_str() {
        "/healthz" => only_get(&request, || {
            json(StatusCode::OK, &serde_json::json!({"status": "ok"}))
        }),
        "/readyz" => only_get(&request, || readyz(state, &request)),
        "/metrics" => only_get(&request, || {
            if state.limits.public_metrics || admin::authorized(state, &request) {
                metrics(state)
            } else {
                admin::unauthorized(&request)
            }
        }),
        p if deployments::is_deployments_path(p) => deployments::handle(state, request, body).await,
        p if p == "/admin/v1" || p.starts_with("/admin/v1/") => admin::handle(state, request).await,
        _ => error_response(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no such endpoint: {}", request.path),
            &request.request_id,
        ),
    }
}

fn only_get(request: &Incoming, handler: impl FnOnce() -> Response) -> Response {
    if request.method == Method::GET || request.method == Method::HEAD {
        handler()
    } else {
        method_not_allowed(request, "GET, HEAD")
    }
}

/// 405 with `Allow`.
pub(crate) fn method_not_allowed(request: &Incoming, allow: &str) -> Response {
    let mut response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!(
            "{} is not allowed on {}; allowed: {allow}",
            request.method, request.path
        ),
        &request.request_id,
    );
    if let Ok(value) = allow.parse() {
        response.headers_mut().insert("allow", value);
    }
    response
}

/// 200 when every enabled module is ready, else 503. Which modules are not ready is shown
/// only with the admin token (or `[server] public_metrics = true`).
fn readyz(state: &GatewayState, request: &Incoming) -> Response {
    let not_ready: Vec<serde_json::Value> = state
        .supervisor
        .modules()
        .iter()
        .filter(|m| m.spec().enabled)
        .map(|m| m.status())
        .filter(|s| s.state != crate::supervision::State::Ready)
        .map(|s| serde_json::json!({"workspace": s.workspace, "module": s.name, "state": s.state}))
        .collect();
    let storage = storage::readiness(&state.store);
    let ready = not_ready.is_empty() && storage.is_none();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = serde_json::json!({"ready": ready});
    if let Some(storage) = storage {
        body["storage"] = storage;
    }
    if state.limits.public_metrics || admin::authorized(state, request) {
        body["not_ready"] = serde_json::Value::Array(not_ready);
    }
    json(status, &body)
}

/// The Prometheus exposition.
fn metrics(state: &GatewayState) -> Response {
    let modules: Vec<crate::metrics::ModuleGauges> = state
        .supervisor
        .modules()
        .iter()
        .map(|module| {
            let status = module.status();
            crate::metrics::ModuleGauges {
                workspace: module.workspace.clone(),
                module: module.name.clone(),
                state: status.state.as_str(),
                in_flight: status.in_flight,
                replicas: status.replicas.len(),
            }
        })
        .collect();
    let out = crate::metrics::global().render(&modules, state.store.storage_status().as_str());
    let mut response = Response::new(out.into());
    response.headers_mut().insert(
        "content-type",
        warp::http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = Response::new(body.to_string().into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        warp::http::HeaderValue::from_static("application/json"),
    );
    response
}
