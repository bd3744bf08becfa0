//! Helpers shared by the integration tests: a gRPC channel over a Unix socket and a `Work`
//! lane driven like the supervisor drives it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use convotic_proto::plugin::v1 as pb;
use hyper_util::rt::TokioIo;
use pb::module_frame::Frame as Out;
use pb::plugin_client::PluginClient;
use pb::supervisor_frame::Frame as In;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::transport::{Channel, Endpoint, Uri};

/// Connects to a Unix socket, retrying until it accepts (10 s at most).
pub async fn connect(path: &Path) -> Channel {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let socket: PathBuf = path.to_path_buf();
        let channel = Endpoint::try_from("http://[::]:50051")
            .unwrap()
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let socket = socket.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(
                        tokio::net::UnixStream::connect(socket).await?,
                    ))
                }
            }))
            .await;
        match channel {
            Ok(channel) => return channel,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(err) => panic!("cannot connect to {}: {err}", path.display()),
        }
    }
}

/// One open `Work` stream.
pub struct Lane {
    pub tx: mpsc::Sender<pb::SupervisorFrame>,
    pub rx: tonic::Streaming<pb::ModuleFrame>,
}

impl Lane {
    /// Opens lane `lane` and waits for `LaneReady`.
    pub async fn open(client: &mut PluginClient<Channel>, lane: u32) -> Lane {
        let (tx, rx) = mpsc::channel(64);
        tx.send(frame(In::Open(pb::LaneOpen { lane })))
            .await
            .unwrap();
        let mut rx = client
            .work(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        let ready = rx.next().await.unwrap().unwrap();
        assert_eq!(ready.frame, Some(Out::Ready(pb::LaneReady { lane })));
        Lane { tx, rx }
    }

    /// Sends a frame.
    pub async fn send(&self, frame_: In) {
        self.tx.send(frame(frame_)).await.unwrap();
    }

    /// The next outcome (10 s at most).
    pub async fn outcome(&mut self) -> pb::Outcome {
        let next = tokio::time::timeout(Duration::from_secs(10), self.rx.next())
            .await
            .expect("no frame within 10 s")
            .expect("stream ended")
            .expect("stream failed");
        match next.frame {
            Some(Out::Outcome(outcome)) => outcome,
            other => panic!("expected an outcome, got {other:?}"),
        }
    }
}

/// Wraps a frame.
pub fn frame(frame: In) -> pb::SupervisorFrame {
    pb::SupervisorFrame { frame: Some(frame) }
}

/// A GET route invocation.
pub fn get(id: u64, timeout_ms: u64, route: &str, params: &[(&str, &str)]) -> In {
    let mut path = route.to_string();
    for (name, value) in params {
        path = path.replace(&format!(":{name}"), value);
    }
    In::Invocation(pb::Invocation {
        id,
        timeout_ms,
        request_id: format!("r{id}"),
        kind: Some(pb::invocation::Kind::Route(pb::RouteRequest {
            method: "GET".into(),
            path,
            route: route.into(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            workspace: "ws_test".into(),
            ..Default::default()
        })),
        ..Default::default()
    })
}

/// The error code of an outcome, if it is an error.
pub fn error_code(outcome: &pb::Outcome) -> Option<pb::ErrorCode> {
    match &outcome.result {
        Some(pb::outcome::Result::Error(e)) => pb::ErrorCode::try_from(e.code).ok(),
        _ => None,
    }
}

/// The JSON body of a route outcome.
pub fn json_body(outcome: &pb::Outcome) -> (u32, serde_json::Value) {
    match &outcome.result {
        Some(pb::outcome::Result::Route(r)) => (r.status, serde_json::from_slice(&r.body).unwrap()),
        other => panic!("expected a route response, got {other:?}"),
    }
}
