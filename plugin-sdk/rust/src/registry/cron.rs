//! [`Cron`]: a scheduled job.

use std::future::Future;
use std::time::Duration;

use convotic_proto::plugin::v1 as pb;

use super::millis;
use crate::context::Context;
use crate::error::HandlerError;
use crate::handler::{boxed_into, Handler};
use crate::types::{CronReport, CronTick};

/// What happens when a tick comes while the previous run is still running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Overlap {
    /// The tick is skipped and recorded as skipped (the default).
    #[default]
    Skip,
    /// The tick runs alongside the previous run.
    Allow,
}

/// What happens to ticks missed while the platform was down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CatchUp {
    /// Missed ticks are recorded as missed and not run (the default).
    #[default]
    None,
    /// If any ticks were missed, one run happens at start-up.
    Once,
}

/// A scheduled job.
///
/// ```
/// use convotic_plugin_sdk::prelude::*;
/// use std::time::Duration;
///
/// let cron = Cron::new("nightly-sync", "0 2 * * *")
///     .timezone("Europe/Paris")
///     .overlap(Overlap::Skip)
///     .timeout(Duration::from_secs(900))
///     .handler(|tick: CronTick, _ctx: Context| async move {
///         Ok(format!("synced for run {}", tick.run_id))
///     });
/// ```
#[derive(Clone)]
pub struct Cron {
    pub(crate) name: String,
    pub(crate) schedule: String,
    pub(crate) timezone: String,
    pub(crate) overlap: Overlap,
    pub(crate) catch_up: CatchUp,
    pub(crate) timeout: Option<Duration>,
    pub(crate) handler: Option<Handler<CronTick, CronReport>>,
}

impl Cron {
    /// A job named `name` (`[a-z0-9_.-]`) on `schedule`: 5 fields (classic cron), 6 fields
    /// (leading seconds) or a shorthand (`@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`).
    pub fn new(name: impl Into<String>, schedule: impl Into<String>) -> Self {
        Cron {
            name: name.into(),
            schedule: schedule.into(),
            timezone: String::new(),
            overlap: Overlap::Skip,
            catch_up: CatchUp::None,
            timeout: None,
            handler: None,
        }
    }

    /// IANA time zone of the schedule, e.g. `Europe/Paris` (default UTC).
    #[must_use]
    pub fn timezone(mut self, timezone: impl Into<String>) -> Self {
        self.timezone = timezone.into();
        self
    }

    /// Overlap policy (default [`Overlap::Skip`]).
    #[must_use]
    pub fn overlap(mut self, overlap: Overlap) -> Self {
        self.overlap = overlap;
        self
    }

    /// Catch-up policy (default [`CatchUp::None`]).
    #[must_use]
    pub fn catch_up(mut self, catch_up: CatchUp) -> Self {
        self.catch_up = catch_up;
        self
    }

    /// Deadline of one run (default 15 min).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the handler: an `async` function of `(CronTick, Context)` returning `()` or a
    /// note for the run history (`String` / `&'static str`).
    #[must_use]
    pub fn handler<F, Fut, Out>(mut self, f: F) -> Self
    where
        F: Fn(CronTick, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Out, HandlerError>> + Send + 'static,
        Out: Into<CronReport> + 'static,
    {
        self.handler = Some(boxed_into(f));
        self
    }

    /// The manifest entry.
    pub(crate) fn def(&self) -> pb::CronDef {
        pb::CronDef {
            name: self.name.clone(),
            schedule: self.schedule.clone(),
            timezone: self.timezone.clone(),
            overlap: match self.overlap {
                Overlap::Skip => pb::OverlapPolicy::Skip,
                Overlap::Allow => pb::OverlapPolicy::Allow,
            } as i32,
            timeout_ms: millis(self.timeout),
            catch_up: match self.catch_up {
                CatchUp::None => pb::CatchUpPolicy::None,
                CatchUp::Once => pb::CatchUpPolicy::Once,
            } as i32,
        }
    }
}

impl std::fmt::Debug for Cron {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cron")
            .field("name", &self.name)
            .field("schedule", &self.schedule)
            .field("has_handler", &self.handler.is_some())
            .finish_non_exhaustive()
    }
}
