//! The outcome table: what a failed invocation means, for every extension point, in one place
//! (docs/PROTOCOL.md §5.7). Routes, nodes, block tests and actions answer their HTTP callers from
//! [`http_answer`]; the worker dispatcher settles messages with [`worker_fate`]; the cron
//! scheduler records runs with [`cron_outcome`]. Each starts from a [`Failure`]: the module's
//! `Error` outcome ([`Failure::of_error_code`]) or the call's own failure
//! ([`Failure::of_work_error`]).

use convotic_proto::plugin::v1::ErrorCode;
use warp::http::StatusCode;

use crate::protocol::WorkError;
use crate::store::CronOutcome;

/// The extension points called over HTTP (and NATS request-reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// A module route (`/v1/modules/{module}/...`).
    Route,
    /// A node (`POST /v1/nodes/{type}/invoke`).
    Node,
    /// A block's connection test.
    BlockTest,
    /// A block action.
    Action,
}

impl Point {
    /// The `error.code` of a handler failure at this point.
    pub fn failed_code(self) -> &'static str {
        match self {
            Point::Route => "module_error",
            Point::Node => "node_failed",
            Point::BlockTest => "connection_test_error",
            Point::Action => "action_failed",
        }
    }
}

/// How an invocation failed, whatever the extension point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `ERROR_CODE_HANDLER`, `ERROR_CODE_INTERNAL`, `ERROR_CODE_UNSPECIFIED` or an unknown code.
    Handler,
    /// `ERROR_CODE_BAD_INPUT`: the module refused the input.
    BadInput,
    /// `ERROR_CODE_NOT_FOUND`: nothing registered for what was called.
    NotFound,
    /// `ERROR_CODE_DEADLINE_EXCEEDED`, or the supervisor's deadline passed first.
    Deadline,
    /// `ERROR_CODE_UNAVAILABLE`, `ERROR_CODE_CANCELLED` the supervisor did not ask for (it only
    /// sends `Cancel` when nobody waits for the outcome any more), or the call could not be
    /// handed over (module not accepting work, out of credits). Also the answer when the module
    /// is not ready (starting, restarting, failed, stopping) at any extension point.
    Unavailable,
    /// The module died or broke its lane before answering.
    Crashed,
    /// The module answered with a result of another kind, or one that breaks its contract.
    InvalidAnswer,
}

impl Failure {
    /// The failure an `Error` outcome with this `ErrorCode` value stands for.
    pub fn of_error_code(code: i32) -> Failure {
        match ErrorCode::try_from(code) {
            Ok(ErrorCode::BadInput) => Failure::BadInput,
            Ok(ErrorCode::NotFound) => Failure::NotFound,
            Ok(ErrorCode::DeadlineExceeded) => Failure::Deadline,
            Ok(ErrorCode::Unavailable) | Ok(ErrorCode::Cancelled) => Failure::Unavailable,
            Ok(ErrorCode::Handler) | Ok(ErrorCode::Internal) | Ok(ErrorCode::Unspecified) => {
                Failure::Handler
            }
            Err(_) => Failure::Handler,
        }
    }

    /// The failure of a call that produced no outcome.
    pub fn of_work_error(error: &WorkError) -> Failure {
        match error {
            WorkError::Overloaded(_) | WorkError::NotAccepting => Failure::Unavailable,
            WorkError::DeadlineExceeded(_) => Failure::Deadline,
            WorkError::LaneClosed(_) => Failure::Crashed,
            WorkError::EmptyOutcome => Failure::InvalidAnswer,
        }
    }
}

/// The HTTP answer to a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpAnswer {
    /// The status.
    pub status: StatusCode,
    /// `error.code` of the body.
    pub code: &'static str,
    /// `error.retryable` of the body; `None`: the module's own flag.
    pub retryable: Option<bool>,
}

/// The HTTP status and code of `failure` at `point` (503s carry `Retry-After: 1`).
pub fn http_answer(failure: Failure, point: Point) -> HttpAnswer {
    let (status, code, retryable) = match failure {
        Failure::Handler => (StatusCode::BAD_GATEWAY, point.failed_code(), None),
        Failure::BadInput => (StatusCode::UNPROCESSABLE_ENTITY, "rejected_input", None),
        Failure::NotFound => (StatusCode::NOT_FOUND, "not_found", None),
        Failure::Deadline => (StatusCode::GATEWAY_TIMEOUT, "timeout", Some(true)),
        Failure::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "module_unavailable",
            Some(true),
        ),
        Failure::Crashed => (StatusCode::BAD_GATEWAY, "module_crashed", Some(true)),
        Failure::InvalidAnswer => (
            StatusCode::BAD_GATEWAY,
            "invalid_module_answer",
            Some(false),
        ),
    };
    HttpAnswer {
        status,
        code,
        retryable,
    }
}

/// What becomes of a worker message whose delivery failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerFate {
    /// Delivered again per the backoff (dead-lettered once the attempts run out).
    Retry,
    /// Moved to dead letters now.
    DeadLetter,
}

/// The fate of a message whose delivery ended in `failure`; `retryable` is the module's flag
/// (false when the call produced no outcome).
pub fn worker_fate(failure: Failure, retryable: bool) -> WorkerFate {
    match failure {
        Failure::BadInput | Failure::NotFound if !retryable => WorkerFate::DeadLetter,
        _ => WorkerFate::Retry,
    }
}

/// The recorded outcome of a cron run that ended in `failure` (crons are not retried).
pub fn cron_outcome(failure: Failure) -> CronOutcome {
    match failure {
        Failure::Handler | Failure::BadInput | Failure::NotFound => CronOutcome::Error,
        Failure::Deadline => CronOutcome::Timeout,
        Failure::Unavailable | Failure::Crashed | Failure::InvalidAnswer => CronOutcome::Failed,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn error_codes_map_to_failures() {
        let of = |code: ErrorCode| Failure::of_error_code(code as i32);
        assert_eq!(of(ErrorCode::Handler), Failure::Handler);
        assert_eq!(of(ErrorCode::Internal), Failure::Handler);
        assert_eq!(of(ErrorCode::Unspecified), Failure::Handler);
        assert_eq!(Failure::of_error_code(999), Failure::Handler);
        assert_eq!(of(ErrorCode::BadInput), Failure::BadInput);
        assert_eq!(of(ErrorCode::NotFound), Failure::NotFound);
        assert_eq!(of(ErrorCode::DeadlineExceeded), Failure::Deadline);
        assert_eq!(of(ErrorCode::Unavailable), Failure::Unavailable);
        assert_eq!(of(ErrorCode::Cancelled), Failure::Unavailable);
        assert_eq!(
            Failure::of_work_error(&WorkError::LaneClosed("exit 1".into())),
            Failure::Crashed
        );
        assert_eq!(
            Failure::of_work_error(&WorkError::DeadlineExceeded(Duration::from_secs(1))),
            Failure::Deadline
        );
        assert_eq!(
            Failure::of_work_error(&WorkError::NotAccepting),
            Failure::Unavailable
        );
    }

    /// The table of docs/PROTOCOL.md §5.7, row by row.
    #[test]
    fn the_table_of_protocol_md() {
        let rows = [
            (
                Failure::Handler,
                502,
                "<failed>",
                WorkerFate::Retry,
                CronOutcome::Error,
            ),
            (
                Failure::BadInput,
                422,
                "rejected_input",
                WorkerFate::DeadLetter,
                CronOutcome::Error,
            ),
            (
                Failure::NotFound,
                404,
                "not_found",
                WorkerFate::DeadLetter,
                CronOutcome::Error,
            ),
            (
                Failure::Deadline,
                504,
                "timeout",
                WorkerFate::Retry,
                CronOutcome::Timeout,
            ),
            (
                Failure::Unavailable,
                503,
                "module_unavailable",
                WorkerFate::Retry,
                CronOutcome::Failed,
            ),
            (
                Failure::Crashed,
                502,
                "module_crashed",
                WorkerFate::Retry,
                CronOutcome::Failed,
            ),
            (
                Failure::InvalidAnswer,
                502,
                "invalid_module_answer",
                WorkerFate::Retry,
                CronOutcome::Failed,
            ),
        ];
        for point in [Point::Route, Point::Node, Point::BlockTest, Point::Action] {
            for (failure, status, code, fate, cron) in rows {
                let answer = http_answer(failure, point);
                let code = if code == "<failed>" {
                    point.failed_code()
                } else {
                    code
                };
                assert_eq!(
                    (answer.status.as_u16(), answer.code),
                    (status, code),
                    "{failure:?} at {point:?}"
                );
                assert_eq!(worker_fate(failure, false), fate, "{failure:?}");
                assert_eq!(cron_outcome(failure), cron, "{failure:?}");
            }
        }
        assert_eq!(worker_fate(Failure::BadInput, true), WorkerFate::Retry);
        assert_eq!(worker_fate(Failure::NotFound, true), WorkerFate::Retry);
    }
}
