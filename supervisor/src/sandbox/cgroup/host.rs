//! Parsing of the host files that locate cgroup hierarchies: `/proc/self/mountinfo` (where
//! each hierarchy is mounted) and `/proc/self/cgroup` (which group of each hierarchy the
//! supervisor is in).

use std::path::{Component, Path, PathBuf};

/// One cgroup mount from `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CgroupMount {
    /// The group of the hierarchy that is mounted (`/` unless a subtree is bind-mounted or a
    /// cgroup namespace is involved).
    pub root: String,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// `true` for `cgroup2`, `false` for a v1 `cgroup` mount.
    pub v2: bool,
    /// The super options (for v1, they name the controllers of the hierarchy).
    pub options: Vec<String>,
}

impl CgroupMount {
    /// Whether this v1 mount is the hierarchy of `controller`.
    pub fn has_controller(&self, controller: &str) -> bool {
        !self.v2 && self.options.iter().any(|o| o == controller)
    }
}

/// The cgroup mounts listed in a mountinfo text, in order.
pub(super) fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    mountinfo.lines().filter_map(parse_mount_line).collect()
}

fn parse_mount_line(line: &str) -> Option<CgroupMount> {
    // id parent major:minor root mount-point options [optional fields...] - fstype source super
    let fields: Vec<&str> = line.split_whitespace().collect();
    let separator = fields.iter().skip(6).position(|f| *f == "-")? + 6;
    let fstype = *fields.get(separator + 1)?;
    let v2 = match fstype {
        "cgroup2" => true,
        "cgroup" => false,
        _ => return None,
    };
    let options = fields
        .get(separator + 3)
        .map(|o| o.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    Some(CgroupMount {
        root: unescape(fields.get(3)?),
        mount_point: PathBuf::from(unescape(fields.get(4)?)),
        v2,
        options,
    })
}

/// Undoes the octal escapes (`\040` for a space...) of mountinfo paths.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)))
            .and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok());
        match octal {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The supervisor's group in the v2 hierarchy (the `0::` line of `/proc/self/cgroup`).
pub(super) fn v2_group(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("0"), Some(""), Some(path)) => Some(path),
            _ => None,
        }
    })
}

/// The supervisor's group in the v1 hierarchy of `controller`.
pub(super) fn v1_group<'a>(proc_cgroup: &'a str, controller: &str) -> Option<&'a str> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == controller)
            .then_some(path)
    })
}

/// The directory of `group` through `mount`, with `host_root` prepended to the mount point
/// (`/` on a real host, a temporary directory for a fake tree). `None` when the group is not
/// visible through that mount (outside its root, or `..` components from a cgroup namespace).
pub(super) fn group_dir(host_root: &Path, mount: &CgroupMount, group: &str) -> Option<PathBuf> {
    let relative = Path::new(group).strip_prefix(&mount.root).ok()?;
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let mount_point = mount
        .mount_point
        .strip_prefix("/")
        .unwrap_or(&mount.mount_point);
    let dir = host_root.join(mount_point);
    Some(if relative.as_os_str().is_empty() {
        dir
    } else {
        dir.join(relative)
    })
}
