//! Workers over HTTP: `POST /v1/topics/{topic}/messages` publishes to the workspace's topic
//! (the workspace comes from the API key); `GET /v1/dead-letters` lists the messages handlers
//! gave up on; `POST /v1/dead-letters/{id}/retry` re-drives one to its handler.

use std::collections::BTreeMap;

use bytes::Bytes;
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::auth::require_workspace;
use super::body::{read_request_body, BodyStream};
use super::{error_response, json, method_not_allowed, GatewayState, Incoming};
use crate::bus::{BusError, Outgoing};
use crate::names::is_topic;

/// Whether `path` belongs here.
pub fn is_topics_path(path: &str) -> bool {
    path.starts_with("/v1/topics/")
        || path == "/v1/dead-letters"
        || path.starts_with("/v1/dead-letters/")
}

/// The body of a publish request.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    /// Any JSON value, kept as the caller wrote it (checked, never rebuilt).
    payload: Box<serde_json::value::RawValue>,
    /// String headers.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Optional id: a second publish with the same id is deduplicated.
    #[serde(default)]
    message_id: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct PageQuery {
    page_size: u32,
    page_token: String,
}

/// Handles the topic and dead-letter endpoints.
pub async fn handle(state: &GatewayState, request: Incoming, mut body: BodyStream) -> Response {
    let workspace = match require_workspace(state, &request).await {
        Ok(workspace) => workspace,
        Err(response) => return response,
    };
    let id = request.request_id.clone();
    let path = request.path.trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    let bus = &state.bus;
    match (segments.as_slice(), &request.method) {
        (["topics", topic, "messages"], &Method::POST) => {
            if !is_topic(topic) {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "invalid_topic",
                    &format!("{topic:?} is not a topic: use 1-128 characters of [A-Za-z0-9_-] in '.'-separated segments"),
                    &id,
                );
            }
            let bytes =
                match read_request_body(&request, &mut body, state.limits.max_body_bytes).await {
                    Ok(bytes) => bytes,
                    Err(response) => return response,
                };
            let publish: PublishBody = match serde_json::from_slice(&bytes) {
                Ok(publish) => publish,
                Err(e) => {
                    return error_response(
                        StatusCode::BAD_REQUEST,
                        "bad_json",
                        &format!("expected {{\"payload\": <any JSON>, \"headers\": {{...}}?, \"message_id\": \"...\"?}}: {e}"),
                        &id,
                    )
                }
            };
            let outgoing = Outgoing {
                payload: Bytes::from(String::from(Box::<str>::from(publish.payload))),
                headers: publish.headers,
                message_id: publish.message_id.filter(|m| !m.is_empty()),
            };
            match bus.publish(&workspace, topic, outgoing).await {
                Ok(published) => json(
                    StatusCode::ACCEPTED,
                    &serde_json::json!({"message_id": published.message_id, "duplicate": published.duplicate, "topic": topic}),
                ),
                Err(e) => bus_error(&id, e),
            }
        }
        (["topics", _, "messages"], _) => method_not_allowed(&request, "POST"),
        (["dead-letters"], &Method::GET) => {
            let query: PageQuery = serde_urlencoded::from_str(&request.query).unwrap_or_default();
            match bus
                .list_dead_letters(&workspace, query.page_size, &query.page_token)
                .await
            {
                Ok(page) => json(
                    StatusCode::OK,
                    &serde_json::to_value(page).unwrap_or_default(),
                ),
                Err(e) => bus_error(&id, e),
            }
        }
        (["dead-letters"], _) => method_not_allowed(&request, "GET"),
        (["dead-letters", dead, "retry"], &Method::POST) => {
            match bus.retry_dead_letter(&workspace, dead).await {
                Ok(published) => json(
                    StatusCode::ACCEPTED,
                    &serde_json::json!({"message_id": published.message_id, "retried": dead}),
                ),
                Err(e) => bus_error(&id, e),
            }
        }
        (["dead-letters", _, "retry"], _) => method_not_allowed(&request, "POST"),
        _ => error_response(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no such endpoint: {}", request.path),
            &id,
        ),
    }
}

fn bus_error(request_id: &str, error: BusError) -> Response {
    let (status, code) = match &error {
        BusError::InvalidArgument(_) => (StatusCode::BAD_REQUEST, "invalid_argument"),
        BusError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        BusError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "bus_unavailable"),
        BusError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        BusError::Storage { fault, .. } => super::storage::status_and_code(*fault),
    };
    let mut response = error_response(status, code, &error.to_string(), request_id);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        let seconds = match error {
            BusError::Storage { .. } => super::storage::RETRY_AFTER,
            _ => 1,
        };
        response.headers_mut().insert("retry-after", seconds.into());
    }
    response
}
