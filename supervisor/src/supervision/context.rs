//! What every module runner shares: the spawner thread, the runtime root, the data dir and the
//! store behind the Host services.

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

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
        })
    }

    /// Uses `cgroups` for module resource limits.
    #[must_use]
    pub fn with_cgroups(mut self, cgroups: crate::sandbox::cgroup::Backend) -> Self {
        self.cgroups = cgroups;
        self
    }

    /// A new instance id: `i` and 10 random lowercase letters and digits (51 bits), so no
    /// module can guess another instance's runtime dir, and short enough for socket paths.
    pub fn next_instance_id(&self) -> String {
        random_instance_id()
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

/// `i` followed by 10 random characters of `[0-9a-z]`.
fn random_instance_id() -> String {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut value = rand::random::<u64>();
    let mut id = String::with_capacity(11);
    id.push('i');
    for _ in 0..10 {
        id.push(ALPHABET[(value % 36) as usize] as char);
        value /= 36;
    }
    id
}

#[cfg(test)]
mod tests {
    use super::random_instance_id;

    #[test]
    fn instance_ids_are_short_and_unguessable() {
        let ids: std::collections::HashSet<String> =
            (0..1000).map(|_| random_instance_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 11);
            assert!(id.starts_with('i'));
            assert!(id[1..]
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
        }
    }
}
