//! `erp-webhook`: the Custom Routes examples of the Convotic documentation as one Rust module.
//!
//! * `POST /webhook/erp`: an ERP reports an order; the contact with that external id gets the
//!   order's id and status as attributes.
//! * `GET /orders/:orderId` reads an order from the module's key-value storage;
//!   `PUT /orders/:orderId` stores one there.
//! * `POST /webhook/external`: an unauthenticated webhook (`auth(false)`) that only accepts
//!   calls signed with the secret in `ERP_WEBHOOK_SECRET` and triggers workflow `wf_abc123`.
//!
//! Without `ERP_WEBHOOK_SECRET` the module logs an error and exits with code 78 (EX_CONFIG),
//! which tells the supervisor not to restart it until its configuration changes.

mod routes;

use convotic_plugin_sdk::prelude::*;
use convotic_plugin_sdk::EXIT_DO_NOT_RESTART;
use serde_json::json;

/// The signing secret of `POST /webhook/external`.
const SECRET_ENV: &str = "ERP_WEBHOOK_SECRET";

/// Optional second secret, accepted too while senders move to a new one.
const PREVIOUS_SECRET_ENV: &str = "ERP_WEBHOOK_SECRET_PREVIOUS";

/// The module, with the secrets of the external webhook.
struct ErpWebhook {
    secrets: Vec<String>,
}

impl ConvoticModule for ErpWebhook {
    fn name(&self) -> &str {
        "erp-webhook"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn register(&self, sdk: &mut Sdk) {
        // Served at /v1/modules/erp-webhook/webhook/erp (with the workspace's X-API-Key).
        sdk.register_route(Route::post("/webhook/erp").handler(routes::erp_order));
        // Served at /v1/modules/erp-webhook/orders/:orderId.
        sdk.register_route(Route::get("/orders/:orderId").handler(routes::get_order));
        // Not in the documentation's examples: stores an order so that the GET has one to read.
        sdk.register_route(Route::put("/orders/:orderId").handler(routes::put_order));
        // No API key: the signature is the authentication.
        sdk.register_route(
            Route::post("/webhook/external")
                .auth(false)
                .middleware(SignatureVerifier::with_secrets(&self.secrets))
                .handler(routes::external_event),
        );
    }
}

/// The configured secrets (the current one first), or the reason there are none.
fn secrets() -> Result<Vec<String>, String> {
    let current = std::env::var(SECRET_ENV).unwrap_or_default();
    if current.trim().is_empty() {
        return Err(format!(
            "{SECRET_ENV} is not set: POST /webhook/external cannot verify signatures. Set it \
             in the module's env in the supervisor configuration"
        ));
    }
    let mut secrets = vec![current];
    if let Ok(previous) = std::env::var(PREVIOUS_SECRET_ENV) {
        if !previous.trim().is_empty() {
            secrets.push(previous);
        }
    }
    Ok(secrets)
}

fn main() {
    if !convotic_plugin_sdk::started_by_supervisor() {
        // Started by hand: `run` explains how to run the module and exits with 2.
        convotic_plugin_sdk::run(ErpWebhook {
            secrets: Vec::new(),
        });
    }
    match secrets() {
        Ok(secrets) => convotic_plugin_sdk::run(ErpWebhook { secrets }),
        Err(message) => {
            // A JSON line on stderr becomes a structured entry in the supervisor's log.
            eprintln!("{}", json!({ "level": "error", "msg": message }));
            std::process::exit(EXIT_DO_NOT_RESTART);
        }
    }
}
