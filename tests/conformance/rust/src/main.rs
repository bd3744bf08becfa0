//! The conformance module of `tests/conformance/SPEC.md`, written with the Rust SDK. The same
//! module exists in TypeScript and Python; the conformance suite (`tests/e2e/conformance.rs`)
//! runs the same checks against all three. `CONFORMANCE_BREAK=<check>` breaks one check on
//! purpose.

mod routes;

use convotic_plugin_sdk::prelude::*;
use serde_json::json;

/// Whether `check` is the one broken on purpose.
pub(crate) fn broken(check: &str) -> bool {
    std::env::var("CONFORMANCE_BREAK").is_ok_and(|b| b == check)
}

struct Conformance;

impl ConvoticModule for Conformance {
    fn name(&self) -> &str {
        "conformance"
    }

    fn version(&self) -> &str {
        "1.0.0"
    }

    fn register(&self, sdk: &mut Sdk) {
        routes::register(sdk);
        sdk.register_worker_handler(
            WorkerHandler::new("conformance.jobs")
                .max_attempts(3)
                .handler(|msg: WorkerMessage, ctx: Context| async move {
                    let id = msg.payload["id"].as_str().unwrap_or_default().to_string();
                    let key = format!("job:{id}");
                    let mut record = ctx
                        .storage()
                        .get(&key)
                        .await?
                        .unwrap_or_else(|| json!({"attempts": [], "done": false}));
                    if let Some(attempts) = record["attempts"].as_array_mut() {
                        attempts.push(json!(msg.attempt));
                    }
                    let discard = msg.payload["discard"].as_bool().unwrap_or(false);
                    let fail_times = msg.payload["fail_times"].as_u64().unwrap_or(0);
                    let done = !discard && u64::from(msg.attempt) > fail_times;
                    record["done"] = json!(done && !broken("workers.retry_and_dead_letter"));
                    ctx.storage().set(&key, record).await?;
                    if discard {
                        return Err(HandlerError::discard("discarded on purpose"));
                    }
                    if !done {
                        return Err(HandlerError::new("failing on purpose").retryable());
                    }
                    Ok(())
                }),
        );
        sdk.register_cron(Cron::new("tick", "0 0 1 1 *").timezone("UTC").handler(
            |tick: CronTick, ctx: Context| async move {
                if broken("crons.run_now") {
                    return Err(HandlerError::new("broken on purpose"));
                }
                ctx.storage()
                    .set(
                        "cron:last",
                        json!({"run_id": tick.run_id, "manual": tick.manual}),
                    )
                    .await?;
                Ok(())
            },
        ));
        sdk.register_node_handler(
            NodeHandler::new("conformance_double")
                .version("1.0.0")
                .display_name("Double")
                .category("Conformance")
                .input_schema(json!({
                    "type": "object",
                    "required": ["value"],
                    "properties": {"value": {"type": "integer"}},
                    "additionalProperties": false
                }))
                .output_schema(json!({
                    "type": "object",
                    "required": ["doubled"],
                    "properties": {"doubled": {"type": "integer"}}
                }))
                .branches(["even", "odd"])
                .handler(|inv: NodeInvocation, _ctx: Context| async move {
                    let value = inv.input["value"].as_i64().unwrap_or(0);
                    if value == 13 {
                        return Err(HandlerError::new("unlucky").retryable());
                    }
                    let factor = if broken("nodes.invoke") { 3 } else { 2 };
                    let branch = if value % 2 == 0 { "even" } else { "odd" };
                    Ok(NodeOutput::branch(
                        branch,
                        json!({"doubled": value * factor}),
                    ))
                }),
        );
        sdk.register_block(
            Block::new("conformance-block")
                .name("Conformance Block")
                .connection_schema(json!({
                    "type": "object",
                    "required": ["token"],
                    "properties": {"token": {"type": "string"}, "label": {"type": "string"}}
                }))
                .secret_fields(["token"])
                .test_connection(|conn: Connection, _ctx: Context| async move {
                    let good = conn.get_str("token") == Some("good-token");
                    Ok(if good || broken("blocks.connection_and_action") {
                        TestResult::ok().account_label("conformance")
                    } else {
                        TestResult::failed("bad token: rejected")
                    })
                })
                .action(
                    Action::new("whoami")
                        .input_schema(json!({"type": "object"}))
                        .output_schema(json!({
                            "type": "object",
                            "required": ["token_length"],
                            "properties": {"token_length": {"type": "integer"}}
                        }))
                        .handler(|call: ActionCall, _ctx: Context| async move {
                            let length = call.connection.get_str("token").map_or(0, str::len);
                            Ok(json!({"token_length": length}))
                        }),
                ),
        );
    }
}

fn main() {
    convotic_plugin_sdk::run(Conformance)
}
