//! Callers authenticate with `X-API-Key`; a key belongs to one workspace and the request's
//! workspace comes from it. Keys are stored hashed and compared in constant time (store/keys).

use warp::http::StatusCode;
use warp::reply::Response;

use super::{error_response, GatewayState, Incoming};

/// The header carrying the API key.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The workspace of the caller's key: `Ok(None)` without a key, `Err(401)` for a key that is
/// malformed, unknown or revoked (a wrong key is never treated as no key).
pub async fn caller_workspace(
    state: &GatewayState,
    request: &Incoming,
) -> Result<Option<String>, Response> {
    let Some(value) = request.headers.get(API_KEY_HEADER) else {
        return Ok(None);
    };
    let invalid = || {
        error_response(
            StatusCode::UNAUTHORIZED,
            "invalid_api_key",
            "the X-API-Key is not valid (unknown, revoked or malformed); create one with `convotic-supervisor keys create --workspace <ws>`",
            &request.request_id,
        )
    };
    let key = value.to_str().map_err(|_| invalid())?.trim();
    if key.is_empty() {
        return Err(invalid());
    }
    match state.store.authenticate(key).await {
        Ok(Some(workspace)) => Ok(Some(workspace)),
        Ok(None) => Err(invalid()),
        Err(e) => Err(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            &format!("cannot check the API key: {e}"),
            &request.request_id,
        )),
    }
}

/// 401 for a route or endpoint that needs a key and got none.
pub fn missing_key(request: &Incoming) -> Response {
    error_response(
        StatusCode::UNAUTHORIZED,
        "missing_api_key",
        "this endpoint requires an X-API-Key header with a key of the workspace",
        &request.request_id,
    )
}

/// The caller's workspace for endpoints that always need a key.
pub async fn require_workspace(
    state: &GatewayState,
    request: &Incoming,
) -> Result<String, Response> {
    match caller_workspace(state, request).await? {
        Some(workspace) => Ok(workspace),
        None => Err(missing_key(request)),
    }
}
