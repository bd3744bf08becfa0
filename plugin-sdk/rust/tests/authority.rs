//! The SDK's Plugin server accepts any `:authority` (docs/PROTOCOL.md §2.3), including the
//! percent-encoded socket path grpc-core clients send for `unix:` targets and grpc-java's raw
//! path. HTTP/2 is written by hand: the HTTP client crates refuse to send such authorities.

use std::path::Path;
use std::time::Duration;

use convotic_plugin_sdk::prelude::*;
use convotic_plugin_sdk::{serve, ServeOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

struct Empty;

impl ConvoticModule for Empty {
    fn name(&self) -> &str {
        "empty"
    }

    fn version(&self) -> &str {
        "1.0.0"
    }

    fn register(&self, _sdk: &mut Sdk) {}
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Literal header fields without indexing, new names, no Huffman (RFC 7541 §6.2.2); every
/// name and value here is shorter than 127 bytes.
fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        assert!(name.len() < 127 && value.len() < 127);
        block.push(0x00);
        block.push(name.len() as u8);
        block.extend_from_slice(name.as_bytes());
        block.push(value.len() as u8);
        block.extend_from_slice(value.as_bytes());
    }
    block
}

/// `Health/Check("")` on stream 1 with `authority`: true when answered, false when reset.
async fn health_check_served(socket: &Path, authority: &str) -> bool {
    let mut conn = UnixStream::connect(socket).await.expect("connect");
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(4, 0, 0, &[]));
    let block = header_block(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/grpc.health.v1.Health/Check"),
        (":authority", authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]);
    out.extend(frame(1, 0x4, 1, &block));
    out.extend(frame(0, 0x1, 1, &[0, 0, 0, 0, 0])); // an empty HealthCheckRequest
    conn.write_all(&out).await.expect("send");
    loop {
        let mut head = [0u8; 9];
        conn.read_exact(&mut head).await.expect("frame header");
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        conn.read_exact(&mut payload).await.expect("frame payload");
        match (kind, stream) {
            (4, 0) if flags & 0x1 == 0 => {
                conn.write_all(&frame(4, 0x1, 0, &[])).await.expect("ack");
            }
            (3, 1) | (7, _) => return false, // RST_STREAM, GOAWAY
            (0 | 1, 1) if flags & 0x1 != 0 => return true,
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_server_serves_any_authority() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("plugin.sock");
    let server = tokio::spawn(serve(Empty, ServeOptions::new(&socket)));
    for _ in 0..200 {
        if UnixStream::connect(&socket).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let path = socket.to_str().unwrap().to_string();
    let percent_encoded = path.replace('/', "%2F");
    for authority in [percent_encoded.as_str(), path.as_str(), "localhost"] {
        let served = tokio::time::timeout(
            Duration::from_secs(10),
            health_check_served(&socket, authority),
        )
        .await
        .expect("neither answered nor reset");
        assert!(served, "a call with :authority {authority:?} was reset");
    }
    server.abort();
}
