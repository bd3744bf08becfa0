//! What `ps` and the admin API show about a module: its state and its last instance.

use serde::Serialize;

use convotic_proto::plugin::v1::Manifest;

/// Lifecycle state of a module (docs/operations.md, "States").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Spawned; waiting for health SERVING and a valid manifest.
    Starting,
    /// Serving work.
    Ready,
    /// Stopping: no new work, in-flight work finishing.
    Draining,
    /// Not running, by request, policy or configuration.
    Stopped,
    /// Waiting before the next restart.
    Backoff,
    /// Down until an operator restarts it: what restarting cannot heal (exit code 78, a refused
    /// manifest, no common protocol version, a failure under restart policy `never`).
    Failed,
    /// Crashed more than 5 times within 60 s: still restarted by itself, with the delay growing
    /// up to the module's `crash_loop_backoff` (`next_attempt_ms` says when).
    #[serde(rename = "crash-loop")]
    CrashLoop,
}

impl State {
    /// The state's name, as serialized (`ready`, `crash-loop`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Ready => "ready",
            State::Draining => "draining",
            State::Stopped => "stopped",
            State::Backoff => "backoff",
            State::Failed => "failed",
            State::CrashLoop => "crash-loop",
        }
    }
}

/// A snapshot of one module.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleStatus {
    /// Workspace id.
    pub workspace: String,
    /// Module name.
    pub name: String,
    /// Current state.
    pub state: State,
    /// Id of the current (or last) instance.
    pub instance: Option<String>,
    /// Pid of the module's own process (host pid namespace), when running.
    pub pid: Option<i32>,
    /// Pid of the spawn helper that contains it.
    pub helper_pid: Option<i32>,
    /// Restarts since the supervisor started.
    pub restarts: u32,
    /// When the current instance became ready (ms since the Unix epoch).
    pub ready_since_ms: Option<u64>,
    /// Spawn → Ready time of the last start, in milliseconds.
    pub start_ms: Option<f64>,
    /// What keeps the module from being ready now (cleared when it becomes ready).
    pub last_error: Option<String>,
    /// The last failure (crash, failed start, failed probes), kept after it recovered.
    pub last_failure: Option<String>,
    /// When [`ModuleStatus::last_failure`] happened (ms since the Unix epoch).
    pub last_failure_at_ms: Option<u64>,
    /// When the next start is due while in `backoff` or `crash-loop` (ms since the Unix epoch).
    pub next_attempt_ms: Option<u64>,
    /// The last exit status, e.g. "exited with code 3" or "killed by SIGKILL".
    pub last_exit: Option<String>,
    /// Protocol version negotiated.
    pub protocol_version: Option<u32>,
    /// Features the module announced.
    pub features: Vec<String>,
    /// Summary of the manifest of the last ready instance.
    pub manifest: Option<serde_json::Value>,
    /// Invocations sent to the ready instance and not answered yet.
    pub in_flight: usize,
    /// The sandbox layers the ready instance got (`None` for profile `none`).
    pub sandbox: Option<crate::sandbox::report::SandboxReport>,
    /// Where the module comes from: `config`, or `deployment <id>`.
    pub source: String,
    /// The deployed package's version (None for a module of the config file).
    pub package_version: Option<String>,
    /// Whether it is enabled (a disabled module stays stopped).
    pub enabled: bool,
    /// Each replica: state, instance, pid, restarts, in-flight calls, last error.
    pub replicas: Vec<super::replica::ReplicaStatus>,
}

impl ModuleStatus {
    /// A module that has not started yet.
    pub fn new(workspace: &str, name: &str) -> Self {
        Self {
            workspace: workspace.to_string(),
            name: name.to_string(),
            state: State::Stopped,
            instance: None,
            pid: None,
            helper_pid: None,
            restarts: 0,
            ready_since_ms: None,
            start_ms: None,
            last_error: None,
            last_failure: None,
            last_failure_at_ms: None,
            next_attempt_ms: None,
            last_exit: None,
            protocol_version: None,
            features: Vec::new(),
            manifest: None,
            in_flight: 0,
            sandbox: None,
            source: "config".into(),
            package_version: None,
            enabled: true,
            replicas: Vec::new(),
        }
    }
}

/// A JSON summary of a manifest for operators: every entry, no schemas.
pub fn manifest_summary(manifest: &Manifest) -> serde_json::Value {
    use serde_json::json;
    let auth = |mode: i32| {
        if mode == convotic_proto::plugin::v1::AuthMode::None as i32 {
            "none"
        } else {
            "api-key"
        }
    };
    json!({
        "name": manifest.name,
        "version": manifest.version,
        "sdk": manifest.sdk.as_ref().map(|s| json!({"name": s.name, "version": s.version, "language": s.language})),
        "max_in_flight": manifest.max_in_flight,
        "routes": manifest.routes.iter().map(|r| json!({"method": r.method, "path": r.path, "auth": auth(r.auth)})).collect::<Vec<_>>(),
        "workers": manifest.workers.iter().map(|w| json!({"topic": w.topic, "name": if w.name.is_empty() { &w.topic } else { &w.name }})).collect::<Vec<_>>(),
        "nodes": manifest.nodes.iter().map(|n| json!({"type": n.r#type, "version": n.version, "display_name": n.display_name})).collect::<Vec<_>>(),
        "blocks": manifest.blocks.iter().map(|b| json!({"id": b.id, "name": b.name, "actions": b.actions.iter().map(|a| &a.name).collect::<Vec<_>>()})).collect::<Vec<_>>(),
        "crons": manifest.crons.iter().map(|c| json!({"name": c.name, "schedule": c.schedule, "timezone": if c.timezone.is_empty() { "UTC" } else { &c.timezone }})).collect::<Vec<_>>(),
    })
}
