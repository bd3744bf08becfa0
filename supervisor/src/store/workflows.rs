//! Workflow runs (`ctx.workflows.trigger`, `POST /v1/workflows/{id}/runs`): each trigger queues
//! a run for the workspace's workflow engine; an idempotency key makes a repeated trigger return
//! the first run instead of starting another. The delivery loop hands it over (`queued` →
//! `sending` → `delivered`); the engine reports `running`, then `succeeded` or `failed`.

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
    /// `queued`, `sending`, `delivered`, `running`, `succeeded` or `failed`.
    pub status: String,
    /// The trigger's idempotency key; empty for none.
    pub idempotency_key: String,
    /// The module that triggered it; empty when triggered through the HTTP API.
    pub module: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// Milliseconds since the Unix epoch of the last status change.
    pub updated_at_ms: u64,
    /// Attempts to hand it to the engine.
    pub attempts: u32,
    /// When the engine accepted it.
    pub delivered_at_ms: Option<u64>,
    /// When it succeeded or failed.
    pub finished_at_ms: Option<u64>,
    /// The engine's output once it succeeded.
    pub output: Value,
    /// Why the last hand-over attempt failed, or the engine's error.
    pub error: Option<String>,
    /// When its hand-over failed for good (a dead letter: `POST .../redrive`).
    pub dead_lettered_at_ms: Option<u64>,
    /// The request that triggered it, when known.
    pub request_id: String,
    /// Why a queued run is waiting (no workflow engine set, a retry later).
    pub waiting: Option<String>,
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
    /// The request that triggered it (not part of the JSON body).
    #[serde(skip)]
    pub request_id: String,
}

const COLUMNS: &str = "id, workflow_id, payload, status, idempotency_key, module, created_at_ms, \
     updated_at_ms, attempts, accepted_at_ms, finished_at_ms, output, last_error, \
     dead_lettered_at_ms, request_id, next_attempt_at_ms, \
     EXISTS (SELECT 1 FROM delivery_targets t WHERE t.workspace_id = workflow_runs.workspace_id \
             AND t.purpose = 'workflows')";

fn row_to_run(row: &rusqlite::Row<'_>) -> rusqlite::Result<WorkflowRun> {
    Ok(WorkflowRun {
        id: row.get(0)?,
        workflow_id: row.get(1)?,
        payload: parse_json("workflow_runs.payload", &row.get::<_, String>(2)?)?,
        status: row.get(3)?,
        idempotency_key: row.get::<_, Option<String>>(4)?.unwrap_or_default(),
        module: row.get(5)?,
        created_at_ms: unsigned(row.get(6)?),
        updated_at_ms: unsigned(row.get(7)?),
        attempts: row.get(8)?,
        delivered_at_ms: row.get::<_, Option<i64>>(9)?.map(unsigned),
        finished_at_ms: row.get::<_, Option<i64>>(10)?.map(unsigned),
        output: match row.get::<_, Option<String>>(11)? {
            Some(text) => parse_json("workflow_runs.output", &text)?,
            None => Value::Null,
        },
        error: row.get(12)?,
        dead_lettered_at_ms: row.get::<_, Option<i64>>(13)?.map(unsigned),
        request_id: row.get::<_, Option<String>>(14)?.unwrap_or_default(),
        waiting: None,
    })
    .map(|mut run| {
        let next: i64 = row.get(15).unwrap_or(0);
        let has_engine: bool = row.get(16).unwrap_or(false);
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
        run
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
            updated_at_ms: 0,
            attempts: 0,
            delivered_at_ms: None,
            finished_at_ms: None,
            output: Value::Null,
            error: None,
            dead_lettered_at_ms: None,
            request_id: new.request_id,
            waiting: None,
        };
        let waker = self.outbox_waker();
        if let Some(pg) = self.pg() {
            let stored = pg.trigger_workflow(ws, &run, &payload_text).await?;
            waker.notify_waiters();
            return Ok(stored);
        }
        let ws = ws.to_string();
        let stored = self
            .write(move |conn| {
                require_workspace(conn, &ws)?;
                if !run.idempotency_key.is_empty() {
                    if let Some(first) = by_idempotency_key(conn, &ws, &run.idempotency_key)? {
                        return Ok(first);
                    }
                }
                let key = (!run.idempotency_key.is_empty()).then_some(run.idempotency_key.as_str());
                conn.execute(
                    "INSERT INTO workflow_runs (id, workspace_id, workflow_id, payload, status,
                    idempotency_key, module, created_at_ms, updated_at_ms, request_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
                    rusqlite::params![
                        run.id,
                        ws,
                        run.workflow_id,
                        payload_text,
                        run.status,
                        key,
                        run.module,
                        signed(run.created_at_ms),
                        (!run.request_id.is_empty()).then_some(run.request_id.as_str())
                    ],
                )?;
                Ok(conn.query_row(
                    &format!("SELECT {COLUMNS} FROM workflow_runs WHERE id = ?1"),
                    [&run.id],
                    row_to_run,
                )?)
            })
            .await?;
        waker.notify_waiters();
        Ok(stored)
    }

    /// Run `id` of `ws`.
    pub async fn get_workflow_run(&self, ws: &str, id: &str) -> Result<WorkflowRun, StoreError> {
        if let Some(pg) = self.pg() {
            return pg.get_workflow_run(ws, id).await;
        }
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

    /// Runs of `ws` in creation order, oldest first; a non-empty `workflow_id` or `status`
    /// filters.
    pub async fn list_workflow_runs(
        &self,
        ws: &str,
        workflow_id: &str,
        status: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<Page<WorkflowRun>, StoreError> {
        let limit = self::page_size(page_size)?;
        let after = decode_page_token(page_token)?.unwrap_or_default();
        if let Some(pg) = self.pg() {
            return pg
                .list_workflow_runs(ws, workflow_id, status, limit, &after)
                .await;
        }
        let (ws, workflow_id, status) =
            (ws.to_string(), workflow_id.to_string(), status.to_string());
        self.read(move |conn| {
            let (sql, params) = page_query(
                COLUMNS,
                "workflow_runs",
                &ws,
                &after,
                &[("workflow_id", &workflow_id), ("status", &status)],
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
            request_id: String::new(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_postgres_supervisors_racing_on_one_key_queue_one_run() {
        // A cluster shares PostgreSQL; a SQLite file has one supervisor (its single writer
        // serializes triggers within one process only), so this race is PostgreSQL's.
        let _postgres = crate::store::test_support::use_postgres();
        let (guard, store) = two_workspaces().await;
        let other = guard.open_again();
        for round in 0..10 {
            let key = format!("order-{round}");
            let racer = |store: &Store, n: i64| {
                let (store, key) = (store.clone(), key.clone());
                tokio::spawn(async move {
                    store
                        .trigger_workflow("ws_a", "m", trigger("wf_1", &key, n))
                        .await
                })
            };
            let (a, b) = tokio::join!(racer(&store, 1), racer(&other, 2));
            let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
            assert_eq!(a, b, "round {round}");
            // Each supervisor sees the one run.
            assert_eq!(other.get_workflow_run("ws_a", &a.id).await.unwrap(), a);
        }
        let runs = store
            .list_workflow_runs("ws_a", "wf_1", "", 0, "")
            .await
            .unwrap();
        assert_eq!(runs.items.len(), 10);
    }

    crate::store::test_support::both_backends! {
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
                .list_workflow_runs("ws_a", "wf_1", "", 0, "")
                .await
                .unwrap();
            assert_eq!(wf1.items, vec![first, a]);
            assert!(matches!(
                store.trigger_workflow("ws_a", "m", trigger("", "", 0)).await,
                Err(StoreError::InvalidArgument(m)) if m.starts_with("workflow_id")
            ));
        }

        #[tokio::test]
        async fn pages_filters_and_a_missing_workspace() {
            let (_dir, store) = two_workspaces().await;
            let mut ids = Vec::new();
            for n in 0..5 {
                let wf = if n % 2 == 0 { "wf_even" } else { "wf_odd" };
                ids.push(
                    store
                        .trigger_workflow("ws_a", "", trigger(wf, "", n))
                        .await
                        .unwrap()
                        .id,
                );
            }
            let mut seen = Vec::new();
            let mut token = String::new();
            loop {
                let page = store
                    .list_workflow_runs("ws_a", "", "queued", 2, &token)
                    .await
                    .unwrap();
                assert!(page.items.len() <= 2);
                seen.extend(page.items.into_iter().map(|r| r.id));
                match page.next_page_token {
                    Some(next) => token = next,
                    None => break,
                }
            }
            assert_eq!(seen, ids);
            let even = store
                .list_workflow_runs("ws_a", "wf_even", "", 0, "")
                .await
                .unwrap();
            assert_eq!(even.items.len(), 3);
            assert_eq!(even.next_page_token, None);
            assert_eq!(
                even.items[0].waiting.as_deref(),
                Some("no workflow engine is set: PUT /v1/workflow-engine")
            );
            assert_eq!(even.items[0].payload, json!({"n": 0}));
            assert!(store
                .list_workflow_runs("ws_a", "", "succeeded", 0, "")
                .await
                .unwrap()
                .items
                .is_empty());
            assert!(store
                .list_workflow_runs("ws_b", "", "", 0, "")
                .await
                .unwrap()
                .items
                .is_empty());
            assert!(matches!(
                store.trigger_workflow("ws_nope", "m", trigger("wf_1", "k", 0)).await,
                Err(StoreError::NotFound(m)) if m == "workspace ws_nope not found"
            ));
            assert!(matches!(
                store.trigger_workflow("ws_nope", "m", trigger("wf_1", "", 0)).await,
                Err(StoreError::NotFound(m)) if m == "workspace ws_nope not found"
            ));
            assert!(matches!(
                store.get_workflow_run("ws_a", "run_nope").await,
                Err(StoreError::NotFound(m)) if m == "workflow run run_nope not found"
            ));
        }
    }
}
