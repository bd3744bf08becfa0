//! Reading the process tree from `/proc`: children, descendants, liveness and memory.
//!
//! Used to find a module's own pid below the spawn helper, to check that no descendant is left
//! after a stop, and by the spawn helper in subreaper mode. The `/proc` root is a parameter of
//! the inner functions so they can be tested against a fake tree.

use std::collections::HashMap;
use std::path::Path;

/// Pids whose parent is `pid`.
pub fn children_of(pid: i32) -> Vec<i32> {
    parents(Path::new("/proc"))
        .into_iter()
        .filter_map(|(child, parent)| (parent == pid).then_some(child))
        .collect()
}

/// Every live descendant of `pid` (children, grandchildren, ...), zombies excluded.
pub fn descendants_of(pid: i32) -> Vec<i32> {
    descendants_in(Path::new("/proc"), pid)
}

fn descendants_in(proc_root: &Path, pid: i32) -> Vec<i32> {
    let table = parents(proc_root);
    let mut by_parent: HashMap<i32, Vec<i32>> = HashMap::new();
    for (child, parent) in table {
        by_parent.entry(parent).or_default().push(child);
    }
    let mut out = Vec::new();
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        if let Some(children) = by_parent.get(&p) {
            for &c in children {
                out.push(c);
                stack.push(c);
            }
        }
    }
    out
}

/// Whether `pid` is `ancestor` or one of its descendants (following parent links up).
pub fn is_within_tree(pid: i32, ancestor: i32) -> bool {
    is_within_tree_in(Path::new("/proc"), pid, ancestor)
}

fn is_within_tree_in(proc_root: &Path, pid: i32, ancestor: i32) -> bool {
    let mut current = pid;
    // Bounded: a parent chain is never longer than the pid space allows, and a loop in a
    // (fake) tree must not hang.
    for _ in 0..4096 {
        if current == ancestor {
            return true;
        }
        if current <= 1 {
            return false;
        }
        match stat_fields(proc_root, current) {
            Some((_, parent)) => current = parent,
            None => return false,
        }
    }
    false
}

/// The command name of `pid` (`/proc/<pid>/comm`), as the process set it.
pub fn command_name(pid: i32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim_end().to_string())
}

/// Whether `pid` exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    stat_fields(Path::new("/proc"), pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

/// Resident set size of `pid` in bytes.
pub fn rss_bytes(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// (pid, ppid) of every live (non-zombie) process.
fn parents(proc_root: &Path) -> Vec<(i32, i32)> {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let (state, ppid) = stat_fields(proc_root, pid)?;
            (state != 'Z' && state != 'X').then_some((pid, ppid))
        })
        .collect()
}

/// (state, ppid) from `/proc/<pid>/stat`. The command name may contain spaces and parentheses,
/// so fields are read after the last `)`.
fn stat_fields(proc_root: &Path, pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// The module's own process below a spawn helper: in PID-namespace mode the child of the
/// namespace's init whose in-namespace pid is 2; in subreaper mode the helper's child.
pub fn module_pid(helper: i32) -> Option<i32> {
    let first = *children_of(helper).first()?;
    match ns_pids(first) {
        Some(ids) if ids.len() >= 2 && ids.last() == Some(&1) => children_of(first)
            .into_iter()
            .find(|child| ns_pids(*child).and_then(|ids| ids.last().copied()) == Some(2)),
        _ => Some(first),
    }
}

/// The `NSpid:` line of `/proc/<pid>/status`: the pid in each nested namespace.
fn ns_pids(pid: i32) -> Option<Vec<i32>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
    Some(
        line.split_whitespace()
            .skip(1)
            .filter_map(|p| p.parse().ok())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(root: &Path, pid: i32, comm: &str, state: char, ppid: i32) {
        let dir = root.join(pid.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("stat"),
            format!("{pid} ({comm}) {state} {ppid} 1 1 0"),
        )
        .unwrap();
    }

    #[test]
    fn descendants_follow_the_tree_and_skip_zombies() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fake(root, 10, "supervisor", 'S', 1);
        fake(root, 11, "helper", 'S', 10);
        fake(root, 12, "odd) name (x", 'S', 11);
        fake(root, 13, "sleep", 'S', 12);
        fake(root, 14, "dead", 'Z', 12);
        fake(root, 20, "other", 'S', 1);
        let mut found = descendants_in(root, 10);
        found.sort();
        assert_eq!(found, vec![11, 12, 13]);
        assert_eq!(stat_fields(root, 12), Some(('S', 11)));
        assert!(is_within_tree_in(root, 13, 11));
        assert!(is_within_tree_in(root, 11, 11));
        assert!(!is_within_tree_in(root, 20, 11));
        assert!(!is_within_tree_in(root, 10, 11));
        assert!(!is_within_tree_in(root, 99, 11));
    }

    #[test]
    fn this_process_is_alive() {
        assert!(is_alive(std::process::id() as i32));
        assert!(rss_bytes(std::process::id() as i32).unwrap() > 0);
    }
}
