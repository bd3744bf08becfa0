//! A module binary started directly with the protocol's environment (as the supervisor would,
//! without sandbox or host socket), so the bare forwarder can talk to a real SDK module: the
//! diagnostic scenario (b′) that splits (c)'s cost between the SDK and the gateway.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use convotic_proto::env;

/// A running module process; killed on drop.
pub struct ModuleProcess {
    child: Child,
}

/// Starts `name` (a binary next to this one) listening on `socket`.
pub fn start(name: &str, socket: &Path) -> Result<ModuleProcess, String> {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)))
        .filter(|path| path.exists())
        .ok_or_else(|| format!("{name} is not built next to the bench binary"))?;
    let child = Command::new(binary)
        .env_clear()
        .env(env::PLUGIN_SOCKET, socket)
        .env(env::PROTOCOL_VERSIONS, "1")
        .env(env::WORKSPACE, "ws_bench")
        .env(env::MODULE, name)
        .env(env::INSTANCE, "bench")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("start {name}: {e}"))?;
    Ok(ModuleProcess { child })
}

impl Drop for ModuleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
