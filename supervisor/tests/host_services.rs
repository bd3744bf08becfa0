//! The Host services over a real Unix socket: served by `HostServer` on a store in a temporary
//! directory, called with the generated tonic clients, as a module would.

#[path = "support/host_server.rs"]
mod host_server;

use std::path::{Path, PathBuf};

use convotic_proto::host::v1 as pb;
use convotic_proto::host::v1::contacts_client::ContactsClient;
use convotic_proto::host::v1::conversations_client::ConversationsClient;
use convotic_proto::host::v1::logger_client::LoggerClient;
use convotic_proto::host::v1::messages_client::MessagesClient;
use convotic_proto::host::v1::storage_client::StorageClient;
use convotic_proto::host::v1::workflows_client::WorkflowsClient;
use convotic_proto::TOKEN_METADATA_KEY;
use convotic_supervisor::host::HostServer;
use convotic_supervisor::store::Store;
use tonic::transport::Channel;
use tonic::{Code, Request};

const TOKEN: &str = "test-token";

/// One instance's Host server on its own socket.
struct Host {
    socket: PathBuf,
    _server: HostServer,
}

async fn serve(dir: &Path, store: &Store, workspace: &str, module: &str) -> Host {
    let socket = dir.join(format!("{workspace}-{module}.sock"));
    let server = host_server::start(&socket, TOKEN, workspace, module, store).await;
    Host {
        socket,
        _server: server,
    }
}

async fn channel(socket: &Path) -> Channel {
    host_server::channel(socket).await
}

/// A request carrying the instance token.
fn req<T>(message: T) -> Request<T> {
    with_token(message, TOKEN)
}

fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(TOKEN_METADATA_KEY, token.parse().expect("metadata value"));
    request
}

async fn setup() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("convotic.db")).expect("store");
    store.ensure_workspace("ws_a").await.expect("ws_a");
    store.ensure_workspace("ws_b").await.expect("ws_b");
    (dir, store)
}

#[tokio::test]
async fn calls_need_the_token() {
    let (dir, store) = setup().await;
    let host = serve(dir.path(), &store, "ws_a", "m").await;
    let mut contacts = ContactsClient::new(channel(&host.socket).await);
    let missing = contacts
        .list(Request::new(pb::ListContactsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    let wrong = contacts
        .list(with_token(pb::ListContactsRequest::default(), "nope"))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    let mut storage = StorageClient::new(channel(&host.socket).await);
    let wrong = storage
        .get(with_token(
            pb::StorageGetRequest { key: "k".into() },
            "test-tokeN",
        ))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    let mut logger = LoggerClient::new(channel(&host.socket).await);
    assert_eq!(
        logger
            .log(Request::new(pb::LogRequest::default()))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    contacts
        .list(req(pb::ListContactsRequest::default()))
        .await
        .expect("with the token");
}

#[tokio::test]
async fn contacts_conversations_messages_workflows() {
    let (dir, store) = setup().await;
    let host_a = serve(dir.path(), &store, "ws_a", "m").await;
    let host_b = serve(dir.path(), &store, "ws_b", "m").await;
    let mut contacts = ContactsClient::new(channel(&host_a.socket).await);
    let mut contacts_b = ContactsClient::new(channel(&host_b.socket).await);

    let ada = contacts
        .create(req(pb::CreateContactRequest {
            external_id: "crm-1".into(),
            name: "Ada".into(),
            attributes_json: br#"{"plan":"pro","seats":3}"#.to_vec(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(ada.id.starts_with("ct_"));
    let duplicate = contacts
        .create(req(pb::CreateContactRequest {
            external_id: "crm-1".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    let bad = contacts
        .create(req(pb::CreateContactRequest {
            attributes_json: b"[1]".to_vec(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(
        bad.message().starts_with("attributes_json"),
        "{}",
        bad.message()
    );
    let invalid = contacts
        .create(req(pb::CreateContactRequest {
            attributes_json: b"{nope".to_vec(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);

    // Isolation: the other workspace's socket cannot see it.
    let hidden = contacts_b
        .get(req(pb::GetContactRequest { id: ada.id.clone() }))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let hidden = contacts_b
        .find_by_external_id(req(pb::FindByExternalIdRequest {
            external_id: "crm-1".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);

    let updated = contacts
        .update(req(pb::UpdateContactRequest {
            id: ada.id.clone(),
            email: Some("ada@example.com".into()),
            attributes_json: br#"{"seats":null,"vip":true}"#.to_vec(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.email, "ada@example.com");
    assert_eq!(updated.name, "Ada");
    let attributes: serde_json::Value = serde_json::from_slice(&updated.attributes_json).unwrap();
    assert_eq!(attributes, serde_json::json!({"plan": "pro", "vip": true}));
    let found = contacts
        .find_by_external_id(req(pb::FindByExternalIdRequest {
            external_id: "crm-1".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found, updated);

    // Paging.
    for i in 0..4 {
        contacts
            .create(req(pb::CreateContactRequest {
                name: format!("c{i}"),
                ..Default::default()
            }))
            .await
            .unwrap();
    }
    let first = contacts
        .list(req(pb::ListContactsRequest {
            page_size: 3,
            page_token: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.contacts.len(), 3);
    assert!(!first.next_page_token.is_empty());
    let second = contacts
        .list(req(pb::ListContactsRequest {
            page_size: 3,
            page_token: first.next_page_token,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.contacts.len(), 2);
    assert!(second.next_page_token.is_empty());
    let too_big = contacts
        .list(req(pb::ListContactsRequest {
            page_size: 501,
            page_token: String::new(),
        }))
        .await
        .unwrap_err();
    assert_eq!(too_big.code(), Code::InvalidArgument);

    // Conversations.
    let mut conversations = ConversationsClient::new(channel(&host_a.socket).await);
    let conversation = conversations
        .create(req(pb::CreateConversationRequest {
            contact_id: ada.id.clone(),
            channel: "whatsapp".into(),
            subject: "Order 42".into(),
            attributes_json: Vec::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(conversation.status, "open");
    let closed = conversations
        .close(req(pb::CloseConversationRequest {
            id: conversation.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.status, "closed");
    assert!(closed.closed_at_ms > 0);
    let listed = conversations
        .list(req(pb::ListConversationsRequest {
            contact_id: ada.id.clone(),
            status: "closed".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.conversations, vec![closed.clone()]);
    let mut conversations_b = ConversationsClient::new(channel(&host_b.socket).await);
    let foreign_contact = conversations_b
        .create(req(pb::CreateConversationRequest {
            contact_id: ada.id.clone(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(foreign_contact.code(), Code::InvalidArgument);
    assert!(foreign_contact.message().starts_with("contact_id"));

    // Messages.
    let mut messages = MessagesClient::new(channel(&host_a.socket).await);
    let sent = messages
        .send(req(pb::SendMessageRequest {
            contact_id: ada.id.clone(),
            conversation_id: conversation.id.clone(),
            channel: "whatsapp".into(),
            text: "Your order shipped".into(),
            content_json: Vec::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sent.status, "queued");
    assert_eq!(
        store.get_message("ws_a", &sent.id).await.unwrap().module,
        "m"
    );
    let got = messages
        .get(req(pb::GetMessageRequest {
            id: sent.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, sent);
    let mut messages_b = MessagesClient::new(channel(&host_b.socket).await);
    assert_eq!(
        messages_b
            .get(req(pb::GetMessageRequest { id: sent.id }))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    // Workflows.
    let mut workflows = WorkflowsClient::new(channel(&host_a.socket).await);
    let trigger = |payload: &str| pb::TriggerWorkflowRequest {
        workflow_id: "wf_welcome".into(),
        payload_json: payload.as_bytes().to_vec(),
        idempotency_key: "signup-ada".into(),
    };
    let run = workflows
        .trigger(req(trigger(r#"{"n":1}"#)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(run.status, "queued");
    let again = workflows
        .trigger(req(trigger(r#"{"n":2}"#)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, run);

    // Delete.
    let deleted = contacts
        .delete(req(pb::DeleteContactRequest { id: ada.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert!(deleted.deleted);
    assert_eq!(
        contacts
            .get(req(pb::GetContactRequest { id: ada.id }))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
}

#[tokio::test]
async fn storage_is_scoped_to_the_module() {
    let (dir, store) = setup().await;
    let host_m1 = serve(dir.path(), &store, "ws_a", "m1").await;
    let host_m2 = serve(dir.path(), &store, "ws_a", "m2").await;
    let host_b = serve(dir.path(), &store, "ws_b", "m1").await;
    let mut m1 = StorageClient::new(channel(&host_m1.socket).await);
    let mut m2 = StorageClient::new(channel(&host_m2.socket).await);
    let mut b = StorageClient::new(channel(&host_b.socket).await);

    let set = m1
        .set(req(pb::StorageSetRequest {
            key: "cursor".into(),
            value_json: br#"{"page":3}"#.to_vec(),
            ttl_ms: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(set.revision, 1);
    let got = m1
        .get(req(pb::StorageGetRequest {
            key: "cursor".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, set);
    for other in [&mut m2, &mut b] {
        let err = other
            .get(req(pb::StorageGetRequest {
                key: "cursor".into(),
            }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        let listed = other
            .list(req(pb::StorageListRequest::default()))
            .await
            .unwrap()
            .into_inner();
        assert!(listed.entries.is_empty());
    }

    // Compare-and-set.
    let cas = |value: &str, expected_revision: u64| pb::StorageCompareAndSetRequest {
        key: "cursor".into(),
        value_json: value.as_bytes().to_vec(),
        expected_revision,
        ttl_ms: 0,
    };
    let mismatch = m1.compare_and_set(req(cas("4", 0))).await.unwrap_err();
    assert_eq!(mismatch.code(), Code::FailedPrecondition);
    assert!(
        mismatch.message().contains("revision 1"),
        "{}",
        mismatch.message()
    );
    let swapped = m1
        .compare_and_set(req(cas("4", 1)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(swapped.revision, 2);
    assert_eq!(swapped.value_json, b"4");
    // m2's key of the same name is absent for m2.
    let created = m2
        .compare_and_set(req(cas("\"mine\"", 0)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.revision, 1);

    // Listing, bad input, delete.
    let listed = m1
        .list(req(pb::StorageListRequest {
            prefix: "cur".into(),
            page_size: 10,
            page_token: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.entries, vec![swapped]);
    let bad = m1
        .set(req(pb::StorageSetRequest {
            key: "k".repeat(513),
            value_json: b"1".to_vec(),
            ttl_ms: 0,
        }))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().starts_with("key"), "{}", bad.message());
    let bad = m1
        .set(req(pb::StorageSetRequest {
            key: "k".into(),
            value_json: b"nope".to_vec(),
            ttl_ms: 0,
        }))
        .await
        .unwrap_err();
    assert!(bad.message().starts_with("value_json"), "{}", bad.message());
    let deleted = m1
        .delete(req(pb::StorageDeleteRequest {
            key: "cursor".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(deleted.deleted);
    assert_eq!(
        m2.get(req(pb::StorageGetRequest {
            key: "cursor".into()
        }))
        .await
        .unwrap()
        .into_inner()
        .value_json,
        b"\"mine\""
    );

    // TTL.
    m1.set(req(pb::StorageSetRequest {
        key: "flash".into(),
        value_json: b"1".to_vec(),
        ttl_ms: 20,
    }))
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        m1.get(req(pb::StorageGetRequest {
            key: "flash".into()
        }))
        .await
        .unwrap_err()
        .code(),
        Code::NotFound
    );
}
