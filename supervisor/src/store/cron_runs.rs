//! Run history of crons: one record per tick (run, skipped or missed) and per manual run,
//! scoped to (workspace, module, cron), with retention.
//!
//! A run is recorded `running` when it starts ([`Store::cron_run_start`]) and gets its final
//! outcome when it ends ([`Store::cron_run_finish`]). A tick that does not start (skipped by the
//! overlap policy, missed while the supervisor was down) is recorded in one step
//! ([`Store::cron_run_record`]), without start or finish time. Runs still `running` when the
//! supervisor starts again were cut short: [`Store::cron_runs_mark_interrupted`] makes them
//! `failed`.

use std::fmt;
use std::str::FromStr;

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::util::{
    check_required, decode_page_token, encode_page_token, new_id, now_ms, page_size,
    require_workspace, signed, truncate_utf8, unsigned, MAX_NAME, MAX_TEXT,
};
use super::{Page, Store, StoreError};

/// The message of runs found `running` at start-up.
pub const INTERRUPTED_MESSAGE: &str = "the supervisor stopped during the run";

/// How a run or tick ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CronOutcome {
    /// Started and not finished yet.
    Running,
    /// The module's handler succeeded.
    Ok,
    /// The module's handler returned an error.
    Error,
    /// The run passed its deadline.
    Timeout,
    /// The tick came while the previous run was still running (overlap policy `skip`).
    Skipped,
    /// The tick passed while the supervisor was down.
    Missed,
    /// The run could not start or complete for another reason (module not ready, supervisor
    /// stopped during the run).
    Failed,
}

impl CronOutcome {
    /// Every outcome.
    pub const ALL: [CronOutcome; 7] = [
        CronOutcome::Running,
        CronOutcome::Ok,
        CronOutcome::Error,
        CronOutcome::Timeout,
        CronOutcome::Skipped,
        CronOutcome::Missed,
        CronOutcome::Failed,
    ];

    /// The lower-case name stored and serialized (`running`, `ok`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            CronOutcome::Running => "running",
            CronOutcome::Ok => "ok",
            CronOutcome::Error => "error",
            CronOutcome::Timeout => "timeout",
            CronOutcome::Skipped => "skipped",
            CronOutcome::Missed => "missed",
            CronOutcome::Failed => "failed",
        }
    }
}

impl fmt::Display for CronOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CronOutcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CronOutcome::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == s)
            .ok_or_else(|| format!("unknown cron run outcome {s:?}"))
    }
}

/// One record of a cron's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CronRun {
    /// `run_` + time-ordered suffix.
    pub id: String,
    /// The workspace of the module.
    pub workspace_id: String,
    /// The module that registered the cron.
    pub module: String,
    /// The cron's name in the module.
    pub cron: String,
    /// The tick this record is for (milliseconds since the Unix epoch); for a manual run, when
    /// it was asked for.
    pub scheduled_at_ms: u64,
    /// When the run started; `None` for a tick that did not run (skipped, missed).
    pub started_at_ms: Option<u64>,
    /// When the run ended; `None` while running and for a tick that did not run.
    pub finished_at_ms: Option<u64>,
    /// `running`, `ok`, `error`, `timeout`, `skipped`, `missed` or `failed`.
    pub outcome: CronOutcome,
    /// Why it failed, was skipped or missed; empty when there is nothing to say.
    pub message: String,
    /// Started by "run now" rather than by the schedule.
    pub manual: bool,
    /// The supervisor that ran or recorded it.
    pub supervisor_id: String,
}

const COLUMNS: &str = "id, workspace_id, module, cron, scheduled_at_ms, started_at_ms, \
                       finished_at_ms, outcome, message, manual, supervisor_id";

fn row_to_run(row: &rusqlite::Row<'_>) -> rusqlite::Result<CronRun> {
    let outcome: String = row.get(7)?;
    Ok(CronRun {
        id: row.get(0)?,
        workspace_id: row.get(1)?,
        module: row.get(2)?,
        cron: row.get(3)?,
        scheduled_at_ms: unsigned(row.get(4)?),
        started_at_ms: row.get::<_, Option<i64>>(5)?.map(unsigned),
        finished_at_ms: row.get::<_, Option<i64>>(6)?.map(unsigned),
        outcome: outcome.parse().map_err(|e: String| {
            rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, e.into())
        })?,
        message: row.get(8)?,
        manual: row.get(9)?,
        supervisor_id: row.get(10)?,
    })
}

/// Checks the (workspace, module, cron) a record belongs to.
fn check_scope(ws: &str, module: &str, cron: &str) -> Result<(), StoreError> {
    check_required("workspace_id", ws, MAX_NAME)?;
    check_required("module", module, MAX_NAME)?;
    check_required("cron", cron, MAX_NAME)
}

/// `message` cut to [`MAX_TEXT`] bytes (on a character boundary): a long error never loses the
/// record.
fn clip(message: &str) -> String {
    truncate_utf8(message, MAX_TEXT)
}

fn insert(conn: &Connection, run: &CronRun) -> Result<(), StoreError> {
    require_workspace(conn, &run.workspace_id)?;
    conn.execute(
        &format!("INSERT INTO cron_runs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
        rusqlite::params![
            run.id,
            run.workspace_id,
            run.module,
            run.cron,
            signed(run.scheduled_at_ms),
            run.started_at_ms.map(signed),
            run.finished_at_ms.map(signed),
            run.outcome.as_str(),
            run.message,
            run.manual,
            run.supervisor_id,
        ],
    )?;
    Ok(())
}

fn by_id(conn: &Connection, id: &str) -> Result<Option<CronRun>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM cron_runs WHERE id = ?1"),
            [id],
            row_to_run,
        )
        .optional()?)
}

/// The position after a record in newest-first order: `<scheduled_at_ms>/<id>`.
fn position(run: &CronRun) -> String {
    format!("{}/{}", run.scheduled_at_ms, run.id)
}

fn decode_position(token: &str) -> Result<Option<(i64, String)>, StoreError> {
    let Some(text) = decode_page_token(token)? else {
        return Ok(None);
    };
    text.split_once('/')
        .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id.to_string())))
        .map(Some)
        .ok_or_else(|| {
            StoreError::InvalidArgument(
                "page_token: not a next_page_token from a previous page".into(),
            )
        })
}

/// A new `running` record of a run starting now.
fn running_run(
    ws: &str,
    module: &str,
    cron: &str,
    scheduled_at_ms: u64,
    manual: bool,
    supervisor_id: &str,
) -> CronRun {
    CronRun {
        id: new_id("run_"),
        workspace_id: ws.to_string(),
        module: module.to_string(),
        cron: cron.to_string(),
        scheduled_at_ms,
        started_at_ms: Some(now_ms()),
        finished_at_ms: None,
        outcome: CronOutcome::Running,
        message: String::new(),
        manual,
        supervisor_id: clip_name(supervisor_id),
    }
}

impl Store {
    /// Records the start of a run of cron `cron` of `module` in `ws`, for the tick at
    /// `scheduled_at_ms` (for a manual run, when it was asked for): outcome `running`, started
    /// now, by supervisor `supervisor_id`.
    pub async fn cron_run_start(
        &self,
        ws: &str,
        module: &str,
        cron: &str,
        scheduled_at_ms: u64,
        manual: bool,
        supervisor_id: &str,
    ) -> Result<CronRun, StoreError> {
        check_scope(ws, module, cron)?;
        let run = running_run(ws, module, cron, scheduled_at_ms, manual, supervisor_id);
        if let Some(pg) = self.pg() {
            return pg.cron_run_insert(run).await;
        }
        self.write(move |conn| {
            insert(conn, &run)?;
            Ok(run)
        })
        .await
    }

    /// Like [`Store::cron_run_start`], unless a run of the cron is `running` on one of the
    /// supervisors `others` (live nodes of the cluster): then `None`. On PostgreSQL the check
    /// and the insert hold a lock of that cron across the cluster, so two nodes starting runs
    /// at once cannot both pass the check (overlap `skip` across nodes).
    #[allow(clippy::too_many_arguments)]
    pub async fn cron_run_start_unless_running(
        &self,
        ws: &str,
        module: &str,
        cron: &str,
        scheduled_at_ms: u64,
        manual: bool,
        supervisor_id: &str,
        others: &[String],
    ) -> Result<Option<CronRun>, StoreError> {
        if others.is_empty() {
            return self
                .cron_run_start(ws, module, cron, scheduled_at_ms, manual, supervisor_id)
                .await
                .map(Some);
        }
        check_scope(ws, module, cron)?;
        if let Some(pg) = self.pg() {
            let run = running_run(ws, module, cron, scheduled_at_ms, manual, supervisor_id);
            return pg.cron_run_insert_unless_running(run, others).await;
        }
        // One SQLite file has no other live node writing to it: check, then start.
        if self.cron_running_on(ws, module, cron, others).await? {
            return Ok(None);
        }
        self.cron_run_start(ws, module, cron, scheduled_at_ms, manual, supervisor_id)
            .await
            .map(Some)
    }

    /// Ends run `id` (started by [`Store::cron_run_start`]) with `outcome` (`ok`, `error`,
    /// `timeout` or `failed`) and `message`, finished now; returns the record.
    ///
    /// `NotFound` for an unknown id, `FailedPrecondition` when the run already ended.
    pub async fn cron_run_finish(
        &self,
        id: &str,
        outcome: CronOutcome,
        message: &str,
    ) -> Result<CronRun, StoreError> {
        if !matches!(
            outcome,
            CronOutcome::Ok | CronOutcome::Error | CronOutcome::Timeout | CronOutcome::Failed
        ) {
            return Err(StoreError::InvalidArgument(format!(
                "outcome: a run ends ok, error, timeout or failed, not {outcome}"
            )));
        }
        let (id, message) = (id.to_string(), clip(message));
        if let Some(pg) = self.pg() {
            return pg.cron_run_finish(&id, outcome, &message).await;
        }
        self.write(move |conn| {
            let changed = conn.execute(
                "UPDATE cron_runs SET outcome = ?2, message = ?3, finished_at_ms = ?4
                 WHERE id = ?1 AND outcome = 'running'",
                rusqlite::params![id, outcome.as_str(), message, signed(now_ms())],
            )?;
            let run = by_id(conn, &id)?
                .ok_or_else(|| StoreError::NotFound(format!("cron run {id} not found")))?;
            if changed == 0 {
                return Err(StoreError::FailedPrecondition(format!(
                    "cron run {id} already ended ({})",
                    run.outcome
                )));
            }
            Ok(run)
        })
        .await
    }

    /// Records a tick of cron `cron` of `module` in `ws` that did not run: `skipped`, `missed`
    /// or `failed` (it could not start), with `message`, no start or finish time.
    #[allow(clippy::too_many_arguments)]
    pub async fn cron_run_record(
        &self,
        ws: &str,
        module: &str,
        cron: &str,
        scheduled_at_ms: u64,
        outcome: CronOutcome,
        message: &str,
        supervisor_id: &str,
    ) -> Result<CronRun, StoreError> {
        check_scope(ws, module, cron)?;
        if !matches!(
            outcome,
            CronOutcome::Skipped | CronOutcome::Missed | CronOutcome::Failed
        ) {
            return Err(StoreError::InvalidArgument(format!(
                "outcome: a tick that did not run is skipped, missed or failed, not {outcome}"
            )));
        }
        let run = CronRun {
            id: new_id("run_"),
            workspace_id: ws.to_string(),
            module: module.to_string(),
            cron: cron.to_string(),
            scheduled_at_ms,
            started_at_ms: None,
            finished_at_ms: None,
            outcome,
            message: clip(message),
            manual: false,
            supervisor_id: clip_name(supervisor_id),
        };
        if let Some(pg) = self.pg() {
            return pg.cron_run_insert(run).await;
        }
        self.write(move |conn| {
            insert(conn, &run)?;
            Ok(run)
        })
        .await
    }

    /// The history of cron `cron` of `module` in `ws`, newest first (by tick, then by id).
    pub async fn cron_runs(
        &self,
        ws: &str,
        module: &str,
        cron: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<Page<CronRun>, StoreError> {
        check_scope(ws, module, cron)?;
        let limit = self::page_size(page_size)?;
        let before = decode_position(page_token)?;
        if let Some(pg) = self.pg() {
            return pg.cron_runs(ws, module, cron, limit, before).await;
        }
        let (ws, module, cron) = (ws.to_string(), module.to_string(), cron.to_string());
        self.read(move |conn| {
            // Without a token, start above every position.
            let (ms, id) = before.unwrap_or((i64::MAX, "\u{10FFFF}".to_string()));
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM cron_runs
                 WHERE workspace_id = ?1 AND module = ?2 AND cron = ?3
                   AND (scheduled_at_ms < ?4 OR (scheduled_at_ms = ?4 AND id < ?5))
                 ORDER BY scheduled_at_ms DESC, id DESC
                 LIMIT ?6"
            ))?;
            let rows = stmt.query_map(
                rusqlite::params![ws, module, cron, ms, id, (limit + 1) as i64],
                row_to_run,
            )?;
            let mut items = rows.collect::<Result<Vec<_>, _>>()?;
            let next_page_token = if items.len() > limit {
                items.truncate(limit);
                items.last().map(|last| encode_page_token(&position(last)))
            } else {
                None
            };
            Ok(Page {
                items,
                next_page_token,
            })
        })
        .await
    }

    /// The latest tick recorded for cron `cron` of `module` in `ws` (run, skipped, missed or
    /// failed; manual runs are not ticks and do not count); `None` when there is none. After a
    /// restart, the ticks after it and before now were missed.
    pub async fn cron_last_scheduled(
        &self,
        ws: &str,
        module: &str,
        cron: &str,
    ) -> Result<Option<u64>, StoreError> {
        check_scope(ws, module, cron)?;
        if let Some(pg) = self.pg() {
            return pg.cron_last_scheduled(ws, module, cron).await;
        }
        let (ws, module, cron) = (ws.to_string(), module.to_string(), cron.to_string());
        self.read(move |conn| {
            let latest: Option<i64> = conn.query_row(
                "SELECT MAX(scheduled_at_ms) FROM cron_runs
                 WHERE workspace_id = ?1 AND module = ?2 AND cron = ?3 AND NOT manual",
                [&ws, &module, &cron],
                |row| row.get(0),
            )?;
            Ok(latest.map(unsigned))
        })
        .await
    }

    /// Marks the runs of `module` in `ws` still `running` as `failed` ("the supervisor stopped
    /// during the run"), finished now, except those of the supervisors in `live` (processes
    /// known to be running: in a cluster, the other nodes' runs go on); call it before the
    /// module's crons start. Returns how many there were.
    pub async fn cron_runs_mark_interrupted(
        &self,
        ws: &str,
        module: &str,
        live: &[String],
    ) -> Result<usize, StoreError> {
        check_required("workspace_id", ws, MAX_NAME)?;
        check_required("module", module, MAX_NAME)?;
        if let Some(pg) = self.pg() {
            return pg.cron_runs_mark_interrupted(ws, module, live).await;
        }
        let (ws, module) = (ws.to_string(), module.to_string());
        let live = serde_json::to_string(live).unwrap_or_else(|_| "[]".into());
        self.write(move |conn| {
            Ok(conn.execute(
                "UPDATE cron_runs SET outcome = 'failed', message = ?3, finished_at_ms = ?4
                 WHERE workspace_id = ?1 AND module = ?2 AND outcome = 'running'
                   AND supervisor_id NOT IN (SELECT value FROM json_each(?5))",
                rusqlite::params![ws, module, INTERRUPTED_MESSAGE, signed(now_ms()), live],
            )?)
        })
        .await
    }

    /// Whether a run of cron `cron` is `running` on one of the supervisors in `others` (live
    /// nodes of the cluster other than this one): the overlap rule `skip` across nodes.
    pub async fn cron_running_on(
        &self,
        ws: &str,
        module: &str,
        cron: &str,
        others: &[String],
    ) -> Result<bool, StoreError> {
        if others.is_empty() {
            return Ok(false);
        }
        if let Some(pg) = self.pg() {
            return pg.cron_running_on(ws, module, cron, others).await;
        }
        let (ws, module, cron) = (ws.to_string(), module.to_string(), cron.to_string());
        let others = serde_json::to_string(others).unwrap_or_else(|_| "[]".into());
        self.read(move |conn| {
            Ok(conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM cron_runs
                 WHERE workspace_id = ?1 AND module = ?2 AND cron = ?3 AND outcome = 'running'
                   AND supervisor_id IN (SELECT value FROM json_each(?4)))",
                rusqlite::params![ws, module, cron, others],
                |row| row.get(0),
            )?)
        })
        .await
    }

    /// Retention: deletes the records of every cron beyond its newest `keep_per_cron`, and those
    /// whose tick is older than `max_age_ms`; 0 turns that limit off. Runs still `running` are
    /// kept. Returns how many records were deleted.
    pub async fn cron_runs_prune(
        &self,
        keep_per_cron: usize,
        max_age_ms: u64,
    ) -> Result<usize, StoreError> {
        let keep = i64::try_from(keep_per_cron).unwrap_or(i64::MAX);
        let cutoff = signed(now_ms().saturating_sub(max_age_ms));
        if let Some(pg) = self.pg() {
            return pg.cron_runs_prune(keep, max_age_ms > 0, cutoff).await;
        }
        self.write(move |conn| {
            let mut deleted = 0;
            if max_age_ms > 0 {
                deleted += conn.execute(
                    "DELETE FROM cron_runs WHERE outcome <> 'running' AND scheduled_at_ms < ?1",
                    [cutoff],
                )?;
            }
            if keep > 0 {
                deleted += conn.execute(
                    "DELETE FROM cron_runs WHERE outcome <> 'running' AND id IN (
                        SELECT id FROM (
                            SELECT id, ROW_NUMBER() OVER (
                                PARTITION BY workspace_id, module, cron
                                ORDER BY scheduled_at_ms DESC, id DESC
                            ) AS newest
                            FROM cron_runs
                        ) WHERE newest > ?1
                    )",
                    [keep],
                )?;
            }
            Ok(deleted)
        })
        .await
    }
}

/// A supervisor id cut to [`MAX_NAME`] bytes (on a character boundary).
fn clip_name(name: &str) -> String {
    truncate_utf8(name, MAX_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::two_workspaces;

    const SUP: &str = "sup-1";

    async fn ok_run(store: &Store, ws: &str, cron: &str, at: u64) -> CronRun {
        let run = store
            .cron_run_start(ws, "m", cron, at, false, SUP)
            .await
            .unwrap();
        store
            .cron_run_finish(&run.id, CronOutcome::Ok, "")
            .await
            .unwrap()
    }

    fn ticks(page: &Page<CronRun>) -> Vec<u64> {
        page.items.iter().map(|r| r.scheduled_at_ms).collect()
    }

    #[test]
    fn outcomes_round_trip() {
        for outcome in CronOutcome::ALL {
            assert_eq!(outcome.as_str().parse::<CronOutcome>(), Ok(outcome));
            assert_eq!(
                serde_json::to_value(outcome).unwrap(),
                serde_json::Value::String(outcome.to_string())
            );
        }
        assert!("done".parse::<CronOutcome>().is_err());
    }

    #[test]
    fn long_messages_are_clipped() {
        let long = "é".repeat(MAX_TEXT);
        let clipped = clip(&long);
        assert!(clipped.len() <= MAX_TEXT);
        assert!(clipped.chars().all(|c| c == 'é'));
        assert_eq!(clip("short"), "short");
        assert_eq!(clip_name(&"x".repeat(300)).len(), MAX_NAME);
    }

    /// Two nodes starting a `skip` cron at once, each seeing the other live: exactly one run
    /// starts (the check and the insert hold the cron's lock across the cluster).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_two_nodes_starting_one_cron_start_one_run() {
        let _postgres = crate::store::test_support::use_postgres();
        let (guard, a) = two_workspaces().await;
        let b = guard.open_again();
        let (sees_b, sees_a) = (vec!["b:1".to_string()], vec!["a:1".to_string()]);
        for round in 0..10u64 {
            let cron = format!("c{round}");
            let (a_started, b_started) = tokio::join!(
                a.cron_run_start_unless_running("ws_a", "m", &cron, 1_000, false, "a:1", &sees_b,),
                b.cron_run_start_unless_running("ws_a", "m", &cron, 1_000, false, "b:1", &sees_a,),
            );
            let started = [a_started.unwrap(), b_started.unwrap()];
            assert_eq!(
                started.iter().filter(|r| r.is_some()).count(),
                1,
                "round {round}: {started:?}"
            );
        }
    }

    crate::store::test_support::both_backends! {
        #[tokio::test]
        async fn a_run_on_a_live_node_blocks_a_skip_start() {
            let (guard, a) = two_workspaces().await;
            let b = guard.open_again();
            let theirs = vec!["a:1".to_string()];
            let first = a
                .cron_run_start_unless_running("ws_a", "m", "c", 1_000, false, "a:1", &[])
                .await
                .unwrap()
                .expect("nothing else runs");
            assert!(b
                .cron_run_start_unless_running("ws_a", "m", "c", 2_000, false, "b:1", &theirs)
                .await
                .unwrap()
                .is_none());
            a.cron_run_finish(&first.id, CronOutcome::Ok, "").await.unwrap();
            assert!(b
                .cron_run_start_unless_running("ws_a", "m", "c", 3_000, false, "b:1", &theirs)
                .await
                .unwrap()
                .is_some());
        }

        #[tokio::test]
        async fn start_finish_and_record() {
            let (_dir, store) = two_workspaces().await;
            let run = store
                .cron_run_start("ws_a", "m", "nightly", 1_000, false, SUP)
                .await
                .unwrap();
            assert!(run.id.starts_with("run_"));
            assert_eq!(run.outcome, CronOutcome::Running);
            assert!(run.started_at_ms.is_some());
            assert_eq!(run.finished_at_ms, None);
            assert_eq!(run.supervisor_id, SUP);

            let done = store
                .cron_run_finish(&run.id, CronOutcome::Error, "boom")
                .await
                .unwrap();
            assert_eq!(done.outcome, CronOutcome::Error);
            assert_eq!(done.message, "boom");
            assert!(done.finished_at_ms >= done.started_at_ms);

            // A run ends once.
            let again = store
                .cron_run_finish(&run.id, CronOutcome::Ok, "")
                .await
                .unwrap_err();
            assert!(matches!(again, StoreError::FailedPrecondition(m) if m.contains("error")));
            assert!(matches!(
                store.cron_run_finish("run_nope", CronOutcome::Ok, "").await,
                Err(StoreError::NotFound(_))
            ));
            assert!(matches!(
                store
                    .cron_run_finish(&run.id, CronOutcome::Skipped, "")
                    .await,
                Err(StoreError::InvalidArgument(_))
            ));

            let skipped = store
                .cron_run_record(
                    "ws_a",
                    "m",
                    "nightly",
                    2_000,
                    CronOutcome::Skipped,
                    "the previous run is still running",
                    SUP,
                )
                .await
                .unwrap();
            assert_eq!(skipped.started_at_ms, None);
            assert_eq!(skipped.finished_at_ms, None);
            assert!(!skipped.manual);
            assert!(matches!(
                store
                    .cron_run_record("ws_a", "m", "nightly", 3_000, CronOutcome::Ok, "", SUP)
                    .await,
                Err(StoreError::InvalidArgument(_))
            ));
            // Unknown workspace, missing names.
            assert!(matches!(
                store
                    .cron_run_start("ws_zz", "m", "nightly", 1, false, SUP)
                    .await,
                Err(StoreError::NotFound(_))
            ));
            assert!(matches!(
                store.cron_run_start("ws_a", "m", "", 1, false, SUP).await,
                Err(StoreError::InvalidArgument(_))
            ));

            // Serialized with the outcome in lower case.
            let json = serde_json::to_value(&skipped).unwrap();
            assert_eq!(json["outcome"], "skipped");
            assert_eq!(json["started_at_ms"], serde_json::Value::Null);
            assert_eq!(json["manual"], false);
        }

        #[tokio::test]
        async fn history_is_newest_first_and_paged() {
            let (_dir, store) = two_workspaces().await;
            // Recorded out of order; two records share a tick.
            for at in [3_000, 1_000, 5_000, 2_000, 4_000] {
                ok_run(&store, "ws_a", "c", at).await;
            }
            store
                .cron_run_record("ws_a", "m", "c", 5_000, CronOutcome::Skipped, "", SUP)
                .await
                .unwrap();
            let first = store.cron_runs("ws_a", "m", "c", 4, "").await.unwrap();
            assert_eq!(ticks(&first), [5_000, 5_000, 4_000, 3_000]);
            // Same tick: the later record first.
            assert_eq!(first.items[0].outcome, CronOutcome::Skipped);
            let token = first.next_page_token.clone().expect("a second page");
            let second = store.cron_runs("ws_a", "m", "c", 4, &token).await.unwrap();
            assert_eq!(ticks(&second), [2_000, 1_000]);
            assert_eq!(second.next_page_token, None);
            assert!(matches!(
                store
                    .cron_runs("ws_a", "m", "c", 4, "bm90LWEtdG9rZW4")
                    .await,
                Err(StoreError::InvalidArgument(_))
            ));
            assert!(matches!(
                store.cron_runs("ws_a", "m", "c", 501, "").await,
                Err(StoreError::InvalidArgument(_))
            ));
        }

        #[tokio::test]
        async fn workspaces_modules_and_crons_are_isolated() {
            let (_dir, store) = two_workspaces().await;
            ok_run(&store, "ws_a", "c", 1_000).await;
            ok_run(&store, "ws_b", "c", 2_000).await;
            ok_run(&store, "ws_a", "other", 3_000).await;
            store
                .cron_run_start("ws_a", "m2", "c", 4_000, false, SUP)
                .await
                .unwrap();
            assert_eq!(
                ticks(&store.cron_runs("ws_a", "m", "c", 0, "").await.unwrap()),
                [1_000]
            );
            assert_eq!(
                ticks(&store.cron_runs("ws_b", "m", "c", 0, "").await.unwrap()),
                [2_000]
            );
            assert_eq!(
                store.cron_last_scheduled("ws_a", "m", "c").await.unwrap(),
                Some(1_000)
            );
            assert_eq!(
                store.cron_last_scheduled("ws_b", "m", "c").await.unwrap(),
                Some(2_000)
            );
            assert_eq!(
                store
                    .cron_last_scheduled("ws_b", "m", "other")
                    .await
                    .unwrap(),
                None
            );
            // Another workspace's interrupted runs are not touched.
            assert_eq!(
                store
                    .cron_runs_mark_interrupted("ws_b", "m2", &[])
                    .await
                    .unwrap(),
                0
            );
        }

        #[tokio::test]
        async fn last_scheduled_counts_ticks_not_manual_runs() {
            let (_dir, store) = two_workspaces().await;
            assert_eq!(
                store.cron_last_scheduled("ws_a", "m", "c").await.unwrap(),
                None
            );
            ok_run(&store, "ws_a", "c", 1_000).await;
            store
                .cron_run_record("ws_a", "m", "c", 2_000, CronOutcome::Missed, "", SUP)
                .await
                .unwrap();
            store
                .cron_run_start("ws_a", "m", "c", 9_000, true, SUP)
                .await
                .unwrap();
            assert_eq!(
                store.cron_last_scheduled("ws_a", "m", "c").await.unwrap(),
                Some(2_000)
            );
        }

        #[tokio::test]
        async fn interrupted_runs_become_failed() {
            let (_dir, store) = two_workspaces().await;
            let cut = store
                .cron_run_start("ws_a", "m", "c", 1_000, false, SUP)
                .await
                .unwrap();
            let manual = store
                .cron_run_start("ws_a", "m", "d", 2_000, true, SUP)
                .await
                .unwrap();
            let done = ok_run(&store, "ws_a", "c", 3_000).await;
            let elsewhere = store
                .cron_run_start("ws_a", "m2", "c", 1_000, false, SUP)
                .await
                .unwrap();
            assert_eq!(
                store.cron_runs_mark_interrupted("ws_a", "m", &[]).await.unwrap(),
                2
            );
            let c = store.cron_runs("ws_a", "m", "c", 0, "").await.unwrap();
            let failed = c.items.iter().find(|r| r.id == cut.id).unwrap();
            assert_eq!(failed.outcome, CronOutcome::Failed);
            assert_eq!(failed.message, INTERRUPTED_MESSAGE);
            assert!(failed.finished_at_ms.is_some());
            assert_eq!(c.items.iter().find(|r| r.id == done.id).unwrap(), &done);
            let d = store.cron_runs("ws_a", "m", "d", 0, "").await.unwrap();
            assert_eq!(d.items[0].id, manual.id);
            assert_eq!(d.items[0].outcome, CronOutcome::Failed);
            assert!(d.items[0].manual);
            let other = store.cron_runs("ws_a", "m2", "c", 0, "").await.unwrap();
            assert_eq!(other.items[0].id, elsewhere.id);
            assert_eq!(other.items[0].outcome, CronOutcome::Running);
            // Nothing left to mark; a marked run cannot be finished any more.
            assert_eq!(
                store.cron_runs_mark_interrupted("ws_a", "m", &[]).await.unwrap(),
                0
            );
            assert!(matches!(
                store.cron_run_finish(&cut.id, CronOutcome::Ok, "").await,
                Err(StoreError::FailedPrecondition(_))
            ));
        }

        #[tokio::test]
        async fn runs_of_live_supervisors_are_not_interrupted() {
            let (guard, store) = two_workspaces().await;
            let other_node = guard.open_again();
            let theirs = other_node
                .cron_run_start("ws_a", "m", "c", 1_000, false, "node-b:7")
                .await
                .unwrap();
            let dead = store
                .cron_run_start("ws_a", "m", "c", 2_000, false, "node-a:1")
                .await
                .unwrap();
            let live = vec!["node-b:7".to_string(), "node-a:2".to_string()];
            // The other node's run is in flight: it blocks a `skip` cron here.
            assert!(store.cron_running_on("ws_a", "m", "c", &live[..1]).await.unwrap());
            assert!(!store.cron_running_on("ws_a", "m", "d", &live[..1]).await.unwrap());
            assert!(!store.cron_running_on("ws_a", "m", "c", &[]).await.unwrap());
            assert_eq!(
                store.cron_runs_mark_interrupted("ws_a", "m", &live).await.unwrap(),
                1
            );
            let runs = store.cron_runs("ws_a", "m", "c", 0, "").await.unwrap();
            let outcome = |id: &str| runs.items.iter().find(|r| r.id == id).unwrap().outcome;
            assert_eq!(outcome(&dead.id), CronOutcome::Failed);
            assert_eq!(outcome(&theirs.id), CronOutcome::Running);
            other_node
                .cron_run_finish(&theirs.id, CronOutcome::Ok, "")
                .await
                .unwrap();
            assert!(!store.cron_running_on("ws_a", "m", "c", &live[..1]).await.unwrap());
        }

        #[tokio::test]
        async fn pruning_keeps_the_newest_and_the_running() {
            let (_dir, store) = two_workspaces().await;
            let now = now_ms();
            let day = 24 * 3600 * 1000;
            for n in 0..5 {
                ok_run(&store, "ws_a", "c", now - (5 - n) * 1000).await;
                ok_run(&store, "ws_b", "c", now - (5 - n) * 1000).await;
            }
            // Old, and beyond the count, but still running: kept.
            let running = store
                .cron_run_start("ws_a", "m", "c", now - 30 * day, false, SUP)
                .await
                .unwrap();
            // Old: pruned by age.
            ok_run(&store, "ws_a", "old", now - 10 * day).await;
            ok_run(&store, "ws_a", "old", now - 1000).await;

            // No limits: nothing deleted.
            assert_eq!(store.cron_runs_prune(0, 0).await.unwrap(), 0);
            // Age: one record.
            assert_eq!(store.cron_runs_prune(0, 7 * day).await.unwrap(), 1);
            assert_eq!(
                ticks(&store.cron_runs("ws_a", "m", "old", 0, "").await.unwrap()),
                [now - 1000]
            );
            // Count: 3 per cron, per workspace (the running one is beyond them, but stays).
            assert_eq!(store.cron_runs_prune(3, 0).await.unwrap(), 2 + 2);
            let a = store.cron_runs("ws_a", "m", "c", 0, "").await.unwrap();
            assert_eq!(
                ticks(&a),
                [now - 1000, now - 2000, now - 3000, now - 30 * day]
            );
            assert_eq!(a.items[3].id, running.id);
            let b = store.cron_runs("ws_b", "m", "c", 0, "").await.unwrap();
            assert_eq!(ticks(&b), [now - 1000, now - 2000, now - 3000]);
        }

        #[tokio::test]
        async fn two_supervisors_end_a_run_once() {
            let (guard, store) = two_workspaces().await;
            let other = guard.open_again();
            for round in 0..10u64 {
                let run = store
                    .cron_run_start("ws_a", "m", "c", 1_000 + round, false, SUP)
                    .await
                    .unwrap();
                // Two supervisors end the same run at once: exactly one wins, the other sees the
                // winner's outcome.
                let (a, b) = tokio::join!(
                    store.cron_run_finish(&run.id, CronOutcome::Ok, "a"),
                    other.cron_run_finish(&run.id, CronOutcome::Error, "b"),
                );
                let (winner, loser) = match (a, b) {
                    (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
                    (a, b) => panic!("exactly one finish must win: {a:?} / {b:?}"),
                };
                assert!(
                    matches!(&loser, StoreError::FailedPrecondition(m) if m.contains(winner.outcome.as_str())),
                    "{loser:?}"
                );
                // Both see the same record.
                let seen_here = store.cron_runs("ws_a", "m", "c", 1, "").await.unwrap();
                let seen_there = other.cron_runs("ws_a", "m", "c", 1, "").await.unwrap();
                assert_eq!(seen_here.items, seen_there.items);
                assert_eq!(seen_there.items, [winner]);
            }
        }

        #[tokio::test]
        async fn supervisors_share_the_history() {
            let (guard, store) = two_workspaces().await;
            let other = guard.open_again();
            ok_run(&store, "ws_a", "c", 1_000).await;
            store
                .cron_run_record("ws_a", "m", "c", 2_000, CronOutcome::Missed, "", "sup-2")
                .await
                .unwrap();
            let running = other
                .cron_run_start("ws_a", "m", "c", 3_000, false, "sup-2")
                .await
                .unwrap();
            // A page token from one supervisor pages on the other.
            let first = other.cron_runs("ws_a", "m", "c", 2, "").await.unwrap();
            assert_eq!(ticks(&first), [3_000, 2_000]);
            let token = first.next_page_token.unwrap();
            let rest = store.cron_runs("ws_a", "m", "c", 2, &token).await.unwrap();
            assert_eq!(ticks(&rest), [1_000]);
            assert_eq!(
                store.cron_last_scheduled("ws_a", "m", "c").await.unwrap(),
                Some(3_000)
            );
            // One supervisor ends the run the other started.
            let done = store
                .cron_run_finish(&running.id, CronOutcome::Timeout, "late")
                .await
                .unwrap();
            assert_eq!(done.supervisor_id, "sup-2");
            assert_eq!(
                other.cron_runs("ws_a", "m", "c", 1, "").await.unwrap().items,
                [done]
            );
            assert_eq!(other.cron_runs_prune(1, 0).await.unwrap(), 2);
            assert_eq!(
                ticks(&store.cron_runs("ws_a", "m", "c", 0, "").await.unwrap()),
                [3_000]
            );
        }
    }
}
