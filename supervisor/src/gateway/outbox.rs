//! Delivery of messages and workflow runs over HTTP, for the workspace of the caller's API key:
//!
//! * `GET /v1/channels`, `GET|PUT|DELETE /v1/channels/{channel}`: where a channel's messages go
//!   (`block`, `webhook` or `nats`);
//! * `GET|PUT|DELETE /v1/workflow-engine`: where workflow runs go (`webhook` or `nats`);
//! * `POST /v1/messages/{id}/status`: the target's delivery report (`delivered` or `failed`);
//! * `POST /v1/workflows/{workflow}/runs`: starts a run; `PATCH /v1/workflow-runs/{id}`: the
//!   engine's progress (`running`, `succeeded`, `failed`, with output or error);
//! * `POST /v1/messages/{id}/redrive`, `POST /v1/workflow-runs/{id}/redrive`: a dead letter back
//!   in the outbox.
//!
//! A webhook target gets a signing secret: the caller's, or one generated and returned once in
//! the answer to the `PUT` (never shown again); it is stored sealed with the keyring.

use serde::Deserialize;
use serde_json::{json, Value};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::body::{read_request_body, BodyStream};
use super::{error_response, json, method_not_allowed, GatewayState, Incoming};
use crate::store::delivery::{DeliveryTarget, Outbox, Report};
use crate::store::StoreError;

/// Whether `path` is handled here (before the data endpoints, which own the rest of
/// `/v1/messages` and `/v1/workflow-runs`).
pub fn is_outbox_path(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    path == "/v1/channels"
        || path.starts_with("/v1/channels/")
        || path == "/v1/workflow-engine"
        || path.starts_with("/v1/workflows/")
        || (path.starts_with("/v1/messages/")
            && (path.ends_with("/status") || path.ends_with("/redrive")))
        || (path.starts_with("/v1/workflow-runs/")
            && (path.ends_with("/redrive") || path.matches('/').count() == 3))
}

/// A target as given to `PUT`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetRequest {
    kind: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    block: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    connection_id: Option<String>,
    /// Which contact field a Block sends to: `phone` (default), `email` or `external_id`.
    #[serde(default)]
    to: Option<String>,
}

/// A message's delivery report.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusReport {
    status: String,
    #[serde(default)]
    provider_message_id: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// A run's progress.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunReport {
    status: String,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    error: Option<String>,
}

/// A run to start.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct NewRun {
    payload: Value,
    idempotency_key: String,
}

/// Most bytes of a report's error or a target's URL.
const MAX_TEXT: usize = 2048;

/// Handles the endpoints of this file.
pub async fn handle(state: &GatewayState, request: Incoming, mut body: BodyStream) -> Response {
    let workspace = match super::auth::require_workspace(state, &request).await {
        Ok(workspace) => workspace,
        Err(response) => return response,
    };
    let ws = workspace.as_str();
    let path = request.path.trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    let method = request.method.clone();
    let store = &state.store;
    macro_rules! body {
        () => {
            match read_request_body(&request, &mut body, state.limits.max_body_bytes).await {
                Ok(bytes) => match serde_json::from_slice(&bytes) {
                    Ok(value) => value,
                    Err(e) => return bad(&request, "bad_json", &format!("invalid JSON body: {e}")),
                },
                Err(response) => return response,
            }
        };
    }
    let result: Result<(StatusCode, Value), StoreError> = match (segments.as_slice(), &method) {
        (["channels"], &Method::GET) => store
            .target_list(ws, "channel")
            .await
            .map(|targets| (StatusCode::OK, json!({"channels": targets}))),
        (["channels"], _) => return method_not_allowed(&request, "GET"),
        (["channels", channel], &Method::PUT) => {
            if !crate::names::is_identifier(channel) {
                return bad(
                    &request,
                    "invalid_channel",
                    "channel: 1-64 characters of [a-z0-9_.-]",
                );
            }
            put_target(state, &request, ws, "channel", channel, body!()).await
        }
        (["channels", channel], &Method::GET) => get_target(state, ws, "channel", channel).await,
        (["channels", channel], &Method::DELETE) => {
            delete_target(state, ws, "channel", channel).await
        }
        (["channels", _], _) => return method_not_allowed(&request, "GET, PUT, DELETE"),
        (["workflow-engine"], &Method::PUT) => {
            put_target(state, &request, ws, "workflows", "", body!()).await
        }
        (["workflow-engine"], &Method::GET) => get_target(state, ws, "workflows", "").await,
        (["workflow-engine"], &Method::DELETE) => delete_target(state, ws, "workflows", "").await,
        (["workflow-engine"], _) => return method_not_allowed(&request, "GET, PUT, DELETE"),
        (["messages", id, "status"], &Method::POST) => {
            let report: StatusReport = body!();
            let report = match message_report(report) {
                Ok(report) => report,
                Err(message) => return bad(&request, "invalid_status", &message),
            };
            store
                .outbox_report(Outbox::Messages, ws, id, report)
                .await
                .map(|previous| {
                    (
                        StatusCode::OK,
                        json!({"id": id, "previous_status": previous}),
                    )
                })
        }
        (["messages", _, "status"], _) => return method_not_allowed(&request, "POST"),
        (["messages", id, "redrive"], &Method::POST) => {
            redrive(state, ws, Outbox::Messages, id).await
        }
        (["messages", _, "redrive"], _) => return method_not_allowed(&request, "POST"),
        (["workflows", workflow, "runs"], &Method::POST) => {
            let run: NewRun = body!();
            store
                .trigger_workflow(
                    ws,
                    "",
                    crate::store::NewWorkflowRun {
                        workflow_id: workflow.to_string(),
                        payload: run.payload,
                        idempotency_key: run.idempotency_key,
                        request_id: request.request_id.clone(),
                    },
                )
                .await
                .map(|run| (StatusCode::CREATED, json!(run)))
        }
        (["workflows", _, "runs"], _) => return method_not_allowed(&request, "POST"),
        (["workflow-runs", id], &Method::PATCH) => {
            let report: RunReport = body!();
            let report = match run_report(report) {
                Ok(report) => report,
                Err(message) => return bad(&request, "invalid_status", &message),
            };
            match store
                .outbox_report(Outbox::WorkflowRuns, ws, id, report)
                .await
            {
                Ok(_) => store
                    .get_workflow_run(ws, id)
                    .await
                    .map(|run| (StatusCode::OK, json!(run))),
                Err(e) => Err(e),
            }
        }
        (["workflow-runs", id], &Method::GET) => store
            .get_workflow_run(ws, id)
            .await
            .map(|run| (StatusCode::OK, json!(run))),
        (["workflow-runs", _], _) => return method_not_allowed(&request, "GET, PATCH"),
        (["workflow-runs", id, "redrive"], &Method::POST) => {
            redrive(state, ws, Outbox::WorkflowRuns, id).await
        }
        (["workflow-runs", _, "redrive"], _) => return method_not_allowed(&request, "POST"),
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
        Err(error) => super::data::store_error(&request, error),
    }
}

fn bad(request: &Incoming, code: &str, message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, code, message, &request.request_id)
}

/// Checks a target and stores it; a webhook without a secret gets a generated one, returned
/// once.
async fn put_target(
    state: &GatewayState,
    request: &Incoming,
    ws: &str,
    purpose: &str,
    name: &str,
    asked: TargetRequest,
) -> Result<(StatusCode, Value), StoreError> {
    let invalid = |message: &str| StoreError::InvalidArgument(message.to_string());
    let mut generated = None;
    let (config, secret) = match asked.kind.as_str() {
        "webhook" => {
            let url = asked.url.as_deref().unwrap_or_default();
            let parsed =
                reqwest::Url::parse(url).map_err(|e| invalid(&format!("url: not a URL ({e})")))?;
            if !matches!(parsed.scheme(), "http" | "https") || url.len() > MAX_TEXT {
                return Err(invalid(
                    "url: an http:// or https:// URL of at most 2048 bytes",
                ));
            }
            if !state.allow_private_targets {
                refuse_private(&parsed)
                    .await
                    .map_err(|e| invalid(&format!("url: {e}")))?;
            }
            let secret = match asked.secret {
                Some(secret) if secret.len() >= 16 && secret.len() <= 256 => secret,
                Some(_) => return Err(invalid("secret: 16 to 256 characters")),
                None => {
                    let bytes: [u8; 32] = rand::random();
                    let secret = format!("whsec_{}", hex::encode(bytes));
                    generated = Some(secret.clone());
                    secret
                }
            };
            let sealed = crate::delivery::secret::seal(
                &state.integrations.keyring,
                (ws, purpose, name),
                &secret,
            )
            .map_err(StoreError::FailedPrecondition)?;
            (json!({"url": url}), Some(sealed))
        }
        "block" if purpose == "channel" => {
            let (Some(block), Some(action), Some(connection)) =
                (asked.block, asked.action, asked.connection_id)
            else {
                return Err(invalid(
                    "a block target needs block, action and connection_id",
                ));
            };
            let to = asked.to.unwrap_or_else(|| "phone".into());
            if !matches!(to.as_str(), "phone" | "email" | "external_id") {
                return Err(invalid("to: phone, email or external_id"));
            }
            // The connection must exist in this workspace and belong to the Block.
            state
                .store
                .connection_get(ws, &block, &connection)
                .await
                .map_err(|_| {
                    invalid(&format!(
                        "connection_id: no connection {connection} of block {block} in this workspace"
                    ))
                })?;
            (
                json!({"block": block, "action": action, "connection_id": connection, "to": to}),
                None,
            )
        }
        "nats" => {
            if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
                return Err(invalid(
                    "a nats target's channel is a subject token: no leading, trailing or double dot",
                ));
            }
            if state.bus.nats_client().is_none() {
                return Err(StoreError::FailedPrecondition(
                    "a nats target needs [nats] in the supervisor's configuration".into(),
                ));
            }
            (json!({}), None)
        }
        "block" => return Err(invalid("kind: the workflow engine is a webhook or nats")),
        other => {
            return Err(invalid(&format!(
                "kind: {other:?} is not one of block, webhook, nats"
            )))
        }
    };
    let stored = state
        .store
        .target_put(DeliveryTarget {
            workspace: ws.to_string(),
            purpose: purpose.to_string(),
            name: name.to_string(),
            kind: asked.kind,
            config,
            secret,
            created_at_ms: 0,
            updated_at_ms: 0,
        })
        .await?;
    state.store.outbox_waker().notify_waiters();
    tracing::info!(request_id = %request.request_id, workspace = ws, purpose, name, kind = %stored.kind, "delivery target set");
    let mut answer = json!(stored);
    if let Some(secret) = generated {
        answer["secret"] = json!(secret);
        answer["secret_note"] =
            json!("shown once: the target verifies the x-convotic-signature header with it");
    }
    Ok((StatusCode::OK, answer))
}

/// Refuses a URL on this machine or a private network: a literal address, or a name that
/// resolves only to such addresses now (each connection checks again).
async fn refuse_private(url: &reqwest::Url) -> Result<(), String> {
    if let Some(refused) = crate::delivery::address::literal_refusal(url) {
        return Err(refused);
    }
    let Some(host) = url.host_str() else {
        return Err("no host".into());
    };
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::lookup_host((host, port)),
    )
    .await;
    match lookup {
        Ok(Ok(addrs)) => {
            let addrs: Vec<_> = addrs.collect();
            if !addrs.is_empty()
                && addrs
                    .iter()
                    .all(|a| crate::delivery::address::is_private(a.ip()))
            {
                return Err(format!(
                    "{host} resolves to {} (this machine or a private network); the supervisor \
                     sends only to public addresses unless [delivery] allow_private_targets = true",
                    addrs[0].ip()
                ));
            }
            Ok(())
        }
        // A name that does not resolve yet is accepted: attempts check it when they connect.
        Ok(Err(_)) | Err(_) => Ok(()),
    }
}

async fn get_target(
    state: &GatewayState,
    ws: &str,
    purpose: &str,
    name: &str,
) -> Result<(StatusCode, Value), StoreError> {
    match state.store.target_get(ws, purpose, name).await? {
        Some(target) => Ok((StatusCode::OK, json!(target))),
        None => Err(StoreError::NotFound(not_set(purpose, name))),
    }
}

async fn delete_target(
    state: &GatewayState,
    ws: &str,
    purpose: &str,
    name: &str,
) -> Result<(StatusCode, Value), StoreError> {
    if state.store.target_delete(ws, purpose, name).await? {
        Ok((StatusCode::NO_CONTENT, Value::Null))
    } else {
        Err(StoreError::NotFound(not_set(purpose, name)))
    }
}

fn not_set(purpose: &str, name: &str) -> String {
    if purpose == "workflows" {
        "no workflow engine is set: PUT /v1/workflow-engine".into()
    } else {
        format!("channel {name} has no target: PUT /v1/channels/{name}")
    }
}

async fn redrive(
    state: &GatewayState,
    ws: &str,
    outbox: Outbox,
    id: &str,
) -> Result<(StatusCode, Value), StoreError> {
    state.store.outbox_redrive(outbox, ws, id).await?;
    state.store.outbox_waker().notify_waiters();
    Ok((StatusCode::ACCEPTED, json!({"id": id, "status": "queued"})))
}

fn bounded(text: Option<String>) -> Option<String> {
    text.map(|t| t.chars().take(MAX_TEXT).collect())
}

/// A message's report: `delivered` (after `sent`, or while `sending` when the report beats
/// the answer) or `failed`.
fn message_report(report: StatusReport) -> Result<Report, String> {
    let status = match report.status.as_str() {
        "delivered" => "delivered",
        "failed" => "failed",
        other => return Err(format!("status: {other:?} is not delivered or failed")),
    };
    Ok(Report {
        status,
        // `queued` and `failed` too: an answer lost after the target took the item (a timeout,
        // a dead supervisor) must not lose the target's later report.
        allowed_from: &["sending", "sent", "queued", "failed"],
        provider_id: bounded(report.provider_message_id),
        error: bounded(report.error),
        output: None,
    })
}

/// A run's report: `running`, then `succeeded` or `failed`.
fn run_report(report: RunReport) -> Result<Report, String> {
    let (status, allowed_from): (&'static str, &'static [&'static str]) =
        match report.status.as_str() {
            "running" => ("running", &["queued", "sending", "delivered", "failed"]),
            "succeeded" => (
                "succeeded",
                &["queued", "sending", "delivered", "running", "failed"],
            ),
            "failed" => ("failed", &["queued", "sending", "delivered", "running"]),
            other => {
                return Err(format!(
                    "status: {other:?} is not running, succeeded or failed"
                ))
            }
        };
    Ok(Report {
        status,
        allowed_from,
        provider_id: None,
        error: bounded(report.error),
        output: report.output,
    })
}
