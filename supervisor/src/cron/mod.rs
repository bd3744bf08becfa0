//! Crons: the schedules modules register (`CronDef`), evaluated in their own IANA time zone.
//!
//! * [`schedule`]: parsing a `CronDef`'s schedule and time zone, and computing its fire times
//!   as UTC instants, with the daylight-saving rules of `docs/crons.md`.
//! * [`scheduler`]: firing the ticks of every ready module's crons, overlap, timeouts, missed
//!   ticks, and "run now" for the HTTP API.
//!
//! Fire times come from croner evaluated on the zone's wall clock and mapped to instants with
//! chrono-tz; the supervisor sleeps on a tokio timer until each one. Run history lives in the
//! store (`Store::cron_run_start` and friends).

pub mod schedule;
pub mod scheduler;

pub use schedule::Schedule;
pub use scheduler::{start, CronInfo, RunNowError, Scheduler};

use std::time::Duration;

/// Deadline of one run when a `CronDef` says `timeout_ms: 0`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The deadline of one run for a `CronDef.timeout_ms` (0 = [`DEFAULT_TIMEOUT`]).
pub fn run_timeout(timeout_ms: u32) -> Duration {
    if timeout_ms == 0 {
        DEFAULT_TIMEOUT
    } else {
        Duration::from_millis(u64::from(timeout_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(run_timeout(0), Duration::from_secs(900));
        assert_eq!(run_timeout(2500), Duration::from_millis(2500));
    }
}
