//! Crons over HTTP, for the workspace of the caller's API key: `GET /v1/crons` lists them with
//! their next fire times, `GET /v1/crons/{module}/{name}/runs` pages a cron's history (newest
//! first) and `POST /v1/crons/{module}/{name}/run` runs one now. The admin API serves the same
//! answers under `/admin/v1/crons` (any workspace, or `?workspace=`), through [`list`],
//! [`runs`] and [`run`].

use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::auth::require_workspace;
use super::{error_response, json, method_not_allowed, GatewayState, Incoming};
use crate::cron::RunNowError;
use crate::outcomes::{http_answer, Failure, Point};
use crate::store::StoreError;

/// Whether `path` belongs here.
pub fn is_crons_path(path: &str) -> bool {
    path == "/v1/crons" || path == "/v1/crons/" || path.starts_with("/v1/crons/")
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct PageQuery {
    page_size: u32,
    page_token: String,
}

/// Handles the `/v1/crons` endpoints.
pub async fn handle(state: &GatewayState, request: Incoming) -> Response {
    let workspace = match require_workspace(state, &request).await {
        Ok(workspace) => workspace,
        Err(response) => return response,
    };
    let path = request.path.trim_end_matches('/').to_string();
    let rest = path.trim_start_matches("/v1/crons").trim_start_matches('/');
    let segments: Vec<&str> = if rest.is_empty() {
        vec![]
    } else {
        rest.split('/').collect()
    };
    route(state, &request, Some(&workspace), &segments).await
}

/// Dispatches `[]`, `[module, name, "runs"]` and `[module, name, "run"]` (the path below
/// `/v1/crons` or `/admin/v1/crons`).
pub(super) async fn route(
    state: &GatewayState,
    request: &Incoming,
    workspace: Option<&str>,
    segments: &[&str],
) -> Response {
    match (segments, &request.method) {
        ([], &Method::GET) => list(state, request, workspace).await,
        ([], _) => method_not_allowed(request, "GET"),
        ([module, name, "runs"], &Method::GET) => {
            runs(state, request, workspace, module, name).await
        }
        ([_, _, "runs"], _) => method_not_allowed(request, "GET"),
        ([module, name, "run"], &Method::POST) => {
            run(state, request, workspace, module, name).await
        }
        ([_, _, "run"], _) => method_not_allowed(request, "POST"),
        _ => error_response(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no such endpoint: {}", request.path),
            &request.request_id,
        ),
    }
}

/// The crons of `workspace` (every workspace when `None`).
pub(super) async fn list(
    state: &GatewayState,
    request: &Incoming,
    workspace: Option<&str>,
) -> Response {
    match state.crons.list(workspace).await {
        Ok(crons) => json(
            StatusCode::OK,
            &serde_json::json!({"crons": serde_json::to_value(crons).unwrap_or_default()}),
        ),
        Err(e) => cron_error(request, RunNowError::Store(e)),
    }
}

/// One page of a cron's history.
pub(super) async fn runs(
    state: &GatewayState,
    request: &Incoming,
    workspace: Option<&str>,
    module: &str,
    name: &str,
) -> Response {
    let query: PageQuery = match serde_urlencoded::from_str(&request.query) {
        Ok(query) => query,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "invalid_argument",
                &format!("query: expected page_size (a number) and page_token: {e}"),
                &request.request_id,
            )
        }
    };
    match state
        .crons
        .runs(workspace, module, name, query.page_size, &query.page_token)
        .await
    {
        Ok(page) => json(
            StatusCode::OK,
            &serde_json::json!({"runs": serde_json::to_value(page.items).unwrap_or_default(), "next_page_token": page.next_page_token}),
        ),
        Err(e) => cron_error(request, e),
    }
}

/// Runs a cron now: 202 with the run record.
pub(super) async fn run(
    state: &GatewayState,
    request: &Incoming,
    workspace: Option<&str>,
    module: &str,
    name: &str,
) -> Response {
    match state.crons.run_now(workspace, module, name).await {
        Ok(run) => json(
            StatusCode::ACCEPTED,
            &serde_json::to_value(run).unwrap_or_default(),
        ),
        Err(e) => cron_error(request, e),
    }
}

fn cron_error(request: &Incoming, error: RunNowError) -> Response {
    let (status, code) = match &error {
        RunNowError::UnknownModule(_) => (StatusCode::NOT_FOUND, "module_not_found"),
        RunNowError::AmbiguousModule(_) => (StatusCode::CONFLICT, "module_ambiguous"),
        RunNowError::UnknownCron { .. } => (StatusCode::NOT_FOUND, "cron_not_found"),
        RunNowError::NotReady(_) => {
            let answer = http_answer(Failure::Unavailable, Point::Route);
            (answer.status, answer.code)
        }
        RunNowError::Overlap(_) => (StatusCode::CONFLICT, "overlap"),
        RunNowError::Store(StoreError::InvalidArgument(_)) => {
            (StatusCode::BAD_REQUEST, "invalid_argument")
        }
        RunNowError::Store(StoreError::NotFound(_)) => (StatusCode::NOT_FOUND, "not_found"),
        RunNowError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
    };
    let mut response = error_response(status, code, &error.to_string(), &request.request_id);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert("retry-after", 1.into());
    }
    response
}
