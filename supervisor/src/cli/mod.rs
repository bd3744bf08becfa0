//! The command line: `run` starts the supervisor; `ps`, `logs` and `restart` talk to a running
//! one through its admin API; `check-config` validates a config file.

mod client;
mod discovery;
mod run;

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
}

/// Which running supervisor to talk to.
#[derive(Debug, Args)]
pub struct Target {
    /// The supervisor's config file (its data dir locates the running supervisor).
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
        Command::Run { config } => run::run(&config),
        Command::CheckConfig { config } => run::check_config(&config),
        Command::Ps { target, json } => client::ps(&target, json),
        Command::Logs {
            module,
            workspace,
            lines,
            follow,
            target,
        } => client::logs(&target, &module, workspace.as_deref(), lines, follow),
        Command::Restart {
            module,
            workspace,
            target,
        } => client::restart(&target, &module, workspace.as_deref()),
    }
}
