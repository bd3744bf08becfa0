//! Every misbehaving-module mode leads to its documented state with a clear reason, and none
//! hangs the supervisor.

use std::time::Duration;

use convotic_e2e::{ModuleEntry, Supervisor};

const LONG: Duration = Duration::from_secs(30);

/// Starts one fixture module with `restart = "never"` so the first failure is final, and
/// returns its status once it is failed.
fn fails_with(mode: &str, extra: &[&str]) -> (Supervisor, String) {
    let mut entry = ModuleEntry::fixture("fixture", mode).with("restart = \"never\"");
    for line in extra {
        entry = entry.with(line);
    }
    let sup = Supervisor::start(&[entry], &[]);
    let status = sup.wait_state("fixture", "failed", LONG);
    let reason = status["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (sup, reason)
}

#[test]
fn exiting_before_listening_is_reported_with_its_exit_code_and_stderr() {
    let (_sup, reason) = fails_with("exit-early", &[]);
    assert!(reason.contains("exited with code 3"), "{reason}");
    assert!(reason.contains("last stderr"), "{reason}");
}

#[test]
fn exit_code_78_is_never_restarted_even_with_restart_always() {
    let sup = Supervisor::start(&[ModuleEntry::fixture("fixture", "exit-78")], &[]);
    let status = sup.wait_state("fixture", "failed", LONG);
    let reason = status["last_error"].as_str().unwrap();
    assert!(
        reason.contains("78") && reason.contains("do not restart"),
        "{reason}"
    );
    assert!(
        reason.contains("config missing FOO"),
        "stderr should explain: {reason}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sup.module("fixture")["restarts"], 0);
}

#[test]
fn a_module_that_never_listens_times_out_naming_the_socket() {
    let (_sup, reason) = fails_with("never-listen", &["start_timeout = \"1s\""]);
    assert!(reason.contains("start timeout"), "{reason}");
    assert!(reason.contains("never listened"), "{reason}");
}

#[test]
fn a_module_that_never_reports_serving_times_out_naming_health() {
    let (_sup, reason) = fails_with("never-serving", &["start_timeout = \"1s\""]);
    assert!(reason.contains("NOT_SERVING"), "{reason}");
}

#[test]
fn bad_manifests_are_refused_naming_the_entry_and_not_restarted() {
    let cases = [
        (
            "bad-manifest-duplicate-route",
            "routes[1] (GET /a): duplicate of routes[0]",
        ),
        ("bad-manifest-path", "path must start with '/'"),
        ("bad-manifest-cron", "\"every tuesday\""),
    ];
    let entries: Vec<ModuleEntry> = cases
        .iter()
        .enumerate()
        .map(|(i, (mode, _))| ModuleEntry::fixture(&format!("bad{i}"), mode))
        .collect();
    let sup = Supervisor::start(&entries, &[]);
    for (i, (mode, expected)) in cases.iter().enumerate() {
        let status = sup.wait_state(&format!("bad{i}"), "failed", LONG);
        let reason = status["last_error"].as_str().unwrap();
        assert!(reason.contains("invalid manifest"), "{mode}: {reason}");
        assert!(
            reason.contains(expected),
            "{mode}: expected {expected:?} in {reason}"
        );
        assert_eq!(
            status["restarts"], 0,
            "{mode}: a bad manifest must not be restarted"
        );
    }
}

/// A `Describe` answer over 1 MiB is refused without being decoded (a manifest of millions of
/// empty entries would cost the supervisor gigabytes), and the error says so.
#[test]
fn an_oversized_manifest_is_refused_undecoded() {
    let sup = Supervisor::start(&[ModuleEntry::fixture("huge", "bad-manifest-huge")], &[]);
    sup.wait_until(LONG, "the refusal of the huge manifest", |s| {
        s.module("huge")["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("Describe failed") && e.contains("too large"))
    });
}

#[test]
fn a_slow_starting_module_becomes_ready() {
    let sup = Supervisor::start(
        &[ModuleEntry::fixture("fixture", "slow-start").env("MISBEHAVE_N", "700")],
        &[],
    );
    let status = sup.wait_state("fixture", "ready", LONG);
    assert!(status["start_ms"].as_f64().unwrap() >= 700.0, "{status}");
}

#[test]
fn a_flooding_module_does_not_grow_supervisor_memory_without_bound() {
    let sup = Supervisor::start(&[ModuleEntry::fixture("flood", "flood-stdout")], &[]);
    sup.wait_state("flood", "ready", LONG);
    let rss = || convotic_supervisor::process::tree::rss_bytes(sup.pid()).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let early = rss();
    std::thread::sleep(Duration::from_secs(4));
    let late = rss();
    // Ring buffer (1000 lines) and line cap bound memory; millions of lines went through.
    assert!(
        late < early + 32 * 1024 * 1024,
        "RSS grew from {early} to {late} bytes"
    );
    assert!(late < 256 * 1024 * 1024, "RSS {late} bytes");
    // Still responsive, still ready, and the ring buffer holds only the last lines.
    assert_eq!(sup.module("flood")["state"], "ready");
    let (status, body) = sup.get("/admin/v1/modules/flood/logs?limit=10000");
    assert_eq!(status, 200);
    let lines = body["lines"].as_array().unwrap();
    assert!(lines.len() <= 1000, "{}", lines.len());
    let last_seq = lines.last().unwrap()["seq"].as_u64().unwrap();
    assert!(
        last_seq > 10_000,
        "only {last_seq} lines were read: the flood was not drained"
    );
    assert!(
        sup.log().contains("over the log rate limit"),
        "no rate-limit summary in the log"
    );
}
