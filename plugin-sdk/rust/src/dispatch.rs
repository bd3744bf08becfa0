//! Runs one invocation: finds the registered handler, converts the request, runs the handler
//! and converts its result (or error) into an `Outcome` result.

use std::sync::Arc;

use convotic_proto::plugin::v1 as pb;
use pb::invocation::Kind;
use pb::outcome::Result as OutcomeResult;
use tokio::time::Instant;

use crate::context::host::Host;
use crate::context::{Context, Identity};
use crate::error::{HandlerError, HandlerErrorKind};
use crate::middleware::Next;
use crate::registry::Registry;
use crate::types::{
    json_bytes, ActionCall, Connection, CronTick, NodeInvocation, RouteRequest, WorkerMessage,
};

/// An `Outcome` error result.
pub(crate) fn error(
    code: pb::ErrorCode,
    message: impl Into<String>,
    retryable: bool,
) -> OutcomeResult {
    OutcomeResult::Error(pb::Error {
        code: code as i32,
        message: message.into(),
        retryable,
        details_json: Vec::new(),
    })
}

/// The `Outcome` error result of a handler error.
fn handler_error(err: HandlerError) -> OutcomeResult {
    let code = match err.kind() {
        HandlerErrorKind::BadInput => pb::ErrorCode::BadInput,
        HandlerErrorKind::Handler | HandlerErrorKind::Discard => pb::ErrorCode::Handler,
    };
    OutcomeResult::Error(pb::Error {
        code: code as i32,
        message: err.message().to_string(),
        retryable: err.is_retryable(),
        details_json: err.details().map(details_json).unwrap_or_default(),
    })
}

/// `details_json` must be a JSON object: any other value is wrapped as `{"details": value}`.
fn details_json(details: &serde_json::Value) -> Vec<u8> {
    if details.is_object() || details.is_null() {
        json_bytes(details)
    } else {
        json_bytes(&serde_json::json!({ "details": details }))
    }
}

fn not_found(what: String) -> OutcomeResult {
    error(pb::ErrorCode::NotFound, what, false)
}

fn no_handler(what: String) -> OutcomeResult {
    error(
        pb::ErrorCode::Internal,
        format!("{what} was registered without a handler"),
        false,
    )
}

/// Finds and runs handlers.
pub(crate) struct Dispatcher {
    registry: Registry,
    host: Host,
    identity: Identity,
}

impl Dispatcher {
    pub(crate) fn new(registry: Registry, host: Host, identity: Identity) -> Arc<Self> {
        Arc::new(Dispatcher {
            registry,
            host,
            identity,
        })
    }

    /// The host connection the handlers' contexts use.
    pub(crate) fn host(&self) -> &Host {
        &self.host
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    fn context(
        &self,
        workspace: Option<String>,
        request_id: &str,
        deadline: Option<Instant>,
    ) -> Context {
        Context::new(
            self.host.clone(),
            &self.identity,
            workspace,
            request_id.to_string(),
            deadline,
        )
    }

    /// Runs the invocation's handler to completion (deadline and cancellation are the
    /// caller's business) and returns the outcome.
    pub(crate) async fn run(
        &self,
        kind: Option<Kind>,
        request_id: String,
        deadline: Option<Instant>,
    ) -> OutcomeResult {
        match kind {
            Some(Kind::Route(req)) => self.route(req, request_id, deadline).await,
            Some(Kind::Message(msg)) => self.worker(msg, request_id, deadline).await,
            Some(Kind::Node(inv)) => self.node(inv, request_id, deadline).await,
            Some(Kind::BlockTest(test)) => self.block_test(test, request_id, deadline).await,
            Some(Kind::BlockAction(call)) => self.block_action(call, request_id, deadline).await,
            Some(Kind::Cron(tick)) => self.cron(tick, request_id, deadline).await,
            None => not_found("invocation of an unknown kind (newer protocol?)".to_string()),
        }
    }

    async fn route(
        &self,
        req: pb::RouteRequest,
        request_id: String,
        deadline: Option<Instant>,
    ) -> OutcomeResult {
        let Some((route, matched)) = self.registry.route(&req.method, &req.route, &req.path) else {
            let pattern = if req.route.is_empty() {
                &req.path
            } else {
                &req.route
            };
            return not_found(format!("no route registered for {} {pattern}", req.method));
        };
        let Some(handler) = route.handler.clone() else {
            return no_handler(format!("route {}", route.label()));
        };
        let chain = route.middleware.clone().into();
        let ctx = self.context(Some(req.workspace.clone()), &request_id, deadline);
        let mut request = match RouteRequest::from_proto(req, request_id) {
            Ok(request) => request,
            Err(err) => return handler_error(err),
        };
        if request.route.is_empty() {
            request.route = route.path.clone();
            request.params.extend(matched);
        }
        match Next::new(chain, handler).run(request, ctx).await {
            Ok(response) => OutcomeResult::Route(response.into_proto()),
            Err(err) => handler_error(err),
        }
    }

    async fn worker(
        &self,
        msg: pb::WorkerMessage,
        request_id: String,
        deadline: Option<Instant>,
    ) -> OutcomeResult {
        let Some(worker) = self.registry.worker(&msg.handler, &msg.topic) else {
            return not_found(format!(
                "no worker registered for handler {:?} / topic {:?}",
                msg.handler, msg.topic
            ));
        };
        let Some(handler) = worker.handler.clone() else {
            return no_handler(format!("worker {}", worker.effective_name()));
        };
        let (disposition, reason, retry_after) = match WorkerMessage::from_proto(msg) {
            Err(err) => (pb::Disposition::Discard, err.message().to_string(), None),
            Ok(message) => {
                let ctx = self.context(None, &request_id, deadline);
                match handler(message, ctx).await {
                    Ok(()) => (pb::Disposition::Ack, String::new(), None),
                    Err(err) => match err.kind() {
                        HandlerErrorKind::Discard | HandlerErrorKind::BadInput => {
                            (pb::Disposition::Discard, err.message().to_string(), None)
                        }
                        HandlerErrorKind::Handler => (
                            pb::Disposition::Retry,
                            err.message().to_string(),
                            err.retry_delay(),
                        ),
                    },
                }
            }
        };
        OutcomeResult::Message(pb::WorkerResult {
            disposition: disposition as i32,
            reason,
            retry_after_ms: crate::registry::millis(retry_after),
        })
    }

    async fn node(
        &self,
        inv: pb::NodeInvocation,
        request_id: String,
        deadline: Option<Instant>,
    ) -> OutcomeResult {
        let Some(node) = self.registry.node(&inv.node_type, &inv.node_version) else {
            return not_found(format!(
                "no node registered for type {:?} version {:?}",
                inv.node_type, inv.node_version
            ));
        };
        let Some(handler) = node.handler.clone() else {
            return no_handler(format!("node {} {}", node.node_type, node.version));
        };
        let invocation = match NodeInvocation::from_proto(inv) {
            Ok(invocation) => invocation,
            Err(err) => return handler_error(err),
        };
        let ctx = self.context(None, &request_id, deadline);
        match handler(invocation, ctx).await {
            Ok(output) => OutcomeResult::Node(pb::NodeResult {
                output_json: json_bytes(&output.output),
                branch: output.branch,
            }),
            Err(err) => handler_error(err),
        }
    }

    async fn block_test(
        &self,
        test: pb::BlockTestConnection,
        request_id: String,
        deadline: Option<Instant>,
    ) -> OutcomeResult {
        let Some(block) = self.registry.block(&test.block_id) else {
            return not_found(format!("no block registered with id {:?}", test.block_id));
        };
        let Some(handler) = block.test.clone() else {
            return not_found(format!(
                "block {:?} has no test_connection handler",
                block.id
            ));
        };
        let mut connection = match Connection::from_proto(test.connection) {
            Ok(connection) => connection,
            Err(err) => return handler_error(err),
        };
        if connection.block_id.is_empty() {
            connection.block_id = test.block_id;
        }
        let ctx = self.context(None, &request_id, deadline);
        match handler(connection, ctx).await {
            Ok(result) => OutcomeResult::BlockTest(pb::BlockTestResult {
                ok: result.ok,
                message: result.message,
                account_label: result.account_label,
            }),
            Err(err) => handler_error(err),
        }
    }

    async fn block_action(
        &self,
        call: pb::BlockActionCall,
        request_id: String,
        deadline: Option<Instant>,
    ) -> OutcomeResult {
        let Some(block) = self.registry.block(&call.block_id) else {
            return not_found(format!("no block registered with id {:?}", call.block_id));
        };
        let Some(action) = block.actions.iter().find(|a| a.name == call.action) else {
            return not_found(format!(
                "block {:?} has no action {:?}",
                call.block_id, call.action
            ));
        };
        let Some(handler) = action.handler.clone() else {
            return no_handler(format!("action {} of block {}", action.name, block.id));
        };
        let action_call = match ActionCall::from_proto(call) {
            Ok(action_call) => action_call,
            Err(err) => return handler_error(err),
        };
        let ctx = self.context(None, &request_id, deadline);
        match handler(action_call, ctx).await {
            Ok(output) => OutcomeResult::BlockAction(pb::BlockActionResult {
                output_json: json_bytes(&output),
            }),
            Err(err) => handler_error(err),
        }
    }

    async fn cron(
        &self,
        tick: pb::CronTick,
        request_id: String,
        deadline: Option<Instant>,
    ) -> OutcomeResult {
        let Some(cron) = self.registry.cron(&tick.cron) else {
            return not_found(format!("no cron registered with name {:?}", tick.cron));
        };
        let Some(handler) = cron.handler.clone() else {
            return no_handler(format!("cron {}", cron.name));
        };
        let ctx = self.context(None, &request_id, deadline);
        match handler(CronTick::from(tick), ctx).await {
            Ok(report) => OutcomeResult::Cron(pb::CronResult {
                message: report.message,
            }),
            Err(err) => handler_error(err),
        }
    }
}
