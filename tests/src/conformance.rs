//! The language-neutral conformance suite: named checks run over real HTTP against one
//! conformance module (`tests/conformance/SPEC.md`) in a running supervisor. The same checks
//! run for the Rust, TypeScript and Python implementations; a failure names its check.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::{ModuleEntry, Supervisor};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// An SDK language with a conformance module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `tests/conformance/rust`.
    Rust,
    /// `tests/conformance/typescript`, run by the TypeScript SDK's runner on node.
    TypeScript,
    /// `tests/conformance/python`, run by the Python SDK's runner on /usr/bin/python3.
    Python,
}

impl Language {
    /// Every language.
    pub const ALL: [Language; 3] = [Language::Rust, Language::TypeScript, Language::Python];

    /// Lower-case name, as the SDK reports it in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::TypeScript => "typescript",
            Language::Python => "python",
        }
    }

    /// The workspace its module runs in, so all three can share a supervisor.
    pub fn workspace(self) -> String {
        format!("ws_{}", self.name())
    }

    /// The `[[modules]]` entry of its conformance module (strict sandbox, the default).
    pub fn module(self) -> ModuleEntry {
        let repo = repo();
        let mut entry = match self {
            Language::Rust => ModuleEntry::new("conformance", "conformance-rust"),
            Language::TypeScript => typescript_module(
                "conformance",
                &repo.join("tests/conformance/typescript"),
                "index.ts",
            ),
            Language::Python => {
                let sdk = repo.join("plugin-sdk/python");
                assert!(
                    sdk.join(".deps").exists(),
                    "{} is missing: run plugin-sdk/python/scripts/ci.sh first",
                    sdk.join(".deps").display()
                );
                let dir = repo.join("tests/conformance/python");
                ModuleEntry {
                    workspace: String::new(),
                    name: "conformance".into(),
                    command: PathBuf::from("/usr/bin/python3"),
                    env: vec![
                        (
                            "PYTHONPATH".into(),
                            format!(
                                "{}:{}",
                                sdk.join("src").display(),
                                sdk.join(".deps").display()
                            ),
                        ),
                        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
                    ],
                    extra: vec![
                        format!(
                            "args = [\"-m\", \"convotic_sdk\", \"run\", {}]",
                            quoted(dir.join("module.py"))
                        ),
                        format!("working_dir = {}", quoted(dir)),
                        format!("read_only_paths = [{}]", quoted(sdk)),
                    ],
                }
            }
        };
        entry.workspace = self.workspace();
        entry
    }
}

fn quoted(path: PathBuf) -> String {
    format!("{:?}", path.display().to_string())
}

/// The `[[modules]]` entry of a TypeScript module: `file` in `dir`, run by the TypeScript SDK's
/// runner on /usr/bin/node under the strict sandbox (workspace left empty for the caller).
pub fn typescript_module(name: &str, dir: &std::path::Path, file: &str) -> ModuleEntry {
    let sdk = repo().join("plugin-sdk/typescript");
    let cli = sdk.join("dist/cli.js");
    assert!(
        cli.exists(),
        "{} is missing: run plugin-sdk/typescript/scripts/ci.sh first",
        cli.display()
    );
    ModuleEntry {
        workspace: String::new(),
        name: name.into(),
        command: PathBuf::from("/usr/bin/node"),
        env: Vec::new(),
        extra: vec![
            format!(
                "args = [{}, \"run\", {}]",
                quoted(cli),
                quoted(dir.join(file))
            ),
            format!("working_dir = {}", quoted(dir.to_path_buf())),
            format!("read_only_paths = [{}]", quoted(sdk)),
        ],
    }
}

/// A conformance module in a running supervisor, and an API key of its workspace.
pub struct Target<'a> {
    /// The supervisor.
    pub sup: &'a Supervisor,
    /// Its language.
    pub language: Language,
    /// A key of its workspace.
    pub key: String,
}

type Check = fn(&Target<'_>) -> Result<(), String>;

/// Every check that leaves the module running, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("handshake.ready", handshake_ready),
    ("sandbox.strict", sandbox_strict),
    ("routes.echo", routes_echo),
    ("routes.body", routes_body),
    ("routes.public", routes_public),
    ("routes.status", routes_status),
    ("routes.error", routes_error),
    ("routes.deadline", routes_deadline),
    ("ctx.storage", ctx_storage),
    ("ctx.default_channel", ctx_default_channel),
    ("ctx.contacts", ctx_contacts),
    ("ctx.messages", ctx_messages),
    ("ctx.workflows", ctx_workflows),
    ("ctx.logger", ctx_logger),
    (
        "workers.retry_and_dead_letter",
        workers_retry_and_dead_letter,
    ),
    ("crons.run_now", crons_run_now),
    ("nodes.invoke", nodes_invoke),
    ("blocks.connection_and_action", blocks_connection_and_action),
    ("lifecycle.crash", lifecycle_crash),
];

/// Runs every check; returns the failures as `(check, what went wrong)`.
pub fn run_all(target: &Target<'_>) -> Vec<(String, String)> {
    let mut failures = Vec::new();
    for (name, check) in CHECKS {
        let started = Instant::now();
        let result = check(target);
        eprintln!(
            "[{}] {name}: {} ({} ms)",
            target.language.name(),
            if result.is_ok() { "ok" } else { "FAILED" },
            started.elapsed().as_millis()
        );
        if let Err(message) = result {
            failures.push((name.to_string(), message));
        }
    }
    failures
}

impl Target<'_> {
    fn path(&self, path: &str) -> String {
        format!("/v1/modules/conformance{path}")
    }

    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .sup
            .http(method, path)
            .header("x-api-key", &self.key)
            .timeout(Duration::from_secs(30));
        if let Some(body) = body {
            request = request.json(&body);
        }
        match request.send() {
            Ok(response) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                (status, headers, response.json().unwrap_or(Value::Null))
            }
            Err(e) => (
                0,
                Default::default(),
                json!({"transport_error": e.to_string()}),
            ),
        }
    }

    fn module(&self) -> Value {
        self.sup
            .get(&format!(
                "/admin/v1/modules/conformance?workspace={}",
                self.language.workspace()
            ))
            .1
    }

    fn wait(&self, what: &str, mut check: impl FnMut() -> bool) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if check() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("timed out waiting for {what}"))
    }
}

fn expect(condition: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(what())
    }
}

fn handshake_ready(t: &Target<'_>) -> Result<(), String> {
    let status = t.module();
    expect(status["state"] == "ready", || {
        format!("not ready: {status}")
    })?;
    expect(status["protocol_version"] == 1, || {
        format!("protocol: {status}")
    })?;
    let manifest = &status["manifest"];
    expect(
        manifest["name"] == "conformance" && manifest["version"] == "1.0.0",
        || format!("manifest name/version: {manifest}"),
    )?;
    expect(manifest["sdk"]["language"] == t.language.name(), || {
        format!("sdk language: {}", manifest["sdk"])
    })?;
    let count = |k: &str| manifest[k].as_array().map_or(0, Vec::len);
    expect(
        count("routes") >= 10
            && count("workers") == 1
            && count("nodes") == 1
            && count("blocks") == 1
            && count("crons") == 1,
        || format!("manifest entries: {manifest}"),
    )
}

fn sandbox_strict(t: &Target<'_>) -> Result<(), String> {
    let sandbox = &t.module()["sandbox"];
    expect(sandbox["profile"] == "strict", || {
        format!("sandbox: {sandbox}")
    })
}

fn routes_echo(t: &Target<'_>) -> Result<(), String> {
    let (status, _, body) = t.call(Method::GET, &t.path("/echo/42?color=blue"), None);
    expect(
        status == 200
            && body["id"] == "42"
            && body["query"]["color"] == "blue"
            && body["method"] == "GET",
        || format!("GET /echo/42?color=blue → {status} {body}"),
    )
}

fn routes_body(t: &Target<'_>) -> Result<(), String> {
    let sent = json!({"order": {"id": "SO-1", "lines": [1, 2]}, "ok": true});
    let (status, _, body) = t.call(Method::POST, &t.path("/echo"), Some(sent.clone()));
    expect(
        status == 200
            && body["body"] == sent
            && body["content_type"]
                .as_str()
                .is_some_and(|c| c.starts_with("application/json")),
        || format!("POST /echo → {status} {body}"),
    )
}

fn routes_public(t: &Target<'_>) -> Result<(), String> {
    let response = t
        .sup
        .http(Method::POST, &t.path("/public"))
        .json(&json!({}))
        .send()
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let header = response
        .headers()
        .get("x-conformance")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body: Value = response.json().unwrap_or(Value::Null);
    expect(
        status == 201 && body["authenticated"] == false && header.as_deref() == Some("yes"),
        || format!("POST /public without a key → {status} {body} x-conformance={header:?}"),
    )?;
    let (status, _, body) = t.call(Method::POST, &t.path("/public"), Some(json!({})));
    expect(status == 201 && body["authenticated"] == true, || {
        format!("POST /public with a key → {status} {body}")
    })
}

fn routes_status(t: &Target<'_>) -> Result<(), String> {
    for code in [201u16, 404, 418, 503] {
        let (status, _, body) = t.call(Method::GET, &t.path(&format!("/status/{code}")), None);
        expect(status == code && body["code"] == code, || {
            format!("GET /status/{code} → {status} {body}")
        })?;
    }
    Ok(())
}

fn routes_error(t: &Target<'_>) -> Result<(), String> {
    let (status, _, body) = t.call(Method::GET, &t.path("/error"), None);
    expect(
        status == 502
            && body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("boom")),
        || format!("GET /error → {status} {body}"),
    )
}

fn routes_deadline(t: &Target<'_>) -> Result<(), String> {
    let (status, _, body) = t.call(Method::GET, &t.path("/slow/50"), None);
    expect(status == 200 && body["slept"] == 50, || {
        format!("GET /slow/50 → {status} {body}")
    })?;
    let started = Instant::now();
    let (status, _, body) = t.call(Method::GET, &t.path("/slow/3000"), None);
    expect(
        status == 504 && started.elapsed() < Duration::from_millis(2800),
        || {
            format!(
                "GET /slow/3000 with a 1 s route timeout → {status} after {:?}: {body}",
                started.elapsed()
            )
        },
    )?;
    // The module must still answer afterwards (its credit came back).
    let (status, _, _) = t.call(Method::GET, &t.path("/status/200"), None);
    expect(status == 200, || format!("after the deadline: {status}"))
}

fn ctx_storage(t: &Target<'_>) -> Result<(), String> {
    let value = json!({"qty": 3, "sku": "A-1"});
    let (status, _, body) = t.call(Method::PUT, &t.path("/kv/item"), Some(value.clone()));
    expect(status == 204, || format!("PUT /kv/item → {status} {body}"))?;
    let (status, _, body) = t.call(Method::GET, &t.path("/kv/item"), None);
    expect(status == 200 && body == value, || {
        format!("GET /kv/item → {status} {body}")
    })?;
    let (status, _, body) = t.call(Method::GET, &t.path("/kv/absent"), None);
    expect(status == 404, || {
        format!("GET /kv/absent → {status} {body}")
    })
}

/// A Host call made with the gRPC library's default channel options (in Python, a raw grpcio
/// channel, whose `:authority` for a `unix:` target is the percent-encoded socket path) is
/// served: PROTOCOL.md §2.3, servers accept any `:authority`.
fn ctx_default_channel(t: &Target<'_>) -> Result<(), String> {
    let value = json!({"via": "default channel", "key": "channel"});
    let (status, _, body) = t.call(Method::GET, &t.path("/host/default-channel/channel"), None);
    expect(status == 200 && body["value"] == value, || {
        format!("GET /host/default-channel/channel → {status} {body}")
    })
}

fn ctx_contacts(t: &Target<'_>) -> Result<(), String> {
    let external = format!("ext-{}", t.language.name());
    let (status, _, created) = t.call(
        Method::POST,
        &t.path("/contacts"),
        Some(json!({"external_id": external, "name": "Ada"})),
    );
    expect(status == 201 && created["id"].is_string(), || {
        format!("POST /contacts → {status} {created}")
    })?;
    let id = created["id"].as_str().unwrap_or_default().to_string();
    let (status, _, found) = t.call(
        Method::GET,
        &t.path(&format!("/contacts/by-external/{external}")),
        None,
    );
    expect(
        status == 200 && found["id"] == id.as_str() && found["name"] == "Ada",
        || format!("find by external id → {status} {found}"),
    )?;
    let (status, _, updated) = t.call(
        Method::PATCH,
        &t.path(&format!("/contacts/{id}")),
        Some(json!({"attributes": {"tier": "gold"}})),
    );
    expect(
        status == 200 && updated["attributes"]["tier"] == "gold",
        || format!("PATCH /contacts/{id} → {status} {updated}"),
    )?;
    // The platform sees the change.
    let (status, _, platform) = t.call(Method::GET, &format!("/v1/contacts/{id}"), None);
    expect(
        status == 200 && platform["attributes"]["tier"] == "gold",
        || format!("GET /v1/contacts/{id} → {status} {platform}"),
    )?;
    let (status, _, _) = t.call(Method::GET, &t.path("/contacts/by-external/nobody"), None);
    expect(status == 404, || format!("unknown external id → {status}"))
}

/// A message sent through `ctx.messages` is queued (the workspace has no target for `sms`, so
/// it stays queued), `ctx.messages.get` reads it back, and the platform holds it.
fn ctx_messages(t: &Target<'_>) -> Result<(), String> {
    let (status, _, contact) = t.call(
        Method::POST,
        "/v1/contacts",
        Some(json!({"external_id": format!("msg-{}", t.language.name()), "name": "Grace"})),
    );
    expect(status == 201 && contact["id"].is_string(), || {
        format!("POST /v1/contacts → {status} {contact}")
    })?;
    let contact_id = contact["id"].as_str().unwrap_or_default();
    let text = format!("hello from the {} module", t.language.name());
    let (status, _, sent) = t.call(
        Method::POST,
        &t.path("/messages"),
        Some(json!({"contact_id": contact_id, "text": text})),
    );
    expect(
        status == 201
            && sent["id"].is_string()
            && sent["status"] == "queued"
            && sent["read_back_status"] == "queued",
        || format!("POST /messages → {status} {sent}"),
    )?;
    let id = sent["id"].as_str().unwrap_or_default();
    let (status, _, message) = t.call(Method::GET, &format!("/v1/messages/{id}"), None);
    expect(
        status == 200
            && message["contact_id"] == contact_id
            && message["channel"] == "sms"
            && message["text"] == text.as_str(),
        || format!("GET /v1/messages/{id} → {status} {message}"),
    )
}

/// A run triggered through `ctx.workflows` is read back with `ctx.workflows.get` (queued: the
/// workspace has no workflow engine), by id through the module, and by the platform; an
/// unknown id is not found.
fn ctx_workflows(t: &Target<'_>) -> Result<(), String> {
    let payload = json!({"order_id": "SO-9"});
    let (status, _, body) = t.call(
        Method::POST,
        &t.path("/workflows/wf_conf/trigger"),
        Some(payload.clone()),
    );
    expect(
        status == 202 && body["run_id"].is_string() && body["status"] == "queued",
        || format!("trigger → {status} {body}"),
    )?;
    let run_id = body["run_id"].as_str().unwrap_or_default();
    let (status, _, run) = t.call(Method::GET, &format!("/v1/workflow-runs/{run_id}"), None);
    expect(
        status == 200 && run["workflow_id"] == "wf_conf" && run["payload"] == payload,
        || format!("GET /v1/workflow-runs/{run_id} → {status} {run}"),
    )?;
    let (status, _, run) = t.call(
        Method::GET,
        &t.path(&format!("/workflows/runs/{run_id}")),
        None,
    );
    expect(
        status == 200
            && run["id"] == run_id
            && run["status"] == "queued"
            && run["output"].is_null()
            && run["error"].is_string(),
        || format!("GET /workflows/runs/{run_id} → {status} {run}"),
    )?;
    let (status, _, body) = t.call(Method::GET, &t.path("/workflows/runs/run_nobody"), None);
    expect(status == 404 && body["error"] == "not found", || {
        format!("GET /workflows/runs/run_nobody → {status} {body}")
    })
}

fn ctx_logger(t: &Target<'_>) -> Result<(), String> {
    let line = format!("conformance log line from {}", t.language.name());
    let (status, _, body) = t.call(
        Method::POST,
        &t.path("/log"),
        Some(json!({"message": line})),
    );
    expect(status == 204, || format!("POST /log → {status} {body}"))?;
    t.wait("the log line in the module's logs", || {
        let (_, logs) = t.sup.get(&format!(
            "/admin/v1/modules/conformance/logs?workspace={}&limit=10000",
            t.language.workspace()
        ));
        logs.to_string().contains(&line)
    })
}

fn job(t: &Target<'_>, id: &str) -> Value {
    t.call(Method::GET, &t.path(&format!("/kv/job:{id}")), None)
        .2
}

fn workers_retry_and_dead_letter(t: &Target<'_>) -> Result<(), String> {
    let publish = |payload: Value| {
        t.call(
            Method::POST,
            "/v1/topics/conformance.jobs/messages",
            Some(json!({"payload": payload})),
        )
    };
    let (status, _, body) = publish(json!({"id": "retry", "fail_times": 2, "discard": false}));
    expect(status == 202, || format!("publish → {status} {body}"))?;
    let (status, _, body) = publish(json!({"id": "toss", "fail_times": 0, "discard": true}));
    expect(status == 202, || format!("publish → {status} {body}"))?;
    t.wait("job `retry` done after 3 attempts", || {
        let record = job(t, "retry");
        record["done"] == true && record["attempts"] == json!([1, 2, 3])
    })
    .map_err(|e| format!("{e}: {}", job(t, "retry")))?;
    t.wait("job `toss` dead-lettered", || {
        let (_, _, dead) = t.call(Method::GET, "/v1/dead-letters", None);
        dead.to_string().contains("discarded on purpose")
            && job(t, "toss")["attempts"] == json!([1])
    })
    .map_err(|e| format!("{e}: {}", job(t, "toss")))
}

fn crons_run_now(t: &Target<'_>) -> Result<(), String> {
    let (status, _, run) = t.call(Method::POST, "/v1/crons/conformance/tick/run", None);
    expect(status == 202, || format!("run now → {status} {run}"))?;
    let run_id = run["id"].as_str().unwrap_or_default().to_string();
    t.wait("the cron run to be recorded ok", || {
        let (_, _, runs) = t.call(Method::GET, "/v1/crons/conformance/tick/runs", None);
        runs["runs"].as_array().is_some_and(|r| {
            r.iter()
                .any(|r| r["id"] == run_id.as_str() && r["outcome"] == "ok")
        })
    })?;
    let (_, _, last) = t.call(Method::GET, &t.path("/kv/cron:last"), None);
    expect(
        last["run_id"] == run_id.as_str() && last["manual"] == true,
        || format!("cron:last = {last}, run {run_id}"),
    )
}

fn nodes_invoke(t: &Target<'_>) -> Result<(), String> {
    let invoke = |input: Value| {
        t.call(
            Method::POST,
            "/v1/nodes/conformance_double/invoke",
            Some(json!({"input": input})),
        )
    };
    let (status, _, body) = invoke(json!({"value": 4}));
    expect(
        status == 200 && body["output"]["doubled"] == 8 && body["branch"] == "even",
        || format!("invoke 4 → {status} {body}"),
    )?;
    let (status, _, body) = invoke(json!({"value": 5}));
    expect(
        status == 200 && body["output"]["doubled"] == 10 && body["branch"] == "odd",
        || format!("invoke 5 → {status} {body}"),
    )?;
    let (status, _, body) = invoke(json!({"value": "four"}));
    expect(
        status == 422 && body["error"]["fields"][0]["path"] == "/value",
        || format!("invalid input → {status} {body}"),
    )?;
    let (status, _, body) = invoke(json!({"value": 13}));
    expect(status == 502 && body["error"]["retryable"] == true, || {
        format!("unlucky 13 → {status} {body}")
    })
}

fn blocks_connection_and_action(t: &Target<'_>) -> Result<(), String> {
    let connections = "/v1/blocks/conformance-block/connections";
    let (status, _, refused) = t.call(
        Method::POST,
        connections,
        Some(json!({"config": {"token": "wrong-token"}})),
    );
    expect(
        status == 422
            && refused["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("bad token: rejected")),
        || format!("wrong token → {status} {refused}"),
    )?;
    let (status, _, created) = t.call(
        Method::POST,
        connections,
        Some(json!({"config": {"token": "good-token", "label": "main"}})),
    );
    expect(
        status == 201
            && created["account_label"] == "conformance"
            && !created.to_string().contains("good-token"),
        || format!("good token → {status} {created}"),
    )?;
    let id = created["id"].as_str().unwrap_or_default();
    let (status, _, answer) = t.call(
        Method::POST,
        &format!("{connections}/{id}/actions/whoami"),
        Some(json!({"input": {}})),
    );
    expect(
        status == 200 && answer["output"]["token_length"] == 10,
        || format!("whoami → {status} {answer}"),
    )
}

fn lifecycle_crash(t: &Target<'_>) -> Result<(), String> {
    let before = t.module()["instance"].clone();
    let (status, _, body) = t.call(Method::GET, &t.path("/crash"), None);
    expect(status == 502, || format!("GET /crash → {status} {body}"))?;
    t.wait("a new instance to be ready", || {
        let status = t.module();
        status["state"] == "ready" && status["instance"] != before
    })?;
    // A route no other check depends on, so a module broken elsewhere fails only there.
    let (status, _, body) = t.call(Method::GET, &t.path("/status/200"), None);
    expect(status == 200 && body["code"] == 200, || {
        format!("after the restart → {status} {body}")
    })
}

/// `lifecycle.graceful_shutdown`: a request in flight when the supervisor gets SIGTERM still
/// gets its answer. Stops the supervisor.
pub fn graceful_shutdown(t: &Target<'_>) -> Result<(), String> {
    let url = format!("{}{}", t.sup.base, t.path("/slow/800"));
    let key = t.key.clone();
    let request = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .get(url)
            .header("x-api-key", key)
            .timeout(Duration::from_secs(20))
            .send()
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    });
    std::thread::sleep(Duration::from_millis(200));
    t.sup.signal(nix::sys::signal::Signal::SIGTERM);
    let status = request
        .join()
        .map_err(|_| "the request thread panicked".to_string())??;
    expect(status == 200, || {
        format!("GET /slow/800 in flight during SIGTERM → {status}")
    })
}
