//! What a supervisor leaves behind, and what the next one and the CLI make of it: the runtime
//! dir of a SIGKILLed supervisor is removed by the next supervisor (never a live one's), the
//! CLI says when the recorded supervisor is not running, a supervisor
//! stopped by the test harness removes its runtime dir, and `check-config` refuses a
//! `working_dir` that would hide the module's files.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use convotic_e2e::{binary, ModuleEntry, Supervisor};
use nix::sys::signal::Signal;

const LONG: Duration = Duration::from_secs(30);

/// The runtime root (`/tmp/cvt-XXXXXX`, the harness's runtime_dir) owned by `pid`.
fn runtime_root_of(pid: i32) -> Option<PathBuf> {
    std::fs::read_dir("/tmp").ok()?.flatten().find_map(|entry| {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("cvt-") && name.len() == 10) {
            return None;
        }
        let owner = std::fs::read_to_string(entry.path().join("owner")).ok()?;
        (owner.split_whitespace().next()? == pid.to_string()).then(|| entry.path())
    })
}

fn root_of(sup: &Supervisor) -> PathBuf {
    runtime_root_of(sup.pid()).unwrap_or_else(|| {
        panic!(
            "no runtime dir records pid {} as its owner\n{}",
            sup.pid(),
            sup.log()
        )
    })
}

#[test]
fn the_runtime_dir_of_a_killed_supervisor_is_removed_by_the_next_and_a_live_one_kept() {
    let mut killed = Supervisor::start(&[], &[]);
    let live = Supervisor::start(&[ModuleEntry::fixture("bystander", "ok")], &[]);
    live.wait_state("bystander", "ready", LONG);
    let killed_root = root_of(&killed);
    let live_root = root_of(&live);
    killed.signal(Signal::SIGKILL);
    killed.wait_exit(LONG).expect("killed");
    assert!(killed_root.exists(), "a SIGKILL leaves the runtime dir");
    let next = Supervisor::start(&[], &[]);
    assert!(
        !killed_root.exists(),
        "{} of a dead supervisor is still there\n{}",
        killed_root.display(),
        next.log()
    );
    assert!(
        live_root.exists(),
        "a live supervisor's runtime dir was removed"
    );
    assert!(root_of(&next).exists());
    // The live supervisor's module is untouched and still serving.
    assert_eq!(live.module("bystander")["state"], "ready");
}

#[test]
fn ps_says_when_the_recorded_supervisor_is_not_running() {
    let mut sup = Supervisor::start(&[], &[]);
    let pid = sup.pid();
    sup.signal(Signal::SIGKILL);
    sup.wait_exit(LONG).expect("killed");
    assert!(sup.data_dir().join("supervisor.json").exists());
    let (code, _, stderr) = sup.cli(&["ps"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is not running"), "{stderr}");
    assert!(stderr.contains(&format!("pid {pid}")), "{stderr}");
    assert!(stderr.contains("started "), "{stderr}");
    assert!(
        stderr.contains("convotic-supervisor run --config"),
        "{stderr}"
    );
    assert!(!stderr.contains("cannot reach"), "{stderr}");
}

#[test]
fn a_supervisor_stopped_by_the_harness_removes_its_runtime_dir() {
    let sup = Supervisor::start(&[ModuleEntry::fixture("m", "ok")], &[]);
    sup.wait_state("m", "ready", LONG);
    let root = root_of(&sup);
    drop(sup);
    assert!(!root.exists(), "{} left behind", root.display());
}

fn check_config(dir: &Path, module_lines: &str) -> (i32, String) {
    let path = dir.join("convotic.toml");
    let text = format!(
        "[supervisor]\ndata_dir = \"data\"\n[[modules]]\nworkspace = \"ws_test\"\nname = \"app\"\ncommand = {:?}\n{module_lines}",
        binary("misbehaving-module").display().to_string()
    );
    std::fs::write(&path, text).unwrap();
    let output = Command::new(binary("convotic-supervisor"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_config_refuses_a_working_dir_holding_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = check_config(dir.path(), "working_dir = \".\"\n");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("modules[0] (ws_test/app)"), "{stderr}");
    assert!(
        stderr.contains(&format!("working_dir {} contains", dir.path().display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&dir.path().join("data").display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("would not be mounted"), "{stderr}");
    std::fs::create_dir(dir.path().join("app")).unwrap();
    let (code, stderr) = check_config(dir.path(), "working_dir = \"app\"\n");
    assert_eq!(code, 0, "{stderr}");
}
