//! The echo handler every scenario runs (parse the JSON body, serialize it back, as the SDK does
//! for a handler answering `req.body`), the 1 KiB request body, and scenario (a): the handler
//! served in-process by warp.

use std::net::SocketAddr;

use bytes::Bytes;
use serde_json::Value;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use warp::http::header::{HeaderValue, CONTENT_TYPE};
use warp::http::{Response, StatusCode};
use warp::Filter;

/// A JSON object of about 1 KiB, compact, keys sorted: echoing it through `serde_json::Value`
/// gives back the same bytes.
pub fn request_body() -> Bytes {
    let mut fields = serde_json::Map::new();
    let mut i = 0;
    while serde_json::to_vec(&fields).map_or(0, |v| v.len()) < 1000 {
        fields.insert(
            format!("field_{i:02}"),
            Value::from(format!("value-{i:04}-abcdefgh")),
        );
        i += 1;
    }
    Bytes::from(serde_json::to_vec(&fields).unwrap_or_default())
}

/// The echo handler: the body parsed as JSON and serialized again, `None` if it is not JSON.
pub fn echo(body: &[u8]) -> Option<Vec<u8>> {
    let value: Value = serde_json::from_slice(body).ok()?;
    serde_json::to_vec(&value).ok()
}

/// A JSON HTTP response.
pub fn json_response(status: u16, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A warp server on 127.0.0.1; stops when dropped.
pub struct HttpServer {
    /// Where it listens.
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

/// Serves `filter` on a random loopback port of `runtime`.
pub fn serve<F>(runtime: &Runtime, filter: F) -> Result<HttpServer, String>
where
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    let (stop, stopped) = oneshot::channel::<()>();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    runtime.spawn(
        warp::serve(filter)
            .incoming(listener)
            .graceful(async move {
                let _ = stopped.await;
            })
            .run(),
    );
    Ok(HttpServer { addr, _stop: stop })
}

/// Scenario (a): `POST /echo` answered in-process.
pub fn in_process(runtime: &Runtime) -> Result<HttpServer, String> {
    let route = warp::path!("echo")
        .and(warp::post())
        .and(warp::body::bytes())
        .map(|body: Bytes| match echo(&body) {
            Some(out) => json_response(200, out),
            None => json_response(400, br#"{"error":"not JSON"}"#.to_vec()),
        });
    serve(runtime, route)
}
