//! What every module runner shares: the spawner thread, the runtime root, the data dir and the
//! store behind the Host services.

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::ModuleSpec;
use crate::process::{RuntimeRoot, Spawner};
use crate::store::Store;

/// Shared services of the supervisor.
pub struct Context {
    /// Forks module processes from a long-lived thread.
    pub spawner: Spawner,
    /// Parent of every instance's runtime directory.
    pub runtime: RuntimeRoot,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The SQLite store the Host services read and write.
    pub store: Store,
    /// Where module cgroups are created (detected at start).
    pub cgroups: crate::sandbox::cgroup::Backend,
    next_instance: AtomicU64,
}

impl Context {
    /// Creates the runtime root under `runtime_parent`.
    pub fn new(
        spawner: Spawner,
        runtime_parent: &std::path::Path,
        data_dir: PathBuf,
        store: Store,
    ) -> io::Result<Self> {
        Ok(Self {
            spawner,
            runtime: RuntimeRoot::create(runtime_parent)?,
            data_dir,
            store,
            cgroups: crate::sandbox::cgroup::Backend::None {
                reason: "not detected yet".into(),
            },
            next_instance: AtomicU64::new(1),
        })
    }

    /// Uses `cgroups` for module resource limits.
    #[must_use]
    pub fn with_cgroups(mut self, cgroups: crate::sandbox::cgroup::Backend) -> Self {
        self.cgroups = cgroups;
        self
    }

    /// A new instance id (`i1`, `i2`, ...), unique within this supervisor run.
    pub fn next_instance_id(&self) -> String {
        format!("i{}", self.next_instance.fetch_add(1, Ordering::Relaxed))
    }

    /// `<data_dir>/modules/<workspace>/<module>`, created 0700: the module's persistent data.
    pub fn module_data_dir(&self, spec: &ModuleSpec) -> io::Result<PathBuf> {
        let dir = self
            .data_dir
            .join("modules")
            .join(&spec.workspace)
            .join(&spec.name);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        Ok(dir)
    }
}
