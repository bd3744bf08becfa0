//! A bare `convotic.plugin.v1.Plugin` server on a Unix socket whose `Work` stream answers each
//! route invocation with the echo of its body, in order, with no SDK around it: the module
//! side of scenario (b).

use std::path::Path;
use std::pin::Pin;

use convotic_proto::plugin::v1 as pb;
use pb::invocation::Kind;
use pb::module_frame::Frame as Out;
use pb::plugin_server::{Plugin, PluginServer};
use pb::supervisor_frame::Frame as In;
use tokio::net::UnixListener;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio_stream::wrappers::UnixListenerStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::echo::echo;

/// Largest message either side accepts.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

struct EchoPlugin;

/// The answer to one frame, if it needs one.
fn answer(frame: pb::SupervisorFrame) -> Option<pb::ModuleFrame> {
    let out = match frame.frame? {
        In::Open(open) => Out::Ready(pb::LaneReady { lane: open.lane }),
        In::Invocation(inv) => {
            let result = match inv.kind {
                Some(Kind::Route(req)) => match echo(&req.body) {
                    Some(body) => pb::outcome::Result::Route(pb::RouteResponse {
                        status: 200,
                        body_kind: pb::BodyKind::Json as i32,
                        body,
                        ..Default::default()
                    }),
                    None => bad_input("the body is not JSON"),
                },
                _ => bad_input("only route invocations are echoed"),
            };
            Out::Outcome(pb::Outcome {
                id: inv.id,
                result: Some(result),
            })
        }
        // Batches never come: this server announces no features.
        In::Cancel(_) | In::Batch(_) => return None,
    };
    Some(pb::ModuleFrame { frame: Some(out) })
}

fn bad_input(message: &str) -> pb::outcome::Result {
    pb::outcome::Result::Error(pb::Error {
        code: pb::ErrorCode::BadInput as i32,
        message: message.to_string(),
        ..Default::default()
    })
}

type FrameStream = Pin<Box<dyn Stream<Item = Result<pb::ModuleFrame, Status>> + Send>>;

#[tonic::async_trait]
impl Plugin for EchoPlugin {
    async fn describe(
        &self,
        _request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::DescribeResponse>, Status> {
        Err(Status::unimplemented("bench echo server: Work only"))
    }

    type WorkStream = FrameStream;

    async fn work(
        &self,
        request: Request<Streaming<pb::SupervisorFrame>>,
    ) -> Result<Response<Self::WorkStream>, Status> {
        let frames = request.into_inner().filter_map(|frame| match frame {
            Ok(frame) => answer(frame).map(Ok),
            Err(status) => Some(Err(status)),
        });
        Ok(Response::new(Box::pin(frames)))
    }

    async fn shutdown(
        &self,
        _request: Request<pb::ShutdownRequest>,
    ) -> Result<Response<pb::ShutdownResponse>, Status> {
        Err(Status::unimplemented("bench echo server: Work only"))
    }
}

/// The running server; stops when dropped.
pub struct EchoServer {
    _stop: oneshot::Sender<()>,
}

/// Serves the echo plugin on `socket` on `runtime`.
pub fn start(runtime: &Runtime, socket: &Path) -> Result<EchoServer, String> {
    let _ = std::fs::remove_file(socket);
    let listener = {
        let _guard = runtime.enter();
        UnixListener::bind(socket).map_err(|e| format!("bind {}: {e}", socket.display()))?
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let service = PluginServer::new(EchoPlugin)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    runtime.spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async move {
                let _ = stopped.await;
            }),
    );
    Ok(EchoServer { _stop: stop })
}
