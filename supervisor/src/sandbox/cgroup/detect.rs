//! Detection of the cgroup [`Backend`] of this host, and the `doctor` report about it.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::files;
use super::host::{self, CgroupMount};
use super::{Backend, PARENT_GROUP};

/// Controllers that cgroup v2 must provide.
const V2_REQUIRED: [&str; 2] = ["memory", "pids"];

/// How to get a usable backend, appended to the reason of [`Backend::None`].
const HOW_TO_ENABLE: &str = "run the supervisor under systemd with Delegate=yes and \
    DelegateSubgroup=supervisor (cgroup v2), or mount the cgroup v1 memory and pids hierarchies \
    (mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory, same for pids)";

/// Detects the backend from this process's `/proc/self/mountinfo` and `/proc/self/cgroup`.
///
/// On cgroup v2 this creates the `convotic/` group and enables controllers for it, and on v1 it
/// creates and removes a probe group in each hierarchy to check it is writable.
pub fn detect_host() -> Backend {
    let read =
        |path: &str| std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"));
    match (read("/proc/self/mountinfo"), read("/proc/self/cgroup")) {
        (Ok(mountinfo), Ok(proc_cgroup)) => detect(&mountinfo, &proc_cgroup, Path::new("/")),
        (Err(reason), _) | (_, Err(reason)) => Backend::None {
            reason: format!("{reason}: mount /proc to enable resource limits"),
        },
    }
}

/// Detects the backend from the text of a mountinfo file and of a `/proc/<pid>/cgroup` file.
/// Mount points are resolved under `host_root` (`/` on a real host, a temporary directory with
/// a fake tree in tests).
///
/// cgroup v2 is preferred when the supervisor's cgroup lists `memory` and `pids` in
/// `cgroup.controllers` and they can be enabled for a `convotic/` child group. Because of v2's
/// "no internal processes" rule, the supervisor's own cgroup can only do that if it holds no
/// process (or is the root cgroup); otherwise, when its parent is a delegated cgroup (marked
/// with the `trusted.delegate` or `user.delegate` attribute by systemd, as with
/// `DelegateSubgroup=`), `convotic/` is created in the parent instead. Failing that, the
/// writable cgroup v1 hierarchies among `memory`, `pids` and `cpu` are used.
pub fn detect(mountinfo: &str, proc_cgroup: &str, host_root: &Path) -> Backend {
    let mounts = host::cgroup_mounts(mountinfo);
    let v2_problem = match detect_v2(&mounts, proc_cgroup, host_root) {
        Ok(root) => return Backend::V2 { root },
        Err(problem) => problem,
    };
    let [memory, pids, cpu] =
        ["memory", "pids", "cpu"].map(|c| probe_v1(&mounts, proc_cgroup, host_root, c));
    if memory.is_ok() || pids.is_ok() || cpu.is_ok() {
        tracing::debug!("cgroup v2 not used: {v2_problem}");
        for problem in [&memory, &pids, &cpu]
            .into_iter()
            .filter_map(|r| r.as_ref().err())
        {
            tracing::debug!("{problem}");
        }
        return Backend::V1 {
            memory: memory.ok(),
            pids: pids.ok(),
            cpu: cpu.ok(),
        };
    }
    let v1_problems: Vec<String> = [memory, pids, cpu]
        .into_iter()
        .filter_map(Result::err)
        .collect();
    let v1_problem = if v1_problems.iter().all(|p| p.ends_with("is not mounted")) {
        "no cgroup v1 memory, pids or cpu hierarchy is mounted".to_owned()
    } else {
        v1_problems.join("; ")
    };
    Backend::None {
        reason: format!("{v2_problem}; {v1_problem}: {HOW_TO_ENABLE}"),
    }
}

/// The cgroup v2 directory under which `convotic/` is ready, or why there is none.
fn detect_v2(
    mounts: &[CgroupMount],
    proc_cgroup: &str,
    host_root: &Path,
) -> Result<PathBuf, String> {
    let v2_mounts: Vec<&CgroupMount> = mounts.iter().filter(|m| m.v2).collect();
    if v2_mounts.is_empty() {
        return Err("cgroup v2 is not mounted".into());
    }
    let group = host::v2_group(proc_cgroup)
        .ok_or("cgroup v2 is mounted but the supervisor is in no cgroup v2 group")?;
    let (mount, own) = v2_mounts
        .iter()
        .find_map(|m| host::group_dir(host_root, m, group).map(|dir| (m, dir)))
        .ok_or_else(|| format!("cgroup v2: the supervisor's group {group} is not visible"))?;
    let controllers = files::words(&own.join("cgroup.controllers")).ok_or_else(|| {
        format!(
            "cgroup v2: cannot read {}/cgroup.controllers",
            own.display()
        )
    })?;
    let missing: Vec<&str> = V2_REQUIRED
        .into_iter()
        .filter(|c| !controllers.iter().any(|have| have == c))
        .collect();
    if !missing.is_empty() {
        let listed = if controllers.is_empty() {
            "none".to_owned()
        } else {
            controllers.join(" ")
        };
        return Err(format!(
            "cgroup v2 has no delegated controllers: {} lacks {} (cgroup.controllers: {listed})",
            own.display(),
            missing.join(" and "),
        ));
    }
    let cpu = controllers.iter().any(|c| c == "cpu");
    let own_problem = match prepare_v2_base(&own, cpu) {
        Ok(()) => return Ok(own),
        Err(problem) => problem,
    };
    let mount_dir = host::group_dir(host_root, mount, &mount.root);
    let delegated_parent = own
        .parent()
        .filter(|p| mount_dir.as_deref().is_some_and(|m| p.starts_with(m)) && is_delegated(p));
    match delegated_parent {
        Some(parent) => match prepare_v2_base(parent, cpu) {
            Ok(()) => Ok(parent.to_path_buf()),
            Err(problem) => Err(format!("{own_problem}; {problem}")),
        },
        None => Err(own_problem),
    }
}

/// Makes sure `base`'s children get `memory` and `pids` (and `cpu` when `cpu` is true, best
/// effort), then makes sure `base/convotic/` exists and passes them on to its children.
fn prepare_v2_base(base: &Path, cpu: bool) -> Result<(), String> {
    let subtree_control = base.join("cgroup.subtree_control");
    enable(&subtree_control, cpu).map_err(|e| {
        let why = if e.raw_os_error() == Some(libc::EBUSY) {
            " (the \"no internal processes\" rule: a cgroup holding processes, here the \
             supervisor itself, cannot enable controllers for child groups)"
        } else {
            ""
        };
        format!(
            "cgroup v2: cannot enable memory and pids in {}: {e}{why}",
            subtree_control.display()
        )
    })?;
    ensure_v2_parent(base)
}

/// Makes sure `base/convotic/` exists with `memory` and `pids` (and `cpu` when available)
/// enabled in its `cgroup.subtree_control`. A group created here is removed again on failure.
pub(super) fn ensure_v2_parent(base: &Path) -> Result<(), String> {
    let parent = base.join(PARENT_GROUP);
    let created = !parent.is_dir();
    if created {
        files::make_group(&parent)
            .map_err(|e| format!("cgroup v2: cannot create {}: {e}", parent.display()))?;
    }
    let subtree_control = parent.join("cgroup.subtree_control");
    let available = files::words(&parent.join("cgroup.controllers")).unwrap_or_default();
    let cpu = available.iter().any(|c| c == "cpu");
    if let Err(e) = enable(&subtree_control, cpu) {
        if created {
            let _ = files::remove_group(&parent);
        }
        return Err(format!(
            "cgroup v2: cannot enable memory and pids in {}: {e}",
            subtree_control.display()
        ));
    }
    Ok(())
}

/// Enables `memory` and `pids`, and `cpu` too when `cpu` is true (best effort: a failure to
/// enable it is logged), through `subtree_control` unless they already are.
fn enable(subtree_control: &Path, cpu: bool) -> io::Result<()> {
    let enabled = files::words(subtree_control).unwrap_or_default();
    let missing = |wanted: &[&str]| -> Vec<String> {
        wanted
            .iter()
            .filter(|c| !enabled.iter().any(|e| e == *c))
            .map(|c| format!("+{c}"))
            .collect()
    };
    if cpu {
        let request = missing(&["memory", "pids", "cpu"]);
        if request.is_empty() {
            return Ok(());
        }
        match files::write_io(subtree_control, &request.join(" ")) {
            Ok(()) => return Ok(()),
            Err(e) => tracing::debug!(
                "cgroup v2: cannot enable cpu with memory and pids in {}: {e}",
                subtree_control.display()
            ),
        }
    }
    let request = missing(&V2_REQUIRED);
    if request.is_empty() {
        return Ok(());
    }
    files::write_io(subtree_control, &request.join(" "))
}

/// Whether systemd marked `dir` as a delegated cgroup (`trusted.delegate` or `user.delegate`
/// extended attribute set to `1`).
fn is_delegated(dir: &Path) -> bool {
    let Ok(path) = CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    [c"trusted.delegate", c"user.delegate"].iter().any(|name| {
        let mut value = [0u8; 8];
        // SAFETY: `path` and `name` are NUL-terminated strings that outlive the call, and
        // `value` is a writable buffer of exactly the length passed.
        let len = unsafe {
            libc::getxattr(
                path.as_ptr(),
                name.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        usize::try_from(len).is_ok_and(|len| value.get(..len) == Some(b"1".as_slice()))
    })
}

/// Distinguishes the probe groups of concurrent detections in one process.
static PROBE_COUNTER: AtomicU32 = AtomicU32::new(0);

/// The supervisor's group in the v1 hierarchy of `controller` if it is writable, or why not.
fn probe_v1(
    mounts: &[CgroupMount],
    proc_cgroup: &str,
    host_root: &Path,
    controller: &str,
) -> Result<PathBuf, String> {
    let hierarchy: Vec<&CgroupMount> = mounts
        .iter()
        .filter(|m| m.has_controller(controller))
        .collect();
    if hierarchy.is_empty() {
        return Err(format!("cgroup v1 {controller} hierarchy is not mounted"));
    }
    let group = host::v1_group(proc_cgroup, controller)
        .ok_or_else(|| format!("cgroup v1: the supervisor is in no {controller} group"))?;
    let base = hierarchy
        .iter()
        .find_map(|m| host::group_dir(host_root, m, group))
        .filter(|dir| dir.is_dir())
        .ok_or_else(|| {
            format!("cgroup v1: the supervisor's {controller} group {group} is not visible")
        })?;
    let probe = base.join(format!(
        "convotic-probe-{}-{}",
        std::process::id(),
        PROBE_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    files::make_group(&probe).map_err(|e| {
        format!(
            "cgroup v1 {controller} hierarchy at {} is not writable: {e}",
            base.display()
        )
    })?;
    if let Err(e) = files::remove_group(&probe) {
        tracing::warn!("cgroup probe {} not removed: {e}", probe.display());
    }
    Ok(base)
}

/// The state of each resource-limit layer, for `doctor`: (layer, available, detail or how to
/// enable it).
pub fn doctor_report(backend: &Backend) -> Vec<(String, bool, String)> {
    let v2 = match backend {
        Backend::V2 { root } => {
            let parent = root.join(PARENT_GROUP);
            let enabled = files::words(&parent.join("cgroup.subtree_control"))
                .map(|c| c.join(" "))
                .unwrap_or_else(|| "unknown".into());
            (
                true,
                format!(
                    "instance groups under {} (controllers: {enabled})",
                    parent.display()
                ),
            )
        }
        Backend::V1 { .. } => (
            false,
            "not in use (cgroup v1 is): on a host with cgroup v2 only, run the supervisor \
             under systemd with Delegate=yes and DelegateSubgroup=supervisor"
                .to_owned(),
        ),
        Backend::None { reason } => (false, reason.clone()),
    };
    let mut report = vec![("cgroup v2 delegation".to_owned(), v2.0, v2.1)];
    for (controller, limits) in [
        ("memory", "memory limits and OOM accounting"),
        ("pids", "process count limits"),
        ("cpu", "CPU quotas"),
    ] {
        let (available, detail) = match backend {
            Backend::V1 { memory, pids, cpu } => {
                let base = match controller {
                    "memory" => memory,
                    "pids" => pids,
                    _ => cpu,
                };
                match base {
                    Some(base) => (
                        true,
                        format!("{limits} in {}", base.join(PARENT_GROUP).display()),
                    ),
                    None => (
                        false,
                        format!(
                            "not mounted or not writable, so no {limits}: mount -t cgroup -o \
                             {controller} cgroup /sys/fs/cgroup/{controller}"
                        ),
                    ),
                }
            }
            Backend::V2 { .. } => (false, "not needed: cgroup v2 is in use".to_owned()),
            Backend::None { .. } => (
                false,
                format!(
                    "not mounted or not writable: mount -t cgroup -o {controller} cgroup \
                     /sys/fs/cgroup/{controller}"
                ),
            ),
        };
        report.push((format!("cgroup v1 {controller}"), available, detail));
    }
    report
}

/// The doctor row about the cost of joining a module's cgroup at start, from a mountinfo text.
///
/// Moving a process into a cgroup takes the kernel's global `cgroup_threadgroup_rwsem` for
/// writing; unless a hierarchy is mounted with `favordynmods` (Linux ≥ 6.0), the first move after
/// a quiet period waits for an RCU grace period: 7–15 ms of every module start measured on a
/// 2-core VM, against about 0.2 ms with `favordynmods` (docs/sandbox.md).
pub fn join_cost_report(mountinfo: &str) -> (String, bool, String) {
    let mounts = host::cgroup_mounts(mountinfo);
    let name = "cgroup join at start (favordynmods)".to_owned();
    if let Some(mount) = mounts
        .iter()
        .find(|m| m.options.iter().any(|o| o == "favordynmods"))
    {
        return (
            name,
            true,
            format!(
                "{} is mounted with favordynmods: joining a module's cgroup takes well under 1 ms",
                mount.mount_point.display()
            ),
        );
    }
    let Some(suggested) = mounts
        .iter()
        .find(|m| m.v2)
        .or_else(|| mounts.iter().find(|m| m.has_controller("memory")))
    else {
        return (name, false, "no cgroup hierarchy is mounted".to_owned());
    };
    (
        name,
        false,
        format!(
            "no cgroup hierarchy has favordynmods: each module start waits ~7-15 ms for the \
             kernel to let it join its cgroup. As root: mount -o remount,favordynmods {} \
             (Linux 6.0 or later; fork and exit get slightly costlier system-wide)",
            suggested.mount_point.display()
        ),
    )
}

#[cfg(test)]
mod join_cost_tests {
    use super::join_cost_report;

    const HYBRID: &str = "\
30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn favordynmods_is_reported_and_suggested_where_it_is_missing() {
        let (_, ok, detail) = join_cost_report(HYBRID);
        assert!(!ok);
        assert!(
            detail.contains("mount -o remount,favordynmods /sys/fs/cgroup/unified"),
            "{detail}"
        );
        let v1_only = HYBRID.lines().next().unwrap();
        let (_, ok, detail) = join_cost_report(v1_only);
        assert!(!ok);
        assert!(detail.contains("/sys/fs/cgroup/memory"), "{detail}");
        let favoured = HYBRID.replace("cgroup2 cgroup2 rw", "cgroup2 cgroup2 rw,favordynmods");
        let (_, ok, detail) = join_cost_report(&favoured);
        assert!(ok, "{detail}");
        assert!(!join_cost_report("").1);
    }
}
