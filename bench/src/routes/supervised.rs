//! Scenarios (c) and (d): the real supervisor with the Rust example module `hello-rust`.
//! (c) `POST /v1/modules/hello-rust/echo`; (d) `GET /v1/modules/hello-rust/kv/:key`, whose
//! handler makes one `ctx.storage().get` host call. Both with the `X-API-Key` of workspace
//! `ws_test`, created with `convotic-supervisor keys create`.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use convotic_e2e::{ModuleEntry, Supervisor};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::Method;

use super::load::Target;

/// The module, its route prefix and the storage key (d) reads.
const MODULE: &str = "hello-rust";
const ECHO_PATH: &str = "/v1/modules/hello-rust/echo";
const KV_PATH: &str = "/v1/modules/hello-rust/kv/bench-key";

/// A running supervisor with the module ready and an API key.
pub struct Supervised {
    /// Kept alive for the runs; killed on drop.
    _supervisor: Supervisor,
    addr: SocketAddr,
    key: HeaderValue,
}

/// Whether a workspace binary was built next to this one.
fn built(name: &str) -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name).exists()))
        .unwrap_or(false)
}

/// Starts the supervisor with `hello-rust` and creates a key; `Err` says why that failed.
/// With `features_off`, the supervisor offers neither `work.batch` nor `host.stream`, so the
/// module speaks the protocol as it did before them.
pub fn start(features_off: bool) -> Result<Supervised, String> {
    for name in ["convotic-supervisor", MODULE] {
        if !built(name) {
            return Err(format!("{name} is not built next to the bench binary"));
        }
    }
    // The harness panics (after killing the supervisor) when something does not start.
    let started = std::panic::catch_unwind(|| {
        let defaults: &[&str] = if features_off {
            &[crate::FEATURES_OFF]
        } else {
            &[]
        };
        let supervisor = Supervisor::start(&[ModuleEntry::new(MODULE, MODULE)], defaults);
        supervisor.wait_state(MODULE, "ready", Duration::from_secs(30));
        supervisor
    });
    let supervisor =
        started.map_err(|_| "the supervisor or the module did not start".to_string())?;
    let (code, stdout, stderr) = supervisor.cli(&["keys", "create", "--workspace", "ws_test"]);
    if code != 0 {
        let reason = stderr.lines().next().unwrap_or_default().to_string();
        return Err(format!("keys create exited with {code}: {reason}"));
    }
    let key = stdout.lines().next().unwrap_or_default().trim().to_string();
    let key = HeaderValue::from_str(&key).map_err(|_| format!("unusable API key {key:?}"))?;
    let addr = supervisor
        .base
        .trim_start_matches("http://")
        .parse()
        .map_err(|e| format!("gateway address {}: {e}", supervisor.base))?;
    Ok(Supervised {
        _supervisor: supervisor,
        addr,
        key,
    })
}

impl Supervised {
    fn target(&self, method: Method, path: &str, body: Bytes) -> Target {
        Target {
            addr: self.addr,
            method,
            path: path.to_string(),
            headers: vec![
                (HeaderName::from_static("x-api-key"), self.key.clone()),
                (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            ],
            body,
            ok_statuses: vec![200],
            body_len: None,
        }
    }

    /// (c): the echo route; `Err` with the status when the gateway does not forward it yet.
    pub fn echo_target(&self, body: &Bytes) -> Result<Target, String> {
        let mut target = self.target(Method::POST, ECHO_PATH, body.clone());
        let (status, answer) = self.probe(&target)?;
        if status != 200 || answer != *body {
            return Err(format!(
                "POST {ECHO_PATH} answered {status}: {}",
                snippet(&answer)
            ));
        }
        target.body_len = Some(body.len());
        Ok(target)
    }

    /// (d): one storage read per request. The key is stored first through `PUT`, so reads
    /// find it (200); if the `PUT` fails, a 404 (key absent, still one host call) counts too.
    pub fn storage_target(&self) -> Result<Target, String> {
        let put = self.target(Method::PUT, KV_PATH, Bytes::from_static(br#"{"n":1}"#));
        let (put_status, _) = self.probe(&put)?;
        let mut get = self.target(Method::GET, KV_PATH, Bytes::new());
        get.headers.retain(|(name, _)| name != CONTENT_TYPE);
        let (status, answer) = self.probe(&get)?;
        match status {
            200 => Ok(get),
            404 if put_status != 200 => {
                get.ok_statuses.push(404);
                Ok(get)
            }
            _ => Err(format!(
                "GET {KV_PATH} answered {status}: {}",
                snippet(&answer)
            )),
        }
    }

    /// Sends one request with a plain client; returns (status, body).
    fn probe(&self, target: &Target) -> Result<(u16, Bytes), String> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        let mut request = client
            .request(
                target.method.clone(),
                format!("http://{}{}", target.addr, target.path),
            )
            .body(target.body.to_vec());
        for (name, value) in &target.headers {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .map_err(|e| format!("{}: {e}", target.path))?;
        let status = response.status().as_u16();
        let body = response.bytes().map_err(|e| e.to_string())?;
        Ok((status, body))
    }
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(160)]).into_owned()
}
