//! How a failed node, connection-test or action call is reported: the module's own error
//! (with its retryable flag and details) or the transport's (crash, deadline, overload).

use convotic_proto::plugin::v1::{outcome, Error as ModuleError};
use serde_json::Value;
use warp::http::StatusCode;

use super::schema::Schema;
use super::ApiError;
use crate::outcomes::{http_answer, Failure, Point};
use crate::protocol::WorkError;

/// The module answered with an error: the outcome table's answer for `point`, with the
/// module's message, retryable flag and details. `call` says what failed ("node
/// loyalty_lookup@1.0.0").
pub fn module_error(call: &str, module: &str, error: ModuleError, point: Point) -> ApiError {
    let answer = http_answer(Failure::of_error_code(error.code), point);
    let message = format!("{call} (module {module}) failed: {}", error.message);
    let details = if error.details_json.is_empty() {
        None
    } else {
        serde_json::from_slice(&error.details_json).ok()
    };
    ApiError {
        details,
        ..ApiError::new(answer.status, answer.code, message)
            .retryable(answer.retryable.unwrap_or(error.retryable))
    }
}

/// The call produced no outcome: the outcome table's answer (the same at every point).
pub fn work_error(call: &str, module: &str, error: WorkError) -> ApiError {
    let answer = http_answer(Failure::of_work_error(&error), Point::Route);
    let message = match &error {
        WorkError::LaneClosed(reason) => {
            format!("{call}: module {module} stopped before answering ({reason}); it is being restarted")
        }
        other => format!("{call}: module {module}: {other}"),
    };
    tracing::warn!(module, status = answer.status.as_u16(), "{message}");
    ApiError::new(answer.status, answer.code, message).retryable(answer.retryable.unwrap_or(false))
}

/// The module answered with a result of another kind, or an output that breaks its contract.
pub fn bad_answer(call: &str, module: &str, what: String) -> ApiError {
    tracing::warn!(module, "{call}: {what}");
    let answer = http_answer(Failure::InvalidAnswer, Point::Route);
    ApiError::new(
        answer.status,
        answer.code,
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
    /// The extension point (gives the code of a handler error: "node_failed", ...).
    pub point: Point,
}

impl Callee<'_> {
    /// The outcome of the expected kind (`pick` returns it), or the error to report.
    pub fn expect<T>(
        &self,
        result: Result<outcome::Result, WorkError>,
        pick: impl FnOnce(outcome::Result) -> Option<T>,
    ) -> Result<T, ApiError> {
        match result {
            Ok(outcome::Result::Error(error)) => {
                Err(module_error(self.label, self.module, error, self.point))
            }
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
    use convotic_proto::plugin::v1::ErrorCode;

    #[test]
    fn a_refused_input_is_422_and_cancelled_is_unavailable() {
        let error = |code: ErrorCode| ModuleError {
            code: code as i32,
            message: "no".into(),
            ..Default::default()
        };
        let api = module_error("node x@1", "m", error(ErrorCode::BadInput), Point::Node);
        assert_eq!(
            (api.status, api.code),
            (StatusCode::UNPROCESSABLE_ENTITY, "rejected_input")
        );
        let api = module_error("route call", "m", error(ErrorCode::BadInput), Point::Route);
        assert_eq!(
            (api.status, api.code),
            (StatusCode::UNPROCESSABLE_ENTITY, "rejected_input")
        );
        let api = module_error("route call", "m", error(ErrorCode::Cancelled), Point::Route);
        assert_eq!(
            (api.status, api.code, api.retryable),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "module_unavailable",
                Some(true)
            )
        );
    }

    #[test]
    fn handler_errors_keep_their_retryable_flag_and_details() {
        let error = ModuleError {
            code: ErrorCode::Handler as i32,
            message: "backend down".into(),
            retryable: true,
            details_json: br#"{"backend": "loyalty"}"#.to_vec(),
        };
        let api = module_error("node x@1", "m", error, Point::Node);
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
            Point::Node,
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
