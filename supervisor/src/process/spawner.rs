//! Spawning module processes from one long-lived thread.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not the process. Tokio
//! may retire its blocking threads at any time, so every module is forked from this dedicated
//! thread, which lives as long as the supervisor. The child runs the supervisor binary again in
//! spawn-helper mode (`/proc/self/exe __spawn-helper ...`, see [`super::helper`]); the only code
//! that runs between fork and exec is the allocation-free `pre_exec` below.
//!
//! The sandbox spec is not an argument (every host user can read argv in `ps -ef`): it travels
//! on the helper's control socket ([`super::control`]), which the supervisor keeps to receive
//! the sandbox report.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use super::control::{send_frame, CONTROL_FD, MAX_SPEC_BYTES};
use super::helper::HELPER_ARG;

/// How long the spawner thread waits for the helper to take the sandbox spec.
const SPEC_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What to start.
#[derive(Debug, Clone)]
pub struct SpawnRequest {
    /// Absolute path of the module executable.
    pub command: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// The complete environment (nothing else is inherited).
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub working_dir: PathBuf,
    /// The sandbox to build (`None`: profile `none`, only the PID namespace).
    pub sandbox: Option<crate::sandbox::spec::SandboxSpec>,
}

/// A started spawn helper.
pub struct Spawned {
    /// The helper process.
    pub child: Child,
    /// The supervisor's end of the helper's control socket, where the sandbox report arrives.
    pub control: std::os::unix::net::UnixStream,
}

struct Job {
    request: SpawnRequest,
    reply: oneshot::Sender<io::Result<Spawned>>,
}

/// Handle to the spawner thread.
#[derive(Clone)]
pub struct Spawner {
    jobs: mpsc::Sender<Job>,
}

impl Spawner {
    /// Starts the spawner thread; children are registered with the given runtime.
    pub fn start(runtime: tokio::runtime::Handle) -> io::Result<Self> {
        let (jobs, receiver) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("convotic-spawner".into())
            .spawn(move || {
                let _runtime = runtime.enter();
                while let Ok(job) = receiver.recv() {
                    let _ = job.reply.send(spawn_now(&job.request));
                }
            })?;
        Ok(Self { jobs })
    }

    /// Starts the module through the spawn helper. The child's stdout and stderr are piped,
    /// stdin is /dev/null, and it is SIGKILLed if the returned `Child` is dropped.
    pub async fn spawn(&self, request: SpawnRequest) -> io::Result<Spawned> {
        let (reply, result) = oneshot::channel();
        self.jobs
            .send(Job { request, reply })
            .map_err(|_| io::Error::other("the spawner thread has stopped"))?;
        result
            .await
            .map_err(|_| io::Error::other("the spawner thread has stopped"))?
    }
}

fn spawn_now(request: &SpawnRequest) -> io::Result<Spawned> {
    let parent = std::process::id() as libc::pid_t;
    let spec = serde_json::to_vec(&request.sandbox).map_err(io::Error::other)?;
    if spec.len() > MAX_SPEC_BYTES {
        return Err(io::Error::other(format!(
            "the sandbox spec is {} bytes, over the limit of {MAX_SPEC_BYTES}",
            spec.len()
        )));
    }
    let (control, pair_end) = std::os::unix::net::UnixStream::pair()?;
    // A descriptor number well above the standard streams (and not CONTROL_FD itself), so the
    // dup2 below always makes a new, inheritable descriptor; close-on-exec in this process.
    // SAFETY: F_DUPFD_CLOEXEC duplicates a descriptor we own; the result is owned below.
    let raw = unsafe { libc::fcntl(pair_end.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
    drop(pair_end);
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor returned by fcntl, owned by nobody else.
    let helper_end = unsafe { OwnedFd::from_raw_fd(raw) };
    let inherited = helper_end.as_raw_fd();
    let open_files = module_open_file_limit();
    let mut command = Command::new("/proc/self/exe");
    command
        .arg(HELPER_ARG)
        .arg(parent.to_string())
        .arg(&request.command)
        .args(&request.args)
        .env_clear()
        .envs(request.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&request.working_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: the closure runs between fork and exec in the child. It only makes raw system
    // calls (prctl, getppid, setsid, dup2, setrlimit) and builds errors with
    // `last_os_error`/`from_raw_os_error`, none of which allocate or take locks.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The supervisor may have died between fork and prctl.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            // Own session and process group, so the whole group can be signalled.
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            // The control socket at its fixed number; dup2 clears close-on-exec on the copy.
            if libc::dup2(inherited, CONTROL_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            // The open-file limit the supervisor started with, not the one it raised for its
            // own connections (a sandbox then sets the module's own `open_files`).
            if let Some(limit) = &open_files {
                if libc::setrlimit(libc::RLIMIT_NOFILE, limit) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = command.spawn()?;
    drop(helper_end);
    // The helper reads the spec first thing; never wait on it for long.
    control.set_write_timeout(Some(SPEC_WRITE_TIMEOUT))?;
    send_frame(control.as_fd(), &spec)
        .map_err(|e| io::Error::other(format!("sending the sandbox spec to the helper: {e}")))?;
    Ok(Spawned { child, control })
}

/// The soft open-file limit the supervisor started with, when it raised its own (0: unchanged).
static STARTING_OPEN_FILES: AtomicU64 = AtomicU64::new(0);

/// Records the soft `RLIMIT_NOFILE` the supervisor started with before it raised its own, so
/// module processes get that one back (a module using `select(2)` breaks above 1024).
pub fn remember_starting_open_file_limit(soft: u64) {
    STARTING_OPEN_FILES.store(soft, Ordering::Relaxed);
}

/// The open-file limit to give a module process, if the supervisor raised its own.
fn module_open_file_limit() -> Option<libc::rlimit> {
    let soft = STARTING_OPEN_FILES.load(Ordering::Relaxed);
    if soft == 0 {
        return None;
    }
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).ok()?;
    Some(libc::rlimit {
        rlim_cur: soft.min(hard),
        rlim_max: hard,
    })
}
