//! Spawning module processes from one long-lived thread.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not the process. Tokio
//! may retire its blocking threads at any time, so every module is forked from this dedicated
//! thread, which lives as long as the supervisor. The child runs the supervisor binary again in
//! spawn-helper mode (`/proc/self/exe __spawn-helper ...`, see [`super::helper`]); the only code
//! that runs between fork and exec is the allocation-free `pre_exec` below.

use std::io;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc;

use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use super::helper::HELPER_ARG;

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

struct Job {
    request: SpawnRequest,
    reply: oneshot::Sender<io::Result<Child>>,
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
    pub async fn spawn(&self, request: SpawnRequest) -> io::Result<Child> {
        let (reply, result) = oneshot::channel();
        self.jobs
            .send(Job { request, reply })
            .map_err(|_| io::Error::other("the spawner thread has stopped"))?;
        result
            .await
            .map_err(|_| io::Error::other("the spawner thread has stopped"))?
    }
}

fn spawn_now(request: &SpawnRequest) -> io::Result<Child> {
    let parent = std::process::id() as libc::pid_t;
    let sandbox = match &request.sandbox {
        Some(spec) => serde_json::to_string(spec).map_err(io::Error::other)?,
        None => "-".to_string(),
    };
    let mut command = Command::new("/proc/self/exe");
    command
        .arg(HELPER_ARG)
        .arg(parent.to_string())
        .arg(sandbox)
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
    // calls (prctl, getppid, setsid) and builds errors with `last_os_error`/`from_raw_os_error`,
    // none of which allocate or take locks.
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
            Ok(())
        });
    }
    command.spawn()
}
