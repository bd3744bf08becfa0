//! Scenario (b), the bare forwarder: warp takes `POST /echo` and sends it as a route
//! `Invocation` on ONE tonic `Work` stream over a Unix socket; a reader task hands each
//! `Outcome` to the request waiting for its id (a `HashMap<id, oneshot>`). Many requests are in
//! flight on the stream at once. Nothing else: no auth, no routing table, no limits, no lanes,
//! no credits, no deadlines.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use convotic_proto::plugin::v1 as pb;
use hyper_util::rt::TokioIo;
use pb::module_frame::Frame as Out;
use pb::plugin_client::PluginClient;
use pb::supervisor_frame::Frame as In;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint, Uri};
use warp::Filter;

use super::echo::{json_response, serve, HttpServer};
use super::echo_server::MAX_MESSAGE_BYTES;

/// Requests waiting for their outcome, by invocation id.
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<pb::outcome::Result>>>>;

/// The client end of the stream.
struct Forwarder {
    frames: mpsc::Sender<pb::SupervisorFrame>,
    pending: Pending,
    next_id: AtomicU64,
}

impl Forwarder {
    /// Connects to `socket`, opens the stream and starts the outcome reader.
    async fn connect(socket: PathBuf) -> Result<Arc<Self>, String> {
        let channel = connect_unix(&socket).await?;
        let mut client = PluginClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let (frames, outgoing) = mpsc::channel(1024);
        let open = In::Open(pb::LaneOpen { lane: 0 });
        frames
            .send(pb::SupervisorFrame { frame: Some(open) })
            .await
            .map_err(|_| "stream closed".to_string())?;
        let mut incoming = client
            .work(ReceiverStream::new(outgoing))
            .await
            .map_err(|e| format!("Work: {e}"))?
            .into_inner();
        match incoming.message().await {
            Ok(Some(pb::ModuleFrame {
                frame: Some(Out::Ready(_)),
            })) => {}
            other => return Err(format!("expected LaneReady, got {other:?}")),
        }
        let pending: Pending = Arc::default();
        let waiting = pending.clone();
        tokio::spawn(async move {
            while let Ok(Some(frame)) = incoming.message().await {
                if let Some(Out::Outcome(outcome)) = frame.frame {
                    let waiter = waiting.lock().ok().and_then(|mut p| p.remove(&outcome.id));
                    if let (Some(waiter), Some(result)) = (waiter, outcome.result) {
                        let _ = waiter.send(result);
                    }
                }
            }
            // The stream ended: fail whoever still waits.
            if let Ok(mut p) = waiting.lock() {
                p.clear();
            }
        });
        Ok(Arc::new(Forwarder {
            frames,
            pending,
            next_id: AtomicU64::new(1),
        }))
    }

    /// Forwards one request body; answers (status, body).
    async fn call(&self, body: Bytes) -> (u16, Vec<u8>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(id, tx);
        }
        let invocation = pb::Invocation {
            id,
            kind: Some(pb::invocation::Kind::Route(pb::RouteRequest {
                method: "POST".into(),
                path: "/echo".into(),
                route: "/echo".into(),
                body_kind: pb::BodyKind::Json as i32,
                body: body.to_vec(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let frame = pb::SupervisorFrame {
            frame: Some(In::Invocation(invocation)),
        };
        if self.frames.send(frame).await.is_err() {
            return (502, br#"{"error":"stream closed"}"#.to_vec());
        }
        match rx.await {
            Ok(pb::outcome::Result::Route(response)) => {
                (u16::try_from(response.status).unwrap_or(502), response.body)
            }
            Ok(_) => (500, br#"{"error":"invocation failed"}"#.to_vec()),
            Err(_) => (502, br#"{"error":"stream ended"}"#.to_vec()),
        }
    }
}

/// A tonic channel over a Unix socket, retrying for up to 5 s while the server starts.
async fn connect_unix(socket: &Path) -> Result<Channel, String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let path = socket.to_path_buf();
        let endpoint = Endpoint::try_from("http://[::]:50051").map_err(|e| e.to_string())?;
        let attempt = endpoint
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(stream))
                }
            }))
            .await;
        match attempt {
            Ok(channel) => return Ok(channel),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => return Err(format!("connect {}: {e}", socket.display())),
        }
    }
}

/// Starts the forwarder's HTTP side on `runtime`, connected to the echo server at `socket`.
pub fn start(runtime: &Runtime, socket: &Path) -> Result<HttpServer, String> {
    let forwarder = runtime.block_on(Forwarder::connect(socket.to_path_buf()))?;
    let route = warp::path!("echo")
        .and(warp::post())
        .and(warp::body::bytes())
        .then(move |body: Bytes| {
            let forwarder = forwarder.clone();
            async move {
                let (status, body) = forwarder.call(body).await;
                json_response(status, body)
            }
        });
    serve(runtime, route)
}
