//! The systemd service protocol (`sd_notify`), for `Type=notify` units: `READY=1` once every
//! enabled module is ready (or the longest start timeout has passed, with a status saying which
//! are not), `WATCHDOG=1` every half `WatchdogSec` while the supervisor runs, `STOPPING=1` at
//! shutdown. Datagrams to `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace); a
//! no-op without it.

use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::supervision::Supervisor;

/// Sends `state` to systemd when the supervisor runs under it.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(socket) = UnixDatagram::unbound() else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let sent = if let Some(name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .and_then(|address| socket.send_to_addr(state.as_bytes(), &address))
    } else {
        socket.send_to(state.as_bytes(), &path)
    };
    if let Err(e) = sent {
        tracing::warn!("cannot notify systemd ({path}): {e}");
    }
}

/// Sends `READY=1` once every enabled module is ready, or after `wait` (the longest start
/// timeout plus a margin) with the modules that are not.
pub fn ready_when_started(supervisor: Arc<Supervisor>, wait: Duration) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    tokio::spawn(async move {
        let started = Instant::now();
        while !supervisor.all_ready() && started.elapsed() < wait {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let modules = supervisor.modules();
        let not_ready: Vec<String> = modules
            .iter()
            .filter(|m| m.spec().enabled)
            .filter(|m| m.status().state != crate::supervision::State::Ready)
            .map(|m| format!("{}/{}", m.workspace, m.name))
            .collect();
        let status = if not_ready.is_empty() {
            format!("{} modules ready", modules.len())
        } else {
            format!(
                "not ready after {}s: {}",
                wait.as_secs(),
                not_ready.join(", ")
            )
        };
        notify(&format!("READY=1\nSTATUS={status}"));
    });
}

/// Pings the watchdog every half `WATCHDOG_USEC` when systemd asks for it (for this process).
pub fn watchdog() {
    let Some(usec) = std::env::var("WATCHDOG_USEC")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|u| *u > 0)
    else {
        return;
    };
    let for_us = std::env::var("WATCHDOG_PID")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .is_none_or(|pid| pid == std::process::id());
    if !for_us {
        return;
    }
    let every = Duration::from_micros(usec / 2).max(Duration::from_millis(10));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            notify("WATCHDOG=1");
        }
    });
}
