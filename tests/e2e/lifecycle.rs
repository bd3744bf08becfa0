//! The supervisor's process lifecycle, driven through the real binary: ready and visible in
//! `ps`, restart with backoff, crash loop, graceful stop, SIGKILL of the supervisor, logs,
//! operator restart, and a module started by hand.

use std::process::Command;
use std::time::Duration;

use convotic_e2e::{binary, cmdline, wait_all_dead, ModuleEntry, Supervisor};
use nix::sys::signal::Signal;

const LONG: Duration = Duration::from_secs(30);

#[test]
fn example_module_becomes_ready_and_its_manifest_shows_in_ps() {
    let sup = Supervisor::start(&[ModuleEntry::new("hello-rust", "hello-rust")], &[]);
    let status = sup.wait_state("hello-rust", "ready", LONG);
    assert!(status["pid"].as_i64().unwrap() > 0, "{status}");
    assert_eq!(status["protocol_version"], 1);
    let manifest = &status["manifest"];
    assert_eq!(manifest["name"], "hello-rust");
    assert_eq!(manifest["sdk"]["language"], "rust");
    for kind in ["routes", "workers", "nodes", "blocks", "crons"] {
        assert!(
            !manifest[kind].as_array().unwrap().is_empty(),
            "no {kind} in {manifest}"
        );
    }
    let (code, stdout, stderr) = sup.cli(&["ps"]);
    assert_eq!(code, 0, "{stderr}");
    let row = stdout
        .lines()
        .find(|l| l.contains("hello-rust"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.contains("ready"), "{row}");
    assert!(row.contains(&status["pid"].to_string()), "{row}");
    let (code, json, _) = sup.cli(&["ps", "--json"]);
    assert_eq!(code, 0);
    assert!(json.contains("\"/hello/:name\""), "{json}");
    let (status, ready) = sup.get("/readyz");
    assert_eq!(status, 200, "{ready}");
}

#[test]
fn a_killed_module_restarts_with_backoff_and_six_crashes_in_a_minute_are_a_crash_loop() {
    let sup = Supervisor::start(&[ModuleEntry::fixture("victim", "ok")], &[]);
    let mut pids = Vec::new();
    for round in 1..=6 {
        let status = sup.wait_state("victim", "ready", LONG);
        let pid = status["pid"].as_i64().unwrap() as i32;
        assert!(
            !pids.contains(&pid),
            "round {round}: pid {pid} reused, module was not restarted"
        );
        pids.push(pid);
        assert_eq!(status["restarts"], round - 1, "{status}");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL).unwrap();
        if round < 6 {
            // Seen in backoff (or already starting again) with the reason recorded.
            sup.wait_until(LONG, "restart after SIGKILL", |s| {
                let m = s.module("victim");
                m["restarts"] == round
                    && m["last_exit"]
                        .as_str()
                        .is_some_and(|e| e.contains("SIGKILL"))
            });
        }
    }
    // The sixth crash within a minute: a crash loop, still restarted by itself (default pace
    // up to 5 min), with the next attempt shown; never `failed`.
    let looping = sup.wait_state("victim", "crash-loop", LONG);
    let reason = looping["last_error"].as_str().unwrap();
    assert!(reason.contains("crash loop"), "{reason}");
    assert!(reason.contains("SIGKILL"), "{reason}");
    assert!(looping["next_attempt_ms"].as_u64().is_some(), "{looping}");
    assert_eq!(sup.get("/healthz").0, 200);
    assert_eq!(sup.get("/readyz").0, 503);
    // An operator restart brings it back at once.
    let (code, _, stderr) = sup.cli(&["restart", "victim"]);
    assert_eq!(code, 0, "{stderr}");
    let ready = sup.wait_state("victim", "ready", LONG);
    assert!(ready["last_error"].is_null(), "{ready}");
    assert!(
        ready["last_failure"]
            .as_str()
            .unwrap()
            .contains("crash loop"),
        "{ready}"
    );
}

/// Modules whose stop exercises every path: a clean SDK module, one that ignores SIGTERM and
/// hangs in Shutdown, and one whose children try to outlive it.
fn stubborn_modules() -> Vec<ModuleEntry> {
    vec![
        ModuleEntry::new("hello-rust", "hello-rust"),
        ModuleEntry::fixture("stubborn", "ignore-sigterm"),
        ModuleEntry::fixture("parent", "spawn-children").env("MISBEHAVE_PIDFILE", "/dev/null"),
    ]
}

fn wait_all_ready(sup: &Supervisor, names: &[&str]) {
    for name in names {
        sup.wait_state(name, "ready", LONG);
    }
}

/// Waits until the fixture's two `sleep` children exist below the supervisor.
fn wait_for_sleepers(sup: &Supervisor) -> Vec<i32> {
    let mut sleepers = Vec::new();
    sup.wait_until(LONG, "the fixture's children", |s| {
        sleepers = s
            .descendants()
            .into_iter()
            .filter(|p| cmdline(*p).starts_with("sleep"))
            .collect();
        sleepers.len() >= 2
    });
    sleepers
}

#[test]
fn sigterm_stops_every_module_within_the_grace_period() {
    let mut sup = Supervisor::start(&stubborn_modules(), &["stop_grace = \"2s\""]);
    wait_all_ready(&sup, &["hello-rust", "stubborn", "parent"]);
    wait_for_sleepers(&sup);
    let tree = sup.descendants();
    assert!(
        tree.len() >= 8,
        "expected helpers, inits, modules and children: {tree:?}"
    );
    let started = std::time::Instant::now();
    sup.signal(Signal::SIGTERM);
    let status = sup
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("supervisor did not exit\n{}", sup.log()));
    assert!(status.success(), "{status:?}\n{}", sup.log());
    // Grace 2 s (+ process exit); the bound is a hang check, not a performance figure.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let survivors = wait_all_dead(&tree, Duration::from_secs(2));
    assert!(
        survivors.is_empty(),
        "left alive: {:?}",
        survivors
            .iter()
            .map(|p| (p, cmdline(*p)))
            .collect::<Vec<_>>()
    );
    let log = sup.log();
    assert!(
        log.contains("killed with SIGKILL"),
        "stubborn module should need SIGKILL:\n{log}"
    );
}

#[test]
fn sigkill_of_the_supervisor_leaves_no_module_process_alive() {
    let mut sup = Supervisor::start(&stubborn_modules(), &[]);
    wait_all_ready(&sup, &["hello-rust", "stubborn", "parent"]);
    let sleepers = wait_for_sleepers(&sup);
    let tree = sup.descendants();
    for pid in &sleepers {
        assert!(tree.contains(pid));
    }
    sup.signal(Signal::SIGKILL);
    sup.wait_exit(Duration::from_secs(5))
        .expect("supervisor killed");
    let survivors = wait_all_dead(&tree, Duration::from_secs(5));
    assert!(
        survivors.is_empty(),
        "left alive: {:?}",
        survivors
            .iter()
            .map(|p| (p, cmdline(*p)))
            .collect::<Vec<_>>()
    );
}

#[test]
fn logs_show_module_output_and_lifecycle_events() {
    let sup = Supervisor::start(&[ModuleEntry::new("hello-rust", "hello-rust")], &[]);
    sup.wait_state("hello-rust", "ready", LONG);
    let (code, stdout, stderr) = sup.cli(&["logs", "hello-rust"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("supervisor"), "{stdout}");
    assert!(stdout.contains("ready in"), "{stdout}");
    let (code, _, stderr) = sup.cli(&["logs", "nope"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("no module named"), "{stderr}");
}

#[test]
fn admin_api_requires_the_token_and_answers_json_errors() {
    let sup = Supervisor::start(&[], &[]);
    let client = reqwest::blocking::Client::new();
    let response = client
        .get(format!("{}/admin/v1/modules", sup.base))
        .send()
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(body["error"]["request_id"]
        .as_str()
        .unwrap()
        .starts_with("req_"));
    let (status, body) = sup.get("/admin/v1/nope");
    assert_eq!(status, 404, "{body}");
    let (status, _) = sup.request(reqwest::Method::DELETE, "/admin/v1/modules");
    assert_eq!(status, 405);
    let mode = std::fs::metadata(sup.data_dir().join("admin-token")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
}

#[test]
fn a_module_started_by_hand_explains_how_to_run_it() {
    for module in [
        "hello-rust",
        "misbehaving-module",
        "erp-webhook",
        "order-worker",
    ] {
        let output = Command::new(binary(module)).env_clear().output().unwrap();
        assert!(!output.status.success(), "{module} exited 0");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("convotic-supervisor run --config"),
            "{module}: {stderr}"
        );
    }
}

#[test]
fn a_bad_config_is_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[server]\nlisten = \"127.0.0.1:0\"\nlistne = 1\n").unwrap();
    let output = Command::new(binary("convotic-supervisor"))
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("listne"), "{stderr}");
}
