//! The deployment endpoints of the admin API:
//!
//! * `POST /admin/v1/workspaces/{ws}/modules/{name}/deployments`: deploy (body: the archive,
//!   `X-Convotic-Digest: sha256:<hex>`); 201 once the new version took over, 422 when it did
//!   not (the old one keeps serving), 4xx for a refused archive.
//! * `GET .../deployments` (history, newest first), `GET .../deployments/{id}`.
//! * `POST .../deployments/{id}/rollback`, `POST .../modules/{name}/rollback` (to the newest
//!   kept package before the active one).
//! * `DELETE /admin/v1/workspaces/{ws}/modules/{name}`, `POST .../disable`, `POST .../enable`.
//! * `GET /admin/v1/deployments/{id}`.
//!
//! Authorized by the admin token, or by an `X-API-Key` with the `deploy` scope of the URL's
//! workspace (`keys create --scope deploy`).

use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::body::{body_timeout, read_limited, BodyError, BodyStream};
use super::{error_response, json, method_not_allowed, GatewayState, Incoming};
use crate::deploy::{DeployError, DeployRequest};

/// Header carrying the archive's SHA-256.
pub const DIGEST_HEADER: &str = "x-convotic-digest";

/// Whether `path` is one of this file's endpoints.
pub fn is_deployments_path(path: &str) -> bool {
    path.starts_with("/admin/v1/workspaces/") || path.starts_with("/admin/v1/deployments/")
}

/// Who is asking.
enum Caller {
    Admin,
    /// A deploy key of this workspace, with its id.
    DeployKey {
        workspace: String,
        key_id: String,
    },
}

impl Caller {
    fn actor(&self) -> String {
        match self {
            Caller::Admin => "admin".into(),
            Caller::DeployKey { key_id, .. } => format!("key:{key_id}"),
        }
    }

    fn may_touch(&self, workspace: &str) -> bool {
        match self {
            Caller::Admin => true,
            Caller::DeployKey { workspace: own, .. } => own == workspace,
        }
    }
}

/// Handles a deployment endpoint.
pub async fn handle(state: &GatewayState, request: Incoming, mut body: BodyStream) -> Response {
    let id = request.request_id.clone();
    let caller = match caller(state, &request).await {
        Ok(caller) => caller,
        Err(response) => return *response,
    };
    let rest = request
        .path
        .trim_start_matches("/admin/v1/")
        .trim_end_matches('/')
        .to_string();
    let segments: Vec<&str> = rest.split('/').collect();
    if let ["deployments", deployment] = segments.as_slice() {
        if request.method != Method::GET {
            return method_not_allowed(&request, "GET");
        }
        return match state.store.deployment(deployment).await {
            Ok(found) if caller.may_touch(&found.workspace) => {
                json(StatusCode::OK, &serde_json::json!({"deployment": found}))
            }
            Ok(_) | Err(crate::store::StoreError::NotFound(_)) => error_response(
                StatusCode::NOT_FOUND,
                "deployment_not_found",
                &format!("no deployment {deployment:?}"),
                &id,
            ),
            Err(e) => deploy_error(DeployError::from(e), &id),
        };
    }
    let ["workspaces", workspace, "modules", module, tail @ ..] = segments.as_slice() else {
        return not_found(&request);
    };
    if !caller.may_touch(workspace) {
        return error_response(
            StatusCode::FORBIDDEN,
            "wrong_workspace",
            &format!("the deploy key belongs to another workspace than {workspace}"),
            &id,
        );
    }
    let deployer = &state.deployer;
    let actor = caller.actor();
    // `nodes`: in a cluster, what each node did (see docs/cluster.md).
    let done = |what: &str, nodes: Vec<crate::deploy::NodeReport>| {
        let mut body = serde_json::json!({"workspace": workspace, "module": module, "done": what});
        if !nodes.is_empty() {
            body["nodes"] = serde_json::to_value(nodes).unwrap_or_default();
        }
        json(StatusCode::OK, &body)
    };
    match (tail, &request.method) {
        ([], &Method::DELETE) => {
            let (owned, ws, name) = owned_args(deployer, workspace, module);
            match detached(async move { owned.remove(&ws, &name, &actor).await }).await {
                Ok(nodes) => done("removed", nodes),
                Err(e) => deploy_error(e, &id),
            }
        }
        ([], _) => method_not_allowed(&request, "DELETE"),
        (["disable"], &Method::POST) => {
            let (owned, ws, name) = owned_args(deployer, workspace, module);
            match detached(async move { owned.disable(&ws, &name).await }).await {
                Ok(nodes) => done("disabled", nodes),
                Err(e) => deploy_error(e, &id),
            }
        }
        (["enable"], &Method::POST) => {
            let (owned, ws, name) = owned_args(deployer, workspace, module);
            match detached(async move { owned.enable(&ws, &name).await }).await {
                Ok(nodes) => done("enabled", nodes),
                Err(e) => deploy_error(e, &id),
            }
        }
        (["rollback"], &Method::POST) | (["deployments", _, "rollback"], &Method::POST) => {
            let to = match tail {
                ["deployments", to, "rollback"] => Some(to.to_string()),
                _ => query_value(&request.query, "to"),
            };
            let (owned, ws, name) = owned_args(deployer, workspace, module);
            let outcome =
                detached(async move { owned.rollback(&ws, &name, to.as_deref(), &actor).await })
                    .await;
            match outcome {
                Ok(deployed) => json(
                    StatusCode::OK,
                    &serde_json::to_value(&deployed).unwrap_or_default(),
                ),
                Err(e) => deploy_error(e, &id),
            }
        }
        (["disable"] | ["enable"] | ["rollback"] | ["deployments", _, "rollback"], _) => {
            method_not_allowed(&request, "POST")
        }
        (["deployments"], &Method::GET) => {
            let limit = query_value(&request.query, "limit")
                .and_then(|v| v.parse().ok())
                .unwrap_or(50u32)
                .min(1000);
            match state.store.deployments_of(workspace, module, limit).await {
                Ok(list) => json(StatusCode::OK, &serde_json::json!({"deployments": list})),
                Err(e) => deploy_error(DeployError::from(e), &id),
            }
        }
        (["deployments"], &Method::POST) => {
            let Some(slot) = deployer.upload_slot() else {
                let mut response = error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "uploads_busy",
                    &format!(
                        "{} archives are being received already; retry shortly",
                        crate::deploy::CONCURRENT_UPLOADS
                    ),
                    &id,
                );
                response.headers_mut().insert("retry-after", 2.into());
                return response;
            };
            let limit = deployer.limits().max_archive_bytes();
            let content_length = request
                .headers
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let archive = match read_limited(&mut body, content_length, limit).await {
                Ok(bytes) => bytes,
                Err(BodyError::TooLarge(limit)) => {
                    return error_response(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "archive_too_large",
                        &format!("the archive is over {} MiB", limit / (1024 * 1024)),
                        &id,
                    )
                }
                Err(BodyError::Broken(e)) => {
                    return error_response(
                        StatusCode::BAD_REQUEST,
                        "bad_body",
                        &format!("could not read the archive: {e}"),
                        &id,
                    )
                }
                Err(BodyError::TimedOut(limit)) => return body_timeout(limit, &id),
            };
            let digest = request
                .headers
                .get(DIGEST_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            // In a task of its own: a client that goes away does not cut the switch short.
            let request = DeployRequest {
                workspace: workspace.to_string(),
                module: module.to_string(),
                archive,
                digest,
                actor,
            };
            let owned = std::sync::Arc::clone(deployer);
            let outcome = detached(async move {
                let outcome = owned.deploy(request).await;
                drop(slot);
                outcome
            })
            .await;
            match outcome {
                Ok(deployed) => json(
                    StatusCode::CREATED,
                    &serde_json::to_value(&deployed).unwrap_or_default(),
                ),
                Err(e) => deploy_error(e, &id),
            }
        }
        (["deployments"], _) => method_not_allowed(&request, "GET, POST"),
        (["deployments", deployment], &Method::GET) => {
            match state.store.deployment(deployment).await {
                Ok(found) if found.workspace == *workspace && found.module == *module => {
                    json(StatusCode::OK, &serde_json::json!({"deployment": found}))
                }
                Ok(_) | Err(crate::store::StoreError::NotFound(_)) => error_response(
                    StatusCode::NOT_FOUND,
                    "deployment_not_found",
                    &format!("{workspace}/{module} has no deployment {deployment:?}"),
                    &id,
                ),
                Err(e) => deploy_error(DeployError::from(e), &id),
            }
        }
        (["deployments", _], _) => method_not_allowed(&request, "GET"),
        _ => not_found(&request),
    }
}

/// The admin token, or a deploy key; 401 otherwise.
async fn caller(state: &GatewayState, request: &Incoming) -> Result<Caller, Box<Response>> {
    if super::admin::authorized(state, request) {
        return Ok(Caller::Admin);
    }
    let id = &request.request_id;
    let Some(key) = request
        .headers
        .get(super::auth::API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(Box::new(error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the admin token (Authorization: Bearer <token>) or a deploy key of the workspace (X-API-Key; `convotic-supervisor keys create --scope deploy --workspace <ws>`)",
            id,
        )));
    };
    match state.store.authenticate_deploy(key.trim()).await {
        Ok(Some((workspace, key_id))) => Ok(Caller::DeployKey { workspace, key_id }),
        Ok(None) => Err(Box::new(error_response(
            StatusCode::UNAUTHORIZED,
            "invalid_api_key",
            "the X-API-Key is not a valid deploy key (unknown, revoked, or created without --scope deploy)",
            id,
        ))),
        Err(e) => Err(Box::new(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            &format!("cannot check the API key: {e}"),
            id,
        ))),
    }
}

/// Runs an operation in a task of its own and waits for it: dropping the request (a client
/// that disconnects) never stops an operation halfway.
async fn detached<T: Send + 'static>(
    operation: impl std::future::Future<Output = Result<T, DeployError>> + Send + 'static,
) -> Result<T, DeployError> {
    tokio::spawn(operation).await.unwrap_or_else(|e| {
        Err(DeployError::Unavailable(format!(
            "the operation stopped: {e}"
        )))
    })
}

/// The deployer and the names, owned, for [`detached`].
fn owned_args(
    deployer: &std::sync::Arc<crate::deploy::Deployer>,
    workspace: &str,
    module: &str,
) -> (std::sync::Arc<crate::deploy::Deployer>, String, String) {
    (
        std::sync::Arc::clone(deployer),
        workspace.to_string(),
        module.to_string(),
    )
}

fn deploy_error(error: DeployError, request_id: &str) -> Response {
    let (status, code) = error.status_and_code();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = serde_json::json!({
        "error": {"code": code, "message": error.to_string(), "request_id": request_id}
    });
    if let DeployError::Failed {
        deployment, logs, ..
    } = &error
    {
        body["deployment"] = serde_json::to_value(deployment).unwrap_or_default();
        body["logs"] = serde_json::json!(logs);
    }
    json(status, &body)
}

fn not_found(request: &Incoming) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("no such admin endpoint: {}", request.path),
        &request.request_id,
    )
}

fn query_value(query: &str, key: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}
