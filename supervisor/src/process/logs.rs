//! Module output: read line by line into a bounded ring buffer and the supervisor's log.
//!
//! Each line of a module's stdout/stderr becomes a [`LogLine`] in the module's [`LogBuffer`]
//! (which backs `convotic-supervisor logs` and the admin API) and a `tracing` event with
//! workspace/module/instance fields. A line that is a JSON object is parsed: its `level` picks
//! the event level and `msg`/`message` the text; the other keys are kept as fields.
//!
//! Memory stays bounded whatever the module prints: lines are cut at [`MAX_LINE_BYTES`], the ring
//! keeps a fixed number of lines, and at most `lines_per_second` lines per module reach the
//! supervisor's log (the rest are counted and summarised once a second).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// Longest line kept; the rest of a longer line is dropped and the line marked truncated.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// The module's standard output.
    Stdout,
    /// The module's standard error.
    Stderr,
    /// An event the supervisor recorded about the module (start, exit, restart...).
    Supervisor,
    /// A line the module sent through `ctx.logger` (the Host Logger service).
    Logger,
}

impl Stream {
    /// Lower-case name, as in logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Supervisor => "supervisor",
            Stream::Logger => "logger",
        }
    }
}

/// One line of module output.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    /// Increasing sequence number within the module (for `--follow`).
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub ts_ms: u64,
    /// Which stream.
    pub stream: Stream,
    /// The instance that printed it.
    pub instance: String,
    /// The text, without the newline.
    pub text: String,
}

/// A module's recent output: a ring buffer of lines.
#[derive(Debug)]
pub struct LogBuffer {
    inner: Mutex<Ring>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Ring {
    lines: VecDeque<LogLine>,
    next_seq: u64,
}

impl LogBuffer {
    /// A buffer keeping the last `capacity` lines.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Ring::default()),
            capacity: capacity.max(1),
        }
    }

    /// Appends a line, evicting the oldest when full.
    pub fn push(&self, stream: Stream, instance: &str, text: String) {
        let mut ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let seq = ring.next_seq;
        ring.next_seq += 1;
        if ring.lines.len() == self.capacity {
            ring.lines.pop_front();
        }
        ring.lines.push_back(LogLine {
            seq,
            ts_ms: now_ms(),
            stream,
            instance: instance.to_string(),
            text,
        });
    }

    /// Lines with `seq > after` (all kept lines when `after` is None), at most the last `limit`.
    pub fn since(&self, after: Option<u64>, limit: usize) -> Vec<LogLine> {
        let ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let matching: Vec<&LogLine> = ring
            .lines
            .iter()
            .filter(|l| after.is_none_or(|a| l.seq > a))
            .collect();
        let skip = matching.len().saturating_sub(limit);
        matching.into_iter().skip(skip).cloned().collect()
    }

    /// The last `n` lines' texts, oldest first (for error reports).
    pub fn tail_text(&self, n: usize, stream: Stream) -> Vec<String> {
        let ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<String> = ring
            .lines
            .iter()
            .rev()
            .filter(|l| l.stream == stream)
            .take(n)
            .map(|l| l.text.clone())
            .collect();
        out.reverse();
        out
    }
}

/// Where one instance's output goes: its module's buffer and the supervisor's log.
pub struct LogSink {
    buffer: std::sync::Arc<LogBuffer>,
    workspace: String,
    module: String,
    instance: String,
    limiter: Mutex<RateLimiter>,
}

impl LogSink {
    /// A sink for one instance.
    pub fn new(
        buffer: std::sync::Arc<LogBuffer>,
        workspace: &str,
        module: &str,
        instance: &str,
        lines_per_second: u32,
    ) -> Self {
        Self {
            buffer,
            workspace: workspace.to_string(),
            module: module.to_string(),
            instance: instance.to_string(),
            limiter: Mutex::new(RateLimiter::new(lines_per_second)),
        }
    }

    /// Records one line.
    pub fn line(&self, stream: Stream, text: String) {
        let verdict = self
            .limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(Instant::now());
        if let Some(suppressed) = verdict.suppressed_before {
            tracing::warn!(
                workspace = %self.workspace, module = %self.module, instance = %self.instance,
                suppressed,
                "module output over the log rate limit: {suppressed} lines kept only in its ring buffer (see `convotic-supervisor logs {}`)",
                self.module
            );
        }
        if verdict.admit {
            self.emit(stream, &text);
        }
        self.buffer.push(stream, &self.instance, text);
    }

    fn emit(&self, stream: Stream, text: &str) {
        let parsed = parse_json_line(text);
        let (level, message, fields) = match &parsed {
            Some((level, message, fields)) => (*level, message.as_str(), fields.as_str()),
            None => (default_level(stream), text, ""),
        };
        macro_rules! event {
            ($lvl:expr) => {
                tracing::event!(
                    $lvl,
                    workspace = %self.workspace, module = %self.module, instance = %self.instance,
                    stream = stream.as_str(), fields = fields, "{message}"
                )
            };
        }
        match level {
            tracing::Level::ERROR => event!(tracing::Level::ERROR),
            tracing::Level::WARN => event!(tracing::Level::WARN),
            tracing::Level::DEBUG => event!(tracing::Level::DEBUG),
            tracing::Level::TRACE => event!(tracing::Level::TRACE),
            _ => event!(tracing::Level::INFO),
        }
    }
}

fn default_level(stream: Stream) -> tracing::Level {
    match stream {
        Stream::Stderr => tracing::Level::WARN,
        _ => tracing::Level::INFO,
    }
}

/// Parses a JSON-object line into (level, message, remaining fields as JSON text).
fn parse_json_line(text: &str) -> Option<(tracing::Level, String, String)> {
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let serde_json::Value::Object(mut map) = serde_json::from_str(text).ok()? else {
        return None;
    };
    let level = match map.remove("level").as_ref().and_then(|v| v.as_str()) {
        Some(l) if l.eq_ignore_ascii_case("error") || l.eq_ignore_ascii_case("fatal") => {
            tracing::Level::ERROR
        }
        Some(l) if l.eq_ignore_ascii_case("warn") || l.eq_ignore_ascii_case("warning") => {
            tracing::Level::WARN
        }
        Some(l) if l.eq_ignore_ascii_case("debug") => tracing::Level::DEBUG,
        Some(l) if l.eq_ignore_ascii_case("trace") => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    let message = map
        .remove("msg")
        .or_else(|| map.remove("message"))
        .map(|v| match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })
        .unwrap_or_default();
    let fields = if map.is_empty() {
        String::new()
    } else {
        serde_json::Value::Object(map).to_string()
    };
    Some((level, message, fields))
}

/// Reads `reader` line by line into `sink` until end of file.
pub async fn pump<R: AsyncRead + Unpin>(reader: R, stream: Stream, sink: std::sync::Arc<LogSink>) {
    let mut reader = BufReader::with_capacity(8 * 1024, reader);
    let mut line: Vec<u8> = Vec::new();
    let mut truncated = false;
    loop {
        let available = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(bytes) => bytes,
        };
        let (chunk, consumed, complete) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], i + 1, true),
            None => (available, available.len(), false),
        };
        let room = MAX_LINE_BYTES.saturating_sub(line.len());
        if chunk.len() > room {
            truncated = true;
        }
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        reader.consume(consumed);
        if complete {
            flush(&mut line, &mut truncated, stream, &sink);
        }
    }
    if !line.is_empty() {
        flush(&mut line, &mut truncated, stream, &sink);
    }
}

fn flush(line: &mut Vec<u8>, truncated: &mut bool, stream: Stream, sink: &LogSink) {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let mut text = String::from_utf8_lossy(line).into_owned();
    if *truncated {
        text.push_str(" …[line truncated]");
    }
    sink.line(stream, text);
    line.clear();
    *truncated = false;
}

/// At most `per_second` admitted lines per one-second window.
#[derive(Debug)]
struct RateLimiter {
    per_second: u32,
    window_start: Option<Instant>,
    admitted: u32,
    suppressed: u64,
}

struct Verdict {
    admit: bool,
    /// Lines suppressed in the previous window, reported once when a new window opens.
    suppressed_before: Option<u64>,
}

impl RateLimiter {
    fn new(per_second: u32) -> Self {
        Self {
            per_second,
            window_start: None,
            admitted: 0,
            suppressed: 0,
        }
    }

    fn admit(&mut self, now: Instant) -> Verdict {
        let mut suppressed_before = None;
        let new_window = self
            .window_start
            .is_none_or(|start| now.duration_since(start).as_secs() >= 1);
        if new_window {
            if self.suppressed > 0 {
                suppressed_before = Some(self.suppressed);
            }
            self.window_start = Some(now);
            self.admitted = 0;
            self.suppressed = 0;
        }
        let admit = self.admitted < self.per_second;
        if admit {
            self.admitted += 1;
        } else {
            self.suppressed += 1;
        }
        Verdict {
            admit,
            suppressed_before,
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn ring_is_bounded_and_ordered() {
        let buffer = LogBuffer::new(3);
        for i in 0..5 {
            buffer.push(Stream::Stdout, "i1", format!("line {i}"));
        }
        let lines = buffer.since(None, 100);
        let texts: Vec<_> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["line 2", "line 3", "line 4"]);
        assert_eq!(buffer.since(Some(3), 100).len(), 1);
        assert_eq!(buffer.since(None, 1)[0].text, "line 4");
    }

    #[test]
    fn json_lines_are_parsed() {
        let (level, message, fields) =
            parse_json_line(r#"{"level":"warn","msg":"disk low","free":12}"#).unwrap();
        assert_eq!(level, tracing::Level::WARN);
        assert_eq!(message, "disk low");
        assert_eq!(fields, r#"{"free":12}"#);
        assert!(parse_json_line("plain text").is_none());
        assert!(parse_json_line("{not json").is_none());
    }

    #[test]
    fn rate_limiter_counts_and_reports() {
        let mut limiter = RateLimiter::new(2);
        let t0 = Instant::now();
        assert!(limiter.admit(t0).admit);
        assert!(limiter.admit(t0).admit);
        assert!(!limiter.admit(t0).admit);
        assert!(!limiter.admit(t0).admit);
        let next = limiter.admit(t0 + Duration::from_millis(1001));
        assert!(next.admit);
        assert_eq!(next.suppressed_before, Some(2));
    }

    #[tokio::test]
    async fn pump_splits_and_truncates() {
        let buffer = Arc::new(LogBuffer::new(10));
        let sink = Arc::new(LogSink::new(buffer.clone(), "ws_a", "m", "i1", 100));
        let long = "x".repeat(MAX_LINE_BYTES + 10);
        let input = format!("first\r\n{long}\nlast-no-newline");
        pump(input.as_bytes(), Stream::Stdout, sink).await;
        let lines = buffer.since(None, 10);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].text, "first");
        assert!(lines[1].text.ends_with("[line truncated]"));
        assert!(lines[1].text.len() < MAX_LINE_BYTES + 40);
        assert_eq!(lines[2].text, "last-no-newline");
    }
}
