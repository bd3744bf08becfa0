//! The TOML shape of the configuration file, with serde defaults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`: the HTTP listener.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[supervisor]`: data and runtime directories.
    #[serde(default)]
    pub supervisor: SupervisorConfig,
    /// `[defaults]`: values every module inherits unless it sets its own.
    #[serde(default)]
    pub defaults: Defaults,
    /// `[[modules]]`: the modules to run.
    #[serde(default)]
    pub modules: Vec<ModuleConfig>,
    /// `[nats]`: use NATS JetStream for workers (absent: the embedded queue).
    #[serde(default)]
    pub nats: Option<NatsConfig>,
    /// `[workers]`: retry pacing of worker messages.
    #[serde(default)]
    pub workers: WorkersConfig,
    /// `[delivery]`: delivery of messages and workflow runs to their targets.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// `[secrets]`: keys sealing Block connection secrets.
    #[serde(default)]
    pub secrets: SecretsConfig,
    /// `[runtimes]`: the interpreters of `node` and `python` packages.
    #[serde(default)]
    pub runtimes: Runtimes,
    /// `[deployments]`: how deployed packages are kept.
    #[serde(default)]
    pub deployments: DeploymentsConfig,
    /// `[store]`: where records live (absent: SQLite in the data dir).
    #[serde(default)]
    pub store: StoreConfig,
    /// `[cluster]`: this supervisor's name and address among the nodes sharing the store.
    #[serde(default)]
    pub cluster: ClusterConfig,
}

/// `[cluster]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's id among the supervisors sharing the store. Default `<hostname>:<port>`.
    #[serde(default)]
    pub node_id: Option<String>,
    /// The URL other nodes and operators reach this node's HTTP listener at. Default
    /// `http://<listen address>` (`http://<hostname>:<port>` when listening on all addresses).
    #[serde(default)]
    pub advertise: Option<String>,
}

/// `[store]`: the database of every record the supervisor keeps.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `postgres://user:password@host:port/database`: keep every record in PostgreSQL, shared
    /// by every supervisor of a cluster. Absent: SQLite in `<data_dir>/convotic.db`.
    #[serde(default)]
    pub url: Option<String>,
    /// The name of an environment variable holding the URL (keeps a password out of the file).
    #[serde(default)]
    pub url_env: Option<String>,
    /// Most PostgreSQL connections this supervisor opens. Default 16.
    #[serde(default = "default_store_connections")]
    pub max_connections: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: None,
            url_env: None,
            max_connections: default_store_connections(),
        }
    }
}

fn default_store_connections() -> usize {
    16
}

/// `[runtimes]`: the interpreters that run packages of runtime `node` and `python`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Runtimes {
    /// Node.js. Default `/usr/bin/node`.
    #[serde(default = "default_node")]
    pub node: PathBuf,
    /// Python 3. Default `/usr/bin/python3`.
    #[serde(default = "default_python")]
    pub python: PathBuf,
}

impl Default for Runtimes {
    fn default() -> Self {
        Self {
            node: default_node(),
            python: default_python(),
        }
    }
}

fn default_node() -> PathBuf {
    PathBuf::from("/usr/bin/node")
}
fn default_python() -> PathBuf {
    PathBuf::from("/usr/bin/python3")
}

/// `[deployments]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeploymentsConfig {
    /// Packages kept per module for rollback (the active one included). Default 5.
    #[serde(default = "default_keep")]
    pub keep: usize,
    /// Sandbox profiles a deployed package may ask for. Default `["strict"]`: a package cannot
    /// loosen its own sandbox unless the operator allows it here.
    #[serde(default = "default_sandboxes")]
    pub sandboxes: Vec<crate::sandbox::spec::Profile>,
    /// Most replicas a deployed package may ask for. Default 4.
    #[serde(default = "default_max_replicas")]
    pub max_replicas: u32,
}

impl Default for DeploymentsConfig {
    fn default() -> Self {
        Self {
            keep: default_keep(),
            sandboxes: default_sandboxes(),
            max_replicas: default_max_replicas(),
        }
    }
}

fn default_sandboxes() -> Vec<crate::sandbox::spec::Profile> {
    vec![crate::sandbox::spec::Profile::Strict]
}
fn default_max_replicas() -> u32 {
    4
}

fn default_keep() -> usize {
    5
}

/// `[secrets]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// Directory of key files (`<id>.key`, base64 of 32 bytes, 0600) and the `active` file.
    /// Relative to the config file. Default `<data_dir>/keys`.
    #[serde(default)]
    pub key_dir: Option<PathBuf>,
    /// Id of the key sealing new secrets; default: the id in `<key_dir>/active` (or the only
    /// key).
    #[serde(default)]
    pub active_key: Option<String>,
}

/// `[nats]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// Server URL(s), comma-separated, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// JetStream stream holding module topics (subjects `convotic.<ws>.topics.>`). Default
    /// `CONVOTIC_TOPICS`.
    #[serde(default = "default_topics_stream")]
    pub stream: String,
    /// Stream holding dead letters (subjects `convotic.<ws>.dead.>`). Default `CONVOTIC_DEAD`.
    #[serde(default = "default_dead_stream")]
    pub dead_letter_stream: String,
    /// Publish deduplication window. Default `2m`.
    #[serde(default = "default_duplicate_window", with = "humantime_serde")]
    pub duplicate_window: Duration,
    /// Timeout of connecting and of each JetStream request. Default `5s`.
    #[serde(default = "default_nats_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Replicas of the JetStream streams the supervisor creates (topics, dead letters, cron
    /// claims, outbox): 1 on a single server, 3 (or 5) on a NATS cluster so a stream survives
    /// the loss of a server. Only applied when a stream is created; an existing stream keeps
    /// its replicas. 1..=5, default 1.
    #[serde(default = "default_nats_replicas")]
    pub replicas: usize,
}

fn default_topics_stream() -> String {
    "CONVOTIC_TOPICS".into()
}
fn default_dead_stream() -> String {
    "CONVOTIC_DEAD".into()
}
fn default_duplicate_window() -> Duration {
    Duration::from_secs(120)
}
fn default_nats_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_nats_replicas() -> usize {
    1
}

/// `[delivery]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Attempts before a message or run is failed and dead-lettered. Default 8.
    #[serde(default = "default_delivery_attempts")]
    pub max_attempts: u32,
    /// Delay before the first retry; doubles per attempt (±20 % jitter). Default `1s`.
    #[serde(default = "default_retry_base", with = "humantime_serde")]
    pub retry_base: Duration,
    /// Longest delay between attempts. Default `5m`.
    #[serde(default = "default_delivery_retry_max", with = "humantime_serde")]
    pub retry_max: Duration,
    /// Deadline of one attempt (a webhook's answer, a Block action, a JetStream ack).
    /// Default `30s`.
    #[serde(default = "default_attempt_timeout", with = "humantime_serde")]
    pub attempt_timeout: Duration,
    /// Attempts in flight at once, per outbox. Default 32.
    #[serde(default = "default_delivery_concurrency")]
    pub concurrency: usize,
    /// Whether webhook targets may point at this machine or a private network. Default
    /// `false`.
    #[serde(default)]
    pub allow_private_targets: bool,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_attempts: default_delivery_attempts(),
            retry_base: default_retry_base(),
            retry_max: default_delivery_retry_max(),
            attempt_timeout: default_attempt_timeout(),
            concurrency: default_delivery_concurrency(),
            allow_private_targets: false,
        }
    }
}

fn default_delivery_attempts() -> u32 {
    8
}

fn default_delivery_retry_max() -> Duration {
    Duration::from_secs(300)
}

fn default_attempt_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_delivery_concurrency() -> usize {
    32
}

/// `[workers]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WorkersConfig {
    /// Delay before the first retry of a failed message; doubles per attempt. Default `1s`.
    #[serde(default = "default_retry_base", with = "humantime_serde")]
    pub retry_base: Duration,
    /// Longest delay between retries. Default `60s`.
    #[serde(default = "default_retry_max", with = "humantime_serde")]
    pub retry_max: Duration,
    /// How long a delivery may go without news from its holder before it is delivered again
    /// (while a handler runs the supervisor reports progress every third of this). Bounds how
    /// soon messages held by a supervisor that died come back (on NATS, they also fill the
    /// consumer's `max_ack_pending` until then, so nothing else is delivered). Default `5s`.
    #[serde(default = "default_ack_wait", with = "humantime_serde")]
    pub ack_wait: Duration,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        Self {
            retry_base: default_retry_base(),
            retry_max: default_retry_max(),
            ack_wait: default_ack_wait(),
        }
    }
}

fn default_retry_base() -> Duration {
    Duration::from_secs(1)
}
fn default_retry_max() -> Duration {
    Duration::from_secs(60)
}
fn default_ack_wait() -> Duration {
    Duration::from_secs(5)
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the HTTP listener (routes, admin API, health). Default `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Largest request body accepted by a route (a route may ask for less). Default 1 MiB.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// Largest total size of request header names and values. Default 32 KiB.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// Deadline of a route call when the route sets none. Default `30s`.
    #[serde(default = "default_route_timeout", with = "humantime_serde")]
    pub route_timeout: Duration,
    /// Most time a client may take to send a request head (from its first byte). Default `10s`.
    #[serde(default = "default_header_read_timeout", with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A connection with no request in progress is closed after this long; also the longest a
    /// client may read nothing of a response. Default `60s`.
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Most time a client may take to send a request body. Default `30s`.
    #[serde(default = "default_body_read_timeout", with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// Most open client connections; beyond it a new connection gets a 503 and is closed.
    /// Default 4096 (lowered to fit the open-file limit).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Most concurrent streams per HTTP/2 connection. Default 100.
    #[serde(default = "default_http2_max_concurrent_streams")]
    pub http2_max_concurrent_streams: u32,
    /// Largest response body a module may answer a route call with; over it: 502. Default 8 MiB.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    /// Most bytes of module responses held in memory at once across all requests (until
    /// written to the client); beyond it: 503. Default 256 MiB.
    #[serde(default = "default_response_buffer_bytes")]
    pub response_buffer_bytes: u64,
    /// Whether `/metrics` and the details of `/readyz` are served without the admin token.
    /// Default `false`.
    #[serde(default)]
    pub public_metrics: bool,
    /// Whether the operator console is served at `/console/`. Default `true`.
    #[serde(default = "default_true")]
    pub console: bool,
    /// Opens the console without a login to clients on the loopback address (what `dev`
    /// sets: the author's studio). Default `false`.
    #[serde(default)]
    pub console_without_login: bool,
    /// How long a console session lasts after login. Default 12 h.
    #[serde(default = "default_console_session", with = "humantime_serde")]
    pub console_session: Duration,
}

fn default_console_session() -> Duration {
    Duration::from_secs(12 * 3600)
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            max_body_bytes: default_max_body_bytes(),
            max_header_bytes: default_max_header_bytes(),
            route_timeout: default_route_timeout(),
            header_read_timeout: default_header_read_timeout(),
            idle_timeout: default_idle_timeout(),
            body_read_timeout: default_body_read_timeout(),
            max_connections: default_max_connections(),
            http2_max_concurrent_streams: default_http2_max_concurrent_streams(),
            max_response_bytes: default_max_response_bytes(),
            response_buffer_bytes: default_response_buffer_bytes(),
            public_metrics: false,
            console: true,
            console_without_login: false,
            console_session: default_console_session(),
        }
    }
}

fn default_header_read_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_body_read_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_max_connections() -> usize {
    4096
}
fn default_http2_max_concurrent_streams() -> u32 {
    100
}
fn default_max_response_bytes() -> u64 {
    8 * 1024 * 1024
}
fn default_response_buffer_bytes() -> u64 {
    256 * 1024 * 1024
}

fn default_max_body_bytes() -> u64 {
    1024 * 1024
}
fn default_max_header_bytes() -> usize {
    32 * 1024
}
fn default_route_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// `[supervisor]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorConfig {
    /// Persistent data: admin token, module data dirs. Default `./data`.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Parent of the per-instance runtime directories holding the Unix sockets. Keep it short:
    /// socket paths must stay under 108 bytes. Default: `$TMPDIR` or `/tmp`.
    #[serde(default)]
    pub runtime_dir: Option<PathBuf>,
    /// Whether module limits use cgroups when the host has them. `false`: rlimits and RSS
    /// polling only. Default `true`.
    #[serde(default = "default_true")]
    pub cgroups: bool,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            runtime_dir: None,
            cgroups: true,
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./data")
}

/// When a module whose process exited is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Always restart (with backoff), whatever the exit code.
    Always,
    /// Restart only after a non-zero exit, a signal or a failed health check.
    OnFailure,
    /// Never restart.
    Never,
}

/// `[defaults]`: per-module settings, inherited by every `[[modules]]` entry.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Restart policy. Default `always`.
    #[serde(default = "default_restart")]
    pub restart: RestartPolicy,
    /// Spawn → Ready limit. Default `10s`.
    #[serde(default = "default_start_timeout", with = "humantime_serde")]
    pub start_timeout: Duration,
    /// Time between the Shutdown call and SIGKILL. Default `10s`.
    #[serde(default = "default_stop_grace", with = "humantime_serde")]
    pub stop_grace: Duration,
    /// Health probe period. Default `10s`.
    #[serde(default = "default_health_interval", with = "humantime_serde")]
    pub health_interval: Duration,
    /// Health probe timeout. Default `1s`.
    #[serde(default = "default_health_timeout", with = "humantime_serde")]
    pub health_timeout: Duration,
    /// Consecutive failed probes before a restart. Default 3.
    #[serde(default = "default_health_failures")]
    pub health_failures: u32,
    /// Lines of output kept per module for `logs`. Default 1000.
    #[serde(default = "default_log_buffer_lines")]
    pub log_buffer_lines: usize,
    /// Output lines per second copied into the supervisor's log per module; beyond it lines
    /// are counted and summarised (they stay in the ring buffer). Default 200.
    #[serde(default = "default_log_rate")]
    pub log_lines_per_second: u32,
    /// Sandbox profile: `strict` (default), `relaxed` (strict plus network) or `none`.
    #[serde(default)]
    pub sandbox: crate::sandbox::spec::Profile,
    /// Memory limit, e.g. `"512MiB"`, `"2GiB"` or `"unlimited"`. Default `"512MiB"`.
    #[serde(default = "default_memory")]
    pub memory: String,
    /// Most processes and threads; 0 = unlimited. Default 256.
    #[serde(default = "default_pids")]
    pub pids: u64,
    /// CPU limit in CPUs, e.g. 0.5; absent = unlimited.
    #[serde(default)]
    pub cpu: Option<f64>,
    /// Most open files. Default 4096.
    #[serde(default = "default_open_files")]
    pub open_files: u64,
    /// Extra host paths every sandboxed module may read and execute (interpreters installed
    /// outside /usr, shared libraries).
    #[serde(default)]
    pub read_only_paths: Vec<PathBuf>,
    /// Longest delay between restarts of a module in a crash loop (more than 5 crashes within
    /// 60 s); it keeps being restarted at this pace until it stays up. Default `5m`.
    #[serde(default = "default_crash_loop_backoff", with = "humantime_serde")]
    pub crash_loop_backoff: Duration,
    /// Optional protocol features not offered to modules (`work.batch`, `host.stream`), e.g.
    /// to rule one out while investigating a module. Default: none (every feature offered).
    #[serde(default)]
    pub disabled_features: Vec<String>,
}

fn default_crash_loop_backoff() -> Duration {
    Duration::from_secs(300)
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            restart: default_restart(),
            start_timeout: default_start_timeout(),
            stop_grace: default_stop_grace(),
            health_interval: default_health_interval(),
            health_timeout: default_health_timeout(),
            health_failures: default_health_failures(),
            log_buffer_lines: default_log_buffer_lines(),
            log_lines_per_second: default_log_rate(),
            sandbox: Default::default(),
            memory: default_memory(),
            pids: default_pids(),
            cpu: None,
            open_files: default_open_files(),
            read_only_paths: Vec::new(),
            crash_loop_backoff: default_crash_loop_backoff(),
            disabled_features: Vec::new(),
        }
    }
}

fn default_memory() -> String {
    "512MiB".into()
}
fn default_pids() -> u64 {
    256
}
fn default_open_files() -> u64 {
    4096
}

fn default_restart() -> RestartPolicy {
    RestartPolicy::Always
}
fn default_start_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_stop_grace() -> Duration {
    Duration::from_secs(10)
}
fn default_health_interval() -> Duration {
    Duration::from_secs(10)
}
fn default_health_timeout() -> Duration {
    Duration::from_secs(1)
}
fn default_health_failures() -> u32 {
    3
}
fn default_log_buffer_lines() -> usize {
    1000
}
fn default_log_rate() -> u32 {
    200
}

/// One `[[modules]]` entry. Unset optional fields inherit `[defaults]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleConfig {
    /// Workspace the module belongs to, e.g. `ws_abc123`.
    pub workspace: String,
    /// Module name; must equal the name in the module's manifest.
    pub name: String,
    /// Executable to run (absolute, relative to the config file, or looked up in `PATH`).
    pub command: String,
    /// Arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables (the rest of the environment is scrubbed).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory (default: the config file's directory).
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    /// Restart policy.
    #[serde(default)]
    pub restart: Option<RestartPolicy>,
    /// Spawn → Ready limit.
    #[serde(default, with = "humantime_serde")]
    pub start_timeout: Option<Duration>,
    /// Time between the Shutdown call and SIGKILL.
    #[serde(default, with = "humantime_serde")]
    pub stop_grace: Option<Duration>,
    /// Health probe period.
    #[serde(default, with = "humantime_serde")]
    pub health_interval: Option<Duration>,
    /// Health probe timeout.
    #[serde(default, with = "humantime_serde")]
    pub health_timeout: Option<Duration>,
    /// Consecutive failed probes before a restart.
    #[serde(default)]
    pub health_failures: Option<u32>,
    /// Set to false to keep the module configured but not started.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Sandbox profile (`strict`, `relaxed`, `none`).
    #[serde(default)]
    pub sandbox: Option<crate::sandbox::spec::Profile>,
    /// Memory limit, e.g. `"256MiB"` or `"unlimited"`.
    #[serde(default)]
    pub memory: Option<String>,
    /// Most processes and threads; 0 = unlimited.
    #[serde(default)]
    pub pids: Option<u64>,
    /// CPU limit in CPUs.
    #[serde(default)]
    pub cpu: Option<f64>,
    /// Most open files.
    #[serde(default)]
    pub open_files: Option<u64>,
    /// Extra host paths this module may read and execute, added to `[defaults]`'s.
    #[serde(default)]
    pub read_only_paths: Vec<PathBuf>,
    /// Longest delay between restarts in a crash loop.
    #[serde(default, with = "humantime_serde")]
    pub crash_loop_backoff: Option<Duration>,
    /// Protocol features not offered to this module; replaces `[defaults]`'s list.
    #[serde(default)]
    pub disabled_features: Option<Vec<String>>,
    /// Instances of the module (each its own sandboxed process). Default 1.
    #[serde(default)]
    pub replicas: Option<u32>,
}

fn default_true() -> bool {
    true
}
