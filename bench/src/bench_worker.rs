//! `bench-worker`: the module `bench workers` runs, so the handler itself costs nothing.
//!
//! * A worker on topic `bench.events` (concurrency 256, `max_in_flight` 1024) that counts the
//!   message and acknowledges it at once: no host call, no log line.
//! * `GET /count` answers `{"count": n}`, the messages handled since the process started (the
//!   bench polls it to see when the embedded queue's messages are all through).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use convotic_plugin_sdk::prelude::*;
use serde_json::json;

/// The topic the bench publishes to.
const TOPIC: &str = "bench.events";

struct BenchWorker {
    handled: Arc<AtomicU64>,
}

impl ConvoticModule for BenchWorker {
    fn name(&self) -> &str {
        "bench-worker"
    }

    fn version(&self) -> &str {
        "1.0.0"
    }

    fn register(&self, sdk: &mut Sdk) {
        sdk.max_in_flight(1024);
        let handled = Arc::clone(&self.handled);
        sdk.register_worker_handler(WorkerHandler::new(TOPIC).concurrency(256).handler(
            move |_msg: WorkerMessage, _ctx: Context| {
                handled.fetch_add(1, Ordering::Relaxed);
                async move { Ok(()) }
            },
        ));
        let handled = Arc::clone(&self.handled);
        sdk.register_route(Route::get("/count").handler(
            move |_req: RouteRequest, _ctx: Context| {
                let count = handled.load(Ordering::Relaxed);
                async move { Ok(RouteResponse::json(200, json!({ "count": count }))) }
            },
        ));
    }
}

fn main() {
    convotic_plugin_sdk::run(BenchWorker {
        handled: Arc::new(AtomicU64::new(0)),
    })
}
