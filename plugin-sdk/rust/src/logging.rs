//! JSON log lines on stderr: the SDK's own diagnostics, and the fallback of `ctx.logger()` when
//! the host cannot take a line. The supervisor parses a stderr line that is a JSON object into
//! structured fields (`level`, `msg`).

use std::io::Write;

use convotic_proto::host::v1::{LogLevel, LogRequest};
use serde_json::{Map, Value};

use crate::types::parse_json;

/// Lower-case name of a log level.
pub(crate) fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info | LogLevel::Unspecified => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

/// Builds one JSON log line (without the newline). Object fields are merged at the top level,
/// without overriding `level` and `msg`; any other value goes under `fields`.
pub(crate) fn format_line(level: &str, msg: &str, request_id: &str, fields: Value) -> String {
    let mut line = Map::new();
    line.insert("level".into(), Value::from(level));
    line.insert("msg".into(), Value::from(msg));
    if !request_id.is_empty() {
        line.insert("request_id".into(), Value::from(request_id));
    }
    match fields {
        Value::Null => {}
        Value::Object(map) => {
            for (key, value) in map {
                line.entry(key).or_insert(value);
            }
        }
        other => {
            line.insert("fields".into(), other);
        }
    }
    Value::Object(line).to_string()
}

/// Writes one line to stderr, ignoring write errors (there is nowhere else to report them).
fn write_stderr(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

/// Writes an SDK diagnostic to stderr.
pub(crate) fn emit(level: &str, msg: &str, fields: Value) {
    write_stderr(&format_line(level, msg, "", fields));
}

/// Writes a log line meant for the host to stderr instead.
pub(crate) fn log_request_to_stderr(line: &LogRequest) {
    let level = LogLevel::try_from(line.level).unwrap_or(LogLevel::Info);
    let fields = parse_json(&line.fields_json).unwrap_or(Value::Null);
    write_stderr(&format_line(
        level_name(level),
        &line.message,
        &line.request_id,
        fields,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_object_fields() {
        let line = format_line("info", "hi", "r1", json!({"a": 1, "msg": "ignored"}));
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            parsed,
            json!({"level": "info", "msg": "hi", "request_id": "r1", "a": 1})
        );
    }

    #[test]
    fn other_fields_are_nested() {
        let line = format_line("warn", "x", "", json!([1, 2]));
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            parsed,
            json!({"level": "warn", "msg": "x", "fields": [1, 2]})
        );
    }
}
