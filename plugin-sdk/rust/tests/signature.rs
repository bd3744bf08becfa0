//! `SignatureVerifier` in front of a route, driven through a served module's `Work` stream the
//! way the supervisor forwards an HTTP request: the manifest lists the middleware, a signed
//! request reaches the handler, and unsigned, stale or tampered ones get the 401 answer.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{connect, json_body, Lane};
use convotic_plugin_sdk::prelude::*;
use convotic_plugin_sdk::signature::{sign, DEFAULT_HEADER};
use convotic_plugin_sdk::{serve, ServeOptions};
use convotic_proto::plugin::v1 as pb;
use pb::plugin_client::PluginClient;
use pb::supervisor_frame::Frame as In;
use serde_json::json;

const SECRET: &str = "whsec_test";

struct Webhooks {
    handled: Arc<AtomicUsize>,
}

impl ConvoticModule for Webhooks {
    fn name(&self) -> &str {
        "webhooks"
    }

    fn version(&self) -> &str {
        "1.0.0"
    }

    fn register(&self, sdk: &mut Sdk) {
        let handled = self.handled.clone();
        sdk.register_route(
            Route::post("/hook")
                .auth(false)
                .middleware(SignatureVerifier::new(SECRET))
                .handler(move |req: RouteRequest, _ctx: Context| {
                    let handled = handled.clone();
                    async move {
                        handled.fetch_add(1, Ordering::SeqCst);
                        Ok(RouteResponse::json(200, json!({ "got": req.body })))
                    }
                }),
        );
    }
}

fn now_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since.as_millis()).unwrap()
}

/// A `POST /hook` invocation with a JSON body and optional signature header.
fn post(id: u64, body: &[u8], signature: Option<String>) -> In {
    let headers: HashMap<String, String> = signature
        .map(|s| (DEFAULT_HEADER.to_string(), s))
        .into_iter()
        .collect();
    In::Invocation(pb::Invocation {
        id,
        request_id: format!("r{id}"),
        kind: Some(pb::invocation::Kind::Route(pb::RouteRequest {
            method: "POST".into(),
            path: "/hook".into(),
            route: "/hook".into(),
            headers,
            body_kind: pb::BodyKind::Json as i32,
            body: body.to_vec(),
            workspace: "ws_test".into(),
            ..Default::default()
        })),
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_requests_reach_the_handler_and_others_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("plugin.sock");
    let handled = Arc::new(AtomicUsize::new(0));
    let module = Webhooks {
        handled: handled.clone(),
    };
    let server = tokio::spawn(serve(module, ServeOptions::new(&socket)));
    let channel = connect(&socket).await;
    let mut client = PluginClient::new(channel);

    let manifest = client
        .describe(pb::DescribeRequest {
            protocol_versions: vec![1],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .manifest
        .unwrap();
    assert_eq!(manifest.routes[0].middleware, vec!["hmac-signature"]);
    assert_eq!(manifest.routes[0].auth, pb::AuthMode::None as i32);

    let mut lane = Lane::open(&mut client, 0).await;
    let body = br#"{"event":"order.paid"}"#;

    lane.send(post(1, body, Some(sign(SECRET, now_ms(), body))))
        .await;
    let (status, answer) = json_body(&lane.outcome().await);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"got": {"event": "order.paid"}}));

    let refused = [
        (2, None, "missing header"),
        (3, Some("t=abc".to_string()), "malformed"),
        (4, Some(sign(SECRET, now_ms() - 301_000, body)), "expired"),
        (
            5,
            Some(sign(SECRET, now_ms() + 120_000, body)),
            "future-dated",
        ),
        (6, Some(sign("not-the-secret", now_ms(), body)), "mismatch"),
    ];
    for (id, signature, reason) in refused {
        lane.send(post(id, body, signature)).await;
        let outcome = lane.outcome().await;
        assert_eq!(outcome.id, id);
        let (status, answer) = json_body(&outcome);
        assert_eq!(status, 401, "{reason}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_signature");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(reason), "{reason}: {message}");
    }

    // A body changed after signing.
    let signature = sign(SECRET, now_ms(), body);
    lane.send(post(7, br#"{"event":"order.refunded"}"#, Some(signature)))
        .await;
    let (status, answer) = json_body(&lane.outcome().await);
    assert_eq!(status, 401);
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("mismatch"));

    assert_eq!(handled.load(Ordering::SeqCst), 1);
    server.abort();
}
