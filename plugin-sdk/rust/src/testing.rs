//! Testing a module under the real supervisor: [`DevSupervisor::start`] runs
//! `convotic-supervisor dev` on the package directory (a private supervisor, its data in a
//! temporary directory, an API key), and its methods call the module's routes, publish to its
//! topics, invoke its nodes and run its crons over HTTP. On failure, [`DevSupervisor::logs`]
//! holds the module's output. The supervisor binary comes from `CONVOTIC_SUPERVISOR`, or
//! `convotic-supervisor` on `PATH`.
//!
//! ```no_run
//! use convotic_plugin_sdk::testing::DevSupervisor;
//!
//! let dev = DevSupervisor::start(env!("CARGO_MANIFEST_DIR")).expect("the module starts");
//! let (status, body) = dev.route("GET", "/hello/ada", None).expect("answer");
//! assert_eq!((status, body["hello"].as_str()), (200, Some("ada")));
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A module running under a private supervisor for a test; stopped when dropped.
pub struct DevSupervisor {
    child: Child,
    state: PathBuf,
    port: u16,
    key: String,
    name: String,
}

impl DevSupervisor {
    /// Runs the package in `dir` under `convotic-supervisor dev` and waits (up to 3 minutes,
    /// builds included) until it serves.
    pub fn start(dir: impl AsRef<Path>) -> Result<Self, String> {
        let dir = dir.as_ref();
        let supervisor = find_supervisor()?;
        static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let state = std::env::temp_dir().join(format!(
            "convotic-test-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&state).map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| e.to_string())?;
        let out = std::fs::File::create(state.join("dev.log")).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(supervisor)
            .arg("dev")
            .arg(dir)
            .args(["--port", &port.to_string()])
            .env("XDG_STATE_HOME", &state)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot run convotic-supervisor dev: {e}"))?;
        let mut dev = Self {
            child,
            state,
            port,
            key: String::new(),
            name: String::new(),
        };
        let started = Instant::now();
        loop {
            let logs = dev.logs();
            if let Some(ready) = logs.lines().find(|l| l.contains("is ready at")) {
                dev.name = ready
                    .trim_start_matches("dev: ")
                    .split(' ')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                dev.key = ready
                    .split("API key: ")
                    .nth(1)
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                return Ok(dev);
            }
            if let Ok(Some(status)) = dev.child.try_wait() {
                return Err(format!("dev exited ({status}):\n{logs}"));
            }
            if started.elapsed() > Duration::from_secs(180) {
                return Err(format!(
                    "the module did not get ready within 3 minutes:\n{logs}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything `dev` printed so far: the module's output and lifecycle events.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.state.join("dev.log")).unwrap_or_default()
    }

    /// The API key of the test workspace.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Calls the module's route `method path` (e.g. `"/hello/ada"`) with an optional JSON body;
    /// the status and JSON answer.
    pub fn route(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        self.call(method, &format!("/v1/modules/{}{path}", self.name), body)
    }

    /// Publishes `payload` on `topic`; the status and answer (202 with the message id).
    pub fn publish(&self, topic: &str, payload: Value) -> Result<(u16, Value), String> {
        self.call(
            "POST",
            &format!("/v1/topics/{topic}/messages"),
            Some(serde_json::json!({ "payload": payload })),
        )
    }

    /// Invokes node `node_type` with `input`; the status and answer (`output`, `branch`).
    pub fn invoke(&self, node_type: &str, input: Value) -> Result<(u16, Value), String> {
        self.call(
            "POST",
            &format!("/v1/nodes/{node_type}/invoke"),
            Some(serde_json::json!({ "input": input })),
        )
    }

    /// Runs cron `name` now; the status and the run (202).
    pub fn run_cron(&self, name: &str) -> Result<(u16, Value), String> {
        self.call("POST", &format!("/v1/crons/{}/{name}/run", self.name), None)
    }

    /// One HTTP/1.1 request with the key (the connection closes after it).
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value), String> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-api-key: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            self.key,
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&response);
        let (head, rest) = text.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("no status")?;
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let body = if chunked {
            dechunk(rest)
        } else {
            rest.to_string()
        };
        Ok((
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        ))
    }
}

/// The body of a chunked answer.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

impl Drop for DevSupervisor {
    fn drop(&mut self) {
        // SIGINT, as Ctrl-C: dev stops its supervisor and the module.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// `CONVOTIC_SUPERVISOR`, or `convotic-supervisor` on `PATH`.
fn find_supervisor() -> Result<PathBuf, String> {
    if let Some(given) = std::env::var_os("CONVOTIC_SUPERVISOR") {
        return Ok(PathBuf::from(given));
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("convotic-supervisor"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            "convotic-supervisor was not found: put it on PATH or set CONVOTIC_SUPERVISOR"
                .to_string()
        })
}
