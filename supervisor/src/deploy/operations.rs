//! Deploy, rollback, remove, disable and enable: each claims the module, checks what it is
//! asked, and (for deploy and rollback) runs the switch and records the outcome.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::cluster::NodeReport;
use super::error::DeployError;
use super::packages;
use super::Deployer;
use crate::config::{ModuleSource, ModuleSpec};
use crate::store::{Deployment, NewDeployment};
use crate::supervision::membership;
use crate::supervision::{FindError, ModuleHandle, State};

/// Output lines of a failed candidate returned with the failure.
const FAILED_LOG_LINES: usize = 20;

/// An uploaded package to deploy.
pub struct DeployRequest {
    /// The workspace (from the URL).
    pub workspace: String,
    /// The module name (from the URL; the package must carry the same).
    pub module: String,
    /// The gzip'd tar.
    pub archive: bytes::Bytes,
    /// The digest the uploader computed (`sha256:<hex>` or `<hex>`).
    pub digest: Option<String>,
    /// `admin` or `key:<id>`.
    pub actor: String,
}

/// A deployment that took over.
#[derive(Debug, Serialize)]
pub struct Deployed {
    /// Its record (state `active`).
    pub deployment: Deployment,
    /// How it took over.
    pub message: String,
    /// What the new version declared: routes, workers, nodes, blocks, crons.
    pub module: serde_json::Value,
}

/// Alias kept for the API's vocabulary.
pub type Summary = serde_json::Value;

impl Deployer {
    /// Deploys an uploaded package (see the module docs); returns once the new version took
    /// over or was refused.
    pub async fn deploy(&self, request: DeployRequest) -> Result<Deployed, DeployError> {
        let (workspace, module) = (request.workspace.clone(), request.module.clone());
        let result = self.deploy_package(request).await;
        count(&workspace, &module, "deploy", &result);
        result
    }

    async fn deploy_package(&self, request: DeployRequest) -> Result<Deployed, DeployError> {
        check_names(&request.workspace, &request.module)?;
        let _busy = self.claim(&request.workspace, &request.module)?;
        self.refuse_config_module(&request.workspace, &request.module)?;
        if let Some(deployed) = self
            .store
            .deployed_module(&request.workspace, &request.module)
            .await?
        {
            if !deployed.enabled {
                return Err(DeployError::conflict(
                    "module_disabled",
                    format!(
                        "{}/{} is disabled: enable it (`modules enable`) before deploying a new version",
                        request.workspace, request.module
                    ),
                ));
            }
        }
        let packages_dir = self.packages.clone();
        let archive = request.archive.clone();
        let limits = self.limits;
        let announced = request.digest.clone();
        // Hashing and unpacking up to 256 MiB: off the async threads.
        let (digest, incoming) = tokio::task::spawn_blocking(move || {
            let digest = check_digest(announced.as_deref(), &archive)?;
            packages::unpack(&packages_dir, &archive, limits).map(|incoming| (digest, incoming))
        })
        .await
        .map_err(|e| DeployError::Unavailable(format!("unpacking stopped: {e}")))??;
        if incoming.manifest.name != request.module {
            return Err(DeployError::bad(
                "name_mismatch",
                format!(
                    "the package is named {:?} (name in convotic-module.toml) but was deployed as {:?}: deploy it under its own name, or change the manifest",
                    incoming.manifest.name, request.module
                ),
            ));
        }
        // Refuse an unusable manifest before recording anything (the entry, limits, runtime).
        incoming
            .manifest
            .to_spec(
                &request.workspace,
                incoming.dir(),
                ModuleSource::Config,
                &self.settings,
            )
            .map_err(|e| DeployError::bad("bad_manifest", format!("convotic-module.toml: {e}")))?;
        self.store
            .ensure_workspace(&request.workspace)
            .await
            .map_err(|e| DeployError::bad("bad_workspace", e.to_string()))?;
        let manifest = incoming.manifest.clone();
        let record = self
            .start_record(NewDeployment {
                workspace: request.workspace.clone(),
                module: request.module.clone(),
                version: manifest.version.clone(),
                digest,
                manifest: incoming.manifest_text.clone(),
                package: None,
                rollback_of: None,
                actor: request.actor.clone(),
                origin: membership::instance_id(),
            })
            .await?;
        let target = packages::package_dir(
            &self.packages,
            &request.workspace,
            &request.module,
            &record.id,
        );
        let install_target = target.clone();
        let installed =
            tokio::task::spawn_blocking(move || packages::install(incoming, &install_target))
                .await
                .map_err(|e| DeployError::Unavailable(format!("installing stopped: {e}")))
                .and_then(|r| r);
        if let Err(e) = installed {
            self.store
                .deployment_failed(&record.id, &e.to_string())
                .await?;
            return Err(e);
        }
        // Every node of a cluster installs the package from the store (late joiners too).
        if self.store.is_shared() {
            if let Err(e) = self
                .store
                .package_archive_put(&record.id, request.archive.clone())
                .await
            {
                let reason = format!("cannot keep the archive in the store: {e}");
                let _ = self.failed(&record, reason.clone(), Vec::new()).await;
                return Err(DeployError::Unavailable(reason));
            }
        }
        let source = ModuleSource::Deployment {
            id: record.id.clone(),
            version: manifest.version.clone(),
        };
        match manifest.to_spec(&request.workspace, &target, source, &self.settings) {
            Ok(spec) => self.switch_to(record, spec).await,
            Err(e) => Err(self
                .failed(&record, format!("convotic-module.toml: {e}"), Vec::new())
                .await),
        }
    }

    /// Rolls `workspace/module` back to deployment `to` (default: the newest kept package
    /// other than the active one) through the same switch.
    pub async fn rollback(
        &self,
        workspace: &str,
        module: &str,
        to: Option<&str>,
        actor: &str,
    ) -> Result<Deployed, DeployError> {
        let result = self.roll_back(workspace, module, to, actor).await;
        count(workspace, module, "rollback", &result);
        result
    }

    async fn roll_back(
        &self,
        workspace: &str,
        module: &str,
        to: Option<&str>,
        actor: &str,
    ) -> Result<Deployed, DeployError> {
        check_names(workspace, module)?;
        let _busy = self.claim(workspace, module)?;
        self.refuse_config_module(workspace, module)?;
        let Some(deployed) = self.store.deployed_module(workspace, module).await? else {
            return Err(not_deployed(workspace, module));
        };
        if !deployed.enabled {
            return Err(DeployError::conflict(
                "module_disabled",
                format!("{workspace}/{module} is disabled: enable it before rolling back"),
            ));
        }
        let active = deployed.active;
        let history = self.store.deployments_of(workspace, module, 1000).await?;
        let target = match to {
            Some(id) => {
                let Some(target) = history.iter().find(|d| d.id == id) else {
                    return Err(DeployError::NotFound {
                        code: "deployment_not_found",
                        message: format!("{workspace}/{module} has no deployment {id:?} (see `deployments list {module} --workspace {workspace}`)"),
                    });
                };
                if target.package == active.package {
                    return Err(DeployError::conflict(
                        "already_active",
                        format!("{id} ({}) is the package running now", target.version),
                    ));
                }
                if matches!(target.state.as_str(), "failed" | "deploying") {
                    return Err(DeployError::conflict(
                        "not_restorable",
                        format!(
                            "{id} never became active ({}): it cannot be rolled back to",
                            target.state
                        ),
                    ));
                }
                target.clone()
            }
            None => history
                .iter()
                .find(|d| {
                    d.package != active.package
                        && d.package_kept
                        && matches!(d.state.as_str(), "superseded" | "rolled_back" | "removed")
                })
                .cloned()
                .ok_or_else(|| {
                    DeployError::conflict(
                        "nothing_to_roll_back_to",
                        format!(
                            "{workspace}/{module} has no earlier version whose package is kept"
                        ),
                    )
                })?,
        };
        if !target.package_kept {
            return Err(DeployError::conflict(
                "package_gone",
                format!(
                    "the package of {} ({}) is no longer kept (only the last {} per module are)",
                    target.id, target.version, self.keep
                ),
            ));
        }
        let manifest = crate::package::parse(&target.manifest).map_err(|e| {
            DeployError::Unavailable(format!("the recorded manifest of {}: {e}", target.id))
        })?;
        let target_dir = self.ensure_package(&target).await?;
        let record = self
            .start_record(NewDeployment {
                workspace: workspace.to_string(),
                module: module.to_string(),
                version: target.version.clone(),
                digest: target.digest.clone(),
                manifest: target.manifest.clone(),
                package: Some(target.package.clone()),
                rollback_of: Some(target.id.clone()),
                actor: actor.to_string(),
                origin: membership::instance_id(),
            })
            .await?;
        let dir = target_dir;
        let source = ModuleSource::Deployment {
            id: record.id.clone(),
            version: target.version.clone(),
        };
        match manifest.to_spec(workspace, &dir, source, &self.settings) {
            Ok(spec) => self.switch_to(record, spec).await,
            Err(e) => Err(self
                .failed(&record, format!("the kept package: {e}"), Vec::new())
                .await),
        }
    }

    /// Stops and removes a deployed module; its history stays. In a cluster, what each node
    /// did (empty on one node).
    pub async fn remove(
        &self,
        workspace: &str,
        module: &str,
        actor: &str,
    ) -> Result<Vec<NodeReport>, DeployError> {
        check_names(workspace, module)?;
        let busy = self.claim(workspace, module)?;
        self.refuse_config_module(workspace, module)?;
        // Recorded first: once answered, the removal survives a crash.
        if !self.store.deployed_remove(workspace, module, actor).await? {
            return Err(not_deployed(workspace, module));
        }
        let _ = self.supervisor.remove(workspace, module).await;
        // Its processes are gone: its packages go too (recorded first), the history stays.
        let history = self.store.deployments_of(workspace, module, 1000).await?;
        let kept: Vec<String> = history
            .iter()
            .filter(|d| d.package_kept && d.package == d.id)
            .map(|d| d.id.clone())
            .collect();
        if !kept.is_empty() {
            self.store.deployments_forget_packages(kept.clone()).await?;
            packages::delete(&self.packages, workspace, module, &kept);
        }
        let _ = std::fs::remove_dir(self.packages.join(workspace).join(module));
        drop(busy);
        Ok(self.tell_peers(workspace, module, "removed").await)
    }

    /// Stops a deployed module and keeps it stopped (also across restarts) until enabled.
    /// In a cluster, what each node did (empty on one node).
    pub async fn disable(
        &self,
        workspace: &str,
        module: &str,
    ) -> Result<Vec<NodeReport>, DeployError> {
        self.set_enabled(workspace, module, false).await?;
        Ok(self.tell_peers(workspace, module, "disabled").await)
    }

    /// Starts a disabled deployed module again (its active version). In a cluster, what each
    /// node did (empty on one node).
    pub async fn enable(
        &self,
        workspace: &str,
        module: &str,
    ) -> Result<Vec<NodeReport>, DeployError> {
        self.set_enabled(workspace, module, true).await?;
        Ok(self.tell_peers(workspace, module, "enabled").await)
    }

    async fn set_enabled(
        &self,
        workspace: &str,
        module: &str,
        enabled: bool,
    ) -> Result<(), DeployError> {
        check_names(workspace, module)?;
        let _busy = self.claim(workspace, module)?;
        self.refuse_config_module(workspace, module)?;
        let Some(deployed) = self.store.deployed_module(workspace, module).await? else {
            return Err(not_deployed(workspace, module));
        };
        if deployed.enabled == enabled {
            return Ok(());
        }
        self.ensure_package(&deployed.active).await?;
        let mut spec = self.spec_of(&deployed.active)?;
        spec.enabled = enabled;
        self.store
            .deployed_set_enabled(workspace, module, enabled)
            .await?;
        let _ = self.supervisor.remove(workspace, module).await;
        self.supervisor
            .add(spec)
            .map_err(|e| DeployError::conflict("module_exists", e.to_string()))?;
        Ok(())
    }

    /// The spec of an active deployment, from its recorded manifest and kept package.
    pub(super) fn spec_of(&self, active: &Deployment) -> Result<ModuleSpec, DeployError> {
        let manifest = crate::package::parse(&active.manifest).map_err(|e| {
            DeployError::Unavailable(format!("the recorded manifest of {}: {e}", active.id))
        })?;
        let dir = packages::package_dir(
            &self.packages,
            &active.workspace,
            &active.module,
            &active.package,
        );
        let source = ModuleSource::Deployment {
            id: active.id.clone(),
            version: active.version.clone(),
        };
        manifest
            .to_spec(&active.workspace, &dir, source, &self.settings)
            .map_err(|e| DeployError::Unavailable(format!("the package of {}: {e}", active.id)))
    }

    /// A module defined in the config file is the file's to change.
    pub(super) fn refuse_config_module(
        &self,
        workspace: &str,
        module: &str,
    ) -> Result<(), DeployError> {
        match self.supervisor.find(Some(workspace), module) {
            Ok(handle) if handle.spec().source == ModuleSource::Config => Err(DeployError::conflict(
                "module_in_config",
                format!(
                    "{workspace}/{module} is defined in the config file ([[modules]] entry with workspace = {workspace:?}, name = {module:?}): change it there and reload, or remove that entry and reload before deploying it"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Records a deployment under way; another one of the module (on any node) is a 409.
    async fn start_record(&self, new: NewDeployment) -> Result<Deployment, DeployError> {
        Ok(self.store.deployment_start(new).await?)
    }

    /// Switches this node to `spec`, then every other live node of a cluster; records the
    /// outcome: `active` when every node took it over, else `failed` with every node back on
    /// the active version.
    async fn switch_to(
        &self,
        record: Deployment,
        spec: ModuleSpec,
    ) -> Result<Deployed, DeployError> {
        // A peer may fetch the package, then switches replica after replica.
        let peer_wait = (spec.start_timeout + spec.stop_grace) * spec.replicas.max(1);
        let (handle, message) = match self
            .switch_here(&record.workspace, &record.module, spec)
            .await
        {
            Ok(done) => done,
            Err((reason, logs)) => return Err(self.failed(&record, reason, logs).await),
        };
        let rollout = self.roll_out(&record, &message, peer_wait).await;
        let outcome = match rollout.failure {
            None => self
                .store
                .deployment_activated(&record.id)
                .await
                .map_err(|e| (format!("it could not be recorded active: {e}"), Vec::new())),
            Some(failure) => Err(failure),
        };
        let nodes = rollout.nodes;
        let mut deployment = match outcome {
            Ok(deployment) => deployment,
            Err((reason, logs)) => {
                // Recorded failed first, so no node takes the candidate for one under way.
                match self.store.deployment_failed(&record.id, &reason).await {
                    // The activation did commit (its answer was lost): it took over.
                    Ok(settled) if settled.state == "active" => settled,
                    settled => {
                        if let Err(e) = settled {
                            tracing::warn!("cannot record {} failed yet: {e}", record.id);
                        }
                        return Err(self
                            .undo(&record, &rollout.peers, nodes, reason, logs)
                            .await);
                    }
                }
            }
        };
        self.record_nodes(&record.id, &nodes).await;
        deployment.nodes = serde_json::to_value(&nodes).unwrap_or_default();
        self.prune(&record.workspace, &record.module).await;
        // Nodes that joined while it rolled out switch now (the others run it already).
        self.announce(&record.workspace, &record.module).await;
        let module = handle
            .declared()
            .map(|d| crate::supervision::status::manifest_summary(&d.manifest))
            .unwrap_or_default();
        Ok(Deployed {
            deployment,
            message,
            module,
        })
    }

    /// After a failed rollout (recorded failed): every node back to the active version, the
    /// reports recorded, the error built.
    async fn undo(
        &self,
        record: &Deployment,
        peers: &[membership::Peer],
        mut nodes: Vec<super::NodeReport>,
        reason: String,
        logs: Vec<String>,
    ) -> DeployError {
        self.roll_back_all(record, peers, &mut nodes).await;
        let still_running = nodes.iter().any(|n| n.state == "not_rolled_back");
        let mut error = self
            .failed_keeping(record, reason, logs, still_running)
            .await;
        self.record_nodes(&record.id, &nodes).await;
        if let DeployError::Failed { deployment, .. } = &mut error {
            deployment.nodes = serde_json::to_value(&nodes).unwrap_or_default();
        }
        self.announce(&record.workspace, &record.module).await;
        error
    }

    /// Stores what each node reported for deployment `id` (nothing on one node).
    async fn record_nodes(&self, id: &str, nodes: &[super::NodeReport]) {
        if nodes.is_empty() {
            return;
        }
        let value = serde_json::to_value(nodes).unwrap_or_default();
        if let Err(e) = self.store.deployment_set_nodes(id, &value).await {
            tracing::warn!("cannot record the nodes' reports of {id}: {e}");
        }
    }

    /// Hands `spec` to this node's module (a new one is added) and waits until it took over;
    /// on failure the previous version keeps serving (a new module is removed again).
    pub(super) async fn switch_here(
        &self,
        workspace: &str,
        module: &str,
        spec: ModuleSpec,
    ) -> Result<(Arc<ModuleHandle>, String), (String, Vec<String>)> {
        let wait = spec.start_timeout + Duration::from_secs(10);
        match self.supervisor.find(Some(workspace), module) {
            Ok(handle) => {
                let logs_from = last_seq(&handle);
                let before = handle.status();
                let previous = handle.spec();
                match self.supervisor.replace(spec).await {
                    Ok(message) if before.state == State::Ready => Ok((handle, message)),
                    Ok(_) => match wait_ready(&handle, Some(before.restarts), wait).await {
                        Ok(message) => Ok((handle, message)),
                        Err(reason) => {
                            // Neither version runs: keep the previous spec for later restarts.
                            let _ = self.supervisor.replace((*previous).clone()).await;
                            Err((reason, logs_after(&handle, logs_from)))
                        }
                    },
                    Err(reason) => Err((reason, logs_after(&handle, logs_from))),
                }
            }
            Err(FindError::NotFound(_)) => match self.supervisor.add(spec) {
                Ok(handle) => match wait_ready(&handle, None, wait).await {
                    Ok(message) => Ok((handle, message)),
                    Err(reason) => {
                        let logs = logs_after(&handle, None);
                        let _ = self.supervisor.remove(workspace, module).await;
                        Err((reason, logs))
                    }
                },
                Err(e) => Err((e.to_string(), Vec::new())),
            },
            Err(e) => Err((e.to_string(), Vec::new())),
        }
    }

    /// Asks every other live node of a cluster to make `workspace/module` match the store
    /// (after a removal, enable or disable here, `done`) and reports what each node did, this
    /// one first: `applied`, `left` (stopping), `not_applied` or `unreachable` (logged; that
    /// node catches up by itself). Empty on one node.
    async fn tell_peers(&self, workspace: &str, module: &str, done: &str) -> Vec<NodeReport> {
        let Some(link) = self.cluster.get() else {
            return Vec::new();
        };
        let mut nodes = vec![super::rollout::report(
            &super::rollout::self_peer(),
            "applied",
            done.to_string(),
        )];
        let peers = match membership::live_peers(&self.store).await {
            Ok(peers) => peers,
            Err(e) => {
                tracing::warn!(
                    "cannot list the cluster's nodes to tell them about {workspace}/{module}: {e}"
                );
                // Nobody else was told: said in the answer, not only in this node's log.
                nodes.push(NodeReport {
                    node: "(other nodes)".into(),
                    instance: String::new(),
                    state: "unreachable".into(),
                    message: format!(
                        "cannot list the cluster's nodes ({e}); they catch up with the store by \
                         themselves"
                    ),
                });
                return nodes;
            }
        };
        let request = super::cluster::Request::Converge {
            workspace: workspace.to_string(),
            module: module.to_string(),
        };
        let answers = link
            .ask_all(&peers, &request, super::cluster::CONVERGE_TIMEOUT)
            .await;
        for (peer, answer) in peers.iter().zip(answers) {
            let (state, message) = match answer {
                Ok(reply) if reply.ok => ("applied", reply.message),
                Ok(reply) if reply.leaving => ("left", reply.message),
                Ok(reply) => ("not_applied", reply.message),
                Err(e) => ("unreachable", e),
            };
            if matches!(state, "not_applied" | "unreachable") {
                tracing::warn!(node = %peer.node, "{workspace}/{module} not changed there yet (it catches up by itself): {message}");
            }
            nodes.push(super::rollout::report(peer, state, message));
        }
        nodes
    }

    /// [`Deployer::announce`] for the catch-up.
    pub(super) async fn announce_converge(&self, workspace: &str, module: &str) {
        self.announce(workspace, module).await
    }

    /// Tells every node of a cluster, without waiting, to converge `workspace/module`.
    async fn announce(&self, workspace: &str, module: &str) {
        if let Some(link) = self.cluster.get() {
            link.announce(workspace, module).await;
        }
    }

    /// Records `record` failed (deleting its package if it brought one) and builds the error.
    async fn failed(&self, record: &Deployment, reason: String, logs: Vec<String>) -> DeployError {
        self.failed_keeping(record, reason, logs, false).await
    }

    /// [`Deployer::failed`]; `still_running`: a node (this one included) may still run the
    /// candidate, so its directory here is left to [`Deployer::prune_here`] (which spares what
    /// runs) instead of being deleted at once.
    async fn failed_keeping(
        &self,
        record: &Deployment,
        reason: String,
        logs: Vec<String>,
        still_running: bool,
    ) -> DeployError {
        let deployment = match self.store.deployment_failed(&record.id, &reason).await {
            Ok(deployment) => deployment,
            Err(e) => {
                return DeployError::Unavailable(format!("{reason}; recording it failed: {e}"))
            }
        };
        // Only a record that is failed loses its package (never one recorded active).
        if record.package == record.id && deployment.state == "failed" {
            // Recorded gone first: a crash mid-delete never leaves a half package "kept".
            let forgotten = self
                .store
                .deployments_forget_packages(vec![record.id.clone()])
                .await
                .is_ok();
            if forgotten && !still_running {
                packages::delete(
                    &self.packages,
                    &record.workspace,
                    &record.module,
                    std::slice::from_ref(&record.id),
                );
            } else if forgotten {
                self.prune_here(&record.workspace, &record.module, None, true)
                    .await;
            }
        }
        DeployError::Failed {
            message: format!(
                "{} {} did not take over: {reason}",
                record.module, record.version
            ),
            deployment: Box::new(deployment),
            logs,
        }
    }

    /// Deletes the packages of a module beyond the newest `keep` (the active one is always kept).
    async fn prune(&self, workspace: &str, module: &str) {
        let Ok(history) = self.store.deployments_of(workspace, module, 1000).await else {
            return;
        };
        // Failed candidates whose package is still kept (left under way, failed by a
        // catch-up): never restorable, dropped from the store; copies go once nothing runs them.
        let failed: Vec<String> = history
            .iter()
            .filter(|d| d.state == "failed" && d.package_kept && d.package == d.id)
            .map(|d| d.id.clone())
            .collect();
        if !failed.is_empty() && self.store.deployments_forget_packages(failed).await.is_ok() {
            self.prune_here(workspace, module, None, true).await;
        }
        let active = history
            .iter()
            .find(|d| d.state == "active")
            .map(|d| d.package.clone());
        let mut kept: Vec<String> = Vec::new();
        let mut dropped: Vec<String> = Vec::new();
        for deployment in history
            .iter()
            .filter(|d| d.package_kept && d.state != "failed")
        {
            if kept.contains(&deployment.package) || dropped.contains(&deployment.package) {
                continue;
            }
            // At least two: the version just replaced may still be draining from its package.
            if kept.len() < self.keep.max(2) || Some(&deployment.package) == active.as_ref() {
                kept.push(deployment.package.clone());
            } else {
                dropped.push(deployment.package.clone());
            }
        }
        if dropped.is_empty() {
            return;
        }
        // Recorded gone first: a crash mid-delete never leaves a half package "kept".
        match self
            .store
            .deployments_forget_packages(dropped.clone())
            .await
        {
            Ok(()) => packages::delete(&self.packages, workspace, module, &dropped),
            Err(e) => {
                tracing::warn!("cannot record the deleted packages of {workspace}/{module}: {e}")
            }
        }
    }
}

/// Waits until `handle` is ready, or reports why its new instance did not get there.
/// `restarts_before`: the restart count before the new spec was handed over (None for a
/// Counts a deploy or rollback that took over (`active`) or did not (`failed`); requests
/// refused before a deployment was recorded are not counted (their names may be anything).
fn count(workspace: &str, module: &str, operation: &str, result: &Result<Deployed, DeployError>) {
    let outcome = match result {
        Ok(_) => "active",
        Err(DeployError::Failed { .. }) => "failed",
        Err(_) => return,
    };
    crate::metrics::global().deployment_ended(workspace, module, operation, outcome);
}

/// module just added), so an earlier failure is not taken for the new one's.
async fn wait_ready(
    handle: &Arc<ModuleHandle>,
    restarts_before: Option<u32>,
    wait: Duration,
) -> Result<String, String> {
    let started = Instant::now();
    loop {
        let status = handle.status();
        let all_ready = status.replicas.iter().all(|r| r.state == State::Ready);
        match status.state {
            State::Ready if all_ready => {
                return Ok(format!(
                    "instance {} is ready",
                    status.instance.unwrap_or_default()
                ))
            }
            State::Backoff | State::CrashLoop | State::Failed | State::Stopped
                if new_failure(&status, restarts_before) =>
            {
                return Err(status
                    .last_failure
                    .or(status.last_error)
                    .unwrap_or_else(|| format!("it ended in state {:?}", status.state)))
            }
            _ => {}
        }
        if started.elapsed() > wait {
            return Err(format!(
                "not ready within {}",
                humantime::format_duration(wait)
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Whether `status` shows a failure of the instance started for the new spec.
fn new_failure(status: &crate::supervision::ModuleStatus, restarts_before: Option<u32>) -> bool {
    match restarts_before {
        Some(before) => status.restarts > before,
        // A module just added is `stopped` until its runner starts it.
        None => status.state != State::Stopped || status.last_failure.is_some(),
    }
}

fn last_seq(handle: &ModuleHandle) -> Option<u64> {
    handle.logs.since(None, 1).last().map(|l| l.seq)
}

fn logs_after(handle: &ModuleHandle, after: Option<u64>) -> Vec<String> {
    handle
        .logs
        .since(after, FAILED_LOG_LINES)
        .into_iter()
        .map(|l| format!("[{}] {}", l.stream.as_str(), l.text))
        .collect()
}

fn not_deployed(workspace: &str, module: &str) -> DeployError {
    DeployError::NotFound {
        code: "module_not_deployed",
        message: format!("{workspace}/{module} is not a deployed module (deploy a package first)"),
    }
}

pub(super) fn check_names(workspace: &str, module: &str) -> Result<(), DeployError> {
    if !crate::names::is_workspace_id(workspace) {
        return Err(DeployError::bad(
            "bad_workspace",
            format!("{workspace:?} is not a workspace id: ws_ followed by 1-60 of [a-z0-9_]"),
        ));
    }
    if !crate::names::is_module_name(module) {
        return Err(DeployError::bad(
            "bad_module_name",
            format!("{module:?} is not a module name: 1-64 of [a-z0-9-], starting with a letter"),
        ));
    }
    Ok(())
}

/// The archive's digest must be given and match.
fn check_digest(given: Option<&str>, archive: &[u8]) -> Result<String, DeployError> {
    let Some(given) = given else {
        return Err(DeployError::bad(
            "digest_required",
            "send the archive's SHA-256 in the X-Convotic-Digest header (sha256:<64 hex digits>)",
        ));
    };
    let hex = given
        .trim()
        .strip_prefix("sha256:")
        .unwrap_or(given.trim())
        .to_ascii_lowercase();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DeployError::bad(
            "bad_digest",
            format!("X-Convotic-Digest {given:?} is not sha256:<64 hex digits>"),
        ));
    }
    let actual = crate::package::digest(archive);
    if actual != hex {
        return Err(DeployError::bad(
            "digest_mismatch",
            format!(
                "the archive's SHA-256 is {actual}, not {hex} as announced: it was changed or cut in transit; upload it again"
            ),
        ));
    }
    Ok(actual)
}
