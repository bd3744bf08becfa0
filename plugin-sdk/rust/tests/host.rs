//! `ctx` against a fake host on a Unix socket: the token metadata, NOT_FOUND as `None`,
//! compare-and-set conflicts, attribute JSON, messages and workflow runs read back, and log
//! lines; with `host.stream` offered by a host that does not serve it, every call goes unary.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{connect, get, json_body, Lane};
use convotic_plugin_sdk::prelude::*;
use convotic_plugin_sdk::{serve, ContactUpdate, OutgoingMessage, ServeOptions};
use convotic_proto::host::v1 as host;
use convotic_proto::plugin::v1 as pb;
use host::contacts_server::{Contacts, ContactsServer};
use host::logger_server::{Logger, LoggerServer};
use host::messages_server::{Messages, MessagesServer};
use host::storage_server::{Storage, StorageServer};
use host::workflows_server::{Workflows, WorkflowsServer};
use pb::plugin_client::PluginClient;
use serde_json::json;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[derive(Default)]
struct FakeHost {
    logs: Mutex<Vec<host::LogRequest>>,
    storage: Mutex<HashMap<String, (Vec<u8>, u64)>>,
    contacts: Mutex<HashMap<String, host::Contact>>,
    messages: Mutex<HashMap<String, host::OutboundMessage>>,
    runs: Mutex<HashMap<String, host::WorkflowRun>>,
}

/// The fake host shared by its services.
#[derive(Clone)]
struct Shared(Arc<FakeHost>);

impl std::ops::Deref for Shared {
    type Target = FakeHost;

    fn deref(&self) -> &FakeHost {
        &self.0
    }
}

fn check_token<T>(request: &Request<T>) -> Result<(), Status> {
    let token = request.metadata().get(convotic_proto::TOKEN_METADATA_KEY);
    if token.and_then(|t| t.to_str().ok()) == Some(TOKEN) {
        Ok(())
    } else {
        Err(Status::unauthenticated("bad token"))
    }
}

#[tonic::async_trait]
impl Contacts for Shared {
    async fn get(
        &self,
        r: Request<host::GetContactRequest>,
    ) -> Result<Response<host::Contact>, Status> {
        check_token(&r)?;
        let contacts = self.contacts.lock().unwrap();
        contacts
            .get(&r.get_ref().id)
            .cloned()
            .map(Response::new)
            .ok_or_else(|| Status::not_found("no such contact"))
    }
    async fn find_by_external_id(
        &self,
        _: Request<host::FindByExternalIdRequest>,
    ) -> Result<Response<host::Contact>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }
    async fn create(
        &self,
        _: Request<host::CreateContactRequest>,
    ) -> Result<Response<host::Contact>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }
    async fn update(
        &self,
        r: Request<host::UpdateContactRequest>,
    ) -> Result<Response<host::Contact>, Status> {
        check_token(&r)?;
        let update = r.into_inner();
        let mut contacts = self.contacts.lock().unwrap();
        let contact = contacts
            .get_mut(&update.id)
            .ok_or_else(|| Status::not_found("no such contact"))?;
        let mut attributes: serde_json::Value =
            serde_json::from_slice(&contact.attributes_json).unwrap_or(json!({}));
        let changes: serde_json::Value =
            serde_json::from_slice(&update.attributes_json).unwrap_or(json!({}));
        if let (Some(a), Some(c)) = (attributes.as_object_mut(), changes.as_object()) {
            for (k, v) in c {
                a.insert(k.clone(), v.clone());
            }
        }
        contact.attributes_json = serde_json::to_vec(&attributes).unwrap();
        if let Some(name) = update.name {
            contact.name = name;
        }
        Ok(Response::new(contact.clone()))
    }
    async fn delete(
        &self,
        _: Request<host::DeleteContactRequest>,
    ) -> Result<Response<host::DeleteContactResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }
    async fn list(
        &self,
        _: Request<host::ListContactsRequest>,
    ) -> Result<Response<host::ListContactsResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }
}

#[tonic::async_trait]
impl Storage for Shared {
    async fn get(
        &self,
        r: Request<host::StorageGetRequest>,
    ) -> Result<Response<host::StorageEntry>, Status> {
        check_token(&r)?;
        let key = r.into_inner().key;
        let storage = self.storage.lock().unwrap();
        let (value, revision) = storage
            .get(&key)
            .cloned()
            .ok_or_else(|| Status::not_found("absent"))?;
        Ok(Response::new(host::StorageEntry {
            key,
            value_json: value,
            revision,
            expires_at_ms: 0,
        }))
    }
    async fn set(
        &self,
        r: Request<host::StorageSetRequest>,
    ) -> Result<Response<host::StorageEntry>, Status> {
        check_token(&r)?;
        let set = r.into_inner();
        let mut storage = self.storage.lock().unwrap();
        let revision = storage.get(&set.key).map_or(0, |(_, rev)| *rev) + 1;
        storage.insert(set.key.clone(), (set.value_json.clone(), revision));
        Ok(Response::new(host::StorageEntry {
            key: set.key,
            value_json: set.value_json,
            revision,
            expires_at_ms: 0,
        }))
    }
    async fn delete(
        &self,
        r: Request<host::StorageDeleteRequest>,
    ) -> Result<Response<host::StorageDeleteResponse>, Status> {
        check_token(&r)?;
        let deleted = self
            .storage
            .lock()
            .unwrap()
            .remove(&r.get_ref().key)
            .is_some();
        Ok(Response::new(host::StorageDeleteResponse { deleted }))
    }
    async fn list(
        &self,
        r: Request<host::StorageListRequest>,
    ) -> Result<Response<host::StorageListResponse>, Status> {
        check_token(&r)?;
        let list = r.into_inner();
        let storage = self.storage.lock().unwrap();
        let mut keys: Vec<&String> = storage
            .keys()
            .filter(|k| k.starts_with(&list.prefix))
            .collect();
        keys.sort();
        // One entry per page, to exercise paging.
        let start = if list.page_token.is_empty() {
            0
        } else {
            list.page_token.parse::<usize>().unwrap_or(0)
        };
        let entries: Vec<host::StorageEntry> = keys
            .iter()
            .skip(start)
            .take(1)
            .map(|k| {
                let (value, revision) = storage[*k].clone();
                host::StorageEntry {
                    key: (*k).clone(),
                    value_json: value,
                    revision,
                    expires_at_ms: 0,
                }
            })
            .collect();
        let next_page_token = if start + 1 < keys.len() {
            (start + 1).to_string()
        } else {
            String::new()
        };
        Ok(Response::new(host::StorageListResponse {
            entries,
            next_page_token,
        }))
    }
    async fn compare_and_set(
        &self,
        r: Request<host::StorageCompareAndSetRequest>,
    ) -> Result<Response<host::StorageEntry>, Status> {
        check_token(&r)?;
        let cas = r.into_inner();
        let mut storage = self.storage.lock().unwrap();
        let current = storage.get(&cas.key).map_or(0, |(_, rev)| *rev);
        if current != cas.expected_revision {
            return Err(Status::failed_precondition("revision mismatch"));
        }
        storage.insert(cas.key.clone(), (cas.value_json.clone(), current + 1));
        Ok(Response::new(host::StorageEntry {
            key: cas.key,
            value_json: cas.value_json,
            revision: current + 1,
            expires_at_ms: 0,
        }))
    }
}

#[tonic::async_trait]
impl Messages for Shared {
    async fn send(
        &self,
        r: Request<host::SendMessageRequest>,
    ) -> Result<Response<host::OutboundMessage>, Status> {
        check_token(&r)?;
        let send = r.into_inner();
        let mut messages = self.messages.lock().unwrap();
        let message = host::OutboundMessage {
            id: format!("msg_{}", messages.len() + 1),
            contact_id: send.contact_id,
            conversation_id: send.conversation_id,
            channel: send.channel,
            text: send.text,
            content_json: send.content_json,
            status: "queued".into(),
            created_at_ms: 7,
            ..Default::default()
        };
        messages.insert(message.id.clone(), message.clone());
        Ok(Response::new(message))
    }
    async fn get(
        &self,
        r: Request<host::GetMessageRequest>,
    ) -> Result<Response<host::OutboundMessage>, Status> {
        check_token(&r)?;
        let messages = self.messages.lock().unwrap();
        messages
            .get(&r.get_ref().id)
            .cloned()
            .map(Response::new)
            .ok_or_else(|| Status::not_found("no such message"))
    }
}

#[tonic::async_trait]
impl Workflows for Shared {
    async fn trigger(
        &self,
        r: Request<host::TriggerWorkflowRequest>,
    ) -> Result<Response<host::WorkflowRun>, Status> {
        check_token(&r)?;
        let trigger = r.into_inner();
        let mut runs = self.runs.lock().unwrap();
        let run = host::WorkflowRun {
            id: format!("run_{}", runs.len() + 1),
            workflow_id: trigger.workflow_id,
            payload_json: trigger.payload_json,
            status: "queued".into(),
            created_at_ms: 9,
            ..Default::default()
        };
        runs.insert(run.id.clone(), run.clone());
        Ok(Response::new(run))
    }
    async fn get(
        &self,
        r: Request<host::GetWorkflowRunRequest>,
    ) -> Result<Response<host::WorkflowRun>, Status> {
        check_token(&r)?;
        let runs = self.runs.lock().unwrap();
        runs.get(&r.get_ref().id)
            .cloned()
            .map(Response::new)
            .ok_or_else(|| Status::not_found("no such run"))
    }
}

#[tonic::async_trait]
impl Logger for Shared {
    async fn log(
        &self,
        r: Request<host::LogRequest>,
    ) -> Result<Response<host::LogResponse>, Status> {
        check_token(&r)?;
        self.logs.lock().unwrap().push(r.into_inner());
        Ok(Response::new(host::LogResponse {}))
    }
}

struct UsesHost;

impl ConvoticModule for UsesHost {
    fn name(&self) -> &str {
        "uses-host"
    }

    fn version(&self) -> &str {
        "1.0.0"
    }

    fn register(&self, sdk: &mut Sdk) {
        sdk.register_route(Route::get("/contact/:id").handler(|req: RouteRequest, ctx: Context| async move {
            let id = req.params.get("id").cloned().unwrap_or_default();
            let Some(contact) = ctx.contacts().get(&id).await? else {
                return Ok(RouteResponse::json(404, json!({"found": false})));
            };
            let updated = ctx
                .contacts()
                .update(&contact.id, ContactUpdate { attributes: json!({"seen": true}), ..Default::default() })
                .await?;
            ctx.logger().info_with("contact seen", json!({"contact": id}));
            Ok(RouteResponse::json(200, json!({"name": updated.name, "attributes": updated.attributes, "workspace": ctx.workspace()})))
        }));
        sdk.register_route(Route::get("/kv/:key").handler(
            |req: RouteRequest, ctx: Context| async move {
                let key = req.params.get("key").cloned().unwrap_or_default();
                let storage = ctx.storage();
                let first = storage.compare_and_set(&key, json!({"n": 1}), 0).await?;
                let conflict = storage.compare_and_set(&key, json!({"n": 2}), 0).await?;
                let value = storage.get(&key).await?;
                storage.set(&format!("{key}-b"), json!("b")).await?;
                let listed = storage.list(&key).await?;
                let missing = storage.get("missing").await?;
                let deleted = storage.delete(&key).await?;
                Ok(RouteResponse::json(
                    200,
                    json!({
                        "first_revision": first.map(|e| e.revision),
                        "conflict": conflict.is_none(),
                        "value": value,
                        "listed": listed.iter().map(|e| e.key.clone()).collect::<Vec<_>>(),
                        "missing": missing,
                        "deleted": deleted,
                    }),
                ))
            },
        ));
        sdk.register_route(
            Route::get("/outbox").handler(|_req, ctx: Context| async move {
                let sent = ctx
                    .messages()
                    .send(OutgoingMessage {
                        contact_id: "c1".into(),
                        channel: "sms".into(),
                        text: "hi".into(),
                        ..Default::default()
                    })
                    .await?;
                let message = ctx.messages().get(&sent.id).await?;
                let failed = ctx.messages().get("msg_failed").await?;
                let run = ctx.workflows().trigger("wf_1", json!({"n": 1})).await?;
                let queued = ctx.workflows().get(&run.id).await?;
                let done = ctx.workflows().get("run_done").await?;
                let missing_message = ctx.messages().get("msg_none").await?;
                let missing_run = ctx.workflows().get("run_none").await?;
                Ok(RouteResponse::json(
                    200,
                    json!({
                        "message": message.map(|m| (m.id, m.status, m.text)),
                        "failed": failed.map(|m| (m.status, m.provider_message_id, m.error)),
                        "queued": queued.map(|r| (r.id == run.id, r.status, r.payload, r.output)),
                        "done": done.map(|r| (r.status, r.output, r.error)),
                        "missing": [missing_message.is_none(), missing_run.is_none()],
                    }),
                ))
            }),
        );
        sdk.register_route(
            Route::get("/unimplemented").handler(|_req, ctx: Context| async move {
                ctx.conversations().get("cv_1").await?;
                Ok(RouteResponse::empty(204))
            }),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_calls_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let host_socket = dir.path().join("host.sock");
    let plugin_socket = dir.path().join("plugin.sock");

    let fake = Arc::new(FakeHost::default());
    fake.contacts.lock().unwrap().insert(
        "c1".into(),
        host::Contact {
            id: "c1".into(),
            name: "Ann".into(),
            attributes_json: br#"{"tier":"gold"}"#.to_vec(),
            ..Default::default()
        },
    );
    fake.messages.lock().unwrap().insert(
        "msg_failed".into(),
        host::OutboundMessage {
            id: "msg_failed".into(),
            status: "failed".into(),
            provider_message_id: "prov-1".into(),
            error: "invalid number".into(),
            ..Default::default()
        },
    );
    fake.runs.lock().unwrap().insert(
        "run_done".into(),
        host::WorkflowRun {
            id: "run_done".into(),
            status: "succeeded".into(),
            output_json: br#"{"total":3}"#.to_vec(),
            ..Default::default()
        },
    );
    let listener = tokio::net::UnixListener::bind(&host_socket).unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ContactsServer::new(Shared(fake.clone())))
            .add_service(MessagesServer::new(Shared(fake.clone())))
            .add_service(WorkflowsServer::new(Shared(fake.clone())))
            .add_service(StorageServer::new(Shared(fake.clone())))
            .add_service(LoggerServer::new(Shared(fake.clone())))
            .serve_with_incoming(UnixListenerStream::new(listener)),
    );

    let options = ServeOptions::new(&plugin_socket)
        .host_socket(&host_socket)
        .token(TOKEN)
        .workspace("ws_default")
        .host_timeout(Duration::from_secs(2));
    let server = tokio::spawn(serve(UsesHost, options));
    let channel = connect(&plugin_socket).await;
    let mut client = PluginClient::new(channel.clone());
    // The supervisor offers host.stream, but this host serves only the unary services: the
    // stream cannot open, and every call below goes unary.
    client
        .describe(pb::DescribeRequest {
            protocol_versions: vec![1],
            features: vec!["host.stream".into()],
            supervisor_version: "test".into(),
        })
        .await
        .unwrap();
    let mut lane = Lane::open(&mut client, 0).await;

    lane.send(get(1, 5_000, "/contact/:id", &[("id", "c1")]))
        .await;
    let (status, body) = json_body(&lane.outcome().await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"name": "Ann", "attributes": {"tier": "gold", "seen": true}, "workspace": "ws_test"})
    );

    lane.send(get(2, 5_000, "/contact/:id", &[("id", "nobody")]))
        .await;
    assert_eq!(
        json_body(&lane.outcome().await),
        (404, json!({"found": false}))
    );

    lane.send(get(3, 5_000, "/kv/:key", &[("key", "k")])).await;
    let (status, body) = json_body(&lane.outcome().await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "first_revision": 1,
            "conflict": true,
            "value": {"n": 1},
            "listed": ["k", "k-b"],
            "missing": null,
            "deleted": true,
        })
    );

    lane.send(get(4, 5_000, "/outbox", &[])).await;
    let (status, body) = json_body(&lane.outcome().await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "message": ["msg_2", "queued", "hi"],
            "failed": ["failed", "prov-1", "invalid number"],
            "queued": [true, "queued", {"n": 1}, null],
            "done": ["succeeded", {"total": 3}, ""],
            "missing": [true, true],
        })
    );

    lane.send(get(5, 5_000, "/unimplemented", &[])).await;
    match lane.outcome().await.result {
        Some(pb::outcome::Result::Error(e)) => {
            assert_eq!(e.code, pb::ErrorCode::Handler as i32);
            assert!(
                e.message
                    .starts_with("conversations.get failed: UNIMPLEMENTED"),
                "{}",
                e.message
            );
        }
        other => panic!("{other:?}"),
    }

    // The log line reaches the host with the request id and fields.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let logs = fake.logs.lock().unwrap().clone();
        if let Some(line) = logs.first() {
            assert_eq!(line.message, "contact seen");
            assert_eq!(line.request_id, "r1");
            assert_eq!(line.level, host::LogLevel::Info as i32);
            assert_eq!(line.fields_json, br#"{"contact":"c1"}"#.to_vec());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log line reached the host"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    client
        .shutdown(pb::ShutdownRequest {
            grace_ms: 1_000,
            reason: "test".into(),
        })
        .await
        .unwrap();
    drop(lane);
    drop(client);
    drop(channel);
    let served = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    assert!(served.is_ok(), "{served:?}");
}
