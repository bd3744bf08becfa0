//! One module instance: spawn, handshake to Ready, health probes, graceful stop, kill.
//!
//! An instance is one start of a module process. It owns the child (the spawn helper that
//! contains the module's whole process tree), its private runtime directory with the two
//! sockets, the Host server on the host socket, and, once ready, the work lanes.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use convotic_proto::plugin::v1::plugin_client::PluginClient;
use convotic_proto::plugin::v1::{Manifest, ShutdownRequest};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use tokio::process::Child;
use tokio::time::Instant;
use tonic::transport::Channel;

use super::context::Context;
use super::ModuleHandle;
use crate::config::ModuleSpec;
use crate::host::{HostIdentity, HostServer};
use crate::process::{logs, InstanceDir, LogSink, SpawnRequest, Stream};
use crate::protocol::{self, HandshakeError, ManifestError, WorkClient};

/// Why an instance did not become ready.
#[derive(Debug)]
pub enum StartError {
    /// The process could not be started at all.
    Spawn(String),
    /// The process exited before it was ready.
    Exited {
        /// How it exited.
        status: ExitStatus,
    },
    /// The start timeout passed; `stage` says what was still awaited.
    Timeout {
        /// What the supervisor was waiting for.
        stage: String,
    },
    /// The manifest broke the rules: restarting would not help.
    Manifest(ManifestError),
    /// The handshake failed (Describe error, protocol version).
    Handshake(HandshakeError),
    /// What stood at the module's socket, or what answered there, is not the module: a link,
    /// a FIFO, or a process outside the instance.
    Socket(String),
}

impl StartError {
    /// Whether restarting cannot help (the module must be fixed or redeployed).
    pub fn is_permanent(&self) -> bool {
        match self {
            StartError::Manifest(_) | StartError::Handshake(HandshakeError::Version { .. }) => true,
            StartError::Exited { status } => {
                status.code() == Some(convotic_proto::EXIT_DO_NOT_RESTART)
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Spawn(e) => write!(f, "could not start the process: {e}"),
            StartError::Exited { status } => {
                write!(
                    f,
                    "the process {} before it was ready",
                    describe_exit(*status)
                )
            }
            StartError::Timeout { stage } => {
                write!(f, "not ready within the start timeout: {stage}")
            }
            StartError::Manifest(e) => write!(f, "{e}"),
            StartError::Handshake(e) => write!(f, "handshake failed: {e}"),
            StartError::Socket(why) => write!(f, "{why}"),
        }
    }
}

/// What a ready instance announced.
pub struct Ready {
    /// The validated manifest.
    pub manifest: Manifest,
    /// Negotiated protocol version.
    pub protocol_version: u32,
    /// The features in use: announced by the module and offered by the supervisor.
    pub features: Vec<String>,
    /// Its work lanes.
    pub work: WorkClient,
    /// Spawn → Ready.
    pub elapsed: Duration,
}

/// A started module process.
pub struct Instance {
    /// Instance id, e.g. `i3k9x0q2m7a` (random).
    pub id: String,
    /// Pid of the spawn helper (leader of the instance's process group).
    pub helper_pid: i32,
    child: Child,
    exit: Option<ExitStatus>,
    spawned_at: Instant,
    channel: Option<Channel>,
    work: Option<WorkClient>,
    dir: InstanceDir,
    _host: HostServer,
    /// The stdout/stderr readers; awaited after exit so the last lines are in the buffer.
    pumps: Vec<tokio::task::JoinHandle<()>>,
    /// The instance's cgroup (memory, pids, cpu limits), if it has one.
    cgroup: Option<crate::sandbox::cgroup::InstanceCgroup>,
    /// A memory limit no cgroup enforces: the supervisor polls the tree's RSS against it.
    polled_memory_limit: Option<u64>,
    /// The module's host uid under a sandbox (`None` for profile `none`).
    sandbox_uid: Option<u32>,
    /// The supervisor's end of the helper's control socket, where the sandbox report arrives
    /// (`None` without a sandbox, or once read).
    control: Option<tokio::net::UnixStream>,
}

/// How long, after readiness, the sandbox report may take to arrive (it is sent before the
/// module's `exec`, so it is normally there already).
const REPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// How often a stopping instance checks whether its in-flight work has finished.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// How long to wait, after an exit, for the output readers to reach end of file.
const DRAIN_OUTPUT: Duration = Duration::from_millis(500);

impl Instance {
    /// Spawns the module (through the spawn helper) with its runtime dir and Host server.
    pub async fn spawn(
        module: &ModuleHandle,
        spec: &ModuleSpec,
        ctx: &Context,
    ) -> Result<Self, StartError> {
        let spawned_at = Instant::now();
        let id = ctx.next_instance_id();
        let spawn_error = |e: std::io::Error| StartError::Spawn(e.to_string());
        let dir = ctx.runtime.instance_dir(&id).map_err(spawn_error)?;
        let token = random_token();
        let sink = Arc::new(LogSink::new(
            Arc::clone(&module.logs),
            &spec.workspace,
            &spec.name,
            &id,
            spec.log_lines_per_second,
        ));
        let identity = HostIdentity {
            workspace: spec.workspace.clone(),
            module: spec.name.clone(),
            instance: id.clone(),
        };
        let host = HostServer::start(
            &dir.host_socket,
            token.clone(),
            identity,
            Arc::clone(&sink),
            ctx.store.clone(),
        )
        .await
        .map_err(spawn_error)?;
        host.allow_stream(
            !spec
                .disabled_features
                .iter()
                .any(|f| f == convotic_proto::names::FEATURE_HOST_STREAM),
        );
        let data_dir = ctx.module_data_dir(spec).map_err(spawn_error)?;
        let preparing = Instant::now();
        let prepared =
            super::sandboxing::prepare(spec, &ctx.cgroups, &ctx.data_dir, &dir, &data_dir, &id)
                .map_err(|e| StartError::Spawn(format!("sandbox: {e}")))?;
        tracing::debug!(
            module = %spec.name,
            instance = %id,
            "sandbox prepared in {:.2} ms",
            preparing.elapsed().as_secs_f64() * 1000.0
        );
        let polled_memory_limit = match &prepared.spec {
            Some(sandbox) if !sandbox.cgroup_memory => sandbox.limits.memory_bytes,
            _ => None,
        };
        let sandbox_uid = prepared.spec.as_ref().map(|s| s.uid);
        let env = super::env::module_env(spec, &dir, &token, &id, &data_dir);
        let spawned = ctx
            .spawner
            .spawn(SpawnRequest {
                command: spec.command.clone(),
                args: spec.args.clone(),
                env,
                working_dir: spec.working_dir.clone(),
                sandbox: prepared.spec,
            })
            .await
            .map_err(|e| StartError::Spawn(format!("{}: {e}", spec.command.display())))?;
        let mut child = spawned.child;
        let control = if sandbox_uid.is_some() {
            spawned
                .control
                .set_nonblocking(true)
                .and_then(|()| tokio::net::UnixStream::from_std(spawned.control))
                .map_err(spawn_error)
                .map(Some)?
        } else {
            None
        };
        let helper_pid = child.id().map(|p| p as i32).unwrap_or(0);
        let mut pumps = Vec::with_capacity(2);
        if let Some(stdout) = child.stdout.take() {
            pumps.push(tokio::spawn(logs::pump(
                stdout,
                Stream::Stdout,
                Arc::clone(&sink),
            )));
        }
        if let Some(stderr) = child.stderr.take() {
            pumps.push(tokio::spawn(logs::pump(
                stderr,
                Stream::Stderr,
                Arc::clone(&sink),
            )));
        }
        Ok(Self {
            id,
            helper_pid,
            child,
            exit: None,
            spawned_at,
            channel: None,
            work: None,
            dir,
            _host: host,
            pumps,
            cgroup: prepared.cgroup,
            polled_memory_limit,
            sandbox_uid,
            control,
        })
    }

    /// Connects, waits for health SERVING, calls Describe, validates the manifest and opens
    /// the work lanes, all within the start timeout; fails early if the process exits.
    pub async fn handshake(&mut self, spec: &ModuleSpec) -> Result<Ready, StartError> {
        let deadline = self.spawned_at + spec.start_timeout;
        let stage = std::sync::Mutex::new(String::from(
            "the module never listened on its socket (CONVOTIC_PLUGIN_SOCKET)",
        ));
        let set_stage = |s: &str| *stage.lock().unwrap_or_else(|e| e.into_inner()) = s.to_string();
        let socket = protocol::ModuleSocket {
            dir: std::sync::Arc::clone(&self.dir.dir_fd),
            name: crate::process::runtime_dir::PLUGIN_SOCKET_NAME.to_string(),
            display: self.dir.plugin_socket.clone(),
            check: super::peer::instance_peer(self.helper_pid, self.sandbox_uid),
        };
        let name = spec.name.clone();
        let handshake = async {
            let channel = protocol::connect(&socket, deadline)
                .await
                .map_err(|e| match e {
                    protocol::ConnectError::Refused(why) => Some(StartError::Socket(why)),
                    protocol::ConnectError::NotListening(_) => None,
                })?;
            set_stage("connected, but health never reported SERVING");
            protocol::wait_serving(channel.clone(), deadline)
                .await
                .map_err(|e| {
                    set_stage(&format!("connected, but {e}"));
                    None
                })?;
            set_stage("health SERVING, but Describe did not answer");
            let remaining = deadline.saturating_duration_since(Instant::now());
            let described = protocol::describe(channel.clone(), remaining, &spec.disabled_features)
                .await
                .map_err(|e| Some(StartError::Handshake(e)))?;
            let manifest = described.manifest.unwrap_or_default();
            protocol::validate_manifest(&manifest, &name)
                .map_err(|e| Some(StartError::Manifest(e)))?;
            set_stage("manifest valid, but the work lanes were not accepted");
            let agreed = protocol::agreed_features(&described.features, &spec.disabled_features);
            let has = |f: &str| agreed.iter().any(|x| x == f);
            let lanes = if has(convotic_proto::names::FEATURE_LANES) {
                2
            } else {
                1
            };
            let cancel = has(convotic_proto::names::FEATURE_CANCEL);
            let batch = has(convotic_proto::names::FEATURE_BATCH);
            let work = WorkClient::open(
                channel.clone(),
                lanes,
                manifest.max_in_flight,
                cancel,
                batch,
                deadline,
            )
            .await
            .map_err(|e| {
                set_stage(&format!("manifest valid, but {e}"));
                None
            })?;
            Ok::<_, Option<StartError>>((
                channel,
                work,
                manifest,
                described.protocol_version,
                agreed,
            ))
        };
        let result = tokio::select! {
            result = tokio::time::timeout_at(deadline, handshake) => result,
            status = self.child.wait() => {
                let status = status.map_err(|e| StartError::Spawn(e.to_string()))?;
                self.exit = Some(status);
                self.drain_output().await;
                return Err(StartError::Exited { status });
            }
        };
        let timeout = || StartError::Timeout {
            stage: stage.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        };
        match result {
            Ok(Ok((channel, work, manifest, protocol_version, features))) => {
                self.channel = Some(channel);
                self.work = Some(work.clone());
                Ok(Ready {
                    manifest,
                    protocol_version,
                    features,
                    work,
                    elapsed: self.spawned_at.elapsed(),
                })
            }
            Ok(Err(Some(error))) => Err(error),
            Ok(Err(None)) | Err(_) => Err(timeout()),
        }
    }

    /// The module's own pid (below the helper), if it can be found.
    pub fn module_pid(&self) -> Option<i32> {
        crate::process::tree::module_pid(self.helper_pid)
    }

    /// Waits for the process to exit.
    pub async fn wait(&mut self) -> ExitStatus {
        if let Some(status) = self.exit {
            return status;
        }
        let status = self
            .child
            .wait()
            .await
            .unwrap_or_else(|_| ExitStatus::from_raw(libc::SIGKILL));
        self.exit = Some(status);
        self.drain_output().await;
        status
    }

    /// Whether its memory cgroup recorded an OOM kill.
    pub fn oom_killed(&self) -> bool {
        self.cgroup
            .as_ref()
            .is_some_and(|group| group.oom_kills() > 0)
    }

    /// How the instance ended: [`describe_exit`], or "was killed: out of memory (limit N MiB)"
    /// when its memory cgroup recorded an OOM kill.
    pub fn describe_end(&self, status: ExitStatus) -> String {
        if let Some(group) = self.cgroup.as_ref().filter(|_| self.oom_killed()) {
            let limit = group
                .memory_limit()
                .map(|b| format!(" (limit {} MiB)", b >> 20))
                .unwrap_or_default();
            return format!("was killed: out of memory{limit}");
        }
        describe_exit(status)
    }

    /// The memory limit the supervisor enforces by polling (no memory cgroup), if any.
    pub fn polled_memory_limit(&self) -> Option<u64> {
        self.polled_memory_limit
    }

    /// Resident memory of the instance's whole process tree (helper, init, module, children).
    pub fn tree_rss(&self) -> u64 {
        if self.helper_pid <= 0 {
            return 0;
        }
        std::iter::once(self.helper_pid)
            .chain(crate::process::tree::descendants_of(self.helper_pid))
            .filter_map(crate::process::tree::rss_bytes)
            .sum()
    }

    /// What the sandbox of this instance consists of, as the spawn helper reported it on its
    /// control socket (read once, without blocking a thread, capped and time-limited; never a
    /// file of the module-writable runtime dir). `None` without a sandbox.
    pub async fn sandbox_report(&mut self) -> Option<crate::sandbox::report::SandboxReport> {
        let mut control = self.control.take()?;
        let result = crate::process::control::read_frame(
            &mut control,
            crate::process::control::MAX_REPORT_BYTES,
            REPORT_TIMEOUT,
        )
        .await
        .and_then(|frame| serde_json::from_slice(&frame).map_err(|e| e.to_string()));
        match result {
            Ok(report) => Some(report),
            Err(e) => {
                tracing::warn!(instance = %self.id, "no sandbox report from the spawn helper: {e}");
                None
            }
        }
    }

    /// Waits (briefly) until the output readers have read everything the process wrote, so
    /// an exit reason can quote its last stderr lines.
    async fn drain_output(&mut self) {
        let pumps = std::mem::take(&mut self.pumps);
        let _ = tokio::time::timeout(DRAIN_OUTPUT, futures::future::join_all(pumps)).await;
    }

    /// One health probe.
    pub async fn probe(&self, timeout: Duration) -> Result<(), String> {
        match &self.channel {
            Some(channel) => protocol::probe(channel.clone(), timeout).await,
            None => Err("not connected".into()),
        }
    }

    /// Stops the instance within `grace`: no new work, the work already taken finishes,
    /// `Shutdown` RPC,
    /// SIGTERM to the process tree, and SIGKILL to the whole tree when the grace period ends.
    /// Returns how it ended, for the log.
    pub async fn stop(&mut self, grace: Duration, reason: &str) -> String {
        if let Some(status) = self.exit {
            return format!("already {}", describe_exit(status));
        }
        let deadline = Instant::now() + grace;
        // Keep part of the grace period for SIGTERM when Shutdown hangs.
        let reserve = (grace / 4).min(Duration::from_secs(2));
        let shutdown_deadline = deadline - reserve;
        if let Some(work) = self.work.clone() {
            work.stop_accepting();
            // What was already taken finishes before Shutdown, so nothing reaches the module
            // after it (new work goes to the instance that replaced this one, if any).
            let drained = async {
                while work.in_flight() > 0 {
                    tokio::time::sleep(DRAIN_POLL).await;
                }
            };
            tokio::select! {
                status = self.child.wait() => {
                    self.exit = status.ok();
                    return "exited while draining".into();
                }
                _ = tokio::time::timeout_at(shutdown_deadline, drained) => {}
            }
        }
        if let Some(channel) = self.channel.clone() {
            let mut client = PluginClient::new(channel);
            let mut request = tonic::Request::new(ShutdownRequest {
                grace_ms: shutdown_deadline
                    .saturating_duration_since(Instant::now())
                    .as_millis() as u32,
                reason: reason.to_string(),
            });
            request.set_timeout(shutdown_deadline.saturating_duration_since(Instant::now()));
            let shutdown = tokio::time::timeout_at(shutdown_deadline, client.shutdown(request));
            tokio::select! {
                status = self.child.wait() => {
                    self.exit = status.ok();
                    return "exited during Shutdown".into();
                }
                _ = shutdown => {}
            }
            if let Some(work) = &self.work {
                work.close_lanes();
            }
            // A module exits by itself right after answering Shutdown.
            let settle = (Instant::now() + Duration::from_secs(1))
                .min(shutdown_deadline.max(Instant::now()));
            if let Ok(status) = tokio::time::timeout_at(settle, self.child.wait()).await {
                self.exit = status.ok();
                return "exited after Shutdown".into();
            }
        }
        self.signal(Signal::SIGTERM);
        if let Ok(status) = tokio::time::timeout_at(deadline, self.child.wait()).await {
            self.exit = status.ok();
            return "exited after SIGTERM".into();
        }
        self.kill().await;
        format!("killed with SIGKILL after the {grace:?} grace period")
    }

    /// SIGKILL to the whole process tree, then reaps the helper.
    pub async fn kill(&mut self) {
        if self.exit.is_some() {
            return;
        }
        if self.helper_pid > 0 {
            let _ = killpg(Pid::from_raw(self.helper_pid), Signal::SIGKILL);
            let _ = kill(Pid::from_raw(self.helper_pid), Signal::SIGKILL);
        }
        if let Ok(status) = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            self.exit = status.ok();
        }
    }

    fn signal(&self, signal: Signal) {
        if self.helper_pid > 0 && self.exit.is_none() {
            let _ = kill(Pid::from_raw(self.helper_pid), signal);
        }
    }
}

/// "exited with code 3", "killed by SIGKILL".
pub fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        if code == convotic_proto::EXIT_DO_NOT_RESTART {
            return format!("exited with code {code} (EX_CONFIG: do not restart)");
        }
        return format!("exited with code {code}");
    }
    match status.signal() {
        Some(signal) => match Signal::try_from(signal) {
            Ok(name) => format!("was killed by {name}"),
            Err(_) => format!("was killed by signal {signal}"),
        },
        None => "exited".into(),
    }
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(group) = self.cgroup.take() {
            // Kills whatever is left in it (nothing, normally: the PID namespace is gone) and
            // removes the group: a few rmdir calls, done here so nothing is left behind when
            // the supervisor exits right after.
            if let Err(e) = group.remove() {
                tracing::warn!("cgroup of instance {} not removed: {e}", self.id);
            }
        }
    }
}
