//! cron runs on PostgreSQL (see `store/cron_runs.rs`).
//!
//! Every call is one statement. A record is inserted whole; a run ends with one conditional
//! `UPDATE ... WHERE outcome = 'running' RETURNING`, so of two supervisors ending the same run
//! exactly one succeeds and the other sees the winner's outcome (`FailedPrecondition`), as with
//! SQLite's single writer.

use deadpool_postgres::GenericClient;

use super::util::{signed, unsigned};
use super::{PgError, PgStore};
use crate::store::util::{encode_page_token, now_ms};
use crate::store::{CronOutcome, CronRun, Page, StoreError, INTERRUPTED_MESSAGE};

const COLUMNS: &str = "id, workspace_id, module, cron, scheduled_at_ms, started_at_ms, \
                       finished_at_ms, outcome, message, manual, supervisor_id";

fn row_to_run(row: &tokio_postgres::Row) -> Result<CronRun, PgError> {
    let outcome: String = row.get(7);
    Ok(CronRun {
        id: row.get(0),
        workspace_id: row.get(1),
        module: row.get(2),
        cron: row.get(3),
        scheduled_at_ms: unsigned(row.get(4)),
        started_at_ms: row.get::<_, Option<i64>>(5).map(unsigned),
        finished_at_ms: row.get::<_, Option<i64>>(6).map(unsigned),
        outcome: outcome.parse().map_err(|e: String| {
            PgError::Store(StoreError::Internal(format!(
                "column cron_runs.outcome: {e}"
            )))
        })?,
        message: row.get(8),
        manual: row.get(9),
        supervisor_id: row.get(10),
    })
}

/// The page token after `run` in newest-first order: `<scheduled_at_ms>/<id>`, as the SQLite
/// store writes it (tokens are interchangeable between the backends).
fn position_token(run: &CronRun) -> String {
    encode_page_token(&format!("{}/{}", run.scheduled_at_ms, run.id))
}

/// Inserts a validated run record with `client` (a connection or a transaction); an unknown
/// workspace is `NotFound`.
async fn insert_run(client: &impl GenericClient, run: &CronRun) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(&format!(
            "INSERT INTO cron_runs ({COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .await
        .map_err(PgError::from)?;
    client
        .execute(
            &statement,
            &[
                &run.id,
                &run.workspace_id,
                &run.module,
                &run.cron,
                &signed(run.scheduled_at_ms),
                &run.started_at_ms.map(signed),
                &run.finished_at_ms.map(signed),
                &run.outcome.as_str(),
                &run.message,
                &run.manual,
                &run.supervisor_id,
            ],
        )
        .await
        .map_err(|e| {
            let e = PgError::from(e);
            if e.is_foreign_key_violation() {
                StoreError::NotFound(format!("workspace {} not found", run.workspace_id))
            } else {
                e.into()
            }
        })?;
    Ok(())
}

impl PgStore {
    /// Inserts a validated record (a run starting, or a tick that did not run); an unknown
    /// workspace is `NotFound`.
    pub(crate) async fn cron_run_insert(&self, run: CronRun) -> Result<CronRun, StoreError> {
        let client = self.client().await?;
        insert_run(&client, &run).await?;
        Ok(run)
    }

    /// Inserts `run` unless a run of its cron is `running` on one of `others`; the check and
    /// the insert hold a transaction-scoped advisory lock of that cron, so concurrent starts
    /// on several nodes are serialized.
    pub(crate) async fn cron_run_insert_unless_running(
        &self,
        run: CronRun,
        others: &[String],
    ) -> Result<Option<CronRun>, StoreError> {
        let mut client = self.client().await?;
        let lock = format!("cron-run:{}/{}/{}", run.workspace_id, run.module, run.cron);
        let tx = super::locked_transaction(&mut client, &lock).await?;
        let running: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM cron_runs
                 WHERE workspace_id = $1 AND module = $2 AND cron = $3 AND outcome = 'running'
                   AND supervisor_id = ANY($4::text[]))",
                &[&run.workspace_id, &run.module, &run.cron, &others],
            )
            .await
            .map_err(PgError::from)?
            .get(0);
        if running {
            return Ok(None);
        }
        insert_run(&tx, &run).await?;
        tx.commit().await.map_err(PgError::from)?;
        Ok(Some(run))
    }

    /// Ends run `id` with a validated final `outcome` and `message`, finished now.
    ///
    /// `NotFound` for an unknown id, `FailedPrecondition` when the run already ended.
    pub(crate) async fn cron_run_finish(
        &self,
        id: &str,
        outcome: CronOutcome,
        message: &str,
    ) -> Result<CronRun, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "UPDATE cron_runs SET outcome = $2, message = $3, finished_at_ms = $4
                 WHERE id = $1 AND outcome = 'running'
                 RETURNING {COLUMNS}"
            ))
            .await
            .map_err(PgError::from)?;
        let updated = client
            .query_opt(
                &statement,
                &[&id, &outcome.as_str(), &message, &signed(now_ms())],
            )
            .await
            .map_err(PgError::from)?;
        if let Some(row) = updated {
            return Ok(row_to_run(&row)?);
        }
        // Not running (any more): a run never becomes `running` again, so a fresh read tells
        // which outcome won.
        let current = client
            .query_opt(
                &format!("SELECT {COLUMNS} FROM cron_runs WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(PgError::from)?
            .ok_or_else(|| StoreError::NotFound(format!("cron run {id} not found")))?;
        let run = row_to_run(&current)?;
        Err(StoreError::FailedPrecondition(format!(
            "cron run {id} already ended ({})",
            run.outcome
        )))
    }

    /// One page of the history of a cron, newest first (by tick, then by id), strictly before
    /// position `before` (`None`: from the newest).
    pub(crate) async fn cron_runs(
        &self,
        ws: &str,
        module: &str,
        cron: &str,
        limit: usize,
        before: Option<(i64, String)>,
    ) -> Result<Page<CronRun>, StoreError> {
        // Without a token, start above every position (as the SQLite store does).
        let (ms, id) = before.unwrap_or((i64::MAX, "\u{10FFFF}".to_string()));
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM cron_runs
                 WHERE workspace_id = $1 AND module = $2 AND cron = $3
                   AND (scheduled_at_ms < $4 OR (scheduled_at_ms = $4 AND id < $5))
                 ORDER BY scheduled_at_ms DESC, id DESC
                 LIMIT $6"
            ))
            .await
            .map_err(PgError::from)?;
        let rows = client
            .query(
                &statement,
                &[&ws, &module, &cron, &ms, &id, &((limit + 1) as i64)],
            )
            .await
            .map_err(PgError::from)?;
        let mut items = rows.iter().map(row_to_run).collect::<Result<Vec<_>, _>>()?;
        let next_page_token = if items.len() > limit {
            items.truncate(limit);
            items.last().map(position_token)
        } else {
            None
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// The latest tick recorded for a cron (manual runs do not count).
    pub(crate) async fn cron_last_scheduled(
        &self,
        ws: &str,
        module: &str,
        cron: &str,
    ) -> Result<Option<u64>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT MAX(scheduled_at_ms) FROM cron_runs
                 WHERE workspace_id = $1 AND module = $2 AND cron = $3 AND NOT manual",
            )
            .await
            .map_err(PgError::from)?;
        let row = client
            .query_one(&statement, &[&ws, &module, &cron])
            .await
            .map_err(PgError::from)?;
        Ok(row.get::<_, Option<i64>>(0).map(unsigned))
    }

    /// Marks the runs of `module` in `ws` still `running` as `failed`, finished now; how many.
    pub(crate) async fn cron_runs_mark_interrupted(
        &self,
        ws: &str,
        module: &str,
        live: &[String],
    ) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE cron_runs SET outcome = 'failed', message = $3, finished_at_ms = $4
                 WHERE workspace_id = $1 AND module = $2 AND outcome = 'running'
                   AND supervisor_id <> ALL($5::text[])",
                &[&ws, &module, &INTERRUPTED_MESSAGE, &signed(now_ms()), &live],
            )
            .await
            .map_err(PgError::from)?;
        Ok(n as usize)
    }

    /// Whether a run of the cron is `running` on one of the supervisors `others`.
    pub(crate) async fn cron_running_on(
        &self,
        ws: &str,
        module: &str,
        cron: &str,
        others: &[String],
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM cron_runs
                 WHERE workspace_id = $1 AND module = $2 AND cron = $3 AND outcome = 'running'
                   AND supervisor_id = ANY($4::text[]))",
                &[&ws, &module, &cron, &others],
            )
            .await
            .map_err(PgError::from)?;
        Ok(row.get(0))
    }

    /// Retention: deletes the ended records of every cron beyond its newest `keep` (0: no
    /// limit) and those whose tick is before `cutoff` (when `by_age`); how many.
    pub(crate) async fn cron_runs_prune(
        &self,
        keep: i64,
        by_age: bool,
        cutoff: i64,
    ) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let mut deleted = 0;
        if by_age {
            deleted += client
                .execute(
                    "DELETE FROM cron_runs WHERE outcome <> 'running' AND scheduled_at_ms < $1",
                    &[&cutoff],
                )
                .await
                .map_err(PgError::from)?;
        }
        if keep > 0 {
            deleted += client
                .execute(
                    "DELETE FROM cron_runs WHERE outcome <> 'running' AND id IN (
                        SELECT id FROM (
                            SELECT id, ROW_NUMBER() OVER (
                                PARTITION BY workspace_id, module, cron
                                ORDER BY scheduled_at_ms DESC, id DESC
                            ) AS newest
                            FROM cron_runs
                        ) AS ranked WHERE newest > $1
                    )",
                    &[&keep],
                )
                .await
                .map_err(PgError::from)?;
        }
        Ok(deleted as usize)
    }
}
