//! Workflow nodes end to end, with the real binary and the `loyalty-lookup` and `hello-rust`
//! example modules: the catalog (and a stopped module leaving it), invocation with input
//! validation (422 with field paths), branches, versions, node errors with their retryable
//! flag, a crash mid-invoke, workspace isolation, and the same invocation over NATS
//! request-reply on a private nats-server.

use std::time::{Duration, Instant};

use convotic_e2e::nats::NatsServer;
use convotic_e2e::{ModuleEntry, Supervisor};
use reqwest::Method;
use serde_json::{json, Value};

const LONG: Duration = Duration::from_secs(30);

fn send(request: reqwest::blocking::RequestBuilder) -> (u16, Value) {
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn invoke(sup: &Supervisor, key: &str, node: &str, body: Value) -> (u16, Value) {
    send(
        sup.http(Method::POST, &format!("/v1/nodes/{node}/invoke"))
            .header("x-api-key", key)
            .json(&body),
    )
}

fn loyalty(workspace: &str) -> ModuleEntry {
    let mut entry = ModuleEntry::new("loyalty-lookup", "loyalty-lookup");
    entry.workspace = workspace.into();
    entry
}

fn start(tables: &str) -> (Supervisor, String, String) {
    let sup = Supervisor::start_full(
        &[
            loyalty("ws_test").with("restart = \"never\""),
            ModuleEntry::new("hello-rust", "hello-rust"),
            {
                let mut other = ModuleEntry::new("hello-rust", "hello-rust");
                other.workspace = "ws_other".into();
                other
            },
        ],
        &[],
        &[],
        tables,
    );
    sup.wait_state("loyalty-lookup", "ready", LONG);
    sup.wait_until(LONG, "every module ready", |s| s.get("/readyz").0 == 200);
    let key = sup.create_key("ws_test");
    let other = sup.create_key("ws_other");
    (sup, key, other)
}

fn seed(sup: &Supervisor, key: &str, email: &str, record: Value) {
    let (status, body) = send(
        sup.http(
            Method::PUT,
            &format!("/v1/modules/loyalty-lookup/loyalty/{email}"),
        )
        .header("x-api-key", key)
        .json(&record),
    );
    assert!(status == 200 || status == 201, "seed: {status} {body}");
}

fn node_types(body: &Value) -> Vec<(String, String)> {
    body["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            (
                n["type"].as_str().unwrap().to_string(),
                n["version"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn catalog_invoke_validation_errors_and_crash() {
    let (sup, key, other) = start("");

    // The catalog: every node of every Ready module of the caller's workspace, with schemas.
    let (status, catalog) = send(sup.http(Method::GET, "/v1/nodes").header("x-api-key", &key));
    assert_eq!(status, 200, "{catalog}");
    let types = node_types(&catalog);
    for expected in [
        ("loyalty_lookup", "2.0.0"),
        ("loyalty_lookup", "1.0.0"),
        ("greeting", "1.0.0"),
    ] {
        assert!(
            types.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} missing from {types:?}"
        );
    }
    let v1 = catalog["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["type"] == "loyalty_lookup" && n["version"] == "1.0.0")
        .unwrap();
    assert_eq!(v1["display_name"], "Loyalty Lookup");
    assert_eq!(v1["module"], "loyalty-lookup");
    assert_eq!(v1["branches"], json!(["found", "not_found"]));
    assert_eq!(v1["input_schema"]["properties"]["email"]["type"], "string");
    assert!(v1["output_schema"].is_object());
    assert_eq!(v1["latest"], false);
    let (status, versions) = send(
        sup.http(Method::GET, "/v1/nodes/loyalty_lookup")
            .header("x-api-key", &key),
    );
    assert_eq!(status, 200, "{versions}");
    assert_eq!(versions["versions"][0]["version"], "2.0.0");
    assert_eq!(versions["versions"][0]["latest"], true);
    // Another workspace sees its own modules only.
    let (_, theirs) = send(
        sup.http(Method::GET, "/v1/nodes")
            .header("x-api-key", &other),
    );
    let their_types = node_types(&theirs);
    assert!(
        their_types.iter().all(|(t, _)| t != "loyalty_lookup"),
        "{their_types:?}"
    );
    assert_eq!(
        invoke(
            &sup,
            &other,
            "loyalty_lookup",
            json!({"input": {"email": "a@b.co"}})
        )
        .0,
        404
    );
    // No key, no catalog.
    assert_eq!(send(sup.http(Method::GET, "/v1/nodes")).0, 401);

    // Found / not found branches; the pinned version is the one that runs.
    seed(
        &sup,
        &key,
        "ada@example.com",
        json!({"tier": "gold", "points": 1200}),
    );
    let (status, found) = invoke(
        &sup,
        &key,
        "loyalty_lookup",
        json!({"input": {"email": "ada@example.com"}, "version": "1.0.0", "workflow_id": "wf_1", "run_id": "run_1", "step_id": "s1"}),
    );
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["branch"], "found");
    assert_eq!(found["output"]["tier"], "gold");
    assert_eq!(found["output"]["points"], 1200);
    assert_eq!(found["node"]["version"], "1.0.0");
    assert!(found["output"].get("expires_at").is_none(), "{found}");
    let (status, latest) = invoke(
        &sup,
        &key,
        "loyalty_lookup",
        json!({"input": {"email": "nobody@example.com"}}),
    );
    assert_eq!(status, 200, "{latest}");
    assert_eq!(latest["branch"], "not_found");
    assert_eq!(latest["node"]["version"], "2.0.0");
    assert_eq!(latest["output"]["found"], false);

    // Invalid input: 422 naming each field, and the module is not called.
    let (status, invalid) = invoke(
        &sup,
        &key,
        "loyalty_lookup",
        json!({"input": {"email": "not-an-email", "program": "platinum", "extra": 1}}),
    );
    assert_eq!(status, 422, "{invalid}");
    assert_eq!(invalid["error"]["code"], "invalid_input");
    let paths: Vec<&str> = invalid["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"/email"), "{invalid}");
    assert!(paths.contains(&"/program"), "{invalid}");
    assert!(
        paths.contains(&""),
        "additionalProperties is reported at the root: {invalid}"
    );
    let (status, missing) = invoke(&sup, &key, "loyalty_lookup", json!({"input": {}}));
    assert_eq!(status, 422, "{missing}");
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("email"),
        "{missing}"
    );

    // Bad requests.
    let (status, body) = invoke(&sup, &key, "loyalty_lookup", json!({"inptu": {}}));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("inptu"),
        "{body}"
    );
    let (status, body) = send(
        sup.http(Method::POST, "/v1/nodes/loyalty_lookup/invoke")
            .header("x-api-key", &key)
            .body("{not json"),
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = invoke(&sup, &key, "nope", json!({"input": 1}));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("node_not_found")),
        "{body}"
    );
    let (status, body) = invoke(
        &sup,
        &key,
        "loyalty_lookup",
        json!({"input": {"email": "a@b.co"}, "version": "9.9.9"}),
    );
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("2.0.0"),
        "{body}"
    );
    assert_eq!(
        send(
            sup.http(Method::GET, "/v1/nodes/loyalty_lookup/invoke")
                .header("x-api-key", &key)
        )
        .0,
        405
    );

    // Node errors carry their retryable flag.
    let (status, permanent) = invoke(
        &sup,
        &key,
        "loyalty_lookup",
        json!({"input": {"email": "fail-permanent@example.com"}}),
    );
    assert_eq!(status, 502, "{permanent}");
    assert_eq!(permanent["error"]["code"], "node_failed");
    assert_eq!(permanent["error"]["retryable"], false);
    let (status, transient) = invoke(
        &sup,
        &key,
        "loyalty_lookup",
        json!({"input": {"email": "fail-retryable@example.com"}}),
    );
    assert_eq!(status, 502, "{transient}");
    assert_eq!(transient["error"]["retryable"], true);

    // A crash mid-invoke answers at once (502), not at the 30 s deadline.
    let started = Instant::now();
    let (status, crashed) = invoke(
        &sup,
        &key,
        "loyalty_lookup",
        json!({"input": {"email": "crash@example.com"}}),
    );
    let took = started.elapsed();
    assert_eq!(status, 502, "{crashed}");
    assert_eq!(crashed["error"]["code"], "module_crashed");
    assert_eq!(crashed["error"]["retryable"], true);
    assert!(
        took < Duration::from_secs(10),
        "the crash was noticed after {took:?}"
    );

    // The module (restart = never) stopped: its nodes leave the catalog and invoking says why.
    sup.wait_until(LONG, "loyalty-lookup to stop", |s| {
        s.module("loyalty-lookup")["state"] != "ready"
    });
    let (_, catalog) = send(sup.http(Method::GET, "/v1/nodes").header("x-api-key", &key));
    assert!(
        node_types(&catalog)
            .iter()
            .all(|(t, _)| t != "loyalty_lookup"),
        "{catalog}"
    );
    let (status, body) = invoke(
        &sup,
        &key,
        "loyalty_lookup",
        json!({"input": {"email": "ada@example.com"}}),
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "module_unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("loyalty-lookup")),
        "{body}"
    );
    // Restarted, it is back, with its data.
    let (code, _, stderr) = sup.cli(&["restart", "loyalty-lookup"]);
    assert_eq!(code, 0, "{stderr}");
    sup.wait_state("loyalty-lookup", "ready", LONG);
    let (_, catalog) = send(sup.http(Method::GET, "/v1/nodes").header("x-api-key", &key));
    assert!(node_types(&catalog).contains(&("loyalty_lookup".into(), "2.0.0".into())));
    let (status, found) = invoke(
        &sup,
        &key,
        "loyalty_lookup",
        json!({"input": {"email": "ada@example.com"}}),
    );
    assert_eq!(
        (status, found["branch"].as_str()),
        (200, Some("found")),
        "{found}"
    );
}

#[test]
fn nodes_are_invoked_over_nats_request_reply() {
    let nats = NatsServer::start();
    let (sup, key, _) = start(&format!("[nats]\nurl = \"{}\"\n", nats.url()));
    seed(
        &sup,
        &key,
        "grace@example.com",
        json!({"tier": "standard", "points": 10}),
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let subject = "convotic.nodes.ws_test.invoke.loyalty_lookup";
        // The subscription appears shortly after the module is Ready.
        let deadline = Instant::now() + LONG;
        let reply = loop {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Convotic-Request-Id", "req_nats_1");
            let request = async_nats::Request::new()
                .headers(headers)
                .payload(
                    json!({"input": {"email": "grace@example.com"}})
                        .to_string()
                        .into(),
                )
                .timeout(Some(Duration::from_secs(10)));
            match client.send_request(subject, request).await {
                Ok(reply) => break reply,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no responder on {subject}: {e}"),
            }
        };
        let headers = reply.headers.clone().expect("reply headers");
        assert_eq!(headers.get("Convotic-Status").unwrap().as_str(), "200");
        assert_eq!(
            headers.get("Convotic-Request-Id").unwrap().as_str(),
            "req_nats_1"
        );
        let body: Value = serde_json::from_slice(&reply.payload).unwrap();
        assert_eq!(body["branch"], "found", "{body}");
        assert_eq!(body["output"]["tier"], "standard");

        // Invalid input: the same 422 and field paths as over HTTP.
        let reply = client
            .request(subject, json!({"input": {"email": 42}}).to_string().into())
            .await
            .unwrap();
        assert_eq!(
            reply
                .headers
                .as_ref()
                .unwrap()
                .get("Convotic-Status")
                .unwrap()
                .as_str(),
            "422"
        );
        let body: Value = serde_json::from_slice(&reply.payload).unwrap();
        assert_eq!(body["error"]["fields"][0]["path"], "/email", "{body}");

        // A node error keeps its retryable flag.
        let reply = client
            .request(
                subject,
                json!({"input": {"email": "fail-retryable@example.com"}})
                    .to_string()
                    .into(),
            )
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&reply.payload).unwrap();
        assert_eq!(body["error"]["retryable"], true, "{body}");

        // A node type nobody serves has no responder.
        let error = client
            .request("convotic.nodes.ws_test.invoke.nope", "{}".into())
            .await
            .unwrap_err();
        assert_eq!(
            error.kind(),
            async_nats::RequestErrorKind::NoResponders,
            "{error}"
        );
    });
}
