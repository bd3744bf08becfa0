//! Well-known names exchanged in the handshake (docs/PROTOCOL.md, "Features").

/// The module answers `Cancel` frames by stopping the invocation.
pub const FEATURE_CANCEL: &str = "work.cancel";
/// The module accepts several `Work` streams (lanes) at once.
pub const FEATURE_LANES: &str = "work.lanes";
/// The module drains in-flight work on `Shutdown`.
pub const FEATURE_GRACEFUL_SHUTDOWN: &str = "shutdown.drain";
/// Work frames may carry several invocations, cancels or outcomes (`WorkBatch`, `OutcomeBatch`).
pub const FEATURE_BATCH: &str = "work.batch";
/// The supervisor serves `HostStream.Calls`: Host calls multiplexed on one stream.
pub const FEATURE_HOST_STREAM: &str = "host.stream";
