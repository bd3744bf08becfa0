//! Modules that heal by themselves: a crash loop is slowed down, never given up on (it shows
//! `crash-loop` and its next attempt, and becomes ready without an operator), a binary that
//! disappears is reported as missing, and a recovered module shows its last failure as
//! history rather than as a current error.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use convotic_e2e::{binary, ModuleEntry, Supervisor};
use nix::sys::signal::Signal;

const LONG: Duration = Duration::from_secs(60);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Runs the CLI with `--config` (not `--data-dir`); returns (exit code, stdout, stderr).
fn cli_with_config(config: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(binary("convotic-supervisor"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run cli");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn ps_row(sup: &Supervisor, name: &str) -> String {
    let (code, stdout, stderr) = sup.cli(&["ps"]);
    assert_eq!(code, 0, "{stderr}");
    stdout
        .lines()
        .find(|l| l.contains(name))
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_string()
}

#[test]
fn a_crash_looping_module_shows_its_next_attempt_and_becomes_ready_by_itself() {
    let sup = Supervisor::start(
        &[ModuleEntry::fixture("phoenix", "crash-on-start-n")
            .env("MISBEHAVE_N", "8")
            .with("crash_loop_backoff = \"2s\"")],
        &[],
    );
    let looping = sup.wait_state("phoenix", "crash-loop", LONG);
    let reason = looping["last_error"].as_str().unwrap();
    assert!(reason.contains("crash loop"), "{reason}");
    assert!(reason.contains("exited with code 3"), "{reason}");
    assert!(reason.contains("crashing on start"), "{reason}");
    let next = looping["next_attempt_ms"].as_u64().expect("next attempt");
    // Capped at the configured 2 s (plus slack for the poll); a hang check, not a timing claim.
    assert!(next <= now_ms() + 2_500, "{looping}");
    assert!(
        looping["last_failure_at_ms"].as_u64().is_some(),
        "{looping}"
    );
    // `ps` shows the state and when the next attempt comes; it may already have moved on.
    sup.wait_until(LONG, "ps to show the crash loop", |s| {
        let row = ps_row(s, "phoenix");
        row.contains("crash-loop") && row.contains("next attempt in")
    });
    // No operator: it becomes ready by itself once its starts stop crashing.
    let ready = sup.wait_state("phoenix", "ready", LONG);
    assert!(ready["restarts"].as_u64().unwrap() >= 8, "{ready}");
    assert!(ready["last_error"].is_null(), "{ready}");
    assert!(ready["next_attempt_ms"].is_null(), "{ready}");
    let failure = ready["last_failure"].as_str().unwrap();
    assert!(failure.contains("crash loop"), "{failure}");
    assert!(ready["last_failure_at_ms"].as_u64().unwrap() <= now_ms());
    let row = ps_row(&sup, "phoenix");
    assert!(row.contains("ready"), "{row}");
    assert!(row.contains("(recovered) last failure"), "{row}");
    assert!(!row.contains("next attempt"), "{row}");
    let (status, _) = sup.get("/readyz");
    assert_eq!(status, 200);
}

/// Copies the fixture binary to a directory of its own, so a test can remove it.
/// Installs the fixture's binary as `<dir>/module` the way a deployment should: written under
/// another name, then renamed into place (never executed half-written: copying over the path
/// itself races the supervisor's restarts, which then fail with "Text file busy").
fn private_fixture_binary(dir: &Path) -> PathBuf {
    let path = dir.join("module");
    let partial = dir.join("module.partial");
    std::fs::copy(binary("misbehaving-module"), &partial).unwrap();
    std::fs::rename(&partial, &path).unwrap();
    path
}

#[test]
fn a_missing_binary_is_reported_as_missing_and_clients_still_work() {
    let bins = tempfile::tempdir().unwrap();
    let command = private_fixture_binary(bins.path());
    let mut entry = ModuleEntry::fixture("vanishing", "ok").with("crash_loop_backoff = \"2s\"");
    entry.command = command.clone();
    let sup = Supervisor::start(&[entry], &[]);
    let ready = sup.wait_state("vanishing", "ready", LONG);
    std::fs::remove_file(&command).unwrap();
    let pid = ready["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let mut status = serde_json::Value::Null;
    sup.wait_until(LONG, "the missing binary to be reported", |s| {
        status = s.module("vanishing");
        status["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("does not exist"))
    });
    let reason = status["last_error"].as_str().unwrap();
    assert!(reason.contains(&command.display().to_string()), "{reason}");
    assert!(!reason.contains("may read"), "{reason}");
    // `ps`, `logs` and `restart` only need to find the supervisor: a missing binary is no
    // reason for them to refuse the config.
    let config = sup.config_path();
    let (code, stdout, stderr) = cli_with_config(&config, &["ps"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("does not exist"), "{stdout}");
    let (code, stdout, stderr) = cli_with_config(&config, &["logs", "vanishing"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("does not exist"), "{stdout}");
    let (code, _, stderr) = cli_with_config(&config, &["restart", "vanishing"]);
    assert_eq!(code, 0, "{stderr}");
    // Deployed again: it comes back by itself.
    private_fixture_binary(bins.path());
    let ready = sup.wait_state("vanishing", "ready", LONG);
    assert!(ready["last_error"].is_null(), "{ready}");
    assert!(
        ready["last_failure"]
            .as_str()
            .is_some_and(|f| f.contains("does not exist")),
        "{ready}"
    );
}
