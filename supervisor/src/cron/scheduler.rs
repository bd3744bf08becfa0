//! The cron scheduler: for every ready module, one task per `CronDef` sleeps until the cron's
//! next fire time (computed with [`Schedule`] in the cron's zone), fires the tick and computes
//! the next one from the tick's time, so a slow run never shifts the schedule.
//!
//! A tick becomes a run: recorded `running` in the store, sent to the module as a `CronTick`
//! on its work stream with the cron's deadline, and ended `ok`, `error`, `timeout` or
//! `failed`. Runs execute in their own tasks; the scheduler counts each cron's outstanding
//! runs to apply the overlap policy (`skip`: a tick while a run is outstanding is recorded
//! `skipped`; `allow`: every tick runs). When a module's crons start, the ticks since the
//! latest recorded one are recorded `missed` (at most [`MAX_MISSED`]) and, with catch-up
//! `once`, one of them runs at once. Runs left `running` by a previous supervisor process are
//! marked `failed` once, when the scheduler starts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use convotic_proto::plugin::v1::{
    invocation, outcome, CatchUpPolicy, CronDef, CronTick, OverlapPolicy,
};
use tokio_util::sync::CancellationToken;

use super::{run_timeout, Schedule};
use crate::bus::Backend;
use crate::outcomes::{cron_outcome, Failure};
use crate::protocol::{InvokeOptions, WorkClient, WorkError};
use crate::store::{CronOutcome, CronRun, Page, Store, StoreError};
use crate::supervision::{FindError, ModuleHandle, State, Supervisor};

/// Most ticks recorded as missed for one cron when its module's crons start.
pub const MAX_MISSED: usize = 100;

/// A tick woken later than this after its instant (a suspend, a clock step) is recorded as
/// missed rather than run late.
const LATE_TOLERANCE: Duration = Duration::from_secs(5);

/// The message of a tick skipped by the overlap policy.
pub const SKIPPED_MESSAGE: &str = "previous run still running";

/// The message of a run whose module went away before answering.
pub const MODULE_STOPPED_MESSAGE: &str = "the module stopped during the run";

/// The message of a tick that passed while nothing could run it.
pub const MISSED_MESSAGE: &str = "the tick passed while the module or the supervisor was down";

/// Why a cron API call failed.
#[derive(Debug, thiserror::Error)]
pub enum RunNowError {
    /// No such module (in that workspace).
    #[error("{0}")]
    UnknownModule(String),
    /// Several workspaces have a module of that name.
    #[error("{0}")]
    AmbiguousModule(String),
    /// The module has no cron of that name (or its manifest is not known yet).
    #[error("module {module:?} has no cron named {cron:?}")]
    UnknownCron {
        /// The module.
        module: String,
        /// The cron asked for.
        cron: String,
    },
    /// The module is not ready, so nothing can run.
    #[error("module {0:?} is not ready")]
    NotReady(String),
    /// Overlap `skip` and a run of the cron is still outstanding.
    #[error("a run of cron {0:?} is still running and its overlap policy is skip")]
    Overlap(String),
    /// The store failed or refused.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// One cron of one module, as the API lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CronInfo {
    /// The module's workspace.
    pub workspace: String,
    /// The module.
    pub module: String,
    /// The cron's name.
    pub name: String,
    /// The schedule expression.
    pub schedule: String,
    /// The IANA zone (`UTC` when the manifest leaves it empty).
    pub timezone: String,
    /// `skip` or `allow`.
    pub overlap: &'static str,
    /// `none` or `once`.
    pub catch_up: &'static str,
    /// The deadline of one run, in milliseconds (the default applied).
    pub timeout_ms: u64,
    /// The next fire time, RFC 3339 with the zone's offset; `None` when the module is not ready.
    pub next_fire_at: Option<String>,
    /// The module's state.
    pub module_state: State,
    /// Whether a run is outstanding.
    pub running: bool,
    /// The newest record of its history.
    pub last_run: Option<CronRun>,
}

/// Key of a cron: (workspace, module, cron).
type CronKey = (String, String, String);

/// The scheduler: started once per supervisor, shared with the HTTP API.
pub struct Scheduler {
    /// The live module set.
    supervisor: Arc<Supervisor>,
    store: Store,
    /// Claims each tick cluster-wide (NATS) so one supervisor runs it.
    bus: Arc<dyn Backend>,
    supervisor_id: String,
    /// Outstanding runs per cron.
    running: Mutex<HashMap<CronKey, usize>>,
}

/// An outstanding run of a cron; releases its place when dropped.
struct Slot {
    scheduler: Arc<Scheduler>,
    key: CronKey,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self
            .scheduler
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = running.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.key);
            }
        }
    }
}

/// What a run needs: the module, the work client of the instance that declared the cron, and
/// the cron's definition.
#[derive(Clone)]
struct Target {
    key: CronKey,
    module: Arc<ModuleHandle>,
    work: WorkClient,
    def: CronDef,
}

impl Target {
    fn skip_overlap(&self) -> bool {
        OverlapPolicy::try_from(self.def.overlap).unwrap_or(OverlapPolicy::Skip)
            != OverlapPolicy::Allow
    }
}

/// Starts the scheduler: one watcher per module (of the set now and added later), running its
/// crons while it is ready and ending when the module is removed.
pub fn start(supervisor: &Arc<Supervisor>, store: Store, bus: Arc<dyn Backend>) -> Arc<Scheduler> {
    let scheduler = Arc::new(Scheduler {
        supervisor: Arc::clone(supervisor),
        store,
        bus,
        supervisor_id: crate::supervision::membership::instance_id(),
        running: Mutex::new(HashMap::new()),
    });
    let follower = Arc::clone(&scheduler);
    supervisor.follow(move |module| {
        tokio::spawn(Arc::clone(&follower).watch_module(module));
    });
    scheduler
}

fn ms(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp_millis()).unwrap_or(0)
}

fn now_ms() -> u64 {
    ms(Utc::now())
}

fn from_ms(at: u64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(i64::try_from(at).ok()?).single()
}

impl Scheduler {
    /// The id this supervisor writes in the run history (`<hostname>:<pid>`).
    pub fn supervisor_id(&self) -> &str {
        &self.supervisor_id
    }

    /// Marks the runs a previous process left `running` as failed, then runs the module's
    /// crons while it is ready.
    async fn watch_module(self: Arc<Self>, module: Arc<ModuleHandle>) {
        let (ws, name) = (&module.workspace, &module.name);
        // Once per supervisor start: no run of this process exists yet. A module restart does
        // not mark anything: its outstanding runs end on their own (lane closed).
        // In a cluster, the runs of the other live nodes go on: only those of processes that
        // are gone are cut short.
        match crate::supervision::membership::other_live_instances(&self.store).await {
            Ok(live) => match self.store.cron_runs_mark_interrupted(ws, name, &live).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(workspace = %ws, module = %name, "{n} cron runs were cut short by the previous stop")
                }
                Err(e) => {
                    tracing::warn!(workspace = %ws, module = %name, "cannot mark interrupted cron runs: {e}")
                }
            },
            Err(e) => {
                tracing::warn!(workspace = %ws, module = %name, "cannot list the live nodes, no cron run is marked interrupted: {e}")
            }
        }
        let mut ready = module.watch_serving();
        loop {
            let serving = ready.borrow_and_update().clone();
            let stop = CancellationToken::new();
            if let Some(serving) = serving {
                let work = &serving.work;
                for def in &serving.declared.manifest.crons {
                    match Schedule::parse(&def.schedule, &def.timezone) {
                        Ok(schedule) => {
                            let target = Target {
                                key: (ws.clone(), name.clone(), def.name.clone()),
                                module: Arc::clone(&module),
                                work: work.clone(),
                                def: def.clone(),
                            };
                            tokio::spawn(Arc::clone(&self).cron_loop(
                                target,
                                schedule,
                                stop.child_token(),
                            ));
                        }
                        Err(e) => {
                            tracing::warn!(workspace = %ws, module = %name, cron = %def.name, "cron not scheduled: {e}")
                        }
                    }
                }
            }
            let changed = tokio::select! {
                changed = ready.changed() => changed.is_ok(),
                _ = module.retired() => false,
            };
            stop.cancel();
            if !changed {
                return;
            }
        }
    }

    /// Records the missed ticks, catches up, then fires every tick until `stop`.
    async fn cron_loop(
        self: Arc<Self>,
        target: Target,
        schedule: Schedule,
        stop: CancellationToken,
    ) {
        let mut after = Utc::now();
        if let Some(latest) = self.record_missed(&target, &schedule, after).await {
            if CatchUpPolicy::try_from(target.def.catch_up) == Ok(CatchUpPolicy::Once) {
                self.tick(&target, latest, &stop);
            }
        }
        loop {
            let Some(next) = schedule.next_after(after) else {
                tracing::info!(workspace = %target.key.0, module = %target.key.1, cron = %target.key.2, "the schedule fires no more");
                return;
            };
            // Sleep until the instant, re-reading the wall clock on waking.
            loop {
                let left = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                if left.is_zero() {
                    break;
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(left) => {}
                }
            }
            if stop.is_cancelled() {
                return;
            }
            let now = Utc::now();
            let late = (now - next).to_std().unwrap_or(Duration::ZERO);
            if late > LATE_TOLERANCE {
                // The clock jumped (or the process was suspended): the ticks up to now were
                // missed.
                tracing::warn!(workspace = %target.key.0, module = %target.key.1, cron = %target.key.2, "woke {late:?} after a tick: recording the ticks in between as missed");
                let missed = schedule.occurrences_between(after, now, MAX_MISSED);
                for at in missed {
                    self.record(&target, ms(at), CronOutcome::Missed, MISSED_MESSAGE)
                        .await;
                }
                after = now;
                continue;
            }
            self.tick(&target, next, &stop);
            after = next;
        }
    }

    /// Records the ticks between the latest recorded one and `now` as missed; returns the
    /// latest missed tick, if any.
    async fn record_missed(
        &self,
        target: &Target,
        schedule: &Schedule,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let (ws, module, cron) = &target.key;
        let last = match self.store.cron_last_scheduled(ws, module, cron).await {
            Ok(last) => last?,
            Err(e) => {
                tracing::warn!(workspace = %ws, module = %module, cron = %cron, "cannot read the cron's history: {e}");
                return None;
            }
        };
        let from = from_ms(last)?;
        let missed = schedule.occurrences_between(from, now, MAX_MISSED);
        let mut latest = missed.last().copied();
        if missed.len() == MAX_MISSED {
            tracing::warn!(workspace = %ws, module = %module, cron = %cron, "more than {MAX_MISSED} ticks missed; recording the first {MAX_MISSED}");
            latest = latest_at_or_before(schedule, now)
                .filter(|at| *at > from)
                .or(latest);
        }
        for at in &missed {
            self.record(target, ms(*at), CronOutcome::Missed, MISSED_MESSAGE)
                .await;
        }
        latest
    }

    /// Records a tick that did not run.
    async fn record(&self, target: &Target, at_ms: u64, outcome: CronOutcome, message: &str) {
        let (ws, module, cron) = &target.key;
        crate::metrics::global().cron_ran([ws, module, cron], &outcome.to_string(), None, None);
        if let Err(e) = self
            .store
            .cron_run_record(
                ws,
                module,
                cron,
                at_ms,
                outcome,
                message,
                &self.supervisor_id,
            )
            .await
        {
            tracing::warn!(workspace = %ws, module = %module, cron = %cron, "cannot record a {outcome} tick: {e}");
        }
    }

    /// Takes a place for a run of the cron, unless overlap `skip` forbids it.
    fn claim(self: &Arc<Self>, target: &Target) -> Option<Slot> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let count = running.entry(target.key.clone()).or_insert(0);
        if *count > 0 && target.skip_overlap() {
            return None;
        }
        *count += 1;
        Some(Slot {
            scheduler: Arc::clone(self),
            key: target.key.clone(),
        })
    }

    /// Fires the tick at `at`: claims it cluster-wide (with NATS, exactly one supervisor wins
    /// each tick; the others do nothing), then a run, or a `skipped` record.
    /// A claim may take seconds while NATS recovers: a tick won after `stop` (the module
    /// stopped or changed meanwhile) is recorded missed, not run on what no longer serves.
    fn tick(self: &Arc<Self>, target: &Target, at: DateTime<Utc>, stop: &CancellationToken) {
        let scheduler = Arc::clone(self);
        let target = target.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let (ws, module, cron) = &target.key;
            match scheduler.bus.claim_tick(ws, module, cron, ms(at)).await {
                Ok(true) if stop.is_cancelled() => {
                    scheduler
                        .record(
                            &target,
                            ms(at),
                            CronOutcome::Missed,
                            "the module stopped or changed while this tick was being claimed",
                        )
                        .await
                }
                Ok(true) => scheduler.tick_claimed(&target, at),
                Ok(false) => {
                    tracing::debug!(workspace = %ws, module = %module, cron = %cron, "tick claimed by another supervisor")
                }
                Err(e) => {
                    scheduler
                        .record(&target, ms(at), CronOutcome::Failed, &e.to_string())
                        .await
                }
            }
        });
    }

    /// Runs a tick this supervisor owns, unless overlap `skip` forbids it: a run outstanding
    /// here, or (in a cluster) `running` on another live node.
    fn tick_claimed(self: &Arc<Self>, target: &Target, at: DateTime<Utc>) {
        let scheduler = Arc::clone(self);
        let target = target.clone();
        let slot = self.claim(&target);
        tokio::spawn(async move {
            let started = match slot {
                Some(slot) => scheduler.launch(slot, &target, ms(at), false).await,
                None => Ok(None),
            };
            match started {
                Ok(Some(_)) => {}
                Ok(None) => {
                    scheduler
                        .record(&target, ms(at), CronOutcome::Skipped, SKIPPED_MESSAGE)
                        .await
                }
                Err(e) => {
                    tracing::warn!(workspace = %target.key.0, module = %target.key.1, cron = %target.key.2, "cannot start a cron run: {e}");
                }
            }
        });
    }

    /// The processes of the other live nodes whose `running` runs forbid a run of `target`
    /// (overlap `skip` across a cluster); none for overlap `allow` or a store of one's own.
    /// When the store cannot tell, none (logged): a missed run is worse than an overlapping one.
    async fn overlap_others(&self, target: &Target) -> Vec<String> {
        if !target.skip_overlap() || !self.store.is_shared() {
            return Vec::new();
        }
        match crate::supervision::membership::other_live_instances(&self.store).await {
            Ok(others) => others,
            Err(e) => {
                let (ws, module, cron) = &target.key;
                tracing::warn!(workspace = %ws, module = %module, cron = %cron, "cannot list the live nodes for the overlap rule: {e}");
                Vec::new()
            }
        }
    }

    /// Records the start of a run and sends it to the module in a task of its own; returns the
    /// `running` record.
    async fn launch(
        self: &Arc<Self>,
        slot: Slot,
        target: &Target,
        scheduled_at_ms: u64,
        manual: bool,
    ) -> Result<Option<CronRun>, StoreError> {
        let (ws, module, cron) = &target.key;
        let others = self.overlap_others(target).await;
        let Some(run) = self
            .store
            .cron_run_start_unless_running(
                ws,
                module,
                cron,
                scheduled_at_ms,
                manual,
                &self.supervisor_id,
                &others,
            )
            .await?
        else {
            return Ok(None);
        };
        let scheduler = Arc::clone(self);
        let target = target.clone();
        let started = run.clone();
        let lateness =
            (!manual).then(|| Duration::from_millis(now_ms().saturating_sub(scheduled_at_ms)));
        tokio::spawn(async move {
            let began = std::time::Instant::now();
            let (outcome, message) = scheduler.execute(&target, &started).await;
            let (ws, module, cron) = &target.key;
            crate::metrics::global().cron_ran(
                [ws, module, cron],
                &outcome.to_string(),
                lateness,
                Some(began.elapsed()),
            );
            if let Err(e) = scheduler
                .store
                .cron_run_finish(&started.id, outcome, &message)
                .await
            {
                tracing::warn!(workspace = %target.key.0, module = %target.key.1, cron = %target.key.2, run = %started.id, "cannot record the end of a cron run: {e}");
            }
            drop(slot);
        });
        Ok(Some(run))
    }

    /// Sends the tick and waits for its outcome.
    async fn execute(&self, target: &Target, run: &CronRun) -> (CronOutcome, String) {
        let (kind, options) = tick_invocation(&target.def, run, now_ms());
        // A tick fired as a new version takes over goes to the new instance, unsent until then.
        let result = target.module.invoke(&target.work, kind, options).await;
        outcome_of(result)
    }

    /// Finds a module by name (within `workspace` when given).
    fn find(&self, workspace: Option<&str>, name: &str) -> Result<Arc<ModuleHandle>, RunNowError> {
        let modules = self.supervisor.modules();
        let matches: Vec<&Arc<ModuleHandle>> = modules
            .iter()
            .filter(|m| m.name == name && workspace.is_none_or(|w| m.workspace == w))
            .collect();
        match matches.as_slice() {
            [] => Err(RunNowError::UnknownModule(
                FindError::NotFound(name.to_string()).to_string(),
            )),
            [one] => Ok(Arc::clone(one)),
            many => Err(RunNowError::AmbiguousModule(
                FindError::Ambiguous {
                    name: name.to_string(),
                    workspaces: many
                        .iter()
                        .map(|m| m.workspace.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
                .to_string(),
            )),
        }
    }

    /// The module and the definition of its cron `cron`.
    fn find_cron(
        &self,
        workspace: Option<&str>,
        module: &str,
        cron: &str,
    ) -> Result<(Arc<ModuleHandle>, CronDef), RunNowError> {
        let handle = self.find(workspace, module)?;
        let def = handle
            .declared()
            .and_then(|d| d.manifest.crons.iter().find(|c| c.name == cron).cloned())
            .ok_or_else(|| RunNowError::UnknownCron {
                module: module.to_string(),
                cron: cron.to_string(),
            })?;
        Ok((handle, def))
    }

    /// Every cron of the modules of `workspace` (every workspace when `None`) whose manifest is
    /// known, with its next fire time and newest record.
    pub async fn list(&self, workspace: Option<&str>) -> Result<Vec<CronInfo>, StoreError> {
        let now = Utc::now();
        let mut crons = Vec::new();
        for module in self.supervisor.modules().iter() {
            if workspace.is_some_and(|w| module.workspace != w) {
                continue;
            }
            let Some(declared) = module.declared() else {
                continue;
            };
            let manifest = &declared.manifest;
            let ready = module.work().is_some();
            let state = module.status().state;
            for def in &manifest.crons {
                let schedule = Schedule::parse(&def.schedule, &def.timezone).ok();
                let key = (
                    module.workspace.clone(),
                    module.name.clone(),
                    def.name.clone(),
                );
                let running = self
                    .running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&key)
                    .is_some_and(|n| *n > 0);
                let last_run = self
                    .store
                    .cron_runs(&key.0, &key.1, &key.2, 1, "")
                    .await?
                    .items
                    .into_iter()
                    .next();
                crons.push(CronInfo {
                    workspace: key.0,
                    module: key.1,
                    name: key.2,
                    schedule: def.schedule.clone(),
                    timezone: schedule
                        .as_ref()
                        .map(|s| s.timezone().name().to_string())
                        .unwrap_or_else(|| def.timezone.clone()),
                    overlap: if OverlapPolicy::try_from(def.overlap) == Ok(OverlapPolicy::Allow) {
                        "allow"
                    } else {
                        "skip"
                    },
                    catch_up: if CatchUpPolicy::try_from(def.catch_up) == Ok(CatchUpPolicy::Once) {
                        "once"
                    } else {
                        "none"
                    },
                    timeout_ms: u64::try_from(run_timeout(def.timeout_ms).as_millis())
                        .unwrap_or(u64::MAX),
                    next_fire_at: schedule
                        .filter(|_| ready)
                        .and_then(|s| s.next_local(now))
                        .map(|at| at.to_rfc3339()),
                    module_state: state,
                    running,
                    last_run,
                });
            }
        }
        Ok(crons)
    }

    /// The history of cron `cron` of `module`, newest first.
    pub async fn runs(
        &self,
        workspace: Option<&str>,
        module: &str,
        cron: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<Page<CronRun>, RunNowError> {
        let (handle, def) = self.find_cron(workspace, module, cron)?;
        Ok(self
            .store
            .cron_runs(
                &handle.workspace,
                &handle.name,
                &def.name,
                page_size,
                page_token,
            )
            .await?)
    }

    /// Runs cron `cron` of `module` now (`manual: true`), obeying its overlap policy; returns
    /// the `running` record.
    pub async fn run_now(
        self: &Arc<Self>,
        workspace: Option<&str>,
        module: &str,
        cron: &str,
    ) -> Result<CronRun, RunNowError> {
        let (handle, def) = self.find_cron(workspace, module, cron)?;
        let work = handle
            .work()
            .ok_or_else(|| RunNowError::NotReady(module.to_string()))?;
        let target = Target {
            key: (
                handle.workspace.clone(),
                handle.name.clone(),
                def.name.clone(),
            ),
            module: Arc::clone(&handle),
            work,
            def,
        };
        let slot = self
            .claim(&target)
            .ok_or_else(|| RunNowError::Overlap(cron.to_string()))?;
        self.launch(slot, &target, now_ms(), true)
            .await?
            .ok_or_else(|| RunNowError::Overlap(cron.to_string()))
    }
}

/// The latest fire time at or before `now`, searched in growing windows.
fn latest_at_or_before(schedule: &Schedule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    const WINDOWS: [i64; 7] = [
        2,
        60,
        3600,
        86_400,
        32 * 86_400,
        367 * 86_400,
        5 * 367 * 86_400,
    ];
    for window in WINDOWS {
        let from = now - chrono::Duration::seconds(window);
        let times = schedule.occurrences_between(from, now, 100_000);
        if let Some(last) = times.last() {
            return Some(*last);
        }
    }
    None
}

/// The invocation of one run: its `CronTick`, and the run id as the request id (PROTOCOL.md
/// §5.14), so the module's log lines of a run carry it.
fn tick_invocation(
    def: &CronDef,
    run: &CronRun,
    fired_at_ms: u64,
) -> (invocation::Kind, InvokeOptions) {
    let tick = CronTick {
        cron: def.name.clone(),
        run_id: run.id.clone(),
        scheduled_at_ms: run.scheduled_at_ms,
        fired_at_ms,
        manual: run.manual,
    };
    let options = InvokeOptions {
        timeout: Some(run_timeout(def.timeout_ms)),
        request_id: run.id.clone(),
        wait_for_credit: true,
        ..Default::default()
    };
    (invocation::Kind::Cron(tick), options)
}

/// The outcome and message of a run from the module's answer.
fn outcome_of(result: Result<outcome::Result, WorkError>) -> (CronOutcome, String) {
    match result {
        Ok(outcome::Result::Cron(answer)) => (CronOutcome::Ok, answer.message),
        // The outcome table (PROTOCOL.md §5.7); the module's own deadline (the invocation
        // carries it) can answer first.
        Ok(outcome::Result::Error(error)) => {
            let outcome = cron_outcome(Failure::of_error_code(error.code));
            let message = if outcome == CronOutcome::Timeout {
                format!("the run passed its deadline: {}", error.message)
            } else {
                error.message
            };
            (outcome, message)
        }
        Ok(_) => (
            CronOutcome::Failed,
            "the module answered with another kind of result".into(),
        ),
        Err(error) => {
            let outcome = cron_outcome(Failure::of_work_error(&error));
            let message = match error {
                WorkError::DeadlineExceeded(deadline) => format!(
                    "the run passed its deadline of {}",
                    humantime::format_duration(deadline)
                ),
                WorkError::LaneClosed(_) | WorkError::NotAccepting => MODULE_STOPPED_MESSAGE.into(),
                other => other.to_string(),
            };
            (outcome, message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use convotic_proto::plugin::v1::{CronResult, Error, ErrorCode};

    #[test]
    fn answers_map_to_outcomes() {
        let ok = outcome_of(Ok(outcome::Result::Cron(CronResult {
            message: "synced".into(),
        })));
        assert_eq!(ok, (CronOutcome::Ok, "synced".to_string()));
        let error = outcome_of(Ok(outcome::Result::Error(Error {
            message: "boom".into(),
            ..Default::default()
        })));
        assert_eq!(error, (CronOutcome::Error, "boom".to_string()));
        let module_deadline = outcome_of(Ok(outcome::Result::Error(Error {
            code: ErrorCode::DeadlineExceeded as i32,
            message: "deadline exceeded".into(),
            ..Default::default()
        })));
        assert_eq!(module_deadline.0, CronOutcome::Timeout);
        let late = outcome_of(Err(WorkError::DeadlineExceeded(Duration::from_secs(1))));
        assert_eq!(late.0, CronOutcome::Timeout);
        assert!(late.1.contains("1s"), "{}", late.1);
        assert_eq!(
            outcome_of(Err(WorkError::LaneClosed("reset".into()))),
            (CronOutcome::Failed, MODULE_STOPPED_MESSAGE.to_string())
        );
        assert_eq!(
            outcome_of(Err(WorkError::Overloaded(4))).0,
            CronOutcome::Failed
        );
    }

    #[test]
    fn a_run_is_invoked_with_its_run_id_as_request_id() {
        let def = CronDef {
            name: "nightly".into(),
            ..Default::default()
        };
        let run = CronRun {
            id: "run_01abc".into(),
            workspace_id: "ws".into(),
            module: "m".into(),
            cron: "nightly".into(),
            scheduled_at_ms: 1_000,
            started_at_ms: Some(1_001),
            finished_at_ms: None,
            outcome: CronOutcome::Running,
            message: String::new(),
            manual: true,
            supervisor_id: "s".into(),
        };
        let (kind, options) = tick_invocation(&def, &run, 1_002);
        assert_eq!(options.request_id, "run_01abc");
        let invocation::Kind::Cron(tick) = kind else {
            panic!("not a cron tick: {kind:?}");
        };
        assert_eq!(tick.run_id, options.request_id);
        assert!(tick.manual);
    }

    #[test]
    fn latest_tick_before_now() {
        let schedule = Schedule::parse("0 * * * *", "").unwrap();
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 10, 30, 0).unwrap();
        assert_eq!(
            latest_at_or_before(&schedule, now),
            Some(Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap())
        );
        let every_second = Schedule::parse("* * * * * *", "").unwrap();
        assert_eq!(latest_at_or_before(&every_second, now), Some(now));
    }
}
