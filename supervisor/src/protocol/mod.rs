//! The supervisor's side of the plugin protocol: connecting to a module's socket, the
//! handshake (health, Describe), manifest validation and the multiplexed work stream.

pub mod connect;
pub mod frame_codec;
pub mod handshake;
pub mod validate;
pub mod work;

pub use connect::{connect, ConnectError, ModuleSocket, PeerCheck, PeerCredentials};
pub use handshake::{
    agreed_features, describe, probe, wait_serving, HandshakeError, OPTIONAL_FEATURES,
};
/// The channel type of a connection to a module.
pub use tonic::transport::Channel;
pub use validate::{validate_manifest, ManifestError};
pub use work::{CancelStats, InvokeOptions, Refused, WorkClient, WorkError};

/// Largest gRPC message the supervisor sends or accepts from a module.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
