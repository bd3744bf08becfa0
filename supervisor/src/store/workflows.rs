//! Workflow runs (`ctx.workflows.trigger`): each trigger queues a run; an idempotency key makes
//! a repeated trigger return the first run instead of starting another.

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::util::{
    check_len, check_required, decode_page_token, into_page, json_text, new_id, now_ms, page_query,
    page_size, parse_json, require_workspace, signed, unsigned, MAX_NAME, MAX_VALUE,
};
use super::{Page, Store, StoreError};

/// Status of a run that has not started.
pub const STATUS_QUEUED: &str = "queued";

/// A workflow run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowRun {
    /// `run_` + time-ordered suffix.
    pub id: String,
    /// The workflow, e.g. `wf_abc123`.
    pub workflow_id: String,
    /// The trigger's payload.
    pub payload: Value,
    /// `queued`, `running`, `succeeded` or `failed`.
    pub status: String,
    /// The trigger's idempotency key; empty for none.
    pub idempotency_key: String,
    /// The module that triggered it; empty when triggered through the HTTP API.
    pub module: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

/// A trigger.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewWorkflowRun {
    /// The workflow (required).
    pub workflow_id: String,
    /// Any JSON value.
    pub payload: Value,
    /// When non-empty, a second trigger with the same key in the workspace returns the first
    /// run.
    pub idempotency_key: String,
}

const COLUMNS: &str = "id, workflow_id, payload, status, idempotency_key, module, created_at_ms";

fn row_to_run(row: &rusqlite::Row<'_>) -> rusqlite::Result<WorkflowRun> {
    Ok(WorkflowRun {
        id: row.get(0)?,
        workflow_id: row.get(1)?,
        payload: parse_json("workflow_runs.payload", &row.get::<_, String>(2)?)?,
        status: row.get(3)?,
        idempotency_key: row.get::<_, Option<String>>(4)?.unwrap_or_default(),
        module: row.get(5)?,
        created_at_ms: unsigned(row.get(6)?),
    })
}

fn by_idempotency_key(
    conn: &Connection,
    ws: &str,
    key: &str,
) -> Result<Option<WorkflowRun>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM workflow_runs WHERE workspace_id = ?1 AND idempotency_key = ?2"
            ),
            [ws, key],
            row_to_run,
        )
        .optional()?)
}

impl Store {
    /// Queues a run of a workflow in `ws`, triggered by `module` (empty for the HTTP API). With
    /// an idempotency key already used in `ws`, returns the first run and queues nothing.
    pub async fn trigger_workflow(
        &self,
        ws: &str,
        module: &str,
        new: NewWorkflowRun,
    ) -> Result<WorkflowRun, StoreError> {
        check_required("workflow_id", &new.workflow_id, MAX_NAME)?;
        check_len("idempotency_key", &new.idempotency_key, MAX_NAME)?;
        let payload_text = json_text("payload", &new.payload, MAX_VALUE)?;
        let run = WorkflowRun {
            id: new_id("run_"),
            workflow_id: new.workflow_id,
            payload: new.payload,
            status: STATUS_QUEUED.into(),
            idempotency_key: new.idempotency_key,
            module: module.to_string(),
            created_at_ms: now_ms(),
        };
        let ws = ws.to_string();
        self.write(move |conn| {
            require_workspace(conn, &ws)?;
            if !run.idempotency_key.is_empty() {
                if let Some(first) = by_idempotency_key(conn, &ws, &run.idempotency_key)? {
                    return Ok(first);
                }
            }
            let key = (!run.idempotency_key.is_empty()).then_some(run.idempotency_key.as_str());
            conn.execute(
                "INSERT INTO workflow_runs (id, workspace_id, workflow_id, payload, status,
                    idempotency_key, module, created_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                rusqlite::params![
                    run.id,
                    ws,
                    run.workflow_id,
                    payload_text,
                    run.status,
                    key,
                    run.module,
                    signed(run.created_at_ms)
                ],
            )?;
            Ok(run)
        })
        .await
    }

    /// Run `id` of `ws`.
    pub async fn get_workflow_run(&self, ws: &str, id: &str) -> Result<WorkflowRun, StoreError> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.read(move |conn| {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM workflow_runs WHERE workspace_id = ?1 AND id = ?2"),
                [&ws, &id],
                row_to_run,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("workflow run {id} not found")))
        })
        .await
    }

    /// Runs of `ws` in creation order, oldest first; a non-empty `workflow_id` filters.
    pub async fn list_workflow_runs(
        &self,
        ws: &str,
        workflow_id: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<Page<WorkflowRun>, StoreError> {
        let limit = self::page_size(page_size)?;
        let after = decode_page_token(page_token)?.unwrap_or_default();
        let (ws, workflow_id) = (ws.to_string(), workflow_id.to_string());
        self.read(move |conn| {
            let (sql, params) = page_query(
                COLUMNS,
                "workflow_runs",
                &ws,
                &after,
                &[("workflow_id", &workflow_id)],
                limit,
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(params), row_to_run)?;
            let items = rows.collect::<Result<Vec<_>, _>>()?;
            Ok(into_page(items, limit, |r| &r.id))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::two_workspaces;
    use serde_json::json;

    fn trigger(workflow_id: &str, key: &str, n: i64) -> NewWorkflowRun {
        NewWorkflowRun {
            workflow_id: workflow_id.into(),
            payload: json!({"n": n}),
            idempotency_key: key.into(),
        }
    }

    #[tokio::test]
    async fn idempotent_trigger() {
        let (_dir, store) = two_workspaces().await;
        let first = store
            .trigger_workflow("ws_a", "m", trigger("wf_1", "order-42", 1))
            .await
            .unwrap();
        assert_eq!(first.status, "queued");
        let again = store
            .trigger_workflow("ws_a", "m", trigger("wf_1", "order-42", 2))
            .await
            .unwrap();
        assert_eq!(again, first);
        // The same key in another workspace is another run.
        let other = store
            .trigger_workflow("ws_b", "m", trigger("wf_1", "order-42", 3))
            .await
            .unwrap();
        assert_ne!(other.id, first.id);
        // No key: a new run each time.
        let a = store
            .trigger_workflow("ws_a", "m", trigger("wf_1", "", 4))
            .await
            .unwrap();
        let b = store
            .trigger_workflow("ws_a", "m", trigger("wf_2", "", 5))
            .await
            .unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(store.get_workflow_run("ws_a", &b.id).await.unwrap(), b);
        assert!(matches!(
            store.get_workflow_run("ws_b", &b.id).await,
            Err(StoreError::NotFound(_))
        ));
        let wf1 = store
            .list_workflow_runs("ws_a", "wf_1", 0, "")
            .await
            .unwrap();
        assert_eq!(wf1.items, vec![first, a]);
        assert!(matches!(
            store.trigger_workflow("ws_a", "m", trigger("", "", 0)).await,
            Err(StoreError::InvalidArgument(m)) if m.starts_with("workflow_id")
        ));
    }
}
