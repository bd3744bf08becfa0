//! Replicas: with `replicas = N` a module runs N instances, each in a slot ([`Replica`]) with its
//! own runner, process, restarts and status. The module routes each call to the least-loaded
//! ready replica ([`super::ModuleHandle::serving`]); what a runner does to "its module" it does
//! through a [`Member`], which keeps the slot's state apart and shares the module's spec, logs
//! and identity.

use std::ops::Deref;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use super::{Control, ModuleHandle, ModuleStatus, Serving, State};
use crate::config::ModuleSpec;
use crate::process::Stream;

/// One instance slot of a module.
pub struct Replica {
    /// Its position (0-based).
    pub index: usize,
    status: Mutex<ModuleStatus>,
    pub(super) control: mpsc::UnboundedSender<Control>,
    serving: watch::Sender<Option<Serving>>,
}

/// What `ps` and the admin API show of each replica.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaStatus {
    /// Its position.
    pub index: usize,
    /// Its state.
    pub state: State,
    /// Its instance id.
    pub instance: Option<String>,
    /// Its process.
    pub pid: Option<i32>,
    /// Its restarts.
    pub restarts: u32,
    /// Invocations it has in flight.
    pub in_flight: usize,
    /// What keeps it down.
    pub last_error: Option<String>,
}

impl Replica {
    /// A slot of module `workspace/name`; returns it with the receiver its runner reads.
    pub(super) fn new(
        index: usize,
        workspace: &str,
        name: &str,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<Control>) {
        let (control, commands) = mpsc::unbounded_channel();
        let replica = Arc::new(Self {
            index,
            status: Mutex::new(ModuleStatus::new(workspace, name)),
            control,
            serving: watch::channel(None).0,
        });
        (replica, commands)
    }

    /// Its status now (its own fields only).
    pub fn status(&self) -> ModuleStatus {
        let mut status = self
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        status.in_flight = self.serving().map_or(0, |s| s.work.in_flight());
        status
    }

    /// Its ready instance, if any.
    pub fn serving(&self) -> Option<Serving> {
        self.serving.borrow().clone()
    }

    /// The short form shown per replica.
    pub fn summary(&self) -> ReplicaStatus {
        let status = self.status();
        ReplicaStatus {
            index: self.index,
            state: status.state,
            instance: status.instance,
            pid: status.pid,
            restarts: status.restarts,
            in_flight: status.in_flight,
            last_error: status.last_error,
        }
    }

    pub(super) fn update(&self, change: impl FnOnce(&mut ModuleStatus)) {
        change(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// A runner's view of its module: the module (spec, logs, identity, by `Deref`) and its own
/// replica (status, serving instance).
#[derive(Clone)]
pub struct Member {
    /// The module.
    pub module: Arc<ModuleHandle>,
    /// The slot this runner fills.
    pub replica: Arc<Replica>,
}

impl Deref for Member {
    type Target = ModuleHandle;

    fn deref(&self) -> &ModuleHandle {
        &self.module
    }
}

impl Member {
    /// Changes this replica's status.
    pub fn update(&self, change: impl FnOnce(&mut ModuleStatus)) {
        self.replica.update(change);
    }

    /// This replica's status.
    pub fn status(&self) -> ModuleStatus {
        self.replica.status()
    }

    /// Publishes this replica's ready instance (or that it has none); the module's routing
    /// follows.
    pub fn publish(&self, serving: Option<Serving>) {
        self.replica.serving.send_replace(serving.clone());
        self.module.refresh_serving(serving);
    }

    /// Records a lifecycle event (named by replica when there are several).
    pub fn event(&self, text: String) {
        let text = if self.module.replica_count() > 1 {
            format!("replica {}: {text}", self.replica.index)
        } else {
            text
        };
        tracing::info!(workspace = %self.workspace, module = %self.name, "{text}");
        let instance = self.status().instance.unwrap_or_default();
        self.logs.push(Stream::Supervisor, &instance, text);
    }

    /// Makes `spec` the module's spec.
    pub fn set_spec(&self, spec: Arc<ModuleSpec>) {
        self.module.set_spec(spec);
    }
}
