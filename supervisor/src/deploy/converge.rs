//! What one node of a cluster does when asked by another (`deploy/cluster.rs`) or by its own
//! catch-up loop (`deploy/reconcile.rs`): switch to a deployment under way, make a module match
//! the store, and install a package it lacks from the archive kept in the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cluster::Reply;

/// How long a switch asked by another node waits for an operation of the module under way on
/// this node (a catch-up) to end.
const CLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a package fetch waits for a slot.
const FETCH_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
/// A package whose deployment ended within this may still serve calls from an instance
/// draining since (the longest stop grace): not deleted before.
const DRAIN_WINDOW_MS: u64 = 10 * 60 * 1000;
use super::error::DeployError;
use super::packages;
use super::Deployer;
use crate::config::ModuleSource;
use crate::store::Deployment;

impl Deployer {
    /// Switches this node to deployment `id` (asked by the node running it); the answer says
    /// whether the new version took over here.
    pub(super) async fn switch_for_peer(&self, id: &str) -> Reply {
        match self.switch_to_record(id).await {
            Ok(message) => Reply::done(message),
            Err((message, logs)) => Reply {
                logs: logs
                    .into_iter()
                    .map(|line| crate::store::truncate_utf8(&line, 400))
                    .collect(),
                ..Reply::refused(crate::store::truncate_utf8(&message, 4096))
            },
        }
    }

    async fn switch_to_record(&self, id: &str) -> Result<String, (String, Vec<String>)> {
        let plain = |e: DeployError| (e.to_string(), Vec::new());
        let record = self.under_way(id).await.map_err(plain)?;
        let _busy = self
            .claim_within(&record.workspace, &record.module, CLAIM_WAIT)
            .await
            .map_err(plain)?;
        // Settled meanwhile (failed by its node, or by a catch-up): nothing to switch to.
        let record = self.under_way(id).await.map_err(plain)?;
        self.refuse_config_module(&record.workspace, &record.module)
            .map_err(plain)?;
        let dir = self.ensure_package(&record).await.map_err(plain)?;
        let manifest = crate::package::parse(&record.manifest)
            .map_err(|e| (format!("the recorded manifest of {id}: {e}"), Vec::new()))?;
        let source = ModuleSource::Deployment {
            id: record.id.clone(),
            version: record.version.clone(),
        };
        let spec = manifest
            .to_spec(&record.workspace, &dir, source, &self.settings)
            .map_err(|e| (format!("the package of {id}: {e}"), Vec::new()))?;
        let draining = self
            .supervisor
            .find(Some(&record.workspace), &record.module)
            .ok()
            .map(|h| h.spec().working_dir.clone());
        let (_, message) = self
            .switch_here(&record.workspace, &record.module, spec)
            .await?;
        // Settled while this node switched (its node gave up waiting): back at once.
        let settled = self.store.deployment(id).await.map(|d| d.state).ok();
        if let Some(state) = settled.filter(|state| state != "deploying") {
            let back = self
                .converge_claimed(&record.workspace, &record.module)
                .await;
            return Err((
                format!(
                    "deployment {id} was recorded {state} while this node switched; back: {back:?}"
                ),
                Vec::new(),
            ));
        }
        self.prune_here(&record.workspace, &record.module, draining.as_deref(), true)
            .await;
        Ok(message)
    }

    /// Deployment `id`, if it is still under way.
    async fn under_way(&self, id: &str) -> Result<Deployment, DeployError> {
        let record = self.store.deployment(id).await?;
        if record.state != "deploying" {
            return Err(DeployError::conflict(
                "not_under_way",
                format!("deployment {id} is {}, not under way", record.state),
            ));
        }
        Ok(record)
    }

    /// Makes what this node runs of `workspace/module` match the store: the active deployment
    /// (started or switched to), stopped when disabled, removed when no longer deployed. A
    /// module defined in this node's config file is left alone. Returns what was done.
    pub async fn converge(&self, workspace: &str, module: &str) -> Result<String, String> {
        super::operations::check_names(workspace, module).map_err(|e| e.to_string())?;
        let _busy = self.claim(workspace, module).map_err(|e| e.to_string())?;
        self.converge_claimed(workspace, module).await
    }

    /// [`Deployer::converge`] by the holder of the module's claim.
    pub(super) async fn converge_claimed(
        &self,
        workspace: &str,
        module: &str,
    ) -> Result<String, String> {
        let running = self.supervisor.find(Some(workspace), module).ok();
        if let Some(handle) = &running {
            if handle.spec().source == ModuleSource::Config {
                return Ok("defined in this node's config file: left as it is".into());
            }
        }
        let deployed = self
            .store
            .deployed_module(workspace, module)
            .await
            .map_err(|e| e.to_string())?;
        let Some(deployed) = deployed else {
            if running.is_some() {
                let _ = self.supervisor.remove(workspace, module).await;
                self.prune_here(workspace, module, None, false).await;
                return Ok("removed (no longer deployed)".into());
            }
            // Packages of a first version that failed, or left by a removal.
            self.prune_here(workspace, module, None, false).await;
            return Ok("not deployed, not running".into());
        };
        let active = &deployed.active;
        if let Some(handle) = &running {
            let spec = handle.spec();
            let same =
                matches!(&spec.source, ModuleSource::Deployment { id, .. } if *id == active.id);
            if same && spec.enabled == deployed.enabled {
                // A candidate rolled back from, once it cannot be draining any more.
                self.prune_here(workspace, module, None, true).await;
                return Ok(format!("runs {} ({}) already", active.id, active.version));
            }
        }
        let draining = running.as_ref().map(|h| h.spec().working_dir.clone());
        self.ensure_package(active)
            .await
            .map_err(|e| e.to_string())?;
        let mut spec = self.spec_of(active).map_err(|e| e.to_string())?;
        spec.enabled = deployed.enabled;
        let message = if !deployed.enabled || running.as_ref().is_some_and(|h| !h.spec().enabled) {
            // Stopping, or starting a stopped one: no version serves, nothing to hand over.
            let _ = self.supervisor.remove(workspace, module).await;
            self.supervisor.add(spec).map_err(|e| e.to_string())?;
            if deployed.enabled {
                format!("started {} ({})", active.id, active.version)
            } else {
                format!("stopped (disabled), at {} ({})", active.id, active.version)
            }
        } else {
            self.switch_here(workspace, module, spec)
                .await
                .map_err(|(reason, _)| reason)?;
            format!("switched to {} ({})", active.id, active.version)
        };
        self.prune_here(workspace, module, draining.as_deref(), true)
            .await;
        Ok(message)
    }

    /// The directory of `record`'s package, installed from the archive kept in the store when
    /// this node lacks it (a node that was not there when it was deployed). The archive must
    /// match the recorded digest.
    pub(super) async fn ensure_package(&self, record: &Deployment) -> Result<PathBuf, DeployError> {
        let dir = packages::package_dir(
            &self.packages,
            &record.workspace,
            &record.module,
            &record.package,
        );
        if dir.is_dir() || !self.store.is_shared() {
            return Ok(dir);
        }
        // Names from the store become a path: checked like the API's.
        super::operations::check_names(&record.workspace, &record.module)?;
        if !is_deployment_id(&record.package) {
            return Err(DeployError::Unavailable(format!(
                "the recorded package id {:?} is not a deployment id",
                record.package
            )));
        }
        // A bounded number of archives in memory.
        let _slot = tokio::time::timeout(FETCH_WAIT, Arc::clone(&self.fetches).acquire_owned())
            .await
            .map_err(|_| {
                DeployError::Unavailable(format!(
                    "other packages were being fetched from the store for {}",
                    humantime::format_duration(FETCH_WAIT)
                ))
            })?
            .map_err(|e| DeployError::Unavailable(e.to_string()))?;
        let limits = self.limits;
        let archive = self
            .store
            .package_archive(&record.package, limits.max_archive_bytes())
            .await?
            .ok_or_else(|| {
                DeployError::Unavailable(format!(
                    "the package of {} ({}) is neither on this node nor in the store (it was \
                     deleted); deploy the module again",
                    record.package, record.version
                ))
            })?;
        let (packages_dir, target) = (self.packages.clone(), dir.clone());
        let (digest, module) = (record.digest.clone(), record.module.clone());
        let package = record.package.clone();
        tokio::task::spawn_blocking(move || {
            let actual = crate::package::digest(&archive);
            if actual != digest {
                return Err(DeployError::Unavailable(format!(
                    "the archive of package {package} ({module}) kept in the store has SHA-256 \
                     {actual}, not {digest} as recorded: it was damaged or replaced; deploy the \
                     module again"
                )));
            }
            let incoming = packages::unpack(&packages_dir, &archive, limits)?;
            if incoming.manifest.name != module {
                return Err(DeployError::Unavailable(format!(
                    "the archive kept in the store is of module {:?}, not {module:?}",
                    incoming.manifest.name
                )));
            }
            packages::install(incoming, &target)
        })
        .await
        .map_err(|e| DeployError::Unavailable(format!("installing stopped: {e}")))??;
        tracing::info!(
            workspace = %record.workspace,
            module = %record.module,
            package = %record.package,
            "installed a package from the store"
        );
        Ok(dir)
    }

    /// Deletes this node's copies of the module's packages the store no longer keeps (the node
    /// running an operation decides which are kept), never the one the module runs from now
    /// nor `draining` (the version just replaced here). `spare_recent`: also spare packages of
    /// deployments that ended within [`DRAIN_WINDOW_MS`] (an instance rolled back from may
    /// still be draining from them); false when the module does not run here at all.
    pub(super) async fn prune_here(
        &self,
        workspace: &str,
        module: &str,
        draining: Option<&Path>,
        spare_recent: bool,
    ) {
        let Ok(history) = self.store.deployments_of(workspace, module, 1000).await else {
            return;
        };
        let running = self
            .supervisor
            .find(Some(workspace), module)
            .ok()
            .map(|h| h.spec().working_dir.clone());
        let now = crate::store::util_now_ms();
        let gone: Vec<String> = history
            .iter()
            .filter(|d| !d.package_kept && d.package == d.id)
            .filter(|d| {
                !spare_recent
                    || d.finished_at_ms
                        .is_some_and(|end| now.saturating_sub(end) > DRAIN_WINDOW_MS)
            })
            .map(|d| d.id.clone())
            .filter(|id| {
                let dir = packages::package_dir(&self.packages, workspace, module, id);
                let in_use = |path: Option<&Path>| path.is_some_and(|p| p.starts_with(&dir));
                dir.exists() && !in_use(draining) && !in_use(running.as_deref())
            })
            .collect();
        if !gone.is_empty() {
            packages::delete(&self.packages, workspace, module, &gone);
        }
    }
}

/// Whether `id` has the shape of a deployment id (`dep_` and 1-64 of `[0-9a-z]`).
fn is_deployment_id(id: &str) -> bool {
    id.strip_prefix("dep_").is_some_and(|rest| {
        (1..=64).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::is_deployment_id;

    #[test]
    fn only_deployment_ids_become_package_dirs() {
        assert!(is_deployment_id("dep_01a24e4d7ed75f320871"));
        for bad in ["", "dep_", "../dep_1", "dep_1/..", "dep_A", "x_1", "dep_1 "] {
            assert!(!is_deployment_id(bad), "{bad:?}");
        }
    }
}
