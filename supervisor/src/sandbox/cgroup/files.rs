//! Reading and writing cgroup interface files, creating and removing group directories, and
//! killing the processes of a group.
//!
//! In unit tests, a thread may install a fake kernel ([`fake::FakeKernel`]) that fills every
//! new group directory with interface files, as cgroupfs does, and empties it before removal.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Writes `value` to a cgroup interface file, which must exist.
pub(super) fn write(path: &Path, value: &str) -> Result<(), String> {
    write_io(path, value).map_err(|e| format!("write {value:?} to {}: {e}", path.display()))
}

/// [`write`], keeping the I/O error.
pub(super) fn write_io(path: &Path, value: &str) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
}

/// The whitespace-separated words of a file (a leading `+` is dropped, so a fake
/// `cgroup.subtree_control` written with `+memory` reads back as `memory`).
pub(super) fn words(path: &Path) -> Option<Vec<String>> {
    let text = fs::read_to_string(path).ok()?;
    Some(
        text.split_whitespace()
            .map(|w| w.trim_start_matches('+').to_owned())
            .collect(),
    )
}

/// The number of a file holding one number.
pub(super) fn number(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The value of `key` in a flat keyed file (`key value` lines, like `memory.events`).
pub(super) fn keyed(path: &Path, key: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The pids listed in a `cgroup.procs` file (empty when it cannot be read).
pub(super) fn pids(procs: &Path) -> Vec<u32> {
    fs::read_to_string(procs)
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// `dir` and every group below it, children before their parents.
pub(super) fn groups_bottom_up(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(groups_bottom_up(&entry.path()));
            }
        }
    }
    if dir.is_dir() {
        out.push(dir.to_path_buf());
    }
    out
}

/// The pids of `dir` and of every group below it.
pub(super) fn pids_recursive(dir: &Path) -> Vec<u32> {
    groups_bottom_up(dir)
        .iter()
        .flat_map(|g| pids(&g.join("cgroup.procs")))
        .collect()
}

/// Sends SIGKILL to each pid, except the supervisor itself and pids 0 and 1 (which a group of
/// ours never legitimately contains).
pub(super) fn kill_pids(pids: &[u32]) {
    let own = std::process::id();
    for &pid in pids {
        if pid <= 1 || pid == own {
            continue;
        }
        let Ok(raw) = i32::try_from(pid) else {
            continue;
        };
        let _ = kill(Pid::from_raw(raw), Signal::SIGKILL);
    }
}

/// Kills every process in the groups at or below each of `dirs`, repeating until they are
/// empty (processes may fork while being killed). Uses `cgroup.kill` where it exists. Gives up
/// after about a second; returns whether the groups are empty.
pub(super) fn kill_groups(dirs: &[PathBuf]) -> bool {
    const ROUNDS: u32 = 100;
    for round in 0..ROUNDS {
        let mut any = false;
        for dir in dirs {
            let pids = pids_recursive(dir);
            if pids.is_empty() {
                continue;
            }
            any = true;
            let cgroup_kill = dir.join("cgroup.kill");
            if !(cgroup_kill.is_file() && write(&cgroup_kill, "1").is_ok()) {
                kill_pids(&pids);
            }
        }
        if !any {
            return true;
        }
        if round + 1 < ROUNDS {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    false
}

/// Creates a group directory.
pub(super) fn make_group(dir: &Path) -> io::Result<()> {
    fs::create_dir(dir)?;
    #[cfg(test)]
    fake::populate(dir);
    Ok(())
}

/// Removes an (empty) group directory.
pub(super) fn remove_group(dir: &Path) -> io::Result<()> {
    #[cfg(test)]
    fake::depopulate(dir);
    fs::remove_dir(dir)
}

/// Removes `dir` and the groups below it, killing their processes first. `EBUSY` (processes
/// still exiting) is retried for about a second. A missing directory is not an error.
pub(super) fn remove_tree(dir: &Path) -> Result<(), String> {
    const ATTEMPTS: u32 = 50;
    for group in groups_bottom_up(dir) {
        let mut attempt = 0;
        loop {
            match remove_group(&group) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt + 1 < ATTEMPTS => {
                    attempt += 1;
                    kill_pids(&pids(&group.join("cgroup.procs")));
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(format!("remove cgroup {}: {e}", group.display())),
            }
        }
    }
    Ok(())
}

/// A stand-in for cgroupfs in unit tests, installed per thread.
#[cfg(test)]
pub(super) mod fake {
    use std::cell::RefCell;
    use std::path::{Path, PathBuf};

    /// Interface files (name, initial content) that appear in each new group under a prefix.
    type Templates = Vec<(PathBuf, Vec<(&'static str, &'static str)>)>;

    thread_local! {
        static TEMPLATES: RefCell<Templates> = const { RefCell::new(Vec::new()) };
    }

    /// While alive, new group directories under each prefix get the prefix's files.
    pub struct FakeKernel;

    impl FakeKernel {
        /// Installs the templates for the current thread.
        pub fn install(templates: Templates) -> FakeKernel {
            TEMPLATES.with(|t| *t.borrow_mut() = templates);
            FakeKernel
        }
    }

    impl Drop for FakeKernel {
        fn drop(&mut self) {
            TEMPLATES.with(|t| t.borrow_mut().clear());
        }
    }

    pub(super) fn populate(dir: &Path) {
        TEMPLATES.with(|t| {
            for (prefix, files) in t.borrow().iter() {
                if dir.starts_with(prefix) {
                    for (name, content) in files {
                        std::fs::write(dir.join(name), content).expect("fake interface file");
                    }
                }
            }
        });
    }

    pub(super) fn depopulate(dir: &Path) {
        if TEMPLATES.with(|t| t.borrow().is_empty()) {
            return;
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_file()) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}
