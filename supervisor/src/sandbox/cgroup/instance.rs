//! The cgroup of one module instance: creation with its limits, joining, statistics, killing
//! and removal; and the removal of groups left behind by a previous run.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{detect, files, Backend, Limits, CPU_PERIOD_US, PARENT_GROUP};

/// The groups of one module instance: one directory on cgroup v2, one per hierarchy on v1.
///
/// Dropping the value does not remove the groups (nor kill their processes): call
/// [`InstanceCgroup::remove`] explicitly once the instance is gone, so removal happens at a
/// known point of the instance's lifecycle rather than wherever the handle is dropped.
#[derive(Debug)]
pub struct InstanceCgroup {
    name: String,
    v2: bool,
    /// (controllers, directory), without duplicate directories.
    groups: Vec<(String, PathBuf)>,
    /// The group with the memory controller, if any.
    memory: Option<PathBuf>,
    limits: Limits,
    unenforced: Vec<&'static str>,
}

/// Moves process `pid` into the groups whose `cgroup.procs` files are given (see
/// [`InstanceCgroup::procs_files`]). Called by the spawn helper with its own pid, before it
/// creates the module's namespaces, so that every process of the module starts inside.
pub fn join(procs_files: &[PathBuf], pid: u32) -> Result<(), String> {
    for procs in procs_files {
        files::write(procs, &pid.to_string()).map_err(|e| format!("cannot join cgroup: {e}"))?;
    }
    Ok(())
}

/// Kills the processes of, and removes, every instance group left under the `convotic/`
/// groups of `backend` (by a previous run that did not shut down cleanly). Returns the number
/// of group directories removed.
///
/// Call it once at start-up, before any instance is created. Groups are named
/// `s<supervisor pid>-<workspace>-<module>-<instance>`; those of a supervisor that is still
/// running (several can share a hierarchy) are left alone.
pub fn cleanup_stale(backend: &Backend) -> usize {
    let mut removed = 0;
    for parent in backend.parent_dirs() {
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let dir = entry.path();
            if owned_by_live_supervisor(&entry.file_name().to_string_lossy()) {
                continue;
            }
            if !files::kill_groups(std::slice::from_ref(&dir)) {
                tracing::warn!("processes of stale cgroup {} survive", dir.display());
            }
            match files::remove_tree(&dir) {
                Ok(()) => {
                    tracing::info!("removed stale cgroup {}", dir.display());
                    removed += 1;
                }
                Err(e) => tracing::warn!("stale cgroup not removed: {e}"),
            }
        }
    }
    removed
}

/// Whether a group named `s<pid>-...` (the supervisor's instance naming) belongs to another
/// supervisor that is still running: those are left alone.
fn owned_by_live_supervisor(name: &str) -> bool {
    let Some(pid) = name
        .strip_prefix('s')
        .and_then(|rest| rest.split('-').next())
        .and_then(|pid| pid.parse::<u32>().ok())
    else {
        return false;
    };
    pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists()
}

/// Rejects names that are not a single, plain path component.
fn check_name(name: &str) -> Result<(), String> {
    let plain = !name.is_empty()
        && name.len() <= 200
        && name != "."
        && name != ".."
        && !name.contains(['/', '\0', '\n'])
        && !name.starts_with("cgroup.");
    if plain {
        Ok(())
    } else {
        Err(format!("invalid cgroup name {name:?}"))
    }
}

/// Creates `dir` as a fresh group. A leftover empty group of the same name is replaced; one
/// that still has processes is left alone (they may belong to another supervisor sharing the
/// hierarchy) and is an error.
fn make_fresh(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        if !files::pids_recursive(dir).is_empty() {
            return Err(format!(
                "cgroup {} already exists and has running processes",
                dir.display()
            ));
        }
        tracing::warn!("replacing leftover cgroup {}", dir.display());
        files::remove_tree(dir)?;
    }
    files::make_group(dir).map_err(|e| format!("cannot create cgroup {}: {e}", dir.display()))
}

/// Creates `parent` unless it exists.
fn ensure_dir(parent: &Path) -> Result<(), String> {
    match files::make_group(parent) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot create cgroup {}: {e}", parent.display())),
    }
}

/// Implements [`Backend::create`].
pub(super) fn create(
    backend: &Backend,
    name: &str,
    limits: &Limits,
) -> Result<InstanceCgroup, String> {
    check_name(name)?;
    let mut cgroup = InstanceCgroup {
        name: name.to_owned(),
        v2: matches!(backend, Backend::V2 { .. }),
        groups: Vec::new(),
        memory: None,
        limits: *limits,
        unenforced: Vec::new(),
    };
    let applied = match backend {
        Backend::None { reason } => return Err(format!("no cgroup backend: {reason}")),
        Backend::V2 { root } => {
            detect::ensure_v2_parent(root)?;
            let dir = root.join(PARENT_GROUP).join(name);
            make_fresh(&dir)?;
            cgroup.groups.push(("unified".to_owned(), dir.clone()));
            cgroup.apply_v2(&dir)
        }
        Backend::V1 { memory, pids, cpu } => {
            let hierarchies = [("memory", memory), ("pids", pids), ("cpu", cpu)];
            let mut made = Ok(());
            for (controller, base) in hierarchies {
                let Some(base) = base else { continue };
                let dir = base.join(PARENT_GROUP).join(name);
                if let Some(group) = cgroup.groups.iter_mut().find(|(_, d)| *d == dir) {
                    group.0 = format!("{},{controller}", group.0);
                    continue;
                }
                made = ensure_dir(&base.join(PARENT_GROUP)).and_then(|()| make_fresh(&dir));
                if made.is_err() {
                    break;
                }
                cgroup.groups.push((controller.to_owned(), dir));
            }
            made.and_then(|()| cgroup.apply_v1(memory, pids, cpu))
        }
    };
    if let Err(e) = applied {
        let _ = cgroup.remove();
        return Err(e);
    }
    if !cgroup.unenforced.is_empty() {
        tracing::warn!(
            "cgroup {name}: no controller for the {} limit(s), not enforced",
            cgroup.unenforced.join(", ")
        );
    }
    Ok(cgroup)
}

impl InstanceCgroup {
    /// Writes the limits into the v2 group `dir`.
    fn apply_v2(&mut self, dir: &Path) -> Result<(), String> {
        let controllers = files::words(&dir.join("cgroup.controllers")).unwrap_or_default();
        let has = |c: &str| controllers.iter().any(|have| have == c);
        if has("memory") {
            self.memory = Some(dir.to_path_buf());
        }
        if let Some(bytes) = self.limits.memory_bytes {
            if has("memory") {
                files::write(&dir.join("memory.max"), &bytes.to_string())?;
                let swap = dir.join("memory.swap.max");
                if swap.exists() {
                    if let Err(e) = files::write(&swap, "0") {
                        tracing::warn!("cgroup swap limit not set: {e}");
                    }
                }
            } else {
                self.unenforced.push("memory");
            }
        }
        if let Some(pids) = self.limits.pids {
            if has("pids") {
                files::write(&dir.join("pids.max"), &pids.to_string())?;
            } else {
                self.unenforced.push("pids");
            }
        }
        if let Some(quota) = self.limits.cpu_quota_us() {
            if has("cpu") {
                files::write(&dir.join("cpu.max"), &format!("{quota} {CPU_PERIOD_US}"))?;
            } else {
                self.unenforced.push("cpu");
            }
        }
        Ok(())
    }

    /// Writes the limits into the v1 groups (bases as in [`Backend::V1`]).
    fn apply_v1(
        &mut self,
        memory: &Option<PathBuf>,
        pids: &Option<PathBuf>,
        cpu: &Option<PathBuf>,
    ) -> Result<(), String> {
        let group =
            |base: &Option<PathBuf>| base.as_ref().map(|b| b.join(PARENT_GROUP).join(&self.name));
        let (memory, pids, cpu) = (group(memory), group(pids), group(cpu));
        self.memory.clone_from(&memory);
        if let Some(bytes) = self.limits.memory_bytes {
            match &memory {
                Some(dir) => {
                    files::write(&dir.join("memory.limit_in_bytes"), &bytes.to_string())?;
                    let memsw = dir.join("memory.memsw.limit_in_bytes");
                    if memsw.exists() {
                        if let Err(e) = files::write(&memsw, &bytes.to_string()) {
                            tracing::warn!("cgroup memory+swap limit not set: {e}");
                        }
                    }
                }
                None => self.unenforced.push("memory"),
            }
        }
        if let Some(max) = self.limits.pids {
            match &pids {
                Some(dir) => files::write(&dir.join("pids.max"), &max.to_string())?,
                None => self.unenforced.push("pids"),
            }
        }
        if let Some(quota) = self.limits.cpu_quota_us() {
            match &cpu {
                Some(dir) => {
                    files::write(&dir.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
                    files::write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
                }
                None => self.unenforced.push("cpu"),
            }
        }
        Ok(())
    }

    /// The instance name the groups are named after.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The limits requested at creation.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The requested limits (`memory`, `pids`, `cpu`) that no available controller enforces.
    pub fn unenforced(&self) -> &[&'static str] {
        &self.unenforced
    }

    /// Whether the group enforces a memory limit.
    pub fn limits_memory(&self) -> bool {
        self.memory_limit().is_some()
    }

    /// Whether the group enforces a process count limit.
    pub fn limits_pids(&self) -> bool {
        self.limits.pids.is_some() && !self.unenforced.contains(&"pids")
    }

    /// The memory limit the group enforces, in bytes.
    pub fn memory_limit(&self) -> Option<u64> {
        self.limits
            .memory_bytes
            .filter(|_| !self.unenforced.contains(&"memory"))
    }

    /// The group directories: one on cgroup v2, one per hierarchy on v1.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.groups.iter().map(|(_, dir)| dir.clone()).collect()
    }

    /// The `cgroup.procs` files a process writes its pid into to join the instance's groups
    /// (see [`join`]).
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.groups
            .iter()
            .map(|(_, dir)| dir.join("cgroup.procs"))
            .collect()
    }

    /// The pids of the processes in the groups (and in groups below them), sorted.
    pub fn pids(&self) -> Vec<u32> {
        let pids: BTreeSet<u32> = self
            .groups
            .iter()
            .flat_map(|(_, dir)| files::pids_recursive(dir))
            .collect();
        pids.into_iter().collect()
    }

    /// How many processes the kernel's OOM killer killed in the group (`oom_kill` of
    /// `memory.events` on v2, of `memory.oom_control` on v1 since Linux 4.13); 0 when unknown.
    pub fn oom_kills(&self) -> u64 {
        let Some(dir) = &self.memory else { return 0 };
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        files::keyed(&dir.join(file), "oom_kill").unwrap_or(0)
    }

    /// The highest memory usage of the group, in bytes (`memory.peak` on v2 since Linux 5.19,
    /// `memory.max_usage_in_bytes` on v1), when the kernel reports it.
    pub fn memory_peak(&self) -> Option<u64> {
        let dir = self.memory.as_ref()?;
        let file = if self.v2 {
            "memory.peak"
        } else {
            "memory.max_usage_in_bytes"
        };
        files::number(&dir.join(file))
    }

    /// How many times the memory limit was hit (`memory.failcnt` on v1, `max` of
    /// `memory.events` on v2), when the kernel reports it.
    pub fn memory_limit_hits(&self) -> Option<u64> {
        let dir = self.memory.as_ref()?;
        if self.v2 {
            files::keyed(&dir.join("memory.events"), "max")
        } else {
            files::number(&dir.join("memory.failcnt"))
        }
    }

    /// Kills every process of the instance: with `cgroup.kill` where the kernel has it (v2,
    /// Linux 5.14), else by sending SIGKILL to each listed pid, repeatedly until the groups are
    /// empty or about a second has passed.
    pub fn kill_all(&self) {
        if !files::kill_groups(&self.dirs()) {
            tracing::warn!("cgroup {}: processes survive SIGKILL", self.name);
        }
    }

    /// Kills every process of the instance and removes its groups (retrying for about a
    /// second while exiting processes keep a group busy). Call it once the instance is gone;
    /// the `convotic/` parent groups are kept for the next instances.
    pub fn remove(&self) -> Result<(), String> {
        self.kill_all();
        let mut result = Ok(());
        for (_, dir) in &self.groups {
            if let Err(e) = files::remove_tree(dir) {
                tracing::warn!("{e}");
                result = Err(e);
            }
        }
        result
    }

    /// The state of the groups for status and `doctor` output: backend, group paths, limits,
    /// limits not enforced, and OOM kills and memory peak so far.
    pub fn describe(&self) -> serde_json::Value {
        let groups: serde_json::Map<String, serde_json::Value> = self
            .groups
            .iter()
            .map(|(controllers, dir)| (controllers.clone(), json!(dir)))
            .collect();
        json!({
            "backend": if self.v2 { "cgroup v2" } else { "cgroup v1" },
            "name": self.name,
            "groups": groups,
            "limits": self.limits,
            "unenforced": self.unenforced,
            "oom_kills": self.oom_kills(),
            "memory_peak": self.memory_peak(),
        })
    }
}
