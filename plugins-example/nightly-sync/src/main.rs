//! `nightly-sync`: a scheduled job that reconciles inventory with a warehouse (the Convotic
//! documentation's "nightly sync that reconciles inventory with a warehouse API").
//!
//! * Cron `nightly-sync`, at 02:00 Europe/Paris by default; set `NIGHTLY_SYNC_SCHEDULE` (e.g.
//!   `*/10 * * * * *` for every 10 seconds) and `NIGHTLY_SYNC_TIMEZONE` in the module's `env` to
//!   try it out. Overlap `skip`: a sync still running when the next tick comes is not doubled.
//! * The warehouse's counts are what `PUT /warehouse` stored (`{"sku": count, ...}`); a real
//!   module would call the warehouse's API here. Every SKU whose count in module storage
//!   (`inventory:<sku>`) differs is corrected, and a report is kept under `last-sync`.
//! * `GET /inventory` lists the counts, `GET /last-sync` shows the last report; "run now" is
//!   `POST /v1/crons/nightly-sync/nightly-sync/run`.

use std::time::Duration;

use convotic_plugin_sdk::prelude::*;
use serde_json::{json, Map, Value};

const DEFAULT_SCHEDULE: &str = "0 2 * * *";
const DEFAULT_TIMEZONE: &str = "Europe/Paris";

struct NightlySync {
    schedule: String,
    timezone: String,
}

impl ConvoticModule for NightlySync {
    fn name(&self) -> &str {
        "nightly-sync"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn register(&self, sdk: &mut Sdk) {
        sdk.register_cron(
            Cron::new("nightly-sync", self.schedule.as_str())
                .timezone(self.timezone.as_str())
                .overlap(Overlap::Skip)
                .timeout(Duration::from_secs(10 * 60))
                .handler(reconcile),
        );
        sdk.register_route(Route::put("/warehouse").handler(
            |req: RouteRequest, ctx: Context| async move {
                if !req.body.is_object() {
                    return Err(HandlerError::bad_input("expected {\"sku\": count, ...}"));
                }
                ctx.storage().set("warehouse", req.body).await?;
                Ok(RouteResponse::empty(204))
            },
        ));
        sdk.register_route(Route::get("/inventory").handler(
            |_req: RouteRequest, ctx: Context| async move {
                let mut counts = Map::new();
                for entry in ctx.storage().list("inventory:").await? {
                    counts.insert(
                        entry.key.trim_start_matches("inventory:").to_string(),
                        entry.value,
                    );
                }
                Ok(RouteResponse::json(200, Value::Object(counts)))
            },
        ));
        sdk.register_route(Route::get("/last-sync").handler(
            |_req: RouteRequest, ctx: Context| async move {
                Ok(match ctx.storage().get("last-sync").await? {
                    Some(report) => RouteResponse::json(200, report),
                    None => RouteResponse::json(404, json!({ "error": "no sync has run yet" })),
                })
            },
        ));
    }
}

/// One sync: brings every SKU's count in line with the warehouse and records a report.
async fn reconcile(tick: CronTick, ctx: Context) -> Result<String, HandlerError> {
    let warehouse = ctx
        .storage()
        .get("warehouse")
        .await?
        .unwrap_or_else(|| json!({}));
    let Some(counts) = warehouse.as_object() else {
        return Err(HandlerError::new(
            "the stored warehouse snapshot is not an object",
        ));
    };
    let mut adjusted = Vec::new();
    for (sku, count) in counts {
        let key = format!("inventory:{sku}");
        if ctx.storage().get(&key).await?.as_ref() != Some(count) {
            ctx.storage().set(&key, count.clone()).await?;
            adjusted.push(sku.clone());
        }
    }
    let report = json!({
        "run_id": tick.run_id,
        "scheduled_at_ms": tick.scheduled_at_ms,
        "manual": tick.manual,
        "skus": counts.len(),
        "adjusted": adjusted,
    });
    ctx.storage().set("last-sync", report).await?;
    ctx.logger().info_with(
        "inventory reconciled",
        json!({ "adjusted": adjusted.len(), "skus": counts.len() }),
    );
    Ok(format!(
        "{} of {} SKUs adjusted",
        adjusted.len(),
        counts.len()
    ))
}

fn main() {
    let setting = |name: &str, default: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_string())
    };
    convotic_plugin_sdk::run(NightlySync {
        schedule: setting("NIGHTLY_SYNC_SCHEDULE", DEFAULT_SCHEDULE),
        timezone: setting("NIGHTLY_SYNC_TIMEZONE", DEFAULT_TIMEZONE),
    })
}
