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
//! one line per request.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use clap::Parser;
use serde_json::{json, Value};
use warp::http::{Method, StatusCode};
use warp::Filter;

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

/// The provider's state: accepted tokens and the message counter.
struct Provider {
    tokens: Vec<String>,
    sent: Mutex<u64>,
}

impl Provider {
    /// Answers one request: status and JSON body.
    fn handle(
        &self,
        method: &Method,
        path: &str,
        authorization: Option<&str>,
        body: &[u8],
    ) -> (StatusCode, Value) {
        let known = matches!(path, "/v1/account" | "/v1/messages");
        if !known {
            return error(StatusCode::NOT_FOUND, "no such endpoint");
        }
        let token = authorization.and_then(|value| value.strip_prefix("Bearer "));
        if !token.is_some_and(|t| self.tokens.iter().any(|valid| valid == t)) {
            return (
                StatusCode::UNAUTHORIZED,
                json!({"error": {"code": "invalid_token", "message": "invalid API token"}}),
            );
        }
        match (method.as_str(), path) {
            ("GET", "/v1/account") => (
                StatusCode::OK,
                json!({"account": {"name": "Test Account", "phone": "+33100000000"}}),
            ),
            ("POST", "/v1/messages") => self.accept_message(body),
            _ => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        }
    }

    /// `POST /v1/messages`: checks the fields and numbers the message.
    fn accept_message(&self, body: &[u8]) -> (StatusCode, Value) {
        let Ok(Value::Object(message)) = serde_json::from_slice::<Value>(body) else {
            return error(StatusCode::BAD_REQUEST, "the body must be a JSON object");
        };
        for field in ["from", "to", "text"] {
            let present = message
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(|value| !value.is_empty());
            if !present {
                return error(StatusCode::BAD_REQUEST, &format!("{field} is required"));
            }
        }
        let id = {
            let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
            *sent += 1;
            format!("msg_{sent}")
        };
        say(&format!(
            "{id}: from {} to {}: {}",
            message["from"].as_str().unwrap_or_default(),
            message["to"].as_str().unwrap_or_default(),
            message["text"].as_str().unwrap_or_default(),
        ));
        (StatusCode::CREATED, json!({"id": id, "status": "queued"}))
    }
}

/// Prints a line on stdout; a closed stdout (the reader went away) does not stop the server.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// An error answer in the provider's format.
fn error(status: StatusCode, message: &str) -> (StatusCode, Value) {
    (status, json!({"error": {"message": message}}))
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
    let provider = Arc::new(Provider {
        tokens: args.tokens,
        sent: Mutex::new(0),
    });
    let routes = warp::method()
        .and(warp::path::full())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::body::bytes())
        .map(
            move |method: Method,
                  path: warp::path::FullPath,
                  authorization: Option<String>,
                  body: warp::hyper::body::Bytes| {
                let (status, answer) =
                    provider.handle(&method, path.as_str(), authorization.as_deref(), &body);
                say(&format!(
                    "{method} {} -> {}",
                    path.as_str(),
                    status.as_u16()
                ));
                warp::reply::with_status(warp::reply::json(&answer), status)
            },
        );
    say(&format!("fake-sms-provider listening on http://{addr}"));
    warp::serve(routes)
        .incoming(listener)
        .graceful(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .run()
        .await;
}
