//! `ctx` calls on the Host call stream (feature `host.stream`) against a fake host that serves
//! only `HostStream.Calls` (no unary service): with the feature offered in `Describe` the calls
//! succeed on the stream, batched, with the unary call's errors; without it the SDK makes
//! unary calls (which this host does not serve).

mod common;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{connect, get, json_body, Lane};
use convotic_plugin_sdk::prelude::*;
use convotic_plugin_sdk::{serve, ServeOptions};
use convotic_proto::host::v1 as host;
use convotic_proto::plugin::v1 as pb;
use futures::{Stream, StreamExt};
use host::host_stream_server::{HostStream, HostStreamServer};
use pb::plugin_client::PluginClient;
use prost::Message;
use serde_json::json;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status, Streaming};

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// What the fake host saw: storage, calls by method, and the largest batch.
#[derive(Default)]
struct Seen {
    storage: HashMap<String, Vec<u8>>,
    calls: HashMap<String, usize>,
    largest_batch: usize,
    streams: usize,
}

#[derive(Clone, Default)]
struct FakeStream(Arc<Mutex<Seen>>);

impl FakeStream {
    fn answer(&self, call: host::HostCall) -> host::HostReply {
        let mut seen = self.0.lock().unwrap();
        *seen.calls.entry(call.method.clone()).or_default() += 1;
        let ok = |response: Vec<u8>| host::HostReply {
            id: call.id,
            response,
            ..Default::default()
        };
        match call.method.as_str() {
            "/convotic.host.v1.Storage/Set" => {
                let r = host::StorageSetRequest::decode(call.request.as_slice()).unwrap();
                seen.storage.insert(r.key.clone(), r.value_json.clone());
                ok(host::StorageEntry {
                    key: r.key,
                    value_json: r.value_json,
                    revision: 1,
                    expires_at_ms: 0,
                }
                .encode_to_vec())
            }
            "/convotic.host.v1.Storage/Get" => {
                let r = host::StorageGetRequest::decode(call.request.as_slice()).unwrap();
                match seen.storage.get(&r.key) {
                    Some(value) => ok(host::StorageEntry {
                        key: r.key,
                        value_json: value.clone(),
                        revision: 1,
                        expires_at_ms: 0,
                    }
                    .encode_to_vec()),
                    None => host::HostReply {
                        id: call.id,
                        code: tonic::Code::NotFound as u32,
                        message: format!("no key {:?}", r.key),
                        response: Vec::new(),
                    },
                }
            }
            _ => host::HostReply {
                id: call.id,
                code: tonic::Code::Unimplemented as u32,
                message: "not in this fake".into(),
                response: Vec::new(),
            },
        }
    }
}

type Replies = Pin<Box<dyn Stream<Item = Result<host::HostReplyBatch, Status>> + Send>>;

#[tonic::async_trait]
impl HostStream for FakeStream {
    type CallsStream = Replies;

    async fn calls(
        &self,
        request: Request<Streaming<host::HostCallBatch>>,
    ) -> Result<Response<Replies>, Status> {
        let token = request.metadata().get(convotic_proto::TOKEN_METADATA_KEY);
        if token.and_then(|t| t.to_str().ok()) != Some(TOKEN) {
            return Err(Status::unauthenticated("bad token"));
        }
        self.0.lock().unwrap().streams += 1;
        let fake = self.clone();
        let grant = futures::stream::once(async {
            Ok(host::HostReplyBatch {
                replies: Vec::new(),
                credits: 8,
            })
        });
        let replies = request.into_inner().map(move |batch| {
            let batch = batch?;
            {
                let mut seen = fake.0.lock().unwrap();
                seen.largest_batch = seen.largest_batch.max(batch.calls.len());
            }
            Ok(host::HostReplyBatch {
                replies: batch.calls.into_iter().map(|c| fake.answer(c)).collect(),
                credits: 0,
            })
        });
        Ok(Response::new(Box::pin(grant.chain(replies))))
    }
}

struct UsesStorage;

impl ConvoticModule for UsesStorage {
    fn name(&self) -> &str {
        "uses-storage"
    }

    fn version(&self) -> &str {
        "1.0.0"
    }

    fn register(&self, sdk: &mut Sdk) {
        sdk.register_route(Route::get("/kv/:key").handler(
            |req: RouteRequest, ctx: Context| async move {
                let key = req.params.get("key").cloned().unwrap_or_default();
                let storage = ctx.storage();
                storage.set(&key, json!({"n": 1})).await?;
                // Sixteen reads at once: more than the 8 credits, queued together.
                let reads = (0..16).map(|_| storage.get(&key));
                let values = futures::future::try_join_all(reads).await?;
                let missing = storage.get("missing").await?;
                Ok(RouteResponse::json(
                    200,
                    json!({"values": values.len(), "first": values[0], "missing": missing}),
                ))
            },
        ));
    }
}

/// Serves the module against the fake; `offer_stream` decides whether `Describe` offers
/// `host.stream`. Returns the route's outcome and what the fake saw.
async fn run(offer_stream: bool) -> (pb::Outcome, Arc<Mutex<Seen>>) {
    let dir = tempfile::tempdir().unwrap();
    let host_socket = dir.path().join("host.sock");
    let plugin_socket = dir.path().join("plugin.sock");
    let fake = FakeStream::default();
    let seen = Arc::clone(&fake.0);
    let listener = tokio::net::UnixListener::bind(&host_socket).unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(HostStreamServer::new(fake))
            .serve_with_incoming(UnixListenerStream::new(listener)),
    );
    let options = ServeOptions::new(&plugin_socket)
        .host_socket(&host_socket)
        .token(TOKEN)
        .host_timeout(Duration::from_secs(2));
    let server = tokio::spawn(serve(UsesStorage, options));
    let channel = connect(&plugin_socket).await;
    let mut client = PluginClient::new(channel.clone());
    let mut features = vec!["work.cancel".to_string()];
    if offer_stream {
        features.push("host.stream".into());
    }
    let described = client
        .describe(pb::DescribeRequest {
            protocol_versions: vec![1],
            features,
            supervisor_version: "test".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(described.features.iter().any(|f| f == "host.stream"));
    let mut lane = Lane::open(&mut client, 0).await;
    lane.send(get(1, 5_000, "/kv/:key", &[("key", "k")])).await;
    let outcome = lane.outcome().await;
    server.abort();
    (outcome, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offered_host_stream_carries_every_call() {
    let (outcome, seen) = run(true).await;
    let (status, body) = json_body(&outcome);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"values": 16, "first": {"n": 1}, "missing": null})
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.streams, 1, "one stream for every call");
    assert_eq!(seen.calls["/convotic.host.v1.Storage/Set"], 1);
    assert_eq!(seen.calls["/convotic.host.v1.Storage/Get"], 17);
    assert!(
        (2..=8).contains(&seen.largest_batch),
        "calls queued together share a frame, within the credits: {}",
        seen.largest_batch
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_feature_calls_stay_unary() {
    let (outcome, seen) = run(false).await;
    match outcome.result {
        Some(pb::outcome::Result::Error(e)) => assert!(
            e.message.starts_with("storage.set failed: UNIMPLEMENTED"),
            "{}",
            e.message
        ),
        other => panic!("expected the unary call to fail on this host: {other:?}"),
    }
    assert_eq!(seen.lock().unwrap().streams, 0);
}
