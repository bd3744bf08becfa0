//! Runtime roots left behind by supervisors that died without cleaning up (SIGKILL, power cut).
//!
//! Each runtime root (`<runtime_dir>/cvt-XXXXXX`) records its owner in an `owner` file: the
//! supervisor's pid and its process start time (field 22 of `/proc/<pid>/stat`, clock ticks
//! since boot), so a recycled pid is not mistaken for the owner. At start a supervisor removes
//! the roots whose recorded owner no longer runs, and only those: directories it does not own,
//! without an `owner` file, with an unreadable one, or whose owner lives are left alone.
//! Removal never follows links: a symlink at a root's place is skipped, and links inside a root
//! are removed as links.

use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Name of the file recording a runtime root's owner.
pub const OWNER_FILE: &str = "owner";
/// Largest owner file read (two numbers and a newline).
const MAX_OWNER_BYTES: u64 = 64;

/// A process, told apart from later processes with the same pid by its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessIdentity {
    /// The pid.
    pub pid: u32,
    /// Its start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_ticks: u64,
}

impl ProcessIdentity {
    /// This process.
    pub fn current() -> Option<Self> {
        let pid = std::process::id();
        process_start_ticks(pid).map(|start_ticks| Self { pid, start_ticks })
    }

    /// Whether this very process still runs (same pid and start time, not a zombie).
    pub fn is_running(&self) -> bool {
        self.pid > 0 && process_start_ticks(self.pid) == Some(self.start_ticks)
    }

    /// When it started, in ms since the Unix epoch (None when `/proc/stat` has no boot time).
    pub fn started_at_ms(&self) -> Option<u64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let boot_secs: u64 = stat
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        // SAFETY: sysconf has no preconditions and only reads a constant of the system.
        let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let ticks_per_second = u64::try_from(ticks_per_second).ok().filter(|t| *t > 0)?;
        Some(boot_secs * 1000 + self.start_ticks * 1000 / ticks_per_second)
    }
}

/// The start time of `pid` in clock ticks since boot; None if no such process runs (a zombie
/// counts as gone).
pub fn process_start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces and ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // `rest` starts at field 3 (state); the start time is field 22.
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Records this process as the owner of the runtime root `root`.
pub fn record_owner(root: &Path) -> io::Result<()> {
    let me = ProcessIdentity::current()
        .ok_or_else(|| io::Error::other("cannot read this process's start time in /proc"))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(root.join(OWNER_FILE))?;
    writeln!(file, "{} {}", me.pid, me.start_ticks)
}

/// Reads the owner recorded in `root` (None when absent or not a small regular file).
fn read_owner(root: &Path) -> Option<ProcessIdentity> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(root.join(OWNER_FILE))
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.uid() != nix::unistd::geteuid().as_raw() {
        return None;
    }
    let mut text = String::new();
    file.take(MAX_OWNER_BYTES).read_to_string(&mut text).ok()?;
    let mut numbers = text.split_whitespace();
    let pid = numbers.next()?.parse().ok()?;
    let start_ticks = numbers.next()?.parse().ok()?;
    Some(ProcessIdentity { pid, start_ticks })
}

/// Whether `name` is a runtime root's name (`cvt-` and six hex digits).
fn is_root_name(name: &str) -> bool {
    name.strip_prefix("cvt-")
        .is_some_and(|hex| hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Removes the runtime roots in `parent` whose recorded owner no longer runs; returns them.
pub fn remove_stale(parent: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let me = nix::unistd::geteuid().as_raw();
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        if !entry.file_name().to_str().is_some_and(is_root_name) {
            continue;
        }
        let path = entry.path();
        // symlink_metadata: a link named like a root is not a root.
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != me {
            continue;
        }
        let Some(owner) = read_owner(&path) else {
            continue;
        };
        if owner.is_running() {
            continue;
        }
        // remove_dir_all does not follow symbolic links: it removes them as links.
        match std::fs::remove_dir_all(&path) {
            Ok(()) => {
                tracing::info!(
                    path = %path.display(),
                    owner_pid = owner.pid,
                    "removed the runtime dir of a supervisor that is no longer running"
                );
                removed.push(path);
            }
            Err(e) => tracing::warn!(
                path = %path.display(),
                "cannot remove the runtime dir of a supervisor that is no longer running: {e}"
            ),
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with_owner(parent: &Path, name: &str, owner: &str) -> PathBuf {
        let root = parent.join(name);
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join(OWNER_FILE), owner).unwrap();
        root
    }

    #[test]
    fn this_process_runs_and_a_changed_start_time_does_not() {
        let me = ProcessIdentity::current().unwrap();
        assert!(me.is_running());
        let recycled = ProcessIdentity {
            start_ticks: me.start_ticks + 1,
            ..me
        };
        assert!(!recycled.is_running());
        let started = me.started_at_ms().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(
            started <= now + 1000 && started + 3_600_000 > now,
            "{started} {now}"
        );
    }

    #[test]
    fn only_roots_of_dead_owners_are_removed_and_links_are_not_followed() {
        let parent = tempfile::tempdir().unwrap();
        let me = ProcessIdentity::current().unwrap();
        let live = root_with_owner(
            parent.path(),
            "cvt-00000a",
            &format!("{} {}\n", me.pid, me.start_ticks),
        );
        let dead = root_with_owner(
            parent.path(),
            "cvt-00000b",
            &format!("{} {}\n", me.pid, me.start_ticks + 7),
        );
        // A file outside, linked from inside the dead root: the link goes, the file stays.
        let outside = parent.path().join("keep.txt");
        std::fs::write(&outside, "keep").unwrap();
        std::os::unix::fs::symlink(&outside, dead.join("link")).unwrap();
        let outside_dir = parent.path().join("keep-dir");
        std::fs::create_dir(&outside_dir).unwrap();
        std::fs::write(outside_dir.join("f"), "keep").unwrap();
        std::os::unix::fs::symlink(&outside_dir, dead.join("dirlink")).unwrap();
        // Not ours to judge: no owner file, a foreign name, a link named like a root.
        let unowned = parent.path().join("cvt-00000c");
        std::fs::create_dir(&unowned).unwrap();
        let foreign = root_with_owner(parent.path(), "cvt-other", "1 1\n");
        let link = parent.path().join("cvt-00000d");
        std::os::unix::fs::symlink(&dead, &link).unwrap();

        let removed = remove_stale(parent.path());
        assert_eq!(removed, vec![dead.clone()]);
        assert!(!dead.exists());
        assert!(live.join(OWNER_FILE).exists());
        assert!(unowned.exists() && foreign.exists());
        assert!(std::fs::symlink_metadata(&link).is_ok());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
        assert_eq!(
            std::fs::read_to_string(outside_dir.join("f")).unwrap(),
            "keep"
        );
    }

    #[test]
    fn the_owner_file_is_written_once() {
        let parent = tempfile::tempdir().unwrap();
        record_owner(parent.path()).unwrap();
        assert_eq!(read_owner(parent.path()), ProcessIdentity::current());
        assert!(record_owner(parent.path()).is_err());
    }
}
