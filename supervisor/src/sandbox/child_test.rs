//! Test support: runs an `#[ignore]`d test of this crate in a child process (a re-run of the
//! test binary), so a test can restrict the child (Landlock, seccomp) without touching the
//! test runner's own process.

use std::fs::File;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Runs the ignored test `function` of `module` (its `module_path!()`) in a child process with
/// `envs`; returns its exit status, stdout and stderr. The child is killed after a minute.
pub fn run_child_test(
    module: &str,
    function: &str,
    envs: &[(&str, &std::ffi::OsStr)],
) -> (ExitStatus, String, String) {
    let module = module.split_once("::").map_or(module, |(_, rest)| rest);
    let out = tempfile::tempdir().unwrap();
    let stdout_path = out.path().join("stdout");
    let stderr_path = out.path().join("stderr");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &format!("{module}::{function}")])
        .args(["--ignored", "--nocapture", "--test-threads=1"])
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).unwrap())
        .stderr(File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            let status = child.wait().unwrap();
            eprintln!("child test {function} timed out");
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |path: &Path| String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
    (status, read(&stdout_path), read(&stderr_path))
}
