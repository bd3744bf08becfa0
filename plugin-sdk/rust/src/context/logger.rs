//! `ctx.logger()`: structured logs sent to the host's Logger service (in order, without
//! blocking the handler); when the host cannot take a line it is written to stderr as a JSON
//! object instead.

use convotic_proto::host::v1::{LogLevel, LogRequest};
use serde_json::Value;

use super::Context;
use crate::types::json_bytes;

/// The structured logger of a call; see [`Context::logger`]. Lines carry the call's request id.
#[derive(Debug, Clone)]
pub struct Logger {
    ctx: Context,
}

impl Logger {
    pub(crate) fn new(ctx: Context) -> Self {
        Logger { ctx }
    }

    /// Logs at `level` with optional structured fields (a JSON object, or `Value::Null`; any
    /// other value is logged as the field `fields`).
    pub fn log(&self, level: LogLevel, message: impl Into<String>, fields: Value) {
        let fields = match fields {
            Value::Object(_) | Value::Null => fields,
            other => serde_json::json!({ "fields": other }),
        };
        self.ctx.host().log(LogRequest {
            level: level as i32,
            message: message.into(),
            fields_json: json_bytes(&fields),
            request_id: self.ctx.request_id().to_string(),
        });
    }

    /// Logs at debug level.
    pub fn debug(&self, message: impl Into<String>) {
        self.log(LogLevel::Debug, message, Value::Null);
    }

    /// Logs at info level.
    pub fn info(&self, message: impl Into<String>) {
        self.log(LogLevel::Info, message, Value::Null);
    }

    /// Logs at warn level.
    pub fn warn(&self, message: impl Into<String>) {
        self.log(LogLevel::Warn, message, Value::Null);
    }

    /// Logs at error level.
    pub fn error(&self, message: impl Into<String>) {
        self.log(LogLevel::Error, message, Value::Null);
    }

    /// Logs at debug level with structured fields, e.g. `json!({"order": id})`.
    pub fn debug_with(&self, message: impl Into<String>, fields: Value) {
        self.log(LogLevel::Debug, message, fields);
    }

    /// Logs at info level with structured fields.
    pub fn info_with(&self, message: impl Into<String>, fields: Value) {
        self.log(LogLevel::Info, message, fields);
    }

    /// Logs at warn level with structured fields.
    pub fn warn_with(&self, message: impl Into<String>, fields: Value) {
        self.log(LogLevel::Warn, message, fields);
    }

    /// Logs at error level with structured fields.
    pub fn error_with(&self, message: impl Into<String>, fields: Value) {
        self.log(LogLevel::Error, message, fields);
    }
}
