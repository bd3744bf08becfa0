//! Replicas against the real binary: `replicas = 2` runs two sandboxed processes that share the
//! route load; SIGKILLing one every 3 s for a minute under steady load fails no idempotent
//! request (retried on the other) and only in-flight non-idempotent ones; a restart under load
//! (one replica after the other, each through the switch) answers no error; a reload scales.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use convotic_e2e::load::Load;
use convotic_e2e::{ModuleEntry, Supervisor};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(30);

fn replicated(name: &str, replicas: u32) -> ModuleEntry {
    ModuleEntry::fixture(name, "ok").with(&format!("replicas = {replicas}"))
}

fn replicas(sup: &Supervisor, name: &str) -> Vec<Value> {
    sup.module(name)["replicas"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn all_ready(sup: &Supervisor, name: &str, count: usize) -> bool {
    let list = replicas(sup, name);
    list.len() == count && list.iter().all(|r| r["state"] == "ready")
}

/// Non-idempotent callers (`POST /echo`) until `stop`: (ok, failed).
fn post_load(
    sup: &Supervisor,
    key: &str,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(u64, u64)> {
    let url = format!("{}/v1/modules/twin/echo", sup.base);
    let key = key.to_string();
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::new();
        let (ok, failed) = (AtomicU64::new(0), AtomicU64::new(0));
        while !stop.load(Ordering::Relaxed) {
            let answer = client
                .post(&url)
                .header("x-api-key", &key)
                .json(&serde_json::json!({"n": 1}))
                .timeout(Duration::from_secs(10))
                .send();
            match answer {
                Ok(r) if r.status().is_success() => ok.fetch_add(1, Ordering::Relaxed),
                _ => failed.fetch_add(1, Ordering::Relaxed),
            };
        }
        (ok.into_inner(), failed.into_inner())
    })
}

#[test]
fn two_replicas_share_the_load_and_a_killed_one_costs_only_its_in_flight_calls() {
    let sup = Supervisor::start(&[replicated("twin", 2)], &[]);
    sup.wait_until(LONG, "both replicas ready", |s| all_ready(s, "twin", 2));
    let pids: BTreeSet<i64> = replicas(&sup, "twin")
        .iter()
        .filter_map(|r| r["pid"].as_i64())
        .collect();
    assert_eq!(pids.len(), 2, "two processes");
    let key = sup.create_key("ws_test");
    let (code, stdout, _) = sup.cli(&["ps"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("ready 2/2"), "{stdout}");

    let load = Load::start(&sup, &key, "twin", 4);
    let stop = Arc::new(AtomicBool::new(false));
    let posts = post_load(&sup, &key, Arc::clone(&stop));
    let started = Instant::now();
    let mut kills = 0;
    while started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_secs(3));
        // Kill one replica, only while the other is ready (one instance down at a time).
        let list = replicas(&sup, "twin");
        if list.iter().all(|r| r["state"] == "ready") {
            let victim = &list[kills % 2];
            let pid = victim["pid"].as_i64().expect("pid") as i32;
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            kills += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let report = load.finish();
    let (posted, post_failures) = posts.join().expect("post load");
    assert!(kills >= 5, "only {kills} kills happened");
    assert!(
        report.failures.is_empty(),
        "idempotent GETs are retried on the other replica; {} of {} failed after {kills} kills: {:?}",
        report.failures.len(),
        report.ok + report.failures.len() as u64,
        &report.failures[..report.failures.len().min(5)]
    );
    assert!(
        report.instances >= 4,
        "answers came from the replicas' successive instances"
    );
    // A POST fails only when its instance died under it: at most one per kill.
    assert!(
        post_failures <= kills as u64,
        "{post_failures} POSTs failed for {kills} kills ({posted} ok)"
    );
    assert!(posted > 100, "the POST load ran ({posted})");
}

#[test]
fn a_restart_under_load_goes_replica_by_replica_without_errors_and_reload_scales() {
    let sup = Supervisor::start(&[replicated("twin", 2)], &[]);
    sup.wait_until(LONG, "both replicas ready", |s| all_ready(s, "twin", 2));
    let key = sup.create_key("ws_test");
    let load = Load::start(&sup, &key, "twin", 4);
    for _ in 0..3 {
        let before: BTreeSet<String> = replicas(&sup, "twin")
            .iter()
            .filter_map(|r| r["instance"].as_str().map(str::to_string))
            .collect();
        let (code, stdout, stderr) = sup.cli(&["restart", "twin"]);
        assert_eq!(code, 0, "{stdout} {stderr}");
        sup.wait_until(LONG, "both replicas replaced", |s| {
            let now: Vec<Value> = replicas(s, "twin");
            now.iter().all(|r| {
                r["state"] == "ready" && r["instance"].as_str().is_some_and(|i| !before.contains(i))
            })
        });
    }
    let report = load.finish();
    assert!(report.failures.is_empty(), "{:?}", report.failures);

    // Reload with 3 replicas adds one; with 1 stops two; the module keeps answering.
    let path = sup.config_path();
    let text = std::fs::read_to_string(&path).expect("config");
    std::fs::write(&path, text.replace("replicas = 2", "replicas = 3")).expect("write");
    let (code, stdout, stderr) = sup.cli(&["reload"]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    sup.wait_until(LONG, "three replicas ready", |s| all_ready(s, "twin", 3));
    let text = std::fs::read_to_string(&path).expect("config");
    std::fs::write(&path, text.replace("replicas = 3", "replicas = 1")).expect("write");
    let (code, stdout, stderr) = sup.cli(&["reload"]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    sup.wait_until(LONG, "one replica", |s| all_ready(s, "twin", 1));
    assert!(
        sup.descendants().len() < 8,
        "the surplus replicas' processes are gone"
    );
}

#[test]
fn replicas_are_checked_in_the_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[[modules]]\nworkspace = \"ws_a\"\nname = \"m\"\ncommand = {:?}\nreplicas = 0\n",
            convotic_e2e::binary("misbehaving-module")
                .display()
                .to_string()
        ),
    )
    .expect("write");
    let output = std::process::Command::new(convotic_e2e::binary("convotic-supervisor"))
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .expect("check-config");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("replicas 0 must be between 1 and 32"),
        "{stderr}"
    );
}
