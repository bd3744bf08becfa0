//! Connecting to a module's Unix socket, retrying quickly until it listens.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

/// First retry delay; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(1);
const MAX_RETRY: Duration = Duration::from_millis(25);

/// Opens an HTTP/2 channel to the module's socket, retrying until `deadline`. Returns the last
/// connection error when the deadline passes.
pub async fn connect(path: &Path, deadline: Instant) -> Result<Channel, io::Error> {
    let mut delay = FIRST_RETRY;
    loop {
        match connect_once(path).await {
            Ok(channel) => return Ok(channel),
            Err(e) if Instant::now() + delay >= deadline => return Err(e),
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RETRY);
            }
        }
    }
}

async fn connect_once(path: &Path) -> Result<Channel, io::Error> {
    // Fail fast while the socket does not exist yet, without building a channel.
    let stream = UnixStream::connect(path).await?;
    let first = std::sync::Mutex::new(Some(stream));
    let path: PathBuf = path.to_path_buf();
    // No HTTP/2 keepalive pings: gRPC servers in other languages (grpc-go's default policy)
    // answer frequent pings with GOAWAY; liveness comes from the health probes instead.
    let endpoint = Endpoint::from_static("http://module.invalid").tcp_nodelay(true);
    endpoint
        .connect_with_connector(tower::service_fn(move |_| {
            let reuse = first.lock().ok().and_then(|mut s| s.take());
            let path = path.clone();
            async move {
                let stream = match reuse {
                    Some(stream) => stream,
                    None => UnixStream::connect(&path).await?,
                };
                Ok::<_, io::Error>(TokioIo::new(stream))
            }
        }))
        .await
        .map_err(io::Error::other)
}
