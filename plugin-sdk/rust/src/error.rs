//! Error types: [`HandlerError`] (what a handler returns), [`HostError`] (a failed `ctx` call)
//! and [`SdkError`] (serving failed).

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// What kind of failure a [`HandlerError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerErrorKind {
    /// The handler failed (`ERROR_CODE_HANDLER`; for workers: the message is delivered again).
    Handler,
    /// The input was invalid (`ERROR_CODE_BAD_INPUT`; for workers: the message is discarded,
    /// since delivering the same payload again cannot succeed).
    BadInput,
    /// Workers only: do not retry, move the message to dead letters (`DISPOSITION_DISCARD`).
    /// Other handlers report it like [`HandlerErrorKind::Handler`].
    Discard,
}

/// The error a handler returns.
///
/// Build one with [`HandlerError::new`], [`HandlerError::bad_input`] or
/// [`HandlerError::discard`], or let `?` convert any [`std::error::Error`]: a
/// [`serde_json::Error`] becomes a bad-input error, a [`HostError`] keeps its retryability,
/// anything else becomes a non-retryable handler error carrying the error's message.
///
/// `HandlerError` deliberately does not implement [`std::error::Error`] itself (like
/// `anyhow::Error`), which is what lets every error type convert into it with `?`.
#[derive(Debug, Clone)]
pub struct HandlerError {
    kind: HandlerErrorKind,
    message: String,
    retryable: bool,
    retry_after: Option<Duration>,
    details: Option<Value>,
}

impl HandlerError {
    /// A handler failure with a message safe to show to the caller. Not retryable.
    pub fn new(message: impl Into<String>) -> Self {
        HandlerError {
            kind: HandlerErrorKind::Handler,
            message: message.into(),
            retryable: false,
            retry_after: None,
            details: None,
        }
    }

    /// The input was invalid (`ERROR_CODE_BAD_INPUT`). Not retryable.
    pub fn bad_input(message: impl Into<String>) -> Self {
        HandlerError {
            kind: HandlerErrorKind::BadInput,
            ..HandlerError::new(message)
        }
    }

    /// Workers: give up on this message and move it to dead letters with `reason`.
    pub fn discard(reason: impl Into<String>) -> Self {
        HandlerError {
            kind: HandlerErrorKind::Discard,
            ..HandlerError::new(reason)
        }
    }

    /// Marks the error as retryable: trying again later may succeed.
    #[must_use]
    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }

    /// Workers: wait at least `delay` before the next delivery (instead of the backoff
    /// schedule). Implies [`HandlerError::retryable`].
    #[must_use]
    pub fn retry_after(mut self, delay: Duration) -> Self {
        self.retryable = true;
        self.retry_after = Some(delay);
        self
    }

    /// Attaches structured details (a JSON object is recommended), passed to the caller.
    #[must_use]
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> HandlerErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The requested delay before the next delivery, if any.
    pub fn retry_delay(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The structured details, if any.
    pub fn details(&self) -> Option<&Value> {
        self.details.as_ref()
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E> From<E> for HandlerError
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(err: E) -> Self {
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
        if let Some(host) = boxed.downcast_ref::<HostError>() {
            let error = HandlerError::new(host.to_string());
            return if host.is_retryable() {
                error.retryable()
            } else {
                error
            };
        }
        if let Some(json) = boxed.downcast_ref::<serde_json::Error>() {
            return HandlerError::bad_input(format!("invalid JSON input: {json}"));
        }
        HandlerError::new(boxed.to_string())
    }
}

/// A call to the Convotic host services (`ctx`) failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The host answered with a gRPC error status.
    #[error("{call} failed: {}: {}", code_name(.status.code()), .status.message())]
    Status {
        /// The call, e.g. `contacts.get`.
        call: &'static str,
        /// The status the host answered.
        status: tonic::Status,
    },
    /// The call did not complete within its timeout.
    #[error("{call} timed out after {} ms", .timeout.as_millis())]
    Timeout {
        /// The call, e.g. `contacts.get`.
        call: &'static str,
        /// The timeout that passed.
        timeout: Duration,
    },
    /// The module has no host connection (CONVOTIC_HOST_SOCKET was not set).
    #[error("{call} failed: no Convotic host is configured (CONVOTIC_HOST_SOCKET is not set)")]
    NotConfigured {
        /// The call, e.g. `contacts.get`.
        call: &'static str,
    },
    /// A value could not be converted to or from JSON.
    #[error("{call} failed: invalid JSON: {source}")]
    Json {
        /// The call, e.g. `storage.set`.
        call: &'static str,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

impl HostError {
    /// The gRPC status code of the failure (`Unavailable` when no host is configured,
    /// `DeadlineExceeded` on timeout, `InvalidArgument` for JSON errors).
    pub fn code(&self) -> tonic::Code {
        match self {
            HostError::Status { status, .. } => status.code(),
            HostError::Timeout { .. } => tonic::Code::DeadlineExceeded,
            HostError::NotConfigured { .. } => tonic::Code::Unavailable,
            HostError::Json { .. } => tonic::Code::InvalidArgument,
        }
    }

    /// The record does not exist (`NOT_FOUND`).
    pub fn is_not_found(&self) -> bool {
        self.code() == tonic::Code::NotFound
    }

    /// A compare-and-set precondition failed (`FAILED_PRECONDITION`).
    pub fn is_conflict(&self) -> bool {
        self.code() == tonic::Code::FailedPrecondition
    }

    /// Whether trying again later may succeed (unavailable, timeout, quota).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.code(),
            tonic::Code::Unavailable
                | tonic::Code::DeadlineExceeded
                | tonic::Code::ResourceExhausted
                | tonic::Code::Cancelled
        )
    }
}

/// Upper-case gRPC name of a status code, as the protocol documents them.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Serving the module failed.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// CONVOTIC_PLUGIN_SOCKET is not set: the module was not started by the supervisor.
    #[error(
        "CONVOTIC_PLUGIN_SOCKET is not set: the module must be started by the Convotic supervisor"
    )]
    NotStartedBySupervisor,
    /// An environment variable has an invalid value.
    #[error("invalid {name}: {reason}")]
    InvalidEnv {
        /// The variable.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Creating, removing or binding the socket failed.
    #[error("cannot listen on {path}: {source}")]
    Listen {
        /// The socket path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Creating the host connection failed.
    #[error("cannot set up the host connection: {0}")]
    Host(String),
    /// The gRPC server failed.
    #[error("the gRPC server failed: {0}")]
    Server(#[from] tonic::transport::Error),
    /// Another I/O error (signal handlers, runtime).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Value, HandlerError> {
        Ok(serde_json::from_str(text)?)
    }

    #[test]
    fn serde_errors_become_bad_input() {
        let err = parse("{").unwrap_err();
        assert_eq!(err.kind(), HandlerErrorKind::BadInput);
        assert!(err.message().starts_with("invalid JSON input"));
    }

    #[test]
    fn host_errors_keep_retryability() {
        fn call(err: HostError) -> Result<(), HandlerError> {
            Err(err)?
        }
        let unavailable = call(HostError::Status {
            call: "contacts.get",
            status: tonic::Status::unavailable("down"),
        })
        .unwrap_err();
        assert!(unavailable.is_retryable());
        assert_eq!(
            unavailable.message(),
            "contacts.get failed: UNAVAILABLE: down"
        );
        let invalid = call(HostError::Status {
            call: "contacts.create",
            status: tonic::Status::invalid_argument("email"),
        })
        .unwrap_err();
        assert!(!invalid.is_retryable());
    }

    #[test]
    fn other_errors_are_handler_errors() {
        fn call() -> Result<u32, HandlerError> {
            Ok("x".parse::<u32>()?)
        }
        let err = call().unwrap_err();
        assert_eq!(err.kind(), HandlerErrorKind::Handler);
        assert!(!err.is_retryable());
    }

    #[test]
    fn builders() {
        let err = HandlerError::new("busy").retry_after(Duration::from_secs(2));
        assert!(err.is_retryable());
        assert_eq!(err.retry_delay(), Some(Duration::from_secs(2)));
        assert_eq!(
            HandlerError::discard("poison").kind(),
            HandlerErrorKind::Discard
        );
    }
}
