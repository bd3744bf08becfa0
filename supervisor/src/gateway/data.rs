//! The platform data over REST, for operators and tests: `/v1/contacts`, `/v1/conversations`,
//! `/v1/messages` (list, get, send), `/v1/workflow-runs` (list; one run and its reports are in
//! `outbox`). The workspace always comes from the API key; records
//! of other workspaces do not exist for the caller (404).

use serde::de::DeserializeOwned;
use serde::Serialize;
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::auth::require_workspace;
use super::body::{read_request_body, BodyStream};
use super::{error_response, json, method_not_allowed, GatewayState, Incoming};
use crate::store::{Page, StoreError};

/// Whether `path` is one of the data endpoints.
pub fn is_data_path(path: &str) -> bool {
    [
        "/v1/contacts",
        "/v1/conversations",
        "/v1/messages",
        "/v1/workflow-runs",
    ]
    .iter()
    .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")))
}

/// Query parameters of list endpoints.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct ListQuery {
    page_size: u32,
    page_token: String,
    contact_id: String,
    status: String,
    workflow_id: String,
}

/// Handles a data endpoint request.
pub async fn handle(state: &GatewayState, request: Incoming, mut body: BodyStream) -> Response {
    let workspace = match require_workspace(state, &request).await {
        Ok(workspace) => workspace,
        Err(response) => return response,
    };
    let ws = workspace.as_str();
    let store = &state.store;
    let path = request
        .path
        .trim_start_matches("/v1/")
        .trim_end_matches('/')
        .to_string();
    let segments: Vec<&str> = path.split('/').collect();
    let query: ListQuery = match serde_urlencoded::from_str(&request.query) {
        Ok(query) => query,
        Err(e) => return bad_request(&request, "bad_query", &format!("invalid query string: {e}")),
    };
    let method = request.method.clone();
    macro_rules! body {
        () => {
            match read_json(state, &request, &mut body).await {
                Ok(value) => value,
                Err(response) => return response,
            }
        };
    }
    let result: Result<(StatusCode, serde_json::Value), StoreError> =
        match (segments.as_slice(), &method) {
            (["contacts"], &Method::GET) => list(
                "contacts",
                store
                    .list_contacts(ws, query.page_size, &query.page_token)
                    .await,
            ),
            (["contacts"], &Method::POST) => created(store.create_contact(ws, body!()).await),
            (["contacts"], _) => return method_not_allowed(&request, "GET, POST"),
            (["contacts", id], &Method::GET) => ok(store.get_contact(ws, id).await),
            (["contacts", id], &Method::PATCH) => ok(store.update_contact(ws, id, body!()).await),
            (["contacts", id], &Method::DELETE) => {
                deleted(store.delete_contact(ws, id).await, "contact", id)
            }
            (["contacts", _], _) => return method_not_allowed(&request, "GET, PATCH, DELETE"),

            (["conversations"], &Method::GET) => list(
                "conversations",
                store
                    .list_conversations(
                        ws,
                        &query.contact_id,
                        &query.status,
                        query.page_size,
                        &query.page_token,
                    )
                    .await,
            ),
            (["conversations"], &Method::POST) => {
                created(store.create_conversation(ws, body!()).await)
            }
            (["conversations"], _) => return method_not_allowed(&request, "GET, POST"),
            (["conversations", id], &Method::GET) => ok(store.get_conversation(ws, id).await),
            (["conversations", id], &Method::PATCH) => {
                ok(store.update_conversation(ws, id, body!()).await)
            }
            (["conversations", _], _) => return method_not_allowed(&request, "GET, PATCH"),
            (["conversations", id, "close"], &Method::POST) => {
                ok(store.close_conversation(ws, id).await)
            }
            (["conversations", _, "close"], _) => return method_not_allowed(&request, "POST"),

            (["messages"], &Method::GET) => list(
                "messages",
                store
                    .list_messages(
                        ws,
                        &query.contact_id,
                        &query.status,
                        query.page_size,
                        &query.page_token,
                    )
                    .await,
            ),
            (["messages"], &Method::POST) => created(store.send_message(ws, "", body!()).await),
            (["messages"], _) => return method_not_allowed(&request, "GET, POST"),
            (["messages", id], &Method::GET) => ok(store.get_message(ws, id).await),
            (["messages", _], _) => return method_not_allowed(&request, "GET"),

            (["workflow-runs"], &Method::GET) => list(
                "workflow_runs",
                store
                    .list_workflow_runs(
                        ws,
                        &query.workflow_id,
                        &query.status,
                        query.page_size,
                        &query.page_token,
                    )
                    .await,
            ),
            (["workflow-runs"], _) => return method_not_allowed(&request, "GET"),

            _ => {
                return error_response(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    &format!("no such endpoint: {}", request.path),
                    &request.request_id,
                )
            }
        };
    match result {
        Ok((StatusCode::NO_CONTENT, _)) => {
            let mut response = Response::new(Default::default());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Ok((status, value)) => json(status, &value),
        Err(error) => store_error(&request, error),
    }
}

fn to_value<T: Serialize>(value: T) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value)
        .map_err(|e| StoreError::Internal(format!("cannot encode the answer: {e}")))
}

fn ok<T: Serialize>(
    result: Result<T, StoreError>,
) -> Result<(StatusCode, serde_json::Value), StoreError> {
    Ok((StatusCode::OK, to_value(result?)?))
}

fn created<T: Serialize>(
    result: Result<T, StoreError>,
) -> Result<(StatusCode, serde_json::Value), StoreError> {
    Ok((StatusCode::CREATED, to_value(result?)?))
}

fn deleted(
    result: Result<bool, StoreError>,
    what: &str,
    id: &str,
) -> Result<(StatusCode, serde_json::Value), StoreError> {
    if result? {
        Ok((StatusCode::NO_CONTENT, serde_json::Value::Null))
    } else {
        Err(StoreError::NotFound(format!("no {what} {id}")))
    }
}

fn list<T: Serialize>(
    name: &str,
    result: Result<Page<T>, StoreError>,
) -> Result<(StatusCode, serde_json::Value), StoreError> {
    let page = result?;
    let mut body = serde_json::Map::new();
    body.insert(name.to_string(), to_value(page.items)?);
    body.insert("next_page_token".into(), to_value(page.next_page_token)?);
    Ok((StatusCode::OK, serde_json::Value::Object(body)))
}

/// Reads a JSON body into `T` (unknown fields are errors, named by serde).
async fn read_json<T: DeserializeOwned>(
    state: &GatewayState,
    request: &Incoming,
    body: &mut BodyStream,
) -> Result<T, Response> {
    let bytes = read_request_body(request, body, state.limits.max_body_bytes).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| bad_request(request, "bad_json", &format!("invalid JSON body: {e}")))
}

fn bad_request(request: &Incoming, code: &str, message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, code, message, &request.request_id)
}

pub(super) fn store_error(request: &Incoming, error: StoreError) -> Response {
    let (status, code) = match &error {
        StoreError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        StoreError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        StoreError::InvalidArgument(_) => (StatusCode::BAD_REQUEST, "invalid_argument"),
        StoreError::FailedPrecondition(_) => (StatusCode::CONFLICT, "failed_precondition"),
        StoreError::Internal(_) => {
            tracing::error!(request_id = %request.request_id, "store error: {error}");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
        StoreError::Storage { fault, .. } => {
            tracing::warn!(request_id = %request.request_id, "store error: {error}");
            super::storage::status_and_code(*fault)
        }
    };
    let mut response = error_response(status, code, &error.to_string(), &request.request_id);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert("retry-after", super::storage::RETRY_AFTER.into());
    }
    response
}
