//! Tests against this host's real cgroups. Each one returns early, printing why, when
//! [`detect_host`] finds no usable backend (or a controller it needs is missing).

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use super::*;

/// Serializes the tests that share the host's `convotic/` groups (one may remove them).
static HOST: Mutex<()> = Mutex::new(());

fn host_backend() -> Option<Backend> {
    match detect_host() {
        Backend::None { reason } => {
            eprintln!("skipped: no cgroup backend on this host: {reason}");
            None
        }
        backend => Some(backend),
    }
}

#[test]
fn join_kill_and_remove() {
    let _serial = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let Some(backend) = host_backend() else {
        return;
    };
    let limits = Limits {
        memory_bytes: Some(64 << 20),
        pids: Some(16),
        cpu_millis: None,
    };
    let name = format!("unit-join-{}", std::process::id());
    let group = backend.create(&name, &limits).expect("create the group");
    let mut child = Command::new("sleep").arg("5").spawn().expect("spawn sleep");
    let pid = child.id();

    join(&group.procs_files(), pid).expect("join");

    for procs in group.procs_files() {
        let listed = std::fs::read_to_string(&procs).unwrap();
        assert!(
            listed.lines().any(|l| l == pid.to_string()),
            "{pid} not in {}",
            procs.display()
        );
    }
    assert_eq!(group.pids(), vec![pid]);
    if group.limits_pids() {
        let pids_dir = group
            .dirs()
            .into_iter()
            .find(|d| d.join("pids.current").exists())
            .expect("a group with pids.current");
        assert_eq!(read_number(&pids_dir.join("pids.current")), 1);
        assert_eq!(read_number(&pids_dir.join("pids.max")), 16);
    }

    group.kill_all();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(group.pids().is_empty());
    group.remove().expect("remove the group");
    for dir in group.dirs() {
        assert!(!dir.exists(), "{} left", dir.display());
    }
    backend.remove_parents();
}

#[test]
fn out_of_memory_is_counted() {
    let _serial = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let Some(backend) = host_backend() else {
        return;
    };
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        eprintln!("skipped: no {}", python.display());
        return;
    }
    let limits = Limits {
        memory_bytes: Some(32 << 20),
        ..Limits::default()
    };
    let name = format!("unit-oom-{}", std::process::id());
    let group = backend.create(&name, &limits).expect("create the group");
    if !group.limits_memory() {
        eprintln!("skipped: no memory controller ({})", group.describe());
        group.remove().unwrap();
        backend.remove_parents();
        return;
    }
    // The shell waits for a line on stdin, so it joins before the allocation starts; the
    // bytes are written (not just reserved), so they count.
    let script = format!(
        "read x; exec {} -c 'x = b\"a\" * (256 << 20); import time; time.sleep(1)'",
        python.display()
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sh");
    join(&group.procs_files(), child.id()).expect("join");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    drop(stdin);

    let status = child.wait().unwrap();

    let oom_kills = group.oom_kills();
    let peak = group.memory_peak();
    group.remove().expect("remove the group");
    backend.remove_parents();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    assert!(oom_kills >= 1, "oom_kills = {oom_kills}");
    if let Some(peak) = peak {
        assert!(peak <= 32 << 20, "peak {peak}");
    }
}

fn read_number(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn host_report() {
    let backend = detect_host();
    eprintln!("cgroup backend: {backend:?}");
    let report = doctor_report(&backend);
    for (layer, available, detail) in &report {
        eprintln!("{layer}: {available}: {detail}");
    }
    assert_eq!(report.len(), 4);
    assert_eq!(
        report.iter().any(|(_, available, _)| *available),
        !matches!(backend, Backend::None { .. })
    );
}
