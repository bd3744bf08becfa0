//! Custom routes over real HTTP against the real binary: every status code of the gateway,
//! malformed requests, workspace isolation through ctx, crash during a request, the seed
//! examples, and data surviving a supervisor restart.

use std::time::{Duration, Instant};

use convotic_e2e::{ModuleEntry, Supervisor};
use reqwest::Method;
use serde_json::{json, Value};

const LONG: Duration = Duration::from_secs(30);
const SECRET: &str = "test-webhook-secret";

struct Setup {
    sup: Supervisor,
    key: String,
    other_key: String,
}

fn setup() -> Setup {
    let modules = [
        ModuleEntry::new("hello-rust", "hello-rust"),
        ModuleEntry::fixture("fixture", "ok"),
        // Unsandboxed, so it can see the other instances' sockets and the token check is what
        // stops it (under the default strict sandbox it cannot even see them).
        ModuleEntry::fixture("fixture2", "ok").with("sandbox = \"none\""),
        ModuleEntry::new("erp-webhook", "erp-webhook").env("ERP_WEBHOOK_SECRET", SECRET),
        {
            let mut other = ModuleEntry::new("hello-rust", "hello-rust");
            other.workspace = "ws_other".into();
            other
        },
    ];
    let sup = Supervisor::start_with(
        &modules,
        &[],
        &["route_timeout = \"2s\"", "max_body_bytes = 65536"],
    );
    for name in ["fixture", "fixture2", "erp-webhook"] {
        sup.wait_state(name, "ready", LONG);
    }
    sup.wait_until(LONG, "both hello-rust instances ready", |s| {
        s.get("/readyz").0 == 200
    });
    let key = sup.create_key("ws_test");
    let other_key = sup.create_key("ws_other");
    assert!(key.starts_with("cvk_"), "{key}");
    Setup {
        sup,
        key,
        other_key,
    }
}

fn send(request: reqwest::blocking::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().unwrap_or(Value::Null);
    (status, headers, body)
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[test]
fn every_gateway_status_code_from_real_requests() {
    let Setup {
        sup,
        key,
        other_key,
    } = setup();
    let get = |path: &str| sup.http(Method::GET, path);

    // 200, with the module's JSON and a request id.
    let (status, headers, body) =
        send(get("/v1/modules/hello-rust/hello/world").header("x-api-key", &key));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"hello": "world"}));
    assert!(headers["x-request-id"]
        .to_str()
        .unwrap()
        .starts_with("req_"));
    let (_, headers, _) = send(
        get("/v1/modules/hello-rust/hello/x")
            .header("x-api-key", &key)
            .header("x-request-id", "abc-123"),
    );
    assert_eq!(headers["x-request-id"], "abc-123");

    // 401: no key, wrong key; the error body names the request id.
    let (status, _, body) = send(get("/v1/modules/fixture/ping"));
    assert_eq!(
        (status, error_code(&body)),
        (401, "missing_api_key"),
        "{body}"
    );
    assert!(body["error"]["request_id"]
        .as_str()
        .unwrap()
        .starts_with("req_"));
    let (status, _, body) = send(get("/v1/modules/fixture/ping").header("x-api-key", "cvk_nope"));
    assert_eq!((status, error_code(&body)), (401, "invalid_api_key"));

    // 403: a key of another workspace.
    let (status, _, body) = send(get("/v1/modules/fixture/ping").header("x-api-key", &other_key));
    assert_eq!(
        (status, error_code(&body)),
        (403, "wrong_workspace"),
        "{body}"
    );
    let (status, _, _) =
        send(get("/v1/workspaces/ws_test/modules/fixture/ping").header("x-api-key", &other_key));
    assert_eq!(status, 403);
    // The same module name in the key's own workspace is that workspace's instance.
    let (status, _, _) =
        send(get("/v1/modules/hello-rust/hello/x").header("x-api-key", &other_key));
    assert_eq!(status, 200);

    // 404: no module, no route.
    let (status, _, body) = send(get("/v1/modules/nope/x").header("x-api-key", &key));
    assert_eq!((status, error_code(&body)), (404, "module_not_found"));
    let (status, _, body) = send(get("/v1/modules/fixture/nope").header("x-api-key", &key));
    assert_eq!((status, error_code(&body)), (404, "route_not_found"));

    // 405 with Allow.
    let (status, headers, _) = send(
        sup.http(Method::DELETE, "/v1/modules/fixture/ping")
            .header("x-api-key", &key),
    );
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "GET");

    // 413 with and without Content-Length (chunked).
    let big = vec![b'x'; 70_000];
    let (status, _, body) = send(
        sup.http(Method::POST, "/v1/modules/fixture/echo")
            .header("x-api-key", &key)
            .body(big.clone()),
    );
    assert_eq!((status, error_code(&body)), (413, "body_too_large"));
    let chunks = futures_chunks(big);
    let (status, _, _) = send(
        sup.http(Method::POST, "/v1/modules/fixture/echo")
            .header("x-api-key", &key)
            .body(chunks),
    );
    assert_eq!(status, 413);

    // 400 / 415: bad JSON where JSON was declared.
    let json_post = |body: &'static str, content_type: &str| {
        send(
            sup.http(Method::POST, "/v1/modules/fixture/echo")
                .header("x-api-key", &key)
                .header("content-type", content_type)
                .body(body),
        )
    };
    let (status, _, body) = json_post("{\"a\": ", "application/json");
    assert_eq!((status, error_code(&body)), (400, "bad_json"), "{body}");
    let (status, _, _) = json_post("{}", "application/json; charset=latin1");
    assert_eq!(status, 415);
    let (status, _, body) = json_post("{\"a\": [1, 2]}", "application/json");
    assert_eq!((status, body), (200, json!({"a": [1, 2]})));

    // 504: the route's deadline (2 s here) passes.
    let (status, _, body) = send(get("/v1/modules/fixture/sleep/5000").header("x-api-key", &key));
    assert_eq!((status, error_code(&body)), (504, "timeout"), "{body}");
}

#[test]
fn a_module_over_its_in_flight_limit_answers_503_with_retry_after() {
    let Setup { sup, key, .. } = setup();
    let max = sup.module("fixture")["manifest"]["max_in_flight"]
        .as_u64()
        .unwrap_or(0);
    let max = if max == 0 { 64 } else { max };
    let base = sup.base.clone();
    let mut slow = Vec::new();
    for _ in 0..max {
        let (base, key) = (base.clone(), key.clone());
        slow.push(std::thread::spawn(move || {
            reqwest::blocking::Client::new()
                .get(format!("{base}/v1/modules/fixture/sleep/1500"))
                .header("x-api-key", key)
                .send()
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }));
    }
    sup.wait_until(LONG, "all credits taken", |s| {
        s.module("fixture")["in_flight"].as_u64() == Some(max)
    });
    let (status, headers, body) = send(
        sup.http(Method::GET, "/v1/modules/fixture/ping")
            .header("x-api-key", &key),
    );
    assert_eq!(
        (status, error_code(&body)),
        (503, "module_unavailable"),
        "{body}"
    );
    assert_eq!(headers["retry-after"], "1");
    for call in slow {
        assert_eq!(call.join().unwrap(), 200);
    }
}

/// A chunked body (no Content-Length).
fn futures_chunks(data: Vec<u8>) -> reqwest::blocking::Body {
    reqwest::blocking::Body::new(std::io::Cursor::new(data))
}

#[test]
fn killing_the_module_mid_request_gives_502_then_503_then_200() {
    let Setup { sup, key, .. } = setup();
    let started = Instant::now();
    let (status, _, body) = send(
        sup.http(Method::GET, "/v1/modules/fixture/crash")
            .header("x-api-key", &key),
    );
    let took = started.elapsed();
    assert_eq!(
        (status, error_code(&body)),
        (502, "module_crashed"),
        "{body}"
    );
    assert!(body["error"]["request_id"].is_string());
    assert!(
        took < Duration::from_secs(5),
        "502 took {took:?}: the request hung"
    );
    let mut saw_503 = false;
    let deadline = Instant::now() + LONG;
    loop {
        let (status, headers, body) = send(
            sup.http(Method::GET, "/v1/modules/fixture/ping")
                .header("x-api-key", &key),
        );
        match status {
            503 => {
                saw_503 = true;
                assert_eq!(headers["retry-after"], "1", "{body}");
            }
            200 => break,
            other => panic!("unexpected {other} while the module restarts: {body}"),
        }
        assert!(Instant::now() < deadline, "module never came back");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(saw_503, "no 503 seen while the module restarted");
}

#[test]
fn malformed_requests_get_4xx_never_a_500() {
    let Setup { sup, key, .. } = setup();
    let raw = |request: String| sup.raw(request.as_bytes());
    let auth = format!("X-API-Key: {key}\r\n");
    // Invalid UTF-8 after percent-decoding, and dot segments (sent raw: clients normalise them).
    assert_eq!(raw(format!("GET /v1/modules/fixture/kv/%ff%fe HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n")), 400);
    assert_eq!(raw(format!("GET /v1/modules/fixture/../fixture2/ping HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n")), 400);
    assert_eq!(raw(format!("GET /v1/modules/fixture/%2e%2e/ping HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n")), 400);
    // Unknown method.
    assert_eq!(
        raw(format!(
            "BREW /v1/modules/fixture/ping HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
        )),
        405
    );
    // Huge headers.
    let huge = "a".repeat(40 * 1024);
    let status = raw(format!("GET /v1/modules/fixture/ping HTTP/1.1\r\nHost: x\r\n{auth}X-Big: {huge}\r\nConnection: close\r\n\r\n"));
    assert!((400..500).contains(&status), "huge headers got {status}");
    // Garbage request line.
    let status = raw("NOT HTTP AT ALL\r\n\r\n".to_string());
    assert!(
        status == 0 || (400..500).contains(&status),
        "garbage got {status}"
    );
    // Everything still works.
    let (status, _, _) = send(
        sup.http(Method::GET, "/v1/modules/fixture/ping")
            .header("x-api-key", &key),
    );
    assert_eq!(status, 200);
    assert!(!sup.log().contains("panicked"), "{}", sup.log());
}

#[test]
fn modules_cannot_reach_other_workspaces_or_other_modules_storage() {
    let Setup {
        sup,
        key,
        other_key,
    } = setup();
    // A contact of ws_other.
    let (status, _, contact) = send(
        sup.http(Method::POST, "/v1/contacts")
            .header("x-api-key", &other_key)
            .json(&json!({"external_id": "x1", "name": "Other"})),
    );
    assert_eq!(status, 201, "{contact}");
    let id = contact["id"].as_str().unwrap();
    // A module of ws_test asks for it by id: not found.
    let (status, _, body) = send(
        sup.http(Method::GET, &format!("/v1/modules/fixture/contact/{id}"))
            .header("x-api-key", &key),
    );
    assert_eq!(status, 404, "{body}");
    // The REST API of ws_test does not see it either; ws_other does.
    let (status, _, _) = send(
        sup.http(Method::GET, &format!("/v1/contacts/{id}"))
            .header("x-api-key", &key),
    );
    assert_eq!(status, 404);
    let (status, _, _) = send(
        sup.http(Method::GET, &format!("/v1/contacts/{id}"))
            .header("x-api-key", &other_key),
    );
    assert_eq!(status, 200);
    // Module storage: fixture's key is invisible to fixture2.
    let (status, _, _) = send(
        sup.http(Method::PUT, "/v1/modules/fixture/kv/secret")
            .header("x-api-key", &key)
            .json(&json!({"v": 1})),
    );
    assert_eq!(status, 204);
    let (status, _, body) = send(
        sup.http(Method::GET, "/v1/modules/fixture/kv/secret")
            .header("x-api-key", &key),
    );
    assert_eq!((status, body), (200, json!({"v": 1})));
    let (status, _, _) = send(
        sup.http(Method::GET, "/v1/modules/fixture2/kv/secret")
            .header("x-api-key", &key),
    );
    assert_eq!(status, 404);
    // A sandboxed module does not even see the other instances' Host sockets...
    let (status, _, body) = send(
        sup.http(Method::GET, "/v1/modules/fixture/escape/host-sockets")
            .header("x-api-key", &key),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tried"], json!([]), "{body}");
    // ...and an unsandboxed one that finds them is refused by each (its token is not theirs).
    let (status, _, body) = send(
        sup.http(Method::GET, "/v1/modules/fixture2/escape/host-sockets")
            .header("x-api-key", &key),
    );
    assert_eq!(status, 200, "{body}");
    let tried = body["tried"].as_array().unwrap();
    assert!(
        tried.len() >= 3,
        "expected to find the other instances' sockets: {body}"
    );
    for attempt in tried {
        assert_eq!(attempt["answer"], "Unauthenticated", "{attempt}");
    }
}

#[test]
fn the_seed_examples_behave_as_the_seed_says() {
    let Setup { sup, key, .. } = setup();
    // ERP webhook: finds the contact by external id and updates it.
    let (status, _, contact) = send(
        sup.http(Method::POST, "/v1/contacts")
            .header("x-api-key", &key)
            .json(&json!({"external_id": "cust_42", "name": "Ada"})),
    );
    assert_eq!(status, 201, "{contact}");
    let payload = json!({"customer_id": "cust_42", "order_id": "ord_9", "status": "shipped"});
    let (status, _, body) = send(
        sup.http(Method::POST, "/v1/modules/erp-webhook/webhook/erp")
            .header("x-api-key", &key)
            .json(&payload),
    );
    assert_eq!((status, body), (200, json!({"ok": true})));
    let (_, _, updated) = send(
        sup.http(
            Method::GET,
            &format!("/v1/contacts/{}", contact["id"].as_str().unwrap()),
        )
        .header("x-api-key", &key),
    );
    assert_eq!(
        updated["attributes"]["last_erp_order_id"], "ord_9",
        "{updated}"
    );
    assert_eq!(updated["attributes"]["last_erp_order_status"], "shipped");

    // GET /orders/:orderId from storage.
    let (status, _, body) = send(
        sup.http(Method::GET, "/v1/modules/erp-webhook/orders/ord_1")
            .header("x-api-key", &key),
    );
    assert_eq!((status, body), (404, json!({"error": "Order not found"})));
    let order = json!({"id": "ord_1", "total": 42});
    let (status, _, _) = send(
        sup.http(Method::PUT, "/v1/modules/erp-webhook/orders/ord_1")
            .header("x-api-key", &key)
            .json(&order),
    );
    assert!((200..300).contains(&status));
    let (status, _, body) = send(
        sup.http(Method::GET, "/v1/modules/erp-webhook/orders/ord_1")
            .header("x-api-key", &key),
    );
    assert_eq!((status, body), (200, order));

    // auth: false webhook: signature checked by the module, workflow triggered; no key needed.
    let event = br#"{"event":"invoice.paid","id":"inv_7"}"#;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let signature = convotic_plugin_sdk::signature::sign(SECRET, now_ms, event);
    let (status, _, body) = send(
        sup.http(Method::POST, "/v1/modules/erp-webhook/webhook/external")
            .header("content-type", "application/json")
            .header("x-convotic-signature", &signature)
            .body(event.to_vec()),
    );
    assert_eq!((status, body), (200, json!({"ok": true})));
    let (status, _, body) = send(
        sup.http(
            Method::POST,
            "/v1/workspaces/ws_test/modules/erp-webhook/webhook/external",
        )
        .header("content-type", "application/json")
        .header("x-convotic-signature", "t=1,v1=00")
        .body(event.to_vec()),
    );
    assert_eq!(
        (status, error_code(&body)),
        (401, "invalid_signature"),
        "{body}"
    );
    let (status, _, runs) = send(
        sup.http(Method::GET, "/v1/workflow-runs")
            .header("x-api-key", &key),
    );
    assert_eq!(status, 200, "{runs}");
    let runs = runs["workflow_runs"].as_array().unwrap();
    assert_eq!(
        runs.len(),
        1,
        "exactly the signed call triggered a run: {runs:?}"
    );
    assert_eq!(runs[0]["workflow_id"], "wf_abc123");
    assert_eq!(runs[0]["payload"]["payload"]["id"], "inv_7");
}

#[test]
fn data_written_through_ctx_survives_a_supervisor_restart() {
    let Setup { mut sup, key, .. } = setup();
    let (status, _, _) = send(
        sup.http(Method::PUT, "/v1/modules/fixture/kv/durable")
            .header("x-api-key", &key)
            .json(&json!({"kept": true})),
    );
    assert_eq!(status, 204);
    let (status, _, contact) = send(
        sup.http(Method::POST, "/v1/contacts")
            .header("x-api-key", &key)
            .json(&json!({"external_id": "keep", "name": "Kept"})),
    );
    assert_eq!(status, 201);
    sup.restart();
    sup.wait_state("fixture", "ready", LONG);
    let (status, _, body) = send(
        sup.http(Method::GET, "/v1/modules/fixture/kv/durable")
            .header("x-api-key", &key),
    );
    assert_eq!((status, body), (200, json!({"kept": true})));
    let (status, _, body) = send(
        sup.http(
            Method::GET,
            &format!("/v1/contacts/{}", contact["id"].as_str().unwrap()),
        )
        .header("x-api-key", &key),
    );
    assert_eq!((status, body["name"].clone()), (200, json!("Kept")));
}
