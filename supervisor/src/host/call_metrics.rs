//! A tower layer on the Host server counting each call by service, method and gRPC code, with
//! its latency (`convotic_host_calls_total`, `convotic_host_call_duration_seconds`).
//!
//! The path is the module's to choose, so labels stay bounded: a service outside the Host's,
//! a method none of its services declares, and a call the server answered `UNIMPLEMENTED` are
//! all counted as `unknown`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tonic::codegen::http;

use super::HostIdentity;

/// The services the Host serves (the proto package's service names).
const SERVICES: &[&str] = &[
    "Contacts",
    "Conversations",
    "Logger",
    "Messages",
    "Storage",
    "Workflows",
];

/// The path of `HostStream.Calls`, whose calls the stream counts itself.
const STREAM_PATH: &str = "/convotic.host.v1.HostStream/Calls";

/// Adds [`CallMetrics`] around the Host services of one instance.
#[derive(Clone)]
pub struct CallMetricsLayer {
    identity: Arc<HostIdentity>,
}

impl CallMetricsLayer {
    /// Counts the calls of `identity`'s module.
    pub fn new(identity: Arc<HostIdentity>) -> Self {
        Self { identity }
    }
}

impl<S> tower::Layer<S> for CallMetricsLayer {
    type Service = CallMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallMetrics {
            inner,
            identity: Arc::clone(&self.identity),
        }
    }
}

/// The service [`CallMetricsLayer`] wraps around the Host services.
#[derive(Clone)]
pub struct CallMetrics<S> {
    inner: S,
    identity: Arc<HostIdentity>,
}

impl<S, B, RB> tower::Service<http::Request<B>> for CallMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    RB: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() == STREAM_PATH {
            // The stream's calls are counted one by one as they are answered.
            let call = self.inner.call(request);
            return Box::pin(call);
        }
        let (service, method) = service_and_method(request.uri().path());
        let identity = Arc::clone(&self.identity);
        let started = Instant::now();
        let call = self.inner.call(request);
        Box::pin(async move {
            let result = call.await;
            let code = match &result {
                Ok(response) => code_name(response.headers()),
                Err(_) => "internal",
            };
            let method = if code == "unimplemented" {
                "unknown"
            } else {
                method
            };
            let service = if method == "unknown" {
                "unknown"
            } else {
                service
            };
            crate::metrics::global().host_called(
                [&identity.workspace, &identity.module, service, method],
                code,
                started.elapsed(),
            );
            result
        })
    }
}

/// `(service, method)` of a Host path `/convotic.host.v1.Storage/Get`: the service lower-cased
/// when it is one of the Host's, else `unknown`; the method lower-cased with underscores.
pub(super) fn service_and_method(path: &str) -> (&'static str, &'static str) {
    let Some((service, method)) = path
        .strip_prefix("/convotic.host.v1.")
        .and_then(|rest| rest.split_once('/'))
    else {
        return ("unknown", "unknown");
    };
    let Some(service) = SERVICES.iter().find(|s| **s == service) else {
        return ("unknown", "unknown");
    };
    (lower(service), method_label(method))
}

/// The label of a known service.
fn lower(service: &str) -> &'static str {
    match service {
        "Contacts" => "contacts",
        "Conversations" => "conversations",
        "Logger" => "logger",
        "Messages" => "messages",
        "Storage" => "storage",
        "Workflows" => "workflows",
        _ => "unknown",
    }
}

/// The methods the Host's services declare (`rpc` names of `convotic.host.v1`); any other
/// name is `unknown`, so the label set is fixed whatever a module calls.
const METHODS: &[&str] = &[
    "Close",
    "CompareAndSet",
    "Create",
    "Delete",
    "FindByExternalId",
    "Get",
    "List",
    "Log",
    "Send",
    "Set",
    "Trigger",
    "Update",
];

/// A method name as a label: one of [`METHODS`], else `unknown`.
fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("unknown")
}

/// The gRPC code of a response as a label: from `grpc-status` when the response carries it in
/// its headers (errors are trailers-only), else `ok` (the status follows in the trailers of a
/// successful call).
fn code_name(headers: &http::HeaderMap) -> &'static str {
    match headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
    {
        Some(code) => code_label(tonic::Code::from_i32(code)),
        None => "ok",
    }
}

/// A gRPC code as a label.
pub(super) fn code_label(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Ok => "ok",
        tonic::Code::Cancelled => "cancelled",
        tonic::Code::Unknown => "unknown",
        tonic::Code::InvalidArgument => "invalid_argument",
        tonic::Code::DeadlineExceeded => "deadline_exceeded",
        tonic::Code::NotFound => "not_found",
        tonic::Code::AlreadyExists => "already_exists",
        tonic::Code::PermissionDenied => "permission_denied",
        tonic::Code::ResourceExhausted => "resource_exhausted",
        tonic::Code::FailedPrecondition => "failed_precondition",
        tonic::Code::Aborted => "aborted",
        tonic::Code::OutOfRange => "out_of_range",
        tonic::Code::Unimplemented => "unimplemented",
        tonic::Code::Internal => "internal",
        tonic::Code::Unavailable => "unavailable",
        tonic::Code::DataLoss => "data_loss",
        tonic::Code::Unauthenticated => "unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(
            service_and_method("/convotic.host.v1.Storage/Get"),
            ("storage", "Get")
        );
        assert_eq!(
            service_and_method("/convotic.host.v1.Evil/Get"),
            ("unknown", "unknown")
        );
        assert_eq!(service_and_method("/other/Get"), ("unknown", "unknown"));
        assert_eq!(
            service_and_method("/convotic.host.v1.Storage/x-1"),
            ("storage", "unknown")
        );
        assert_eq!(
            service_and_method("/convotic.host.v1.Storage/MadeUp"),
            ("storage", "unknown")
        );
        let mut headers = http::HeaderMap::new();
        assert_eq!(code_name(&headers), "ok");
        headers.insert("grpc-status", "5".parse().unwrap());
        assert_eq!(code_name(&headers), "not_found");
        headers.insert("grpc-status", "99".parse().unwrap());
        assert_eq!(code_name(&headers), "unknown");
    }
}
