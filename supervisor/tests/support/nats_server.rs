//! A throwaway `nats-server` with JetStream for tests: its own free port and store directory,
//! stopped when the guard is dropped (also when a test panics), restartable in place.
//!
//! The binary is `$CONVOTIC_NATS_SERVER`, else `/usr/sbin/nats-server`, else `nats-server` on
//! `PATH`. [`NatsServer::start`] fails the test when there is none.

#![allow(dead_code)]

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A running `nats-server -js` on 127.0.0.1.
pub struct NatsServer {
    binary: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    /// The `nats-server` binary to use, if any.
    pub fn binary() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os("CONVOTIC_NATS_SERVER") {
            return Some(PathBuf::from(path));
        }
        let system = PathBuf::from("/usr/sbin/nats-server");
        if system.exists() {
            return Some(system);
        }
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("nats-server"))
                .find(|candidate| candidate.exists())
        })
    }

    /// Starts a server on a free port with a fresh store directory. A missing `nats-server` is
    /// a failure, not a skip: `./scripts/test` installs it. (`Option` keeps the callers'
    /// signatures; it is always `Some`.)
    pub fn start() -> Option<NatsServer> {
        let binary = Self::binary().expect(
            "nats-server is not installed: run ./scripts/test (it installs it), \
             `apt-get install nats-server`, or set CONVOTIC_NATS_SERVER",
        );
        let port = free_port();
        let dir = tempfile::tempdir().expect("temporary store directory");
        let mut server = NatsServer {
            binary,
            port,
            dir,
            child: None,
        };
        server.spawn();
        Some(server)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JetStream store directory.
    pub fn store_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server (SIGTERM, SIGKILL after 5 s) and starts it again on the same port and
    /// store directory; returns once it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts a stopped server again on the same port and store directory (no-op when running).
    pub fn start_again(&mut self) {
        if self.child.is_none() {
            self.spawn();
        }
    }

    /// Stops the server gracefully (SIGTERM, then SIGKILL after 5 s).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return;
                }
            }
        }
    }

    fn spawn(&mut self) {
        let log = File::create(self.dir.path().join("nats-server.log")).expect("log file");
        let mut command = Command::new(&self.binary);
        command
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path().join("jetstream"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        die_with_test(&mut command);
        let mut child = command.spawn().expect("start nats-server");
        let deadline = Instant::now() + Duration::from_secs(15);
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port);
        while TcpStream::connect_timeout(&addr.into(), Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(self.dir.path().join("nats-server.log"))
                    .unwrap_or_default();
                panic!("nats-server exited with {status}:\n{log}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "nats-server did not listen on port {} within 15 s",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// `nodes` `nats-server -js` on 127.0.0.1 forming one NATS cluster (routes to each other), for
/// tests of replicated streams; killed when dropped.
pub struct NatsCluster {
    children: Vec<Child>,
    ports: Vec<u16>,
    dir: tempfile::TempDir,
}

impl NatsCluster {
    /// Starts the nodes and waits until each accepts connections (a JetStream meta leader is
    /// elected shortly after: see [`NatsCluster::wait_ready`]).
    pub fn start(nodes: usize) -> NatsCluster {
        let binary = NatsServer::binary().expect(
            "nats-server is not installed: run ./scripts/test (it installs it), \
             `apt-get install nats-server`, or set CONVOTIC_NATS_SERVER",
        );
        let dir = tempfile::tempdir().expect("temporary directory");
        let ports: Vec<u16> = (0..nodes).map(|_| free_port()).collect();
        let routes: Vec<u16> = (0..nodes).map(|_| free_port()).collect();
        let mut cluster = NatsCluster {
            children: Vec::new(),
            ports,
            dir,
        };
        for i in 0..nodes {
            let others: Vec<String> = routes
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, port)| format!("\"nats-route://127.0.0.1:{port}\""))
                .collect();
            let config = format!(
                "server_name: n{i}\nlisten: \"127.0.0.1:{}\"\n\
                 jetstream {{ store_dir: \"{}\" }}\n\
                 cluster {{ name: test, listen: \"127.0.0.1:{}\", routes: [{}] }}\n",
                cluster.ports[i],
                cluster.dir.path().join(format!("n{i}")).display(),
                routes[i],
                others.join(", ")
            );
            let path = cluster.dir.path().join(format!("n{i}.conf"));
            std::fs::write(&path, config).expect("write config");
            let log = File::create(cluster.dir.path().join(format!("n{i}.log"))).expect("log");
            let mut command = Command::new(&binary);
            command
                .arg("-c")
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log);
            die_with_test(&mut command);
            cluster
                .children
                .push(command.spawn().expect("start nats-server"));
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        for port in &cluster.ports {
            let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, *port);
            while TcpStream::connect_timeout(&addr.into(), Duration::from_millis(200)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "a clustered nats-server did not listen on port {port} within 15 s"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        cluster
    }

    /// Every node's URL, comma-separated.
    pub fn url(&self) -> String {
        self.ports
            .iter()
            .map(|port| format!("nats://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The URL of node `index`.
    pub fn node_url(&self, index: usize) -> String {
        format!("nats://127.0.0.1:{}", self.ports[index])
    }

    /// Waits until the cluster creates a stream with as many replicas as nodes (its JetStream
    /// meta leader is elected and every node has joined), then deletes that stream.
    pub async fn wait_ready(&self) {
        let client = async_nats::connect(self.node_url(0))
            .await
            .expect("connect to the cluster");
        let js = async_nats::jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(1))
            .build(client);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let created = js
                .create_stream(async_nats::jetstream::stream::Config {
                    name: "READY_PROBE".into(),
                    subjects: vec!["ready.probe".into()],
                    num_replicas: self.ports.len(),
                    ..Default::default()
                })
                .await;
            match created {
                Ok(_) => break,
                Err(err) => assert!(
                    Instant::now() < deadline,
                    "the NATS cluster is not ready after 30 s: {err}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        js.delete_stream("READY_PROBE")
            .await
            .expect("delete the probe stream");
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Makes the server started by `command` die with the test process, even one killed without
/// unwinding.
fn die_with_test(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only makes the prctl
    // system call, which is async-signal-safe and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
                .map_err(|errno| std::io::Error::from_raw_os_error(errno as i32))
        });
    }
}
