//! Node invocation: pick the node version, validate the input against its schema, attach the
//! decrypted connection when the node needs one, call the module, and check its answer (the
//! output against the output schema, the branch against the declared ones).

use std::time::Instant;

use convotic_proto::plugin::v1::{invocation, outcome, NodeInvocation};
use serde::Deserialize;
use serde_json::{json, Value};

use super::catalog::{node_branches, resolve_node};
use super::failure::{bad_answer, Callee};
use super::schema::CheckInput;
use super::{parse_body, Answer, ApiError, CallInfo, Integrations};

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
            target.module.schemas().node(&node.r#type, &node.version)
        else {
            return Err(bad_answer(
                &label,
                &module,
                "its schemas are unavailable".into(),
            ));
        };
        input_schema.check_input(&request.input)?;
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
        let options = call.options(node.timeout_ms, input_json.len());
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
        let result = target
            .module
            .handle
            .invoke(&target.module.work, kind, options)
            .await;
        let handle = &target.module.handle;
        crate::metrics::global().node_invoked(
            [&handle.workspace, &handle.name, &node.r#type],
            super::outcome_label(&result),
            started.elapsed(),
        );
        let duration_ms = started.elapsed().as_millis() as u64;
        let callee = Callee {
            label: &label,
            module: &module,
            point: crate::outcomes::Point::Node,
        };
        let answer = callee.expect(result, |r| match r {
            outcome::Result::Node(answer) => Some(answer),
            _ => None,
        })?;
        let branches = node_branches(node);
        let branch = if answer.branch.is_empty() && branches.len() == 1 {
            branches[0].clone()
        } else {
            answer.branch
        };
        let output = callee.output(&answer.output_json, output_schema)?;
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
        Ok(Answer::ok(json!({
            "output": output,
            "branch": branch,
            "node": {"type": node.r#type, "version": node.version, "module": module},
            "duration_ms": duration_ms,
        })))
    }
}
