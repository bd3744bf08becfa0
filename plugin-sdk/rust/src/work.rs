//! The `Work` stream (a lane): answers `LaneOpen` with `LaneReady`, runs every `Invocation` as
//! its own task (deadline, cancellation, panic capture) and sends exactly one `Outcome` per
//! invocation id back through a channel feeding the response stream. A `WorkBatch` frame
//! (feature `work.batch`) is handled as its invocations then its cancels; when the supervisor
//! offered `work.batch`, the outcomes ready together leave in one `OutcomeBatch` frame.
//!
//! Exactly-once: each running invocation has an entry in the lane's `running` map. Whoever
//! removes the entry (the task when it finishes, the `Cancel` frame, or the lane being stopped)
//! is the one that sends the outcome; the others send nothing.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use convotic_proto::plugin::v1 as pb;
use futures::{FutureExt, Stream, StreamExt};
use pb::module_frame::Frame as Out;
use pb::outcome::Result as OutcomeResult;
use pb::supervisor_frame::Frame as In;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::Instant;

use crate::dispatch::{error, Dispatcher};
use crate::logging;
use crate::shutdown::Lifecycle;

/// Frames buffered towards the supervisor before handlers wait to send.
const OUTBOUND_BUFFER: usize = 1024;
/// Most outcomes in one `OutcomeBatch` frame.
const BATCH_ITEMS: usize = 256;
/// Most bytes of outcomes in one `OutcomeBatch` frame (a larger outcome still travels, alone).
const BATCH_BYTES: usize = 1024 * 1024;

type Frames = mpsc::Sender<pb::ModuleFrame>;

/// The frames a lane sends back to the supervisor.
pub(crate) type LaneFrames =
    std::pin::Pin<Box<dyn Stream<Item = Result<pb::ModuleFrame, tonic::Status>> + Send>>;

/// State shared by a lane's reader and its invocation tasks.
struct Lane {
    frames: Frames,
    running: Mutex<HashMap<u64, oneshot::Sender<()>>>,
    /// Signalled each time a task finishes.
    finished: Notify,
}

impl Lane {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<()>>> {
        // A panic while holding this lock cannot leave the map inconsistent: keep using it.
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes `id`; true if the caller now owns its outcome.
    fn take(&self, id: u64) -> Option<oneshot::Sender<()>> {
        self.running().remove(&id)
    }

    async fn send(&self, frame: Out) {
        // A send fails only when the supervisor has gone away; nothing is left to tell.
        let _ = self
            .frames
            .send(pb::ModuleFrame { frame: Some(frame) })
            .await;
    }

    async fn send_outcome(&self, id: u64, result: OutcomeResult) {
        self.send(Out::Outcome(pb::Outcome {
            id,
            result: Some(result),
        }))
        .await;
    }

    /// Stops every running invocation; with `answer`, sends each one `answer` as outcome.
    async fn stop_all(&self, answer: Option<OutcomeResult>) {
        let stopped: Vec<(u64, oneshot::Sender<()>)> = self.running().drain().collect();
        for (id, cancel) in stopped {
            let _ = cancel.send(());
            if let Some(result) = &answer {
                self.send_outcome(id, result.clone()).await;
            }
        }
    }
}

/// Serves one `Work` stream: reads frames from `inbound` and returns the stream of frames to
/// send back. The returned stream ends once the inbound side has ended (the supervisor
/// half-closed it) and every invocation has been answered. When the server stops, invocations
/// still running are answered UNAVAILABLE. With `batch_outcomes` (the supervisor offered
/// `work.batch`), outcomes queued together leave in one frame.
pub(crate) fn serve_lane<S>(
    dispatcher: Arc<Dispatcher>,
    lifecycle: Arc<Lifecycle>,
    inbound: S,
    batch_outcomes: bool,
) -> LaneFrames
where
    S: Stream<Item = Result<pb::SupervisorFrame, tonic::Status>> + Send + Unpin + 'static,
{
    let (frames, rx) = mpsc::channel(OUTBOUND_BUFFER);
    let lane = Arc::new(Lane {
        frames,
        running: Mutex::new(HashMap::new()),
        finished: Notify::new(),
    });
    tokio::spawn(read_lane(dispatcher, lifecycle, lane, inbound));
    let max_items = if batch_outcomes { BATCH_ITEMS } else { 1 };
    Box::pin(
        convotic_proto::batch::ReadyBatches::new(
            rx,
            max_items,
            BATCH_BYTES,
            prost::Message::encoded_len,
            |frame| matches!(frame.frame, Some(Out::Outcome(_))),
        )
        .map(|frames| Ok(into_frame(frames))),
    )
}

/// One frame for what was queued together: the frame itself when alone, an `OutcomeBatch`
/// otherwise (only outcomes are ever queued together).
fn into_frame(mut frames: Vec<pb::ModuleFrame>) -> pb::ModuleFrame {
    if frames.len() == 1 {
        return frames.pop().unwrap_or_default();
    }
    let outcomes = frames
        .into_iter()
        .filter_map(|frame| match frame.frame {
            Some(Out::Outcome(outcome)) => Some(outcome),
            _ => None,
        })
        .collect();
    pb::ModuleFrame {
        frame: Some(Out::Outcomes(pb::OutcomeBatch { outcomes })),
    }
}

async fn read_lane<S>(
    dispatcher: Arc<Dispatcher>,
    lifecycle: Arc<Lifecycle>,
    lane: Arc<Lane>,
    mut inbound: S,
) where
    S: Stream<Item = Result<pb::SupervisorFrame, tonic::Status>> + Send + Unpin + 'static,
{
    let mut stopped = false;
    loop {
        let frame = tokio::select! {
            frame = inbound.next() => frame,
            () = lane.frames.closed() => {
                // The supervisor dropped the response stream: nobody will read outcomes.
                lane.stop_all(None).await;
                return;
            }
            () = lifecycle.stopped(), if !stopped => {
                // Answer what is still running; the lane itself ends only once the supervisor
                // half-closes it (new invocations are refused: the module is draining).
                stopped = true;
                lane.stop_all(Some(abandoned())).await;
                continue;
            }
        };
        match frame {
            // End of the inbound side: keep answering what is running.
            None => return finish_lane(&lifecycle, &lane).await,
            Some(Err(status)) => {
                logging::emit(
                    "warn",
                    "work stream failed",
                    serde_json::json!({"error": status.message()}),
                );
                lane.stop_all(None).await;
                return;
            }
            Some(Ok(pb::SupervisorFrame { frame: None })) => {}
            Some(Ok(pb::SupervisorFrame {
                frame: Some(In::Open(open)),
            })) => {
                lane.send(Out::Ready(pb::LaneReady { lane: open.lane }))
                    .await;
            }
            Some(Ok(pb::SupervisorFrame {
                frame: Some(In::Cancel(cancel)),
            })) => cancel_one(&lane, cancel).await,
            Some(Ok(pb::SupervisorFrame {
                frame: Some(In::Invocation(invocation)),
            })) => start(&dispatcher, &lifecycle, &lane, invocation).await,
            Some(Ok(pb::SupervisorFrame {
                frame: Some(In::Batch(batch)),
            })) => {
                for invocation in batch.invocations {
                    start(&dispatcher, &lifecycle, &lane, invocation).await;
                }
                for cancel in batch.cancels {
                    cancel_one(&lane, cancel).await;
                }
            }
        }
    }
}

/// Handles one `Cancel`: stops the invocation and answers CANCELLED if it is still running.
async fn cancel_one(lane: &Lane, cancel: pb::Cancel) {
    if let Some(signal) = lane.take(cancel.id) {
        let _ = signal.send(());
        let reason = if cancel.reason.is_empty() {
            "cancelled".to_string()
        } else {
            format!("cancelled: {}", cancel.reason)
        };
        lane.send_outcome(cancel.id, error(pb::ErrorCode::Cancelled, reason, false))
            .await;
    }
}

/// After the inbound side ended: waits until every running invocation has been answered (the
/// response stream then ends), or stops them if the server stops or the supervisor goes away.
async fn finish_lane(lifecycle: &Lifecycle, lane: &Lane) {
    loop {
        let finished = lane.finished.notified();
        if lane.running().is_empty() {
            return;
        }
        tokio::select! {
            () = finished => {}
            () = lane.frames.closed() => return lane.stop_all(None).await,
            () = lifecycle.stopped() => {
                return lane.stop_all(Some(abandoned())).await;
            }
        }
    }
}

/// Starts one invocation's task (or answers at once when draining or on a duplicate id).
async fn start(
    dispatcher: &Arc<Dispatcher>,
    lifecycle: &Arc<Lifecycle>,
    lane: &Arc<Lane>,
    invocation: pb::Invocation,
) {
    let received = Instant::now();
    let id = invocation.id;
    let Some(in_flight) = lifecycle.admit() else {
        lane.send_outcome(
            id,
            error(
                pb::ErrorCode::Unavailable,
                "the module is shutting down",
                true,
            ),
        )
        .await;
        return;
    };
    let (cancel_tx, cancel_rx) = oneshot::channel();
    {
        let mut running = lane.running();
        if running.contains_key(&id) {
            drop(running);
            logging::emit(
                "warn",
                "ignored an invocation whose id is already running",
                serde_json::json!({"id": id}),
            );
            return;
        }
        running.insert(id, cancel_tx);
    }
    let deadline = (invocation.timeout_ms > 0)
        .then(|| received + Duration::from_millis(invocation.timeout_ms));
    let dispatcher = dispatcher.clone();
    let lane = lane.clone();
    tokio::spawn(async move {
        let _in_flight = in_flight;
        let work =
            AssertUnwindSafe(dispatcher.run(invocation.kind, invocation.request_id, deadline))
                .catch_unwind();
        let timed = async move {
            match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, work).await.ok(),
                None => Some(work.await),
            }
        };
        let result = tokio::select! {
            // Cancelled (its outcome is sent by the canceller) or the lane is gone.
            _ = cancel_rx => return,
            result = timed => result,
        };
        let result = match result {
            None => error(pb::ErrorCode::DeadlineExceeded, "deadline exceeded", true),
            Some(Err(panic)) => error(
                pb::ErrorCode::Internal,
                format!("handler panicked: {}", panic_message(panic.as_ref())),
                false,
            ),
            Some(Ok(result)) => result,
        };
        if lane.take(id).is_some() {
            lane.send_outcome(id, result).await;
        }
        lane.finished.notify_waiters();
    });
}

/// The outcome of an invocation still running when the server stops.
fn abandoned() -> OutcomeResult {
    error(
        pb::ErrorCode::Unavailable,
        "the module stopped before the invocation finished",
        true,
    )
}

/// The message of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::host::Host;
    use crate::context::Identity;
    use crate::prelude::*;
    use crate::registry::Registry;
    use pb::invocation::Kind;
    use serde_json::json;
    use std::collections::HashSet;
    use tokio_stream::wrappers::ReceiverStream;

    fn sdk() -> Sdk {
        let mut sdk = Sdk::new();
        sdk.register_route(Route::get("/hello/:name").handler(
            |req: RouteRequest, _ctx| async move {
                Ok(RouteResponse::json(
                    200,
                    json!({"hello": req.params["name"]}),
                ))
            },
        ));
        sdk.register_route(Route::get("/sleep/:ms").handler(
            |req: RouteRequest, _ctx| async move {
                let ms: u64 = req.params["ms"].parse()?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(RouteResponse::json(200, json!({"slept": ms})))
            },
        ));
        sdk.register_route(Route::get("/panic").handler(|_req, _ctx| async move {
            if true {
                panic!("boom");
            }
            Ok(RouteResponse::empty(204))
        }));
        sdk.register_route(Route::get("/fail").handler(|_req, _ctx| async move {
            Err(HandlerError::new("nope")
                .retryable()
                .with_details(json!({"why": 1})))
        }));
        sdk.register_route(
            Route::post("/guarded")
                .middleware(middleware_fn(
                    "guard",
                    |req: RouteRequest, ctx, next: Next| async move {
                        if req.header("x-key") != Some("ok") {
                            return Ok(RouteResponse::json(401, json!({"error": "denied"})));
                        }
                        next.run(req, ctx).await
                    },
                ))
                .handler(|req: RouteRequest, _ctx| async move {
                    Ok(RouteResponse::json(200, req.body))
                }),
        );
        sdk.register_route(Route::get("/unhandled"));
        sdk.register_worker_handler(WorkerHandler::new("orders.created").handler(
            |msg: WorkerMessage, _ctx| async move {
                match msg.payload["action"].as_str() {
                    Some("ack") => Ok(()),
                    Some("discard") => Err(HandlerError::discard("poison")),
                    _ => Err(HandlerError::new("later").retry_after(Duration::from_millis(1500))),
                }
            },
        ));
        sdk.register_node_handler(NodeHandler::new("greet").version("1.0.0").handler(
            |inv: NodeInvocation, _ctx| async move {
                Ok(NodeOutput::branch(
                    "found",
                    json!({"greeting": format!("hi {}", inv.input["name"].as_str().unwrap_or(""))}),
                ))
            },
        ));
        sdk.register_block(
            Block::new("sms")
                .test_connection(|conn: Connection, _ctx| async move {
                    Ok(if conn.get_str("api_key") == Some("good") {
                        TestResult::ok().account_label("acct")
                    } else {
                        TestResult::failed("bad key")
                    })
                })
                .action(
                    Action::new("send").handler(|call: ActionCall, _ctx| async move {
                        Ok(json!({"sent": call.input["to"], "block": call.connection.block_id}))
                    }),
                ),
        );
        sdk.register_cron(
            Cron::new("tick", "* * * * *")
                .handler(|tick: CronTick, _ctx| async move { Ok(format!("ran {}", tick.run_id)) }),
        );
        sdk
    }

    struct Harness {
        lifecycle: Arc<Lifecycle>,
        tx: mpsc::Sender<Result<pb::SupervisorFrame, tonic::Status>>,
        rx: LaneFrames,
    }

    impl Harness {
        fn new() -> Self {
            Self::with_batches(false)
        }

        /// A lane whose supervisor offered `work.batch` when `batch` is true.
        fn with_batches(batch: bool) -> Self {
            let dispatcher =
                Dispatcher::new(Registry::new(sdk()), Host::detached(), Identity::default());
            let lifecycle = Lifecycle::new(None);
            let (tx, inbound) = mpsc::channel(64);
            let rx = serve_lane(
                dispatcher,
                lifecycle.clone(),
                ReceiverStream::new(inbound),
                batch,
            );
            Harness { lifecycle, tx, rx }
        }

        /// Every outcome of the next frame, whether it holds one or a batch.
        async fn outcomes(&mut self) -> Vec<(u64, OutcomeResult)> {
            match self.next().await {
                Some(Out::Outcome(o)) => vec![(o.id, o.result.unwrap())],
                Some(Out::Outcomes(batch)) => batch
                    .outcomes
                    .into_iter()
                    .map(|o| (o.id, o.result.unwrap()))
                    .collect(),
                other => panic!("expected outcomes, got {other:?}"),
            }
        }

        async fn send(&self, frame: In) {
            self.tx
                .send(Ok(pb::SupervisorFrame { frame: Some(frame) }))
                .await
                .unwrap();
        }

        async fn invoke(&self, id: u64, timeout_ms: u64, kind: Kind) {
            self.send(In::Invocation(pb::Invocation {
                id,
                timeout_ms,
                request_id: format!("req-{id}"),
                kind: Some(kind),
                ..Default::default()
            }))
            .await;
        }

        async fn next(&mut self) -> Option<Out> {
            tokio::time::timeout(Duration::from_secs(5), self.rx.next())
                .await
                .expect("no frame within 5 s")
                .map(|f| f.unwrap().frame.unwrap())
        }

        async fn outcome(&mut self) -> (u64, OutcomeResult) {
            match self.next().await {
                Some(Out::Outcome(o)) => (o.id, o.result.unwrap()),
                other => panic!("expected an outcome, got {other:?}"),
            }
        }
    }

    fn get(path: &str, route: &str, params: &[(&str, &str)]) -> Kind {
        Kind::Route(pb::RouteRequest {
            method: "GET".into(),
            path: path.into(),
            route: route.into(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        })
    }

    fn error_of(result: &OutcomeResult) -> (pb::ErrorCode, String, bool) {
        match result {
            OutcomeResult::Error(e) => (
                pb::ErrorCode::try_from(e.code).unwrap(),
                e.message.clone(),
                e.retryable,
            ),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn json_body(result: &OutcomeResult) -> (u32, serde_json::Value) {
        match result {
            OutcomeResult::Route(r) => (r.status, serde_json::from_slice(&r.body).unwrap()),
            other => panic!("expected a route response, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn lane_open_and_route() {
        let mut h = Harness::new();
        h.send(In::Open(pb::LaneOpen { lane: 1 })).await;
        assert_eq!(h.next().await, Some(Out::Ready(pb::LaneReady { lane: 1 })));
        h.invoke(7, 0, get("/hello/ann", "/hello/:name", &[("name", "ann")]))
            .await;
        let (id, result) = h.outcome().await;
        assert_eq!(id, 7);
        assert_eq!(json_body(&result), (200, json!({"hello": "ann"})));
    }

    #[tokio::test]
    async fn route_without_pattern_is_matched_by_path() {
        let mut h = Harness::new();
        h.invoke(1, 0, get("/hello/bob", "", &[])).await;
        assert_eq!(
            json_body(&h.outcome().await.1),
            (200, json!({"hello": "bob"}))
        );
    }

    #[tokio::test]
    async fn unknown_things_are_not_found() {
        let mut h = Harness::new();
        h.invoke(1, 0, get("/nope", "/nope", &[])).await;
        let (code, message, _) = error_of(&h.outcome().await.1);
        assert_eq!(code, pb::ErrorCode::NotFound);
        assert_eq!(message, "no route registered for GET /nope");

        h.invoke(
            2,
            0,
            Kind::Cron(pb::CronTick {
                cron: "x".into(),
                ..Default::default()
            }),
        )
        .await;
        let (code, message, _) = error_of(&h.outcome().await.1);
        assert_eq!(code, pb::ErrorCode::NotFound);
        assert!(message.contains("\"x\""), "{message}");

        h.send(In::Invocation(pb::Invocation {
            id: 3,
            ..Default::default()
        }))
        .await;
        assert_eq!(error_of(&h.outcome().await.1).0, pb::ErrorCode::NotFound);

        h.invoke(4, 0, get("/unhandled", "/unhandled", &[])).await;
        let (code, message, _) = error_of(&h.outcome().await.1);
        assert_eq!(code, pb::ErrorCode::Internal);
        assert_eq!(
            message,
            "route GET /unhandled was registered without a handler"
        );
    }

    #[tokio::test]
    async fn handler_errors_and_panics() {
        let mut h = Harness::new();
        h.invoke(1, 0, get("/fail", "/fail", &[])).await;
        match h.outcome().await.1 {
            OutcomeResult::Error(e) => {
                assert_eq!(e.code, pb::ErrorCode::Handler as i32);
                assert_eq!(e.message, "nope");
                assert!(e.retryable);
                assert_eq!(e.details_json, br#"{"why":1}"#.to_vec());
            }
            other => panic!("{other:?}"),
        }
        h.invoke(2, 0, get("/panic", "/panic", &[])).await;
        let (code, message, _) = error_of(&h.outcome().await.1);
        assert_eq!(code, pb::ErrorCode::Internal);
        assert_eq!(message, "handler panicked: boom");
        h.invoke(3, 0, get("/sleep/x", "/sleep/:ms", &[("ms", "x")]))
            .await;
        assert_eq!(error_of(&h.outcome().await.1).0, pb::ErrorCode::Handler);
    }

    #[tokio::test]
    async fn deadline_exceeded() {
        let mut h = Harness::new();
        h.invoke(1, 50, get("/sleep/10000", "/sleep/:ms", &[("ms", "10000")]))
            .await;
        let started = Instant::now();
        let (id, result) = h.outcome().await;
        assert_eq!(id, 1);
        assert_eq!(error_of(&result).0, pb::ErrorCode::DeadlineExceeded);
        assert!(started.elapsed() < Duration::from_secs(2));
        // A late cancel of a finished invocation is ignored.
        h.send(In::Cancel(pb::Cancel {
            id: 1,
            reason: "deadline exceeded".into(),
        }))
        .await;
        h.invoke(2, 0, get("/hello/x", "/hello/:name", &[("name", "x")]))
            .await;
        assert_eq!(h.outcome().await.0, 2);
    }

    #[tokio::test]
    async fn cancel_yields_exactly_one_outcome() {
        let mut h = Harness::new();
        h.invoke(1, 0, get("/sleep/10000", "/sleep/:ms", &[("ms", "10000")]))
            .await;
        h.invoke(2, 0, get("/sleep/30", "/sleep/:ms", &[("ms", "30")]))
            .await;
        h.send(In::Cancel(pb::Cancel {
            id: 1,
            reason: "caller went away".into(),
        }))
        .await;
        h.send(In::Cancel(pb::Cancel {
            id: 99,
            reason: String::new(),
        }))
        .await;
        let (id, result) = h.outcome().await;
        assert_eq!(id, 1);
        let (code, message, _) = error_of(&result);
        assert_eq!(code, pb::ErrorCode::Cancelled);
        assert_eq!(message, "cancelled: caller went away");
        assert_eq!(h.outcome().await.0, 2);
        // Closing the inbound side ends the lane once everything is answered: no further
        // outcome for the cancelled id.
        drop(h.tx);
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(2), h.rx.next())
                .await
                .unwrap()
                .map(|f| f.is_ok()),
            None
        );
    }

    #[tokio::test]
    async fn cancel_racing_completion_still_one_outcome() {
        let mut h = Harness::new();
        for id in 1..=50u64 {
            h.invoke(id, 0, get("/sleep/1", "/sleep/:ms", &[("ms", "1")]))
                .await;
            h.send(In::Cancel(pb::Cancel {
                id,
                reason: String::new(),
            }))
            .await;
        }
        let mut seen = HashSet::new();
        for _ in 0..50 {
            let (id, _) = h.outcome().await;
            assert!(seen.insert(id), "two outcomes for {id}");
        }
        drop(h.tx);
        assert!(tokio::time::timeout(Duration::from_secs(2), h.rx.next())
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn middleware_short_circuits() {
        let mut h = Harness::new();
        let post = |key: &str| {
            Kind::Route(pb::RouteRequest {
                method: "POST".into(),
                path: "/guarded".into(),
                route: "/guarded".into(),
                headers: [("x-key".to_string(), key.to_string())].into(),
                body_kind: pb::BodyKind::Json as i32,
                body: br#"{"a":1}"#.to_vec(),
                ..Default::default()
            })
        };
        h.invoke(1, 0, post("bad")).await;
        assert_eq!(
            json_body(&h.outcome().await.1),
            (401, json!({"error": "denied"}))
        );
        h.invoke(2, 0, post("ok")).await;
        assert_eq!(json_body(&h.outcome().await.1), (200, json!({"a": 1})));
    }

    #[tokio::test]
    async fn workers_map_to_dispositions() {
        let mut h = Harness::new();
        let msg = |action: &str| {
            Kind::Message(pb::WorkerMessage {
                handler: "orders.created".into(),
                topic: "orders.created".into(),
                payload_json: format!(r#"{{"action":"{action}"}}"#).into_bytes(),
                attempt: 1,
                ..Default::default()
            })
        };
        let disposition = |result: OutcomeResult| match result {
            OutcomeResult::Message(m) => (
                pb::Disposition::try_from(m.disposition).unwrap(),
                m.reason,
                m.retry_after_ms,
            ),
            other => panic!("{other:?}"),
        };
        h.invoke(1, 0, msg("ack")).await;
        assert_eq!(
            disposition(h.outcome().await.1),
            (pb::Disposition::Ack, String::new(), 0)
        );
        h.invoke(2, 0, msg("discard")).await;
        assert_eq!(
            disposition(h.outcome().await.1),
            (pb::Disposition::Discard, "poison".into(), 0)
        );
        h.invoke(3, 0, msg("retry")).await;
        assert_eq!(
            disposition(h.outcome().await.1),
            (pb::Disposition::Retry, "later".into(), 1500)
        );
        h.invoke(
            4,
            0,
            Kind::Message(pb::WorkerMessage {
                topic: "orders.created".into(),
                payload_json: b"{".to_vec(),
                ..Default::default()
            }),
        )
        .await;
        assert_eq!(disposition(h.outcome().await.1).0, pb::Disposition::Discard);
    }

    #[tokio::test]
    async fn nodes_blocks_and_crons() {
        let mut h = Harness::new();
        h.invoke(
            1,
            0,
            Kind::Node(pb::NodeInvocation {
                node_type: "greet".into(),
                input_json: br#"{"name":"ann"}"#.to_vec(),
                ..Default::default()
            }),
        )
        .await;
        match h.outcome().await.1 {
            OutcomeResult::Node(n) => {
                assert_eq!(n.branch, "found");
                assert_eq!(n.output_json, br#"{"greeting":"hi ann"}"#.to_vec());
            }
            other => panic!("{other:?}"),
        }
        let connection = |key: &str| pb::Connection {
            id: "c1".into(),
            block_id: "sms".into(),
            config_json: format!(r#"{{"api_key":"{key}"}}"#).into_bytes(),
        };
        h.invoke(
            2,
            0,
            Kind::BlockTest(pb::BlockTestConnection {
                block_id: "sms".into(),
                connection: Some(connection("good")),
            }),
        )
        .await;
        assert_eq!(
            h.outcome().await.1,
            OutcomeResult::BlockTest(pb::BlockTestResult {
                ok: true,
                message: String::new(),
                account_label: "acct".into()
            })
        );
        h.invoke(
            3,
            0,
            Kind::BlockAction(pb::BlockActionCall {
                block_id: "sms".into(),
                action: "send".into(),
                connection: Some(connection("good")),
                input_json: br#"{"to":"+33"}"#.to_vec(),
            }),
        )
        .await;
        match h.outcome().await.1 {
            OutcomeResult::BlockAction(a) => {
                let output: serde_json::Value = serde_json::from_slice(&a.output_json).unwrap();
                assert_eq!(output, json!({"sent": "+33", "block": "sms"}));
            }
            other => panic!("{other:?}"),
        }
        h.invoke(
            4,
            0,
            Kind::BlockAction(pb::BlockActionCall {
                block_id: "sms".into(),
                action: "missing".into(),
                ..Default::default()
            }),
        )
        .await;
        assert_eq!(error_of(&h.outcome().await.1).0, pb::ErrorCode::NotFound);
        h.invoke(
            5,
            0,
            Kind::Cron(pb::CronTick {
                cron: "tick".into(),
                run_id: "r9".into(),
                ..Default::default()
            }),
        )
        .await;
        assert_eq!(
            h.outcome().await.1,
            OutcomeResult::Cron(pb::CronResult {
                message: "ran r9".into()
            })
        );
    }

    #[tokio::test]
    async fn draining_refuses_and_stop_abandons() {
        let mut h = Harness::new();
        h.invoke(1, 0, get("/sleep/10000", "/sleep/:ms", &[("ms", "10000")]))
            .await;
        // Let the invocation start before draining.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let lifecycle = h.lifecycle.clone();
        let drained =
            tokio::spawn(async move { lifecycle.drain(Duration::from_millis(100)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        h.invoke(2, 0, get("/hello/x", "/hello/:name", &[("name", "x")]))
            .await;
        let (id, result) = h.outcome().await;
        assert_eq!(id, 2);
        assert_eq!(error_of(&result).0, pb::ErrorCode::Unavailable);
        assert!(error_of(&result).2);
        assert_eq!(drained.await.unwrap(), 1);
        h.lifecycle.request_stop();
        let (id, result) = h.outcome().await;
        assert_eq!(id, 1);
        assert_eq!(error_of(&result).0, pb::ErrorCode::Unavailable);
        // The lane stays open until the supervisor half-closes it.
        h.invoke(3, 0, get("/hello/x", "/hello/:name", &[("name", "x")]))
            .await;
        let (id, result) = h.outcome().await;
        assert_eq!(id, 3);
        assert_eq!(error_of(&result).0, pb::ErrorCode::Unavailable);
        drop(h.tx);
        let end = tokio::time::timeout(Duration::from_secs(2), h.rx.next()).await;
        assert!(end.unwrap().is_none());
    }

    fn batch_of(ids: std::ops::Range<u64>, cancels: &[u64]) -> In {
        In::Batch(pb::WorkBatch {
            invocations: ids
                .map(|id| pb::Invocation {
                    id,
                    request_id: format!("req-{id}"),
                    kind: Some(get("/sleep/50", "/sleep/:ms", &[("ms", "50")])),
                    ..Default::default()
                })
                .collect(),
            cancels: cancels
                .iter()
                .map(|&id| pb::Cancel {
                    id,
                    reason: "batched".into(),
                })
                .collect(),
        })
    }

    #[tokio::test]
    async fn a_work_batch_runs_its_invocations_then_its_cancels() {
        let mut h = Harness::new();
        // Invocation 3 and its cancel in the same frame: the cancel applies to it.
        h.send(batch_of(1..4, &[3, 77])).await;
        let (id, result) = h.outcome().await;
        assert_eq!(id, 3);
        assert_eq!(
            error_of(&result),
            (
                pb::ErrorCode::Cancelled,
                "cancelled: batched".to_string(),
                false
            )
        );
        // Without work.batch offered, every outcome travels in its own frame.
        let mut rest = HashSet::new();
        for _ in 0..2 {
            let (id, result) = h.outcome().await;
            assert!(matches!(result, OutcomeResult::Route(_)), "{result:?}");
            rest.insert(id);
        }
        assert_eq!(rest, HashSet::from([1, 2]));
    }

    #[tokio::test]
    async fn outcomes_ready_together_leave_in_one_frame_when_offered() {
        let mut h = Harness::with_batches(true);
        h.send(batch_of(1..41, &[])).await;
        // Forty handlers finish within the same few milliseconds; read them however they were
        // grouped, and expect at least one frame to carry several.
        let mut seen = HashSet::new();
        let mut largest = 0;
        while seen.len() < 40 {
            let outcomes = h.outcomes().await;
            largest = largest.max(outcomes.len());
            for (id, result) in outcomes {
                assert!(matches!(result, OutcomeResult::Route(_)), "{result:?}");
                assert!(seen.insert(id), "outcome {id} twice");
            }
        }
        assert!(largest > 1, "every outcome travelled alone");
        // A lone invocation is answered alone and at once.
        h.invoke(100, 0, get("/hello/x", "/hello/:name", &[("name", "x")]))
            .await;
        assert_eq!(h.outcomes().await.len(), 1);
    }
}
