//! Starts every server the scenarios need and keeps them running for all rounds: the
//! in-process warp echo (a), the bare forwarder and echo server (b), the supervisor with
//! `hello-rust` (c, d), the forwarder in front of `hello-rust` started directly (b′), and a
//! second supervisor that offers neither `work.batch` nor `host.stream` (c₀, d₀).
//! Idle servers cost nothing measurable, and keeping them up lets rounds interleave the
//! scenarios so that a burst of noise on the machine does not land on one scenario only.

use std::any::Any;
use std::path::PathBuf;

use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::Method;
use tokio::runtime::Runtime;

use super::load::Target;
use super::{echo, echo_server, forwarder, module_process, supervised};

/// The scenarios, in the order they are printed.
pub const NAMES: [&str; 7] = [
    "(a) warp in-process",
    "(b) warp → 1 tonic stream (UDS) → bare echo",
    "(c) supervisor → hello-rust POST /echo",
    "(d) supervisor → hello-rust GET /kv (1 storage get)",
    "(b′) diagnostic: forwarder of (b) → hello-rust (SDK)",
    "(c₀) (c) without work.batch, host.stream",
    "(d₀) (d) without work.batch, host.stream",
];

/// Indexes into [`NAMES`] and [`Setup::targets`].
pub const A: usize = 0;
/// See [`A`].
pub const B: usize = 1;
/// See [`A`].
pub const C: usize = 2;
/// See [`A`].
pub const D: usize = 3;
/// See [`A`].
pub const B_SDK: usize = 4;
/// See [`A`].
pub const C_OFF: usize = 5;
/// See [`A`].
pub const D_OFF: usize = 6;

/// The running servers and what to send to each; everything stops when dropped.
pub struct Setup {
    /// One target per scenario, or why it is not available.
    pub targets: [Result<Target, String>; 7],
    /// Servers, processes and directories, dropped in order (runtimes last).
    _guards: Vec<Box<dyn Any>>,
}

/// A multi-thread runtime with 2 workers (a process of its own would have as many).
fn runtime(name: &str) -> Result<Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(format!("bench-{name}"))
        .enable_all()
        .build()
        .map_err(|e| format!("{name} runtime: {e}"))
}

/// A `POST /echo` of `body` to a server of this process.
fn echo_target(addr: std::net::SocketAddr, body: &Bytes) -> Target {
    Target {
        addr,
        method: Method::POST,
        path: "/echo".into(),
        headers: vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body: body.clone(),
        ok_statuses: vec![200],
        body_len: Some(body.len()),
    }
}

/// A socket path in a fresh private directory under /tmp (short enough for a Unix socket).
fn socket_dir(guards: &mut Vec<Box<dyn Any>>) -> Result<PathBuf, String> {
    let dir = tempfile::Builder::new()
        .prefix("cvt-bench")
        .tempdir_in("/tmp")
        .map_err(|e| format!("temp dir: {e}"))?;
    let socket = dir.path().join("plugin.sock");
    guards.push(Box::new(dir));
    Ok(socket)
}

/// Starts everything; a scenario whose servers do not start gets the reason as its target.
pub fn start(body: &Bytes) -> Setup {
    let mut guards: Vec<Box<dyn Any>> = Vec::new();
    let unavailable =
        |e: &String| -> [Result<Target, String>; 7] { std::array::from_fn(|_| Err(e.clone())) };
    let (gateway, module) = match runtime("gateway").and_then(|g| Ok((g, runtime("module")?))) {
        Ok(pair) => pair,
        Err(e) => {
            return Setup {
                targets: unavailable(&e),
                _guards: guards,
            }
        }
    };
    let mut keep = |guard: Box<dyn Any>| guards.push(guard);

    let a = echo::in_process(&gateway).map(|server| {
        let target = echo_target(server.addr, body);
        keep(Box::new(server));
        target
    });
    let mut b_guards = Vec::new();
    let b = socket_dir(&mut b_guards).and_then(|socket| {
        b_guards.push(Box::new(echo_server::start(&module, &socket)?));
        let server = forwarder::start(&gateway, &socket)?;
        let target = echo_target(server.addr, body);
        b_guards.push(Box::new(server));
        Ok(target)
    });
    let mut s_guards = Vec::new();
    let b_sdk = socket_dir(&mut s_guards).and_then(|socket| {
        s_guards.push(Box::new(module_process::start("hello-rust", &socket)?));
        let server = forwarder::start(&gateway, &socket)?;
        let target = echo_target(server.addr, body);
        s_guards.push(Box::new(server));
        Ok(target)
    });
    let mut supervised = |features_off| match supervised::start(features_off) {
        Ok(running) => {
            let c = running.echo_target(body);
            let d = running.storage_target();
            keep(Box::new(running));
            (c, d)
        }
        Err(e) => (Err(e.clone()), Err(e)),
    };
    let (c, d) = supervised(false);
    let (c_off, d_off) = supervised(true);
    // Servers before the directories holding their sockets, runtimes last.
    for guard in b_guards.into_iter().rev().chain(s_guards.into_iter().rev()) {
        keep(guard);
    }
    keep(Box::new(gateway));
    keep(Box::new(module));
    Setup {
        targets: [a, b, c, d, b_sdk, c_off, d_off],
        _guards: guards,
    }
}
