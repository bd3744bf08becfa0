//! Blocks end to end, with the real binary, the `regional-sms` example module and a fake SMS
//! provider on loopback (real HTTP, real credentials check): the catalog, a connection refused
//! with the provider's reason, a good one stored encrypted (the SQLite files hold no plaintext
//! secret) and never returned, actions and a node using it, provider failures, key rotation
//! (old connections still decrypt), a removed key (a clear error naming it), and workspace
//! isolation.

use std::time::Duration;

use convotic_e2e::fake_provider::FakeProvider;
use convotic_e2e::{ModuleEntry, Supervisor};
use reqwest::Method;
use serde_json::{json, Value};

const LONG: Duration = Duration::from_secs(30);
const TOKEN: &str = "tok-live-5f1e2d3c4b5a69788796";

fn send(request: reqwest::blocking::RequestBuilder) -> (u16, Value) {
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn sms(workspace: &str) -> ModuleEntry {
    // It calls the provider over the network: the relaxed sandbox profile.
    let mut entry = ModuleEntry::new("regional-sms", "regional-sms").with("sandbox = \"relaxed\"");
    entry.workspace = workspace.into();
    entry
}

fn post(sup: &Supervisor, key: &str, path: &str, body: Value) -> (u16, Value) {
    send(
        sup.http(Method::POST, path)
            .header("x-api-key", key)
            .json(&body),
    )
}

fn get(sup: &Supervisor, key: &str, path: &str) -> (u16, Value) {
    send(sup.http(Method::GET, path).header("x-api-key", key))
}

/// Every byte of the database files (main file and WAL).
fn database_bytes(sup: &Supervisor) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["convotic.db", "convotic.db-wal"] {
        if let Ok(content) = std::fs::read(sup.data_dir().join(name)) {
            bytes.extend(content);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn config(provider: &FakeProvider, token: &str) -> Value {
    json!({"base_url": provider.url(), "api_token": token, "sender_id": "Convotic"})
}

fn wait_ready(sup: &Supervisor) {
    sup.wait_until(LONG, "every module ready", |s| s.get("/readyz").0 == 200);
}

#[test]
fn connection_flow_encryption_rotation_and_isolation() {
    let provider = FakeProvider::start(TOKEN);
    let mut sup = Supervisor::start(&[sms("ws_test"), sms("ws_other")], &[]);
    wait_ready(&sup);
    let key = sup.create_key("ws_test");
    let other = sup.create_key("ws_other");

    // The catalog shows the block with its connection schema, secret fields and actions.
    let (status, catalog) = get(&sup, &key, "/v1/blocks");
    assert_eq!(status, 200, "{catalog}");
    let block = &catalog["blocks"][0];
    assert_eq!(block["id"], "regional-sms");
    assert_eq!(block["secret_fields"], json!(["api_token"]));
    assert_eq!(
        block["connection_schema"]["properties"]["api_token"]["type"],
        "string"
    );
    assert_eq!(block["actions"][0]["name"], "send_message");
    assert!(block["actions"][0]["input_schema"].is_object());
    assert_eq!(get(&sup, &key, "/v1/blocks/regional-sms").0, 200);
    assert_eq!(get(&sup, &key, "/v1/blocks/nope").0, 404);
    let connections = "/v1/blocks/regional-sms/connections";

    // A config that breaks the schema: 422 naming the fields, the secret never quoted.
    let (status, invalid) = post(
        &sup,
        &key,
        connections,
        json!({"config": {"base_url": provider.url(), "api_token": "short", "sender_id": "no spaces allowed"}}),
    );
    assert_eq!(status, 422, "{invalid}");
    assert_eq!(invalid["error"]["code"], "invalid_config");
    let paths: Vec<&str> = invalid["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"/api_token") && paths.contains(&"/sender_id"),
        "{invalid}"
    );
    assert!(!invalid.to_string().contains("\"short\""), "{invalid}");
    assert_eq!(
        provider.requests(),
        0,
        "the module was called with an invalid config"
    );

    // Wrong credentials: refused with the provider's reason, nothing stored.
    let (status, refused) = post(
        &sup,
        &key,
        connections,
        json!({"name": "Wrong", "config": config(&provider, "tok-wrong-000000000000")}),
    );
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "connection_test_failed");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid API token"),
        "{refused}"
    );
    assert_eq!(get(&sup, &key, connections).1["connections"], json!([]));

    // Good credentials: stored, with the account label; the secret never comes back.
    let (status, created) = post(
        &sup,
        &key,
        connections,
        json!({"name": "Main", "config": config(&provider, TOKEN)}),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["secrets"], json!(["api_token"]));
    assert_eq!(created["config"]["sender_id"], "Convotic");
    assert_eq!(created["account_label"], "+33100000000");
    let first_key = created["key_id"].as_str().unwrap().to_string();
    let (_, listed) = get(&sup, &key, connections);
    let (_, one) = get(&sup, &key, &format!("{connections}/{id}"));
    for body in [&created, &listed, &one] {
        assert!(!body.to_string().contains(TOKEN), "secret returned: {body}");
    }
    assert_eq!(listed["connections"][0]["id"], id.as_str());

    // Encrypted at rest: no plaintext secret in the SQLite files.
    let bytes = database_bytes(&sup);
    assert!(
        contains(&bytes, &id),
        "the connection is not in the database files"
    );
    assert!(
        !contains(&bytes, TOKEN),
        "the secret is stored in plaintext"
    );

    // The action works with the decrypted credentials.
    let action = format!("{connections}/{id}/actions/send_message");
    let (status, sent) = post(
        &sup,
        &key,
        &action,
        json!({"input": {"to": "+33612345678", "text": "Bonjour"}}),
    );
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["output"]["status"], "queued");
    let messages = provider.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(messages[0]["from"], "Convotic");
    // Invalid action input: 422, the provider is not called.
    let (status, invalid) = post(
        &sup,
        &key,
        &action,
        json!({"input": {"to": "0612", "text": ""}}),
    );
    assert_eq!(status, 422, "{invalid}");
    assert_eq!(provider.messages().len(), 1);
    assert_eq!(
        post(
            &sup,
            &key,
            &format!("{connections}/{id}/actions/nope"),
            json!({"input": {}})
        )
        .0,
        404
    );
    // A node that needs the block's connection.
    let (status, node) = post(
        &sup,
        &key,
        "/v1/nodes/sms_send/invoke",
        json!({"input": {"to": "+33612345679", "text": "Hi"}, "connection_id": id}),
    );
    assert_eq!(status, 200, "{node}");
    assert_eq!(node["branch"], "sent");
    assert_eq!(provider.messages().len(), 2);
    let (status, body) = post(
        &sup,
        &key,
        "/v1/nodes/sms_send/invoke",
        json!({"input": {"to": "+33612345679", "text": "Hi"}}),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("connection_required")),
        "{body}"
    );
    // The provider failing: a retryable error.
    provider.set_failing(503);
    let (status, failed) = post(
        &sup,
        &key,
        &action,
        json!({"input": {"to": "+33612345678", "text": "again"}}),
    );
    assert_eq!(status, 502, "{failed}");
    assert_eq!(failed["error"]["retryable"], true, "{failed}");
    provider.set_failing(0);
    let (status, tested) = post(&sup, &key, &format!("{connections}/{id}/test"), json!({}));
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["ok"], true);

    // Workspace isolation: the other workspace has the block but sees neither the connection
    // nor can use it.
    assert_eq!(get(&sup, &other, connections).1["connections"], json!([]));
    assert_eq!(get(&sup, &other, &format!("{connections}/{id}")).0, 404);
    let (status, body) = post(
        &sup,
        &other,
        &action,
        json!({"input": {"to": "+33612345678", "text": "x"}}),
    );
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        post(&sup, &other, &format!("{connections}/{id}/test"), json!({})).0,
        404
    );
    assert_eq!(
        send(
            sup.http(Method::DELETE, &format!("{connections}/{id}"))
                .header("x-api-key", &other)
        )
        .0,
        404
    );
    assert_eq!(provider.messages().len(), 2);

    // Secrets never reach the logs.
    assert!(!sup.log().contains(TOKEN), "secret in the supervisor log");
    let (_, module_logs, _) = sup.cli(&[
        "logs",
        "regional-sms",
        "--workspace",
        "ws_test",
        "-n",
        "1000",
    ]);
    assert!(!module_logs.contains(TOKEN), "secret in the module log");

    // Key rotation while stopped: the old connection still decrypts, new ones use the new key.
    sup.signal(nix::sys::signal::Signal::SIGTERM);
    sup.wait_exit(LONG).expect("supervisor stops");
    let (code, new_key, stderr) = sup.cli(&["secrets", "rotate"]);
    assert_eq!(code, 0, "{stderr}");
    let new_key = new_key.trim().to_string();
    assert_ne!(new_key, first_key);
    sup.restart_after_kill();
    wait_ready(&sup);
    let (status, sent) = post(
        &sup,
        &key,
        &action,
        json!({"input": {"to": "+33612345678", "text": "after rotation"}}),
    );
    assert_eq!(status, 200, "{sent}");
    let (status, second) = post(
        &sup,
        &key,
        connections,
        json!({"name": "Second", "config": config(&provider, TOKEN)}),
    );
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["key_id"], new_key.as_str());
    let second_id = second["id"].as_str().unwrap().to_string();
    let (code, status_text, stderr) = sup.cli(&["secrets", "status"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        status_text.contains(&first_key) && status_text.contains(&new_key),
        "{status_text}"
    );

    // The old key removed: a clear error naming it; connections on the new key still work.
    sup.signal(nix::sys::signal::Signal::SIGTERM);
    sup.wait_exit(LONG).expect("supervisor stops");
    std::fs::remove_file(sup.data_dir().join("keys").join(format!("{first_key}.key"))).unwrap();
    sup.restart_after_kill();
    wait_ready(&sup);
    let (status, missing) = post(
        &sup,
        &key,
        &action,
        json!({"input": {"to": "+33612345678", "text": "x"}}),
    );
    assert_eq!(status, 500, "{missing}");
    assert_eq!(missing["error"]["code"], "secret_key_missing");
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&first_key),
        "{missing}"
    );
    assert!(
        sup.log().contains(&first_key),
        "the start-up check names the missing key"
    );
    let (code, _, stderr) = sup.cli(&["secrets", "status"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("missing"), "{stderr}");
    let second_action = format!("{connections}/{second_id}/actions/send_message");
    let (status, sent) = post(
        &sup,
        &key,
        &second_action,
        json!({"input": {"to": "+33612345678", "text": "still fine"}}),
    );
    assert_eq!(status, 200, "{sent}");

    // Deleting a connection.
    let (status, _) = send(
        sup.http(Method::DELETE, &format!("{connections}/{id}"))
            .header("x-api-key", &key),
    );
    assert_eq!(status, 204);
    assert_eq!(get(&sup, &key, &format!("{connections}/{id}")).0, 404);
}

#[test]
fn reencrypt_moves_connections_to_the_active_key() {
    let provider = FakeProvider::start(TOKEN);
    let mut sup = Supervisor::start(&[sms("ws_test")], &[]);
    wait_ready(&sup);
    let key = sup.create_key("ws_test");
    let connections = "/v1/blocks/regional-sms/connections";
    let (status, created) = post(
        &sup,
        &key,
        connections,
        json!({"config": config(&provider, TOKEN)}),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let old_key = created["key_id"].as_str().unwrap().to_string();
    // Rotation with the supervisor running: it notices the new active key by itself.
    let (code, new_key, stderr) = sup.cli(&["secrets", "rotate"]);
    assert_eq!(code, 0, "{stderr}");
    let new_key = new_key.trim().to_string();
    let (_, second) = post(
        &sup,
        &key,
        connections,
        json!({"config": config(&provider, TOKEN)}),
    );
    assert_eq!(second["key_id"], new_key.as_str(), "{second}");
    let (code, stdout, stderr) = sup.cli(&["secrets", "reencrypt"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("re-encrypted 1 connection"), "{stdout}");
    let (_, moved) = get(&sup, &key, &format!("{connections}/{id}"));
    assert_eq!(moved["key_id"], new_key.as_str(), "{moved}");
    // The old key can go now.
    sup.signal(nix::sys::signal::Signal::SIGTERM);
    sup.wait_exit(LONG).expect("supervisor stops");
    std::fs::remove_file(sup.data_dir().join("keys").join(format!("{old_key}.key"))).unwrap();
    sup.restart_after_kill();
    wait_ready(&sup);
    let (status, sent) = post(
        &sup,
        &key,
        &format!("{connections}/{id}/actions/send_message"),
        json!({"input": {"to": "+33612345678", "text": "moved"}}),
    );
    assert_eq!(status, 200, "{sent}");
}
