//! A node's catch-up with the store, every [`INTERVAL`] in a cluster: deployments left under
//! way by a node that is gone are recorded failed, and every deployed module is made to match
//! the store (`Deployer::converge`). It covers announcements a node missed (NATS core
//! messages are not kept), a NATS outage, and nodes that were down during an operation.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::Deployer;
use crate::config::ModuleSource;
use crate::supervision::membership;

/// How often a node of a cluster catches up with the store.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// Catches up every [`INTERVAL`] for as long as the process runs.
pub(super) async fn run(deployer: Arc<Deployer>) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut warned = Warned::default();
    loop {
        tick.tick().await;
        match deployer.catch_up(&mut warned).await {
            Ok(()) => warned.clear(""),
            Err(e) => warned.once(
                "",
                &format!("cannot catch up with the cluster's deployments: {e}"),
            ),
        }
    }
}

impl Deployer {
    /// One catch-up (see the module docs).
    pub(super) async fn catch_up(&self, warned: &mut Warned) -> Result<(), String> {
        if self.is_leaving() {
            // Stopping: nothing is started or switched any more.
            return Ok(());
        }
        let mut live = membership::other_live_instances(&self.store)
            .await
            .map_err(|e| e.to_string())?;
        live.push(membership::instance_id());
        let interrupted = self
            .store
            .deployments_mark_interrupted(live)
            .await
            .map_err(|e| e.to_string())?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "deployments left under way by nodes that are gone are recorded failed"
            );
        }
        // This node's own deployments under way whose operation is over (recording the outcome
        // failed): failed now, and every node brought back.
        let under_way = self
            .store
            .deployments_under_way()
            .await
            .map_err(|e| e.to_string())?;
        for stuck in under_way
            .into_iter()
            .filter(|d| d.origin == membership::instance_id())
            .filter(|d| !self.is_busy(&d.workspace, &d.module))
        {
            tracing::warn!(
                deployment = %stuck.id,
                "a deployment of this node was left under way: recorded failed, every node goes back"
            );
            let _ = self
                .store
                .deployment_failed(&stuck.id, crate::store::INTERRUPTED_DEPLOYMENT)
                .await;
            self.announce_converge(&stuck.workspace, &stuck.module)
                .await;
        }
        let deployed = self
            .store
            .deployed_modules()
            .await
            .map_err(|e| e.to_string())?;
        let mut modules: HashSet<(String, String)> = deployed
            .iter()
            .map(|m| (m.active.workspace.clone(), m.active.module.clone()))
            .collect();
        for handle in self.supervisor.modules().iter() {
            let spec = handle.spec();
            if matches!(spec.source, ModuleSource::Deployment { .. }) {
                modules.insert((spec.workspace.clone(), spec.name.clone()));
            }
        }
        for (workspace, module) in modules {
            if self.runs_deployment_under_way(&workspace, &module).await {
                continue;
            }
            let name = format!("{workspace}/{module}");
            match self.converge(&workspace, &module).await {
                Ok(message) => {
                    if !message.contains("already") && !message.starts_with("not ") {
                        tracing::info!(%workspace, %module, "caught up with the cluster: {message}");
                    }
                    warned.clear(&name);
                }
                Err(e) => warned.once(
                    &name,
                    &format!("{name} does not match the cluster's deployments here: {e} (tried again every {}s)", INTERVAL.as_secs()),
                ),
            }
        }
        Ok(())
    }

    /// Whether this node runs, for `workspace/module`, a deployment still under way (asked by
    /// the node running it, which decides the outcome).
    async fn runs_deployment_under_way(&self, workspace: &str, module: &str) -> bool {
        let Ok(handle) = self.supervisor.find(Some(workspace), module) else {
            return false;
        };
        let ModuleSource::Deployment { id, .. } = &handle.spec().source else {
            return false;
        };
        matches!(self.store.deployment(id).await, Ok(d) if d.state == "deploying")
    }
}

/// The last warning logged per module, so a node that cannot catch up says so once per cause
/// (not every 10 s).
#[derive(Default)]
pub(super) struct Warned(HashMap<String, String>);

impl Warned {
    /// Logs `message` for `what` unless it is the one logged last.
    fn once(&mut self, what: &str, message: &str) {
        if self.0.get(what).map(String::as_str) != Some(message) {
            tracing::warn!("{message}");
            self.0.insert(what.to_string(), message.to_string());
        }
    }

    /// `what` is fine again.
    fn clear(&mut self, what: &str) {
        self.0.remove(what);
    }
}
