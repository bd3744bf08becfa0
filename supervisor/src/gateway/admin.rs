//! `/admin/v1`: modules, their status, logs and restarts, config reload, and crons (`/admin/v1/crons`, the
//! answers of `/v1/crons` for any workspace or `?workspace=`). Guarded by the admin token
//! (`Authorization: Bearer <token>`).

use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::{error_response, json, method_not_allowed, GatewayState, Incoming};
use crate::supervision::FindError;

/// Handles every `/admin/v1...` request.
pub async fn handle(state: &GatewayState, request: Incoming) -> Response {
    if !authorized(state, &request) {
        return unauthorized(&request);
    }
    let rest = request
        .path
        .trim_start_matches("/admin/v1")
        .trim_matches('/')
        .to_string();
    let segments: Vec<&str> = if rest.is_empty() {
        vec![]
    } else {
        rest.split('/').collect()
    };
    let query = parse_query(&request.query);
    let workspace = query
        .iter()
        .find(|(k, _)| k == "workspace")
        .map(|(_, v)| v.as_str());
    match segments.as_slice() {
        ["modules"] => get_only(&request, || {
            let modules: Vec<_> = state
                .supervisor
                .modules()
                .iter()
                .map(|m| m.status())
                .collect();
            json(StatusCode::OK, &serde_json::json!({"modules": modules}))
        }),
        ["modules", name] => get_only(&request, || match state.supervisor.find(workspace, name) {
            Ok(module) => json(
                StatusCode::OK,
                &serde_json::to_value(module.status()).unwrap_or_default(),
            ),
            Err(e) => find_error(&request, e),
        }),
        ["modules", name, "logs"] => get_only(&request, || {
            let module = match state.supervisor.find(workspace, name) {
                Ok(module) => module,
                Err(e) => return find_error(&request, e),
            };
            let number = |key: &str| {
                query
                    .iter()
                    .find(|(k, _)| k == key)
                    .and_then(|(_, v)| v.parse::<u64>().ok())
            };
            let limit = number("limit").unwrap_or(200).min(10_000) as usize;
            let lines = module.logs.since(number("after"), limit);
            json(StatusCode::OK, &serde_json::json!({"lines": lines}))
        }),
        ["modules", name, "restart"] => {
            if request.method != Method::POST {
                return method_not_allowed(&request, "POST");
            }
            match state.supervisor.find(workspace, name) {
                Ok(module) if !module.spec().enabled => error_response(
                    StatusCode::CONFLICT,
                    "module_disabled",
                    &format!("module {name} is disabled in the configuration (enabled = false)"),
                    &request.request_id,
                ),
                Ok(module) => {
                    module.restart();
                    json(
                        StatusCode::ACCEPTED,
                        &serde_json::json!({"restarting": true, "workspace": module.workspace, "module": module.name}),
                    )
                }
                Err(e) => find_error(&request, e),
            }
        }
        ["reload"] => {
            if request.method != Method::POST {
                return method_not_allowed(&request, "POST");
            }
            match state.reloader.reload().await {
                Ok(report) => {
                    let mut body = serde_json::to_value(&report).unwrap_or_default();
                    // In a cluster every other node reloads its own file too.
                    if state.store.is_shared() {
                        body["nodes"] = serde_json::to_value(state.deployer.reload_peers().await)
                            .unwrap_or_default();
                    }
                    json(StatusCode::OK, &body)
                }
                Err(e) => error_response(
                    StatusCode::BAD_REQUEST,
                    "invalid_config",
                    &format!("{e}; nothing was changed"),
                    &request.request_id,
                ),
            }
        }
        ["crons", rest @ ..] => super::crons::route(state, &request, workspace, rest).await,
        ["cluster"] => {
            if request.method != Method::GET {
                return method_not_allowed(&request, "GET");
            }
            cluster(state, &request).await
        }
        _ => error_response(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no such admin endpoint: {}", request.path),
            &request.request_id,
        ),
    }
}

/// `GET /admin/v1/cluster`: the live nodes sharing this supervisor's store (heard from within
/// `membership::LIVE_WITHIN`), each with its modules' statuses at its last heartbeat.
async fn cluster(state: &GatewayState, request: &Incoming) -> Response {
    use crate::supervision::membership::LIVE_WITHIN;
    match state.store.list_nodes(LIVE_WITHIN.as_millis() as u64).await {
        Ok(nodes) => json(
            StatusCode::OK,
            &serde_json::json!({
                "shared_store": state.store.is_shared(),
                "live_within_ms": LIVE_WITHIN.as_millis() as u64,
                "nodes": nodes,
            }),
        ),
        Err(e) => super::data::store_error(request, e),
    }
}

/// 401: the admin token is missing or wrong.
pub(super) fn unauthorized(request: &Incoming) -> Response {
    error_response(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "missing or wrong admin token: send `Authorization: Bearer <token>` with the token from <data_dir>/admin-token",
        &request.request_id,
    )
}

/// Whether the request carries the admin token.
pub(super) fn authorized(state: &GatewayState, request: &Incoming) -> bool {
    let presented = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    crate::host::constant_time_eq(presented.as_bytes(), state.admin_token.as_bytes())
}

fn get_only(request: &Incoming, handler: impl FnOnce() -> Response) -> Response {
    if request.method == Method::GET {
        handler()
    } else {
        method_not_allowed(request, "GET")
    }
}

fn find_error(request: &Incoming, error: FindError) -> Response {
    let (status, code) = match error {
        FindError::NotFound(_) => (StatusCode::NOT_FOUND, "module_not_found"),
        FindError::Ambiguous { .. } => (StatusCode::CONFLICT, "module_ambiguous"),
    };
    error_response(status, code, &error.to_string(), &request.request_id)
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(query).unwrap_or_default()
}
