//! Harness for the end-to-end tests and the bench: runs the real `convotic-supervisor` binary
//! with a generated config, talks to its admin API over loopback HTTP, and starts module
//! binaries directly (acting as the supervisor) for work-stream tests.
//!
//! Binaries come from the workspace's target directory; build them first with
//! `cargo build --workspace --bins` (the README's test command does).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod conformance;
pub mod direct;
pub mod fake_provider;
pub mod load;
pub mod nats;
pub mod netns;
pub mod packages;
pub mod postgres;
pub mod showcase;

/// Path of a workspace binary (`target/<profile>/<name>`), next to the running test's
/// `deps` directory.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (cargo build --workspace --bins)",
        path.display()
    );
    path
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// One `[[modules]]` entry of a generated config.
#[derive(Debug, Clone)]
pub struct ModuleEntry {
    /// Workspace.
    pub workspace: String,
    /// Name.
    pub name: String,
    /// Absolute command.
    pub command: PathBuf,
    /// Environment.
    pub env: Vec<(String, String)>,
    /// Extra TOML lines (e.g. `restart = "never"`).
    pub extra: Vec<String>,
}

impl ModuleEntry {
    /// A module running `binary(command)` in workspace `ws_test`.
    pub fn new(name: &str, command: &str) -> Self {
        Self {
            workspace: "ws_test".into(),
            name: name.into(),
            command: binary(command),
            env: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// The `[[modules]]` table of this entry.
    pub fn toml(&self) -> String {
        let mut text = format!(
            "[[modules]]\nworkspace = \"{}\"\nname = \"{}\"\ncommand = \"{}\"\n",
            self.workspace,
            self.name,
            self.command.display()
        );
        for line in &self.extra {
            let _ = writeln!(text, "{line}");
        }
        if !self.env.is_empty() {
            let env: Vec<String> = self
                .env
                .iter()
                .map(|(k, v)| format!("{k} = {v:?}"))
                .collect();
            let _ = writeln!(text, "env = {{ {} }}", env.join(", "));
        }
        text
    }

    /// The misbehaving fixture in `mode`.
    pub fn fixture(name: &str, mode: &str) -> Self {
        Self::new(name, "misbehaving-module").env("MISBEHAVE", mode)
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Adds a raw TOML line to the entry.
    pub fn with(mut self, line: &str) -> Self {
        self.extra.push(line.into());
        self
    }
}

/// Where and how a supervisor process runs ([`Supervisor::start_with_options`]); the default
/// runs the binary directly, listening on 127.0.0.1.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Program and arguments run with the supervisor's command line appended, e.g.
    /// `ip netns exec <namespace>`. The prefix must exec the binary (as `ip netns exec` does),
    /// so the child's pid is the supervisor's: signals, [`Supervisor::pid`] and
    /// [`Supervisor::descendants`] work as without one. Empty: the binary itself.
    pub prefix: Vec<OsString>,
    /// Address the supervisor listens on (`[server] listen`) and is reached at. Default
    /// `127.0.0.1`.
    pub host: String,
}

impl Default for StartOptions {
    fn default() -> Self {
        Self {
            prefix: Vec::new(),
            host: "127.0.0.1".into(),
        }
    }
}

impl StartOptions {
    /// The supervisor binary with `args`, behind the prefix; output appended to `log`.
    fn command(&self, args: &[&std::ffi::OsStr], log: std::fs::File) -> Command {
        let supervisor = binary("convotic-supervisor");
        let mut command = match self.prefix.split_first() {
            Some((program, prefix_args)) => {
                let mut command = Command::new(program);
                command.args(prefix_args).arg(supervisor);
                command
            }
            None => Command::new(supervisor),
        };
        command
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("CONVOTIC_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        command
    }

    /// Starts `convotic-supervisor run --config <config>`, its output appended to `log`.
    fn spawn_run(&self, config: &Path, log: std::fs::File) -> Child {
        self.command(
            &["run".as_ref(), "--config".as_ref(), config.as_os_str()],
            log,
        )
        .spawn()
        .unwrap_or_else(|e| panic!("spawn supervisor ({:?}): {e}", self.prefix))
    }
}

/// A running supervisor process with its own temp dir; stopped on drop (SIGTERM, a second
/// SIGTERM after 5 s, SIGKILL after 3 s more), so it removes its runtime dir.
pub struct Supervisor {
    /// The process.
    pub child: Child,
    /// Its temp dir (config, data, runtime).
    pub dir: tempfile::TempDir,
    /// Admin API base URL.
    pub base: String,
    /// Admin token.
    pub token: String,
    http: reqwest::blocking::Client,
    options: StartOptions,
}

impl Supervisor {
    /// Writes a config with `modules` (plus `defaults` lines) and starts the supervisor.
    pub fn start(modules: &[ModuleEntry], defaults: &[&str]) -> Self {
        Self::start_with(modules, defaults, &[])
    }

    /// Like [`Supervisor::start`], with extra `[server]` lines.
    pub fn start_with(modules: &[ModuleEntry], defaults: &[&str], server: &[&str]) -> Self {
        Self::start_full(modules, defaults, server, "")
    }

    /// Like [`Supervisor::start_with`], with raw TOML tables (e.g. `[nats]`, `[workers]`)
    /// placed before the modules. A `# no cgroups` line in `tables` also sets
    /// `[supervisor] cgroups = false`.
    pub fn start_full(
        modules: &[ModuleEntry],
        defaults: &[&str],
        server: &[&str],
        tables: &str,
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cvt-e2e")
            .tempdir()
            .expect("tempdir");
        Self::start_in(dir, modules, defaults, server, tables)
    }

    /// Like [`Supervisor::start_full`], in a temp dir prepared by the caller (e.g. with a
    /// filesystem mounted at `<dir>/data` beforehand).
    pub fn start_in(
        dir: tempfile::TempDir,
        modules: &[ModuleEntry],
        defaults: &[&str],
        server: &[&str],
        tables: &str,
    ) -> Self {
        Self::start_in_with(
            dir,
            modules,
            defaults,
            server,
            tables,
            StartOptions::default(),
        )
    }

    /// Like [`Supervisor::start_full`], run and reached as `options` say (e.g. inside a
    /// network namespace, listening on its address: see [`netns`]).
    pub fn start_with_options(
        modules: &[ModuleEntry],
        defaults: &[&str],
        server: &[&str],
        tables: &str,
        options: StartOptions,
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cvt-e2e")
            .tempdir()
            .expect("tempdir");
        Self::start_in_with(dir, modules, defaults, server, tables, options)
    }

    fn start_in_with(
        dir: tempfile::TempDir,
        modules: &[ModuleEntry],
        defaults: &[&str],
        server: &[&str],
        tables: &str,
        options: StartOptions,
    ) -> Self {
        // A free port here; in another network namespace (a host of its own) one is as good.
        let port = free_port();
        let host = &options.host;
        // A `# no cgroups` line in `tables` sets `[supervisor] cgroups = false`.
        let cgroups = if tables.contains("# no cgroups") {
            "cgroups = false\n"
        } else {
            ""
        };
        let mut config = format!(
            "[server]\nlisten = \"{host}:{port}\"\n{}\n[supervisor]\ndata_dir = \"data\"\nruntime_dir = \"/tmp\"\n{cgroups}[defaults]\n",
            server.join("\n")
        );
        for line in defaults {
            let _ = writeln!(config, "{line}");
        }
        let _ = writeln!(config, "{tables}");
        for m in modules {
            config.push_str(&m.toml());
        }
        let config_path = dir.path().join("convotic.toml");
        std::fs::write(&config_path, &config).expect("write config");
        let log = std::fs::File::create(dir.path().join("supervisor.log")).expect("log file");
        let child = options.spawn_run(&config_path, log);
        let mut supervisor = Self {
            child,
            base: format!("http://{host}:{port}"),
            token: String::new(),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("http client"),
            dir,
            options,
        };
        let discovery = supervisor.data_dir().join("supervisor.json");
        supervisor.wait_until(Duration::from_secs(20), "supervisor to start", |s| {
            discovery.exists() && std::fs::read_to_string(s.data_dir().join("admin-token")).is_ok()
        });
        supervisor.token = std::fs::read_to_string(supervisor.data_dir().join("admin-token"))
            .expect("admin token")
            .trim()
            .to_string();
        supervisor
    }

    /// The data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The config file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("convotic.toml")
    }

    /// The supervisor's own log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("supervisor.log")).unwrap_or_default()
    }

    /// The last `lines` lines of the supervisor's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log(), lines)
    }

    /// The supervisor's pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// GET an admin endpoint; returns (status, JSON body).
    pub fn get(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, path)
    }

    /// Any method on an admin endpoint.
    pub fn request(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .unwrap_or_else(|e| {
                panic!(
                    "request {path}: {e}\n--- supervisor log ---\n{}",
                    self.log()
                )
            });
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    /// The status of one module.
    pub fn module(&self, name: &str) -> Value {
        let (status, body) = self.get(&format!("/admin/v1/modules/{name}"));
        assert_eq!(status, 200, "module {name}: {body}");
        body
    }

    /// Polls until `check` holds, panicking with the supervisor's log after `timeout`.
    pub fn wait_until(&self, timeout: Duration, what: &str, mut check: impl FnMut(&Self) -> bool) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if check(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "timed out after {timeout:?} waiting for {what}\n--- supervisor log ---\n{}",
            self.log()
        );
    }

    /// Waits until module `name` is in `state`; returns its status.
    pub fn wait_state(&self, name: &str, state: &str, timeout: Duration) -> Value {
        let mut last = Value::Null;
        self.wait_until(timeout, &format!("{name} to be {state}"), |s| {
            last = s.module(name);
            last["state"] == state
        });
        last
    }

    /// Sends a signal to the supervisor.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal);
    }

    /// Waits for the supervisor to exit, up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Runs a CLI command against this supervisor; returns (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let output = Command::new(binary("convotic-supervisor"))
            .args(args)
            .arg("--data-dir")
            .arg(self.data_dir())
            .output()
            .expect("run cli");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Runs the supervisor's CLI with `args` and `--config <this supervisor's config>`.
    pub fn cli_config(&self, args: &[&str]) -> (i32, String, String) {
        let output = Command::new(binary("convotic-supervisor"))
            .args(args)
            .arg("--config")
            .arg(self.config_path())
            .output()
            .expect("run cli");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Creates an API key for `workspace` with the CLI; returns the plaintext key.
    pub fn create_key(&self, workspace: &str) -> String {
        let (code, stdout, stderr) = self.cli(&["keys", "create", "--workspace", workspace]);
        assert_eq!(code, 0, "keys create: {stderr}");
        stdout.lines().next().unwrap_or_default().trim().to_string()
    }

    /// A request to the gateway (no admin token).
    pub fn http(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// Sends raw bytes to the gateway and returns the status code of the answer (0 if none).
    pub fn raw(&self, request: &[u8]) -> u16 {
        use std::io::{Read, Write};
        let address = self.base.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
        stream.write_all(request).expect("write");
        let mut response = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buffer) {
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buffer[..n]);
            if response.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let text = String::from_utf8_lossy(&response);
        text.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }

    /// Stops the supervisor gracefully and starts it again on the same config and data.
    pub fn restart(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        self.wait_exit(Duration::from_secs(30))
            .expect("supervisor stops");
        self.restart_after_kill();
    }

    /// Starts the supervisor again after its process ended (e.g. was SIGKILLed).
    pub fn restart_after_kill(&mut self) {
        let _ = self.child.wait();
        let _ = std::fs::remove_file(self.data_dir().join("supervisor.json"));
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("supervisor.log"))
            .expect("log file");
        self.child = self.options.spawn_run(&self.config_path(), log);
        let discovery = self.data_dir().join("supervisor.json");
        self.wait_until(Duration::from_secs(20), "supervisor to restart", |_| {
            discovery.exists()
        });
    }

    /// Every live process below the supervisor.
    pub fn descendants(&self) -> Vec<i32> {
        convotic_supervisor::process::tree::descendants_of(self.pid())
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(nix::sys::signal::Signal::SIGTERM);
            if self.wait_exit(Duration::from_secs(5)).is_none() {
                // A second SIGTERM kills the modules at once.
                self.signal(nix::sys::signal::Signal::SIGTERM);
                if self.wait_exit(Duration::from_secs(3)).is_none() {
                    let _ = self.child.kill();
                }
            }
        }
        let _ = self.child.wait();
    }
}

/// Waits until none of `pids` is alive (zombies count as dead); returns the survivors.
pub fn wait_all_dead(pids: &[i32], timeout: Duration) -> Vec<i32> {
    let start = Instant::now();
    loop {
        let alive: Vec<i32> = pids
            .iter()
            .copied()
            .filter(|p| convotic_supervisor::process::tree::is_alive(*p))
            .collect();
        if alive.is_empty() || start.elapsed() > timeout {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Makes the process `command` starts die (SIGKILL) when the thread spawning it ends, so a
/// server a test starts does not outlive a test process killed before its guards ran. Spawn
/// from the thread that stops it (the test's own), never from a short-lived helper thread.
pub fn die_with_spawning_thread(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only makes the prctl
    // system call, which is async-signal-safe and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(|errno| std::io::Error::from_raw_os_error(errno as i32))
        });
    }
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Reads a pid's command line, for failure messages.
pub fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// Makes the Rust project in `dir` (outside the workspace) build with the checkout's compiled
/// dependencies: the workspace's lock file, its target dir (linked) and its dev profile (as
/// `.cargo/config.toml`: with another profile every dependency would be built again).
pub fn share_workspace_build(dir: &std::path::Path) {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::copy(repo.join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock");
    std::os::unix::fs::symlink(
        repo.join("target").canonicalize().expect("target"),
        dir.join("target"),
    )
    .expect("target link");
    let manifest = std::fs::read_to_string(repo.join("Cargo.toml")).expect("Cargo.toml");
    let mut profile = String::new();
    let mut in_profile = false;
    for line in manifest.lines() {
        if line.starts_with('[') {
            in_profile = line.starts_with("[profile.dev");
        }
        if in_profile {
            profile.push_str(line);
            profile.push('\n');
        }
    }
    assert!(
        profile.contains("[profile.dev]"),
        "no dev profile in the workspace's Cargo.toml"
    );
    std::fs::create_dir_all(dir.join(".cargo")).expect(".cargo");
    std::fs::write(dir.join(".cargo/config.toml"), profile).expect("cargo config");
}
