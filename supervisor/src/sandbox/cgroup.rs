//! Per-instance resource limits (memory, process count, CPU) enforced with Linux control
//! groups.
//!
//! The host is probed once with [`detect_host`] (or [`detect`] with injected host files, which
//! is how the unit tests run against a fake tree in a temporary directory). Detection picks a
//! [`Backend`]:
//!
//! * **cgroup v2**, when the supervisor's own cgroup has the `memory` and `pids` controllers
//!   and a `convotic/` child group with those controllers enabled can be created;
//! * **cgroup v1**, with whichever of the `memory`, `pids` and `cpu` hierarchies are mounted and
//!   writable;
//! * **none**, with a reason that says how to enable one of the above.
//!
//! Every module instance then gets its own group, `convotic/<instance name>` under the
//! supervisor's own cgroup (in each v1 hierarchy, or once on v2), created by
//! [`Backend::create`]. The spawn helper joins the instance's groups with [`join`] before it
//! creates the module's namespaces, so every process of the module is accounted and limited.
//! [`InstanceCgroup::remove`] kills what is left and removes the groups once the instance is
//! gone, and [`cleanup_stale`] removes groups left behind by a previous run.

mod detect;
mod files;
mod host;
mod instance;

#[cfg(test)]
mod create_tests;
#[cfg(test)]
mod detect_tests;
#[cfg(test)]
mod fake_tree;
#[cfg(test)]
mod host_tests;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use detect::{detect, detect_host, doctor_report, join_cost_report};
pub use instance::{cleanup_stale, join, InstanceCgroup};

/// The name of the group, under the supervisor's own cgroup, that holds one child group per
/// module instance.
pub const PARENT_GROUP: &str = "convotic";

/// The CFS period used for CPU quotas, in microseconds.
pub const CPU_PERIOD_US: u64 = 100_000;

/// Resource limits of one module instance. `None` leaves the kernel's default (unlimited, or
/// whatever the enclosing groups impose).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Maximum memory of all the instance's processes, in bytes (swap is disabled for the group
    /// where the kernel allows it, so the limit cannot be escaped by swapping).
    pub memory_bytes: Option<u64>,
    /// Maximum number of processes and threads.
    pub pids: Option<u64>,
    /// CPU quota in thousandths of a CPU per second: 500 is half a CPU, 2000 two CPUs. Values
    /// below 10 are raised to 10, the kernel's smallest quota (1 ms per 100 ms period).
    pub cpu_millis: Option<u64>,
}

impl Limits {
    /// The CFS quota, in microseconds per [`CPU_PERIOD_US`], for [`Limits::cpu_millis`].
    pub fn cpu_quota_us(&self) -> Option<u64> {
        self.cpu_millis
            .map(|millis| millis.saturating_mul(CPU_PERIOD_US / 1000).max(1000))
    }
}

/// The cgroup mechanism available on this host. Each path is the supervisor's own cgroup in a
/// hierarchy: the directory under which the [`PARENT_GROUP`] group lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// Unified hierarchy with the `memory` and `pids` controllers (and `cpu` when available)
    /// enabled for `root/convotic/`.
    V2 {
        /// The supervisor's cgroup v2 directory, or the delegated cgroup containing it.
        root: PathBuf,
    },
    /// Legacy per-controller hierarchies; `None` for a hierarchy that is not mounted or not
    /// writable (its limits are then not enforced).
    V1 {
        /// The supervisor's cgroup in the `memory` hierarchy.
        memory: Option<PathBuf>,
        /// The supervisor's cgroup in the `pids` hierarchy.
        pids: Option<PathBuf>,
        /// The supervisor's cgroup in the `cpu` hierarchy.
        cpu: Option<PathBuf>,
    },
    /// No usable cgroup mechanism: no limit can be enforced.
    None {
        /// Why, and how to enable one.
        reason: String,
    },
}

impl Backend {
    /// A short name of the backend: `cgroup v2`, `cgroup v1` or `none`.
    pub fn kind(&self) -> &'static str {
        match self {
            Backend::V2 { .. } => "cgroup v2",
            Backend::V1 { .. } => "cgroup v1",
            Backend::None { .. } => "none",
        }
    }

    /// The [`PARENT_GROUP`] directories (one per v1 hierarchy, without duplicates, or the one
    /// of v2). They may not exist yet.
    pub fn parent_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for base in self.bases() {
            let dir = base.join(PARENT_GROUP);
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs
    }

    /// Creates the group of one module instance (and the [`PARENT_GROUP`] group when missing)
    /// and applies `limits`. `name` must be a single path component, such as
    /// `ws_test-hello-rust-i000003`. A leftover empty group of the same name is replaced; one
    /// with running processes makes creation fail.
    ///
    /// A limit whose controller is not available is not enforced: it is logged, and listed by
    /// [`InstanceCgroup::unenforced`] and [`InstanceCgroup::describe`].
    pub fn create(&self, name: &str, limits: &Limits) -> Result<InstanceCgroup, String> {
        instance::create(self, name, limits)
    }

    /// Removes the [`PARENT_GROUP`] groups if they are empty, for a clean shutdown once every
    /// instance group has been removed. Groups that still have children are left alone.
    pub fn remove_parents(&self) {
        for dir in self.parent_dirs() {
            match files::remove_group(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::debug!("cgroup {} not removed: {e}", dir.display()),
            }
        }
    }

    /// The supervisor's cgroup directories this backend uses.
    fn bases(&self) -> Vec<&Path> {
        match self {
            Backend::V2 { root } => vec![root.as_path()],
            Backend::V1 { memory, pids, cpu } => [memory, pids, cpu]
                .into_iter()
                .flatten()
                .map(PathBuf::as_path)
                .collect(),
            Backend::None { .. } => Vec::new(),
        }
    }
}
