//! The handshake: wait for health SERVING, then `Describe` with version negotiation.

use std::time::Duration;

use convotic_proto::plugin::v1::plugin_client::PluginClient;
use convotic_proto::plugin::v1::{DescribeRequest, DescribeResponse};
use convotic_proto::PROTOCOL_VERSIONS;
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// Largest `DescribeResponse` accepted. A manifest of thousands of routes takes a few hundred
/// KiB; the limit also bounds what decoding costs: an empty repeated entry is 2 bytes on the wire
/// and about 90 once decoded, so a 16 MiB manifest could take over a gigabyte.
pub const MAX_DESCRIBE_BYTES: usize = 1024 * 1024;

/// Features this supervisor implements (see docs/PROTOCOL.md, "Features").
pub const SUPERVISOR_FEATURES: &[&str] = &[
    convotic_proto::names::FEATURE_CANCEL,
    convotic_proto::names::FEATURE_LANES,
    convotic_proto::names::FEATURE_GRACEFUL_SHUTDOWN,
    convotic_proto::names::FEATURE_BATCH,
    convotic_proto::names::FEATURE_HOST_STREAM,
];

/// The features an operator may decline to offer (`disabled_features`): the ones that only
/// change how work and Host calls travel, never what a module can do.
pub const OPTIONAL_FEATURES: &[&str] = &[
    convotic_proto::names::FEATURE_BATCH,
    convotic_proto::names::FEATURE_HOST_STREAM,
];

/// The features the supervisor offers: all of [`SUPERVISOR_FEATURES`] but `disabled`.
fn offered_features(disabled: &[String]) -> impl Iterator<Item = &'static str> + '_ {
    SUPERVISOR_FEATURES
        .iter()
        .copied()
        .filter(|f| !disabled.iter().any(|d| d == f))
}

/// The features both sides use: offered by the supervisor (minus `disabled`) and announced
/// by the module.
pub fn agreed_features(announced: &[String], disabled: &[String]) -> Vec<String> {
    offered_features(disabled)
        .filter(|f| announced.iter().any(|a| a == f))
        .map(str::to_string)
        .collect()
}

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// Health never reported SERVING before the deadline.
    #[error("health check did not report SERVING in time (last answer: {last})")]
    NotServing {
        /// The last status or error seen.
        last: String,
    },
    /// Describe failed.
    #[error("Describe failed: {0}")]
    Describe(String),
    /// The module picked a protocol version the supervisor does not speak.
    #[error("the module chose protocol version {chose}, but this supervisor speaks {offered:?}")]
    Version {
        /// What the module chose.
        chose: u32,
        /// What was offered.
        offered: &'static [u32],
    },
    /// Describe returned no manifest.
    #[error("Describe returned no manifest")]
    NoManifest,
}

/// Polls `grpc.health.v1.Health/Check` for the overall service until SERVING or `deadline`.
pub async fn wait_serving(channel: Channel, deadline: Instant) -> Result<(), HandshakeError> {
    let mut client = HealthClient::new(channel);
    let mut delay = Duration::from_millis(1);
    let mut last = String::from("no answer");
    let mut answered = false;
    loop {
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: String::new(),
        });
        request.set_timeout(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        );
        match tokio::time::timeout_at(deadline, client.check(request)).await {
            Ok(Ok(response)) => {
                let status = response.into_inner().status;
                if status == ServingStatus::Serving as i32 {
                    return Ok(());
                }
                answered = true;
                last = ServingStatus::try_from(status)
                    .map(|s| s.as_str_name().to_string())
                    .unwrap_or_else(|_| format!("status {status}"));
            }
            // A check cut short by the deadline is no answer: the module's last one stands.
            Ok(Err(status))
                if answered
                    && matches!(
                        status.code(),
                        tonic::Code::Cancelled | tonic::Code::DeadlineExceeded
                    ) => {}
            Ok(Err(status)) => last = format!("{}: {}", status.code(), status.message()),
            Err(_) => {}
        }
        if Instant::now() + delay >= deadline {
            return Err(HandshakeError::NotServing { last });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(25));
    }
}

/// One health probe with a timeout; `Err` names what went wrong.
pub async fn probe(channel: Channel, timeout: Duration) -> Result<(), String> {
    let mut client = HealthClient::new(channel);
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    request.set_timeout(timeout);
    match tokio::time::timeout(timeout, client.check(request)).await {
        Ok(Ok(response)) if response.get_ref().status == ServingStatus::Serving as i32 => Ok(()),
        Ok(Ok(response)) => Err(format!(
            "health status {}",
            ServingStatus::try_from(response.get_ref().status)
                .map(|s| s.as_str_name())
                .unwrap_or("unknown")
        )),
        Ok(Err(status)) => Err(format!("health check failed: {}", status.message())),
        Err(_) => Err(format!("health check timed out after {timeout:?}")),
    }
}

/// Calls `Describe`, offering the supervisor's features but `disabled`, and checks the chosen
/// protocol version.
pub async fn describe(
    channel: Channel,
    timeout: Duration,
    disabled: &[String],
) -> Result<DescribeResponse, HandshakeError> {
    let mut client = PluginClient::new(channel).max_decoding_message_size(MAX_DESCRIBE_BYTES);
    let mut request = tonic::Request::new(DescribeRequest {
        protocol_versions: PROTOCOL_VERSIONS.to_vec(),
        features: offered_features(disabled).map(str::to_string).collect(),
        supervisor_version: env!("CARGO_PKG_VERSION").to_string(),
    });
    request.set_timeout(timeout);
    let response = tokio::time::timeout(timeout, client.describe(request))
        .await
        .map_err(|_| HandshakeError::Describe(format!("no answer within {timeout:?}")))?
        .map_err(|s| HandshakeError::Describe(format!("{}: {}", s.code(), s.message())))?
        .into_inner();
    if !PROTOCOL_VERSIONS.contains(&response.protocol_version) {
        return Err(HandshakeError::Version {
            chose: response.protocol_version,
            offered: PROTOCOL_VERSIONS,
        });
    }
    if response.manifest.is_none() {
        return Err(HandshakeError::NoManifest);
    }
    Ok(response)
}
