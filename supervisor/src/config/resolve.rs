//! Loading, checking and resolving the configuration into ready-to-use module specs.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::model::{Config, ModuleConfig, RestartPolicy};
pub use crate::names::{is_module_name, is_workspace_id};

/// Why a configuration could not be used. Messages name the file, entry and field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TOML syntax error, unknown key or wrong type (toml's message names the key and line).
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A value is well-formed TOML but not acceptable.
    #[error("invalid config file {path}: {entry}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The entry, e.g. `modules[2] (ws_demo/hello)`.
        entry: String,
        /// What was wrong and how to fix it.
        message: String,
    },
}

/// A module ready to run: every default applied and every path absolute.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleSpec {
    /// Workspace id.
    pub workspace: String,
    /// Module name.
    pub name: String,
    /// Absolute path of the executable.
    pub command: PathBuf,
    /// Arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Absolute working directory.
    pub working_dir: PathBuf,
    /// Restart policy.
    pub restart: RestartPolicy,
    /// Spawn → Ready limit.
    pub start_timeout: Duration,
    /// Shutdown → SIGKILL.
    pub stop_grace: Duration,
    /// Health probe period.
    pub health_interval: Duration,
    /// Health probe timeout.
    pub health_timeout: Duration,
    /// Failed probes before restart.
    pub health_failures: u32,
    /// Ring buffer size in lines.
    pub log_buffer_lines: usize,
    /// Lines per second copied into the supervisor's log.
    pub log_lines_per_second: u32,
    /// Whether to start it.
    pub enabled: bool,
    /// Sandbox profile.
    pub sandbox: crate::sandbox::spec::Profile,
    /// Resource limits.
    pub limits: crate::sandbox::spec::ResourceLimits,
    /// Extra read-only paths (absolute).
    pub read_only_paths: Vec<PathBuf>,
    /// Optional protocol features not offered to the module.
    pub disabled_features: Vec<String>,
    /// Whether `working_dir` was configured (only then is it exposed to a sandboxed module).
    pub working_dir_configured: bool,
    /// Longest delay between restarts in a crash loop.
    pub crash_loop_backoff: Duration,
    /// Where the module comes from: the config file or a deployment.
    pub source: ModuleSource,
    /// The deployed package's directory (read-only to the module even though it lies in the
    /// data dir); None for modules of the config file.
    pub package_dir: Option<PathBuf>,
    /// Instances of the module (1 to 32).
    pub replicas: u32,
}

/// Where a module's spec comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ModuleSource {
    /// A `[[modules]]` entry of the config file.
    #[default]
    Config,
    /// A deployed package.
    Deployment {
        /// The deployment id.
        id: String,
        /// The package's version.
        version: String,
    },
}

impl ModuleSource {
    /// `config`, or `deployment <id>`.
    pub fn label(&self) -> String {
        match self {
            ModuleSource::Config => "config".into(),
            ModuleSource::Deployment { id, .. } => format!("deployment {id}"),
        }
    }

    /// The package's version, for a deployed module.
    pub fn version(&self) -> Option<&str> {
        match self {
            ModuleSource::Config => None,
            ModuleSource::Deployment { version, .. } => Some(version),
        }
    }
}

/// The module's list of features not offered, checked against the supervisor's features.
fn disabled_features(
    module: &super::model::ModuleConfig,
    defaults: &super::model::Defaults,
) -> Result<Vec<String>, String> {
    let list = module
        .disabled_features
        .clone()
        .unwrap_or_else(|| defaults.disabled_features.clone());
    let known = crate::protocol::OPTIONAL_FEATURES;
    if let Some(unknown) = list.iter().find(|f| !known.contains(&f.as_str())) {
        return Err(format!(
            "disabled_features: {unknown:?} is not an optional protocol feature (one of {})",
            known.join(", ")
        ));
    }
    Ok(list)
}

impl ModuleSpec {
    /// `workspace/name`, the module's identity in logs and errors.
    pub fn key(&self) -> String {
        format!("{}/{}", self.workspace, self.name)
    }
}

/// The configuration with paths resolved.
#[derive(Debug, Clone)]
pub struct ResolvedConfig {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// `[server]` as written (limits and timeouts of the HTTP gateway).
    pub server: super::model::ServerConfig,
    /// `[nats]`, when workers use NATS JetStream.
    pub nats: Option<super::model::NatsConfig>,
    /// `[workers]`.
    pub workers: super::model::WorkersConfig,
    /// `[delivery]`.
    pub delivery: super::model::DeliveryConfig,
    /// Absolute data dir.
    pub data_dir: PathBuf,
    /// Parent of per-instance runtime dirs.
    pub runtime_dir: PathBuf,
    /// Modules, in file order.
    pub modules: Vec<ModuleSpec>,
    /// Absolute key directory of connection secrets.
    pub key_dir: PathBuf,
    /// The configured active key id, if set.
    pub active_key: Option<String>,
    /// `[supervisor] cgroups`.
    pub cgroups: bool,
    /// `[defaults]`, for modules deployed later.
    pub defaults: super::model::Defaults,
    /// `[runtimes]`.
    pub runtimes: super::model::Runtimes,
    /// `[deployments]`.
    pub deployments: super::model::DeploymentsConfig,
    /// The PostgreSQL store's URL (from `store.url` or `store.url_env`); `None` = SQLite.
    pub store_url: Option<String>,
    /// `[store] max_connections`.
    pub store_max_connections: usize,
    /// `[cluster]`.
    pub cluster: super::model::ClusterConfig,
}

/// Reads and resolves a config file, checking that every module's command, working dir and
/// read-only paths exist (what `run` and `check-config` need).
pub fn load(path: &Path) -> Result<ResolvedConfig, ConfigError> {
    load_checked(path, HostChecks::Modules)
}

/// Reads and resolves a config file for the CLI commands that only need to find the
/// supervisor, its data dir and keys (`ps`, `logs`, `restart`...): a module whose binary,
/// working dir or read-only path is missing on this host is not an error for them.
pub fn load_for_clients(path: &Path) -> Result<ResolvedConfig, ConfigError> {
    load_checked(path, HostChecks::Skip)
}

/// Whether resolving checks that the modules' files exist on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostChecks {
    Modules,
    Skip,
}

fn load_checked(path: &Path, checks: HostChecks) -> Result<ResolvedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    parse_checked(&text, path, &base, checks)
}

/// Parses and resolves config text; `base` is the directory relative paths are resolved from.
pub fn parse(text: &str, path: &Path, base: &Path) -> Result<ResolvedConfig, ConfigError> {
    parse_checked(text, path, base, HostChecks::Modules)
}

fn parse_checked(
    text: &str,
    path: &Path,
    base: &Path,
    checks: HostChecks,
) -> Result<ResolvedConfig, ConfigError> {
    let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let base = absolute(base);
    let invalid = |entry: String, message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        entry,
        message,
    };
    let data_dir = join(&base, &config.supervisor.data_dir);
    let runtime_dir = match &config.supervisor.runtime_dir {
        Some(dir) => join(&base, dir),
        None => std::env::temp_dir(),
    };
    // Socket path: <runtime_dir>/cvt-XXXXXX/iNNNNNN/plugin.sock must stay below 108 bytes.
    if runtime_dir.as_os_str().len() > 70 {
        return Err(invalid(
            "supervisor.runtime_dir".into(),
            format!(
                "{} is {} bytes long; Unix socket paths must stay under 108 bytes, so use a \
                 runtime_dir of at most 70 bytes (e.g. /tmp or /run/convotic)",
                runtime_dir.display(),
                runtime_dir.as_os_str().len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    let mut modules = Vec::with_capacity(config.modules.len());
    for (index, module) in config.modules.iter().enumerate() {
        let entry = format!("modules[{index}] ({}/{})", module.workspace, module.name);
        check_identity(module).map_err(|m| invalid(entry.clone(), m))?;
        if !seen.insert((module.workspace.clone(), module.name.clone())) {
            return Err(invalid(
                entry,
                "a module with this workspace and name is configured twice".into(),
            ));
        }
        let spec = resolve_module(module, &config, &base, checks)
            .map_err(|m| invalid(entry.clone(), m))?;
        check_working_dir_apart_from_data(&spec, &data_dir).map_err(|m| invalid(entry, m))?;
        modules.push(spec);
    }
    if config.server.max_body_bytes == 0 || config.server.route_timeout.is_zero() {
        return Err(invalid(
            "server".into(),
            "max_body_bytes and route_timeout must be greater than 0".into(),
        ));
    }
    check_listener_limits(&config.server).map_err(|m| invalid("server".into(), m))?;
    check_delivery(&config.delivery).map_err(|m| invalid("delivery".into(), m))?;
    if let Some(nats) = &config.nats {
        check_nats(nats).map_err(|(entry, m)| invalid(entry, m))?;
    }
    if config.deployments.keep == 0 {
        return Err(invalid(
            "deployments.keep".into(),
            "must be at least 1 (the active package is always kept); default 5".into(),
        ));
    }
    let key_dir = match &config.secrets.key_dir {
        Some(dir) => join(&base, dir),
        None => data_dir.join("keys"),
    };
    if let Some(id) = &config.secrets.active_key {
        if !crate::secrets::is_key_id(id) {
            return Err(invalid(
                "secrets.active_key".into(),
                format!("{id:?} is not a key id: use 1-64 of [A-Za-z0-9_-]"),
            ));
        }
    }
    let store_url = resolve_store_url(&config).map_err(|(entry, m)| invalid(entry, m))?;
    Ok(ResolvedConfig {
        store_url,
        store_max_connections: config.store.max_connections,
        cluster: check_cluster(&config.cluster).map_err(|(entry, m)| invalid(entry, m))?,
        key_dir,
        active_key: config.secrets.active_key.clone(),
        cgroups: config.supervisor.cgroups,
        listen: config.server.listen,
        server: config.server.clone(),
        nats: config.nats.clone(),
        workers: config.workers.clone(),
        delivery: config.delivery.clone(),
        data_dir,
        runtime_dir,
        modules,
        defaults: config.defaults.clone(),
        runtimes: config.runtimes.clone(),
        deployments: config.deployments.clone(),
    })
}

/// `[cluster]`, checked: a node id is 1-128 of `[A-Za-z0-9._:-]`, an address an http(s) URL.
fn check_cluster(
    cluster: &super::model::ClusterConfig,
) -> Result<super::model::ClusterConfig, (String, String)> {
    if let Some(id) = &cluster.node_id {
        let valid = !id.is_empty()
            && id.len() <= 128
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
        if !valid {
            return Err((
                "cluster.node_id".into(),
                format!("{id:?}: use 1-128 of [A-Za-z0-9._:-], e.g. \"node-1\""),
            ));
        }
    }
    if let Some(address) = &cluster.advertise {
        if !(address.starts_with("http://") || address.starts_with("https://"))
            || address.len() > 256
        {
            return Err((
                "cluster.advertise".into(),
                format!(
                    "{address:?}: use the URL of this node's listener, e.g. http://10.0.0.5:8080"
                ),
            ));
        }
    }
    Ok(cluster.clone())
}

/// The PostgreSQL URL of `[store]`, checked: `url` or `url_env` (not both), a `postgres://`
/// URL, and `[nats]` configured (the embedded queue keeps worker messages in one supervisor's
/// SQLite file, which a cluster cannot share). Errors name the entry.
fn resolve_store_url(config: &Config) -> Result<Option<String>, (String, String)> {
    let store = &config.store;
    let url = match (&store.url, &store.url_env) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => return Err(("store".into(), "set url or url_env, not both".into())),
        (Some(url), None) => url.clone(),
        (None, Some(name)) => std::env::var(name).map_err(|_| {
            (
                "store.url_env".into(),
                format!("environment variable {name} is not set (it must hold the PostgreSQL URL)"),
            )
        })?,
    };
    let entry = if store.url.is_some() {
        "store.url"
    } else {
        "store.url_env"
    };
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err((
            entry.into(),
            "only PostgreSQL is supported: postgres://user@host:5432/database (leave [store] \
             out to keep records in SQLite in the data dir)"
                .into(),
        ));
    }
    if store.max_connections == 0 {
        return Err((
            "store.max_connections".into(),
            "must be at least 1; default 16".into(),
        ));
    }
    if config.nats.is_none() {
        return Err((
            entry.into(),
            "a PostgreSQL store needs [nats]: the embedded queue keeps worker messages in one \
             supervisor's SQLite file, which other supervisors cannot see; add [nats] url = \
             \"nats://...\" (NATS JetStream) or leave [store] out"
                .into(),
        ));
    }
    Ok(Some(url))
}

/// A sandboxed module never sees the supervisor's data dir (other modules' data, keys, the
/// database), so a configured `working_dir` that holds it (or lies inside it) would not be
/// mounted and the module could not open its own files: refuse that configuration.
fn check_working_dir_apart_from_data(spec: &ModuleSpec, data_dir: &Path) -> Result<(), String> {
    use crate::sandbox::spec::{is_within, Profile};
    if spec.sandbox == Profile::None || !spec.working_dir_configured {
        return Ok(());
    }
    let module_data = data_dir
        .join("modules")
        .join(&spec.workspace)
        .join(&spec.name);
    let working_dir = &spec.working_dir;
    if is_within(data_dir, working_dir) {
        return Err(format!(
            "working_dir {} contains the supervisor's data_dir {} (and so the module's data dir {}): \
             a sandboxed module is never shown the supervisor's data, so this working_dir would not be \
             mounted and the module could not open its own files. Put the module's files in a \
             directory of their own and point working_dir there, or move [supervisor] data_dir \
             out of {}",
            working_dir.display(),
            data_dir.display(),
            module_data.display(),
            working_dir.display()
        ));
    }
    if is_within(working_dir, data_dir) {
        return Err(format!(
            "working_dir {} is inside the supervisor's data_dir {}: a sandboxed module is never \
             shown the supervisor's data, so this working_dir would not be mounted. Keep the \
             module's files outside the data dir (its own data dir {} is mounted for it anyway)",
            working_dir.display(),
            data_dir.display(),
            module_data.display()
        ));
    }
    Ok(())
}

fn check_identity(module: &ModuleConfig) -> Result<(), String> {
    if !is_workspace_id(&module.workspace) {
        return Err(format!(
            "workspace {:?} is not a workspace id: use ws_ followed by 1-60 of [a-z0-9_], e.g. ws_abc123",
            module.workspace
        ));
    }
    if !is_module_name(&module.name) {
        return Err(format!(
            "name {:?} is not a module name: use 1-64 of [a-z0-9-], starting with a letter",
            module.name
        ));
    }
    Ok(())
}

/// Resolves one module entry with `defaults` (relative paths against `base`), checking its
/// files exist: what a deployed package's manifest goes through.
pub fn resolve_module_entry(
    module: &ModuleConfig,
    defaults: &super::model::Defaults,
    base: &Path,
) -> Result<ModuleSpec, String> {
    check_identity(module)?;
    resolve_with(module, defaults, base, HostChecks::Modules)
}

fn resolve_module(
    module: &ModuleConfig,
    config: &Config,
    base: &Path,
    checks: HostChecks,
) -> Result<ModuleSpec, String> {
    resolve_with(module, &config.defaults, base, checks)
}

fn resolve_with(
    module: &ModuleConfig,
    d: &super::model::Defaults,
    base: &Path,
    checks: HostChecks,
) -> Result<ModuleSpec, String> {
    let working_dir = module
        .working_dir
        .as_ref()
        .map(|w| join(base, w))
        .unwrap_or_else(|| base.to_path_buf());
    let check_host = checks == HostChecks::Modules;
    if check_host && !working_dir.is_dir() {
        return Err(format!(
            "working_dir {} does not exist or is not a directory",
            working_dir.display()
        ));
    }
    let command = match resolve_command(&module.command, base) {
        Ok(command) => command,
        Err(e) if check_host => return Err(e),
        Err(_) if module.command.contains('/') => join(base, Path::new(&module.command)),
        Err(_) => PathBuf::from(&module.command),
    };
    for key in module.env.keys() {
        if key.starts_with("CONVOTIC_") {
            return Err(format!(
                "env key {key} is reserved: CONVOTIC_* variables are set by the supervisor"
            ));
        }
    }
    let memory_text = module.memory.as_deref().unwrap_or(&d.memory);
    let memory_bytes = parse_memory(memory_text)?;
    let cpu = module.cpu.or(d.cpu);
    if let Some(cpu) = cpu {
        if !(0.01..=1024.0).contains(&cpu) {
            return Err(format!("cpu {cpu} must be between 0.01 and 1024 (CPUs)"));
        }
    }
    let pids = module.pids.unwrap_or(d.pids);
    let limits = crate::sandbox::spec::ResourceLimits {
        memory_bytes,
        pids: (pids > 0).then_some(pids),
        cpu_millis: cpu.map(|c| (c * 1000.0).round() as u64),
        open_files: module.open_files.unwrap_or(d.open_files).max(64),
        ..Default::default()
    };
    let mut read_only_paths = Vec::new();
    for path in d.read_only_paths.iter().chain(&module.read_only_paths) {
        let path = join(base, path);
        if check_host && !path.exists() {
            return Err(format!(
                "read_only_paths: {} does not exist",
                path.display()
            ));
        }
        read_only_paths.push(path);
    }
    let spec = ModuleSpec {
        sandbox: module.sandbox.unwrap_or(d.sandbox),
        limits,
        read_only_paths,
        working_dir_configured: module.working_dir.is_some(),
        workspace: module.workspace.clone(),
        name: module.name.clone(),
        command,
        args: module.args.clone(),
        env: module.env.clone(),
        working_dir,
        restart: module.restart.unwrap_or(d.restart),
        start_timeout: module.start_timeout.unwrap_or(d.start_timeout),
        stop_grace: module.stop_grace.unwrap_or(d.stop_grace),
        health_interval: module.health_interval.unwrap_or(d.health_interval),
        health_timeout: module.health_timeout.unwrap_or(d.health_timeout),
        health_failures: module.health_failures.unwrap_or(d.health_failures).max(1),
        log_buffer_lines: d.log_buffer_lines.max(10),
        log_lines_per_second: d.log_lines_per_second,
        enabled: module.enabled,
        crash_loop_backoff: module.crash_loop_backoff.unwrap_or(d.crash_loop_backoff),
        disabled_features: disabled_features(module, d)?,
        source: ModuleSource::Config,
        package_dir: None,
        replicas: module.replicas.unwrap_or(1),
    };
    if !(1..=crate::names::MAX_REPLICAS).contains(&spec.replicas) {
        return Err(format!(
            "replicas {} must be between 1 and {}",
            spec.replicas,
            crate::names::MAX_REPLICAS
        ));
    }
    if spec.crash_loop_backoff < Duration::from_secs(1) {
        return Err(format!(
            "crash_loop_backoff {} is too short: use at least 1s (default 5m)",
            humantime::format_duration(spec.crash_loop_backoff)
        ));
    }
    for (field, value) in [
        ("start_timeout", spec.start_timeout),
        ("health_interval", spec.health_interval),
        ("health_timeout", spec.health_timeout),
    ] {
        if value.is_zero() {
            return Err(format!("{field} must be greater than 0"));
        }
    }
    // Upper bounds: every wait stays bounded and no deadline arithmetic can overflow.
    for (field, value, most) in [
        (
            "start_timeout",
            spec.start_timeout,
            Duration::from_secs(600),
        ),
        ("stop_grace", spec.stop_grace, Duration::from_secs(600)),
        (
            "health_interval",
            spec.health_interval,
            Duration::from_secs(86_400),
        ),
        (
            "health_timeout",
            spec.health_timeout,
            Duration::from_secs(600),
        ),
        (
            "crash_loop_backoff",
            spec.crash_loop_backoff,
            Duration::from_secs(7 * 86_400),
        ),
    ] {
        if value > most {
            return Err(format!(
                "{field} {} is too long: at most {}",
                humantime::format_duration(value),
                humantime::format_duration(most)
            ));
        }
    }
    Ok(spec)
}

/// Parses a memory size: `"unlimited"`, a number of bytes, or a number with `KiB`, `MiB`,
/// `GiB` (or `K`, `M`, `G`, `KB`, `MB`, `GB`, all powers of 1024).
pub fn parse_memory(text: &str) -> Result<Option<u64>, String> {
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let bad =
        || format!("memory {text:?} is not a size: use e.g. \"256MiB\", \"2GiB\" or \"unlimited\"");
    let number: u64 = number.parse().map_err(|_| bad())?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    let bytes = number.checked_mul(factor).ok_or_else(bad)?;
    if bytes < 16 << 20 {
        return Err(format!(
            "memory {text:?} is below 16MiB, too little for any module to start"
        ));
    }
    Ok(Some(bytes))
}

/// Resolves a command: a path with a `/` is taken relative to `base`; a bare name is searched
/// in `PATH`. The result must be an executable file.
fn resolve_command(command: &str, base: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    if command.is_empty() {
        return Err("command is empty".into());
    }
    let candidates: Vec<PathBuf> = if command.contains('/') {
        vec![join(base, Path::new(command))]
    } else {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).map(|d| d.join(command)).collect())
            .unwrap_or_default()
    };
    for candidate in &candidates {
        if let Ok(meta) = std::fs::metadata(candidate) {
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return Ok(candidate.clone());
            }
            if meta.is_file() {
                return Err(format!(
                    "command {} is not executable (chmod +x it)",
                    candidate.display()
                ));
            }
        }
    }
    if command.contains('/') {
        Err(format!(
            "command {} does not exist (relative commands are resolved against the config file's directory; build the module first?)",
            candidates[0].display()
        ))
    } else {
        Err(format!("command {command:?} was not found in PATH"))
    }
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

fn join(base: &Path, path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    normalize(&joined)
}

/// Removes `.` and resolves `..` lexically (no symlink resolution).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Bounds of `[nats]`: `replicas` between 1 and 5 (JetStream's own limit).
fn check_nats(nats: &super::model::NatsConfig) -> Result<(), (String, String)> {
    if !(1..=5).contains(&nats.replicas) {
        return Err((
            "nats.replicas".into(),
            format!(
                "{}: must be between 1 and 5 (JetStream's limit); use 1 on a single NATS server, \
                 3 on a cluster of three",
                nats.replicas
            ),
        ));
    }
    Ok(())
}

/// The listener's timeouts and limits must all be positive, and one response must fit in the
/// response buffer.
/// Bounds of `[delivery]`: every wait finite, every count positive.
fn check_delivery(delivery: &super::model::DeliveryConfig) -> Result<(), String> {
    const DAY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
    if !(1..=100).contains(&delivery.max_attempts) {
        return Err("max_attempts must be between 1 and 100".into());
    }
    if !(1..=1024).contains(&delivery.concurrency) {
        return Err("concurrency must be between 1 and 1024".into());
    }
    if delivery.retry_base.is_zero() || delivery.retry_max < delivery.retry_base {
        return Err("retry_base must be greater than 0 and retry_max at least retry_base".into());
    }
    if delivery.retry_max > DAY {
        return Err("retry_max must be at most 24h".into());
    }
    if delivery.attempt_timeout.is_zero()
        || delivery.attempt_timeout > std::time::Duration::from_secs(600)
    {
        return Err("attempt_timeout must be between 1ms and 10m".into());
    }
    Ok(())
}

fn check_listener_limits(server: &super::model::ServerConfig) -> Result<(), String> {
    let timeouts = [
        ("header_read_timeout", server.header_read_timeout),
        ("idle_timeout", server.idle_timeout),
        ("body_read_timeout", server.body_read_timeout),
    ];
    if let Some((name, _)) = timeouts.iter().find(|(_, t)| t.is_zero()) {
        return Err(format!("{name} must be greater than 0"));
    }
    if server.max_connections == 0 || server.http2_max_concurrent_streams == 0 {
        return Err(
            "max_connections and http2_max_concurrent_streams must be greater than 0".into(),
        );
    }
    if server.max_response_bytes == 0
        || server.max_response_bytes > crate::protocol::MAX_MESSAGE_BYTES as u64
    {
        return Err(format!(
            "max_response_bytes must be between 1 and {} (the protocol's message limit)",
            crate::protocol::MAX_MESSAGE_BYTES
        ));
    }
    if server.response_buffer_bytes < server.max_response_bytes {
        return Err(format!(
            "response_buffer_bytes ({}) must be at least max_response_bytes ({})",
            server.response_buffer_bytes, server.max_response_bytes
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<ResolvedConfig, ConfigError> {
        parse(text, Path::new("test.toml"), Path::new("/"))
    }

    #[test]
    fn empty_config_uses_defaults() {
        let config = parse_str("").unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.data_dir, PathBuf::from("/data"));
        assert!(config.modules.is_empty());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = parse_str("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("lisen"), "{message}");
    }

    #[test]
    fn nats_replicas_default_to_one_and_stay_within_jetstream_limits() {
        let nats = |extra: &str| format!("[nats]\nurl = \"nats://127.0.0.1:4222\"\n{extra}");
        let config = parse_str(&nats("")).unwrap();
        assert_eq!(config.nats.unwrap().replicas, 1);
        let config = parse_str(&nats("replicas = 3\n")).unwrap();
        assert_eq!(config.nats.unwrap().replicas, 3);
        for bad in ["replicas = 0\n", "replicas = 6\n"] {
            let message = parse_str(&nats(bad)).unwrap_err().to_string();
            assert!(
                message.contains("nats.replicas") && message.contains("between 1 and 5"),
                "{message}"
            );
        }
    }

    #[test]
    fn disabled_features_default_and_override_and_unknown_names() {
        let module = |extra: &str| {
            format!(
                "[[modules]]\nworkspace = \"ws_a\"\nname = \"m\"\ncommand = \"/bin/true\"\n{extra}"
            )
        };
        let inherit = format!(
            "[defaults]\ndisabled_features = [\"work.batch\"]\n{}",
            module("")
        );
        let config = parse_str(&inherit).unwrap();
        assert_eq!(config.modules[0].disabled_features, vec!["work.batch"]);
        let overridden = format!(
            "[defaults]\ndisabled_features = [\"work.batch\"]\n{}",
            module("disabled_features = []\n")
        );
        assert!(parse_str(&overridden).unwrap().modules[0]
            .disabled_features
            .is_empty());
        let message = parse_str(&module("disabled_features = [\"work.cancel\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("\"work.cancel\" is not an optional protocol feature")
                && message.contains("work.batch")
                && message.contains("ws_a/m"),
            "{message}"
        );
    }

    #[test]
    fn unknown_module_key_is_named() {
        let text = "[[modules]]\nworkspace = \"ws_a\"\nname = \"m\"\ncommand = \"/bin/true\"\nrestrat = \"never\"\n";
        let message = parse_str(text).unwrap_err().to_string();
        assert!(message.contains("restrat"), "{message}");
    }

    #[test]
    fn module_defaults_and_overrides() {
        let text = "[defaults]\nstop_grace = \"3s\"\n[[modules]]\nworkspace = \"ws_a\"\nname = \"m\"\ncommand = \"true\"\nrestart = \"on-failure\"\nstart_timeout = \"250ms\"\n";
        let config = parse_str(text).unwrap();
        let m = &config.modules[0];
        assert_eq!(m.restart, RestartPolicy::OnFailure);
        assert_eq!(m.start_timeout, Duration::from_millis(250));
        assert_eq!(m.stop_grace, Duration::from_secs(3));
        assert_eq!(m.health_failures, 3);
        assert_eq!(m.crash_loop_backoff, Duration::from_secs(300));
        let text = "[defaults]\ncrash_loop_backoff = \"1m\"\n[[modules]]\nworkspace = \"ws_a\"\nname = \"m\"\ncommand = \"true\"\n[[modules]]\nworkspace = \"ws_a\"\nname = \"n\"\ncommand = \"true\"\ncrash_loop_backoff = \"2s\"\n";
        let config = parse_str(text).unwrap();
        assert_eq!(
            config.modules[0].crash_loop_backoff,
            Duration::from_secs(60)
        );
        assert_eq!(config.modules[1].crash_loop_backoff, Duration::from_secs(2));
        let text = "[defaults]\ncrash_loop_backoff = \"10ms\"\n[[modules]]\nworkspace = \"ws_a\"\nname = \"m\"\ncommand = \"true\"\n";
        let message = parse_str(text).unwrap_err().to_string();
        assert!(message.contains("crash_loop_backoff"), "{message}");
        assert!(m.command.is_absolute());
    }

    #[test]
    fn bad_names_and_duplicates_are_rejected() {
        let bad_ws = "[[modules]]\nworkspace = \"abc\"\nname = \"m\"\ncommand = \"true\"\n";
        assert!(parse_str(bad_ws)
            .unwrap_err()
            .to_string()
            .contains("modules[0]"));
        let bad_name =
            "[[modules]]\nworkspace = \"ws_a\"\nname = \"Hello World\"\ncommand = \"true\"\n";
        assert!(parse_str(bad_name)
            .unwrap_err()
            .to_string()
            .contains("module name"));
        let dup = "[[modules]]\nworkspace = \"ws_a\"\nname = \"m\"\ncommand = \"true\"\n[[modules]]\nworkspace = \"ws_a\"\nname = \"m\"\ncommand = \"true\"\n";
        assert!(parse_str(dup)
            .unwrap_err()
            .to_string()
            .contains("modules[1]"));
    }

    #[test]
    fn missing_command_is_explained() {
        let text = "[[modules]]\nworkspace = \"ws_a\"\nname = \"m\"\ncommand = \"./nope/bin\"\n";
        let message = parse_str(text).unwrap_err().to_string();
        assert!(message.contains("does not exist"), "{message}");
    }

    #[test]
    fn clients_load_a_config_whose_module_binary_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let text = "[supervisor]\ndata_dir = \"d\"\n[[modules]]\nworkspace = \"ws_a\"\nname = \"m\"\ncommand = \"./gone/bin\"\nworking_dir = \"gone\"\n";
        std::fs::write(&path, text).unwrap();
        let message = load(&path).unwrap_err().to_string();
        assert!(message.contains("does not exist"), "{message}");
        let config = load_for_clients(&path).unwrap();
        assert_eq!(config.data_dir, dir.path().join("d"));
        assert_eq!(config.modules[0].command, dir.path().join("gone/bin"));
    }

    #[test]
    fn reserved_env_is_rejected() {
        let text = "[[modules]]\nworkspace = \"ws_a\"\nname = \"m\"\ncommand = \"true\"\nenv = { CONVOTIC_PLUGIN_TOKEN = \"x\" }\n";
        assert!(parse_str(text)
            .unwrap_err()
            .to_string()
            .contains("reserved"));
    }

    #[test]
    fn a_working_dir_holding_the_data_dir_is_refused_for_sandboxed_modules() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::create_dir(base.join("app")).unwrap();
        let module = "[[modules]]\nworkspace = \"ws_a\"\nname = \"m\"\ncommand = \"/bin/true\"\n";
        let parse_in = |text: &str| parse(text, &base.join("c.toml"), base);
        // The data dir (./data) inside working_dir (.): refused, naming module and both paths.
        let text = format!("{module}working_dir = \".\"\n");
        let message = parse_in(&text).unwrap_err().to_string();
        assert!(message.contains("modules[0] (ws_a/m)"), "{message}");
        assert!(
            message.contains(&format!("working_dir {} contains", base.display())),
            "{message}"
        );
        assert!(
            message.contains(&base.join("data").display().to_string()),
            "{message}"
        );
        assert!(message.contains("would not be mounted"), "{message}");
        // working_dir inside the data dir: refused too.
        std::fs::create_dir_all(base.join("data/m")).unwrap();
        let text = format!("{module}working_dir = \"data/m\"\n");
        let message = parse_in(&text).unwrap_err().to_string();
        assert!(
            message.contains("is inside the supervisor's data_dir"),
            "{message}"
        );
        // A working_dir of its own, no working_dir, or no sandbox: accepted.
        parse_in(&format!("{module}working_dir = \"app\"\n")).unwrap();
        parse_in(module).unwrap();
        parse_in(&format!(
            "{module}working_dir = \".\"\nsandbox = \"none\"\n"
        ))
        .unwrap();
        let elsewhere =
            format!("[supervisor]\ndata_dir = \"/var/lib/x\"\n{module}working_dir = \".\"\n");
        parse_in(&elsewhere).unwrap();
    }
}
