//! Unit tests of the files written by group creation (cgroup v1 and v2), statistics, joining
//! and removal, against a fake cgroup tree.

use std::fs;
use std::path::{Path, PathBuf};

use super::fake_tree::*;
use super::files::fake::FakeKernel;
use super::*;

#[test]
fn v2_create_writes_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cg");
    write_files(&root, V2_FILES);
    let _kernel = FakeKernel::install(vec![(root.clone(), V2_FILES.to_vec())]);
    let backend = Backend::V2 { root: root.clone() };
    let limits = Limits {
        memory_bytes: Some(64 << 20),
        pids: Some(16),
        cpu_millis: Some(500),
    };

    let group = backend
        .create("ws_test-hello-rust-i000003", &limits)
        .unwrap();

    let dir = root.join("convotic/ws_test-hello-rust-i000003");
    assert!(read(root.join("convotic/cgroup.subtree_control")).contains("memory"));
    assert_eq!(read(dir.join("memory.max")), "67108864");
    assert_eq!(read(dir.join("memory.swap.max")), "0");
    assert_eq!(read(dir.join("pids.max")), "16");
    assert_eq!(read(dir.join("cpu.max")), "50000 100000");
    assert_eq!(group.procs_files(), vec![dir.join("cgroup.procs")]);
    assert!(group.unenforced().is_empty());
    assert!(group.limits_memory() && group.limits_pids());
    assert_eq!(group.memory_limit(), Some(64 << 20));

    fs::write(dir.join("memory.events"), "max 3\noom 1\noom_kill 1\n").unwrap();
    fs::write(dir.join("memory.peak"), "33554432\n").unwrap();
    assert_eq!(group.oom_kills(), 1);
    assert_eq!(group.memory_peak(), Some(32 << 20));
    assert_eq!(group.memory_limit_hits(), Some(3));

    let described = group.describe();
    assert_eq!(described["backend"], "cgroup v2");
    assert_eq!(described["limits"]["pids"], 16);
    assert_eq!(described["groups"]["unified"], dir.to_str().unwrap());
    assert_eq!(described["oom_kills"], 1);

    join(&group.procs_files(), 4194306).unwrap();
    assert_eq!(read(dir.join("cgroup.procs")), "4194306");
    fs::write(dir.join("cgroup.procs"), "").unwrap();

    group.remove().unwrap();
    assert!(!dir.exists());
    assert!(root.join(PARENT_GROUP).is_dir());
    backend.remove_parents();
    assert!(!root.join(PARENT_GROUP).exists());
}

#[test]
fn v2_unset_limits_leave_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cg");
    write_files(&root, V2_FILES);
    let files: Vec<_> = V2_FILES
        .iter()
        .map(|&(name, content)| match name {
            "cgroup.controllers" => (name, "memory pids"),
            _ => (name, content),
        })
        .collect();
    let _kernel = FakeKernel::install(vec![(root.clone(), files)]);
    let backend = Backend::V2 { root: root.clone() };

    let group = backend
        .create(
            "a",
            &Limits {
                pids: Some(8),
                cpu_millis: Some(2000),
                ..Limits::default()
            },
        )
        .unwrap();

    let dir = root.join("convotic/a");
    assert_eq!(read(dir.join("memory.max")), "max");
    assert_eq!(read(dir.join("memory.swap.max")), "max");
    assert_eq!(read(dir.join("pids.max")), "8");
    assert_eq!(read(dir.join("cpu.max")), "max 100000");
    assert_eq!(group.unenforced(), ["cpu"]);
    assert!(!group.limits_memory());
    assert_eq!(group.describe()["unenforced"][0], "cpu");
    group.remove().unwrap();
}

#[test]
fn v1_create_writes_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let (memory, pids, cpu) = hybrid_tree(tmp.path());
    let _kernel = v1_kernel(&memory, &pids, &cpu);
    let backend = Backend::V1 {
        memory: Some(memory.clone()),
        pids: Some(pids.clone()),
        cpu: Some(cpu.clone()),
    };
    let limits = Limits {
        memory_bytes: Some(32 << 20),
        pids: Some(16),
        cpu_millis: Some(5),
    };

    let group = backend
        .create("ws_test-hello-rust-i000003", &limits)
        .unwrap();

    let in_group =
        |base: &Path, file: &str| read(base.join("convotic/ws_test-hello-rust-i000003").join(file));
    assert_eq!(in_group(&memory, "memory.limit_in_bytes"), "33554432");
    assert_eq!(in_group(&memory, "memory.memsw.limit_in_bytes"), "33554432");
    assert_eq!(in_group(&pids, "pids.max"), "16");
    assert_eq!(in_group(&cpu, "cpu.cfs_period_us"), "100000");
    // 5 thousandths of a CPU is below the kernel's minimum quota of 1 ms.
    assert_eq!(in_group(&cpu, "cpu.cfs_quota_us"), "1000");
    let procs: Vec<PathBuf> = [&memory, &pids, &cpu]
        .iter()
        .map(|b| b.join("convotic/ws_test-hello-rust-i000003/cgroup.procs"))
        .collect();
    assert_eq!(group.procs_files(), procs);

    let oom = memory.join("convotic/ws_test-hello-rust-i000003/memory.oom_control");
    fs::write(&oom, "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n").unwrap();
    assert_eq!(group.oom_kills(), 2);
    assert_eq!(group.memory_peak(), Some(0));
    let described = group.describe();
    assert_eq!(described["backend"], "cgroup v1");
    assert_eq!(described["limits"]["memory_bytes"], 32 << 20);
    assert!(described["groups"]["pids"].is_string());

    // Pids above the kernel's maximum, so that nothing real could ever be signalled.
    join(&procs, 4194305).unwrap();
    for file in &procs {
        assert_eq!(read(file), "4194305");
    }
    // A group of the same name with processes is not taken over.
    let err = backend
        .create("ws_test-hello-rust-i000003", &limits)
        .unwrap_err();
    assert!(err.contains("running processes"), "{err}");
    for file in &procs {
        fs::write(file, "").unwrap();
    }

    // A leftover group of the same name is replaced.
    let again = backend
        .create("ws_test-hello-rust-i000003", &limits)
        .unwrap();
    assert_eq!(in_group(&pids, "pids.max"), "16");
    again.remove().unwrap();
    for dir in group.dirs() {
        assert!(!dir.exists(), "{} left", dir.display());
    }
}

#[test]
fn v1_missing_hierarchies_leave_limits_unenforced() {
    let tmp = tempfile::tempdir().unwrap();
    let (memory, pids, cpu) = hybrid_tree(tmp.path());
    let _kernel = v1_kernel(&memory, &pids, &cpu);
    let backend = Backend::V1 {
        memory: Some(memory.clone()),
        pids: None,
        cpu: None,
    };
    let group = backend
        .create(
            "b",
            &Limits {
                memory_bytes: Some(1 << 30),
                pids: Some(4),
                cpu_millis: Some(100),
            },
        )
        .unwrap();
    assert_eq!(group.unenforced(), ["pids", "cpu"]);
    assert!(group.limits_memory());
    assert!(!group.limits_pids());
    assert_eq!(group.procs_files().len(), 1);
    group.remove().unwrap();
}

#[test]
fn v1_co_mounted_hierarchies_share_a_group() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("memory,pids");
    let files: Vec<_> = V1_MEMORY_FILES
        .iter()
        .chain(V1_PIDS_FILES)
        .copied()
        .collect();
    write_files(&base, &files);
    let _kernel = FakeKernel::install(vec![(base.clone(), files)]);
    let backend = Backend::V1 {
        memory: Some(base.clone()),
        pids: Some(base.clone()),
        cpu: None,
    };
    let group = backend
        .create(
            "c",
            &Limits {
                memory_bytes: Some(1 << 20),
                pids: Some(2),
                ..Limits::default()
            },
        )
        .unwrap();
    assert_eq!(group.dirs(), vec![base.join("convotic/c")]);
    assert_eq!(read(base.join("convotic/c/pids.max")), "2");
    assert!(group.describe()["groups"]["memory,pids"].is_string());
    assert_eq!(backend.parent_dirs(), vec![base.join(PARENT_GROUP)]);
    group.remove().unwrap();
}

#[test]
fn rejects_bad_names() {
    let tmp = tempfile::tempdir().unwrap();
    let backend = Backend::V1 {
        memory: Some(tmp.path().to_path_buf()),
        pids: None,
        cpu: None,
    };
    for name in ["", ".", "..", "a/b", "cgroup.procs"] {
        assert!(
            backend.create(name, &Limits::default()).is_err(),
            "{name:?}"
        );
    }
    assert!(!tmp.path().join(PARENT_GROUP).exists());
}

#[test]
fn cleanup_removes_stale_groups() {
    let tmp = tempfile::tempdir().unwrap();
    let (memory, pids, cpu) = hybrid_tree(tmp.path());
    let _kernel = v1_kernel(&memory, &pids, &cpu);
    let backend = Backend::V1 {
        memory: Some(memory.clone()),
        pids: Some(pids.clone()),
        cpu: None,
    };
    let first = backend.create("old-1", &Limits::default()).unwrap();
    let second = backend.create("old-2", &Limits::default()).unwrap();
    // A group a module created below its own.
    let nested = first.dirs()[0].join("inner");
    write_files(&nested, V1_MEMORY_FILES);

    assert_eq!(cleanup_stale(&backend), 4);

    for dir in first.dirs().into_iter().chain(second.dirs()) {
        assert!(!dir.exists(), "{} left", dir.display());
    }
    assert!(memory.join(PARENT_GROUP).is_dir());
    assert_eq!(cleanup_stale(&backend), 0);
}
