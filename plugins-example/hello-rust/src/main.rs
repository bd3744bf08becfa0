//! `hello-rust`: the smallest useful Convotic module in Rust, one of each extension point.
//!
//! * `GET /hello/:name` answers a JSON greeting; `POST /echo` sends the JSON body back.
//! * `GET /kv/:key` reads a key of the module's storage (404 when absent); `PUT /kv/:key`
//!   stores the JSON body under it.
//! * A worker on `orders.created` logs each order.
//! * A workflow node `greeting` turns `{name}` into `{greeting}`.
//! * A block `echo-block` whose connection test accepts `api_key == "good"`, with an action
//!   `echo` returning its input.
//! * A cron `heartbeat` that runs every minute.

use std::time::Duration;

use convotic_plugin_sdk::prelude::*;
use serde_json::json;

struct Hello;

impl ConvoticModule for Hello {
    fn name(&self) -> &str {
        "hello-rust"
    }

    fn version(&self) -> &str {
        "1.0.0"
    }

    fn register(&self, sdk: &mut Sdk) {
        // Routes: served at /v1/modules/hello-rust/hello/:name, /v1/modules/hello-rust/echo, ...
        sdk.register_route(Route::get("/hello/:name").handler(
            |req: RouteRequest, _ctx: Context| async move {
                let name = req.params.get("name").cloned().unwrap_or_default();
                Ok(RouteResponse::json(200, json!({ "hello": name })))
            },
        ));
        sdk.register_route(
            Route::post("/echo").handler(|req: RouteRequest, _ctx: Context| async move {
                Ok(RouteResponse::json(200, req.body))
            }),
        );
        // Key-value storage: one host call per request (the bench uses these to measure it).
        sdk.register_route(Route::get("/kv/:key").handler(
            |req: RouteRequest, ctx: Context| async move {
                let key = req.param("key").unwrap_or_default();
                Ok(match ctx.storage().get(key).await? {
                    Some(value) => RouteResponse::json(200, json!({ "key": key, "value": value })),
                    None => RouteResponse::json(404, json!({ "error": "no such key" })),
                })
            },
        ));
        sdk.register_route(Route::put("/kv/:key").handler(
            |req: RouteRequest, ctx: Context| async move {
                let key = req.param("key").unwrap_or_default();
                let entry = ctx.storage().set(key, &req.body).await?;
                Ok(RouteResponse::json(
                    200,
                    json!({ "key": key, "revision": entry.revision }),
                ))
            },
        ));

        // A worker: an error makes the message come back later; Ok(()) acknowledges it.
        sdk.register_worker_handler(
            WorkerHandler::new("orders.created")
                .concurrency(4)
                .timeout(Duration::from_secs(30))
                .handler(|msg: WorkerMessage, ctx: Context| async move {
                    ctx.logger().info_with(
                        "order created",
                        json!({ "message_id": msg.message_id, "attempt": msg.attempt, "order": msg.payload }),
                    );
                    Ok(())
                }),
        );

        // A workflow node for the visual builder.
        sdk.register_node_handler(
            NodeHandler::new("greeting")
                .version("1.0.0")
                .display_name("Greeting")
                .description("Builds a greeting for a name.")
                .category("Examples")
                .icon("hand")
                .input_schema(json!({
                    "type": "object",
                    "properties": { "name": { "type": "string" } },
                    "required": ["name"]
                }))
                .output_schema(json!({
                    "type": "object",
                    "properties": { "greeting": { "type": "string" } },
                    "required": ["greeting"]
                }))
                .branches(["default"])
                .handler(|inv: NodeInvocation, _ctx: Context| async move {
                    let name = inv.input["name"].as_str().unwrap_or("stranger");
                    Ok(NodeOutput::new(
                        json!({ "greeting": format!("Hello, {name}!") }),
                    ))
                }),
        );

        // A block: a connection flow (schema, secret fields, test) and one action.
        sdk.register_block(
            Block::new("echo-block")
                .name("Echo")
                .description("Sends its input back.")
                .connection_schema(json!({
                    "type": "object",
                    "properties": { "api_key": { "type": "string" } },
                    "required": ["api_key"]
                }))
                .secret_fields(["api_key"])
                .test_connection(|conn: Connection, _ctx: Context| async move {
                    Ok(match conn.get_str("api_key") {
                        Some("good") => TestResult::ok().account_label("echo account"),
                        _ => TestResult::failed("api_key is not valid"),
                    })
                })
                .action(
                    Action::new("echo")
                        .display_name("Echo")
                        .input_schema(json!({ "type": "object" }))
                        .handler(|call: ActionCall, _ctx: Context| async move {
                            Ok(json!({ "echo": call.input }))
                        }),
                ),
        );

        // A cron: every minute, UTC.
        sdk.register_cron(Cron::new("heartbeat", "* * * * *").handler(
            |tick: CronTick, ctx: Context| async move {
                ctx.logger()
                    .debug_with("heartbeat", json!({ "run_id": tick.run_id }));
                Ok(())
            },
        ));
    }
}

fn main() {
    convotic_plugin_sdk::run(Hello)
}
