//! Builds the `Manifest` a module returns from `Describe`, and the `Describe` handshake
//! (protocol version choice and features).

use convotic_proto::plugin::v1 as pb;

use crate::module::Sdk;
use crate::registry::{Block, Cron, NodeHandler, Route, WorkerHandler};

/// Name of the SDK in the manifest.
pub const SDK_NAME: &str = "convotic-plugin-sdk-rust";

/// Features the SDK implements (docs/PROTOCOL.md, "Features").
pub(crate) const FEATURES: [&str; 5] = [
    convotic_proto::names::FEATURE_CANCEL,
    convotic_proto::names::FEATURE_LANES,
    convotic_proto::names::FEATURE_GRACEFUL_SHUTDOWN,
    convotic_proto::names::FEATURE_BATCH,
    convotic_proto::names::FEATURE_HOST_STREAM,
];

/// The manifest of a module named `name` at `version` with the registrations of `sdk`.
pub(crate) fn build(name: &str, version: &str, sdk: &Sdk) -> pb::Manifest {
    pb::Manifest {
        name: name.to_string(),
        version: version.to_string(),
        sdk: Some(pb::SdkInfo {
            name: SDK_NAME.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            language: "rust".to_string(),
        }),
        max_in_flight: sdk.max_in_flight,
        routes: sdk.routes.iter().map(Route::def).collect(),
        workers: sdk.workers.iter().map(WorkerHandler::def).collect(),
        nodes: sdk.nodes.iter().map(NodeHandler::def).collect(),
        blocks: sdk.blocks.iter().map(Block::def).collect(),
        crons: sdk.crons.iter().map(Cron::def).collect(),
    }
}

/// The protocol version to speak: the highest offered one the SDK implements.
pub(crate) fn choose_version(offered: &[u32]) -> Result<u32, tonic::Status> {
    offered
        .iter()
        .copied()
        .filter(|v| convotic_proto::PROTOCOL_VERSIONS.contains(v))
        .max()
        .ok_or_else(|| {
            tonic::Status::failed_precondition(format!(
                "module speaks protocol versions {:?}; supervisor offered {:?}",
                convotic_proto::PROTOCOL_VERSIONS,
                offered
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Action, CatchUp, Overlap};
    use crate::types::{NodeOutput, RouteResponse, TestResult};
    use serde_json::json;
    use std::time::Duration;

    fn sdk() -> Sdk {
        let mut sdk = Sdk::new();
        sdk.max_in_flight(8);
        sdk.register_route(
            Route::post("/webhook/external")
                .auth(false)
                .timeout(Duration::from_secs(5))
                .max_body_bytes(2048)
                .middleware(crate::middleware::middleware_fn(
                    "sig",
                    |req, ctx, next: crate::middleware::Next| next.run(req, ctx),
                ))
                .handler(|_r, _c| async { Ok(RouteResponse::empty(204)) }),
        );
        sdk.register_route(Route::get("/orders/:id"));
        sdk.register_worker_handler(
            WorkerHandler::new("orders.created")
                .concurrency(4)
                .max_attempts(5)
                .timeout(Duration::from_secs(60)),
        );
        sdk.register_node_handler(
            NodeHandler::new("loyalty_lookup")
                .version("1.0.0")
                .display_name("Loyalty Lookup")
                .description("Looks up points")
                .category("Data")
                .icon("star")
                .input_schema(json!({"type": "object"}))
                .output_schema(json!({"type": "object", "required": ["points"]}))
                .branches(["found", "not_found"])
                .connection_block("regional-sms")
                .timeout(Duration::from_millis(1500))
                .handler(|_i, _c| async { Ok(NodeOutput::new(json!(null))) }),
        );
        sdk.register_block(
            Block::new("regional-sms")
                .name("Regional SMS")
                .description("SMS")
                .icon("sms")
                .connection_schema(json!({"type": "object"}))
                .secret_fields(["api_key"])
                .test_timeout(Duration::from_secs(3))
                .test_connection(|_c, _x| async { Ok(TestResult::ok()) })
                .action(
                    Action::new("send_message")
                        .display_name("Send")
                        .description("Sends")
                        .input_schema(json!({"type": "object"}))
                        .output_schema(json!({}))
                        .timeout(Duration::from_secs(2)),
                ),
        );
        sdk.register_cron(
            Cron::new("nightly-sync", "0 2 * * *")
                .timezone("Europe/Paris")
                .overlap(Overlap::Allow)
                .catch_up(CatchUp::Once)
                .timeout(Duration::from_secs(900)),
        );
        sdk
    }

    #[test]
    fn manifest_has_every_field() {
        let m = build("hello-rust", "1.0.0", &sdk());
        assert_eq!(m.name, "hello-rust");
        assert_eq!(m.version, "1.0.0");
        let info = m.sdk.clone().unwrap();
        assert_eq!(info.name, "convotic-plugin-sdk-rust");
        assert_eq!(info.language, "rust");
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(m.max_in_flight, 8);

        assert_eq!(
            m.routes[0],
            pb::RouteDef {
                method: "POST".into(),
                path: "/webhook/external".into(),
                auth: pb::AuthMode::None as i32,
                timeout_ms: 5000,
                max_body_bytes: 2048,
                middleware: vec!["sig".into()],
            }
        );
        assert_eq!(m.routes[1].auth, pb::AuthMode::ApiKey as i32);
        assert_eq!(m.routes[1].timeout_ms, 0);

        assert_eq!(
            m.workers[0],
            pb::WorkerDef {
                topic: "orders.created".into(),
                name: "orders.created".into(),
                concurrency: 4,
                max_attempts: 5,
                timeout_ms: 60_000,
            }
        );

        let node = &m.nodes[0];
        assert_eq!(node.r#type, "loyalty_lookup");
        assert_eq!(node.version, "1.0.0");
        assert_eq!(node.display_name, "Loyalty Lookup");
        assert_eq!(node.description, "Looks up points");
        assert_eq!(node.category, "Data");
        assert_eq!(node.icon, "star");
        assert_eq!(node.input_schema, r#"{"type":"object"}"#);
        let output: serde_json::Value = serde_json::from_str(&node.output_schema).unwrap();
        assert_eq!(output, json!({"type": "object", "required": ["points"]}));
        assert_eq!(node.branches, vec!["found", "not_found"]);
        assert_eq!(node.connection_block, "regional-sms");
        assert_eq!(node.timeout_ms, 1500);

        let block = &m.blocks[0];
        assert_eq!(block.id, "regional-sms");
        assert_eq!(block.name, "Regional SMS");
        assert_eq!(block.description, "SMS");
        assert_eq!(block.icon, "sms");
        assert_eq!(block.connection_schema, r#"{"type":"object"}"#);
        assert_eq!(block.secret_fields, vec!["api_key"]);
        assert_eq!(block.test_timeout_ms, 3000);
        assert_eq!(
            block.actions[0],
            pb::ActionDef {
                name: "send_message".into(),
                display_name: "Send".into(),
                description: "Sends".into(),
                input_schema: r#"{"type":"object"}"#.into(),
                output_schema: "{}".into(),
                timeout_ms: 2000,
            }
        );

        assert_eq!(
            m.crons[0],
            pb::CronDef {
                name: "nightly-sync".into(),
                schedule: "0 2 * * *".into(),
                timezone: "Europe/Paris".into(),
                overlap: pb::OverlapPolicy::Allow as i32,
                timeout_ms: 900_000,
                catch_up: pb::CatchUpPolicy::Once as i32,
            }
        );
    }

    #[test]
    fn defaults_and_no_validation() {
        let mut sdk = Sdk::new();
        sdk.register_route(Route::get("orders/../x"));
        sdk.register_route(Route::get("orders/../x"));
        sdk.register_cron(Cron::new("c", "every tuesday"));
        let m = build("m", "0", &sdk);
        assert_eq!(m.max_in_flight, 64);
        assert_eq!(m.routes.len(), 2);
        assert_eq!(m.routes[0].path, "orders/../x");
        assert_eq!(m.crons[0].schedule, "every tuesday");
        assert_eq!(m.crons[0].overlap, pb::OverlapPolicy::Skip as i32);
        assert_eq!(m.crons[0].catch_up, pb::CatchUpPolicy::None as i32);
    }

    #[test]
    fn version_choice() {
        assert_eq!(choose_version(&[1]).unwrap(), 1);
        assert_eq!(choose_version(&[3, 1, 2]).unwrap(), 1);
        let err = choose_version(&[2, 3]).unwrap_err();
        assert_eq!(err.code(), tonic::Code::FailedPrecondition);
        assert_eq!(
            err.message(),
            "module speaks protocol versions [1]; supervisor offered [2, 3]"
        );
    }
}
