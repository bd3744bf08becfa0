//! Supervision: one task per module keeps it running (see [`runner`]); [`Supervisor`] holds
//! them all and answers the admin API.

pub mod backoff;
pub mod context;
mod env;
pub mod instance;
pub mod membership;
mod peer;
pub mod reload;
pub mod replica;
pub mod runner;
mod sandboxing;
pub mod serving;
pub mod status;
mod switch;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

pub use context::Context;
pub use replica::{Member, Replica, ReplicaStatus};
pub use serving::{Declared, Serving};
pub use status::{ModuleStatus, State};
use tokio_util::sync::CancellationToken;

use crate::config::ModuleSpec;
use crate::process::{LogBuffer, Stream};
use crate::protocol::WorkClient;

/// Commands to a module's runner.
pub enum Control {
    /// Start a new instance: while one is ready, through the zero-downtime switch (the new one
    /// starts beside it and takes over once ready); otherwise at once (also leaves `failed`).
    Restart,
    /// Stop for good; the reply is sent once the process tree is gone.
    Stop(oneshot::Sender<()>),
    /// Run this spec from now on: like `Restart`, with the new spec. The reply says what
    /// happened, or why the running instance was kept.
    Replace(Arc<ModuleSpec>, oneshot::Sender<Result<String, String>>),
}

/// A configured module: its spec, output, and its replicas (each with its runner, status and
/// ready instance).
pub struct ModuleHandle {
    /// The workspace it belongs to.
    pub workspace: String,
    /// Its name (unique in the workspace).
    pub name: String,
    /// What to run: replaced when a new version takes over (see [`Self::spec`]).
    spec: std::sync::RwLock<Arc<ModuleSpec>>,
    /// Recent output.
    pub logs: Arc<LogBuffer>,
    /// Route answers, latencies and worker messages, for the console's charts.
    pub totals: crate::metrics::ModuleTotals,
    /// Recent chart points drawn from [`Self::totals`].
    pub samples: crate::metrics::samples::Series,
    /// Its instance slots (`replicas` of the spec; changed only by [`Supervisor::replace`]).
    replicas: std::sync::RwLock<Arc<Vec<Arc<Replica>>>>,
    /// One ready instance for the parts that follow the module as a whole (worker consumers,
    /// crons): kept while it serves, replaced by another ready replica's when it stops.
    serving: watch::Sender<Option<Serving>>,
    /// Held while `serving` is recomputed.
    refreshing: Mutex<()>,
    /// What the last instance that became ready declared (kept while it restarts).
    declared: std::sync::RwLock<Option<Arc<Declared>>>,
    /// Cancelled once the module is removed from the set and its runners have stopped.
    retired: CancellationToken,
}

impl ModuleHandle {
    /// A module with `spec.replicas` slots; returns the receivers of their runners.
    fn new(spec: ModuleSpec) -> (Arc<Self>, Vec<Slot>) {
        let slots: Vec<_> = (0..spec.replicas.max(1) as usize)
            .map(|index| Replica::new(index, &spec.workspace, &spec.name))
            .collect();
        let handle = Arc::new(Self {
            logs: Arc::new(LogBuffer::new(spec.log_buffer_lines)),
            totals: Default::default(),
            samples: Default::default(),
            workspace: spec.workspace.clone(),
            name: spec.name.clone(),
            spec: std::sync::RwLock::new(Arc::new(spec)),
            replicas: std::sync::RwLock::new(Arc::new(
                slots.iter().map(|(r, _)| Arc::clone(r)).collect(),
            )),
            serving: watch::channel(None).0,
            refreshing: Mutex::new(()),
            declared: std::sync::RwLock::new(None),
            retired: CancellationToken::new(),
        });
        (handle, slots)
    }

    /// What the module runs now (the serving instance's spec once a switch has completed).
    pub fn spec(&self) -> Arc<ModuleSpec> {
        Arc::clone(&self.spec.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Makes `spec` the module's spec (identity unchanged).
    fn set_spec(&self, spec: Arc<ModuleSpec>) {
        *self.spec.write().unwrap_or_else(|e| e.into_inner()) = spec;
    }

    /// Its replicas now.
    pub fn replicas(&self) -> Arc<Vec<Arc<Replica>>> {
        Arc::clone(&self.replicas.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// How many replicas it has.
    pub fn replica_count(&self) -> usize {
        self.replicas().len()
    }

    /// A snapshot of the module's status: the first ready replica's (else the first one's),
    /// with restarts and in-flight calls summed over the replicas and each listed.
    pub fn status(&self) -> ModuleStatus {
        let replicas = self.replicas();
        let statuses: Vec<ModuleStatus> = replicas.iter().map(|r| r.status()).collect();
        let mut status = statuses
            .iter()
            .find(|s| s.state == State::Ready)
            .or(statuses.first())
            .cloned()
            .unwrap_or_else(|| ModuleStatus::new(&self.workspace, &self.name));
        status.restarts = statuses.iter().map(|s| s.restarts).sum();
        status.in_flight = statuses.iter().map(|s| s.in_flight).sum();
        status.replicas = replicas.iter().map(|r| r.summary()).collect();
        let spec = self.spec();
        status.source = spec.source.label();
        status.package_version = spec.source.version().map(str::to_string);
        status.enabled = spec.enabled;
        status
    }

    /// The ready instance to send a call to: the least-loaded ready replica's (its work client
    /// and what it declared, together), if any.
    pub fn serving(&self) -> Option<Serving> {
        self.replicas()
            .iter()
            .filter_map(|r| r.serving())
            .filter(|s| s.work.is_accepting())
            .min_by_key(|s| s.work.in_flight())
    }

    /// Follows the module as a whole: a new value when the instance that stands for it changes
    /// (one ready replica's, kept while it serves).
    pub fn watch_serving(&self) -> watch::Receiver<Option<Serving>> {
        self.serving.subscribe()
    }

    /// The work client of the least-loaded ready replica, if any.
    pub fn work(&self) -> Option<WorkClient> {
        self.serving().map(|s| s.work)
    }

    /// The least-loaded ready replica's work client other than `work`'s (whose instance may
    /// have just died while still published).
    fn work_other_than(&self, work: &WorkClient) -> Option<WorkClient> {
        self.replicas()
            .iter()
            .filter_map(|r| r.serving())
            .map(|s| s.work)
            .filter(|w| w.is_accepting() && !w.same_as(work))
            .min_by_key(|w| w.in_flight())
    }

    /// What the last instance that became ready declared (None if none ever was). Use
    /// [`Self::serving`] to send work: this one may belong to an instance that is gone.
    pub fn declared(&self) -> Option<Arc<Declared>> {
        self.declared
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends an invocation to `work` (a client of this module taken from [`Self::serving`]).
    /// When that instance no longer accepts work because another took over meanwhile, the
    /// invocation goes, unsent until then, to a ready instance: so a switch costs no caller an
    /// error. An idempotent call (`options.idempotent`) whose instance died before answering is
    /// sent once more to another ready replica.
    pub async fn invoke(
        &self,
        work: &WorkClient,
        kind: convotic_proto::plugin::v1::invocation::Kind,
        options: crate::protocol::InvokeOptions,
    ) -> Result<convotic_proto::plugin::v1::outcome::Result, crate::protocol::WorkError> {
        let mut work = work.clone();
        let mut kind = kind;
        let mut retried_death = false;
        // Each retry follows a completed switch or a death; several within one call are rare.
        for _ in 0..4 {
            let again = (options.idempotent && !retried_death).then(|| kind.clone());
            match work.try_invoke(kind, options.clone()).await {
                Ok(Err(crate::protocol::WorkError::LaneClosed(why))) => match again {
                    Some(copy) => {
                        retried_death = true;
                        kind = copy;
                        match self.work_other_than(&work) {
                            Some(next) => work = next,
                            None => return Err(crate::protocol::WorkError::LaneClosed(why)),
                        }
                        continue;
                    }
                    None => return Err(crate::protocol::WorkError::LaneClosed(why)),
                },
                Ok(result) => return result,
                Err(crate::protocol::Refused(unsent)) => kind = unsent,
            }
            match self.work() {
                Some(next) if !next.same_as(&work) => work = next,
                _ => break,
            }
        }
        Err(crate::protocol::WorkError::NotAccepting)
    }

    /// Recomputes the instance that stands for the module after a replica published `latest`.
    fn refresh_serving(&self, latest: Option<Serving>) {
        let _guard = lock(&self.refreshing);
        if let Some(serving) = &latest {
            *self.declared.write().unwrap_or_else(|e| e.into_inner()) =
                Some(Arc::clone(&serving.declared));
        }
        let ready: Vec<Serving> = self.replicas().iter().filter_map(|r| r.serving()).collect();
        let current = self.serving.borrow().clone();
        let still_serving = current
            .as_ref()
            .is_some_and(|c| ready.iter().any(|r| r.instance == c.instance));
        if still_serving {
            return;
        }
        self.serving.send_replace(ready.into_iter().next());
    }

    /// Resolves once the module has been removed and its runners have stopped: tasks that
    /// follow the module end then.
    pub async fn retired(&self) {
        self.retired.cancelled().await
    }

    /// Restarts the module, one replica after the other, each through the zero-downtime switch
    /// when it is ready (also brings a failed module back).
    pub fn restart(self: &Arc<Self>) -> bool {
        let replicas = self.replicas();
        if replicas.len() == 1 {
            return replicas[0].control.send(Control::Restart).is_ok();
        }
        let module = Arc::clone(self);
        tokio::spawn(async move {
            for replica in module.replicas().iter() {
                let (reply, done) = oneshot::channel();
                let spec = module.spec();
                let wait = spec.start_timeout + spec.stop_grace + Duration::from_secs(10);
                if replica.control.send(Control::Replace(spec, reply)).is_ok() {
                    let _ = tokio::time::timeout(wait, done).await;
                }
            }
        });
        true
    }

    /// Changes every replica's status.
    fn update(&self, change: impl Fn(&mut ModuleStatus)) {
        for replica in self.replicas().iter() {
            replica.update(&change);
        }
    }

    /// Records a lifecycle event in the module's log buffer and the supervisor's log.
    fn event(&self, text: String) {
        tracing::info!(workspace = %self.workspace, module = %self.name, "{text}");
        let instance = self.status().instance.unwrap_or_default();
        self.logs.push(Stream::Supervisor, &instance, text);
    }

    /// Stops every replica; returns once all are gone (or after their grace plus a margin).
    async fn stop_all(&self) {
        let replicas = self.replicas();
        let mut replies = Vec::new();
        for replica in replicas.iter() {
            let (reply, done) = oneshot::channel();
            if replica.control.send(Control::Stop(reply)).is_ok() {
                replies.push(done);
            }
        }
        let grace = self.spec().stop_grace + Duration::from_secs(6);
        if tokio::time::timeout(grace, futures::future::join_all(replies))
            .await
            .is_err()
        {
            tracing::error!(
                workspace = %self.workspace,
                module = %self.name,
                "the module did not stop in time"
            );
        }
    }
}

/// Why a module lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// No module has that name (in that workspace).
    #[error("no module named {0:?} is configured")]
    NotFound(String),
    /// Several workspaces have a module of that name.
    #[error(
        "module {name:?} exists in several workspaces ({workspaces}); name one with --workspace"
    )]
    Ambiguous {
        /// The name.
        name: String,
        /// The workspaces, comma-separated.
        workspaces: String,
    },
}

/// Why a module could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The workspace already has a module of that name.
    #[error("workspace {workspace} already has a module named {name:?}")]
    Exists {
        /// The workspace.
        workspace: String,
        /// The name.
        name: String,
    },
}

/// A replica and the receiver its runner reads commands from.
type Slot = (Arc<Replica>, mpsc::UnboundedReceiver<Control>);

/// Called for every module of the set, and for each module added later.
type Follower = mpsc::UnboundedSender<Arc<ModuleHandle>>;

/// The live set of modules, keyed by (workspace, name): it gains and loses members while
/// running. Parts built on it (the workers' dispatcher, the cron scheduler) follow it with
/// [`Supervisor::follow`]; the gateway and the catalogs read [`Supervisor::modules`] per call.
pub struct Supervisor {
    ctx: Arc<Context>,
    /// The members in the order they were added; replaced as a whole on each change, so a
    /// reader's snapshot never changes under it.
    members: std::sync::RwLock<Arc<Vec<Arc<ModuleHandle>>>>,
    /// Held while membership changes, so a follower sees every module exactly once.
    followers: Mutex<Vec<Follower>>,
}

impl Supervisor {
    /// Starts a runner for every enabled module.
    pub fn start(specs: Vec<ModuleSpec>, ctx: Arc<Context>) -> Arc<Self> {
        let supervisor = Arc::new(Self {
            ctx,
            members: std::sync::RwLock::new(Arc::new(Vec::new())),
            followers: Mutex::new(Vec::new()),
        });
        for spec in specs {
            // Config validation refuses duplicates; a duplicate here is a bug worth a log line.
            if let Err(e) = supervisor.add(spec) {
                tracing::error!("{e}");
            }
        }
        supervisor
    }

    /// Adds a module and starts its runner (if it is enabled); every follower is told.
    pub fn add(&self, spec: ModuleSpec) -> Result<Arc<ModuleHandle>, AddError> {
        let mut followers = lock(&self.followers);
        let current = self.modules();
        if current
            .iter()
            .any(|m| m.workspace == spec.workspace && m.name == spec.name)
        {
            return Err(AddError::Exists {
                workspace: spec.workspace,
                name: spec.name,
            });
        }
        let enabled = spec.enabled;
        let (handle, slots) = ModuleHandle::new(spec);
        if enabled {
            for (replica, commands) in slots {
                let member = Member {
                    module: Arc::clone(&handle),
                    replica,
                };
                tokio::spawn(runner::run(member, Arc::clone(&self.ctx), commands));
            }
        } else {
            let why = match handle.spec().source {
                crate::config::ModuleSource::Config => "disabled in the configuration",
                crate::config::ModuleSource::Deployment { .. } => {
                    "disabled (`modules enable` starts it)"
                }
            };
            handle.update(|s| s.last_error = Some(why.into()));
        }
        let mut next = current.as_ref().clone();
        next.push(Arc::clone(&handle));
        *self.members.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        followers.retain(|follower| follower.send(Arc::clone(&handle)).is_ok());
        Ok(handle)
    }

    /// Removes a module: it leaves the set at once (no new work reaches it), its runner stops
    /// it gracefully, then the tasks following it end. Returns once its process tree is gone.
    pub async fn remove(&self, workspace: &str, name: &str) -> Result<(), FindError> {
        let handle = {
            let _followers = lock(&self.followers);
            let current = self.modules();
            let Some(handle) = current
                .iter()
                .find(|m| m.workspace == workspace && m.name == name)
                .cloned()
            else {
                return Err(FindError::NotFound(name.to_string()));
            };
            let next: Vec<_> = current
                .iter()
                .filter(|m| !Arc::ptr_eq(m, &handle))
                .cloned()
                .collect();
            *self.members.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
            handle
        };
        handle.event("removed from the module set".into());
        handle.stop_all().await;
        handle.retired.cancel();
        crate::metrics::global().forget_module(workspace, name);
        Ok(())
    }

    /// Runs `spec` for the module it names from now on, one replica after the other, each
    /// through the zero-downtime switch when it is ready; returns what happened, or why the
    /// running version was kept (replicas already switched go back to it). A changed replica
    /// count then adds or stops replicas.
    pub async fn replace(&self, spec: ModuleSpec) -> Result<String, String> {
        let handle = self
            .find(Some(&spec.workspace), &spec.name)
            .map_err(|e| e.to_string())?;
        let previous = handle.spec();
        let spec = Arc::new(spec);
        let replicas = handle.replicas();
        let mut messages = Vec::new();
        for (done, replica) in replicas.iter().enumerate() {
            match send_replace(&handle, replica, Arc::clone(&spec)).await {
                Ok(message) => messages.push(message),
                Err(reason) => {
                    for back in replicas.iter().take(done) {
                        let _ = send_replace(&handle, back, Arc::clone(&previous)).await;
                    }
                    handle.set_spec(previous);
                    return Err(reason);
                }
            }
        }
        self.scale(&handle, &spec).await;
        Ok(if messages.len() == 1 {
            messages.remove(0)
        } else {
            format!("{} replicas: {}", messages.len(), messages.join("; "))
        })
    }

    /// Adds or stops replicas until the module has `spec.replicas`.
    async fn scale(&self, handle: &Arc<ModuleHandle>, spec: &ModuleSpec) {
        let wanted = spec.replicas.max(1) as usize;
        let current = handle.replicas();
        if wanted == current.len() {
            return;
        }
        let mut next = current.as_ref().clone();
        if wanted > current.len() {
            for index in current.len()..wanted {
                let (replica, commands) = Replica::new(index, &handle.workspace, &handle.name);
                next.push(Arc::clone(&replica));
                if spec.enabled {
                    let member = Member {
                        module: Arc::clone(handle),
                        replica,
                    };
                    tokio::spawn(runner::run(member, Arc::clone(&self.ctx), commands));
                }
            }
            *handle.replicas.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
            handle.event(format!("scaled up to {wanted} replicas"));
            return;
        }
        let surplus = next.split_off(wanted);
        *handle.replicas.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        handle.refresh_serving(None);
        for replica in surplus {
            let (reply, done) = oneshot::channel();
            if replica.control.send(Control::Stop(reply)).is_ok() {
                let _ = tokio::time::timeout(spec.stop_grace + Duration::from_secs(6), done).await;
            }
        }
        handle.event(format!("scaled down to {wanted} replicas"));
    }

    /// Calls `on_module` for every module of the set now and for every module added later
    /// (each exactly once, in a task of its own for the later ones). To end with a removed
    /// module, a follower's tasks wait on [`ModuleHandle::retired`].
    pub fn follow(&self, on_module: impl Fn(Arc<ModuleHandle>) + Send + 'static) {
        let mut followers = lock(&self.followers);
        for module in self.modules().iter() {
            on_module(Arc::clone(module));
        }
        let (sender, mut added) = mpsc::unbounded_channel();
        followers.push(sender);
        tokio::spawn(async move {
            while let Some(module) = added.recv().await {
                on_module(module);
            }
        });
    }

    /// The modules now, in the order they were added (a snapshot: later changes do not show).
    pub fn modules(&self) -> Arc<Vec<Arc<ModuleHandle>>> {
        Arc::clone(&self.members.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Finds a module by name, optionally within one workspace.
    pub fn find(
        &self,
        workspace: Option<&str>,
        name: &str,
    ) -> Result<Arc<ModuleHandle>, FindError> {
        let modules = self.modules();
        let matches: Vec<&Arc<ModuleHandle>> = modules
            .iter()
            .filter(|m| m.name == name && workspace.is_none_or(|w| m.workspace == w))
            .collect();
        match matches.as_slice() {
            [] => Err(FindError::NotFound(name.to_string())),
            [one] => Ok(Arc::clone(one)),
            many => Err(FindError::Ambiguous {
                name: name.to_string(),
                workspaces: many
                    .iter()
                    .map(|m| m.workspace.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Every module with this name, whatever its workspace.
    pub fn find_all(&self, name: &str) -> Vec<Arc<ModuleHandle>> {
        self.modules()
            .iter()
            .filter(|m| m.name == name)
            .cloned()
            .collect()
    }

    /// Whether every enabled module is ready.
    pub fn all_ready(&self) -> bool {
        self.modules()
            .iter()
            .filter(|m| m.spec().enabled)
            .all(|m| m.status().state == State::Ready)
    }

    /// Stops every module concurrently; returns when all process trees are gone or after
    /// the longest grace period plus a margin.
    pub async fn shutdown(&self) {
        let modules = self.modules();
        let stops = modules
            .iter()
            .filter(|m| m.spec().enabled)
            .map(|m| m.stop_all());
        futures::future::join_all(stops).await;
    }
}

/// Asks one replica to run `spec`; its answer (or why none came).
async fn send_replace(
    handle: &ModuleHandle,
    replica: &Replica,
    spec: Arc<ModuleSpec>,
) -> Result<String, String> {
    let wait = spec.start_timeout + spec.stop_grace + Duration::from_secs(10);
    let (reply, done) = oneshot::channel();
    replica
        .control
        .send(Control::Replace(spec, reply))
        .map_err(|_| {
            format!(
                "the runner of {}/{} has stopped",
                handle.workspace, handle.name
            )
        })?;
    match tokio::time::timeout(wait, done).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) => Err("the module's runner stopped before answering".into()),
        Err(_) => Err(format!(
            "no answer within {}",
            humantime::format_duration(wait)
        )),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
