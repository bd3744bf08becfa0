//! A Host server for one instance (`i1`), on a socket in a test's directory, and a tonic
//! channel to it: what the Host tests share.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use convotic_supervisor::host::{HostIdentity, HostServer};
use convotic_supervisor::process::{LogBuffer, LogSink};
use convotic_supervisor::store::Store;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// Serves the Host of `workspace`/`module` on `socket`, calls checked against `token`.
pub async fn start(
    socket: &Path,
    token: &str,
    workspace: &str,
    module: &str,
    store: &Store,
) -> HostServer {
    let identity = HostIdentity {
        workspace: workspace.into(),
        module: module.into(),
        instance: "i1".into(),
    };
    let sink = Arc::new(LogSink::new(
        Arc::new(LogBuffer::new(100)),
        workspace,
        module,
        "i1",
        1000,
    ));
    HostServer::start(socket, token.into(), identity, sink, store.clone())
        .await
        .expect("host server")
}

/// A channel to the Host server on `socket`.
pub async fn channel(socket: &Path) -> Channel {
    let socket = socket.to_path_buf();
    Endpoint::from_static("http://host.invalid")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
        }))
        .await
        .expect("connect to the host socket")
}
