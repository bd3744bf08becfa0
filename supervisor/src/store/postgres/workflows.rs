//! Workflow runs on PostgreSQL (see `store/workflows.rs`).
//!
//! A trigger is one `INSERT … ON CONFLICT DO NOTHING` on the unique (workspace, idempotency key)
//! index: of two supervisors triggering with the same key at once, exactly one inserts and the
//! other answers the winner's run, as through SQLite's single writer.

use serde_json::Value;

use super::util::{page_query, params, parse_json, signed, unsigned};
use super::{PgError, PgStore};
use crate::store::util::into_page;
use crate::store::workflows::{WorkflowRun, STATUS_QUEUED};
use crate::store::{Page, StoreError};

/// The columns of a run, then its next attempt's time and whether its workspace has a workflow
/// engine (for `waiting`).
const COLUMNS: &str = "id, workflow_id, payload, status, idempotency_key, module, created_at_ms, \
     updated_at_ms, attempts, accepted_at_ms, finished_at_ms, output, last_error, \
     dead_lettered_at_ms, request_id, next_attempt_at_ms, \
     EXISTS (SELECT 1 FROM delivery_targets t WHERE t.workspace_id = workflow_runs.workspace_id \
             AND t.purpose = 'workflows')";

/// How many times a trigger whose key's run vanished (its workspace was deleted) between the
/// insert and the read is tried again.
const TRIGGER_ATTEMPTS: u32 = 3;

/// A run from a row of [`COLUMNS`].
fn row_to_run(row: &tokio_postgres::Row) -> Result<WorkflowRun, PgError> {
    let mut run = WorkflowRun {
        id: row.get(0),
        workflow_id: row.get(1),
        payload: parse_json("workflow_runs.payload", row.get(2))?,
        status: row.get(3),
        idempotency_key: row.get::<_, Option<String>>(4).unwrap_or_default(),
        module: row.get(5),
        created_at_ms: unsigned(row.get(6)),
        updated_at_ms: unsigned(row.get(7)),
        attempts: u32::try_from(row.get::<_, i64>(8)).unwrap_or(u32::MAX),
        delivered_at_ms: row.get::<_, Option<i64>>(9).map(unsigned),
        finished_at_ms: row.get::<_, Option<i64>>(10).map(unsigned),
        output: match row.get::<_, Option<&str>>(11) {
            Some(text) => parse_json("workflow_runs.output", text)?,
            None => Value::Null,
        },
        error: row.get(12),
        dead_lettered_at_ms: row.get::<_, Option<i64>>(13).map(unsigned),
        request_id: row.get::<_, Option<String>>(14).unwrap_or_default(),
        waiting: None,
    };
    let next: i64 = row.get(15);
    let has_engine: bool = row.get(16);
    if run.status == STATUS_QUEUED {
        run.waiting = Some(if !has_engine {
            "no workflow engine is set: PUT /v1/workflow-engine".to_string()
        } else if run.attempts > 0 {
            format!(
                "attempt {} is due at {} ms",
                run.attempts + 1,
                unsigned(next)
            )
        } else {
            "due now".to_string()
        });
    }
    Ok(run)
}

impl PgStore {
    /// Queues validated run `run` (its payload's JSON text is `payload_text`) in `ws`; with an
    /// idempotency key already used in `ws`, returns the first run and queues nothing.
    pub(crate) async fn trigger_workflow(
        &self,
        ws: &str,
        run: &WorkflowRun,
        payload_text: &str,
    ) -> Result<WorkflowRun, StoreError> {
        let client = self.client().await?;
        let key = (!run.idempotency_key.is_empty()).then_some(run.idempotency_key.as_str());
        let request_id = (!run.request_id.is_empty()).then_some(run.request_id.as_str());
        let created = signed(run.created_at_ms);
        let insert = client
            .prepare_cached(&format!(
                "INSERT INTO workflow_runs (id, workspace_id, workflow_id, payload, status,
                    idempotency_key, module, created_at_ms, updated_at_ms, request_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
                 ON CONFLICT (workspace_id, idempotency_key) WHERE idempotency_key IS NOT NULL
                 DO NOTHING
                 RETURNING {COLUMNS}"
            ))
            .await
            .map_err(PgError::from)?;
        for _ in 0..TRIGGER_ATTEMPTS {
            let inserted = client
                .query_opt(
                    &insert,
                    &[
                        &run.id,
                        &ws,
                        &run.workflow_id,
                        &payload_text,
                        &run.status,
                        &key,
                        &run.module,
                        &created,
                        &request_id,
                    ],
                )
                .await
                .map_err(|e| {
                    let e = PgError::from(e);
                    if e.is_foreign_key_violation() {
                        StoreError::NotFound(format!("workspace {ws} not found"))
                    } else {
                        StoreError::from(e)
                    }
                })?;
            if let Some(row) = inserted {
                return Ok(row_to_run(&row)?);
            }
            // The key is taken: answer its run (committed: the insert waited for it).
            let first = client
                .query_opt(
                    &format!(
                        "SELECT {COLUMNS} FROM workflow_runs
                         WHERE workspace_id = $1 AND idempotency_key = $2"
                    ),
                    &[&ws, &key],
                )
                .await
                .map_err(PgError::from)?;
            if let Some(row) = first {
                return Ok(row_to_run(&row)?);
            }
        }
        Err(StoreError::Internal(format!(
            "the run of idempotency key {:?} keeps vanishing",
            run.idempotency_key
        )))
    }

    /// Run `id` of `ws`.
    pub(crate) async fn get_workflow_run(
        &self,
        ws: &str,
        id: &str,
    ) -> Result<WorkflowRun, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {COLUMNS} FROM workflow_runs WHERE workspace_id = $1 AND id = $2"),
                &[&ws, &id],
            )
            .await
            .map_err(PgError::from)?;
        match row {
            Some(row) => Ok(row_to_run(&row)?),
            None => Err(StoreError::NotFound(format!("workflow run {id} not found"))),
        }
    }

    /// One page of the runs of `ws` in creation (id) order; a non-empty `workflow_id` or
    /// `status` filters.
    pub(crate) async fn list_workflow_runs(
        &self,
        ws: &str,
        workflow_id: &str,
        status: &str,
        limit: usize,
        after: &str,
    ) -> Result<Page<WorkflowRun>, StoreError> {
        let client = self.client().await?;
        let (sql, values) = page_query(
            COLUMNS,
            "workflow_runs",
            ws,
            after,
            &[("workflow_id", workflow_id), ("status", status)],
            limit,
        );
        let statement = client.prepare_cached(&sql).await.map_err(PgError::from)?;
        let rows = client
            .query(&statement, &params(&values))
            .await
            .map_err(PgError::from)?;
        let items = rows.iter().map(row_to_run).collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(items, limit, |r| &r.id))
    }
}
