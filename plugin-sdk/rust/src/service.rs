//! The `convotic.plugin.v1.Plugin` gRPC service: `Describe`, `Work` and `Shutdown`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use convotic_proto::plugin::v1 as pb;
use pb::plugin_server::Plugin;
use tonic::{Request, Response, Status, Streaming};

use crate::dispatch::Dispatcher;
use crate::logging;
use crate::manifest::{self, FEATURES};
use crate::shutdown::Lifecycle;
use crate::work::{serve_lane, LaneFrames};

/// Grace period of a `Shutdown` that does not give one.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Delay between answering `Shutdown` and stopping the server, so the answer is flushed.
const STOP_DELAY: Duration = Duration::from_millis(50);

/// The Plugin service of one module.
pub(crate) struct PluginService {
    dispatcher: Arc<Dispatcher>,
    lifecycle: Arc<Lifecycle>,
    manifest: pb::Manifest,
    /// Whether the supervisor offered `work.batch` in its last `Describe`.
    batch_offered: AtomicBool,
}

impl PluginService {
    pub(crate) fn new(
        dispatcher: Arc<Dispatcher>,
        lifecycle: Arc<Lifecycle>,
        name: &str,
        version: &str,
    ) -> Self {
        let manifest = manifest::build(name, version, dispatcher.registry().sdk());
        PluginService {
            dispatcher,
            lifecycle,
            manifest,
            batch_offered: AtomicBool::new(false),
        }
    }
}

#[tonic::async_trait]
impl Plugin for PluginService {
    async fn describe(
        &self,
        request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::DescribeResponse>, Status> {
        let request = request.into_inner();
        let protocol_version = manifest::choose_version(&request.protocol_versions)?;
        let batch = request
            .features
            .iter()
            .any(|f| f == convotic_proto::names::FEATURE_BATCH);
        self.batch_offered.store(batch, Ordering::Relaxed);
        self.dispatcher.host().set_stream_offered(
            request
                .features
                .iter()
                .any(|f| f == convotic_proto::names::FEATURE_HOST_STREAM),
        );
        Ok(Response::new(pb::DescribeResponse {
            protocol_version,
            features: FEATURES.iter().map(|f| f.to_string()).collect(),
            manifest: Some(self.manifest.clone()),
        }))
    }

    type WorkStream = LaneFrames;

    async fn work(
        &self,
        request: Request<Streaming<pb::SupervisorFrame>>,
    ) -> Result<Response<Self::WorkStream>, Status> {
        Ok(Response::new(serve_lane(
            self.dispatcher.clone(),
            self.lifecycle.clone(),
            request.into_inner(),
            self.batch_offered.load(Ordering::Relaxed),
        )))
    }

    async fn shutdown(
        &self,
        request: Request<pb::ShutdownRequest>,
    ) -> Result<Response<pb::ShutdownResponse>, Status> {
        let request = request.into_inner();
        let grace = if request.grace_ms == 0 {
            DEFAULT_GRACE
        } else {
            Duration::from_millis(u64::from(request.grace_ms))
        };
        logging::emit(
            "info",
            "shutting down",
            serde_json::json!({
                "reason": request.reason,
                "grace_ms": u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
                "in_flight": self.lifecycle.in_flight(),
            }),
        );
        let abandoned = self.lifecycle.drain(grace).await;
        let lifecycle = self.lifecycle.clone();
        tokio::spawn(async move {
            tokio::time::sleep(STOP_DELAY).await;
            lifecycle.request_stop();
        });
        Ok(Response::new(pb::ShutdownResponse { abandoned }))
    }
}
