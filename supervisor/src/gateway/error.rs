//! JSON error bodies: `{"error": {"code", "message", "request_id"}}`.

use warp::http::StatusCode;
use warp::reply::Response;

/// An error response with the standard JSON body.
pub fn error_response(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response {
    let body = serde_json::json!({
        "error": {"code": code, "message": message, "request_id": request_id}
    });
    super::json(status, &body)
}

pub use crate::names::new_request_id;

/// An error response, boxed for `Result<_, Box<Response>>` (error paths are rare; the
/// success value stays small).
pub fn rejection(status: StatusCode, code: &str, message: &str, request_id: &str) -> Box<Response> {
    Box::new(error_response(status, code, message, request_id))
}

/// The response of an [`crate::integrations::ApiError`]: its status, JSON body and, for a 503,
/// `Retry-After: 1`.
pub fn api_error_response(error: &crate::integrations::ApiError, request_id: &str) -> Response {
    let mut response = super::json(error.status, &error.body(request_id));
    if error.wants_retry_after() {
        response.headers_mut().insert("retry-after", 1.into());
    }
    response
}
