//! Nodes and Blocks over HTTP, for the workspace of the caller's API key:
//!
//! * `GET /v1/nodes`, `GET /v1/nodes/{type}`, `POST /v1/nodes/{type}/invoke`
//! * `GET /v1/blocks`, `GET /v1/blocks/{id}`
//! * `GET|POST /v1/blocks/{id}/connections`, `GET|DELETE /v1/blocks/{id}/connections/{cid}`,
//!   `POST /v1/blocks/{id}/connections/{cid}/test`,
//!   `POST /v1/blocks/{id}/connections/{cid}/actions/{action}`
//!
//! The work is done by `crate::integrations`; this file reads requests and renders answers.

use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::auth::require_workspace;
use super::body::{read_request_body, BodyStream};
use super::{error_response, json, method_not_allowed, GatewayState, Incoming};
use crate::integrations::{Answer, ApiError, CallInfo};

/// Whether `path` belongs here.
pub fn is_integrations_path(path: &str) -> bool {
    ["/v1/nodes", "/v1/blocks"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// Handles the node and block endpoints.
pub async fn handle(state: &GatewayState, request: Incoming, mut body: BodyStream) -> Response {
    let workspace = match require_workspace(state, &request).await {
        Ok(workspace) => workspace,
        Err(response) => return response,
    };
    let path = request.path.trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    let call = CallInfo {
        request_id: request.request_id.clone(),
        traceparent: request
            .headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
    };
    let api = &state.integrations;
    let ws = workspace.as_str();
    let method = request.method.clone();
    let result: Result<Answer, ApiError> = match (segments.as_slice(), &method) {
        (["nodes"], &Method::GET) => Ok(Answer {
            status: StatusCode::OK,
            body: crate::integrations::catalog::list_nodes(&api.supervisor, ws),
        }),
        (["nodes"], _) => return method_not_allowed(&request, "GET"),
        (["nodes", node], &Method::GET) => {
            crate::integrations::catalog::get_node(&api.supervisor, ws, node).map(|body| Answer {
                status: StatusCode::OK,
                body,
            })
        }
        (["nodes", _], _) => return method_not_allowed(&request, "GET"),
        (["nodes", node, "invoke"], &Method::POST) => {
            match read_request_body(&request, &mut body, state.limits.max_body_bytes).await {
                Ok(bytes) => api.invoke_node(ws, node, &bytes, &call).await,
                Err(response) => return response,
            }
        }
        (["nodes", _, "invoke"], _) => return method_not_allowed(&request, "POST"),
        (["blocks"], &Method::GET) => Ok(api.list_blocks(ws)),
        (["blocks"], _) => return method_not_allowed(&request, "GET"),
        (["blocks", block], &Method::GET) => api.get_block(ws, block),
        (["blocks", _], _) => return method_not_allowed(&request, "GET"),
        (["blocks", block, "connections"], &Method::GET) => api.list_connections(ws, block).await,
        (["blocks", block, "connections"], &Method::POST) => {
            match read_request_body(&request, &mut body, state.limits.max_body_bytes).await {
                Ok(bytes) => api.create_connection(ws, block, &bytes, &call).await,
                Err(response) => return response,
            }
        }
        (["blocks", _, "connections"], _) => return method_not_allowed(&request, "GET, POST"),
        (["blocks", block, "connections", id], &Method::GET) => {
            api.get_connection(ws, block, id).await
        }
        (["blocks", block, "connections", id], &Method::DELETE) => {
            api.delete_connection(ws, block, id).await
        }
        (["blocks", _, "connections", _], _) => return method_not_allowed(&request, "GET, DELETE"),
        (["blocks", block, "connections", id, "test"], &Method::POST) => {
            api.test_connection(ws, block, id, &call).await
        }
        (["blocks", _, "connections", _, "test"], _) => {
            return method_not_allowed(&request, "POST")
        }
        (["blocks", block, "connections", id, "actions", action], &Method::POST) => {
            match read_request_body(&request, &mut body, state.limits.max_body_bytes).await {
                Ok(bytes) => api.call_action(ws, block, id, action, &bytes, &call).await,
                Err(response) => return response,
            }
        }
        (["blocks", _, "connections", _, "actions", _], _) => {
            return method_not_allowed(&request, "POST")
        }
        _ => {
            return error_response(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no such endpoint: {}", request.path),
                &request.request_id,
            )
        }
    };
    render(result, &request.request_id)
}

/// The HTTP response of an answer or error.
fn render(result: Result<Answer, ApiError>, request_id: &str) -> Response {
    match result {
        Ok(answer) if answer.status == StatusCode::NO_CONTENT => {
            let mut response = Response::new(Vec::new().into());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Ok(answer) => json(answer.status, &answer.body),
        Err(error) => super::error::api_error_response(&error, request_id),
    }
}
