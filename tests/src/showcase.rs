//! A supervisor running the example modules (hello-rust, erp-webhook, order-worker,
//! nightly-sync with a tick every two seconds, loyalty-lookup, regional-sms against the fake
//! provider) plus extra entries, and traffic of every kind through them: routes, Host calls,
//! worker messages (one dead-lettered), node invocations, a Block action and connection test,
//! and deployments of a package. The metrics and console tests start from it.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::fake_provider::FakeProvider;
use crate::packages::{fixture_defaults, fixture_package};
use crate::{ModuleEntry, Supervisor};

const LONG: Duration = Duration::from_secs(60);
/// The provider's token.
pub const TOKEN: &str = "demo-token-123";

/// The running showcase.
pub struct Showcase {
    /// The supervisor.
    pub sup: Supervisor,
    /// An API key of `ws_demo`.
    pub key: String,
    /// The fake SMS provider.
    pub provider: FakeProvider,
    /// The id of the regional-sms connection.
    pub connection: String,
}

fn example(name: &str) -> ModuleEntry {
    let mut entry = ModuleEntry::new(name, name);
    entry.workspace = "ws_demo".into();
    entry
}

/// The example modules, as in plugins-example/examples.toml.
pub fn example_modules() -> Vec<ModuleEntry> {
    vec![
        example("hello-rust"),
        example("erp-webhook").env("ERP_WEBHOOK_SECRET", "demo-secret"),
        example("order-worker"),
        example("nightly-sync").env("NIGHTLY_SYNC_SCHEDULE", "*/2 * * * * *"),
        example("loyalty-lookup"),
        example("regional-sms").with("sandbox = \"relaxed\""),
    ]
}

/// Sends `request`; returns the status and the JSON body (Null when not JSON).
pub fn send(request: reqwest::blocking::RequestBuilder) -> (u16, Value) {
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

impl Showcase {
    /// Starts the example modules and `extra` ones; waits until all are ready; creates a key
    /// and a regional-sms connection.
    pub fn start(extra: Vec<ModuleEntry>) -> Self {
        let mut modules = example_modules();
        modules.extend(extra);
        let defaults = fixture_defaults();
        // The receivers of the tests run on this machine.
        let sup = Supervisor::start_full(
            &modules,
            &[&defaults],
            &[],
            "[delivery]\nallow_private_targets = true\n",
        );
        sup.wait_until(LONG, "every module ready", |s| s.get("/readyz").0 == 200);
        let key = sup.create_key("ws_demo");
        let provider = FakeProvider::start(TOKEN);
        let (status, created) = send(
            sup.http(Method::POST, "/v1/blocks/regional-sms/connections")
                .header("x-api-key", &key)
                .json(&json!({"name": "Main", "config": {
                    "base_url": provider.url(), "api_token": TOKEN, "sender_id": "Convotic"}})),
        );
        assert_eq!(status, 201, "connection: {created}");
        let connection = created["id"]
            .as_str()
            .or_else(|| created["connection"]["id"].as_str())
            .expect("connection id")
            .to_string();
        Self {
            sup,
            key,
            provider,
            connection,
        }
    }

    /// A request with the workspace key.
    pub fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.sup.http(method, path).header("x-api-key", &self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request)
    }

    /// Traffic of every kind; returns once the worker messages were settled and a cron ran.
    pub fn drive_traffic(&self) {
        for name in ["ada", "grace", "alan"] {
            let (status, body) = self.call(
                Method::GET,
                &format!("/v1/modules/hello-rust/hello/{name}"),
                None,
            );
            assert_eq!(status, 200, "{body}");
        }
        let (status, body) = self.call(
            Method::POST,
            "/v1/contacts",
            Some(json!({"external_id": "cust-42", "name": "Ada", "phone": "+33612345678"})),
        );
        assert!(status == 200 || status == 201, "{status} {body}");
        let (status, body) = self.call(
            Method::POST,
            "/v1/modules/erp-webhook/webhook/erp",
            Some(json!({"customer_id": "cust-42", "order_id": "SO-1001", "status": "shipped"})),
        );
        assert_eq!(status, 200, "erp webhook: {body}");
        // One message handled, one discarded to the dead letters.
        for payload in [
            json!({"order_id": "SO-1", "customer_id": "cust-42", "status": "shipped"}),
            json!({}),
        ] {
            let (status, body) = self.call(
                Method::POST,
                "/v1/topics/orders.events/messages",
                Some(json!({"payload": payload})),
            );
            assert!(status == 200 || status == 202, "{status} {body}");
        }
        self.sup.wait_until(LONG, "a dead letter", |_| {
            let (_, letters) = self.call(Method::GET, "/v1/dead-letters", None);
            letters["dead_letters"]
                .as_array()
                .is_some_and(|l| !l.is_empty())
        });
        let (status, body) = self.call(
            Method::PUT,
            "/v1/modules/loyalty-lookup/loyalty/ada@example.com",
            Some(json!({"tier": "gold", "points": 1200})),
        );
        assert_eq!(status, 200, "{body}");
        let (status, body) = self.call(
            Method::POST,
            "/v1/nodes/loyalty_lookup/invoke",
            Some(json!({"input": {"email": "ada@example.com"}})),
        );
        assert_eq!(status, 200, "node: {body}");
        let (status, body) = self.call(
            Method::POST,
            &format!(
                "/v1/blocks/regional-sms/connections/{}/actions/send_message",
                self.connection
            ),
            Some(json!({"input": {"to": "+33612345678", "text": "Your order shipped"}})),
        );
        assert_eq!(status, 200, "block action: {body}");
        let (status, body) = self.call(
            Method::POST,
            &format!(
                "/v1/blocks/regional-sms/connections/{}/test",
                self.connection
            ),
            None,
        );
        assert_eq!(status, 200, "connection test: {body}");
        self.sup.wait_until(LONG, "a finished cron run", |_| {
            let (_, runs) = self.call(
                Method::GET,
                "/v1/crons/nightly-sync/nightly-sync/runs",
                None,
            );
            runs["runs"]
                .as_array()
                .is_some_and(|r| r.iter().any(|run| run["finished_at_ms"].is_u64()))
        });
    }

    /// Deploys a package module `shop` to `ws_pkg` twice (the second takes over).
    pub fn deploy_twice(&self) {
        let root = self.sup.dir.path().join("packages-src");
        for version in ["1.0.0", "1.1.0"] {
            let dir = fixture_package(&root, "shop", version, "ok", &[], &[]);
            let dir = dir.display().to_string();
            let (code, stdout, stderr) = self.sup.cli(&["deploy", "--workspace", "ws_pkg", &dir]);
            assert_eq!(code, 0, "deploy {version}: {stdout} {stderr}");
        }
    }

    /// `GET path` with the admin token, as text.
    pub fn admin_text(&self, path: &str) -> (u16, String) {
        let response = self
            .sup
            .http(Method::GET, path)
            .bearer_auth(&self.sup.token)
            .send()
            .expect("request");
        (
            response.status().as_u16(),
            response.text().unwrap_or_default(),
        )
    }
}
