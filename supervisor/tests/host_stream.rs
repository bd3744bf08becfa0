//! `HostStream.Calls` (feature `host.stream`) over a real Unix socket, driven like a hostile
//! module would: the token is checked when the stream opens, the first frame grants credits,
//! every call gets exactly one reply with the code the unary call would have had, and bad
//! calls (zero or duplicate ids, unknown methods, undecodable requests, calls beyond the
//! credits) are answered at once without disturbing the others.

#[path = "support/host_server.rs"]
mod host_server;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use convotic_proto::host::v1 as pb;
use convotic_proto::host::v1::host_stream_client::HostStreamClient;
use convotic_proto::TOKEN_METADATA_KEY;
use convotic_supervisor::host::{HostServer, HOST_STREAM_CREDITS};
use convotic_supervisor::store::Store;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Request, Streaming};

const TOKEN: &str = "stream-token";

async fn serve(dir: &Path) -> (HostServer, Channel, Store) {
    let store = Store::open(&dir.join("convotic.db")).expect("store");
    store.ensure_workspace("ws_a").await.expect("ws_a");
    let socket = dir.join("host.sock");
    let server = host_server::start(&socket, TOKEN, "ws_a", "m", &store).await;
    (server, host_server::channel(&socket).await, store)
}

/// An open stream: the sender of call batches and the replies.
struct Calls {
    tx: mpsc::Sender<pb::HostCallBatch>,
    replies: Streaming<pb::HostReplyBatch>,
    credits: u32,
}

async fn open(channel: Channel, token: &str) -> Result<Calls, tonic::Status> {
    let (tx, rx) = mpsc::channel(64);
    let mut request = Request::new(ReceiverStream::new(rx));
    request
        .metadata_mut()
        .insert(TOKEN_METADATA_KEY, token.parse().expect("metadata"));
    let mut replies = HostStreamClient::new(channel)
        .calls(request)
        .await?
        .into_inner();
    let grant = tokio::time::timeout(Duration::from_secs(5), replies.message())
        .await
        .expect("the grant within 5 s")?
        .expect("a first frame");
    assert!(grant.replies.is_empty(), "the first frame carries no reply");
    Ok(Calls {
        tx,
        replies,
        credits: grant.credits,
    })
}

fn call(id: u64, method: &str, request: impl Message) -> pb::HostCall {
    pb::HostCall {
        id,
        method: method.into(),
        request: request.encode_to_vec(),
        timeout_ms: 5000,
    }
}

impl Calls {
    async fn send(&self, calls: Vec<pb::HostCall>) {
        self.tx
            .send(pb::HostCallBatch { calls })
            .await
            .expect("stream open");
    }

    /// The next `count` replies, by id (a second reply for an id fails the test).
    async fn replies(&mut self, count: usize) -> HashMap<u64, pb::HostReply> {
        let mut found = HashMap::new();
        while found.len() < count {
            let batch = tokio::time::timeout(Duration::from_secs(10), self.replies.message())
                .await
                .expect("replies within 10 s")
                .expect("stream ok")
                .expect("stream open");
            for reply in batch.replies {
                assert!(
                    found.insert(reply.id, reply.clone()).is_none(),
                    "two replies for id {}",
                    reply.id
                );
            }
        }
        found
    }
}

#[tokio::test]
async fn the_token_is_checked_when_the_stream_opens() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, channel, _store) = serve(dir.path()).await;
    let refused = open(channel.clone(), "wrong").await.err().expect("refused");
    assert_eq!(refused.code(), Code::Unauthenticated);
    let calls = open(channel, TOKEN).await.expect("open");
    assert_eq!(calls.credits, HOST_STREAM_CREDITS);
}

#[tokio::test]
async fn calls_answer_like_unary_calls_on_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, channel, store) = serve(dir.path()).await;
    let mut calls = open(channel, TOKEN).await.expect("open");
    calls
        .send(vec![
            call(
                1,
                "/convotic.host.v1.Storage/Set",
                pb::StorageSetRequest {
                    key: "greeting".into(),
                    value_json: br#"{"hi":1}"#.to_vec(),
                    ttl_ms: 0,
                },
            ),
            call(
                2,
                "/convotic.host.v1.Storage/Get",
                pb::StorageGetRequest {
                    key: "absent".into(),
                },
            ),
            call(
                3,
                "/convotic.host.v1.Storage/Set",
                pb::StorageSetRequest {
                    key: "bad".into(),
                    value_json: b"{not json".to_vec(),
                    ttl_ms: 0,
                },
            ),
        ])
        .await;
    let replies = calls.replies(3).await;
    assert_eq!(replies[&1].code, 0, "{:?}", replies[&1]);
    let entry = pb::StorageEntry::decode(replies[&1].response.as_slice()).unwrap();
    assert_eq!((entry.key.as_str(), entry.revision), ("greeting", 1));
    assert_eq!(replies[&2].code, Code::NotFound as u32, "{:?}", replies[&2]);
    assert_eq!(replies[&3].code, Code::InvalidArgument as u32);
    assert!(
        replies[&3].message.contains("value_json"),
        "{}",
        replies[&3].message
    );
    // What the stream stored is the module's own storage, as a unary call sees it.
    let stored = store.kv_get("ws_a", "m", "greeting").await.unwrap();
    assert_eq!(stored.value, serde_json::json!({"hi": 1}));
    // Reading it back on the stream.
    calls
        .send(vec![call(
            4,
            "/convotic.host.v1.Storage/Get",
            pb::StorageGetRequest {
                key: "greeting".into(),
            },
        )])
        .await;
    let reply = calls.replies(1).await.remove(&4).unwrap();
    let entry = pb::StorageEntry::decode(reply.response.as_slice()).unwrap();
    assert_eq!(entry.value_json, br#"{"hi":1}"#);
}

#[tokio::test]
async fn hostile_calls_are_answered_at_once_and_the_rest_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, channel, _store) = serve(dir.path()).await;
    let mut calls = open(channel, TOKEN).await.expect("open");
    let get = |id| {
        call(
            id,
            "/convotic.host.v1.Storage/Get",
            pb::StorageGetRequest { key: "k".into() },
        )
    };
    calls
        .send(vec![
            get(0),
            pb::HostCall {
                id: 10,
                method: "/convotic.host.v1.Storage/Get".into(),
                request: vec![0xff, 0xff, 0xff],
                timeout_ms: 0,
            },
            pb::HostCall {
                id: 11,
                method: "/../../etc/passwd".into(),
                request: Vec::new(),
                timeout_ms: 0,
            },
            get(12),
        ])
        .await;
    let replies = calls.replies(4).await;
    assert_eq!(replies[&0].code, Code::InvalidArgument as u32);
    assert_eq!(replies[&10].code, Code::InvalidArgument as u32);
    assert!(replies[&10].message.contains("does not decode"));
    assert_eq!(replies[&11].code, Code::Unimplemented as u32);
    assert_eq!(replies[&12].code, Code::NotFound as u32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_credits_are_refused_not_queued() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, channel, _store) = serve(dir.path()).await;
    let mut calls = open(channel, TOKEN).await.expect("open");
    let credits = u64::from(calls.credits);
    // A duplicate id within one batch: the second is refused while the first is in flight.
    calls
        .send(vec![
            call(
                1,
                "/convotic.host.v1.Storage/Set",
                pb::StorageSetRequest {
                    key: "big".into(),
                    value_json: format!("\"{}\"", "x".repeat(400 * 1024)).into_bytes(),
                    ttl_ms: 0,
                },
            ),
            call(
                1,
                "/convotic.host.v1.Storage/Get",
                pb::StorageGetRequest { key: "k".into() },
            ),
        ])
        .await;
    let mut first = Vec::new();
    while first.len() < 2 {
        let batch = tokio::time::timeout(Duration::from_secs(10), calls.replies.message())
            .await
            .expect("replies")
            .unwrap()
            .unwrap();
        first.extend(batch.replies);
    }
    let codes: Vec<u32> = first.iter().map(|r| r.code).collect();
    assert!(
        codes.contains(&0) && codes.contains(&(Code::InvalidArgument as u32)),
        "{first:?}"
    );
    assert!(first
        .iter()
        .any(|r| r.message.contains("already in flight")));
    let get_big = |id| {
        call(
            id,
            "/convotic.host.v1.Storage/Get",
            pb::StorageGetRequest { key: "big".into() },
        )
    };
    // This side stops reading: the large replies fill the HTTP/2 window, the rest wait in the
    // supervisor, and a call holds its credit until its reply leaves. Calls past the credits
    // are refused at once instead of queued.
    calls.send((10..10 + credits).map(get_big).collect()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    calls.send((1000..1040).map(get_big).collect()).await;
    let mut codes: HashMap<u32, usize> = HashMap::new();
    let mut seen = 0;
    while seen < usize::try_from(credits).unwrap() + 40 {
        let batch = tokio::time::timeout(Duration::from_secs(20), calls.replies.message())
            .await
            .expect("replies")
            .unwrap()
            .unwrap();
        for reply in batch.replies {
            seen += 1;
            *codes.entry(reply.code).or_default() += 1;
        }
    }
    let exhausted = codes
        .get(&(Code::ResourceExhausted as u32))
        .copied()
        .unwrap_or(0);
    assert!(
        (1..=40).contains(&exhausted),
        "calls past the credits: {codes:?}"
    );
    assert_eq!(
        codes[&0] + exhausted,
        usize::try_from(credits).unwrap() + 40
    );
}

#[tokio::test]
async fn a_batch_past_the_credits_or_the_size_limit_ends_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, channel, _store) = serve(dir.path()).await;
    let mut calls = open(channel.clone(), TOKEN).await.expect("open");
    let tiny = (1..=u64::from(calls.credits) + 1)
        .map(|id| pb::HostCall {
            id,
            ..Default::default()
        })
        .collect();
    calls.send(tiny).await;
    let end = tokio::time::timeout(Duration::from_secs(5), calls.replies.message())
        .await
        .expect("the stream ends");
    assert!(!matches!(end, Ok(Some(_))), "{end:?}");
    // The instance may open a new stream once the old one is gone; an oversized frame ends it.
    let mut calls = open(channel, TOKEN).await.expect("open again");
    calls
        .send(vec![call(
            1,
            "/convotic.host.v1.Storage/Set",
            pb::StorageSetRequest {
                key: "big".into(),
                value_json: vec![b'1'; convotic_supervisor::host::HOST_STREAM_MAX_BATCH_BYTES],
                ttl_ms: 0,
            },
        )])
        .await;
    let end = tokio::time::timeout(Duration::from_secs(5), calls.replies.message())
        .await
        .expect("the stream ends");
    assert!(!matches!(end, Ok(Some(_))), "{end:?}");
}

#[tokio::test]
async fn one_stream_per_instance_and_none_when_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let (server, channel, _store) = serve(dir.path()).await;
    let first = open(channel.clone(), TOKEN).await.expect("open");
    let second = open(channel.clone(), TOKEN).await.err().expect("refused");
    assert_eq!(second.code(), Code::ResourceExhausted);
    drop(first);
    // Once the first stream is gone, another may open.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let reopened = loop {
        match open(channel.clone(), TOKEN).await {
            Ok(calls) => break calls,
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("no stream after the first closed: {e}"),
        }
    };
    drop(reopened);
    server.allow_stream(false);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = open(channel, TOKEN).await.err().expect("refused");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("disabled"),
        "{}",
        refused.message()
    );
}
