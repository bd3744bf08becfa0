//! Unit tests of mountinfo parsing and backend detection against a fake cgroup tree.

use std::fs;
use std::path::{Path, PathBuf};

use super::fake_tree::*;
use super::files::fake::FakeKernel;
use super::host;
use super::*;

#[test]
fn mountinfo_parsing() {
    let mounts = host::cgroup_mounts(
        "40 31 0:37 /sub /sys/fs/cgroup/my\\040dir rw - cgroup cgroup rw,name=systemd\n\
         41 31 0:38 / /sys/fs/cgroup/unified rw shared:9 master:2 - cgroup2 cgroup2 rw\n\
         42 31 0:39 / /proc rw - proc proc rw\n",
    );
    assert_eq!(mounts.len(), 2);
    assert_eq!(mounts[0].mount_point, Path::new("/sys/fs/cgroup/my dir"));
    assert_eq!(mounts[0].root, "/sub");
    assert!(mounts[0].has_controller("name=systemd"));
    assert!(mounts[1].v2);
    let root = Path::new("/fake");
    assert_eq!(
        host::group_dir(root, &mounts[0], "/sub/a/b"),
        Some(PathBuf::from("/fake/sys/fs/cgroup/my dir/a/b"))
    );
    assert_eq!(host::group_dir(root, &mounts[0], "/other"), None);
    assert_eq!(
        host::group_dir(root, &mounts[1], "/"),
        Some(PathBuf::from("/fake/sys/fs/cgroup/unified"))
    );
    assert_eq!(host::v1_group(HYBRID_PROC_CGROUP, "cpu"), Some("/"));
    assert_eq!(
        host::v1_group(HYBRID_PROC_CGROUP, "memory"),
        Some("/process_api/abc")
    );
    assert_eq!(host::v1_group(HYBRID_PROC_CGROUP, "cpuacct"), Some("/"));
    assert_eq!(host::v2_group(HYBRID_PROC_CGROUP), Some("/"));
}

#[test]
fn detects_delegated_v2() {
    let tmp = tempfile::tempdir().unwrap();
    let cgroup = tmp.path().join("sys/fs/cgroup");
    let own = cgroup.join("apps.slice/convotic");
    write_files(&cgroup, V2_FILES);
    write_files(&own, V2_FILES);
    let _kernel = FakeKernel::install(vec![(cgroup.clone(), V2_FILES.to_vec())]);

    let backend = detect(V2_MOUNTINFO, "0::/apps.slice/convotic\n", tmp.path());

    assert_eq!(backend, Backend::V2 { root: own.clone() });
    assert!(read(own.join("cgroup.subtree_control")).contains("+memory +pids"));
    let parent = own.join(PARENT_GROUP);
    assert!(parent.is_dir());
    assert!(read(parent.join("cgroup.subtree_control")).contains("cpu"));
    let report = doctor_report(&backend);
    assert_eq!(report.len(), 4);
    assert_eq!(report[0].0, "cgroup v2 delegation");
    assert!(report[0].1);
    assert!(report[1..].iter().all(|(_, available, _)| !available));
}

#[test]
fn v2_with_processes_in_own_group_uses_delegated_parent() {
    let tmp = tempfile::tempdir().unwrap();
    let cgroup = tmp.path().join("sys/fs/cgroup");
    let service = cgroup.join("system.slice/convotic.service");
    let own = service.join("supervisor");
    write_files(&service, V2_FILES);
    write_files(&own, V2_FILES);
    // Writing to the supervisor's own subtree_control fails, as EBUSY does on a real host.
    fs::remove_file(own.join("cgroup.subtree_control")).unwrap();
    fs::create_dir(own.join("cgroup.subtree_control")).unwrap();
    let _kernel = FakeKernel::install(vec![(cgroup.clone(), V2_FILES.to_vec())]);
    let proc_cgroup = "0::/system.slice/convotic.service/supervisor\n";

    // Without the delegation mark, the parent is not used and nothing else is available.
    let backend = detect(V2_MOUNTINFO, proc_cgroup, tmp.path());
    let Backend::None { reason } = &backend else {
        panic!("unexpected {backend:?}")
    };
    assert!(reason.contains("cannot enable memory and pids"), "{reason}");
    assert!(reason.contains("Delegate=yes"), "{reason}");
    assert!(!service.join(PARENT_GROUP).exists());

    let dir = std::ffi::CString::new(service.to_str().unwrap()).unwrap();
    // SAFETY: the path, name and value are valid for the lengths given and outlive the call.
    let set = unsafe {
        libc::setxattr(
            dir.as_ptr(),
            c"user.delegate".as_ptr(),
            b"1".as_ptr().cast(),
            1,
            0,
        )
    };
    if set != 0 {
        eprintln!("skipped: no user.* extended attributes on the temporary directory");
        return;
    }
    let backend = detect(V2_MOUNTINFO, proc_cgroup, tmp.path());
    assert_eq!(
        backend,
        Backend::V2 {
            root: service.clone()
        }
    );
    assert!(service.join(PARENT_GROUP).is_dir());
}

#[test]
fn undelegated_v2_falls_back_to_v1() {
    let tmp = tempfile::tempdir().unwrap();
    let (memory, pids, cpu) = hybrid_tree(tmp.path());
    let _kernel = v1_kernel(&memory, &pids, &cpu);

    let backend = detect(HYBRID_MOUNTINFO, HYBRID_PROC_CGROUP, tmp.path());

    assert_eq!(
        backend,
        Backend::V1 {
            memory: Some(memory.clone()),
            pids: Some(pids.clone()),
            cpu: Some(cpu.clone()),
        }
    );
    for base in [&memory, &pids, &cpu] {
        assert!(no_subgroups(base), "probe left in {}", base.display());
    }
    let unified = tmp.path().join("sys/fs/cgroup/unified");
    assert!(no_subgroups(&unified));
    let report = doctor_report(&backend);
    assert!(!report[0].1);
    assert!(report[1..].iter().all(|(_, available, _)| *available));
}

#[test]
fn v1_with_some_hierarchies_unwritable() {
    let tmp = tempfile::tempdir().unwrap();
    let (memory, pids, cpu) = hybrid_tree(tmp.path());
    // A regular file where the pids hierarchy's group should be: it cannot hold a probe.
    fs::remove_dir_all(&pids).unwrap();
    fs::write(&pids, "").unwrap();

    let backend = detect(HYBRID_MOUNTINFO, HYBRID_PROC_CGROUP, tmp.path());

    assert_eq!(
        backend,
        Backend::V1 {
            memory: Some(memory),
            pids: None,
            cpu: Some(cpu),
        }
    );
    let report = doctor_report(&backend);
    assert_eq!(report[2].0, "cgroup v1 pids");
    assert!(!report[2].1);
    assert!(report[2].2.contains("mount -t cgroup -o pids"));
}

#[test]
fn nothing_available() {
    let tmp = tempfile::tempdir().unwrap();
    let backend = detect(
        "22 1 252:1 / / rw,relatime - ext4 /dev/vda1 rw\n",
        "0::/\n",
        tmp.path(),
    );
    let Backend::None { reason } = &backend else {
        panic!("unexpected {backend:?}")
    };
    assert!(reason.contains("cgroup v2 is not mounted"), "{reason}");
    assert!(reason.contains("no cgroup v1"), "{reason}");
    assert!(reason.contains("Delegate=yes"), "{reason}");

    // cgroup v2 mounted without delegated controllers, no v1.
    let cgroup = tmp.path().join("sys/fs/cgroup");
    write_files(
        &cgroup,
        &[
            ("cgroup.controllers", "cpuset io"),
            ("cgroup.subtree_control", ""),
        ],
    );
    let backend = detect(V2_MOUNTINFO, "0::/\n", tmp.path());
    let Backend::None { reason } = &backend else {
        panic!("unexpected {backend:?}")
    };
    assert!(reason.contains("no delegated controllers"), "{reason}");
    assert!(reason.contains("cpuset io"), "{reason}");
    assert!(no_subgroups(&cgroup));
    let report = doctor_report(&backend);
    assert!(report.iter().all(|(_, available, _)| !available));
    assert!(backend
        .create("x", &Limits::default())
        .unwrap_err()
        .contains("no delegated controllers"));
}
