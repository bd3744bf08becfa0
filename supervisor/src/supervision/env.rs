//! The scrubbed environment a module starts with (docs/PROTOCOL.md, "Start").

use std::path::Path;

use convotic_proto::env;

use crate::config::ModuleSpec;
use crate::process::InstanceDir;

/// Used when the supervisor itself has no `PATH`.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// `PATH`, `HOME` (the module's data dir), `LANG`, the module's configured `env`, and the
/// `CONVOTIC_*` variables. Nothing else of the supervisor's environment is passed on.
pub fn module_env(
    spec: &ModuleSpec,
    dir: &InstanceDir,
    token: &str,
    instance: &str,
    data_dir: &Path,
) -> Vec<(String, String)> {
    let path = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_string());
    let versions = convotic_proto::PROTOCOL_VERSIONS
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut vars = vec![
        ("PATH".to_string(), path),
        ("HOME".to_string(), data_dir.display().to_string()),
        ("LANG".to_string(), "C.UTF-8".to_string()),
    ];
    for (key, value) in &spec.env {
        vars.retain(|(k, _)| k != key);
        vars.push((key.clone(), value.clone()));
    }
    vars.extend([
        (
            env::PLUGIN_SOCKET.to_string(),
            dir.plugin_socket.display().to_string(),
        ),
        (
            env::HOST_SOCKET.to_string(),
            dir.host_socket.display().to_string(),
        ),
        (env::PLUGIN_TOKEN.to_string(), token.to_string()),
        (env::PROTOCOL_VERSIONS.to_string(), versions),
        (env::WORKSPACE.to_string(), spec.workspace.clone()),
        (env::MODULE.to_string(), spec.name.clone()),
        (env::INSTANCE.to_string(), instance.to_string()),
        (env::DATA_DIR.to_string(), data_dir.display().to_string()),
    ]);
    vars
}
