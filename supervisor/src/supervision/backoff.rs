//! Restart pacing: exponential backoff with jitter, and the crash-loop window.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// First restart delay.
pub const BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest restart delay outside a crash loop (in one, the module's `crash_loop_backoff`).
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// A module ready this long has its backoff reset.
pub const HEALTHY_RESET: Duration = Duration::from_secs(60);
/// More than this many crashes within [`CRASH_WINDOW`] is a crash loop.
pub const MAX_CRASHES: usize = 5;
/// The crash-loop window.
pub const CRASH_WINDOW: Duration = Duration::from_secs(60);

/// Exponential backoff (100 ms doubling up to a cap: 30 s, or the module's `crash_loop_backoff`
/// in a crash loop) with "equal jitter": each delay is half the exponential step plus a random
/// part of the other half, so restarts of many modules spread out but never come sooner than
/// half the step.
#[derive(Debug, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// The next delay, at most `cap`; advances the attempt counter.
    pub fn next_delay(&mut self, cap: Duration) -> Duration {
        let step = BACKOFF_START
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(cap);
        self.attempt = self.attempt.saturating_add(1);
        let half = step / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    /// Back to the first delay.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Crash times within the last [`CRASH_WINDOW`].
#[derive(Debug, Default)]
pub struct CrashWindow {
    crashes: VecDeque<Instant>,
}

impl CrashWindow {
    /// Records a crash at `now`; returns how many crashes the window holds.
    pub fn record(&mut self, now: Instant) -> usize {
        while self
            .crashes
            .front()
            .is_some_and(|t| now.duration_since(*t) > CRASH_WINDOW)
        {
            self.crashes.pop_front();
        }
        self.crashes.push_back(now);
        self.crashes.len()
    }

    /// Whether the module crashes often enough to be in a crash loop.
    pub fn is_crash_loop(count: usize) -> bool {
        count > MAX_CRASHES
    }

    /// Forgets every crash (operator restart).
    pub fn clear(&mut self) {
        self.crashes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut backoff = Backoff::default();
        let first = backoff.next_delay(BACKOFF_CAP);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let second = backoff.next_delay(BACKOFF_CAP);
        assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
        for _ in 0..30 {
            let d = backoff.next_delay(BACKOFF_CAP);
            assert!(d <= BACKOFF_CAP);
        }
        assert!(backoff.next_delay(BACKOFF_CAP) >= BACKOFF_CAP / 2);
        // A crash loop's cap (5 min by default) lets the delay keep growing, and no further.
        let crash_loop_cap = Duration::from_secs(300);
        let d = backoff.next_delay(crash_loop_cap);
        assert!(d > BACKOFF_CAP && d <= crash_loop_cap, "{d:?}");
        assert!(backoff.next_delay(Duration::from_secs(2)) <= Duration::from_secs(2));
        backoff.reset();
        assert!(backoff.next_delay(BACKOFF_CAP) <= Duration::from_millis(100));
    }

    #[test]
    fn six_crashes_in_a_minute_is_a_loop() {
        let mut window = CrashWindow::default();
        let t0 = Instant::now();
        let mut count = 0;
        for i in 0..6 {
            count = window.record(t0 + Duration::from_secs(i * 5));
        }
        assert!(CrashWindow::is_crash_loop(count));
        let mut window = CrashWindow::default();
        for i in 0..6 {
            count = window.record(t0 + Duration::from_secs(i * 20));
        }
        assert!(!CrashWindow::is_crash_loop(count), "{count}");
    }
}
