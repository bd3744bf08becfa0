//! Serving a module: [`ServeOptions`], [`serve`] (for embedding and tests) and [`run`] (the
//! `main` of a module binary).

use std::path::{Path, PathBuf};
use std::time::Duration;

use convotic_proto::env;
use convotic_proto::plugin::v1::plugin_server::PluginServer;
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::Server;

use crate::context::host::{Host, MAX_MESSAGE_BYTES};
use crate::context::Identity;
use crate::dispatch::Dispatcher;
use crate::error::SdkError;
use crate::logging;
use crate::module::{ConvoticModule, Sdk};
use crate::registry::Registry;
use crate::service::{PluginService, DEFAULT_GRACE};
use crate::shutdown::Lifecycle;

/// Environment variable overriding the number of runtime worker threads of [`run`].
pub const THREADS_ENV: &str = "CONVOTIC_SDK_THREADS";

/// Worker threads of [`run`] unless [`THREADS_ENV`] says otherwise.
pub const DEFAULT_THREADS: usize = 2;

/// How long connections get to close after the server stops before [`serve`] returns anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Where and how to serve a module.
///
/// [`ServeOptions::from_env`] reads what the supervisor passes (CONVOTIC_PLUGIN_SOCKET,
/// CONVOTIC_HOST_SOCKET, CONVOTIC_PLUGIN_TOKEN, CONVOTIC_WORKSPACE, CONVOTIC_INSTANCE) and
/// handles SIGTERM/SIGINT; [`ServeOptions::new`] starts from a socket path alone (no host,
/// no signal handling), for tests and embedding:
///
/// ```
/// use convotic_plugin_sdk::ServeOptions;
/// use std::time::Duration;
///
/// let options = ServeOptions::new("/tmp/module.sock")
///     .host_socket("/tmp/host.sock")
///     .token("secret")
///     .host_timeout(Duration::from_secs(5));
/// assert_eq!(options.plugin_socket(), std::path::Path::new("/tmp/module.sock"));
/// ```
#[derive(Debug, Clone)]
pub struct ServeOptions {
    plugin_socket: PathBuf,
    host_socket: Option<PathBuf>,
    token: Option<String>,
    workspace: String,
    instance: String,
    handle_signals: bool,
    signal_grace: Duration,
    host_timeout: Duration,
}

impl ServeOptions {
    /// Serve on `plugin_socket`, without a host connection and without signal handling.
    pub fn new(plugin_socket: impl Into<PathBuf>) -> Self {
        ServeOptions {
            plugin_socket: plugin_socket.into(),
            host_socket: None,
            token: None,
            workspace: String::new(),
            instance: String::new(),
            handle_signals: false,
            signal_grace: DEFAULT_GRACE,
            host_timeout: Duration::from_secs(10),
        }
    }

    /// The options the supervisor passes in the environment; SIGTERM and SIGINT drain and stop
    /// the module. Fails with [`SdkError::NotStartedBySupervisor`] when CONVOTIC_PLUGIN_SOCKET
    /// is not set.
    pub fn from_env() -> Result<Self, SdkError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let socket = var(env::PLUGIN_SOCKET).ok_or(SdkError::NotStartedBySupervisor)?;
        let mut options = ServeOptions::new(socket).handle_signals(true);
        options.host_socket = var(env::HOST_SOCKET).map(PathBuf::from);
        options.token = var(env::PLUGIN_TOKEN);
        options.workspace = var(env::WORKSPACE).unwrap_or_default();
        options.instance = var(env::INSTANCE).unwrap_or_default();
        Ok(options)
    }

    /// The socket the module listens on.
    pub fn plugin_socket(&self) -> &Path {
        &self.plugin_socket
    }

    /// Connect `ctx` to the host services on this socket.
    #[must_use]
    pub fn host_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.host_socket = Some(path.into());
        self
    }

    /// The token sent as `x-convotic-plugin-token` on every host call.
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The workspace reported by [`crate::Context::workspace`] when a call does not name one.
    #[must_use]
    pub fn workspace(mut self, workspace: impl Into<String>) -> Self {
        self.workspace = workspace.into();
        self
    }

    /// The instance id reported by [`crate::Context::instance`].
    #[must_use]
    pub fn instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = instance.into();
        self
    }

    /// Whether SIGTERM and SIGINT drain the module and stop it (a second signal stops it at
    /// once).
    #[must_use]
    pub fn handle_signals(mut self, handle: bool) -> Self {
        self.handle_signals = handle;
        self
    }

    /// How long in-flight work may run after SIGTERM/SIGINT (default 10 s).
    #[must_use]
    pub fn signal_grace(mut self, grace: Duration) -> Self {
        self.signal_grace = grace;
        self
    }

    /// Default timeout of one host call (default 10 s).
    #[must_use]
    pub fn host_timeout(mut self, timeout: Duration) -> Self {
        self.host_timeout = timeout;
        self
    }
}

/// Removes a stale socket file and listens on `path`.
fn bind(path: &Path) -> Result<UnixListener, SdkError> {
    let listen_error = |source| SdkError::Listen {
        path: path.display().to_string(),
        source,
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(listen_error(err)),
    }
    UnixListener::bind(path).map_err(listen_error)
}

/// Warns about registrations without a handler: their calls will fail.
fn warn_missing_handlers(sdk: &Sdk) {
    let mut missing = Vec::new();
    missing.extend(
        sdk.routes
            .iter()
            .filter(|r| r.handler.is_none())
            .map(|r| format!("route {}", r.label())),
    );
    missing.extend(
        sdk.workers
            .iter()
            .filter(|w| w.handler.is_none())
            .map(|w| format!("worker {}", w.effective_name())),
    );
    missing.extend(
        sdk.nodes
            .iter()
            .filter(|n| n.handler.is_none())
            .map(|n| format!("node {}", n.node_type)),
    );
    for block in &sdk.blocks {
        missing.extend(
            block
                .actions
                .iter()
                .filter(|a| a.handler.is_none())
                .map(|a| format!("action {} of block {}", a.name, block.id)),
        );
    }
    missing.extend(
        sdk.crons
            .iter()
            .filter(|c| c.handler.is_none())
            .map(|c| format!("cron {}", c.name)),
    );
    for what in missing {
        logging::emit(
            "warn",
            &format!("{what} has no handler: its calls will fail"),
            serde_json::Value::Null,
        );
    }
}

/// SIGTERM/SIGINT: drain (up to `grace`), then stop; a second signal stops at once.
async fn watch_signals(
    lifecycle: std::sync::Arc<Lifecycle>,
    mut term: Signal,
    mut int: Signal,
    grace: Duration,
) {
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        () = lifecycle.stopped() => return,
    };
    logging::emit(
        "info",
        &format!("received {name}: draining"),
        serde_json::json!({"in_flight": lifecycle.in_flight()}),
    );
    tokio::select! {
        _ = lifecycle.drain(grace) => {}
        _ = term.recv() => {}
        _ = int.recv() => {}
        () = lifecycle.stopped() => {}
    }
    lifecycle.request_stop();
}

/// Serves `module` until it is stopped (by the `Shutdown` RPC or, with signal handling, by
/// SIGTERM/SIGINT). Returns `Ok(())` after a graceful stop.
pub async fn serve<M: ConvoticModule>(module: M, options: ServeOptions) -> Result<(), SdkError> {
    let sdk = Sdk::of(&module);
    warn_missing_handlers(&sdk);
    let host = match &options.host_socket {
        Some(path) => Host::connect(path.clone(), options.token.as_deref(), options.host_timeout)?,
        None => Host::detached(),
    };
    let identity = Identity {
        module: module.name().to_string(),
        workspace: options.workspace.clone(),
        instance: options.instance.clone(),
    };
    let dispatcher = Dispatcher::new(Registry::new(sdk), host, identity);

    let (health, health_service) = tonic_health::server::health_reporter();
    let lifecycle = Lifecycle::new(Some(health));
    let service = PluginService::new(
        dispatcher,
        lifecycle.clone(),
        module.name(),
        module.version(),
    );
    let plugin = PluginServer::new(service)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);

    if options.handle_signals {
        let term = signal(SignalKind::terminate())?;
        let int = signal(SignalKind::interrupt())?;
        tokio::spawn(watch_signals(
            lifecycle.clone(),
            term,
            int,
            options.signal_grace,
        ));
    }

    let listener = bind(&options.plugin_socket)?;
    lifecycle.set_serving().await;
    logging::emit(
        "info",
        "serving",
        serde_json::json!({
            "module": module.name(),
            "version": module.version(),
            "socket": options.plugin_socket.display().to_string(),
        }),
    );

    let stop = {
        let lifecycle = lifecycle.clone();
        async move { lifecycle.stopped().await }
    };
    let server = Server::builder()
        .add_service(health_service)
        .add_service(plugin)
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), stop);
    tokio::pin!(server);
    let result = tokio::select! {
        result = &mut server => result,
        () = lifecycle.stopped() => {
            // Give open connections a moment to close, then return regardless.
            tokio::time::timeout(CLOSE_TIMEOUT, &mut server).await.unwrap_or(Ok(()))
        }
    };
    let _ = std::fs::remove_file(&options.plugin_socket);
    result?;
    logging::emit("info", "stopped", serde_json::Value::Null);
    Ok(())
}

/// Worker threads for [`run`]: [`THREADS_ENV`] if set to a positive number, else 2.
fn worker_threads() -> usize {
    match std::env::var(THREADS_ENV) {
        Err(_) => DEFAULT_THREADS,
        Ok(value) => match value.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                logging::emit(
                    "warn",
                    &format!("ignoring {THREADS_ENV}={value:?}: not a positive number"),
                    serde_json::Value::Null,
                );
                DEFAULT_THREADS
            }
        },
    }
}

/// Whether the process was started by the supervisor (CONVOTIC_PLUGIN_SOCKET is set). A module
/// that checks its own configuration before [`run`] should check this first, so that started
/// by hand it explains how to run it rather than complaining about its configuration.
pub fn started_by_supervisor() -> bool {
    std::env::var_os(env::PLUGIN_SOCKET).is_some_and(|v| !v.is_empty())
}

/// Runs `module` as the supervisor expects: serves it on the socket named by
/// CONVOTIC_PLUGIN_SOCKET with a multi-thread tokio runtime (2 worker threads unless
/// CONVOTIC_SDK_THREADS says otherwise), then exits the process: 0 after a graceful stop, 1 on
/// error. Started by hand (no CONVOTIC_PLUGIN_SOCKET), it prints one line explaining how to
/// run it and exits with 2.
pub fn run<M: ConvoticModule>(module: M) -> ! {
    let options = match ServeOptions::from_env() {
        Ok(options) => options,
        Err(SdkError::NotStartedBySupervisor) => {
            eprintln!(
                "{} is a Convotic module: it is started by the Convotic supervisor, not by hand \
                 (CONVOTIC_PLUGIN_SOCKET is not set). Add it to a config's [[modules]] and run: \
                 convotic-supervisor run --config <file>",
                module.name()
            );
            std::process::exit(2);
        }
        Err(err) => fail(&err),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads())
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => fail(&SdkError::Io(err)),
    };
    let result = runtime.block_on(serve(module, options));
    // The runtime is not dropped: a handler stuck in blocking code must not keep the
    // process alive. `exit` flushes stdout.
    match result {
        Ok(()) => std::process::exit(0),
        Err(err) => fail(&err),
    }
}

fn fail(err: &SdkError) -> ! {
    logging::emit("error", &err.to_string(), serde_json::Value::Null);
    std::process::exit(1);
}
