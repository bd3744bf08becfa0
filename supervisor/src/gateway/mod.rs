//! The HTTP listener: `/healthz`, `/readyz` and the admin API under `/admin/v1`.
//!
//! Requests are dispatched by one function on (method, path) rather than a tree of warp
//! filters, so every unknown path is a JSON 404 and every known path with the wrong method a
//! JSON 405 with `Allow`. Every response carries `X-Request-Id` (the caller's, or a new one).

mod admin;
pub mod admin_token;
mod error;

use std::sync::Arc;

use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::Response;
use warp::Filter;

pub use error::{error_response, new_request_id};

use crate::supervision::Supervisor;

/// What the handlers need.
pub struct GatewayState {
    /// The modules.
    pub supervisor: Arc<Supervisor>,
    /// Bearer token of the admin API.
    pub admin_token: String,
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
}

/// Serves the gateway on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<GatewayState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let routes = warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .then(
            move |method: Method, path: warp::path::FullPath, query: String, headers: HeaderMap| {
                let state = Arc::clone(&state);
                async move {
                    let request_id = headers
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .filter(|v| !v.is_empty() && v.len() <= 128)
                        .map(str::to_string)
                        .unwrap_or_else(new_request_id);
                    let incoming = Incoming {
                        method,
                        path: path.as_str().to_string(),
                        query,
                        headers,
                        request_id: request_id.clone(),
                    };
                    let mut response = dispatch(&state, incoming).await;
                    if let Ok(value) = request_id.parse() {
                        response.headers_mut().insert("x-request-id", value);
                    }
                    response
                }
            },
        );
    warp::serve(routes)
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
}

async fn dispatch(state: &GatewayState, request: Incoming) -> Response {
    let path = request.path.clone();
    match path.as_str() {
        "/healthz" => only_get(&request, || {
            json(StatusCode::OK, &serde_json::json!({"status": "ok"}))
        }),
        "/readyz" => only_get(&request, || readyz(state)),
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

fn readyz(state: &GatewayState) -> Response {
    let not_ready: Vec<serde_json::Value> = state
        .supervisor
        .modules()
        .iter()
        .filter(|m| m.spec.enabled)
        .map(|m| m.status())
        .filter(|s| s.state != crate::supervision::State::Ready)
        .map(|s| serde_json::json!({"workspace": s.workspace, "module": s.name, "state": s.state}))
        .collect();
    let status = if not_ready.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(
        status,
        &serde_json::json!({"ready": not_ready.is_empty(), "not_ready": not_ready}),
    )
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
