//! Installing on a server: the Debian package built by `scripts/build-deb` holds the binary, the
//! systemd unit (which `systemd-analyze verify` accepts), the example config (which the binary
//! accepts) and the docs; the supervisor speaks systemd's notify protocol (`READY=1` once its
//! modules are ready, `WATCHDOG=1` pings, `STOPPING=1`) and logs JSON with `--log-format json`.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use convotic_e2e::{binary, free_port};

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repo")
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().expect(program);
    assert!(
        output.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_debian_package_holds_the_binary_the_unit_and_the_config() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().display().to_string();
    let script = repo().join("scripts/build-deb").display().to_string();
    let bin = binary("convotic-supervisor").display().to_string();
    let deb = run(
        "bash",
        &[&script, "--binary", &bin, "--out", &out, "--fast"],
    );
    let deb = deb.trim();
    let listing = run("dpkg-deb", &["-c", deb]);
    for (mode, path) in [
        ("drwxr-xr-x", "./"),
        ("-rwxr-xr-x", "./usr/bin/convotic-supervisor"),
        (
            "-rw-r--r--",
            "./lib/systemd/system/convotic-supervisor.service",
        ),
        ("-rw-r-----", "./etc/convotic/supervisor.toml"),
        (
            "-rw-r--r--",
            "./usr/share/doc/convotic-supervisor/operations.md",
        ),
    ] {
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with(mode) && l.ends_with(&format!(" {path}"))),
            "{mode} {path} missing:\n{listing}"
        );
    }
    assert_eq!(
        run("dpkg-deb", &["-f", deb, "Package"]).trim(),
        "convotic-supervisor"
    );
    let control = tmp.path().join("control");
    run("dpkg-deb", &["-e", deb, &control.display().to_string()]);
    let postinst = std::fs::read_to_string(control.join("postinst")).expect("postinst");
    assert!(postinst.contains("adduser --system") && postinst.contains("/var/lib/convotic"));
    assert_eq!(
        std::fs::read_to_string(control.join("conffiles"))
            .expect("conffiles")
            .trim(),
        "/etc/convotic/supervisor.toml"
    );

    // The unit verifies (pointing at the packaged binary, as installed), the config loads.
    let root = tmp.path().join("root");
    run("dpkg-deb", &["-x", deb, &root.display().to_string()]);
    let packaged = root.join("usr/bin/convotic-supervisor");
    let unit = std::fs::read_to_string(root.join("lib/systemd/system/convotic-supervisor.service"))
        .expect("unit");
    assert!(unit.contains("Type=notify") && unit.contains("WatchdogSec="));
    let local = tmp.path().join("convotic-supervisor.service");
    std::fs::write(
        &local,
        unit.replace(
            "/usr/bin/convotic-supervisor",
            &packaged.display().to_string(),
        ),
    )
    .expect("unit copy");
    run("systemd-analyze", &["verify", &local.display().to_string()]);
    let config = root
        .join("etc/convotic/supervisor.toml")
        .display()
        .to_string();
    let checked = run(
        &packaged.display().to_string(),
        &["check-config", "--config", &config],
    );
    assert!(checked.contains("data_dir /var/lib/convotic"), "{checked}");
}

#[test]
fn the_supervisor_speaks_the_systemd_notify_protocol() {
    let tmp = tempfile::tempdir().expect("tmp");
    let socket_path = tmp.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let port = free_port();
    let config = tmp.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[supervisor]\ndata_dir = \"data\"\nruntime_dir = \"/tmp\"\n[[modules]]\nworkspace = \"ws_test\"\nname = \"fixture\"\ncommand = {:?}\n",
            binary("misbehaving-module").display().to_string()
        ),
    )
    .expect("config");
    let log = tmp.path().join("log");
    let mut child = Command::new(binary("convotic-supervisor"))
        .args([
            "run",
            "--config",
            &config.display().to_string(),
            "--log-format",
            "json",
        ])
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("supervisor");
    let mut buffer = [0u8; 4096];
    let mut seen = Vec::new();
    let started = Instant::now();
    while !seen.iter().any(|m: &String| m.starts_with("READY=1")) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no READY=1: {seen:?}"
        );
        let n = socket.recv(&mut buffer).expect("a notification");
        seen.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
    }
    let ready = seen
        .iter()
        .find(|m| m.starts_with("READY=1"))
        .expect("ready");
    assert!(ready.contains("STATUS=1 modules ready"), "{ready}");
    let n = socket.recv(&mut buffer).expect("a watchdog ping");
    assert_eq!(String::from_utf8_lossy(&buffer[..n]), "WATCHDOG=1");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("sigterm");
    let started = Instant::now();
    loop {
        let n = socket.recv(&mut buffer).expect("STOPPING=1");
        if String::from_utf8_lossy(&buffer[..n]) == "STOPPING=1" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30));
    }
    assert!(child.wait().expect("exit").success());
    // --log-format json: one JSON object per line.
    let text = std::fs::read_to_string(&log).expect("log");
    let first = text.lines().next().expect("a log line");
    let parsed: serde_json::Value = serde_json::from_str(first).expect("JSON log line");
    assert!(parsed["level"].is_string(), "{first}");
}
