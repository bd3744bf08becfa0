//! Preparing the sandbox of one instance on the supervisor's side: the module's host uid owns
//! its data dir and runtime dir (and the Host socket), its cgroup is created with its limits,
//! and the [`SandboxSpec`] handed to the spawn helper lists exactly what it may see.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::config::ModuleSpec;
use crate::process::InstanceDir;
use crate::sandbox::cgroup::{self, InstanceCgroup};
use crate::sandbox::spec::{
    module_paths, sandbox_uid, Profile, SandboxSpec, NETWORK_READ_PATHS, SYSTEM_EXEC_PATHS,
    SYSTEM_READ_PATHS,
};

/// What an instance's sandbox consists of on the supervisor's side.
pub struct Prepared {
    /// For the helper (`None` for profile `none`).
    pub spec: Option<SandboxSpec>,
    /// The instance's cgroup, removed when the instance is gone.
    pub cgroup: Option<InstanceCgroup>,
}

/// Prepares the sandbox of instance `id` of `spec`.
pub fn prepare(
    spec: &ModuleSpec,
    cgroups: &cgroup::Backend,
    supervisor_data: &Path,
    dir: &InstanceDir,
    data_dir: &Path,
    id: &str,
) -> Result<Prepared, String> {
    if spec.sandbox == Profile::None {
        tracing::warn!(
            workspace = %spec.workspace,
            module = %spec.name,
            "module runs WITHOUT a sandbox (sandbox = \"none\"): it can read and write whatever the supervisor's user can"
        );
        return Ok(Prepared {
            spec: None,
            cgroup: None,
        });
    }
    let as_root = nix::unistd::geteuid().is_root();
    let (uid, gid) = if as_root {
        let id = sandbox_uid(&spec.workspace, &spec.name);
        (id, id)
    } else {
        (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    };
    if as_root {
        chown_tree(data_dir, uid, gid)?;
        for path in [&dir.path, &dir.host_socket] {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", path.display()))?;
        }
    }
    let root_dir = dir.path.join("root");
    std::fs::create_dir(&root_dir).map_err(|e| format!("creating {}: {e}", root_dir.display()))?;
    let limits = cgroup::Limits::from(&spec.limits);
    let wants_cgroup =
        limits.memory_bytes.is_some() || limits.pids.is_some() || limits.cpu_millis.is_some();
    let cgroup = if wants_cgroup && !matches!(cgroups, cgroup::Backend::None { .. }) {
        let name = format!(
            "s{}-{}-{}-{id}",
            std::process::id(),
            spec.workspace,
            spec.name
        );
        match cgroups.create(&name, &limits) {
            Ok(group) => Some(group),
            Err(e) => {
                tracing::warn!(module = %spec.name, "cannot create the module's cgroup ({e}); rlimits stand in for its memory and pids limits");
                None
            }
        }
    } else {
        None
    };
    let (cgroup_memory, cgroup_pids) = cgroup
        .as_ref()
        .map(|g| (g.limits_memory(), g.limits_pids()))
        .unwrap_or((false, false));
    let working_dir_configured = spec
        .working_dir_configured
        .then_some(spec.working_dir.as_path());
    let mut read_exec: Vec<PathBuf> = SYSTEM_EXEC_PATHS.iter().map(PathBuf::from).collect();
    read_exec.extend(module_paths(
        &spec.command,
        working_dir_configured,
        &spec.read_only_paths,
        supervisor_data,
        spec.package_dir.as_deref(),
    ));
    let mut read_only: Vec<PathBuf> = SYSTEM_READ_PATHS.iter().map(PathBuf::from).collect();
    if spec.sandbox == Profile::Relaxed {
        read_only.extend(NETWORK_READ_PATHS.iter().map(PathBuf::from));
    }
    let working_dir = if spec.working_dir_configured {
        spec.working_dir.clone()
    } else {
        data_dir.to_path_buf()
    };
    Ok(Prepared {
        spec: Some(SandboxSpec {
            profile: spec.sandbox,
            hostname: format!("{}.{}", spec.name, spec.workspace.replace('_', "-")),
            uid,
            gid,
            root_dir,
            read_exec,
            read_only,
            read_write: vec![data_dir.to_path_buf(), dir.path.clone()],
            working_dir,
            cgroup_procs: cgroup.as_ref().map(|g| g.procs_files()).unwrap_or_default(),
            cgroup_memory,
            cgroup_pids,
            limits: spec.limits,
        }),
        cgroup,
    })
}

/// Checks on the supervisor's side that the module's command is still an executable file, so
/// a binary removed (or not deployed yet) after the config was loaded is reported as missing
/// rather than as a failure inside the sandbox. Transient: the next attempt checks again.
pub fn check_command(spec: &ModuleSpec) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let command = &spec.command;
    match std::fs::metadata(command) {
        Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => Ok(()),
        Ok(meta) if meta.is_file() => Err(format!(
            "command {} is not executable (chmod +x it)",
            command.display()
        )),
        Ok(_) => Err(format!("command {} is not a file", command.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "command {} does not exist (removed or not deployed yet? the next attempt looks again)",
            command.display()
        )),
        Err(e) => Err(format!("command {}: {e}", command.display())),
    }
}

/// Gives `path` and everything below it to `uid`:`gid`, unless `path` already belongs to
/// them (the common case after the first start).
fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.uid() == uid && meta.gid() == gid {
        return Ok(());
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(current) = stack.pop() {
        std::os::unix::fs::lchown(&current, Some(uid), Some(gid))
            .map_err(|e| format!("chown {}: {e}", current.display()))?;
        let meta = std::fs::symlink_metadata(&current)
            .map_err(|e| format!("{}: {e}", current.display()))?;
        if meta.is_dir() {
            for entry in
                std::fs::read_dir(&current).map_err(|e| format!("{}: {e}", current.display()))?
            {
                let entry = entry.map_err(|e| format!("{}: {e}", current.display()))?;
                stack.push(entry.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_command_is_reported_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[modules]]\nworkspace = \"ws_a\"\nname = \"m\"\ncommand = \"/bin/true\"\n";
        let mut spec = crate::config::parse(text, Path::new("t.toml"), dir.path())
            .unwrap()
            .modules
            .remove(0);
        assert_eq!(check_command(&spec), Ok(()));
        spec.command = dir.path().join("gone");
        let message = check_command(&spec).unwrap_err();
        assert!(message.contains("does not exist"), "{message}");
        assert!(
            message.contains(&spec.command.display().to_string()),
            "{message}"
        );
        std::fs::write(&spec.command, "").unwrap();
        let message = check_command(&spec).unwrap_err();
        assert!(message.contains("not executable"), "{message}");
    }
}
