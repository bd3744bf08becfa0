//! The console's actions (admin sessions, CSRF checked before): restart, disable and enable,
//! roll back, run a cron now, re-drive a dead letter (a worker's, or a failed delivery) — forms answered with a redirect and a
//! notice — and, for the pages' scripts, a route's *try it*, a node invocation and a
//! connection test, answered in JSON. Each does what the matching API endpoint does.

use bytes::Bytes;
use serde_json::{json, Value};
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode};
use warp::reply::Response;

use super::html::url;
use super::{field, json as json_response, plain, redirect, Visit};
use crate::integrations::CallInfo;

/// Largest module answer shown by *try it*.
const SHOWN_BYTES: usize = 64 * 1024;

/// Runs the action named by the path.
pub async fn handle(visit: &Visit<'_>, fields: &[(String, String)], body: &[u8]) -> Response {
    let rest = visit.request.path.trim_start_matches("/console/");
    let Some(segments) = rest
        .trim_end_matches('/')
        .split('/')
        .map(crate::registry::percent_decode)
        .collect::<Option<Vec<String>>>()
    else {
        return plain(
            StatusCode::BAD_REQUEST,
            "the path is not valid percent-encoding",
        );
    };
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let back = field(fields, "back")
        .filter(|b| b.starts_with("/console/") && !b.contains("//"))
        .map(str::to_string);
    match segments.as_slice() {
        ["modules", ws, name, verb @ ("restart" | "disable" | "enable" | "rollback")] => {
            let page =
                back.unwrap_or_else(|| format!("/console/modules/{}/{}", url(ws), url(name)));
            module_action(visit, ws, name, verb, &page).await
        }
        ["modules", ws, name, "try"] => try_route(visit, ws, name, body).await,
        ["modules", ws, name, "nodes", node, "invoke"] => {
            invoke_node(visit, ws, name, node, body).await
        }
        ["crons", ws, module, cron, "run"] => {
            let page = back.unwrap_or_else(|| {
                format!("/console/crons/{}/{}/{}", url(ws), url(module), url(cron))
            });
            match visit.state.crons.run_now(Some(ws), module, cron).await {
                Ok(run) => redirect(&page, Some(("notice", &format!("run {} started", run.id)))),
                Err(e) => redirect(&page, Some(("error", &e.to_string()))),
            }
        }
        ["dead-letters", ws, id, "redrive"] => {
            let page = back.unwrap_or_else(|| "/console/workers".into());
            match visit.state.bus.retry_dead_letter(ws, id).await {
                Ok(published) => redirect(
                    &page,
                    Some((
                        "notice",
                        &format!("re-driven as message {}", published.message_id),
                    )),
                ),
                Err(e) => redirect(&page, Some(("error", &e.to_string()))),
            }
        }
        ["outbox", ws, kind @ ("messages" | "runs"), id, "redrive"] => {
            let outbox = if *kind == "messages" {
                crate::store::delivery::Outbox::Messages
            } else {
                crate::store::delivery::Outbox::WorkflowRuns
            };
            let page = back.unwrap_or_else(|| "/console/delivery".into());
            match visit.state.store.outbox_redrive(outbox, ws, id).await {
                Ok(()) => {
                    visit.state.store.outbox_waker().notify_waiters();
                    redirect(&page, Some(("notice", &format!("{id} is queued again"))))
                }
                Err(e) => redirect(&page, Some(("error", &e.to_string()))),
            }
        }
        ["blocks", ws, block, "connections", id, "test"] => {
            let call = call_info(visit);
            let result = visit
                .state
                .integrations
                .test_connection(ws, block, id, &call)
                .await;
            match result {
                Ok(answer) => json_response(StatusCode::OK, &answer.body),
                Err(e) => json_response(e.status, &e.body(&call.request_id)),
            }
        }
        _ => plain(StatusCode::NOT_FOUND, "no such console action"),
    }
}

fn call_info(visit: &Visit<'_>) -> CallInfo {
    CallInfo {
        request_id: visit.request.request_id.clone(),
        traceparent: String::new(),
    }
}

/// Restart, disable, enable or roll back `ws/name`; back to `page` with what happened.
async fn module_action(
    visit: &Visit<'_>,
    ws: &str,
    name: &str,
    verb: &str,
    page: &str,
) -> Response {
    let state = visit.state;
    let Some(module) = state
        .supervisor
        .modules()
        .iter()
        .find(|m| m.workspace == ws && m.name == name)
        .cloned()
    else {
        return redirect(
            "/console/",
            Some(("error", &format!("no module {name} in {ws}"))),
        );
    };
    if verb == "restart" {
        if !module.spec().enabled {
            return redirect(page, Some(("error", &format!("{name} is disabled"))));
        }
        module.restart();
        return redirect(page, Some(("notice", &format!("{name} is restarting"))));
    }
    // Run in a task of their own: a browser that goes away cannot stop them halfway.
    let deployer = std::sync::Arc::clone(&state.deployer);
    let (ws_owned, name_owned, verb_owned) = (ws.to_string(), name.to_string(), verb.to_string());
    let task = tokio::spawn(async move {
        match verb_owned.as_str() {
            "disable" => deployer
                .disable(&ws_owned, &name_owned)
                .await
                .map(|nodes| with_lagging_nodes("disabled", &nodes)),
            "enable" => deployer
                .enable(&ws_owned, &name_owned)
                .await
                .map(|nodes| with_lagging_nodes("enabled", &nodes)),
            _ => deployer
                .rollback(&ws_owned, &name_owned, None, "console")
                .await
                .map(|d| format!("rolled back to {}", d.deployment.version)),
        }
    });
    match task.await {
        Ok(Ok(done)) => redirect(page, Some(("notice", &format!("{name}: {done}")))),
        Ok(Err(e)) => redirect(page, Some(("error", &e.to_string()))),
        Err(e) => redirect(
            page,
            Some(("error", &format!("the operation stopped: {e}"))),
        ),
    }
}

/// `{"method", "path", "body"}`: sends the request to the module's route as the workspace,
/// answers `{"status", "content_type", "body"}`.
async fn try_route(visit: &Visit<'_>, ws: &str, name: &str, body: &[u8]) -> Response {
    let asked: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => {
            return plain(
                StatusCode::BAD_REQUEST,
                &format!("expected a JSON body: {e}"),
            )
        }
    };
    let Ok(method) = Method::from_bytes(asked["method"].as_str().unwrap_or("GET").as_bytes())
    else {
        return plain(StatusCode::BAD_REQUEST, "method: not an HTTP method");
    };
    let full = asked["path"].as_str().unwrap_or("/");
    if !full.starts_with('/') || full.contains(char::is_whitespace) {
        return plain(
            StatusCode::BAD_REQUEST,
            "path: must start with / and contain no spaces",
        );
    }
    let (path, query) = full.split_once('?').unwrap_or((full, ""));
    let text = asked["body"].as_str().unwrap_or("").to_string();
    let mut headers = HeaderMap::new();
    if !text.is_empty() {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("content-length", HeaderValue::from(text.len()));
    }
    let request = super::super::Incoming {
        method,
        path: format!("/v1/workspaces/{}/modules/{}{path}", url(ws), url(name)),
        query: query.to_string(),
        headers,
        request_id: visit.request.request_id.clone(),
        remote: visit.request.remote,
    };
    let Some(target) = super::super::modules::parse_target(&request.path) else {
        return plain(StatusCode::BAD_REQUEST, "path: not a module route");
    };
    let bytes = Bytes::from(text);
    let stream: super::super::BodyStream =
        Box::pin(futures::stream::once(async move { Ok(bytes) }));
    let response = super::super::modules::handle_as(
        visit.state,
        request,
        target,
        stream,
        Some(ws.to_string()),
    )
    .await;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let collected = http_body_util::BodyExt::collect(response.into_body())
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let shown = &collected[..collected.len().min(SHOWN_BYTES)];
    json_response(
        StatusCode::OK,
        &json!({
            "status": status,
            "content_type": content_type,
            "body": String::from_utf8_lossy(shown),
            "truncated": collected.len() > SHOWN_BYTES,
        }),
    )
}

/// `{"input", "version"?, "connection_id"?}` for node `node` of `ws/name`: answers
/// `{"status", "body"}` with the API's answer.
async fn invoke_node(visit: &Visit<'_>, ws: &str, name: &str, node: &str, body: &[u8]) -> Response {
    let asked: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => {
            return plain(
                StatusCode::BAD_REQUEST,
                &format!("expected a JSON body: {e}"),
            )
        }
    };
    let mut request =
        json!({"input": asked.get("input").cloned().unwrap_or(json!({})), "module": name});
    for key in ["version", "connection_id"] {
        if let Some(value) = asked
            .get(key)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
        {
            request[key] = json!(value);
        }
    }
    let call = call_info(visit);
    let result = visit
        .state
        .integrations
        .invoke_node(ws, node, request.to_string().as_bytes(), &call)
        .await;
    let (status, body) = match result {
        Ok(answer) => (answer.status.as_u16(), answer.body),
        Err(e) => (e.status.as_u16(), e.body(&call.request_id)),
    };
    json_response(StatusCode::OK, &json!({"status": status, "body": body}))
}

/// `done`, followed by the nodes of a cluster that have not applied it yet (they catch up by
/// themselves).
fn with_lagging_nodes(done: &str, nodes: &[crate::deploy::NodeReport]) -> String {
    let lagging: Vec<String> = nodes
        .iter()
        .filter(|n| matches!(n.state.as_str(), "not_applied" | "unreachable"))
        .map(|n| {
            // The notice travels in the redirect's URL: each message is cut short.
            let message: String = n.message.chars().take(200).collect();
            format!("node {} {}: {message}", n.node, n.state.replace('_', " "))
        })
        .take(8)
        .collect();
    if lagging.is_empty() {
        done.to_string()
    } else {
        format!(
            "{done}; not yet on every node (they catch up within seconds): {}",
            lagging.join("; ")
        )
    }
}
