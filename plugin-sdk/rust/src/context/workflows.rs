//! `ctx.workflows()`: triggering workflows and reading their runs back.

use convotic_proto::host::v1 as pb;
use pb::workflows_client::WorkflowsClient;
use serde_json::Value;

use super::host::MAX_MESSAGE_BYTES;
use super::{decode_json, encode_json, optional, Context};
use crate::error::HostError;

/// A workflow run, as a trigger started it or [`Workflows::get`] reads it back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkflowRun {
    /// Run id.
    pub id: String,
    /// The workflow.
    pub workflow_id: String,
    /// The payload it was triggered with.
    pub payload: Value,
    /// `queued` (waiting to be handed to the workspace's workflow engine), `sending`,
    /// `delivered` (the engine accepted it), `running`, `succeeded` or `failed`.
    pub status: String,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: u64,
    /// The engine's output once the run succeeded, `Value::Null` otherwise.
    pub output: Value,
    /// The engine's error once the run failed, or why handing it over failed; empty when
    /// there is none.
    pub error: String,
}

impl WorkflowRun {
    fn from_proto(call: &'static str, run: pb::WorkflowRun) -> Result<Self, HostError> {
        Ok(WorkflowRun {
            payload: decode_json(call, &run.payload_json)?,
            output: decode_json(call, &run.output_json)?,
            id: run.id,
            workflow_id: run.workflow_id,
            status: run.status,
            created_at_ms: run.created_at_ms,
            error: run.error,
        })
    }
}

fn client(channel: super::HostChannel) -> WorkflowsClient<super::HostChannel> {
    WorkflowsClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES)
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
                client(ch).trigger(req).await
            })
            .await?;
        WorkflowRun::from_proto(CALL, run)
    }

    /// The run of the workspace with this id, with its current status (and output or error
    /// once it finished), or `None` when there is no such run.
    pub async fn get(&self, id: &str) -> Result<Option<WorkflowRun>, HostError> {
        const CALL: &str = "workflows.get";
        let request = pb::GetWorkflowRunRequest { id: id.to_string() };
        let found = optional(
            self.ctx
                .call(
                    CALL,
                    request,
                    |ch, req| async move { client(ch).get(req).await },
                )
                .await,
        )?;
        found
            .map(|run| WorkflowRun::from_proto(CALL, run))
            .transpose()
    }
}
