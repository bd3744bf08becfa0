//! Scenario (c) of `bench peers`: the `hello-rust` module started directly (as the supervisor
//! would, without sandbox or host socket), reached the supervisor's way: `protocol::connect`
//! (with a peer check that only the module's own pid may answer), `wait_serving`, `describe`
//! and a [`WorkClient`] on the lanes it offers; then tokio tasks each invoking `POST /echo`
//! with the 1 KiB JSON body back-to-back.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use convotic_proto::env;
use convotic_proto::plugin::v1::{invocation, outcome, BodyKind, RouteRequest};
use convotic_supervisor::protocol::{self, InvokeOptions, ModuleSocket, PeerCheck, WorkClient};
use tokio::runtime::Runtime;
use tokio::time::Instant;

use super::Figures;

/// The module's binary, next to this one.
const MODULE: &str = "hello-rust";
/// How long the module has to listen, answer health and Describe and open its lanes.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running module with an open work stream; the process is killed on drop.
pub struct Peer {
    work: WorkClient,
    runtime: Runtime,
    child: Child,
    _dir: tempfile::TempDir,
}

/// Starts `hello-rust` and opens its work stream the supervisor's way.
pub fn start() -> Result<Peer, String> {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(MODULE)))
        .filter(|path| path.exists())
        .ok_or_else(|| {
            format!("{MODULE} is not built next to the bench binary (cargo build -p {MODULE})")
        })?;
    let dir = tempfile::Builder::new()
        .prefix("cvt-peers")
        .tempdir_in("/tmp")
        .map_err(|e| format!("temp dir: {e}"))?;
    let socket_path = dir.path().join("plugin.sock");
    let child = spawn(&binary, &socket_path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-peers")
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let mut peer = Peer {
        work: open_work_stream(&runtime, dir.path(), child.id())?,
        runtime,
        child,
        _dir: dir,
    };
    peer.check_alive()?;
    Ok(peer)
}

fn spawn(binary: &Path, socket: &Path) -> Result<Child, String> {
    Command::new(binary)
        .env_clear()
        .env(env::PLUGIN_SOCKET, socket)
        .env(env::PROTOCOL_VERSIONS, "1")
        .env(env::WORKSPACE, "ws_bench")
        .env(env::MODULE, MODULE)
        .env(env::INSTANCE, "bench")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("start {MODULE}: {e}"))
}

/// Connect, health, Describe and the work lanes, as `supervision::instance` does.
fn open_work_stream(runtime: &Runtime, dir: &Path, pid: u32) -> Result<WorkClient, String> {
    let dir_fd = std::fs::File::open(dir).map_err(|e| format!("open {}: {e}", dir.display()))?;
    let expected = i32::try_from(pid).unwrap_or(-1);
    let check: PeerCheck = Arc::new(move |peer| match peer.pid {
        Some(pid) if pid == expected => Ok(()),
        other => Err(format!("pid {other:?} is not the module's ({expected})")),
    });
    let socket = ModuleSocket {
        dir: Arc::new(OwnedFd::from(dir_fd)),
        name: "plugin.sock".into(),
        display: dir.join("plugin.sock"),
        check,
    };
    runtime.block_on(async {
        let deadline = Instant::now() + START_TIMEOUT;
        let channel = protocol::connect(&socket, deadline)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        protocol::wait_serving(channel.clone(), deadline)
            .await
            .map_err(|e| e.to_string())?;
        let described = protocol::describe(channel.clone(), START_TIMEOUT, &[])
            .await
            .map_err(|e| e.to_string())?;
        let agreed = protocol::agreed_features(&described.features, &[]);
        let has = |f: &str| agreed.iter().any(|x| x == f);
        let lanes = if has(convotic_proto::names::FEATURE_LANES) {
            2
        } else {
            1
        };
        let max_in_flight = described.manifest.unwrap_or_default().max_in_flight;
        let cancel = has(convotic_proto::names::FEATURE_CANCEL);
        let batch = has(convotic_proto::names::FEATURE_BATCH);
        WorkClient::open(channel, lanes, max_in_flight, cancel, batch, deadline)
            .await
            .map_err(|e| format!("work stream: {e}"))
    })
}

impl Peer {
    /// An error if the module process has exited.
    fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(format!("{MODULE} exited: {status}")),
            _ => Ok(()),
        }
    }

    /// One echo; an error unless the module answers 200 with the same bytes.
    async fn echo(work: &WorkClient, body: &[u8]) -> Result<(), String> {
        let kind = invocation::Kind::Route(RouteRequest {
            method: "POST".into(),
            path: "/echo".into(),
            route: "/echo".into(),
            body_kind: BodyKind::Json as i32,
            body: body.to_vec(),
            ..Default::default()
        });
        let options = InvokeOptions {
            payload_bytes: body.len(),
            wait_for_credit: true,
            ..Default::default()
        };
        match work.invoke(kind, options).await {
            Ok(outcome::Result::Route(response)) if response.status == 200 => {
                if response.body == body {
                    Ok(())
                } else {
                    Err(format!(
                        "answer of {} bytes differs from the request",
                        response.body.len()
                    ))
                }
            }
            Ok(outcome::Result::Route(response)) => Err(format!("status {}", response.status)),
            Ok(other) => Err(format!("unexpected outcome {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// `concurrency` tokio tasks echo `body` back-to-back; after `warmup`, every call
    /// completing inside the `duration` window is counted.
    pub fn run(
        &mut self,
        body: &[u8],
        concurrency: usize,
        warmup: Duration,
        duration: Duration,
    ) -> Result<Figures, String> {
        self.check_alive()?;
        let body: Arc<[u8]> = Arc::from(body);
        let measure_from = Instant::now() + warmup;
        let until = measure_from + duration;
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new((0u64, None::<String>)));
        self.runtime.block_on(async {
            let tasks: Vec<_> = (0..concurrency.max(1))
                .map(|_| {
                    let (work, body) = (self.work.clone(), body.clone());
                    let (latencies, failures) = (latencies.clone(), failures.clone());
                    tokio::spawn(async move {
                        let mut mine = Vec::new();
                        let mut errors = (0u64, None);
                        loop {
                            let started = Instant::now();
                            if started >= until {
                                break;
                            }
                            let result = Self::echo(&work, &body).await;
                            let done = Instant::now();
                            if done < measure_from || done > until {
                                continue;
                            }
                            match result {
                                Ok(()) => mine.push((done - started).as_secs_f64() * 1e6),
                                Err(e) => {
                                    errors.0 += 1;
                                    errors.1.get_or_insert(e);
                                }
                            }
                        }
                        lock(&latencies).extend(mine);
                        let mut failures = lock(&failures);
                        failures.0 += errors.0;
                        if failures.1.is_none() {
                            failures.1 = errors.1;
                        }
                    })
                })
                .collect();
            for task in tasks {
                let _ = task.await;
            }
        });
        let mut latencies = std::mem::take(&mut *lock(&latencies));
        latencies.sort_by(f64::total_cmp);
        let (errors, first_error) = std::mem::take(&mut *lock(&failures));
        Ok(Figures::of(&latencies, duration, errors, first_error))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.work.close_lanes();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
