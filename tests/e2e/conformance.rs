//! The conformance suite (`tests/src/conformance.rs`) against the conformance module in Rust,
//! TypeScript and Python (`tests/conformance/SPEC.md`), each run by the real supervisor under
//! the strict sandbox, once with every optional protocol feature offered (`work.batch`, and
//! `host.stream` where the SDK speaks it) and once with them disabled; and a deliberately broken module in each language, which must fail with
//! the failing check named.
//!
//! The TypeScript and Python SDKs must be built first (`plugin-sdk/typescript/scripts/ci.sh`,
//! `plugin-sdk/python/scripts/ci.sh`; the README's test command does it).

use std::time::Duration;

use convotic_e2e::conformance::{graceful_shutdown, run_all, Language, Target};
use convotic_e2e::Supervisor;

const LONG: Duration = Duration::from_secs(60);

fn start(language: Language, broken: Option<&str>, batch: bool) -> (Supervisor, String) {
    let mut module = language.module();
    if let Some(check) = broken {
        module = module.env("CONFORMANCE_BREAK", check);
    }
    let mut defaults = vec!["start_timeout = \"30s\""];
    if !batch {
        defaults.push("disabled_features = [\"work.batch\", \"host.stream\"]");
    }
    let sup = Supervisor::start(&[module], &defaults);
    sup.wait_until(LONG, "the conformance module to be ready", |s| {
        s.get("/readyz").0 == 200
    });
    let features = sup.module("conformance")["features"].clone();
    let uses = |feature: &str| {
        features
            .as_array()
            .is_some_and(|all| all.iter().any(|f| f == feature))
    };
    // Only the Rust SDK speaks host.stream so far.
    let streams_host_calls = batch && language == Language::Rust;
    assert_eq!(
        (uses("work.batch"), uses("host.stream")),
        (batch, streams_host_calls),
        "{}: features in use {features}",
        language.name()
    );
    let key = sup.create_key(&language.workspace());
    (sup, key)
}

/// Runs every check twice: with the optional features in use, then with them disabled.
fn passes_every_check(language: Language) {
    for batch in [true, false] {
        passes_every_check_with(language, batch);
    }
}

fn passes_every_check_with(language: Language, batch: bool) {
    let (sup, key) = start(language, None, batch);
    let target = Target {
        sup: &sup,
        language,
        key,
    };
    let mut failures = run_all(&target);
    if let Err(message) = graceful_shutdown(&target) {
        failures.push(("lifecycle.graceful_shutdown".into(), message));
    }
    assert!(
        failures.is_empty(),
        "{} conformance module fails (optional features {}):\n{}\n--- supervisor log ---\n{}",
        language.name(),
        if batch { "on" } else { "off" },
        failures
            .iter()
            .map(|(check, message)| format!("  {check}: {message}"))
            .collect::<Vec<_>>()
            .join("\n"),
        sup.log()
    );
}

#[test]
fn rust_passes_every_check() {
    passes_every_check(Language::Rust);
}

#[test]
fn typescript_passes_every_check() {
    passes_every_check(Language::TypeScript);
}

#[test]
fn python_passes_every_check() {
    passes_every_check(Language::Python);
}

#[test]
fn a_broken_module_fails_naming_the_check() {
    for (language, check) in [
        (Language::Rust, "routes.echo"),
        (Language::TypeScript, "nodes.invoke"),
        (Language::Python, "ctx.storage"),
        (Language::Rust, "ctx.messages"),
        (Language::Python, "ctx.workflows"),
    ] {
        let (sup, key) = start(language, Some(check), true);
        let failures = run_all(&Target {
            sup: &sup,
            language,
            key,
        });
        let names: Vec<&str> = failures.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            vec![check],
            "{}: expected exactly {check} to fail: {failures:?}",
            language.name()
        );
        eprintln!("{} broken on {check}: {}", language.name(), failures[0].1);
    }
}

/// The seed's ERP webhook, its TypeScript source copied verbatim
/// (`plugins-example/erp-webhook-ts/src/index.ts`), behaves as the seed says: it finds the
/// contact by the body's `customer_id` and records the order on it.
#[test]
fn the_seed_erp_webhook_in_typescript_runs_unchanged() {
    use convotic_e2e::conformance::{repo, typescript_module};
    let mut module = typescript_module(
        "erp-webhook",
        &repo().join("plugins-example/erp-webhook-ts"),
        "src/index.ts",
    );
    module.workspace = "ws_seed".into();
    let sup = Supervisor::start(&[module], &["start_timeout = \"30s\""]);
    sup.wait_state("erp-webhook", "ready", LONG);
    let key = sup.create_key("ws_seed");
    let send = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        let response = sup
            .http(method, path)
            .header("x-api-key", &key)
            .json(&body)
            .send()
            .expect("request");
        let status = response.status().as_u16();
        (
            status,
            response.json::<serde_json::Value>().unwrap_or_default(),
        )
    };
    let (status, contact) = send(
        reqwest::Method::POST,
        "/v1/contacts",
        serde_json::json!({"external_id": "cust-42", "name": "Ada"}),
    );
    assert_eq!(status, 201, "{contact}");
    let (status, body) = send(
        reqwest::Method::POST,
        "/v1/modules/erp-webhook/webhook/erp",
        serde_json::json!({"customer_id": "cust-42", "order_id": "SO-1001", "status": "shipped"}),
    );
    assert_eq!((status, body), (200, serde_json::json!({"ok": true})));
    let id = contact["id"].as_str().unwrap();
    let (status, updated) = send(
        reqwest::Method::GET,
        &format!("/v1/contacts/{id}"),
        serde_json::Value::Null,
    );
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        updated["attributes"]["last_erp_order_id"], "SO-1001",
        "{updated}"
    );
    assert_eq!(updated["attributes"]["last_erp_order_status"], "shipped");
    // An unknown customer: still 200 {ok: true}, nothing changed (as the seed's code does).
    let (status, _) = send(
        reqwest::Method::POST,
        "/v1/modules/erp-webhook/webhook/erp",
        serde_json::json!({"customer_id": "nobody", "order_id": "SO-2", "status": "new"}),
    );
    assert_eq!(status, 200);
    assert_eq!(sup.module("erp-webhook")["sandbox"]["profile"], "strict");
}
