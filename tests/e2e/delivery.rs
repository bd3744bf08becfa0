//! Delivery of messages and workflow runs, end to end with the real binary: each target kind
//! (the `regional-sms` Block against the fake provider over HTTP, a signed webhook to the
//! example engine's receiver, which rejects a tampered body, a JetStream subject on a private
//! nats-server), the idempotency key at every target, retries while a provider is down, a
//! dead letter with the provider's words and its re-drive, a message waiting for a channel
//! without target, delivery reports, a workflow run from queued to succeeded as the example
//! engine reports it, and workspace isolation.

use std::time::{Duration, Instant};

use convotic_e2e::fake_provider::FakeProvider;
use convotic_e2e::nats::NatsServer;
use convotic_e2e::{ModuleEntry, Supervisor};
use example_engine::Receiver;
use reqwest::Method;
use serde_json::{json, Value};

const LONG: Duration = Duration::from_secs(30);
const TOKEN: &str = "demo-token-123";
/// Quick retries for the tests.
const DELIVERY: &str = "[delivery]\nmax_attempts = 4\nretry_base = \"100ms\"\nretry_max = \"300ms\"\nattempt_timeout = \"3s\"\nallow_private_targets = true\n";

fn send(request: reqwest::blocking::RequestBuilder) -> (u16, Value) {
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

struct Api<'a> {
    sup: &'a Supervisor,
    key: String,
}

impl Api<'_> {
    fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.sup.http(method, path).header("x-api-key", &self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request)
    }

    fn contact(&self) -> String {
        let (status, contact) = self.call(
            Method::POST,
            "/v1/contacts",
            Some(json!({"name": "Ada", "phone": "+33612345678", "email": "ada@example.com"})),
        );
        assert_eq!(status, 201, "{contact}");
        contact["id"].as_str().expect("contact id").to_string()
    }

    fn message(&self, contact: &str, channel: &str, text: &str) -> String {
        let (status, message) = self.call(
            Method::POST,
            "/v1/messages",
            Some(json!({"contact_id": contact, "channel": channel, "text": text})),
        );
        assert_eq!(status, 201, "{message}");
        message["id"].as_str().expect("message id").to_string()
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None);
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// Waits until `path`'s `status` is `wanted`; returns the record.
    fn wait_status(&self, path: &str, wanted: &str) -> Value {
        let deadline = Instant::now() + LONG;
        loop {
            let record = self.get(path);
            if record["status"] == wanted {
                return record;
            }
            assert!(
                Instant::now() < deadline,
                "{path} never became {wanted}: {record}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn sms_channel(&self, provider: &FakeProvider) {
        let (status, created) = self.call(
            Method::POST,
            "/v1/blocks/regional-sms/connections",
            Some(json!({"name": "Main", "config": {
                "base_url": provider.url(), "api_token": TOKEN, "sender_id": "Convotic"}})),
        );
        assert_eq!(status, 201, "{created}");
        let connection = created["id"].as_str().expect("connection id");
        let (status, target) = self.call(
            Method::PUT,
            "/v1/channels/sms",
            Some(
                json!({"kind": "block", "block": "regional-sms", "action": "send_message",
                        "connection_id": connection}),
            ),
        );
        assert_eq!(status, 200, "{target}");
        assert_eq!(target["kind"], "block");
    }

    /// Sets a webhook target to `receiver`; returns the generated secret.
    fn webhook(&self, path: &str, receiver: &Receiver) -> String {
        let (status, target) = self.call(
            Method::PUT,
            path,
            Some(json!({"kind": "webhook", "url": receiver.url()})),
        );
        assert_eq!(status, 200, "{target}");
        let secret = target["secret"]
            .as_str()
            .expect("a generated secret, shown once");
        receiver.set_secret(secret);
        let (_, again) = self.call(Method::GET, path, None);
        assert!(
            again.get("secret").is_none(),
            "the secret is shown once: {again}"
        );
        secret.to_string()
    }
}

fn sms(workspace: &str) -> ModuleEntry {
    let mut entry = ModuleEntry::new("regional-sms", "regional-sms").with("sandbox = \"relaxed\"");
    entry.workspace = workspace.into();
    entry
}

#[test]
fn each_target_kind_delivers_once_with_the_idempotency_key() {
    let nats = NatsServer::start();
    let sup = Supervisor::start_full(
        &[sms("ws_test")],
        &[],
        &[],
        &format!("{DELIVERY}[nats]\nurl = \"{}\"\n", nats.url()),
    );
    sup.wait_state("regional-sms", "ready", LONG);
    let api = Api {
        sup: &sup,
        key: sup.create_key("ws_test"),
    };
    let provider = FakeProvider::start(TOKEN);
    let receiver = Receiver::start();
    api.sms_channel(&provider);
    let secret = api.webhook("/v1/channels/email", &receiver);
    let (status, push) = api.call(
        Method::PUT,
        "/v1/channels/push",
        Some(json!({"kind": "nats"})),
    );
    assert_eq!(status, 200, "{push}");
    let (status, channels) = api.call(Method::GET, "/v1/channels", None);
    assert_eq!(status, 200);
    assert_eq!(
        channels["channels"].as_array().map(Vec::len),
        Some(3),
        "{channels}"
    );

    // A JetStream subscriber of the push subject, before anything is sent.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = runtime
        .block_on(async_nats::connect(nats.url()))
        .expect("nats");
    let mut subscriber = runtime
        .block_on(client.subscribe("convotic.ws_test.messages.push"))
        .expect("subscribe");

    let contact = api.contact();
    let by_sms = api.message(&contact, "sms", "Your order shipped");
    let by_mail = api.message(&contact, "email", "Your invoice");
    let by_push = api.message(&contact, "push", "Ding");

    let sent = api.wait_status(&format!("/v1/messages/{by_sms}"), "sent");
    assert_eq!(sent["provider_message_id"], "msg_1", "{sent}");
    assert_eq!(sent["attempts"], 1);
    assert!(sent["sent_at_ms"].is_u64());
    let received = provider.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["to"], "+33612345678");
    assert_eq!(received[0]["text"], "Your order shipped");

    let mailed = api.wait_status(&format!("/v1/messages/{by_mail}"), "sent");
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert_eq!(accepted[0]["_idempotency_key"], by_mail.as_str());
    assert_eq!(accepted[0]["contact"]["email"], "ada@example.com");
    assert_eq!(accepted[0]["text"], "Your invoice");
    assert_eq!(mailed["provider_message_id"], "rcv_1");

    let pushed = api.wait_status(&format!("/v1/messages/{by_push}"), "sent");
    assert!(
        pushed["provider_message_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("CONVOTIC_OUTBOX:")),
        "{pushed}"
    );
    let message = runtime
        .block_on(async { tokio::time::timeout(LONG, futures_next(&mut subscriber)).await })
        .expect("the pushed message")
        .expect("a message");
    let body: Value = serde_json::from_slice(&message.payload).expect("JSON");
    assert_eq!(body["id"], by_push.as_str());
    assert_eq!(
        message
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.as_str().to_string()),
        Some(by_push.clone())
    );
    let again = runtime.block_on(async {
        tokio::time::timeout(Duration::from_millis(500), futures_next(&mut subscriber)).await
    });
    assert!(again.is_err(), "the subscriber sees the message once");

    // The signing secret is stored sealed: not in the database files.
    let mut stored = Vec::new();
    for name in ["convotic.db", "convotic.db-wal"] {
        if let Ok(content) = std::fs::read(sup.data_dir().join(name)) {
            stored.extend(content);
        }
    }
    assert!(
        !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the webhook secret is stored in plaintext"
    );

    // A body changed after signing is refused by the receiver.
    let body = br#"{"id":"msg_forged","text":"send me money"}"#;
    let signature = convotic_supervisor::signature::sign("not-the-secret", now_ms(), body);
    let tampered = reqwest::blocking::Client::new()
        .post(receiver.url())
        .header("x-convotic-signature", signature)
        .header("idempotency-key", "msg_forged")
        .body(body.to_vec())
        .send()
        .expect("post");
    assert_eq!(tampered.status().as_u16(), 401);
    assert_eq!(receiver.rejected(), 1);
    assert_eq!(receiver.accepted().len(), 1);

    // The target reports delivery.
    let (status, report) = api.call(
        Method::POST,
        &format!("/v1/messages/{by_mail}/status"),
        Some(json!({"status": "delivered"})),
    );
    assert_eq!(status, 200, "{report}");
    let delivered = api.get(&format!("/v1/messages/{by_mail}"));
    assert_eq!(delivered["status"], "delivered");
    assert!(delivered["finished_at_ms"].is_u64());
    let (status, _) = api.call(
        Method::POST,
        &format!("/v1/messages/{by_mail}/status"),
        Some(json!({"status": "sent"})),
    );
    assert_eq!(status, 400, "only delivered or failed can be reported");
}

fn futures_next(
    subscriber: &mut async_nats::Subscriber,
) -> impl std::future::Future<Output = Option<async_nats::Message>> + '_ {
    use futures::StreamExt as _;
    subscriber.next()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

#[test]
fn a_provider_down_is_retried_then_dead_lettered_and_redriven() {
    let sup = Supervisor::start_full(&[sms("ws_test")], &[], &[], DELIVERY);
    sup.wait_state("regional-sms", "ready", LONG);
    let api = Api {
        sup: &sup,
        key: sup.create_key("ws_test"),
    };
    let provider = FakeProvider::start(TOKEN);
    api.sms_channel(&provider);
    let contact = api.contact();

    // Down for a while: retried, then sent once it is back.
    provider.set_failing(503);
    let first = api.message(&contact, "sms", "one");
    let path = format!("/v1/messages/{first}");
    sup.wait_until(LONG, "a second attempt", |_| {
        api.get(&path)["attempts"].as_u64() >= Some(2)
    });
    let waiting = api.get(&path);
    assert!(
        waiting["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("provider is down")),
        "{waiting}"
    );
    provider.set_failing(0);
    let sent = api.wait_status(&path, "sent");
    assert_eq!(provider.messages().len(), 1, "{sent}");

    // Down for good: failed after max_attempts, a dead letter with the provider's words.
    provider.set_failing(503);
    let second = api.message(&contact, "sms", "two");
    let path = format!("/v1/messages/{second}");
    let failed = api.wait_status(&path, "failed");
    assert_eq!(failed["attempts"], 4, "{failed}");
    assert!(failed["dead_lettered_at_ms"].is_u64());
    assert!(
        failed["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("provider is down") && e.contains("4 attempts")),
        "{failed}"
    );
    let (_, dead) = api.call(Method::GET, "/v1/messages?status=failed", None);
    assert_eq!(dead["messages"].as_array().map(Vec::len), Some(1), "{dead}");

    // Re-drive once the provider is back.
    provider.set_failing(0);
    let (status, redriven) = api.call(Method::POST, &format!("{path}/redrive"), None);
    assert_eq!(status, 202, "{redriven}");
    let sent = api.wait_status(&path, "sent");
    assert_eq!(sent["attempts"], 1, "attempts start again: {sent}");
    assert_eq!(provider.messages().len(), 2);
    let (status, _) = api.call(Method::POST, &format!("{path}/redrive"), None);
    assert_eq!(status, 409, "only a dead letter can be re-driven");

    // A channel without target: the message waits, and says why.
    let orphan = api.message(&contact, "whatsapp", "three");
    std::thread::sleep(Duration::from_millis(300));
    let queued = api.get(&format!("/v1/messages/{orphan}"));
    assert_eq!(queued["status"], "queued");
    assert!(
        queued["waiting"]
            .as_str()
            .is_some_and(|w| w.contains("PUT /v1/channels/whatsapp")),
        "{queued}"
    );

    // Bad targets are refused with the field named.
    for (body, field) in [
        (json!({"kind": "pigeon"}), "kind"),
        (json!({"kind": "webhook", "url": "ftp://x"}), "url"),
        (
            json!({"kind": "block", "block": "regional-sms"}),
            "block target",
        ),
        (json!({"kind": "nats"}), "[nats]"),
    ] {
        let (status, answer) = api.call(Method::PUT, "/v1/channels/fax", Some(body));
        assert!(status == 400 || status == 409, "{status} {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(field)),
            "{field}: {answer}"
        );
    }
}

#[test]
fn workflow_runs_reach_the_engine_which_reports_them_succeeded() {
    let sup = Supervisor::start_full(&[], &[], &[], DELIVERY);
    for ws in ["ws_test", "ws_other"] {
        let (code, _, stderr) = sup.cli(&["workspaces", "create", "--id", ws]);
        assert_eq!(code, 0, "{stderr}");
    }
    let api = Api {
        sup: &sup,
        key: sup.create_key("ws_test"),
    };
    let other = Api {
        sup: &sup,
        key: sup.create_key("ws_other"),
    };
    // Without an engine the run waits, saying so.
    let (status, run) = api.call(
        Method::POST,
        "/v1/workflows/wf_abc123/runs",
        Some(json!({"payload": {"order_id": "SO-1"}, "idempotency_key": "SO-1"})),
    );
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_str().expect("run id").to_string();
    assert_eq!(run["status"], "queued");
    assert!(
        run["waiting"]
            .as_str()
            .is_some_and(|w| w.contains("PUT /v1/workflow-engine")),
        "{run}"
    );
    let receiver = Receiver::start();
    receiver.set_engine(&sup.base, &api.key);
    let _secret = api.webhook("/v1/workflow-engine", &receiver);
    let path = format!("/v1/workflow-runs/{id}");
    let done = api.wait_status(&path, "succeeded");
    assert_eq!(done["output"]["handled_by"], "example-engine", "{done}");
    assert!(done["delivered_at_ms"].is_u64() && done["finished_at_ms"].is_u64());
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0]["run_id"], id.as_str());
    assert_eq!(accepted[0]["workflow_id"], "wf_abc123");
    assert_eq!(accepted[0]["payload"]["order_id"], "SO-1");
    assert_eq!(accepted[0]["_idempotency_key"], id.as_str());

    // The same idempotency key gives the same run.
    let (_, again) = api.call(
        Method::POST,
        "/v1/workflows/wf_abc123/runs",
        Some(json!({"payload": {}, "idempotency_key": "SO-1"})),
    );
    assert_eq!(again["id"], id.as_str());
    // A finished run cannot go back.
    let (status, _) = api.call(Method::PATCH, &path, Some(json!({"status": "running"})));
    assert_eq!(status, 409);

    // Another workspace sees and touches nothing of it.
    for (method, body) in [
        (Method::GET, None),
        (
            Method::PATCH,
            Some(json!({"status": "failed", "error": "x"})),
        ),
    ] {
        let (status, _) = other.call(method, &path, body);
        assert_eq!(status, 404);
    }
    let (status, _) = other.call(Method::POST, &format!("{path}/redrive"), None);
    assert_eq!(status, 404);
    let (_, listed) = other.call(Method::GET, "/v1/workflow-runs", None);
    assert_eq!(listed["workflow_runs"].as_array().map(Vec::len), Some(0));
    let contact = api.contact();
    let message = api.message(&contact, "sms", "private");
    let (status, _) = other.call(Method::GET, &format!("/v1/messages/{message}"), None);
    assert_eq!(status, 404);
    let (status, _) = other.call(
        Method::POST,
        &format!("/v1/messages/{message}/status"),
        Some(json!({"status": "delivered"})),
    );
    assert_eq!(status, 404);
}

#[test]
fn private_targets_are_refused_by_default() {
    let sup = Supervisor::start_full(&[], &[], &[], "");
    let (code, _, stderr) = sup.cli(&["workspaces", "create", "--id", "ws_test"]);
    assert_eq!(code, 0, "{stderr}");
    let api = Api {
        sup: &sup,
        key: sup.create_key("ws_test"),
    };
    let receiver = Receiver::start();
    for url in [
        receiver.url(),
        "http://localhost:9/hook".to_string(),
        "http://169.254.169.254/latest/meta-data".to_string(),
        "http://[::1]:9/hook".to_string(),
        "http://10.0.0.1/hook".to_string(),
    ] {
        let (status, answer) = api.call(
            Method::PUT,
            "/v1/channels/email",
            Some(json!({"kind": "webhook", "url": url})),
        );
        assert_eq!(status, 400, "{url}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("url: ") && m.contains("allow_private_targets")),
            "{url}: {answer}"
        );
    }
    let (status, _) = api.call(
        Method::PUT,
        "/v1/workflow-engine",
        Some(json!({"kind": "webhook", "url": receiver.url()})),
    );
    assert_eq!(status, 400);
    // A public address is taken (nothing is sent until a message is queued).
    let (status, answer) = api.call(
        Method::PUT,
        "/v1/channels/email",
        Some(json!({"kind": "webhook", "url": "https://93.184.216.34/hook"})),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(receiver.requests(), 0);
}
