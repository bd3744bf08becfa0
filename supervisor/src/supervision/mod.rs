//! Supervision: one task per module keeps it running (see [`runner`]); [`Supervisor`] holds
//! them all and answers the admin API.

pub mod backoff;
pub mod context;
mod env;
pub mod instance;
mod peer;
pub mod reload;
pub mod runner;
mod sandboxing;
pub mod serving;
pub mod status;
mod switch;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

pub use context::Context;
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

/// A configured module: its spec, status, output and runner.
pub struct ModuleHandle {
    /// The workspace it belongs to.
    pub workspace: String,
    /// Its name (unique in the workspace).
    pub name: String,
    /// What to run: replaced when a new version takes over (see [`Self::spec`]).
    spec: std::sync::RwLock<Arc<ModuleSpec>>,
    /// Recent output.
    pub logs: Arc<LogBuffer>,
    /// Route request counters and latencies.
    pub metrics: crate::metrics::RouteMetrics,
    status: Mutex<ModuleStatus>,
    control: mpsc::UnboundedSender<Control>,
    /// The ready instance, published as one value (None while no instance is ready).
    serving: watch::Sender<Option<Serving>>,
    /// What the last instance that became ready declared (kept while it restarts).
    declared: std::sync::RwLock<Option<Arc<Declared>>>,
    /// Cancelled once the module is removed from the set and its runner has stopped.
    retired: CancellationToken,
}

impl ModuleHandle {
    fn new(spec: ModuleSpec) -> (Arc<Self>, mpsc::UnboundedReceiver<Control>) {
        let (control, commands) = mpsc::unbounded_channel();
        let handle = Arc::new(Self {
            status: Mutex::new(ModuleStatus::new(&spec.workspace, &spec.name)),
            logs: Arc::new(LogBuffer::new(spec.log_buffer_lines)),
            metrics: Default::default(),
            workspace: spec.workspace.clone(),
            name: spec.name.clone(),
            spec: std::sync::RwLock::new(Arc::new(spec)),
            control,
            serving: watch::channel(None).0,
            declared: std::sync::RwLock::new(None),
            retired: CancellationToken::new(),
        });
        (handle, commands)
    }

    /// What the module runs now (the serving instance's spec once a switch has completed).
    pub fn spec(&self) -> Arc<ModuleSpec> {
        Arc::clone(&self.spec.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Makes `spec` the module's spec (identity unchanged).
    fn set_spec(&self, spec: Arc<ModuleSpec>) {
        *self.spec.write().unwrap_or_else(|e| e.into_inner()) = spec;
    }

    /// A snapshot of the module's status.
    pub fn status(&self) -> ModuleStatus {
        let mut status = self
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        status.in_flight = self.work().map_or(0, |w| w.in_flight());
        let spec = self.spec();
        status.source = spec.source.label();
        status.package_version = spec.source.version().map(str::to_string);
        status.enabled = spec.enabled;
        status
    }

    /// The ready instance (its work client and what it declared, together), if any.
    pub fn serving(&self) -> Option<Serving> {
        self.serving.borrow().clone()
    }

    /// Follows the ready instance: a new value each time one becomes ready or stops serving.
    pub fn watch_serving(&self) -> watch::Receiver<Option<Serving>> {
        self.serving.subscribe()
    }

    /// The ready instance's work client, if the module is ready.
    pub fn work(&self) -> Option<WorkClient> {
        self.serving.borrow().as_ref().map(|s| s.work.clone())
    }

    /// What the last instance that became ready declared (None if none ever was). Use
    /// [`Self::serving`] to send work: this one may belong to an instance that is gone.
    pub fn declared(&self) -> Option<Arc<Declared>> {
        self.declared
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends an invocation to `work` (a client of this module taken from [`Self::serving`]);
    /// when that instance no longer accepts work because another took over meanwhile, the
    /// invocation goes, unsent until then, to the instance serving now. So a switch costs no
    /// caller an error.
    pub async fn invoke(
        &self,
        work: &WorkClient,
        kind: convotic_proto::plugin::v1::invocation::Kind,
        options: crate::protocol::InvokeOptions,
    ) -> Result<convotic_proto::plugin::v1::outcome::Result, crate::protocol::WorkError> {
        let mut work = work.clone();
        let mut kind = kind;
        // Each retry follows a completed switch; two in a row within one call is already rare.
        for _ in 0..3 {
            match work.try_invoke(kind, options.clone()).await {
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

    /// Publishes a ready instance (or that none is ready).
    fn publish(&self, serving: Option<Serving>) {
        if let Some(serving) = &serving {
            *self.declared.write().unwrap_or_else(|e| e.into_inner()) =
                Some(Arc::clone(&serving.declared));
        }
        self.serving.send_replace(serving);
    }

    /// Resolves once the module has been removed and its runner has stopped: tasks that follow
    /// the module end then.
    pub async fn retired(&self) {
        self.retired.cancelled().await
    }

    /// Asks the runner to restart the module (leaving `failed` if it was).
    pub fn restart(&self) -> bool {
        self.control.send(Control::Restart).is_ok()
    }

    fn update(&self, change: impl FnOnce(&mut ModuleStatus)) {
        change(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Records a lifecycle event in the module's log buffer and the supervisor's log.
    fn event(&self, text: String) {
        tracing::info!(workspace = %self.workspace, module = %self.name, "{text}");
        let instance = self.status().instance.unwrap_or_default();
        self.logs.push(Stream::Supervisor, &instance, text);
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
        let (handle, commands) = ModuleHandle::new(spec);
        if enabled {
            tokio::spawn(runner::run(
                Arc::clone(&handle),
                Arc::clone(&self.ctx),
                commands,
            ));
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
        let (reply, done) = oneshot::channel();
        if handle.control.send(Control::Stop(reply)).is_ok() {
            let grace = handle.spec().stop_grace + Duration::from_secs(6);
            if tokio::time::timeout(grace, done).await.is_err() {
                tracing::error!(
                    workspace,
                    module = name,
                    "the removed module did not stop in time"
                );
            }
        }
        handle.retired.cancel();
        Ok(())
    }

    /// Runs `spec` for the module it names from now on (zero-downtime switch when it is
    /// ready); returns what happened, or why the running instance was kept.
    pub async fn replace(&self, spec: ModuleSpec) -> Result<String, String> {
        let handle = self
            .find(Some(&spec.workspace), &spec.name)
            .map_err(|e| e.to_string())?;
        let wait = spec.start_timeout + spec.stop_grace + Duration::from_secs(10);
        let (reply, done) = oneshot::channel();
        handle
            .control
            .send(Control::Replace(Arc::new(spec), reply))
            .map_err(|_| "the module's runner has stopped".to_string())?;
        match tokio::time::timeout(wait, done).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err("the module's runner stopped before answering".into()),
            Err(_) => Err(format!(
                "no answer within {}",
                humantime::format_duration(wait)
            )),
        }
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
        let mut replies = Vec::new();
        let modules = self.modules();
        for module in modules.iter().filter(|m| m.spec().enabled) {
            let (reply, done) = oneshot::channel();
            if module.control.send(Control::Stop(reply)).is_ok() {
                replies.push(done);
            }
        }
        let longest = modules
            .iter()
            .map(|m| m.spec().stop_grace)
            .max()
            .unwrap_or_default();
        let all = futures::future::join_all(replies);
        if tokio::time::timeout(longest + Duration::from_secs(6), all)
            .await
            .is_err()
        {
            tracing::error!("some modules did not stop in time");
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
