//! The live module set, against the real binary: config reload (CLI, admin API, SIGHUP) adds,
//! removes and changes modules while unchanged ones keep their process; a changed module goes
//! through the zero-downtime switch, and a new version that cannot start leaves the old one
//! serving; restarts under steady load answer no error; a bad file changes nothing.

use std::time::{Duration, Instant};

use convotic_e2e::load::{whoami, Load};
use convotic_e2e::{ModuleEntry, Supervisor};
use nix::sys::signal::Signal;
use serde_json::Value;

const LONG: Duration = Duration::from_secs(30);

fn fixture(name: &str, version: &str) -> ModuleEntry {
    ModuleEntry::fixture(name, "ok").env("FIXTURE_VERSION", version)
}

/// The config with the `[[modules]]` tables replaced by `modules`.
fn rewrite_modules(sup: &Supervisor, modules: &[ModuleEntry]) {
    let path = sup.config_path();
    let text = std::fs::read_to_string(&path).expect("config");
    let head = text
        .split("[[modules]]")
        .next()
        .unwrap_or_default()
        .to_string();
    let tables: String = modules.iter().map(ModuleEntry::toml).collect();
    std::fs::write(&path, head + &tables).expect("write config");
}

fn reload(sup: &Supervisor) -> (i32, Value, String) {
    let (code, stdout, stderr) = sup.cli(&["reload", "--json"]);
    let report = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (code, report, stderr)
}

#[test]
fn reload_adds_removes_and_changes_modules_and_leaves_the_others_alone() {
    let sup = Supervisor::start(
        &[
            fixture("steady", "1"),
            fixture("changing", "1"),
            fixture("leaving", "1"),
        ],
        &[],
    );
    let steady = sup.wait_state("steady", "ready", LONG);
    let changing = sup.wait_state("changing", "ready", LONG);
    sup.wait_state("leaving", "ready", LONG);
    let key = sup.create_key("ws_test");
    assert_eq!(whoami(&sup, &key, "changing")["version"], "1");

    rewrite_modules(
        &sup,
        &[
            fixture("steady", "1"),
            fixture("changing", "2"),
            fixture("arriving", "1"),
        ],
    );
    let (code, report, stderr) = reload(&sup);
    assert_eq!(code, 0, "{report} {stderr}");
    assert_eq!(report["added"], serde_json::json!(["ws_test/arriving"]));
    assert_eq!(report["removed"], serde_json::json!(["ws_test/leaving"]));
    assert_eq!(report["unchanged"], serde_json::json!(["ws_test/steady"]));
    assert_eq!(report["changed"][0]["module"], "ws_test/changing");
    assert_eq!(report["changed"][0]["applied"], true, "{report}");

    // The switch happened before the answer: the new version serves at once.
    assert_eq!(whoami(&sup, &key, "changing")["version"], "2");
    let changed = sup.module("changing");
    assert_ne!(changed["pid"], changing["pid"]);
    assert_eq!(changed["state"], "ready");
    assert_eq!(
        sup.module("steady")["pid"],
        steady["pid"],
        "unchanged: same process"
    );
    let (status, _) = sup.get("/admin/v1/modules/leaving");
    assert_eq!(status, 404, "removed from the set");
    sup.wait_state("arriving", "ready", LONG);
    assert_eq!(whoami(&sup, &key, "arriving")["version"], "1");

    // The text form names each change.
    rewrite_modules(&sup, &[fixture("steady", "1"), fixture("changing", "3")]);
    let (code, stdout, stderr) = sup.cli(&["reload"]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert!(stdout.contains("removed    ws_test/arriving"), "{stdout}");
    assert!(stdout.contains("changed    ws_test/changing"), "{stdout}");
    assert!(stdout.contains("unchanged  1 module(s)"), "{stdout}");
}

#[test]
fn a_new_version_that_cannot_start_leaves_the_old_one_serving() {
    let sup = Supervisor::start(&[fixture("stubborn", "1")], &[]);
    let before = sup.wait_state("stubborn", "ready", LONG);
    let key = sup.create_key("ws_test");
    for (mode, reason) in [
        ("exit-early", "did not become ready"),
        ("bad-manifest-duplicate-route", "did not become ready"),
    ] {
        rewrite_modules(
            &sup,
            &[ModuleEntry::fixture("stubborn", mode).env("FIXTURE_VERSION", "2")],
        );
        let (code, report, stderr) = reload(&sup);
        assert_eq!(
            code, 1,
            "a change that did not take over: {report} {stderr}"
        );
        let change = &report["changed"][0];
        assert_eq!(change["applied"], false, "{report}");
        let message = change["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{mode}: {message}");
        let now = sup.module("stubborn");
        assert_eq!(
            now["pid"], before["pid"],
            "{mode}: the old instance is untouched"
        );
        assert_eq!(now["state"], "ready");
        assert_eq!(whoami(&sup, &key, "stubborn")["version"], "1");
    }
    // The failed change is tried again by the next reload, and a good one takes over.
    rewrite_modules(&sup, &[fixture("stubborn", "3")]);
    let (code, report, _) = reload(&sup);
    assert_eq!(code, 0, "{report}");
    assert_eq!(whoami(&sup, &key, "stubborn")["version"], "3");
}

#[test]
fn a_config_that_does_not_validate_changes_nothing() {
    let sup = Supervisor::start(&[fixture("kept", "1")], &[]);
    let before = sup.wait_state("kept", "ready", LONG);
    let path = sup.config_path();
    let good = std::fs::read_to_string(&path).expect("config");
    std::fs::write(&path, format!("{good}\nnot toml at all = = 3\n")).expect("write");
    let (code, _, stderr) = sup.cli(&["reload"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("line") && stderr.contains("nothing was changed"),
        "{stderr}"
    );
    std::fs::write(&path, format!("{good}restart = \"sometimes\"\n")).expect("write");
    let (code, _, stderr) = sup.cli(&["reload"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("restart"), "{stderr}");
    assert_eq!(sup.module("kept")["pid"], before["pid"]);

    // Server settings are reported as needing a restart, not applied.
    std::fs::write(
        &path,
        good.replace("[server]\n", "[server]\nmax_connections = 77\n"),
    )
    .expect("write");
    let (code, report, _) = reload(&sup);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["needs_restart"], serde_json::json!(["[server]"]));
    assert_eq!(sup.module("kept")["pid"], before["pid"]);
}

#[test]
fn sighup_reloads_the_config() {
    let sup = Supervisor::start(&[fixture("first", "1")], &[]);
    let before = sup.wait_state("first", "ready", LONG);
    rewrite_modules(&sup, &[fixture("first", "1"), fixture("second", "1")]);
    sup.signal(Signal::SIGHUP);
    sup.wait_until(LONG, "the reload to add the module", |s| {
        s.get("/admin/v1/modules/second").0 == 200
    });
    sup.wait_state("second", "ready", LONG);
    assert!(
        sup.log().contains("configuration reloaded"),
        "{}",
        sup.log()
    );
    assert_eq!(sup.module("first")["pid"], before["pid"]);
    assert_eq!(sup.get("/healthz").0, 200);
}

#[test]
fn restarts_and_reloads_under_load_answer_no_error_and_slow_calls_finish() {
    let sup = Supervisor::start(&[fixture("busy", "1")], &[]);
    sup.wait_state("busy", "ready", LONG);
    let key = sup.create_key("ws_test");
    let load = Load::start(&sup, &key, "busy", 6);

    // A slow call started before a switch finishes on the old instance.
    let slow_url = format!("{}/v1/modules/busy/sleep/1500", sup.base);
    let slow_key = key.clone();
    let slow = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .get(slow_url)
            .header("x-api-key", slow_key)
            .timeout(Duration::from_secs(20))
            .send()
            .map(|r| r.status().as_u16())
    });
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    for round in 0..6 {
        if round % 2 == 0 {
            let before = sup.module("busy")["instance"].clone();
            let (code, stdout, stderr) = sup.cli(&["restart", "busy"]);
            assert_eq!(code, 0, "{stdout} {stderr}");
            sup.wait_until(LONG, "the restart to take over", |s| {
                let m = s.module("busy");
                m["instance"] != before && m["state"] == "ready"
            });
        } else {
            rewrite_modules(&sup, &[fixture("busy", &round.to_string())]);
            let (code, report, stderr) = reload(&sup);
            assert_eq!(code, 0, "{report} {stderr}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let report = load.finish();
    let (ok, failures, instances) = (report.ok, report.failures, report.instances);
    assert!(
        failures.is_empty(),
        "{} of {} requests failed during 6 switches in {:?}: {:?}",
        failures.len(),
        ok + failures.len() as u64,
        started.elapsed(),
        &failures[..failures.len().min(5)]
    );
    assert!(ok > 100, "the load ran ({ok} answers)");
    assert!(
        instances >= 4,
        "answers came from several instances: {instances}"
    );
    assert_eq!(slow.join().expect("slow caller").expect("slow call"), 200);
}
