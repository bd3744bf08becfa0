//! `convotic-supervisor run` and `check-config`.

use crate::supervision::reload::Reloader;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;

use tokio::signal::unix::{signal, SignalKind};

use super::discovery::{self, Endpoint};
use crate::config;
use crate::gateway::{self, admin_token, GatewayState};
use crate::process::Spawner;
use crate::store::Store;
use crate::supervision::{Context, Supervisor};

/// Log output: `--log-format json` (or `CONVOTIC_LOG_FORMAT=json`) for JSON lines, text
/// otherwise; level from `RUST_LOG` (default `info`).
fn init_tracing(format: Option<&str>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = match format {
        Some(format) => format == "json",
        None => std::env::var("CONVOTIC_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")),
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

/// Validates a config file and prints the modules it would run.
pub fn check_config(path: &Path) -> i32 {
    match config::load(path) {
        Ok(config) => {
            println!("{}: OK", path.display());
            println!("listen   {}", config.listen);
            println!("data_dir {}", config.data_dir.display());
            for m in &config.modules {
                let enabled = if m.enabled { "" } else { " (disabled)" };
                println!(
                    "module   {}/{} → {}{enabled}",
                    m.workspace,
                    m.name,
                    m.command.display()
                );
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// Runs the supervisor until SIGTERM or SIGINT.
pub fn run(path: &Path, log_format: Option<&str>) -> i32 {
    init_tracing(log_format);
    super::startup::install_panic_hook();
    super::startup::raise_open_file_limit();
    let config = match config::load(path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(serve(config, path)) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            1
        }
    }
}

async fn serve(config: config::ResolvedConfig, config_path: &Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    // Handled from the start: SIGHUP's default action would kill the supervisor.
    let mut hangup = signal(SignalKind::hangup())?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let admin_token = admin_token::load_or_create(&config.data_dir).with_context(|| {
        format!(
            "cannot create the admin token in {}",
            config.data_dir.display()
        )
    })?;
    let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| {
        format!(
            "cannot listen on {} (is another supervisor running? set [server] listen in the config)",
            config.listen
        )
    })?;
    let listen = listener.local_addr()?;
    let store = open_store(&config).await?;
    let bus = crate::bus::open(config.nats.as_ref(), &store)
        .await
        .context("cannot open the workers' message bus")?;
    tracing::info!(backend = bus.name(), "workers' message bus ready");
    let keyring = open_keyring(&config, &store).await?;
    let sweeper = store.start_sweeper();
    let spawner = Spawner::start(tokio::runtime::Handle::current())
        .context("cannot start the spawner thread")?;
    let ctx = Context::new(
        spawner,
        &config.runtime_dir,
        config.data_dir.clone(),
        store.clone(),
    )
    .with_context(|| {
        format!(
            "cannot create a runtime dir in {}",
            config.runtime_dir.display()
        )
    })?;
    let cgroups = if config.cgroups {
        crate::sandbox::cgroup::detect_host()
    } else {
        crate::sandbox::cgroup::Backend::None {
            reason: "disabled in the config ([supervisor] cgroups = false)".into(),
        }
    };
    match &cgroups {
        crate::sandbox::cgroup::Backend::None { reason } => tracing::warn!(
            "no cgroup available for module limits ({reason}); memory and process limits fall back to rlimits (see `convotic-supervisor doctor`)"
        ),
        other => {
            crate::sandbox::cgroup::cleanup_stale(other);
            tracing::info!(cgroups = other.kind(), "module resource limits through cgroups");
        }
    }
    let ctx = Arc::new(ctx.with_cgroups(cgroups));
    tracing::info!(
        modules = config.modules.len(),
        runtime_dir = %ctx.runtime.path().display(),
        "convotic-supervisor {} listening on http://{listen}",
        env!("CARGO_PKG_VERSION")
    );
    let supervisor = Supervisor::start(config.modules.clone(), Arc::clone(&ctx));
    let deployer = Arc::new(crate::deploy::Deployer::new(
        Arc::clone(&supervisor),
        store.clone(),
        &config.data_dir,
        crate::package::PackageSettings {
            defaults: config.defaults.clone(),
            runtimes: config.runtimes.clone(),
            policy: config.deployments.clone(),
        },
        config.deployments.keep,
    ));
    let node = node_identity(&config.cluster, listen);
    crate::supervision::membership::set_node_id(&node.id);
    match deployer.boot().await {
        Ok(0) => {}
        Ok(deployed) => {
            tracing::info!(deployed, "deployed modules started at their active version")
        }
        Err(e) => tracing::error!("cannot start the deployed modules: {e}"),
    }
    // Other nodes count this process live before its crons start (they spare its runs).
    tracing::info!(node = %node.id, address = %node.address, "cluster node");
    let heartbeat = crate::supervision::membership::Heartbeat::start(
        Arc::clone(&supervisor),
        store.clone(),
        node,
        Arc::clone(&keyring),
    )
    .await;
    crate::bus::dispatch::start(&supervisor, Arc::clone(&bus), config.workers.clone());
    let crons = crate::cron::start(&supervisor, store.clone(), Arc::clone(&bus));
    let integrations = Arc::new(crate::integrations::Integrations {
        supervisor: Arc::clone(&supervisor),
        store: store.clone(),
        keyring: Arc::clone(&keyring),
    });
    if let Some(client) = bus.nats_client() {
        crate::integrations::responder::start(Arc::clone(&integrations), client);
    }
    crate::delivery::start(
        store.clone(),
        Arc::new(crate::delivery::Targets::new(
            Arc::clone(&integrations),
            bus.nats_client(),
            config.delivery.allow_private_targets,
        )),
        config.delivery.clone(),
    );
    let reloader = Arc::new(Reloader::new(
        config_path.to_path_buf(),
        config.clone(),
        Arc::clone(&supervisor),
        store.clone(),
    ));
    deployer.set_reloader(Arc::clone(&reloader));
    deployer
        .join_cluster(bus.nats_client())
        .await
        .context("cannot read the cluster key from the store ([store] url)")?;
    let leaving = Arc::clone(&deployer);
    let state = Arc::new(GatewayState {
        supervisor: Arc::clone(&supervisor),
        admin_token,
        store,
        bus,
        crons,
        integrations,
        limits: gateway::Limits::from(&config.server),
        reloader: Arc::clone(&reloader),
        deployer,
        console: gateway::console::Console::new(&config.server),
        allow_private_targets: config.delivery.allow_private_targets,
    });
    gateway::console::start_sampler(Arc::clone(&supervisor));
    let (stop_gateway, gateway_stopped) = tokio::sync::oneshot::channel::<()>();
    let gateway = tokio::spawn(gateway::serve(listener, state, async {
        let _ = gateway_stopped.await;
    }));
    discovery::write_endpoint(&config.data_dir, &Endpoint::current(listen))
        .context("cannot write the discovery file")?;
    let longest_start = config
        .modules
        .iter()
        .map(|m| m.start_timeout)
        .max()
        .unwrap_or_default();
    super::systemd::ready_when_started(
        Arc::clone(&supervisor),
        longest_start + std::time::Duration::from_secs(5),
    );
    super::systemd::watchdog();

    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let which = loop {
        tokio::select! {
            _ = terminate.recv() => break "SIGTERM",
            _ = interrupt.recv() => break "SIGINT",
            _ = hangup.recv() => {
                tracing::info!("SIGHUP received: reloading {}", config_path.display());
                tokio::spawn(reload_and_log(Arc::clone(&reloader)));
            }
        }
    };
    tracing::info!("{which} received: stopping every module (send it again to kill them at once)");
    super::systemd::notify("STOPPING=1");
    leaving.leave_cluster();
    let shutdown = supervisor.shutdown();
    tokio::select! {
        _ = shutdown => {}
        _ = terminate.recv() => tracing::warn!("second signal: killing modules now"),
        _ = interrupt.recv() => tracing::warn!("second signal: killing modules now"),
    }
    heartbeat.leave().await;
    let _ = stop_gateway.send(());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), gateway).await;
    discovery::remove_endpoint(&config.data_dir);
    // Instances still alive (second signal) die with their Child handles (kill_on_drop) and
    // through PDEATHSIG when this process exits.
    drop(supervisor);
    ctx.cgroups.remove_parents();
    sweeper.abort();
    tracing::info!("stopped");
    Ok(())
}

/// This node's id and address: `[cluster]`, else `<hostname>:<port>` and the listen address
/// (the hostname when listening on every address).
fn node_identity(
    cluster: &crate::config::ClusterConfig,
    listen: std::net::SocketAddr,
) -> crate::supervision::membership::NodeIdentity {
    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let id = cluster
        .node_id
        .clone()
        .unwrap_or_else(|| format!("{hostname}:{}", listen.port()));
    let address = cluster.advertise.clone().unwrap_or_else(|| {
        if listen.ip().is_unspecified() {
            format!("http://{hostname}:{}", listen.port())
        } else {
            format!("http://{listen}")
        }
    });
    crate::supervision::membership::NodeIdentity {
        id,
        address,
        instance: crate::supervision::membership::instance_id(),
        started_at_ms: crate::store::util_now_ms(),
    }
}

/// Reloads the config (SIGHUP) and logs the outcome.
async fn reload_and_log(reloader: Arc<Reloader>) {
    match reloader.reload().await {
        Ok(report) => tracing::info!(
            added = ?report.added,
            removed = ?report.removed,
            changed = ?report.changed,
            needs_restart = ?report.needs_restart,
            unchanged = report.unchanged.len(),
            "configuration reloaded"
        ),
        Err(e) => tracing::error!("reload refused, nothing was changed: {e}"),
    }
}

/// Opens the store (`<data_dir>/convotic.db`, or `[store] url`; creating and migrating it) and
/// makes sure every workspace named in the config exists in it.
async fn open_store(config: &config::ResolvedConfig) -> anyhow::Result<Store> {
    // The message names the file or the server.
    let store = super::client::StoreLocation::of(config)
        .open()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut workspaces: Vec<&str> = config
        .modules
        .iter()
        .map(|m| m.workspace.as_str())
        .collect();
    workspaces.sort_unstable();
    workspaces.dedup();
    for workspace in workspaces {
        store.ensure_workspace(workspace).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot record workspace {workspace} in {}: {e}",
                store.location()
            )
        })?;
    }
    tracing::info!(database = %store.location(), "store open");
    let marker = store.is_shared().then(|| store.location());
    super::discovery::mark_postgres_store(&config.data_dir, marker.as_deref()).map_err(|e| {
        anyhow::anyhow!(
            "cannot write {} in {}: {e}",
            super::discovery::POSTGRES_MARKER,
            config.data_dir.display()
        )
    })?;
    Ok(store)
}

/// Opens (or creates) the key directory of connection secrets and warns about stored
/// connections whose key is missing.
async fn open_keyring(
    config: &config::ResolvedConfig,
    store: &Store,
) -> anyhow::Result<Arc<crate::secrets::Keyring>> {
    use anyhow::Context as _;
    let keyring =
        crate::secrets::Keyring::open_or_create(&config.key_dir, config.active_key.clone())
            .context("cannot open the secrets keys ([secrets] in the config)")?;
    let status = keyring.status();
    tracing::info!(dir = %status.dir, active = ?status.active, keys = status.keys.len(), "secrets keys loaded");
    match store.connection_key_usage().await {
        Ok(usage) => {
            for (id, count) in usage {
                if !id.is_empty() && !keyring.has_key(&id) {
                    tracing::error!(
                        key_id = %id,
                        connections = count,
                        dir = %status.dir,
                        "{count} block connection(s) are encrypted with key {id:?}, which is missing from the key directory: they cannot be used until {id}.key is restored"
                    );
                }
            }
        }
        Err(e) => tracing::warn!("cannot check which keys the stored connections use: {e}"),
    }
    Ok(Arc::new(keyring))
}
