//! Crons end to end: the real supervisor fires the fixture's per-second crons
//! (`MISBEHAVE_CRONS=1`: `tick` ok, `boom` error, `slow` 3 s with overlap skip, `late` 5 s
//! with a 1 s timeout); the run history (admin and HTTP API) and the fixture's own records
//! (`crons.jsonl` in its data dir) are checked for outcomes and ordering, never tight timings.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use convotic_e2e::{ModuleEntry, Supervisor};
use nix::sys::signal::Signal;
use reqwest::Method;
use serde_json::Value;

const LONG: Duration = Duration::from_secs(30);

fn start() -> Supervisor {
    let sup = Supervisor::start(
        &[ModuleEntry::fixture("fixture", "ok").env("MISBEHAVE_CRONS", "1")],
        &[],
    );
    sup.wait_state("fixture", "ready", LONG);
    sup
}

/// A cron's history through the admin API, newest first.
fn runs(sup: &Supervisor, cron: &str) -> Vec<Value> {
    let (status, body) = sup.get(&format!(
        "/admin/v1/crons/fixture/{cron}/runs?page_size=500"
    ));
    assert_eq!(status, 200, "runs of {cron}: {body}");
    body["runs"].as_array().cloned().unwrap_or_default()
}

fn with_outcome<'a>(runs: &'a [Value], outcome: &str) -> Vec<&'a Value> {
    runs.iter().filter(|r| r["outcome"] == outcome).collect()
}

/// The fixture's run records.
fn records(sup: &Supervisor) -> Vec<Value> {
    let path = sup.data_dir().join("modules/ws_test/fixture/crons.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Waits until cron `cron` has at least `n` records with `outcome`; returns its history.
fn wait_runs(sup: &Supervisor, cron: &str, outcome: &str, n: usize) -> Vec<Value> {
    let mut last = Vec::new();
    sup.wait_until(LONG, &format!("{n} {outcome} runs of {cron}"), |s| {
        last = runs(s, cron);
        with_outcome(&last, outcome).len() >= n
    });
    last
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[test]
fn ticks_run_on_whole_seconds_and_record_ok_error_and_timeout() {
    let sup = start();
    let tick = wait_runs(&sup, "tick", "ok", 4);
    let boom = wait_runs(&sup, "boom", "error", 2);
    let late = wait_runs(&sup, "late", "timeout", 1);

    // tick: every second, on whole seconds, one record per tick.
    let mut scheduled: Vec<u64> = tick
        .iter()
        .filter(|r| r["manual"] == false)
        .map(|r| r["scheduled_at_ms"].as_u64().expect("scheduled_at_ms"))
        .collect();
    scheduled.sort_unstable();
    assert!(scheduled.iter().all(|at| at % 1000 == 0), "{scheduled:?}");
    assert!(
        scheduled.windows(2).all(|w| w[1] - w[0] == 1000),
        "one tick per second: {scheduled:?}"
    );
    for run in with_outcome(&tick, "ok") {
        assert_eq!(run["message"], "tick", "{run}");
        assert_eq!(run["module"], "fixture");
        assert_eq!(run["workspace_id"], "ws_test");
        let started = run["started_at_ms"].as_u64().expect("started");
        let finished = run["finished_at_ms"].as_u64().expect("finished");
        assert!(started >= run["scheduled_at_ms"].as_u64().unwrap_or(0) && finished >= started);
        assert!(!run["supervisor_id"].as_str().unwrap_or("").is_empty());
    }
    // Newest first.
    let order: Vec<u64> = tick
        .iter()
        .filter_map(|r| r["scheduled_at_ms"].as_u64())
        .collect();
    assert!(order.windows(2).all(|w| w[0] >= w[1]), "{order:?}");

    for run in with_outcome(&boom, "error") {
        assert!(
            run["message"].as_str().unwrap_or("").contains("boom"),
            "{run}"
        );
    }
    for run in with_outcome(&late, "timeout") {
        assert!(
            run["scheduled_at_ms"].as_u64().unwrap_or(1) % 2000 == 0,
            "{run}"
        );
        let started = run["started_at_ms"].as_u64().expect("started");
        let finished = run["finished_at_ms"].as_u64().expect("finished");
        assert!(finished - started >= 900, "the deadline is 1 s: {run}");
    }
    // The fixture saw the ticks it was sent, with their ids and times.
    let seen = records(&sup);
    let tick_ok = with_outcome(&tick, "ok");
    let first = tick_ok.last().expect("a tick");
    assert!(
        seen.iter().any(|r| r["run_id"] == first["id"]
            && r["scheduled_at_ms"] == first["scheduled_at_ms"]
            && r["fired_at_ms"].as_u64() >= first["scheduled_at_ms"].as_u64()),
        "the fixture recorded run {}",
        first["id"]
    );
}

#[test]
fn overlap_skip_records_skipped_ticks_and_runs_never_overlap() {
    let sup = start();
    wait_runs(&sup, "slow", "ok", 2);
    let slow = wait_runs(&sup, "slow", "skipped", 2);
    for run in with_outcome(&slow, "skipped") {
        assert_eq!(run["message"], "previous run still running", "{run}");
        assert_eq!(run["started_at_ms"], Value::Null);
    }
    // The fixture's own view: each slow run ends before the next one starts.
    let mut spans: HashMap<String, (u64, Option<u64>)> = HashMap::new();
    for r in records(&sup).iter().filter(|r| r["cron"] == "slow") {
        let id = r["run_id"].as_str().unwrap_or("").to_string();
        let entry = spans.entry(id).or_insert((0, None));
        entry.0 = r["started_ms"].as_u64().unwrap_or(0);
        if let Some(end) = r["finished_ms"].as_u64() {
            entry.1 = Some(end);
        }
    }
    let mut spans: Vec<(u64, Option<u64>)> = spans.into_values().collect();
    spans.sort_unstable();
    assert!(spans.len() >= 2, "{spans:?}");
    for pair in spans.windows(2) {
        let end = pair[0].1.expect("an earlier run finished");
        assert!(pair[1].0 >= end, "slow runs overlap: {spans:?}");
    }
}

#[test]
fn a_run_cut_short_by_a_crash_is_failed_and_ticks_resume_after_the_restart() {
    let sup = start();
    // A slow run in flight (it works 3 s), started less than 2 s ago.
    let mut in_flight: Option<Value> = None;
    sup.wait_until(LONG, "a slow run in flight", |s| {
        in_flight = runs(s, "slow").into_iter().find(|r| {
            r["outcome"] == "running"
                && now_ms().saturating_sub(r["started_at_ms"].as_u64().unwrap_or(0)) < 2000
        });
        in_flight.is_some()
    });
    let run = in_flight.expect("in flight");
    let run_id = run["id"].as_str().expect("run id").to_string();
    // The module's pid as the supervisor sees it (the fixture itself runs in its own pid
    // namespace).
    let pid = sup.module("fixture")["pid"].as_i64().expect("pid") as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL).expect("kill");
    let killed_at = now_ms();

    sup.wait_until(LONG, "the cut run to be failed", |s| {
        runs(s, "slow")
            .iter()
            .any(|r| r["id"] == run_id.as_str() && r["outcome"] == "failed")
    });
    let failed = runs(&sup, "slow")
        .into_iter()
        .find(|r| r["id"] == run_id.as_str())
        .expect("the run");
    assert_eq!(failed["message"], "the module stopped during the run");

    sup.wait_until(LONG, "restart", |s| {
        let status = s.module("fixture");
        status["state"] == "ready" && status["restarts"].as_u64().unwrap_or(0) >= 1
    });
    sup.wait_until(LONG, "a tick after the restart", |s| {
        runs(s, "tick")
            .iter()
            .any(|r| r["outcome"] == "ok" && r["started_at_ms"].as_u64().unwrap_or(0) > killed_at)
    });
    // While the module was down, nothing was left running.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let running = with_outcome(&runs(&sup, "slow"), "running")
            .into_iter()
            .filter(|r| r["started_at_ms"].as_u64().unwrap_or(0) < killed_at)
            .count();
        if running == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(with_outcome(&runs(&sup, "slow"), "running")
        .iter()
        .all(|r| r["started_at_ms"].as_u64().unwrap_or(0) > killed_at));
}

fn api(sup: &Supervisor, key: &str, method: Method, path: &str) -> (u16, Value) {
    let response = sup
        .http(method, path)
        .header("x-api-key", key)
        .send()
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

#[test]
fn the_api_lists_crons_runs_one_now_and_refuses_an_overlap() {
    let sup = start();
    let key = sup.create_key("ws_test");

    let (status, body) = api(&sup, &key, Method::GET, "/v1/crons");
    assert_eq!(status, 200, "{body}");
    let crons = body["crons"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = crons.iter().filter_map(|c| c["name"].as_str()).collect();
    for name in ["tick", "boom", "slow", "late", "fixture-cron"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let tick = crons.iter().find(|c| c["name"] == "tick").expect("tick");
    assert_eq!(tick["module"], "fixture");
    assert_eq!(tick["schedule"], "* * * * * *");
    assert_eq!(tick["timezone"], "UTC");
    assert_eq!(tick["overlap"], "skip");
    assert_eq!(tick["timeout_ms"], 900_000);
    assert_eq!(tick["module_state"], "ready");
    let next = tick["next_fire_at"].as_str().expect("next fire time");
    assert!(next.ends_with("+00:00"), "{next}");
    let late = crons.iter().find(|c| c["name"] == "late").expect("late");
    assert_eq!(late["timeout_ms"], 1000);

    // Errors.
    let (status, _) = sup
        .http(Method::GET, "/v1/crons")
        .send()
        .map(|r| (r.status().as_u16(), ()))
        .expect("request");
    assert_eq!(status, 401);
    let (status, body) = api(&sup, &key, Method::GET, "/v1/crons/fixture/nope/runs");
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "cron_not_found");
    let (status, body) = api(&sup, &key, Method::POST, "/v1/crons/nope/tick/run");
    assert_eq!(status, 404, "{body}");
    let (status, _) = api(&sup, &key, Method::GET, "/v1/crons/fixture/tick/run");
    assert_eq!(status, 405);

    // Run now.
    let (status, run) = api(&sup, &key, Method::POST, "/v1/crons/fixture/tick/run");
    assert_eq!(status, 202, "{run}");
    assert_eq!(run["manual"], true);
    assert_eq!(run["outcome"], "running");
    let id = run["id"].as_str().expect("id").to_string();
    sup.wait_until(LONG, "the manual run to finish", |s| {
        let (_, page) = api(
            s,
            &key,
            Method::GET,
            "/v1/crons/fixture/tick/runs?page_size=100",
        );
        page["runs"].as_array().is_some_and(|runs| {
            runs.iter()
                .any(|r| r["id"] == id.as_str() && r["outcome"] == "ok")
        })
    });
    // Paging (once scheduled ticks have run too).
    wait_runs(&sup, "tick", "ok", 3);
    let (status, page) = api(
        &sup,
        &key,
        Method::GET,
        "/v1/crons/fixture/tick/runs?page_size=1",
    );
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["runs"].as_array().map(Vec::len), Some(1));
    let token = page["next_page_token"]
        .as_str()
        .unwrap_or_else(|| panic!("a next page: {page}"))
        .to_string();
    let (status, second) = api(
        &sup,
        &key,
        Method::GET,
        &format!("/v1/crons/fixture/tick/runs?page_size=1&page_token={token}"),
    );
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["runs"][0]["id"], page["runs"][0]["id"]);

    // slow, overlap skip: while a run is outstanding, run now is refused. A 202 means it was
    // not running and now is, so the next call is refused.
    let mut refused = None;
    for _ in 0..3 {
        let (status, body) = api(&sup, &key, Method::POST, "/v1/crons/fixture/slow/run");
        if status == 409 {
            refused = Some(body);
            break;
        }
        assert_eq!(status, 202, "{body}");
    }
    let refused = refused.expect("a 409 for slow");
    assert_eq!(refused["error"]["code"], "overlap", "{refused}");

    // The CLI, through the admin API.
    let (code, stdout, stderr) = sup.cli(&["crons", "list"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("tick") && stdout.contains("slow"),
        "{stdout}"
    );
    let (code, stdout, stderr) = sup.cli(&["crons", "runs", "fixture", "tick"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("ok"), "{stdout}");
    let (code, stdout, stderr) = sup.cli(&["crons", "run", "fixture", "tick"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("started run run_"), "{stdout}");
    let (code, _, stderr) = sup.cli(&["crons", "run", "fixture", "nope"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("nope"), "{stderr}");
}

/// The scheduled times of the fixture's `tick` runs that started on `sup`.
fn tick_starts(sup: &Supervisor) -> Vec<u64> {
    let path = sup.data_dir().join("modules/ws_test/fixture/crons.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["cron"] == "tick" && r["phase"] == "start" && r["manual"] == false)
        .filter_map(|r| r["scheduled_at_ms"].as_u64())
        .collect()
}

#[test]
fn two_supervisors_on_one_nats_run_each_tick_once() {
    let nats = convotic_e2e::nats::NatsServer::start();
    let tables = format!("[nats]\nurl = \"{}\"\n", nats.url());
    let entry = || ModuleEntry::fixture("fixture", "ok").env("MISBEHAVE_CRONS", "1");
    let first = Supervisor::start_full(&[entry()], &[], &[], &tables);
    let second = Supervisor::start_full(&[entry()], &[], &[], &tables);
    first.wait_state("fixture", "ready", Duration::from_secs(30));
    second.wait_state("fixture", "ready", Duration::from_secs(30));
    // Ticks from a second after both are ready.
    let from = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 1000;
    let window = |sup: &Supervisor| -> Vec<u64> {
        tick_starts(sup)
            .into_iter()
            .filter(|t| *t >= from)
            .collect()
    };
    first.wait_until(
        Duration::from_secs(40),
        "12 ticks run between the two",
        |_| {
            let mut all = window(&first);
            all.extend(window(&second));
            all.len() >= 12
        },
    );
    let (a, b) = (window(&first), window(&second));
    let mut all: Vec<u64> = a.iter().chain(b.iter()).copied().collect();
    all.sort_unstable();
    let mut unique = all.clone();
    unique.dedup();
    assert_eq!(all, unique, "a tick ran on both supervisors: {a:?} / {b:?}");
    // Consecutive seconds: no tick was lost between the first and the last settled one (the
    // newest ticks may still be starting on the other supervisor).
    let newest = *unique.last().unwrap();
    let settled: Vec<u64> = unique
        .iter()
        .copied()
        .filter(|t| t + 2000 <= newest)
        .collect();
    assert!(settled.len() >= 8, "{unique:?}");
    for pair in settled.windows(2) {
        assert_eq!(pair[1] - pair[0], 1000, "a tick is missing: {unique:?}");
    }
}
