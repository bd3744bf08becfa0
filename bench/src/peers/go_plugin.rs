//! Scenario (g) of `bench peers`: HashiCorp go-plugin. The Go sources of
//! `bench/peers/go-plugin/` are carried in this binary, written into a temporary GOPATH and
//! built with Debian's Go and Debian's Go packages (GOPATH mode, no module download). The
//! host program launches the plugin with go-plugin's client and is then driven over its
//! stdin/stdout: one line "<concurrency> <warm-up s> <duration s>" per run, one JSON line of
//! figures back (its load generator is goroutines in the Go host).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::Figures;

/// The Go sources: (path under the GOPATH package dir, text).
const SOURCES: [(&str, &str); 3] = [
    (
        "echo/echo.go",
        include_str!("../../peers/go-plugin/echo/echo.go"),
    ),
    (
        "host/main.go",
        include_str!("../../peers/go-plugin/host/main.go"),
    ),
    (
        "plugin/main.go",
        include_str!("../../peers/go-plugin/plugin/main.go"),
    ),
];
/// Where Debian's Go packages put their sources.
const DEBIAN_GOPATH: &str = "/usr/share/gocode";
/// The import path the sources use for their shared package's parent.
const PACKAGE_DIR: &str = "src/convotic/peers";
/// What installs everything the Go side needs.
pub const INSTALL: &str = "apt-get install -y golang-go golang-github-hashicorp-go-plugin-dev golang-google-grpc-dev golang-github-hashicorp-go-hclog-dev golang-github-golang-protobuf-1-3-dev";

/// The running go-plugin host (and, below it, the plugin); both end when dropped.
pub struct Host {
    child: Child,
    /// `None` once closed.
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// What the host said when ready: Go version, body size.
    pub about: String,
    _dir: tempfile::TempDir,
}

/// `go version`, or why Go is not there.
pub fn go_version() -> Result<String, String> {
    let output = Command::new("go")
        .arg("version")
        .output()
        .map_err(|e| format!("`go` not found ({e}); install: {INSTALL}"))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The go-plugin version Debian installed, from dpkg (empty when unknown).
pub fn go_plugin_version() -> String {
    Command::new("dpkg-query")
        .args([
            "-W",
            "-f=${Version}",
            "golang-github-hashicorp-go-plugin-dev",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Builds the host and plugin into a temporary directory and starts the host.
pub fn start() -> Result<Host, String> {
    go_version()?;
    let dir = tempfile::Builder::new()
        .prefix("cvt-peers-go")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let package = dir.path().join(PACKAGE_DIR);
    for (path, text) in SOURCES {
        let file = package.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    let bin = dir.path().join("bin");
    let plugin = build(dir.path(), &package, "plugin", &bin)?;
    let host = build(dir.path(), &package, "host", &bin)?;
    let mut child = Command::new(&host)
        .arg("-plugin")
        .arg(&plugin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("start the go-plugin host: {e}"))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        return Err("the go-plugin host has no stdin/stdout".into());
    };
    let mut host = Host {
        child,
        stdin: Some(stdin),
        stdout: BufReader::new(stdout),
        about: String::new(),
        _dir: dir,
    };
    let ready = host.read_line()?;
    if ready["ready"] != Value::Bool(true) {
        return Err(format!("the go-plugin host did not get ready: {ready}"));
    }
    host.about = format!(
        "{}, GOMAXPROCS {}, body {} bytes",
        ready["go"].as_str().unwrap_or("go ?"),
        ready["gomaxprocs"],
        ready["body_bytes"]
    );
    Ok(host)
}

/// `go build` of one program in GOPATH mode against Debian's Go sources.
fn build(gopath: &Path, package: &Path, program: &str, bin: &Path) -> Result<PathBuf, String> {
    let output_path = bin.join(program);
    let mut command = Command::new("go");
    command
        .arg("build")
        .arg("-o")
        .arg(&output_path)
        .arg(format!("./{program}"))
        .current_dir(package)
        .env("GO111MODULE", "off")
        .env("GOPATH", format!("{}:{DEBIAN_GOPATH}", gopath.display()))
        .env("GOFLAGS", "");
    if std::env::var_os("HOME").is_none() && std::env::var_os("XDG_CACHE_HOME").is_none() {
        command.env("GOCACHE", gopath.join("cache"));
    }
    let output = command
        .output()
        .map_err(|e| format!("go build {program}: {e}"))?;
    if output.status.success() {
        return Ok(output_path);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let missing = stderr.contains("cannot find package");
    let tail: Vec<&str> = stderr.lines().take(6).collect();
    Err(format!(
        "go build {program} failed: {}{}",
        tail.join(" | "),
        if missing {
            format!(" — missing Debian Go packages? install: {INSTALL}")
        } else {
            String::new()
        }
    ))
}

impl Host {
    fn read_line(&mut self) -> Result<Value, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err("the go-plugin host exited (see its stderr above)".into()),
            Ok(_) => serde_json::from_str(&line)
                .map_err(|e| format!("go-plugin host printed {line:?}: {e}")),
            Err(e) => Err(format!("reading the go-plugin host: {e}")),
        }
    }

    /// One timed run at `concurrency` goroutines.
    pub fn run(
        &mut self,
        concurrency: usize,
        warmup: Duration,
        duration: Duration,
    ) -> Result<Figures, String> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or("the go-plugin host's stdin is closed")?;
        writeln!(
            stdin,
            "{concurrency} {} {}",
            warmup.as_secs_f64(),
            duration.as_secs_f64()
        )
        .and_then(|_| stdin.flush())
        .map_err(|e| format!("writing to the go-plugin host: {e}"))?;
        let line = self.read_line()?;
        let number = |key: &str| line[key].as_f64().unwrap_or(f64::NAN);
        let window = number("window_s");
        Ok(Figures {
            calls_per_s: number("calls") / window,
            p50_us: number("p50_us"),
            p99_us: number("p99_us"),
            errors: line["errors"].as_u64().unwrap_or(0),
            first_error: line["first_error"].as_str().map(str::to_string),
        })
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // The end of its stdin makes the host stop the plugin and exit; kill it if it does
        // not within 3 s (the plugin then ends with its stdio).
        drop(self.stdin.take());
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
