//! `convotic.host.v1.Workflows`: trigger workflow runs in the caller's workspace and read
//! their status back.

use convotic_proto::host::v1 as pb;
use convotic_proto::host::v1::workflows_server::Workflows;
use tonic::{Request, Response, Status};

use super::scope::{optional_json_bytes, parse_json, Scope};
use crate::store::{NewWorkflowRun, WorkflowRun};

const FIELDS: &[(&str, &str)] = &[("payload", "payload_json")];

/// The Workflows service of one instance.
pub struct HostWorkflows {
    scope: Scope,
}

impl HostWorkflows {
    /// Runs in `scope`'s workspace, triggered as `scope`'s module.
    pub fn new(scope: Scope) -> Self {
        Self { scope }
    }
}

#[tonic::async_trait]
impl Workflows for HostWorkflows {
    async fn trigger(
        &self,
        request: Request<pb::TriggerWorkflowRequest>,
    ) -> Result<Response<pb::WorkflowRun>, Status> {
        let request_id = request
            .metadata()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(128).collect())
            .unwrap_or_default();
        let r = request.into_inner();
        let new = NewWorkflowRun {
            payload: parse_json("payload_json", &r.payload_json)?,
            workflow_id: r.workflow_id,
            idempotency_key: r.idempotency_key,
            request_id,
        };
        let s = &self.scope;
        let run = s
            .store
            .trigger_workflow(s.workspace(), s.module(), new)
            .await
            .map_err(|e| s.status(e, FIELDS))?;
        Ok(Response::new(to_proto(run)))
    }

    async fn get(
        &self,
        request: Request<pb::GetWorkflowRunRequest>,
    ) -> Result<Response<pb::WorkflowRun>, Status> {
        let id = request.into_inner().id;
        let s = &self.scope;
        s.store
            .get_workflow_run(s.workspace(), &id)
            .await
            .map(|run| Response::new(to_proto(run)))
            .map_err(|e| s.status(e, FIELDS))
    }
}

fn to_proto(run: WorkflowRun) -> pb::WorkflowRun {
    pb::WorkflowRun {
        payload_json: optional_json_bytes(&run.payload),
        output_json: optional_json_bytes(&run.output),
        id: run.id,
        workflow_id: run.workflow_id,
        status: run.status,
        created_at_ms: run.created_at_ms,
        error: run.error.unwrap_or_default(),
    }
}
