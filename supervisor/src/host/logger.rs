//! `convotic.host.v1.Logger`: a module's `ctx.logger` lines, into the supervisor's log and the
//! module's ring buffer, with the module's identity attached.

use std::sync::Arc;

use convotic_proto::host::v1::logger_server::Logger;
use convotic_proto::host::v1::{LogLevel, LogRequest, LogResponse};
use tonic::{Request, Response, Status};

use crate::process::{LogSink, Stream};

/// Largest accepted log message plus fields.
const MAX_LOG_BYTES: usize = 64 * 1024;

/// The Logger service of one instance.
pub struct HostLogger {
    sink: Arc<LogSink>,
}

impl HostLogger {
    /// A logger writing into `sink` (which carries the instance's identity).
    pub fn new(sink: Arc<LogSink>) -> Self {
        Self { sink }
    }
}

#[tonic::async_trait]
impl Logger for HostLogger {
    async fn log(&self, request: Request<LogRequest>) -> Result<Response<LogResponse>, Status> {
        let request = request.into_inner();
        if request.message.len() + request.fields_json.len() > MAX_LOG_BYTES {
            return Err(Status::invalid_argument(format!(
                "log line is over {MAX_LOG_BYTES} bytes (message + fields)"
            )));
        }
        let mut line = serde_json::Map::new();
        if !request.fields_json.is_empty() {
            match serde_json::from_slice::<serde_json::Value>(&request.fields_json) {
                Ok(serde_json::Value::Object(fields)) => line.extend(fields),
                _ => {
                    return Err(Status::invalid_argument(
                        "fields_json must be a UTF-8 JSON object",
                    ))
                }
            }
        }
        let level = LogLevel::try_from(request.level).unwrap_or(LogLevel::Info);
        let level_name = match level {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            _ => "info",
        };
        line.insert("level".into(), level_name.into());
        line.insert("msg".into(), request.message.into());
        if !request.request_id.is_empty() {
            line.insert("request_id".into(), request.request_id.into());
        }
        line.insert("source".into(), "ctx.logger".into());
        self.sink
            .line(Stream::Logger, serde_json::Value::Object(line).to_string());
        Ok(Response::new(LogResponse {}))
    }
}
