//! Start-up: every deployed module runs its active version again, from the manifest recorded
//! with the deployment (never re-read from the package directory) and its kept package (in a
//! cluster, installed from the store when this node lacks it).

use super::packages;
use super::Deployer;
use crate::config::ModuleSource;

impl Deployer {
    /// Clears half-unpacked archives, fails deployments a stopped supervisor left `deploying`,
    /// and adds every deployed module to the set (disabled ones stay stopped). Returns how
    /// many were added.
    pub async fn boot(&self) -> Result<usize, String> {
        packages::clear_incoming(&self.packages);
        // In a cluster, deployments other live nodes are running go on.
        let others = crate::supervision::membership::other_live_instances(&self.store)
            .await
            .map_err(|e| e.to_string())?;
        let interrupted = self
            .store
            .deployments_mark_interrupted(others)
            .await
            .map_err(|e| e.to_string())?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "deployments cut short by the last stop are recorded failed; their modules run their previous version"
            );
        }
        let deployed = self
            .store
            .deployed_modules()
            .await
            .map_err(|e| e.to_string())?;
        let mut added = 0;
        for module in deployed {
            let active = &module.active;
            if let Ok(existing) = self
                .supervisor
                .find(Some(&active.workspace), &active.module)
            {
                if existing.spec().source == ModuleSource::Config {
                    tracing::error!(
                        workspace = %active.workspace,
                        module = %active.module,
                        "the module is both deployed ({} {}) and defined in the config file: the config file's entry runs; remove one of them",
                        active.id,
                        active.version
                    );
                    continue;
                }
            }
            // A node that joined after the deployment installs it from the store.
            let ready = match self.ensure_package(active).await {
                Ok(_) => self.spec_of(active),
                Err(e) => Err(e),
            };
            let mut spec = match ready {
                Ok(spec) => spec,
                Err(e) => {
                    tracing::error!(
                        workspace = %active.workspace,
                        module = %active.module,
                        "cannot start the active deployment {}: {e}",
                        active.id
                    );
                    continue;
                }
            };
            spec.enabled = module.enabled;
            match self.supervisor.add(spec) {
                Ok(_) => added += 1,
                Err(e) => tracing::error!("{e}"),
            }
        }
        Ok(added)
    }
}
