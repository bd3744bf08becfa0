//! Node invocation: pick the node version, validate the input against its schema, attach the
//! decrypted connection when the node needs one, call the module, and check its answer (the
//! output against the output schema, the branch against the declared ones).

use std::time::{Duration, Instant};

use convotic_proto::plugin::v1::{invocation, outcome, NodeInvocation};
use serde::Deserialize;
use serde_json::{json, Value};

use super::catalog::{node_branches, resolve_node};
use super::failure::{bad_answer, module_error, work_error};
use super::{parse_body, Answer, ApiError, CallInfo, Integrations};
use crate::protocol::InvokeOptions;

/// The expected request body, for error messages.
pub const INVOKE_SHAPE: &str = r#"{"input": <JSON>, "version"?: "1.0.0", "connection_id"?: "conn_...", "workflow_id"?: "...", "run_id"?: "...", "step_id"?: "...", "module"?: "..."}"#;

/// The body of `POST /v1/nodes/{type}/invoke` (and of a NATS invocation request).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvokeRequest {
    /// The node's input; absent means `null`.
    #[serde(default)]
    pub input: Value,
    /// Node version; default the newest.
    #[serde(default)]
    pub version: Option<String>,
    /// The module, when several define the same node type and version.
    #[serde(default)]
    pub module: Option<String>,
    /// Ids of the workflow run, passed to the handler.
    #[serde(default)]
    pub workflow_id: String,
    /// Run id.
    #[serde(default)]
    pub run_id: String,
    /// Step id.
    #[serde(default)]
    pub step_id: String,
    /// A connection of the node's `connection_block`.
    #[serde(default)]
    pub connection_id: Option<String>,
}

const MAX_ID: usize = 256;

impl Integrations {
    /// Invokes node `node_type` of `workspace` with the request in `body` (JSON).
    pub async fn invoke_node(
        &self,
        workspace: &str,
        node_type: &str,
        body: &[u8],
        call: &CallInfo,
    ) -> Result<Answer, ApiError> {
        let request: InvokeRequest = parse_body(body, INVOKE_SHAPE)?;
        for (field, value) in [
            ("workflow_id", &request.workflow_id),
            ("run_id", &request.run_id),
            ("step_id", &request.step_id),
        ] {
            if value.len() > MAX_ID {
                return Err(ApiError::bad_request(format!(
                    "{field}: at most {MAX_ID} bytes"
                )));
            }
        }
        let target = resolve_node(
            &self.supervisor,
            workspace,
            node_type,
            request.version.as_deref(),
            request.module.as_deref(),
        )?;
        let node = &target.node;
        let module = target.module.name().to_string();
        let label = format!("node {}@{}", node.r#type, node.version);
        let Some((input_schema, output_schema)) =
            target.module.schemas.node(&node.r#type, &node.version)
        else {
            return Err(bad_answer(
                &label,
                &module,
                "its schemas are unavailable".into(),
            ));
        };
        let problems = input_schema.check(&request.input, &[]);
        if !problems.is_empty() {
            return Err(ApiError::invalid("invalid_input", "the input", problems));
        }
        let connection = match (node.connection_block.as_str(), request.connection_id.as_deref()) {
            ("", None) => None,
            ("", Some(_)) => {
                return Err(ApiError::bad_request(format!(
                    "connection_id: {label} does not use a connection; remove it"
                )))
            }
            (block, None) => {
                return Err(ApiError::new(
                    warp::http::StatusCode::BAD_REQUEST,
                    "connection_required",
                    format!("{label} needs a connection of block {block:?}: pass \"connection_id\" (create one with POST /v1/blocks/{block}/connections)"),
                ))
            }
            (block, Some(id)) => Some(self.open_connection(workspace, block, id).await?),
        };
        let input_json = request.input.to_string().into_bytes();
        let timeout = if node.timeout_ms == 0 {
            super::DEFAULT_CALL_TIMEOUT
        } else {
            Duration::from_millis(u64::from(node.timeout_ms))
        };
        let options = InvokeOptions {
            timeout: Some(timeout),
            request_id: call.request_id.clone(),
            traceparent: call.traceparent.clone(),
            payload_bytes: input_json.len(),
            wait_for_credit: true,
        };
        let kind = invocation::Kind::Node(NodeInvocation {
            node_type: node.r#type.clone(),
            node_version: node.version.clone(),
            input_json,
            workflow_id: request.workflow_id,
            run_id: request.run_id,
            step_id: request.step_id,
            connection,
        });
        let started = Instant::now();
        let result = target.module.work.invoke(kind, options).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        let answer = match result {
            Ok(outcome::Result::Node(answer)) => answer,
            Ok(outcome::Result::Error(error)) => {
                return Err(module_error(&label, &module, error, "node_failed"))
            }
            Ok(_) => {
                return Err(bad_answer(
                    &label,
                    &module,
                    "a result of another kind".into(),
                ))
            }
            Err(error) => return Err(work_error(&label, &module, error)),
        };
        let output: Value = if answer.output_json.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&answer.output_json)
                .map_err(|e| bad_answer(&label, &module, format!("the output is not JSON: {e}")))?
        };
        let branches = node_branches(node);
        let branch = if answer.branch.is_empty() && branches.len() == 1 {
            branches[0].clone()
        } else {
            answer.branch
        };
        if !branches.contains(&branch) {
            return Err(bad_answer(
                &label,
                &module,
                format!(
                    "branch {branch:?} is not one of the node's branches ({})",
                    branches.join(", ")
                ),
            ));
        }
        let problems = output_schema.check(&output, &[]);
        if !problems.is_empty() {
            let mut error = ApiError::invalid("invalid_output", "the node's output", problems);
            error.status = warp::http::StatusCode::BAD_GATEWAY;
            error.message = format!("{label} (module {module}): {}", error.message);
            error.retryable = Some(false);
            tracing::warn!(module, "{}", error.message);
            return Err(error);
        }
        Ok(Answer::ok(json!({
            "output": output,
            "branch": branch,
            "node": {"type": node.r#type, "version": node.version, "module": module},
            "duration_ms": duration_ms,
        })))
    }
}
