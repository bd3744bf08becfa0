//! Deployments: a package archive uploaded to the admin API becomes the running version of a
//! module through the zero-downtime switch, and every step is recorded (docs/packages.md,
//! docs/operations.md).
//!
//! A deploy checks the digest, unpacks the archive (hostile input: `package::archive`) into a
//! temporary dir under `<data_dir>/packages/.incoming`, reads and checks the manifest, records
//! the deployment `deploying`, moves the package to `<data_dir>/packages/<ws>/<module>/<id>` and
//! flushes it to disk, then hands the new spec to the module's runner: the candidate starts
//! beside the running version and takes over only once ready; a candidate that fails is
//! stopped and the running version keeps serving. The outcome is recorded (`active` or
//! `failed` with the reason), old packages beyond the kept ones are deleted. Rollback runs the
//! same switch with a kept package. One operation per module at a time (a second gets 409).

mod boot;
mod cluster;
mod cluster_auth;
mod converge;
mod error;
mod operations;
mod packages;
mod reconcile;
mod reload;
mod rollout;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use cluster::NodeReport;
pub use error::DeployError;
pub use operations::{DeployRequest, Deployed, Summary};
pub use reload::NodeReload;

use crate::package::{Limits, PackageSettings};
use crate::store::Store;
use crate::supervision::Supervisor;

/// How many packages per module are kept for rollback when the config does not say.
pub const DEFAULT_KEEP: usize = 5;

/// Runs deploys, rollbacks, removals and enable/disable of deployed modules.
pub struct Deployer {
    supervisor: Arc<Supervisor>,
    store: Store,
    /// `<data_dir>/packages`.
    packages: PathBuf,
    settings: PackageSettings,
    /// Packages kept per module.
    keep: usize,
    limits: Limits,
    /// Modules with an operation under way (`workspace/name`).
    busy: Mutex<HashSet<String>>,
    /// Archives being received or unpacked at once (each may hold hundreds of MiB).
    uploads: Arc<tokio::sync::Semaphore>,
    /// Archives fetched from the store at once (a semaphore of their own: a node's uploads wait
    /// for the other nodes, whose fetches must not wait for their uploads).
    fetches: Arc<tokio::sync::Semaphore>,
    /// The link to the other nodes, on a store shared by a cluster.
    cluster: std::sync::OnceLock<cluster::ClusterLink>,
    /// This node's config reloader (for reloads asked by other nodes).
    reloader: std::sync::OnceLock<Arc<crate::supervision::reload::Reloader>>,
    /// Set once this node is stopping: it takes part in no cluster operation any more.
    leaving: std::sync::atomic::AtomicBool,
}

/// Archives received or unpacked at once, across modules.
pub const CONCURRENT_UPLOADS: usize = 2;

/// Marks a module busy for as long as it lives.
struct BusyGuard<'a> {
    deployer: &'a Deployer,
    key: String,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.deployer
            .busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

impl Deployer {
    /// A deployer keeping packages under `<data_dir>/packages`.
    pub fn new(
        supervisor: Arc<Supervisor>,
        store: Store,
        data_dir: &std::path::Path,
        settings: PackageSettings,
        keep: usize,
    ) -> Self {
        Self {
            supervisor,
            store,
            packages: data_dir.join("packages"),
            settings,
            keep: keep.max(1),
            limits: Limits::default(),
            busy: Mutex::new(HashSet::new()),
            uploads: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_UPLOADS)),
            fetches: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_UPLOADS)),
            cluster: std::sync::OnceLock::new(),
            reloader: std::sync::OnceLock::new(),
            leaving: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// On a store shared by a cluster: links this node to the others over `client` (it answers
    /// their requests and they answer its own, signed with the cluster key read from the
    /// store), and starts catching up with the store every few seconds. Nothing on one node.
    pub async fn join_cluster(
        self: &Arc<Self>,
        client: Option<async_nats::Client>,
    ) -> Result<(), crate::store::StoreError> {
        if !self.store.is_shared() {
            return Ok(());
        }
        let Some(client) = client else {
            tracing::error!(
                "a shared store without NATS: deployments reach the other nodes only through \
                 their catch-up with the store"
            );
            tokio::spawn(reconcile::run(Arc::clone(self)));
            return Ok(());
        };
        let key = self.store.cluster_key().await?;
        if key.len() < crate::store::CLUSTER_KEY_LEN {
            return Err(crate::store::StoreError::Internal(format!(
                "the cluster key in the store is {} bytes, fewer than {}: delete the row of \
                 table cluster_key with every node stopped, and start them again",
                key.len(),
                crate::store::CLUSTER_KEY_LEN
            )));
        }
        if self
            .cluster
            .set(cluster::ClusterLink::new(client, key))
            .is_err()
        {
            return Ok(());
        }
        let deployer = Arc::clone(self);
        tokio::spawn(async move {
            if let Some(link) = deployer.cluster.get() {
                cluster::serve(Arc::clone(&deployer), link).await;
            }
        });
        tokio::spawn(reconcile::run(Arc::clone(self)));
        Ok(())
    }

    /// The caps of an uploaded archive.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// A slot to receive and unpack one archive, or None when [`CONCURRENT_UPLOADS`] are under
    /// way (the caller answers 503 with Retry-After).
    pub fn upload_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(&self.uploads).try_acquire_owned().ok()
    }

    /// This node is stopping: from now on it answers other nodes' requests "leaving", so a
    /// deployment rolled out meanwhile does not wait for it (it starts the active versions when
    /// it comes back). Its heartbeats go on until its modules have stopped.
    pub fn leave_cluster(&self) {
        self.leaving
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether this node is stopping.
    pub(super) fn is_leaving(&self) -> bool {
        self.leaving.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether an operation of `workspace/module` is under way on this node.
    fn is_busy(&self, workspace: &str, module: &str) -> bool {
        self.busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&format!("{workspace}/{module}"))
    }

    /// Claims `workspace/module`, waiting up to `wait` for an operation under way on this node
    /// (a catch-up) to end; 409 after that.
    async fn claim_within(
        &self,
        workspace: &str,
        module: &str,
        wait: std::time::Duration,
    ) -> Result<BusyGuard<'_>, DeployError> {
        let until = std::time::Instant::now() + wait;
        loop {
            match self.claim(workspace, module) {
                Ok(guard) => return Ok(guard),
                Err(e) if std::time::Instant::now() >= until => return Err(e),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
    }

    /// Claims `workspace/module` for one operation, or 409.
    fn claim(&self, workspace: &str, module: &str) -> Result<BusyGuard<'_>, DeployError> {
        let key = format!("{workspace}/{module}");
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if !busy.insert(key.clone()) {
            return Err(DeployError::Conflict {
                code: "operation_in_progress",
                message: format!(
                    "another deploy, rollback or change of {key} is under way; retry once it has finished"
                ),
            });
        }
        Ok(BusyGuard {
            deployer: self,
            key,
        })
    }
}
