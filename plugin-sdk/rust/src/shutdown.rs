//! The serving lifecycle: counting invocations in flight, draining (after `Shutdown` or
//! SIGTERM: health NOT_SERVING, new invocations refused, wait for in-flight work) and the stop
//! signal that ends the server.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// Counts and flags, changed atomically under the watch channel's lock.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    in_flight: usize,
    draining: bool,
}

/// Shared state of one running server.
pub(crate) struct Lifecycle {
    counts: watch::Sender<Counts>,
    stop: watch::Sender<bool>,
    health: Option<HealthReporter>,
}

/// Held while an invocation is in flight; dropping it returns the slot.
pub(crate) struct InFlight {
    lifecycle: Arc<Lifecycle>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.lifecycle
            .counts
            .send_modify(|c| c.in_flight = c.in_flight.saturating_sub(1));
    }
}

impl Lifecycle {
    /// A lifecycle reporting health to `health` (if any).
    pub(crate) fn new(health: Option<HealthReporter>) -> Arc<Self> {
        Arc::new(Lifecycle {
            counts: watch::Sender::new(Counts::default()),
            stop: watch::Sender::new(false),
            health,
        })
    }

    /// Reports SERVING for the whole server and for the Plugin service.
    pub(crate) async fn set_serving(&self) {
        self.set_health(ServingStatus::Serving).await;
    }

    async fn set_health(&self, status: ServingStatus) {
        if let Some(health) = &self.health {
            health.set_service_status("", status).await;
            health
                .set_service_status(convotic_proto::PLUGIN_SERVICE_NAME, status)
                .await;
        }
    }

    /// Admits an invocation, or `None` when draining.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<InFlight> {
        let admitted = self.counts.send_if_modified(|c| {
            if c.draining {
                false
            } else {
                c.in_flight += 1;
                true
            }
        });
        admitted.then(|| InFlight {
            lifecycle: self.clone(),
        })
    }

    /// Whether draining has begun.
    #[cfg(test)]
    pub(crate) fn is_draining(&self) -> bool {
        self.counts.borrow().draining
    }

    /// Invocations in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.counts.borrow().in_flight
    }

    /// Starts draining: health NOT_SERVING, new invocations refused.
    pub(crate) async fn begin_drain(&self) {
        self.counts.send_modify(|c| c.draining = true);
        self.set_health(ServingStatus::NotServing).await;
    }

    /// Drains and waits until nothing is in flight or `grace` passes; returns how many
    /// invocations were still in flight (abandoned).
    pub(crate) async fn drain(&self, grace: Duration) -> u32 {
        self.begin_drain().await;
        let mut counts = self.counts.subscribe();
        let idle = counts.wait_for(|c| c.in_flight == 0);
        let _ = tokio::time::timeout(grace, idle).await;
        u32::try_from(self.in_flight()).unwrap_or(u32::MAX)
    }

    /// Asks the server to stop.
    pub(crate) fn request_stop(&self) {
        self.stop.send_replace(true);
    }

    /// Completes once a stop has been requested.
    pub(crate) async fn stopped(&self) {
        let mut stop = self.stop.subscribe();
        // The sender lives as long as `self`, so `wait_for` cannot fail while we borrow it.
        let _ = stop.wait_for(|stopped| *stopped).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_waits_for_in_flight_work() {
        let lifecycle = Lifecycle::new(None);
        let a = lifecycle.admit().unwrap();
        let b = lifecycle.admit().unwrap();
        assert_eq!(lifecycle.in_flight(), 2);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(a);
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(b);
        });
        let abandoned = lifecycle.drain(Duration::from_secs(5)).await;
        assert_eq!(abandoned, 0);
        assert!(lifecycle.admit().is_none());
        assert!(lifecycle.is_draining());
    }

    #[tokio::test]
    async fn drain_gives_up_after_grace() {
        let lifecycle = Lifecycle::new(None);
        let _held = lifecycle.admit().unwrap();
        let abandoned = lifecycle.drain(Duration::from_millis(30)).await;
        assert_eq!(abandoned, 1);
    }

    #[tokio::test]
    async fn stop_signal() {
        let lifecycle = Lifecycle::new(None);
        let waiter = {
            let lifecycle = lifecycle.clone();
            tokio::spawn(async move { lifecycle.stopped().await })
        };
        lifecycle.request_stop();
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
        lifecycle.stopped().await;
    }
}
