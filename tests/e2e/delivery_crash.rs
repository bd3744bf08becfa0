//! Nothing lost when the supervisor dies mid-delivery: 1,000 messages through each target kind
//! (the regional-sms Block to the fake provider, a signed webhook to the example engine's
//! receiver, a JetStream subject on a private nats-server) while the supervisor is SIGKILLed
//! twice and started again. Every message reaches `sent`; each target ends with exactly 1,000
//! distinct messages, because each honours the idempotency key (duplicates are counted and
//! printed: attempts cut short by a kill are sent again).

use std::time::{Duration, Instant};

use convotic_e2e::fake_provider::FakeProvider;
use convotic_e2e::nats::NatsServer;
use convotic_e2e::{ModuleEntry, Supervisor};
use example_engine::Receiver;
use reqwest::Method;
use serde_json::{json, Value};

const PER_TARGET: usize = 1000;
const CHANNELS: [&str; 3] = ["sms", "email", "push"];
const TOKEN: &str = "demo-token-123";
const LONG: Duration = Duration::from_secs(60);

fn call(
    sup: &Supervisor,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = sup.http(method, path).header("x-api-key", key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// Messages of each status, over every page.
fn statuses(sup: &Supervisor, key: &str) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    let mut token = String::new();
    loop {
        let (status, page) = call(
            sup,
            key,
            Method::GET,
            &format!("/v1/messages?page_size=500&page_token={token}"),
            None,
        );
        assert_eq!(status, 200, "{page}");
        for message in page["messages"].as_array().into_iter().flatten() {
            *counts
                .entry(message["status"].as_str().unwrap_or("?").to_string())
                .or_insert(0) += 1;
        }
        match page["next_page_token"].as_str() {
            Some(next) => token = next.to_string(),
            None => return counts,
        }
    }
}

fn kill_and_restart(sup: &mut Supervisor) {
    sup.signal(nix::sys::signal::Signal::SIGKILL);
    sup.wait_exit(Duration::from_secs(10)).expect("killed");
    sup.restart_after_kill();
    sup.wait_state("regional-sms", "ready", LONG);
}

#[test]
fn a_thousand_messages_per_target_survive_two_kills() {
    let nats = NatsServer::start();
    let mut entry = ModuleEntry::new("regional-sms", "regional-sms").with("sandbox = \"relaxed\"");
    entry.workspace = "ws_test".into();
    let mut sup = Supervisor::start_full(
        &[entry],
        &[],
        &[],
        &format!(
            "[delivery]\nretry_base = \"100ms\"\nretry_max = \"500ms\"\nattempt_timeout = \"2s\"\nmax_attempts = 50\nallow_private_targets = true\n[nats]\nurl = \"{}\"\n",
            nats.url()
        ),
    );
    sup.wait_state("regional-sms", "ready", LONG);
    let key = sup.create_key("ws_test");
    let provider = FakeProvider::start(TOKEN);
    let receiver = Receiver::start();
    let (status, created) = call(
        &sup,
        &key,
        Method::POST,
        "/v1/blocks/regional-sms/connections",
        Some(json!({"name": "Main", "config": {
            "base_url": provider.url(), "api_token": TOKEN, "sender_id": "Convotic"}})),
    );
    assert_eq!(status, 201, "{created}");
    let connection = created["id"].as_str().expect("connection").to_string();
    for (channel, body) in [
        (
            "sms",
            json!({"kind": "block", "block": "regional-sms", "action": "send_message",
                   "connection_id": connection}),
        ),
        ("email", json!({"kind": "webhook", "url": receiver.url()})),
        ("push", json!({"kind": "nats"})),
    ] {
        let (status, target) = call(
            &sup,
            &key,
            Method::PUT,
            &format!("/v1/channels/{channel}"),
            Some(body),
        );
        assert_eq!(status, 200, "{target}");
        if let Some(secret) = target["secret"].as_str() {
            receiver.set_secret(secret);
        }
    }
    let (status, contact) = call(
        &sup,
        &key,
        Method::POST,
        "/v1/contacts",
        Some(json!({"name": "Ada", "phone": "+33612345678", "email": "ada@example.com"})),
    );
    assert_eq!(status, 201, "{contact}");
    let contact = contact["id"].as_str().expect("contact").to_string();

    // Queue everything, killing the supervisor twice along the way (acknowledged sends are
    // durable, so the sends before each kill are all there after it).
    let started = Instant::now();
    for i in 0..PER_TARGET {
        for channel in CHANNELS {
            let (status, message) = call(
                &sup,
                &key,
                Method::POST,
                "/v1/messages",
                Some(json!({"contact_id": contact, "channel": channel, "text": format!("n{i}")})),
            );
            assert_eq!(status, 201, "{message}");
        }
        if i == PER_TARGET / 3 || i == 2 * PER_TARGET / 3 {
            kill_and_restart(&mut sup);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let counts = statuses(&sup, &key);
        let sent = counts.get("sent").copied().unwrap_or(0);
        if sent == PER_TARGET * CHANNELS.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every message was sent: {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    println!(
        "{} messages sent in {:.1} s with 2 kills; duplicates absorbed by the targets: provider {}, webhook {}",
        PER_TARGET * CHANNELS.len(),
        started.elapsed().as_secs_f64(),
        provider.duplicates(),
        receiver.duplicates()
    );
    assert_eq!(
        provider.messages().len(),
        PER_TARGET,
        "distinct SMS at the provider"
    );
    assert_eq!(receiver.unique(), PER_TARGET, "distinct webhook deliveries");
    assert_eq!(receiver.rejected(), 0);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let stored = runtime.block_on(async {
        let client = async_nats::connect(nats.url()).await.expect("nats");
        let js = async_nats::jetstream::new(client);
        let mut stream = js
            .get_stream("CONVOTIC_OUTBOX")
            .await
            .expect("outbox stream");
        stream.info().await.expect("stream info").state.messages
    });
    assert_eq!(
        stored, PER_TARGET as u64,
        "one stream message per pushed message"
    );
}
