//! Starting a module binary directly, the way the supervisor does (env vars, private socket
//! dir), so tests can drive its work stream with the supervisor's protocol client.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use convotic_proto::env;
use convotic_proto::plugin::v1::DescribeResponse;
use convotic_supervisor::protocol::{self, WorkClient};
use tonic_channel::Channel;

/// Re-export of tonic's channel type through the supervisor's dependency.
pub mod tonic_channel {
    pub use convotic_supervisor::protocol::Channel;
}

/// A module process started by the test.
pub struct DirectModule {
    /// The process.
    pub child: Child,
    /// Its socket dir.
    pub dir: tempfile::TempDir,
    /// The channel to it, once connected.
    pub channel: Channel,
    /// What Describe returned.
    pub described: DescribeResponse,
}

impl DirectModule {
    /// Starts `binary` with the protocol env plus `extra_env`, waits for SERVING and Describes.
    pub async fn start(binary: PathBuf, name: &str, extra_env: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cvt-d")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let socket = dir.path().join("plugin.sock");
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(env::PLUGIN_SOCKET, &socket)
            .env(env::HOST_SOCKET, dir.path().join("host.sock"))
            .env(env::PLUGIN_TOKEN, "test-token")
            .env(env::PROTOCOL_VERSIONS, "1")
            .env(env::WORKSPACE, "ws_test")
            .env(env::MODULE, name)
            .env(env::INSTANCE, "i1")
            .stdin(Stdio::null());
        for (k, v) in extra_env {
            command.env(k, v);
        }
        let child = command.spawn().expect("spawn module");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let module_socket = protocol::ModuleSocket {
            dir: std::sync::Arc::new(std::os::fd::OwnedFd::from(
                std::fs::File::open(dir.path()).expect("open the socket dir"),
            )),
            name: "plugin.sock".into(),
            display: socket.clone(),
            // The test started the module itself: any peer in this test's socket dir is it.
            check: std::sync::Arc::new(|_| Ok(())),
        };
        let channel = protocol::connect(&module_socket, deadline)
            .await
            .expect("connect");
        protocol::wait_serving(channel.clone(), deadline)
            .await
            .expect("serving");
        let described = protocol::describe(channel.clone(), Duration::from_secs(5), &[])
            .await
            .expect("describe");
        Self {
            child,
            dir,
            channel,
            described,
        }
    }

    /// Opens `lanes` work lanes with the manifest's credit limit.
    pub async fn work(&self, lanes: usize) -> WorkClient {
        let max = self
            .described
            .manifest
            .as_ref()
            .map(|m| m.max_in_flight)
            .unwrap_or(0);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        WorkClient::open(self.channel.clone(), lanes, max, true, false, deadline)
            .await
            .expect("open lanes")
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for DirectModule {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
