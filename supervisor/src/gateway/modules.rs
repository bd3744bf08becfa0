//! Custom routes: `METHOD /v1/modules/{module}/{path...}` (workspace from the API key) and
//! `/v1/workspaces/{ws}/modules/{module}/{path...}`, forwarded to the module's `HandleRoute`
//! over its work stream.
//!
//! Order of checks: the key (a wrong key is always 401), the module (404, or 403 when the key's
//! workspace has no such module but another workspace has), the route (404/405 — shown only to
//! authenticated callers unless a public route matched), the route's auth (401), readiness
//! (503 + Retry-After), the body (413, 400/415 for bad JSON), then the call (502/503/504).

use std::sync::Arc;

use convotic_proto::plugin::v1::{invocation, outcome};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::auth::{caller_workspace, missing_key};
use super::body::{body_timeout, read_limited, BodyError, BodyStream};
use super::error::rejection;
use super::forward::{build_request, route_response, RequestParts};
use super::response_budget::check_size;
use super::{error_response, method_not_allowed, GatewayState, Incoming};
use crate::outcomes::{http_answer, Failure, Point};
use crate::protocol::InvokeOptions;
use crate::registry::{percent_decode, Lookup};
use crate::supervision::{ModuleHandle, State};

/// Seconds a caller is told to wait when a module is not ready or over capacity.
const RETRY_AFTER_SECS: u32 = 1;

/// Where a module request points.
#[derive(Debug, PartialEq, Eq)]
pub struct ModuleTarget {
    /// Workspace named in the URL, if any.
    pub workspace: Option<String>,
    /// Module name.
    pub module: String,
    /// The path inside the module, still percent-encoded, starting with `/`.
    pub rest: String,
}

/// Recognises the two URL forms of module routes.
pub fn parse_target(path: &str) -> Option<ModuleTarget> {
    let (workspace, after) = if let Some(after) = path.strip_prefix("/v1/modules/") {
        (None, after)
    } else {
        let after = path.strip_prefix("/v1/workspaces/")?;
        let (workspace, after) = after.split_once('/')?;
        (Some(workspace.to_string()), after.strip_prefix("modules/")?)
    };
    let (module, rest) = match after.split_once('/') {
        Some((module, rest)) => (module, format!("/{rest}")),
        None => (after, "/".to_string()),
    };
    if module.is_empty() {
        return None;
    }
    Some(ModuleTarget {
        workspace,
        module: module.to_string(),
        rest,
    })
}

/// Handles a module route request, recording it in the module's totals and the route's
/// metrics (by pattern; `unmatched` when no route matched).
pub async fn handle(
    state: &GatewayState,
    request: Incoming,
    target: ModuleTarget,
    body: BodyStream,
) -> Response {
    handle_as(state, request, target, body, None).await
}

/// Like [`handle`], for a caller already known to act for workspace `as_workspace` (the
/// console's *try it*, signed in as admin) instead of one identified by its API key.
pub async fn handle_as(
    state: &GatewayState,
    request: Incoming,
    target: ModuleTarget,
    body: BodyStream,
    as_workspace: Option<String>,
) -> Response {
    let started = std::time::Instant::now();
    let request_id = request.request_id.clone();
    let method = request.method.clone();
    let mut matched = None;
    let (module, response) = route(state, request, target, body, as_workspace, &mut matched).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(module) = &module {
        module.totals.record(status, elapsed);
        crate::metrics::global().route_answered(
            [
                &module.workspace,
                &module.name,
                metric_method(&method),
                matched.as_deref().unwrap_or("unmatched"),
            ],
            status,
            elapsed,
        );
    }
    tracing::debug!(
        request_id = %request_id,
        module = module.as_ref().map(|m| m.name.as_str()).unwrap_or("-"),
        %method,
        status,
        micros = elapsed.as_micros() as u64,
        "route request"
    );
    response
}

/// The method as a metric label: one of the standard methods, else `other` (a client picks
/// the method, and labels must stay bounded).
fn metric_method(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Resolves the module; returns it (when one was found) with the answer.
async fn route(
    state: &GatewayState,
    request: Incoming,
    target: ModuleTarget,
    body: BodyStream,
    as_workspace: Option<String>,
    matched: &mut Option<String>,
) -> (Option<Arc<ModuleHandle>>, Response) {
    let key_workspace = match as_workspace {
        Some(workspace) => Some(workspace),
        None => match caller_workspace(state, &request).await {
            Ok(workspace) => workspace,
            Err(response) => return (None, response),
        },
    };
    let module = match resolve_module(state, &request, &target, key_workspace.as_deref()) {
        Ok(module) => module,
        Err(response) => return (None, *response),
    };
    let response = forward(
        state,
        request,
        target,
        body,
        &module,
        key_workspace,
        matched,
    )
    .await;
    (Some(module), response)
}

/// Matches the route, checks auth, readiness and the body, and calls the module.
async fn forward(
    state: &GatewayState,
    request: Incoming,
    target: ModuleTarget,
    mut body: BodyStream,
    module: &Arc<ModuleHandle>,
    key_workspace: Option<String>,
    matched: &mut Option<String>,
) -> Response {
    let id = request.request_id.clone();
    let decoded_path = match decode_path(&target.rest) {
        Ok(path) => path,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, "bad_path", &message, &id),
    };
    // One snapshot: the route matched is the one of the instance the call goes to. While no
    // instance is ready, the last one's routes still tell a 404 or 405 from a 503.
    let serving = module.serving();
    let Some(declared) = serving
        .as_ref()
        .map(|s| Arc::clone(&s.declared))
        .or_else(|| module.declared())
    else {
        return not_ready(module, &id);
    };
    let routes = &declared.routes;
    let authenticated = key_workspace.is_some();
    let (entry, params) = match routes.lookup(request.method.as_str(), &target.rest) {
        Err(message) => return error_response(StatusCode::BAD_REQUEST, "bad_path", &message, &id),
        Ok(Lookup::Found(entry, params)) => {
            *matched = Some(entry.pattern.clone());
            (entry.clone(), params)
        }
        Ok(_) if !authenticated => return missing_key(&request),
        Ok(Lookup::MethodNotAllowed(allowed)) => {
            return method_not_allowed(&request, &allowed.join(", "))
        }
        Ok(Lookup::NotFound) => {
            return error_response(
                StatusCode::NOT_FOUND,
                "route_not_found",
                &format!(
                    "module {} has no route for {} {}",
                    module.name, request.method, decoded_path
                ),
                &id,
            )
        }
    };
    if entry.requires_key && !authenticated {
        return missing_key(&request);
    }
    let Some(work) = serving.map(|s| s.work) else {
        return not_ready(module, &id);
    };
    let limit = entry
        .max_body_bytes
        .map_or(state.limits.max_body_bytes, |l| {
            l.min(state.limits.max_body_bytes)
        });
    let content_length = request
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let bytes = match read_limited(&mut body, content_length, limit).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge(limit)) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                &format!("the request body is over this route's limit of {limit} bytes"),
                &id,
            )
        }
        Err(BodyError::Broken(e)) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "bad_body",
                &format!("could not read the request body: {e}"),
                &id,
            )
        }
        Err(BodyError::TimedOut(limit)) => return body_timeout(limit, &id),
    };
    let payload_bytes = bytes.len();
    let route_request = match build_request(RequestParts {
        request: &request,
        decoded_path,
        pattern: &entry.pattern,
        params,
        body: bytes,
        workspace: &module.workspace,
        authenticated,
    }) {
        Ok(route_request) => route_request,
        Err(response) => return *response,
    };
    let timeout = entry.timeout.unwrap_or(state.limits.route_timeout);
    let result = module
        .invoke(
            &work,
            invocation::Kind::Route(route_request),
            InvokeOptions {
                timeout: Some(timeout),
                request_id: id.clone(),
                traceparent: header(&request, "traceparent"),
                payload_bytes,
                wait_for_credit: false,
                idempotent: matches!(request.method, Method::GET | Method::HEAD),
            },
        )
        .await;
    let body_bytes = match &result {
        Ok(outcome::Result::Route(answer)) => Some(answer.body.len() as u64),
        _ => None,
    };
    if let Some(bytes) = body_bytes {
        let limit = state.limits.max_response_bytes;
        if let Some(refused) = check_size(bytes, limit, &module.name, &id) {
            return refused;
        }
    }
    let response = route_response(result, &module.name, &id);
    match body_bytes {
        Some(bytes) => state.limits.response_budget.hold(response, bytes, &id),
        None => response,
    }
}

/// Finds the module for the caller: by the URL's workspace, the key's workspace, or — for a
/// caller without a key — the only workspace that has a module of that name.
fn resolve_module(
    state: &GatewayState,
    request: &Incoming,
    target: &ModuleTarget,
    key_workspace: Option<&str>,
) -> Result<Arc<ModuleHandle>, Box<Response>> {
    let id = &request.request_id;
    let no_module = || {
        rejection(
            StatusCode::NOT_FOUND,
            "module_not_found",
            &format!("no module named {:?}", target.module),
            id,
        )
    };
    let all = state.supervisor.find_all(&target.module);
    let workspace = match (&target.workspace, key_workspace) {
        (Some(url), Some(key)) if url != key => {
            return Err(rejection(
                StatusCode::FORBIDDEN,
                "wrong_workspace",
                &format!("the API key belongs to another workspace than {url}"),
                id,
            ))
        }
        (Some(url), _) => url.clone(),
        (None, Some(key)) => key.to_string(),
        (None, None) => {
            return match all.as_slice() {
                [] => Err(no_module()),
                [only] => Ok(Arc::clone(only)),
                _ => Err(rejection(
                    StatusCode::BAD_REQUEST,
                    "ambiguous_module",
                    &format!(
                        "module {:?} exists in several workspaces: send an X-API-Key, or use /v1/workspaces/{{workspace}}/modules/{}/...",
                        target.module, target.module
                    ),
                    id,
                )),
            }
        }
    };
    match all.iter().find(|m| m.workspace == workspace) {
        Some(module) => Ok(Arc::clone(module)),
        None if key_workspace.is_some() && target.workspace.is_none() && !all.is_empty() => {
            Err(rejection(
                StatusCode::FORBIDDEN,
                "wrong_workspace",
                &format!(
                    "module {:?} does not belong to the API key's workspace {workspace}",
                    target.module
                ),
                id,
            ))
        }
        None => Err(no_module()),
    }
}

/// 503 with `Retry-After` and the module's state.
fn not_ready(module: &ModuleHandle, request_id: &str) -> Response {
    let status = module.status();
    let what = match status.state {
        State::Starting => "is starting",
        State::Backoff => "is restarting after a failure",
        State::Draining => "is stopping",
        State::Failed => "has failed and stays down until restarted",
        State::CrashLoop => "is in a crash loop; it is restarted at its next attempt",
        State::Stopped => "is stopped",
        State::Ready => "is not taking work right now",
    };
    let answer = http_answer(Failure::Unavailable, Point::Route);
    let mut response = error_response(
        answer.status,
        answer.code,
        &format!("module {} {what}; retry shortly", module.name),
        request_id,
    );
    response
        .headers_mut()
        .insert("retry-after", RETRY_AFTER_SECS.into());
    response
}

/// Percent-decodes each segment of a module path; refuses `.`/`..` segments and invalid UTF-8.
fn decode_path(raw: &str) -> Result<String, String> {
    let mut decoded = Vec::new();
    for segment in raw.split('/') {
        let segment = percent_decode(segment)
            .ok_or_else(|| "the path is not valid UTF-8 after percent-decoding".to_string())?;
        if segment == "." || segment == ".." {
            return Err("the path contains a '.' or '..' segment".into());
        }
        decoded.push(segment);
    }
    Ok(decoded.join("/"))
}

fn header(request: &Incoming, name: &str) -> String {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("/v1/modules/erp/webhook/erp"),
            Some(ModuleTarget {
                workspace: None,
                module: "erp".into(),
                rest: "/webhook/erp".into()
            })
        );
        assert_eq!(
            parse_target("/v1/workspaces/ws_a/modules/erp"),
            Some(ModuleTarget {
                workspace: Some("ws_a".into()),
                module: "erp".into(),
                rest: "/".into()
            })
        );
        assert_eq!(parse_target("/v1/modules/"), None);
        assert_eq!(parse_target("/v1/workspaces/ws_a/other/x"), None);
    }

    #[test]
    fn paths_are_decoded_and_dot_segments_refused() {
        assert_eq!(decode_path("/a%20b/c").unwrap(), "/a b/c");
        assert!(decode_path("/a/../b").is_err());
        assert!(decode_path("/a/%2e%2e/b").is_err());
        assert!(decode_path("/a/%ff").is_err());
    }
}
