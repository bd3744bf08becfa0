//! Names of the environment variables the supervisor passes to a module (docs/PROTOCOL.md, "Start").

/// Unix socket path the module must listen on for the `Plugin` service.
pub const PLUGIN_SOCKET: &str = "CONVOTIC_PLUGIN_SOCKET";
/// Unix socket path of the `Host` services for this module instance.
pub const HOST_SOCKET: &str = "CONVOTIC_HOST_SOCKET";
/// Per-instance secret sent as `x-convotic-plugin-token` metadata on every Host call.
pub const PLUGIN_TOKEN: &str = "CONVOTIC_PLUGIN_TOKEN";
/// Comma-separated protocol versions the supervisor speaks, e.g. `1`.
pub const PROTOCOL_VERSIONS: &str = "CONVOTIC_PLUGIN_PROTOCOL_VERSIONS";
/// Workspace id of the instance, for logs.
pub const WORKSPACE: &str = "CONVOTIC_WORKSPACE";
/// Module name of the instance, for logs.
pub const MODULE: &str = "CONVOTIC_MODULE";
/// Instance id (unique per start), for logs.
pub const INSTANCE: &str = "CONVOTIC_INSTANCE";
/// Private writable data directory of the module.
pub const DATA_DIR: &str = "CONVOTIC_DATA_DIR";
