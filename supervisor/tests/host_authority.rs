//! The Host server accepts any `:authority` (docs/PROTOCOL.md §2.3). gRPC clients built on
//! grpc-core (Python's grpcio and the other wrapped languages) send the percent-encoded socket
//! path for `unix:` targets, which is not a valid URI authority; grpc-java sends the raw path.
//! These tests speak HTTP/2 by hand over the Unix socket (the HTTP client crates refuse to send
//! such an authority) and check that the call is served, not reset.

#[path = "support/host_server.rs"]
mod host_server;

use std::path::Path;
use std::time::Duration;

use convotic_proto::host::v1 as pb;
use convotic_proto::host::v1::storage_client::StorageClient;
use convotic_proto::TOKEN_METADATA_KEY;
use convotic_supervisor::host::HostServer;
use convotic_supervisor::store::Store;
use hyper_util::rt::TokioIo;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tonic::transport::{Endpoint, Uri};

const TOKEN: &str = "test-token";

const FRAME_DATA: u8 = 0;
const FRAME_HEADERS: u8 = 1;
const FRAME_RST_STREAM: u8 = 3;
const FRAME_SETTINGS: u8 = 4;
const FRAME_PING: u8 = 6;
const FRAME_GOAWAY: u8 = 7;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_ACK: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;

async fn serve(dir: &Path, store: &Store) -> (std::path::PathBuf, HostServer) {
    let socket = dir.join("host.sock");
    let server = host_server::start(&socket, TOKEN, "ws_a", "m", store).await;
    (socket, server)
}

/// grpc-core's `:authority` for a `unix:` target: the path, percent-encoded.
fn percent_encoded(path: &Path) -> String {
    let mut out = String::new();
    for byte in path.to_str().expect("UTF-8 path").bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An HPACK integer with an `prefix_bits`-bit prefix (RFC 7541 §5.1), first byte `first`.
fn hpack_int(out: &mut Vec<u8>, first: u8, prefix_bits: u32, value: usize) {
    let max = (1usize << prefix_bits) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// A header block of literal fields without indexing, new names, no Huffman (RFC 7541 §6.2.2).
fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.push(0x00);
        hpack_int(&mut block, 0, 7, name.len());
        block.extend_from_slice(name.as_bytes());
        hpack_int(&mut block, 0, 7, value.len());
        block.extend_from_slice(value.as_bytes());
    }
    block
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// How the server ended stream 1.
#[derive(Debug, PartialEq)]
enum Ending {
    /// Response headers, then the stream ended normally (END_STREAM).
    Answered,
    /// RST_STREAM with this error code.
    Reset(u32),
    /// GOAWAY with this error code.
    GoAway(u32),
}

/// Sends one unary gRPC call `path` with `message` and the given `:authority` on stream 1.
async fn raw_call(socket: &Path, authority: &str, path: &str, message: &[u8]) -> Ending {
    let mut conn = UnixStream::connect(socket).await.expect("connect");
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(FRAME_SETTINGS, 0, 0, &[]));
    let block = header_block(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        (TOKEN_METADATA_KEY, TOKEN),
    ]);
    out.extend(frame(FRAME_HEADERS, FLAG_END_HEADERS, 1, &block));
    let mut grpc = vec![0u8];
    grpc.extend_from_slice(&(message.len() as u32).to_be_bytes());
    grpc.extend_from_slice(message);
    out.extend(frame(FRAME_DATA, FLAG_END_STREAM, 1, &grpc));
    conn.write_all(&out).await.expect("send");

    let mut headers_seen = false;
    loop {
        let mut head = [0u8; 9];
        conn.read_exact(&mut head).await.expect("frame header");
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        conn.read_exact(&mut payload).await.expect("frame payload");
        match kind {
            FRAME_SETTINGS if flags & FLAG_ACK == 0 => {
                conn.write_all(&frame(FRAME_SETTINGS, FLAG_ACK, 0, &[]))
                    .await
                    .expect("settings ack");
            }
            FRAME_PING if flags & FLAG_ACK == 0 => {
                conn.write_all(&frame(FRAME_PING, FLAG_ACK, 0, &payload))
                    .await
                    .expect("ping ack");
            }
            FRAME_RST_STREAM if stream == 1 => {
                return Ending::Reset(u32::from_be_bytes(payload[..4].try_into().unwrap()));
            }
            FRAME_GOAWAY => {
                return Ending::GoAway(u32::from_be_bytes(payload[4..8].try_into().unwrap()));
            }
            FRAME_HEADERS | FRAME_DATA if stream == 1 => {
                headers_seen |= kind == FRAME_HEADERS;
                if flags & FLAG_END_STREAM != 0 {
                    assert!(headers_seen, "stream 1 ended without response headers");
                    return Ending::Answered;
                }
            }
            _ => {}
        }
    }
}

async fn stored(socket: &Path, key: &str) -> Option<Vec<u8>> {
    let socket = socket.to_path_buf();
    let channel = Endpoint::from_static("http://host.invalid")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
        }))
        .await
        .expect("connect to the host socket");
    let mut request = tonic::Request::new(pb::StorageGetRequest { key: key.into() });
    request
        .metadata_mut()
        .insert(TOKEN_METADATA_KEY, TOKEN.parse().unwrap());
    match StorageClient::new(channel).get(request).await {
        Ok(entry) => Some(entry.into_inner().value_json),
        Err(status) if status.code() == tonic::Code::NotFound => None,
        Err(status) => panic!("storage get: {status}"),
    }
}

async fn set_with_authority(socket: &Path, authority: &str, key: &str) -> Ending {
    let message = pb::StorageSetRequest {
        key: key.into(),
        value_json: format!("{{\"authority\": {authority:?}}}").into_bytes(),
        ttl_ms: 0,
    }
    .encode_to_vec();
    tokio::time::timeout(
        Duration::from_secs(10),
        raw_call(socket, authority, "/convotic.host.v1.Storage/Set", &message),
    )
    .await
    .expect("the host server neither answered nor reset the stream")
}

#[tokio::test]
async fn a_percent_encoded_socket_path_as_authority_is_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("convotic.db")).expect("store");
    store.ensure_workspace("ws_a").await.expect("ws_a");
    let (socket, _server) = serve(dir.path(), &store).await;

    let grpc_core = percent_encoded(&socket);
    assert!(grpc_core.contains("%2F"), "{grpc_core}");
    assert_eq!(
        set_with_authority(&socket, &grpc_core, "grpc-core").await,
        Ending::Answered
    );
    assert!(
        stored(&socket, "grpc-core").await.is_some(),
        "the call with authority {grpc_core} did not store its value"
    );
}

#[tokio::test]
async fn any_authority_is_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("convotic.db")).expect("store");
    store.ensure_workspace("ws_a").await.expect("ws_a");
    let (socket, _server) = serve(dir.path(), &store).await;

    let raw_path = socket.display().to_string(); // grpc-java
    for (i, authority) in [
        "localhost",
        raw_path.as_str(),
        "%zz not even % valid",
        "[::1",
    ]
    .into_iter()
    .enumerate()
    {
        let key = format!("k{i}");
        assert_eq!(
            set_with_authority(&socket, authority, &key).await,
            Ending::Answered,
            "authority {authority:?}"
        );
        assert!(
            stored(&socket, &key).await.is_some(),
            "authority {authority:?}"
        );
    }
}
