//! A fake cgroup tree for unit tests: mountinfo texts, `/proc/self/cgroup` texts and the
//! interface files of fake groups, laid out in a temporary directory.

use std::fs;
use std::path::{Path, PathBuf};

use super::files::fake::FakeKernel;

/// Interface files of a fake cgroup v2 group.
pub(super) const V2_FILES: &[(&str, &str)] = &[
    ("cgroup.procs", ""),
    ("cgroup.controllers", "cpu memory pids"),
    ("cgroup.subtree_control", ""),
    ("cgroup.kill", ""),
    ("memory.max", "max"),
    ("memory.swap.max", "max"),
    ("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"),
    ("memory.peak", "0"),
    ("pids.max", "max"),
    ("cpu.max", "max 100000"),
];

/// Interface files of fake cgroup v1 groups, per hierarchy.
pub(super) const V1_MEMORY_FILES: &[(&str, &str)] = &[
    ("cgroup.procs", ""),
    ("memory.limit_in_bytes", "9223372036854771712"),
    ("memory.memsw.limit_in_bytes", "9223372036854771712"),
    (
        "memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
    ),
    ("memory.max_usage_in_bytes", "0"),
    ("memory.failcnt", "0"),
];
pub(super) const V1_PIDS_FILES: &[(&str, &str)] = &[("cgroup.procs", ""), ("pids.max", "max")];
pub(super) const V1_CPU_FILES: &[(&str, &str)] = &[
    ("cgroup.procs", ""),
    ("cpu.cfs_period_us", "100000"),
    ("cpu.cfs_quota_us", "-1"),
];

/// Mountinfo of a pure cgroup v2 host.
pub(super) const V2_MOUNTINFO: &str = "\
22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
25 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
";

/// Mountinfo of a hybrid host: v1 controllers, plus v2 without controllers.
pub(super) const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

pub(super) const HYBRID_PROC_CGROUP: &str = "\
8:pids:/
4:memory:/process_api/abc
3:cpuset:/
1:cpu,cpuacct:/
0::/
";

pub(super) fn write_files(dir: &Path, files: &[(&str, &str)]) {
    fs::create_dir_all(dir).unwrap();
    for (name, content) in files {
        fs::write(dir.join(name), content).unwrap();
    }
}

pub(super) fn read(path: impl AsRef<Path>) -> String {
    fs::read_to_string(path).unwrap()
}

/// Whether `dir` contains nothing but regular files (no leftover probe or other group).
pub(super) fn no_subgroups(dir: &Path) -> bool {
    fs::read_dir(dir)
        .unwrap()
        .all(|e| e.unwrap().file_type().unwrap().is_file())
}

/// A hybrid host: returns the bases of the memory, pids and cpu hierarchies.
pub(super) fn hybrid_tree(root: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let cgroup = root.join("sys/fs/cgroup");
    write_files(
        &cgroup.join("unified"),
        &[("cgroup.controllers", ""), ("cgroup.subtree_control", "")],
    );
    let memory = cgroup.join("memory/process_api/abc");
    let pids = cgroup.join("pids");
    let cpu = cgroup.join("cpu,cpuacct");
    write_files(&memory, V1_MEMORY_FILES);
    write_files(&pids, V1_PIDS_FILES);
    write_files(&cpu, V1_CPU_FILES);
    write_files(&cgroup.join("cpuset"), &[("cgroup.procs", "")]);
    (memory, pids, cpu)
}

pub(super) fn v1_kernel(memory: &Path, pids: &Path, cpu: &Path) -> FakeKernel {
    FakeKernel::install(vec![
        (memory.to_path_buf(), V1_MEMORY_FILES.to_vec()),
        (pids.to_path_buf(), V1_PIDS_FILES.to_vec()),
        (cpu.to_path_buf(), V1_CPU_FILES.to_vec()),
    ])
}
