//! Generated code of the Convotic plugin protocol and the constants every implementation shares.
//!
//! * [`plugin::v1`]: the `Plugin` service a module serves (`Describe`, `Work`, `Shutdown`), its
//!   manifest and the work-stream frames.
//! * [`host::v1`]: the `Host` services the supervisor serves to each module (the SDKs' `ctx`).
//!
//! * [`batch`]: the frame batching of the `work.batch` and `host.stream` features.
//!
//! The normative description is `docs/PROTOCOL.md`. This crate does no I/O.

/// `convotic.plugin.v1` and `convotic.host.v1`.
pub mod plugin {
    /// Version 1 of the plugin protocol.
    pub mod v1 {
        #![allow(missing_docs, clippy::all)]
        tonic::include_proto!("convotic.plugin.v1");
    }
}

/// The platform services a module calls.
pub mod host {
    /// Version 1 of the host protocol.
    pub mod v1 {
        #![allow(missing_docs, clippy::all)]
        tonic::include_proto!("convotic.host.v1");
    }
}

pub mod batch;
pub mod env;
pub mod names;
pub mod versions;

/// The plugin protocol versions this crate implements.
pub const PROTOCOL_VERSIONS: &[u32] = &[1];

/// Metadata key carrying `CONVOTIC_PLUGIN_TOKEN` on every Host call.
pub const TOKEN_METADATA_KEY: &str = "x-convotic-plugin-token";

/// Full gRPC name of the plugin service, as used by `grpc.health.v1`.
pub const PLUGIN_SERVICE_NAME: &str = "convotic.plugin.v1.Plugin";

/// Default for [`plugin::v1::Manifest::max_in_flight`] when a module leaves it at 0.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 64;

/// Exit code (EX_CONFIG) by which a module says "do not restart me".
pub const EXIT_DO_NOT_RESTART: i32 = 78;
