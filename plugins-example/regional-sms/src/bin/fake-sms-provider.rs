//! `fake-sms-provider`: a stand-in for the regional SMS platform's API, to try the
//! `regional-sms` block on one machine. Nothing is ever sent; messages are numbered and
//! printed.
//!
//! ```text
//! fake-sms-provider [--listen 127.0.0.1:8089] [--token demo-token-123]...
//! ```
//!
//! Every request needs `Authorization: Bearer <token>` with one of the `--token` values
//! (repeat the flag or separate them with commas), else 401
//! `{"error": {"code": "invalid_token", "message": "invalid API token"}}`.
//!
//! * `GET /v1/account` → 200 `{"account": {"name": "Test Account", "phone": "+33100000000"}}`
//! * `POST /v1/messages` with `{"from", "to", "text"}` → 201 `{"id": "msg_<n>", "status":
//!   "queued"}`; a missing field → 400 `{"error": {"message": "<field> is required"}}`
//!
//! It prints `fake-sms-provider listening on http://ADDR` once it accepts connections, then
//! one line per request and per accepted message, until Ctrl-C. The provider itself is
//! [`regional_sms::fake_provider::Provider`], the one the end-to-end tests use too.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use clap::Parser;
use regional_sms::fake_provider::Provider;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "fake-sms-provider",
    about = "A fake regional SMS provider API on loopback, for trying the regional-sms block."
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8089")]
    listen: SocketAddr,
    /// Accepted API token(s); repeat the flag or separate tokens with commas.
    #[arg(
        long = "token",
        default_value = "demo-token-123",
        value_delimiter = ','
    )]
    tokens: Vec<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("fake-sms-provider: cannot listen on {}: {err}", args.listen);
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().unwrap_or(args.listen);
    let provider = Arc::new(Provider::new(args.tokens).printing());
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "fake-sms-provider listening on http://{addr}")
            .and_then(|()| out.flush());
    }
    provider
        .serve(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
}
