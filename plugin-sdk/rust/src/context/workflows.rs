//! `ctx.workflows()`: triggering workflows.

use convotic_proto::host::v1 as pb;
use pb::workflows_client::WorkflowsClient;
use serde_json::Value;

use super::host::MAX_MESSAGE_BYTES;
use super::{decode_json, encode_json, Context};
use crate::error::HostError;

/// A workflow run started by a trigger.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkflowRun {
    /// Run id.
    pub id: String,
    /// The workflow.
    pub workflow_id: String,
    /// The payload it was triggered with.
    pub payload: Value,
    /// `queued`, `running`, `succeeded` or `failed`.
    pub status: String,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: u64,
}

/// Client of the Workflows service; see [`Context::workflows`].
#[derive(Debug, Clone)]
pub struct Workflows {
    ctx: Context,
}

impl Workflows {
    pub(crate) fn new(ctx: Context) -> Self {
        Workflows { ctx }
    }

    /// Triggers a workflow with a JSON payload.
    pub async fn trigger(
        &self,
        workflow_id: &str,
        payload: impl serde::Serialize,
    ) -> Result<WorkflowRun, HostError> {
        self.trigger_idempotent(workflow_id, payload, "").await
    }

    /// Triggers a workflow at most once per `idempotency_key`: a second trigger with the same
    /// key returns the first run.
    pub async fn trigger_idempotent(
        &self,
        workflow_id: &str,
        payload: impl serde::Serialize,
        idempotency_key: &str,
    ) -> Result<WorkflowRun, HostError> {
        const CALL: &str = "workflows.trigger";
        let request = pb::TriggerWorkflowRequest {
            workflow_id: workflow_id.to_string(),
            payload_json: encode_json(CALL, payload)?,
            idempotency_key: idempotency_key.to_string(),
        };
        let run = self
            .ctx
            .call(CALL, request, |ch, req| async move {
                WorkflowsClient::new(ch)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES)
                    .trigger(req)
                    .await
            })
            .await?;
        Ok(WorkflowRun {
            payload: decode_json(CALL, &run.payload_json)?,
            id: run.id,
            workflow_id: run.workflow_id,
            status: run.status,
            created_at_ms: run.created_at_ms,
        })
    }
}
