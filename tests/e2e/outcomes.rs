//! What docs/PROTOCOL.md promises a module author, checked against the real binary: the outcome
//! table of §5.7 (an `Error` outcome of each code, sent by a raw module, answered over HTTP),
//! the working directory of §3.1 and the `grace_ms` of §7.1.

use std::time::Duration;

use convotic_e2e::{ModuleEntry, Supervisor};
use reqwest::Method;
use serde_json::Value;

const LONG: Duration = Duration::from_secs(30);

fn get(sup: &Supervisor, key: &str, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = sup
        .http(Method::GET, path)
        .header("x-api-key", key)
        .timeout(LONG)
        .send()
        .expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().unwrap_or(Value::Null);
    (status, headers, body)
}

/// A module frame holding a million empty outcomes (2 MB on the wire, ~88 MB decoded) is
/// refused before it is decoded: the request fails, the supervisor says why and keeps serving.
#[test]
fn a_frame_of_a_million_outcomes_is_refused_undecoded() {
    let sup = Supervisor::start(&[ModuleEntry::fixture("raw", "raw-errors")], &[]);
    sup.wait_state("raw", "ready", LONG);
    let key = sup.create_key("ws_test");
    let (status, _, body) = get(&sup, &key, "/v1/modules/raw/outcome-flood");
    assert!(status >= 500, "{status} {body}");
    sup.wait_until(LONG, "the refusal in the log", |s| {
        s.log().contains("more than 4096")
    });
    // The broken lane takes the instance down; it is started again and serves.
    sup.wait_until(LONG, "the module to serve again", |s| {
        get(s, &key, "/v1/modules/raw/ping").0 == 200
    });
}

#[test]
fn a_route_error_outcome_answers_the_outcome_table() {
    let sup = Supervisor::start(&[ModuleEntry::fixture("raw", "raw-errors")], &[]);
    sup.wait_state("raw", "ready", LONG);
    let key = sup.create_key("ws_test");
    // (ErrorCode number, HTTP status, error.code)
    let table = [
        (0, 502, "module_error"),       // UNSPECIFIED: as INTERNAL
        (1, 502, "module_error"),       // HANDLER
        (2, 422, "rejected_input"),     // BAD_INPUT
        (3, 404, "not_found"),          // NOT_FOUND
        (4, 503, "module_unavailable"), // CANCELLED without a Cancel
        (5, 504, "timeout"),            // DEADLINE_EXCEEDED
        (6, 503, "module_unavailable"), // UNAVAILABLE
        (7, 502, "module_error"),       // INTERNAL
        (99, 502, "module_error"),      // unknown: as INTERNAL
    ];
    for (code, status, name) in table {
        let (got, headers, body) = get(&sup, &key, &format!("/v1/modules/raw/error/{code}"));
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(name)),
            "ErrorCode {code}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("error code {code} on purpose")),
            "ErrorCode {code}: the module's message is missing: {body}"
        );
        assert!(body["error"]["request_id"].is_string(), "{body}");
        if status == 503 {
            assert_eq!(headers["retry-after"], "1", "ErrorCode {code}");
        }
    }
}

#[test]
fn a_handler_refusing_its_input_is_422_rejected_input_on_routes_too() {
    let sup = Supervisor::start(&[ModuleEntry::fixture("fixture", "ok")], &[]);
    sup.wait_state("fixture", "ready", LONG);
    let key = sup.create_key("ws_test");
    // The SDK's HandlerError::bad_input.
    let (status, _, body) = get(&sup, &key, "/v1/modules/fixture/escape/run/cobol");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("rejected_input")),
        "{body}"
    );
}

/// §3.1: without a configured `working_dir`, a sandboxed module starts in its data dir; without
/// a sandbox, in the directory of the config file.
#[test]
fn the_default_working_directory_is_the_data_dir_under_a_sandbox() {
    let sup = Supervisor::start(
        &[
            ModuleEntry::fixture("strict", "ok"),
            ModuleEntry::fixture("unsandboxed", "ok").with("sandbox = \"none\""),
        ],
        &[],
    );
    sup.wait_state("strict", "ready", LONG);
    sup.wait_state("unsandboxed", "ready", LONG);
    let key = sup.create_key("ws_test");
    let cwd = |module: &str| {
        let (status, _, body) = get(
            &sup,
            &key,
            &format!("/v1/modules/{module}/escape/run/python3"),
        );
        assert_eq!(status, 200, "{module}: {body}");
        body["output"]["cwd"]
            .as_str()
            .unwrap_or_else(|| panic!("{module}: no cwd in {body}"))
            .to_string()
    };
    let strict = cwd("strict");
    let data_dir = sup.data_dir().canonicalize().unwrap();
    assert!(
        strict.starts_with(data_dir.to_str().unwrap()) && strict.contains("strict"),
        "a sandboxed module without working_dir runs in {strict}, not its data dir under {}",
        data_dir.display()
    );
    let config_dir = sup.config_path().parent().unwrap().canonicalize().unwrap();
    assert_eq!(
        std::path::Path::new(&cwd("unsandboxed")),
        config_dir,
        "an unsandboxed module without working_dir runs in the config file's directory"
    );
}

/// §7.1: `Shutdown.grace_ms` is the stop grace G minus R = min(G/4, 2 s) (8 000 for 10 s).
#[test]
fn shutdown_carries_the_stop_grace_minus_the_sigterm_reserve() {
    let sup = Supervisor::start(
        &[ModuleEntry::fixture("raw", "raw-errors").with("stop_grace = \"10s\"")],
        &[],
    );
    sup.wait_state("raw", "ready", LONG);
    let (code, _, stderr) = sup.cli(&["restart", "raw"]);
    assert_eq!(code, 0, "{stderr}");
    let mut grace = None;
    for _ in 0..300 {
        let (_, stdout, _) = sup.cli(&["logs", "raw"]);
        grace = stdout
            .lines()
            .find_map(|line| line.split("grace_ms=").nth(1))
            .and_then(|rest| {
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse::<u64>()
                    .ok()
            });
        if grace.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let grace = grace.expect("the module never logged the Shutdown it received");
    eprintln!("grace_ms received: {grace}");
    assert!(
        (7_000..=8_000).contains(&grace),
        "grace_ms {grace}: PROTOCOL.md §7.1 says G - R = 8000 for a 10 s stop grace"
    );
}

/// §4.4 and §7.2: a refused manifest is reported on one line (`invalid manifest: ` then the
/// problems joined with `; `), and the module is killed without a `Shutdown`.
#[test]
fn a_refused_module_is_reported_on_one_line_and_gets_no_shutdown() {
    let sup = Supervisor::start(
        &[ModuleEntry::fixture("refused", "raw-errors").env("MISBEHAVE_NAME", "someone-else")],
        &[],
    );
    let status = sup.wait_state("refused", "failed", LONG);
    let reason = status["last_error"].as_str().unwrap_or_default();
    assert!(
        reason.contains(
            "invalid manifest: name: the module calls itself \"someone-else\" but is configured as \"refused\""
        ),
        "{reason}"
    );
    assert!(!reason.contains('\n'), "{reason:?}");
    assert_eq!(status["restarts"], 0, "{status}");
    let (_, logs, _) = sup.cli(&["logs", "refused"]);
    assert!(
        !logs.contains("Shutdown received"),
        "a refused module was sent Shutdown: {logs}"
    );
}
