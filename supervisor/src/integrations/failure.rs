//! How a failed node, connection-test or action call is reported: the module's own error
//! (with its retryable flag and details) or the transport's (crash, deadline, overload).

use convotic_proto::plugin::v1::{outcome, Error as ModuleError, ErrorCode};
use serde_json::Value;
use warp::http::StatusCode;

use super::schema::Schema;
use super::ApiError;
use crate::protocol::WorkError;

/// The module answered with an error. `call` says what failed ("node loyalty_lookup@1.0.0").
pub fn module_error(
    call: &str,
    module: &str,
    error: ModuleError,
    failed_code: &'static str,
) -> ApiError {
    let code = ErrorCode::try_from(error.code).unwrap_or(ErrorCode::Internal);
    let message = format!("{call} (module {module}) failed: {}", error.message);
    let (status, api_code, retryable) = match code {
        ErrorCode::BadInput => (StatusCode::UNPROCESSABLE_ENTITY, "rejected_input", false),
        ErrorCode::NotFound => (StatusCode::NOT_FOUND, "not_found", false),
        ErrorCode::DeadlineExceeded => (StatusCode::GATEWAY_TIMEOUT, "timeout", true),
        ErrorCode::Unavailable | ErrorCode::Cancelled => {
            (StatusCode::SERVICE_UNAVAILABLE, "module_unavailable", true)
        }
        ErrorCode::Handler | ErrorCode::Internal | ErrorCode::Unspecified => {
            (StatusCode::BAD_GATEWAY, failed_code, error.retryable)
        }
    };
    let details = if error.details_json.is_empty() {
        None
    } else {
        serde_json::from_slice(&error.details_json).ok()
    };
    ApiError {
        details,
        ..ApiError::new(status, api_code, message).retryable(retryable)
    }
}

/// The call produced no outcome.
pub fn work_error(call: &str, module: &str, error: WorkError) -> ApiError {
    let (status, code) = match &error {
        WorkError::Overloaded(_) | WorkError::NotAccepting => {
            (StatusCode::SERVICE_UNAVAILABLE, "module_unavailable")
        }
        WorkError::DeadlineExceeded(_) => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
        WorkError::LaneClosed(_) | WorkError::EmptyOutcome => {
            (StatusCode::BAD_GATEWAY, "module_crashed")
        }
    };
    let message = match &error {
        WorkError::LaneClosed(reason) => {
            format!("{call}: module {module} stopped before answering ({reason}); it is being restarted")
        }
        other => format!("{call}: module {module}: {other}"),
    };
    tracing::warn!(module, status = status.as_u16(), "{message}");
    ApiError::new(status, code, message).retryable(true)
}

/// The module answered with a result of another kind, or an output that breaks its contract.
pub fn bad_answer(call: &str, module: &str, what: String) -> ApiError {
    tracing::warn!(module, "{call}: {what}");
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "invalid_module_answer",
        format!("{call} (module {module}) returned an invalid answer: {what}"),
    )
    .retryable(false)
}

/// The module and call an outcome belongs to, for error messages.
pub struct Callee<'a> {
    /// What was called, e.g. "node loyalty_lookup@1.0.0".
    pub label: &'a str,
    /// The module.
    pub module: &'a str,
    /// Code of a handler error ("node_failed", "action_failed", ...).
    pub failed_code: &'static str,
}

impl Callee<'_> {
    /// The outcome of the expected kind (`pick` returns it), or the error to report.
    pub fn expect<T>(
        &self,
        result: Result<outcome::Result, WorkError>,
        pick: impl FnOnce(outcome::Result) -> Option<T>,
    ) -> Result<T, ApiError> {
        match result {
            Ok(outcome::Result::Error(error)) => Err(module_error(
                self.label,
                self.module,
                error,
                self.failed_code,
            )),
            Ok(other) => pick(other).ok_or_else(|| {
                bad_answer(self.label, self.module, "a result of another kind".into())
            }),
            Err(error) => Err(work_error(self.label, self.module, error)),
        }
    }

    /// The module's JSON output (`null` when empty), checked against its output schema.
    pub fn output(&self, output_json: &[u8], schema: &Schema) -> Result<Value, ApiError> {
        let output: Value = if output_json.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(output_json).map_err(|e| {
                bad_answer(
                    self.label,
                    self.module,
                    format!("the output is not JSON: {e}"),
                )
            })?
        };
        let problems = schema.check(&output, &[]);
        if problems.is_empty() {
            return Ok(output);
        }
        let mut error = ApiError::invalid("invalid_output", "the output", problems);
        error.status = StatusCode::BAD_GATEWAY;
        error.message = format!("{} (module {}): {}", self.label, self.module, error.message);
        error.retryable = Some(false);
        tracing::warn!(module = self.module, "{}", error.message);
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_errors_keep_their_retryable_flag_and_details() {
        let error = ModuleError {
            code: ErrorCode::Handler as i32,
            message: "backend down".into(),
            retryable: true,
            details_json: br#"{"backend": "loyalty"}"#.to_vec(),
        };
        let api = module_error("node x@1", "m", error, "node_failed");
        assert_eq!(api.status, StatusCode::BAD_GATEWAY);
        assert_eq!(api.code, "node_failed");
        assert_eq!(api.retryable, Some(true));
        assert_eq!(api.details.unwrap()["backend"], "loyalty");
        let api = module_error(
            "node x@1",
            "m",
            ModuleError {
                code: ErrorCode::Handler as i32,
                message: "no".into(),
                ..Default::default()
            },
            "node_failed",
        );
        assert_eq!(api.retryable, Some(false));
    }

    #[test]
    fn a_crash_is_a_retryable_502() {
        let api = work_error("node x@1", "m", WorkError::LaneClosed("exit 134".into()));
        assert_eq!(api.status, StatusCode::BAD_GATEWAY);
        assert_eq!(api.code, "module_crashed");
        assert_eq!(api.retryable, Some(true));
    }
}
