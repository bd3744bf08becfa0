//! The example modules as packages: every `plugins-example/*/convotic-module.toml` is valid and
//! selects its files, and a Rust, a TypeScript (Node) and a Python package deploy with the CLI
//! and answer under the strict sandbox, carrying their dependencies (no path outside the
//! package is granted to them).

use std::path::{Path, PathBuf};
use std::time::Duration;

use convotic_e2e::packages::deploy;
use convotic_e2e::Supervisor;
use reqwest::Method;
use serde_json::{json, Value};

const LONG: Duration = Duration::from_secs(60);

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins-example")
        .canonicalize()
        .expect("plugins-example")
}

/// Directories of plugins-example that are not modules: the workflow engine the examples
/// deliver runs to.
const NOT_MODULES: &[&str] = &["example-engine"];

#[test]
fn every_example_module_is_a_valid_package() {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(examples()).expect("examples") {
        let dir = entry.expect("entry").path();
        let manifest = dir.join(convotic_supervisor::package::MANIFEST_FILE);
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !dir.is_dir() || NOT_MODULES.contains(&name) {
            continue;
        }
        assert!(
            manifest.exists(),
            "{} has no package manifest",
            dir.display()
        );
        let text = std::fs::read_to_string(&manifest).expect("manifest");
        let parsed = convotic_supervisor::package::parse(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
        let files = convotic_supervisor::package::files_to_pack(&dir, &parsed)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let entry = Path::new(&parsed.entry);
        assert!(
            files.iter().any(|f| f.name == entry),
            "{}: the entry {} is not packed",
            dir.display(),
            parsed.entry
        );
        found.push(parsed.name);
    }
    found.sort();
    assert_eq!(
        found,
        [
            "erp-webhook",
            "erp-webhook",
            "hello-rust",
            "loyalty-lookup",
            "loyalty-points",
            "nightly-sync",
            "order-worker",
            "regional-sms"
        ]
    );
}

fn call(sup: &Supervisor, key: &str, method: Method, path: &str, body: Value) -> (u16, Value) {
    let response = sup
        .http(method, path)
        .header("x-api-key", key)
        .json(&body)
        .send()
        .expect("call");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

#[test]
fn rust_typescript_and_python_packages_run_under_the_strict_sandbox() {
    // No read_only_paths: each package brings everything but its interpreter.
    let sup = Supervisor::start(&[], &["sandbox = \"strict\""]);
    for (dir, module) in [
        ("hello-rust", "hello-rust"),
        ("erp-webhook-ts", "erp-webhook"),
        ("python-example", "loyalty-points"),
    ] {
        let (code, answer, stderr) = deploy(&sup, "ws_pkg", &examples().join(dir));
        assert_eq!(code, 0, "{dir}: {answer} {stderr}");
        let status = sup.wait_state(module, "ready", LONG);
        assert_eq!(status["sandbox"]["profile"], "strict", "{dir}: {status}");
    }
    let key = sup.create_key("ws_pkg");
    let (status, body) = call(
        &sup,
        &key,
        Method::GET,
        "/v1/modules/hello-rust/hello/ada",
        Value::Null,
    );
    assert_eq!((status, &body["hello"]), (200, &json!("ada")), "{body}");
    // The TypeScript module answers (no contact to update: still 200 ok).
    let (status, body) = call(
        &sup,
        &key,
        Method::POST,
        "/v1/modules/erp-webhook/webhook/erp",
        json!({"customer_id": "cust-1", "order_id": "SO-1", "status": "shipped"}),
    );
    assert_eq!(status, 200, "{body}");
    // The Python module credits and reads a member.
    let (status, body) = call(
        &sup,
        &key,
        Method::POST,
        "/v1/modules/loyalty-points/members/m-1/points",
        json!({"points": 50, "reason": "goodwill"}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        &sup,
        &key,
        Method::GET,
        "/v1/modules/loyalty-points/members/m-1",
        Value::Null,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["points"], 50, "{body}");
}
