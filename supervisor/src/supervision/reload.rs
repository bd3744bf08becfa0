//! Configuration reload while running (`SIGHUP`, `convotic-supervisor reload`,
//! `POST /admin/v1/reload`), like Vector's `ConfigDiff`: the file is read and validated again
//! and only the difference is applied. Added modules start, removed ones stop (gracefully),
//! changed ones go through the zero-downtime switch ([`super::switch`]), unchanged ones are not
//! touched (same instance, same pid). A file that does not parse or validate changes nothing.
//! Sections the running supervisor cannot change (`[server]`, `[nats]`, `[workers]`,
//! `[secrets]`, `[runtimes]`, `[deployments]`, `data_dir`, `runtime_dir`, `cgroups`, and
//! `[defaults]` as far as deployed modules are concerned) are reported as needing a restart
//! and left as they are. Deployed modules are not in the file and are never touched by a
//! reload. One reload runs at a time.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::Supervisor;
use crate::config::{ConfigError, ModuleSpec, ResolvedConfig};
use crate::store::Store;

/// Applies changes of the config file to a running supervisor.
pub struct Reloader {
    path: PathBuf,
    supervisor: Arc<Supervisor>,
    store: Store,
    /// What is applied now (modules whose change failed keep their old spec here, so the next
    /// reload tries again); the lock makes reloads run one at a time.
    applied: tokio::sync::Mutex<ResolvedConfig>,
}

/// What a reload did.
#[derive(Debug, Default, Serialize)]
pub struct ReloadReport {
    /// `workspace/name` of the modules started.
    pub added: Vec<String>,
    /// `workspace/name` of the modules stopped and removed.
    pub removed: Vec<String>,
    /// Modules whose settings changed, and what became of each.
    pub changed: Vec<ChangedModule>,
    /// `workspace/name` of the modules left untouched.
    pub unchanged: Vec<String>,
    /// Settings that changed in the file but only apply at the next start.
    pub needs_restart: Vec<String>,
}

/// One changed module.
#[derive(Debug, Serialize)]
pub struct ChangedModule {
    /// `workspace/name`.
    pub module: String,
    /// Whether the new settings took over.
    pub applied: bool,
    /// What happened (or why the running instance was kept).
    pub message: String,
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file does not parse or validate.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// A new module's workspace could not be recorded.
    #[error("cannot record workspace {workspace}: {message}")]
    Store {
        /// The workspace.
        workspace: String,
        /// Why.
        message: String,
    },
}

impl Reloader {
    /// A reloader for the supervisor started from `path` with `applied`.
    pub fn new(
        path: PathBuf,
        applied: ResolvedConfig,
        supervisor: Arc<Supervisor>,
        store: Store,
    ) -> Self {
        Self {
            path,
            supervisor,
            store,
            applied: tokio::sync::Mutex::new(applied),
        }
    }

    /// Reads the file again and applies what changed; returns what was done.
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let mut applied = self.applied.lock().await;
        let path = self.path.clone();
        let next = tokio::task::spawn_blocking(move || crate::config::load(&path))
            .await
            .map_err(|e| ConfigError::Parse {
                path: self.path.clone(),
                message: format!("reading it failed: {e}"),
            })??;
        let mut report = ReloadReport {
            needs_restart: needs_restart(&applied, &next),
            ..Default::default()
        };
        let diff = Diff::between(&applied.modules, &next.modules);
        for spec in &diff.added {
            self.store
                .ensure_workspace(&spec.workspace)
                .await
                .map_err(|e| ReloadError::Store {
                    workspace: spec.workspace.clone(),
                    message: e.to_string(),
                })?;
        }
        tracing::info!(
            added = diff.added.len(),
            removed = diff.removed.len(),
            changed = diff.changed.len(),
            unchanged = diff.unchanged.len(),
            "reloading {}",
            self.path.display()
        );
        let removals = diff.removed.iter().map(|spec| async move {
            // Gone from the set already if it failed to start; nothing else can fail here.
            let _ = self.supervisor.remove(&spec.workspace, &spec.name).await;
            spec.key()
        });
        report.removed = futures::future::join_all(removals).await;
        let mut refused = Vec::new();
        for spec in &diff.added {
            match self.supervisor.add(spec.clone()) {
                Ok(_) => report.added.push(spec.key()),
                Err(e) => {
                    tracing::error!("{e}");
                    refused.push(ChangedModule {
                        module: spec.key(),
                        applied: false,
                        message: format!(
                            "{e} (a deployed module? remove it with `modules remove` first)"
                        ),
                    });
                }
            }
        }
        let changes = diff.changed.iter().map(|(old, new)| self.change(old, new));
        report.changed = futures::future::join_all(changes).await;
        report.unchanged = diff.unchanged.iter().map(|s| s.key()).collect();

        // What now runs: the new file, except changes that did not take over.
        let mut modules = next.modules;
        modules.retain(|m| !refused.iter().any(|r| r.module == m.key()));
        report.changed.extend(refused);
        for (changed, (old, _)) in report.changed.iter().zip(&diff.changed) {
            if !changed.applied {
                if let Some(slot) = modules.iter_mut().find(|m| m.key() == old.key()) {
                    *slot = old.clone();
                }
            }
        }
        // Restart-only sections keep what runs; only the module set changes.
        applied.modules = modules;
        for item in &report.needs_restart {
            tracing::warn!("{item} changed: it applies at the next start, not by reload");
        }
        Ok(report)
    }

    /// Applies a changed spec: through the switch, or by stopping and starting the module when
    /// it is (or becomes) disabled.
    async fn change(&self, old: &ModuleSpec, new: &ModuleSpec) -> ChangedModule {
        let module = new.key();
        if !old.enabled || !new.enabled {
            let _ = self.supervisor.remove(&old.workspace, &old.name).await;
            return match self.supervisor.add(new.clone()) {
                Ok(_) if new.enabled => ChangedModule {
                    module,
                    applied: true,
                    message: "enabled: started".into(),
                },
                Ok(_) => ChangedModule {
                    module,
                    applied: true,
                    message: "disabled: stopped".into(),
                },
                Err(e) => ChangedModule {
                    module,
                    applied: false,
                    message: e.to_string(),
                },
            };
        }
        match self.supervisor.replace(new.clone()).await {
            Ok(message) => ChangedModule {
                module,
                applied: true,
                message,
            },
            Err(message) => ChangedModule {
                module,
                applied: false,
                message,
            },
        }
    }
}

/// Modules added, removed, changed and unchanged between two configs.
struct Diff {
    added: Vec<ModuleSpec>,
    removed: Vec<ModuleSpec>,
    changed: Vec<(ModuleSpec, ModuleSpec)>,
    unchanged: Vec<ModuleSpec>,
}

impl Diff {
    fn between(old: &[ModuleSpec], new: &[ModuleSpec]) -> Self {
        let mut diff = Diff {
            added: Vec::new(),
            removed: Vec::new(),
            changed: Vec::new(),
            unchanged: Vec::new(),
        };
        for spec in new {
            match old.iter().find(|o| o.key() == spec.key()) {
                None => diff.added.push(spec.clone()),
                Some(o) if o == spec => diff.unchanged.push(spec.clone()),
                Some(o) => diff.changed.push((o.clone(), spec.clone())),
            }
        }
        diff.removed = old
            .iter()
            .filter(|o| !new.iter().any(|n| n.key() == o.key()))
            .cloned()
            .collect();
        diff
    }
}

/// The settings that differ and only apply at the next start, named as in the file.
fn needs_restart(old: &ResolvedConfig, new: &ResolvedConfig) -> Vec<String> {
    let mut changed = Vec::new();
    if old.server != new.server {
        changed.push("[server]".to_string());
    }
    if old.nats != new.nats {
        changed.push("[nats]".to_string());
    }
    if old.workers != new.workers {
        changed.push("[workers]".to_string());
    }
    if old.store_url != new.store_url || old.store_max_connections != new.store_max_connections {
        changed.push("[store]".to_string());
    }
    if old.cluster != new.cluster {
        changed.push("[cluster]".to_string());
    }
    if old.key_dir != new.key_dir || old.active_key != new.active_key {
        changed.push("[secrets]".to_string());
    }
    if old.data_dir != new.data_dir {
        changed.push("[supervisor] data_dir".to_string());
    }
    if old.runtime_dir != new.runtime_dir {
        changed.push("[supervisor] runtime_dir".to_string());
    }
    if old.cgroups != new.cgroups {
        changed.push("[supervisor] cgroups".to_string());
    }
    if old.runtimes != new.runtimes {
        changed.push("[runtimes]".to_string());
    }
    if old.deployments != new.deployments {
        changed.push("[deployments]".to_string());
    }
    // Config modules take new defaults now (their specs changed); deployed ones at restart.
    if old.defaults != new.defaults {
        changed.push("[defaults] (for deployed modules)".to_string());
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, command: &str) -> ModuleSpec {
        let text = format!(
            "[[modules]]\nworkspace = \"ws_a\"\nname = \"{name}\"\ncommand = \"{command}\"\n"
        );
        let path = std::path::Path::new("/test.toml");
        crate::config::parse(&text, path, std::path::Path::new("/"))
            .expect("config")
            .modules
            .remove(0)
    }

    #[test]
    fn the_diff_names_each_kind_of_change() {
        let old = vec![
            spec("a", "/bin/true"),
            spec("b", "/bin/true"),
            spec("c", "/bin/true"),
        ];
        let new = vec![
            spec("a", "/bin/true"),
            spec("b", "/bin/false"),
            spec("d", "/bin/true"),
        ];
        let diff = Diff::between(&old, &new);
        let keys = |specs: &[ModuleSpec]| specs.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&diff.unchanged), ["a"]);
        assert_eq!(keys(&diff.added), ["d"]);
        assert_eq!(keys(&diff.removed), ["c"]);
        assert_eq!(diff.changed.len(), 1);
        assert_eq!(diff.changed[0].1.name, "b");
    }
}
