//! The command line: `run` starts the supervisor; `ps`, `logs`, `restart`, `crons`, `deploy`,
//! `deployments` and `modules` talk to a running one through its admin API; `check-config` validates a config file; `workspaces` and `keys`
//! manage workspaces and their API keys in the data dir's database directly.

mod client;
mod crons;
mod deploy;
mod dev;
mod discovery;
mod doctor;
mod doctor_limits;
mod keys;
mod local;
mod reload;
mod remote;
mod run;
mod scaffold;
mod secrets;
mod startup;
mod systemd;
mod workspaces;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use discovery::{read_endpoint, Endpoint};

/// Runs Convotic Custom Modules as supervised, sandboxed processes.
#[derive(Debug, Parser)]
#[command(name = "convotic-supervisor", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the supervisor and every configured module; stops gracefully on SIGTERM/SIGINT.
    Run {
        /// The TOML configuration file (see docs/configuration.md).
        #[arg(long, short, env = "CONVOTIC_CONFIG")]
        config: PathBuf,
        /// Log lines as `text` (default) or `json` (also CONVOTIC_LOG_FORMAT); levels from
        /// RUST_LOG (default info).
        #[arg(long, value_parser = ["text", "json"])]
        log_format: Option<String>,
    },
    /// Check a configuration file and print what it would run.
    CheckConfig {
        /// The TOML configuration file.
        #[arg(long, short, env = "CONVOTIC_CONFIG")]
        config: PathBuf,
    },
    /// Show every module: state, pid, restarts, uptime, last error.
    Ps {
        #[command(flatten)]
        target: Target,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Every live node sharing this supervisor's store, each with its modules.
        #[arg(long)]
        cluster: bool,
    },
    /// Show a module's recent output (stdout, stderr, ctx.logger and lifecycle events).
    Logs {
        /// Module name.
        module: String,
        /// Workspace, when several have a module of that name.
        #[arg(long)]
        workspace: Option<String>,
        /// Number of lines.
        #[arg(long, short = 'n', default_value_t = 100)]
        lines: usize,
        /// Keep printing new lines.
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Re-read the config file of the running supervisor and apply what changed (added modules
    /// start, removed ones stop, changed ones are replaced without downtime); like SIGHUP.
    Reload {
        #[command(flatten)]
        target: Target,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Build (the package's [build] command), pack and upload a module package (a directory
    /// with convotic-module.toml) to the running supervisor and switch to it without downtime;
    /// prints the outcome (exit 0 only when the new version took over).
    Deploy {
        /// The workspace to deploy to.
        #[arg(long)]
        workspace: String,
        /// The package directory (default: the current directory).
        #[arg(default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        target: remote::RemoteTarget,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Do not run the package's [build] command first.
        #[arg(long)]
        no_build: bool,
    },
    /// Write a new module package (source, convotic-module.toml, README) in Rust, TypeScript or
    /// Python, ready to build and deploy.
    Init {
        /// The module name (1-64 of [a-z0-9-], starting with a letter).
        name: String,
        /// rust, typescript or python.
        #[arg(long)]
        lang: String,
        /// Where to write it (default ./NAME; must be empty or absent).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The SDKs' directory (default: CONVOTIC_SDK_DIR, or plugin-sdk/ of the checkout this
        /// binary was built in).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Run the package in DIR under a private supervisor, print its routes as curl lines, stream
    /// its output, and rebuild and switch to the new version on every change (Ctrl-C stops).
    #[command(args_conflicts_with_subcommands = true)]
    Dev {
        /// The package directory (default: the current directory).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The private supervisor's port.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        #[command(subcommand)]
        helper: Option<DevCommand>,
    },
    /// A deployed module's history; one deployment; rollback.
    Deployments {
        #[command(subcommand)]
        command: DeploymentsCommand,
    },
    /// Remove, disable or enable a deployed module.
    Modules {
        #[command(subcommand)]
        command: ModulesCommand,
    },
    /// Restart a module (also brings a failed module back).
    Restart {
        /// Module name.
        module: String,
        /// Workspace, when several have a module of that name.
        #[arg(long)]
        workspace: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// List crons and their next fire times, show a cron's runs, run one now.
    Crons {
        #[command(subcommand)]
        command: CronsCommand,
    },
    /// Create and list workspaces (in the data dir's database; works with or without a running
    /// supervisor).
    Workspaces {
        #[command(subcommand)]
        command: WorkspacesCommand,
    },
    /// Create, list and revoke a workspace's API keys (the `X-API-Key` header).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Which sandbox layers this host allows, which each running module got, and how to
    /// enable what is missing.
    Doctor {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// The keys that encrypt Block connection secrets: status, rotation, re-encryption.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
}

/// The helpers of a running `dev`.
#[derive(Debug, Subcommand)]
enum DevCommand {
    /// Publish a message (JSON payload) on one of the module's worker topics.
    Publish {
        /// The topic.
        topic: String,
        /// The payload, JSON.
        payload: String,
        /// The package directory.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Invoke one of the module's workflow nodes with a JSON input.
    Invoke {
        /// The node type.
        node_type: String,
        /// The input, JSON.
        input: String,
        /// The package directory.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Run one of the module's crons now.
    Cron {
        /// The cron name.
        name: String,
        /// The package directory.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Create a connection of one of the module's Blocks (its test runs) with a JSON config.
    Connect {
        /// The block id.
        block: String,
        /// The connection's config, JSON (secret fields included).
        config: String,
        /// The package directory.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Print a curl calling a signed webhook route (auth: false with the SDKs' signature
    /// middleware) with a valid signature of BODY.
    Sign {
        /// The route path, e.g. /webhook/external.
        route: String,
        /// The body, sent as is.
        body: String,
        /// The shared secret the route verifies with.
        #[arg(long, env = "CONVOTIC_WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        /// The method.
        #[arg(long, default_value = "POST")]
        method: String,
        /// The signature header.
        #[arg(long, default_value = "x-convotic-signature")]
        header: String,
        /// The package directory.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum DeploymentsCommand {
    /// A module's deployments, newest first.
    List {
        /// Module name.
        module: String,
        /// Its workspace.
        #[arg(long)]
        workspace: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: remote::RemoteTarget,
    },
    /// One deployment.
    Show {
        /// The deployment id (dep_...).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: remote::RemoteTarget,
    },
    /// Switch back to an earlier version (default: the newest kept one before the active).
    Rollback {
        /// Module name.
        module: String,
        /// Its workspace.
        #[arg(long)]
        workspace: String,
        /// The deployment to go back to.
        #[arg(long)]
        to: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: remote::RemoteTarget,
    },
}

#[derive(Debug, Subcommand)]
enum ModulesCommand {
    /// Stop a deployed module and remove it (its deployment history is kept).
    Remove {
        /// Module name.
        module: String,
        /// Its workspace.
        #[arg(long)]
        workspace: String,
        #[command(flatten)]
        target: remote::RemoteTarget,
    },
    /// Stop a deployed module and keep it stopped, across restarts too.
    Disable {
        /// Module name.
        module: String,
        /// Its workspace.
        #[arg(long)]
        workspace: String,
        #[command(flatten)]
        target: remote::RemoteTarget,
    },
    /// Start a disabled deployed module again.
    Enable {
        /// Module name.
        module: String,
        /// Its workspace.
        #[arg(long)]
        workspace: String,
        #[command(flatten)]
        target: remote::RemoteTarget,
    },
}

#[derive(Debug, Subcommand)]
enum SecretsCommand {
    /// The key directory, the active key, and how many connections each key encrypts.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Every live node sharing the store: the keys it holds, and those in use it lacks.
        #[arg(long)]
        cluster: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Generate a new key and make it the active one (old keys still decrypt).
    Rotate {
        #[command(flatten)]
        target: Target,
    },
    /// Re-encrypt every connection with the active key, so old keys can be deleted.
    Reencrypt {
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, Subcommand)]
enum CronsCommand {
    /// Every cron of every module: schedule, zone, next fire time, last run.
    List {
        /// Only this workspace.
        #[arg(long)]
        workspace: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// A cron's run history, newest first.
    Runs {
        /// Module name.
        module: String,
        /// Cron name.
        cron: String,
        /// Workspace, when several have a module of that name.
        #[arg(long)]
        workspace: Option<String>,
        /// Number of runs.
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: u32,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Run a cron now (obeys its overlap policy).
    Run {
        /// Module name.
        module: String,
        /// Cron name.
        cron: String,
        /// Workspace, when several have a module of that name.
        #[arg(long)]
        workspace: Option<String>,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, Subcommand)]
enum WorkspacesCommand {
    /// Create a workspace and print its id.
    Create {
        /// The id, `ws_` followed by 1-60 of [a-z0-9_] (default: generated).
        #[arg(long)]
        id: Option<String>,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// List every workspace.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create an API key and print it (shown only this once; stored hashed).
    Create {
        /// The workspace the key authenticates as.
        #[arg(long)]
        workspace: String,
        /// A label to recognise the key by.
        #[arg(long)]
        label: Option<String>,
        /// `routes` (default: the workspace's routes and APIs) or `deploy` (deployments of the
        /// workspace's modules only).
        #[arg(long, default_value = "routes", value_parser = ["routes", "deploy"])]
        scope: String,
        #[command(flatten)]
        target: Target,
    },
    /// List a workspace's keys (ids, labels, dates; never the keys themselves).
    List {
        /// The workspace.
        #[arg(long)]
        workspace: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Revoke a key; a running supervisor refuses it within 5 seconds.
    Revoke {
        /// The workspace.
        #[arg(long)]
        workspace: String,
        /// The key id (the 8 characters after `cvk_`, as `keys list` shows it).
        key_id: String,
        #[command(flatten)]
        target: Target,
    },
}

/// Which supervisor (data dir) a command is about.
#[derive(Debug, Args)]
pub struct Target {
    /// The supervisor's config file (its data dir locates the running supervisor and the
    /// database).
    #[arg(long, short, env = "CONVOTIC_CONFIG", conflicts_with = "data_dir")]
    config: Option<PathBuf>,
    /// The supervisor's data dir (default ./data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// Parses the command line and runs it; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config, log_format } => run::run(&config, log_format.as_deref()),
        Command::CheckConfig { config } => run::check_config(&config),
        Command::Ps {
            target,
            json,
            cluster: false,
        } => client::ps(&target, json),
        Command::Ps { target, json, .. } => client::ps_cluster(&target, json),
        Command::Logs {
            module,
            workspace,
            lines,
            follow,
            target,
        } => client::logs(&target, &module, workspace.as_deref(), lines, follow),
        Command::Reload { target, json } => reload::reload(&target, json),
        Command::Deploy {
            workspace,
            dir,
            target,
            json,
            no_build,
        } => deploy::deploy(&target, &workspace, &dir, json, !no_build),
        Command::Init {
            name,
            lang,
            dir,
            sdk,
        } => scaffold::init(&name, &lang, dir.as_deref(), sdk.as_deref()),
        Command::Dev {
            dir,
            port,
            helper: None,
        } => dev::dev(&dir, port),
        Command::Dev {
            helper: Some(helper),
            ..
        } => {
            use dev::helpers::Action;
            let (dir, action) = match helper {
                DevCommand::Publish {
                    topic,
                    payload,
                    dir,
                } => (dir, Action::Publish { topic, payload }),
                DevCommand::Invoke {
                    node_type,
                    input,
                    dir,
                } => (dir, Action::Invoke { node_type, input }),
                DevCommand::Cron { name, dir } => (dir, Action::Cron { name }),
                DevCommand::Connect { block, config, dir } => {
                    (dir, Action::Connect { block, config })
                }
                DevCommand::Sign {
                    route,
                    body,
                    secret,
                    method,
                    header,
                    dir,
                } => (
                    dir,
                    Action::Sign {
                        route,
                        body,
                        secret,
                        method,
                        header,
                    },
                ),
            };
            dev::helpers::run(&dir, action)
        }
        Command::Deployments { command } => match command {
            DeploymentsCommand::List {
                module,
                workspace,
                json,
                target,
            } => deploy::list(&target, &workspace, &module, json),
            DeploymentsCommand::Show { id, json, target } => deploy::show(&target, &id, json),
            DeploymentsCommand::Rollback {
                module,
                workspace,
                to,
                json,
                target,
            } => deploy::rollback(&target, &workspace, &module, to.as_deref(), json),
        },
        Command::Modules { command } => match command {
            ModulesCommand::Remove {
                module,
                workspace,
                target,
            } => deploy::change(&target, &workspace, &module, "remove"),
            ModulesCommand::Disable {
                module,
                workspace,
                target,
            } => deploy::change(&target, &workspace, &module, "disable"),
            ModulesCommand::Enable {
                module,
                workspace,
                target,
            } => deploy::change(&target, &workspace, &module, "enable"),
        },
        Command::Restart {
            module,
            workspace,
            target,
        } => client::restart(&target, &module, workspace.as_deref()),
        Command::Crons { command } => match command {
            CronsCommand::List {
                workspace,
                json,
                target,
            } => crons::list(&target, workspace.as_deref(), json),
            CronsCommand::Runs {
                module,
                cron,
                workspace,
                limit,
                json,
                target,
            } => crons::runs(&target, &module, &cron, workspace.as_deref(), limit, json),
            CronsCommand::Run {
                module,
                cron,
                workspace,
                target,
            } => crons::run(&target, &module, &cron, workspace.as_deref()),
        },
        Command::Workspaces { command } => match command {
            WorkspacesCommand::Create { id, name, target } => workspaces::create(&target, id, name),
            WorkspacesCommand::List { json, target } => workspaces::list(&target, json),
        },
        Command::Doctor { json, target } => doctor::doctor(&target, json),
        Command::Secrets { command } => match command {
            SecretsCommand::Status {
                json,
                target,
                cluster: false,
            } => secrets::status(&target, json),
            SecretsCommand::Status { json, target, .. } => secrets::status_cluster(&target, json),
            SecretsCommand::Rotate { target } => secrets::rotate(&target),
            SecretsCommand::Reencrypt { target } => secrets::reencrypt(&target),
        },
        Command::Keys { command } => match command {
            KeysCommand::Create {
                workspace,
                label,
                scope,
                target,
            } => {
                let scope = if scope == "deploy" {
                    crate::store::KeyScope::Deploy
                } else {
                    crate::store::KeyScope::Routes
                };
                keys::create(&target, workspace, label, scope)
            }
            KeysCommand::List {
                workspace,
                json,
                target,
            } => keys::list(&target, workspace, json),
            KeysCommand::Revoke {
                workspace,
                key_id,
                target,
            } => keys::revoke(&target, workspace, key_id),
        },
    }
}
