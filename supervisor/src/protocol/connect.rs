//! Connecting to a module's Unix socket, retrying quickly until it listens, and checking who
//! answers.
//!
//! The socket lives in a directory the module can write, so whatever stands at its name is the
//! module's doing: a symbolic link to another instance's socket, a FIFO, a socket some other
//! process listens on. The name is therefore looked up relative to a directory descriptor the
//! supervisor opened itself, without following links, and once connected the peer's
//! credentials (`SO_PEERCRED`: the pid and uid of the process that listens) must pass the
//! caller's [`PeerCheck`] before a single byte is sent. Every reconnection of the channel goes
//! through the same checks.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use nix::fcntl::AtFlags;
use nix::sys::stat::{fstatat, SFlag};
use tokio::net::UnixStream;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

/// First retry delay; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(1);
const MAX_RETRY: Duration = Duration::from_millis(25);

/// Credentials of the process listening on a socket, as the kernel reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCredentials {
    /// Pid (in the supervisor's PID namespace), when the kernel knows it.
    pub pid: Option<i32>,
    /// Host uid.
    pub uid: u32,
    /// Host gid.
    pub gid: u32,
}

/// Decides whether a peer may serve the module's socket; the error says who it was and why
/// it is refused. Called on a blocking thread (it may read `/proc`).
pub type PeerCheck = Arc<dyn Fn(PeerCredentials) -> Result<(), String> + Send + Sync>;

/// A module's socket: a name inside a directory the supervisor holds open, and who may answer.
#[derive(Clone)]
pub struct ModuleSocket {
    /// The directory, opened by the supervisor.
    pub dir: Arc<OwnedFd>,
    /// The socket's name inside it (one component, no `/`).
    pub name: String,
    /// The full path, for messages only (never opened).
    pub display: PathBuf,
    /// Who may answer.
    pub check: PeerCheck,
}

impl fmt::Debug for ModuleSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleSocket")
            .field("path", &self.display)
            .finish()
    }
}

/// Why no channel was opened.
#[derive(Debug)]
pub enum ConnectError {
    /// Nobody listened before the deadline (the last error).
    NotListening(io::Error),
    /// Something stood at the socket's name that must not be used, or the wrong process
    /// answered: never retried.
    Refused(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::NotListening(e) => write!(f, "nobody listens: {e}"),
            ConnectError::Refused(why) => write!(f, "{why}"),
        }
    }
}

/// Opens an HTTP/2 channel to the module's socket, retrying until `deadline` while nothing
/// listens; a refused socket or peer ends the attempt at once.
pub async fn connect(socket: &ModuleSocket, deadline: Instant) -> Result<Channel, ConnectError> {
    let mut delay = FIRST_RETRY;
    loop {
        match connect_once(socket).await {
            Ok(channel) => return Ok(channel),
            Err(ConnectError::NotListening(e)) if Instant::now() + delay >= deadline => {
                return Err(ConnectError::NotListening(e))
            }
            Err(ConnectError::NotListening(_)) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RETRY);
            }
            Err(refused) => return Err(refused),
        }
    }
}

async fn connect_once(socket: &ModuleSocket) -> Result<Channel, ConnectError> {
    // Fail fast while the socket does not exist yet, without building a channel.
    let stream = open_checked(socket).await?;
    let first = std::sync::Mutex::new(Some(stream));
    let socket = socket.clone();
    // No HTTP/2 keepalive pings: gRPC servers in other languages (grpc-go's default policy)
    // answer frequent pings with GOAWAY; liveness comes from the health probes instead.
    let endpoint = Endpoint::from_static("http://module.invalid").tcp_nodelay(true);
    endpoint
        .connect_with_connector(tower::service_fn(move |_| {
            let reuse = first.lock().ok().and_then(|mut s| s.take());
            let socket = socket.clone();
            async move {
                let stream = match reuse {
                    Some(stream) => stream,
                    None => open_checked(&socket)
                        .await
                        .map_err(|e| io::Error::other(e.to_string()))?,
                };
                Ok::<_, io::Error>(TokioIo::new(stream))
            }
        }))
        .await
        .map_err(|e| ConnectError::NotListening(io::Error::other(e)))
}

/// Connects to the socket without following a link at its name, then checks the peer.
pub async fn open_checked(socket: &ModuleSocket) -> Result<UnixStream, ConnectError> {
    refuse_non_socket(socket)?;
    // The directory through its descriptor: the path walk cannot be redirected above the
    // socket's name, and the name was just seen to be a socket (if the module swaps a link in
    // between, the peer check below still refuses a stranger).
    let through_fd = format!("/proc/self/fd/{}/{}", socket.dir.as_raw_fd(), socket.name);
    let stream = UnixStream::connect(&through_fd)
        .await
        .map_err(ConnectError::NotListening)?;
    let credentials = stream.peer_cred().map_err(|e| {
        ConnectError::Refused(format!(
            "cannot read who listens on {}: {e}",
            socket.display.display()
        ))
    })?;
    let peer = PeerCredentials {
        pid: credentials.pid(),
        uid: credentials.uid(),
        gid: credentials.gid(),
    };
    let check = Arc::clone(&socket.check);
    let verdict = tokio::task::spawn_blocking(move || check(peer))
        .await
        .map_err(|e| ConnectError::Refused(format!("checking the peer: {e}")))?;
    verdict.map_err(|why| {
        ConnectError::Refused(format!(
            "refused the module's socket {}: {why}",
            socket.display.display()
        ))
    })?;
    Ok(stream)
}

/// Refuses whatever stands at the socket's name unless it is a socket (a link is never
/// followed). A missing name is "not listening yet".
fn refuse_non_socket(socket: &ModuleSocket) -> Result<(), ConnectError> {
    let stat = match fstatat(
        &*socket.dir,
        socket.name.as_str(),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    ) {
        Ok(stat) => stat,
        Err(errno) => return Err(ConnectError::NotListening(io::Error::from(errno))),
    };
    let kind = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
    if kind == SFlag::S_IFSOCK {
        return Ok(());
    }
    let what = match kind {
        SFlag::S_IFLNK => {
            let target = nix::fcntl::readlinkat(&*socket.dir, socket.name.as_str())
                .map(|t| printable(&t.to_string_lossy()))
                .unwrap_or_else(|_| "?".into());
            format!("a symbolic link (to {target})")
        }
        SFlag::S_IFIFO => "a FIFO".into(),
        SFlag::S_IFREG => "a regular file".into(),
        SFlag::S_IFDIR => "a directory".into(),
        SFlag::S_IFCHR | SFlag::S_IFBLK => "a device".into(),
        _ => "not a socket".into(),
    };
    Err(ConnectError::Refused(format!(
        "{} is {what}, not a socket: links and other files at the module's socket are refused",
        socket.display.display()
    )))
}

/// A module-controlled string made safe for a log line: at most 120 characters, no control
/// characters.
pub fn printable(text: &str) -> String {
    text.chars()
        .take(120)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::OpenOptionsExt;

    fn socket_in(dir: &std::path::Path, check: PeerCheck) -> ModuleSocket {
        let fd = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(dir)
            .unwrap();
        ModuleSocket {
            dir: Arc::new(OwnedFd::from(fd)),
            name: "plugin.sock".into(),
            display: dir.join("plugin.sock"),
            check,
        }
    }

    fn anyone() -> PeerCheck {
        Arc::new(|_| Ok(()))
    }

    #[tokio::test]
    async fn links_are_refused_without_being_followed() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let target = elsewhere.path().join("real.sock");
        let _listener = tokio::net::UnixListener::bind(&target).unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("plugin.sock")).unwrap();
        let error = open_checked(&socket_in(dir.path(), anyone()))
            .await
            .unwrap_err();
        let ConnectError::Refused(why) = error else {
            panic!("a link must be refused, not retried: {error}");
        };
        assert!(why.contains("symbolic link"), "{why}");
        assert!(why.contains("real.sock"), "{why}");
    }

    #[tokio::test]
    async fn fifos_are_refused_and_missing_sockets_retried() {
        let dir = tempfile::tempdir().unwrap();
        let socket = socket_in(dir.path(), anyone());
        assert!(matches!(
            open_checked(&socket).await,
            Err(ConnectError::NotListening(_))
        ));
        nix::unistd::mkfifo(
            &dir.path().join("plugin.sock"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        let error = open_checked(&socket).await.unwrap_err().to_string();
        assert!(error.contains("a FIFO"), "{error}");
    }

    #[tokio::test]
    async fn the_peer_check_sees_the_listener_and_can_refuse_it() {
        let dir = tempfile::tempdir().unwrap();
        let _listener = tokio::net::UnixListener::bind(dir.path().join("plugin.sock")).unwrap();
        let me = std::process::id() as i32;
        let seen = Arc::new(std::sync::Mutex::new(None));
        let record = Arc::clone(&seen);
        let check: PeerCheck = Arc::new(move |peer| {
            *record.lock().unwrap() = Some(peer);
            Err(format!("pid {:?} is not ours", peer.pid))
        });
        let error = open_checked(&socket_in(dir.path(), check))
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("is not ours"), "{error}");
        let peer = seen.lock().unwrap().unwrap();
        assert_eq!(peer.pid, Some(me));
        assert_eq!(peer.uid, nix::unistd::geteuid().as_raw());
        assert!(open_checked(&socket_in(dir.path(), anyone())).await.is_ok());
    }
}
