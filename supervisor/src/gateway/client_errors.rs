//! Logging of what clients get wrong (malformed requests, broken connections, timeouts): each
//! at debug level, and at most one info line per interval counting them, so a fuzzer or a
//! scanner cannot flood the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Shortest time between two info lines.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

static SINCE_LAST_SUMMARY: AtomicU64 = AtomicU64::new(0);
static LAST_SUMMARY: Mutex<Option<Instant>> = Mutex::new(None);

/// Records one client error: a debug line, and an info line with the count when the last one
/// is more than a minute old.
pub fn record(peer: Option<std::net::SocketAddr>, what: &str) {
    let peer = peer.map(|p| p.to_string()).unwrap_or_default();
    tracing::debug!(peer, "client error: {what}");
    let count = SINCE_LAST_SUMMARY.fetch_add(1, Ordering::Relaxed) + 1;
    let now = Instant::now();
    let Ok(mut last) = LAST_SUMMARY.try_lock() else {
        return;
    };
    if last.is_some_and(|at| now.duration_since(at) < SUMMARY_INTERVAL) {
        return;
    }
    *last = Some(now);
    SINCE_LAST_SUMMARY.fetch_sub(count, Ordering::Relaxed);
    tracing::info!(
        count,
        "client errors (malformed requests, timeouts, broken connections) since the last report; latest from {peer}: {what} (details at debug level)"
    );
}
