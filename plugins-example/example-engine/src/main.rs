//! `example-engine`: a small workflow engine and webhook receiver for trying the supervisor's
//! deliveries on one machine.
//!
//! ```text
//! example-engine --secret <signing secret> [--api-key <key>]
//!                [--listen 127.0.0.1:8090] [--supervisor http://127.0.0.1:8080]
//! ```
//!
//! It accepts the supervisor's signed JSON `POST`s (messages and workflow runs) on any path,
//! verifies their `x-convotic-signature` with `--secret` (or `EXAMPLE_ENGINE_SECRET`) and
//! answers `{"id": "rcv_<n>"}`, the same id again for a repeated `idempotency-key`. With
//! `--api-key` (or `CONVOTIC_API_KEY`) it is also a workflow engine: each new run is reported
//! `running` then `succeeded` with `PATCH {supervisor}/v1/workflow-runs/{run_id}`.
//!
//! It prints `example-engine listening on http://ADDR/hook` once it accepts connections, then
//! one line per request, until Ctrl-C. It exits with code 2 when it cannot listen. The
//! receiver itself is [`example_engine::Receiver`].

use std::io::Write as _;

use clap::Parser;
use example_engine::Receiver;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "example-engine",
    about = "A small workflow engine and webhook receiver: verifies the supervisor's signed \
             deliveries and reports workflow runs succeeded."
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: String,
    /// Signing secret of the webhook target (the one `PUT /v1/workflow-engine` returned).
    #[arg(long, env = "EXAMPLE_ENGINE_SECRET", hide_env_values = true)]
    secret: String,
    /// Supervisor base URL, where workflow runs are reported.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    supervisor: String,
    /// API key of the workspace; when given, workflow runs are reported to the supervisor.
    #[arg(long, env = "CONVOTIC_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

fn main() {
    let args = Args::parse();
    if args.secret.is_empty() {
        eprintln!("example-engine: --secret must not be empty");
        std::process::exit(2);
    }
    let listener = match std::net::TcpListener::bind(&args.listen) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("example-engine: cannot listen on {}: {err}", args.listen);
            std::process::exit(2);
        }
    };
    let receiver = Receiver::serve_on(listener).printing();
    receiver.set_secret(&args.secret);
    if let Some(api_key) = &args.api_key {
        receiver.set_engine(&args.supervisor, api_key);
    }
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "example-engine listening on {}", receiver.url())
            .and_then(|()| out.flush());
        if args.api_key.is_some() {
            let _ = writeln!(out, "reporting workflow runs to {}", args.supervisor)
                .and_then(|()| out.flush());
        }
    }
    let ctrl_c = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|runtime| runtime.block_on(tokio::signal::ctrl_c()));
    if let Err(err) = ctrl_c {
        // Serve until killed.
        eprintln!("example-engine: cannot wait for Ctrl-C ({err}); stop it with a signal");
        loop {
            std::thread::park();
        }
    }
    drop(receiver);
}
