//! Supervision: one task per module keeps it running (see [`runner`]); [`Supervisor`] holds
//! them all and answers the admin API.

pub mod backoff;
pub mod context;
mod env;
pub mod instance;
mod peer;
pub mod runner;
mod sandboxing;
pub mod status;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

pub use context::Context;
pub use status::{ModuleStatus, State};

use crate::config::ModuleSpec;
use crate::process::{LogBuffer, Stream};
use crate::protocol::WorkClient;
use crate::registry::ModuleSchemas;
use crate::registry::RouteTable;
use convotic_proto::plugin::v1::Manifest;

/// Commands to a module's runner.
pub enum Control {
    /// Stop the current instance gracefully and start a new one (also leaves `failed`).
    Restart,
    /// Stop for good; the reply is sent once the process tree is gone.
    Stop(oneshot::Sender<()>),
}

/// A configured module: its spec, status, output and runner.
pub struct ModuleHandle {
    /// What to run.
    pub spec: ModuleSpec,
    /// Recent output.
    pub logs: Arc<LogBuffer>,
    /// Route request counters and latencies.
    pub metrics: crate::metrics::RouteMetrics,
    status: Mutex<ModuleStatus>,
    control: mpsc::UnboundedSender<Control>,
    work: watch::Sender<Option<WorkClient>>,
    /// Routes of the last instance that became ready (kept while it restarts).
    routes: std::sync::RwLock<Option<Arc<RouteTable>>>,
    /// Manifest of the last instance that became ready.
    manifest: std::sync::RwLock<Option<Arc<Manifest>>>,
    /// The compiled JSON Schemas of that manifest's nodes and blocks.
    schemas: std::sync::RwLock<Option<Arc<ModuleSchemas>>>,
}

impl ModuleHandle {
    fn new(spec: ModuleSpec) -> (Arc<Self>, mpsc::UnboundedReceiver<Control>) {
        let (control, commands) = mpsc::unbounded_channel();
        let handle = Arc::new(Self {
            status: Mutex::new(ModuleStatus::new(&spec.workspace, &spec.name)),
            logs: Arc::new(LogBuffer::new(spec.log_buffer_lines)),
            metrics: Default::default(),
            spec,
            control,
            work: watch::channel(None).0,
            routes: std::sync::RwLock::new(None),
            manifest: std::sync::RwLock::new(None),
            schemas: std::sync::RwLock::new(None),
        });
        (handle, commands)
    }

    /// A snapshot of the module's status.
    pub fn status(&self) -> ModuleStatus {
        let mut status = self
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        status.in_flight = self.work().map_or(0, |w| w.in_flight());
        status
    }

    /// The ready instance's work client, if the module is ready.
    pub fn work(&self) -> Option<WorkClient> {
        self.work.borrow().clone()
    }

    /// Follows readiness changes (a new `WorkClient` on each ready instance).
    pub fn watch_work(&self) -> watch::Receiver<Option<WorkClient>> {
        self.work.subscribe()
    }

    /// The routes of the last ready instance (None if it was never ready).
    pub fn routes(&self) -> Option<Arc<RouteTable>> {
        self.routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_routes(&self, table: RouteTable) {
        *self.routes.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(table));
    }

    /// The manifest of the last ready instance (None if it was never ready).
    pub fn manifest(&self) -> Option<Arc<Manifest>> {
        self.manifest
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The compiled node and block schemas of the last ready instance.
    pub fn schemas(&self) -> Option<Arc<ModuleSchemas>> {
        self.schemas
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_manifest(&self, manifest: Manifest) {
        // The manifest validator compiled every schema already; this cannot fail in practice.
        let schemas = ModuleSchemas::compile(&manifest).unwrap_or_else(|e| {
            tracing::error!(module = %self.spec.name, "cannot compile the manifest's schemas: {e}");
            ModuleSchemas::default()
        });
        *self.schemas.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(schemas));
        *self.manifest.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(manifest));
    }

    /// Asks the runner to restart the module (leaving `failed` if it was).
    pub fn restart(&self) -> bool {
        self.control.send(Control::Restart).is_ok()
    }

    fn set_work(&self, work: Option<WorkClient>) {
        self.work.send_replace(work);
    }

    fn update(&self, change: impl FnOnce(&mut ModuleStatus)) {
        change(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Records a lifecycle event in the module's log buffer and the supervisor's log.
    fn event(&self, text: String) {
        tracing::info!(workspace = %self.spec.workspace, module = %self.spec.name, "{text}");
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

/// Every module runner.
pub struct Supervisor {
    modules: Vec<Arc<ModuleHandle>>,
}

impl Supervisor {
    /// Starts a runner for every enabled module.
    pub fn start(specs: Vec<ModuleSpec>, ctx: Arc<Context>) -> Arc<Self> {
        let mut modules = Vec::with_capacity(specs.len());
        for spec in specs {
            let enabled = spec.enabled;
            let (handle, commands) = ModuleHandle::new(spec);
            if enabled {
                tokio::spawn(runner::run(Arc::clone(&handle), Arc::clone(&ctx), commands));
            } else {
                handle.update(|s| s.last_error = Some("disabled in the configuration".into()));
            }
            modules.push(handle);
        }
        Arc::new(Self { modules })
    }

    /// All modules, in configuration order.
    pub fn modules(&self) -> &[Arc<ModuleHandle>] {
        &self.modules
    }

    /// Finds a module by name, optionally within one workspace.
    pub fn find(
        &self,
        workspace: Option<&str>,
        name: &str,
    ) -> Result<Arc<ModuleHandle>, FindError> {
        let matches: Vec<&Arc<ModuleHandle>> = self
            .modules
            .iter()
            .filter(|m| m.spec.name == name && workspace.is_none_or(|w| m.spec.workspace == w))
            .collect();
        match matches.as_slice() {
            [] => Err(FindError::NotFound(name.to_string())),
            [one] => Ok(Arc::clone(one)),
            many => Err(FindError::Ambiguous {
                name: name.to_string(),
                workspaces: many
                    .iter()
                    .map(|m| m.spec.workspace.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Every module with this name, whatever its workspace.
    pub fn find_all(&self, name: &str) -> Vec<Arc<ModuleHandle>> {
        self.modules
            .iter()
            .filter(|m| m.spec.name == name)
            .cloned()
            .collect()
    }

    /// Whether every enabled module is ready.
    pub fn all_ready(&self) -> bool {
        self.modules
            .iter()
            .filter(|m| m.spec.enabled)
            .all(|m| m.status().state == State::Ready)
    }

    /// Stops every module concurrently; returns when all process trees are gone or after
    /// the longest grace period plus a margin.
    pub async fn shutdown(&self) {
        let mut replies = Vec::new();
        for module in self.modules.iter().filter(|m| m.spec.enabled) {
            let (reply, done) = oneshot::channel();
            if module.control.send(Control::Stop(reply)).is_ok() {
                replies.push(done);
            }
        }
        let longest = self
            .modules
            .iter()
            .map(|m| m.spec.stop_grace)
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
