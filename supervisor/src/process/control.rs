//! The spawn helper's control socket: one end of a Unix socket pair that the spawner places at
//! fd [`CONTROL_FD`] of the helper, the other end kept by the supervisor.
//!
//! Two length-prefixed frames travel on it (4-byte little-endian length, then the bytes):
//!
//! 1. supervisor → helper: the sandbox spec as JSON (`null` for profile `none`), so it never
//!    appears on the helper's command line (`ps -ef` shows every argv to every host user);
//! 2. module process → supervisor: the sandbox report, written by the helper's code in the
//!    module process just before `exec`, so the supervisor never reads a file from the
//!    module-writable runtime dir.
//!
//! Both sides cap the frame size. The helper and the namespace's PID 1 close their copies as
//! soon as they no longer need them, and the module process closes its copy before `exec`: the
//! module itself never holds the socket.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// The fd the control socket has in the spawn helper.
pub const CONTROL_FD: i32 = 3;

/// Largest sandbox spec the helper accepts.
pub const MAX_SPEC_BYTES: usize = 1024 * 1024;

/// Largest sandbox report the supervisor accepts.
pub const MAX_REPORT_BYTES: usize = 64 * 1024;

/// Writes one frame with `send(MSG_NOSIGNAL)` (a closed peer is an error, never a SIGPIPE that
/// would kill a helper whose signal dispositions are the defaults). Allocation-free.
pub fn send_frame(fd: BorrowedFd<'_>, payload: &[u8]) -> io::Result<()> {
    let length = u32::try_from(payload.len())
        .map_err(|_| io::Error::from_raw_os_error(libc::EMSGSIZE))?
        .to_le_bytes();
    send_all(fd, &length)?;
    send_all(fd, payload)
}

fn send_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid, initialised buffer of `bytes.len()` bytes and `fd` is a
        // descriptor borrowed for the duration of the call.
        let sent = unsafe {
            libc::send(
                fd.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if sent < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        bytes = &bytes[sent as usize..];
    }
    Ok(())
}

/// The payload length a frame header announces, refused over `max`.
fn frame_length(header: [u8; 4], max: usize) -> Result<usize, String> {
    let length = u32::from_le_bytes(header) as usize;
    if length > max {
        return Err(format!(
            "frame of {length} bytes is over the limit of {max}"
        ));
    }
    Ok(length)
}

/// Reads one frame of at most `max` bytes from a blocking reader (the helper's side).
pub fn read_frame_blocking(reader: &mut impl Read, max: usize) -> Result<Vec<u8>, String> {
    let mut length = [0u8; 4];
    reader
        .read_exact(&mut length)
        .map_err(|e| format!("reading the frame length: {e}"))?;
    let length = frame_length(length, max)?;
    let mut payload = vec![0u8; length];
    reader
        .read_exact(&mut payload)
        .map_err(|e| format!("reading a frame of {length} bytes: {e}"))?;
    Ok(payload)
}

/// Reads one frame of at most `max` bytes within `timeout` (the supervisor's side). Never
/// blocks a thread: the socket is non-blocking and read by the runtime.
pub async fn read_frame(
    stream: &mut tokio::net::UnixStream,
    max: usize,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let read = async {
        let mut length = [0u8; 4];
        stream
            .read_exact(&mut length)
            .await
            .map_err(|e| format!("reading the frame length: {e}"))?;
        let length = frame_length(length, max)?;
        let mut payload = vec![0u8; length];
        stream
            .read_exact(&mut payload)
            .await
            .map_err(|e| format!("reading a frame of {length} bytes: {e}"))?;
        Ok(payload)
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| format!("nothing within {timeout:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn frames_round_trip_and_are_capped() {
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        send_frame(a.as_fd(), b"{\"x\":1}").unwrap();
        assert_eq!(read_frame_blocking(&mut b, 100).unwrap(), b"{\"x\":1}");
        send_frame(a.as_fd(), &[b'x'; 200]).unwrap();
        let error = read_frame_blocking(&mut b, 100).unwrap_err();
        assert!(error.contains("over the limit"), "{error}");
    }

    #[test]
    fn a_closed_peer_is_an_error_not_a_signal() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(b);
        assert!(send_frame(a.as_fd(), b"x").is_err());
    }

    #[tokio::test]
    async fn async_reads_time_out_and_cap() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let mut b = tokio::net::UnixStream::from_std(b).unwrap();
        let error = read_frame(&mut b, 100, Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(error.contains("nothing within"), "{error}");
        // A huge announced length is refused before anything is allocated.
        send_frame(a.as_fd(), &[0u8; 10]).unwrap();
        let mut huge = std::io::Cursor::new(u32::MAX.to_le_bytes().to_vec());
        assert!(read_frame_blocking(&mut huge, 100).is_err());
        assert_eq!(
            read_frame(&mut b, 100, Duration::from_secs(5))
                .await
                .unwrap(),
            vec![0u8; 10]
        );
    }
}
