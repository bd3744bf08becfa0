//! `convotic-module.toml`, the manifest at the root of every package (every key and default:
//! docs/packages.md), and how a deployed package becomes a [`ModuleSpec`].

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Defaults, ModuleConfig, ModuleSource, ModuleSpec, RestartPolicy, Runtimes};
use crate::sandbox::spec::Profile;

/// File name of the manifest at a package's root.
pub const MANIFEST_FILE: &str = "convotic-module.toml";

/// Largest manifest read.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

/// How the package's entry is run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// `entry` is an executable (a compiled binary or a script with a `#!` line).
    #[default]
    Native,
    /// `entry` is a JavaScript file run by `[runtimes] node`.
    Node,
    /// `entry` is a Python file run by `[runtimes] python`.
    Python,
}

/// The manifest. Unknown keys are errors naming the key.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PackageManifest {
    /// Module name; must equal the name the module declares and the name it is deployed as.
    pub name: String,
    /// The package's version, shown by `ps` and the deployment history.
    pub version: String,
    /// One line about the module.
    #[serde(default)]
    pub description: String,
    /// `native` (default), `node` or `python`.
    #[serde(default)]
    pub runtime: Runtime,
    /// Path of the executable (native) or script (node, python), relative to the package root.
    pub entry: String,
    /// Arguments after the entry.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables (the rest of the environment is scrubbed).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Python only: directories of the package put on `PYTHONPATH`, besides its root (e.g. the
    /// `deps` dir filled by `pip install --target deps`).
    #[serde(default)]
    pub python_path: Vec<String>,
    /// Sandbox profile (`strict`, `relaxed`, `none`; default: the supervisor's `[defaults]`).
    #[serde(default)]
    pub sandbox: Option<Profile>,
    /// Memory limit, e.g. `"256MiB"`.
    #[serde(default)]
    pub memory: Option<String>,
    /// Most processes and threads.
    #[serde(default)]
    pub pids: Option<u64>,
    /// CPU limit in CPUs.
    #[serde(default)]
    pub cpu: Option<f64>,
    /// Most open files.
    #[serde(default)]
    pub open_files: Option<u64>,
    /// Restart policy.
    #[serde(default)]
    pub restart: Option<RestartPolicy>,
    /// Spawn → ready limit.
    #[serde(default, with = "humantime_serde")]
    pub start_timeout: Option<Duration>,
    /// Shutdown → SIGKILL.
    #[serde(default, with = "humantime_serde")]
    pub stop_grace: Option<Duration>,
    /// Health probe period.
    #[serde(default, with = "humantime_serde")]
    pub health_interval: Option<Duration>,
    /// Health probe timeout.
    #[serde(default, with = "humantime_serde")]
    pub health_timeout: Option<Duration>,
    /// Failed probes before a restart.
    #[serde(default)]
    pub health_failures: Option<u32>,
    /// Longest delay between restarts in a crash loop.
    #[serde(default, with = "humantime_serde")]
    pub crash_loop_backoff: Option<Duration>,
    /// Instances of the module. Default 1.
    #[serde(default)]
    pub replicas: Option<u32>,
    /// Packing only: what goes into the archive, relative to the package root (default: all).
    #[serde(default)]
    pub include: Vec<String>,
    /// Packing only: paths left out (default: `.git`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// The author's build (run by the author's tools, never by the supervisor).
    #[serde(default)]
    pub build: Option<Build>,
}

/// `[build]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// Shell command building the module, run in the package dir (e.g. `cargo build --release`).
    #[serde(default)]
    pub command: Option<String>,
    /// A built file outside the package (e.g. a Cargo workspace's `../../target/release/x`),
    /// relative to the package root: packing puts it into the archive at `entry`.
    #[serde(default)]
    pub output: Option<String>,
}

/// Parses and checks manifest text; the error names the key (`convotic-module.toml: key: ...`).
pub fn parse(text: &str) -> Result<PackageManifest, String> {
    let manifest: PackageManifest =
        toml::from_str(text).map_err(|e| format!("{MANIFEST_FILE}: {}", e.to_string().trim()))?;
    manifest
        .check()
        .map_err(|e| format!("{MANIFEST_FILE}: {e}"))?;
    Ok(manifest)
}

impl PackageManifest {
    /// Checks the values TOML cannot: names, relative paths, reserved variables.
    fn check(&self) -> Result<(), String> {
        if !crate::names::is_module_name(&self.name) {
            return Err(format!(
                "name: {:?} is not a module name: use 1-64 of [a-z0-9-], starting with a letter",
                self.name
            ));
        }
        if !is_version(&self.version) {
            return Err(format!(
                "version: {:?} is not a version: use 1-64 of [A-Za-z0-9.+_-] starting with a letter or digit, e.g. \"1.4.2\"",
                self.version
            ));
        }
        relative_path(&self.entry).map_err(|e| format!("entry: {e}"))?;
        for (key, list) in [
            ("python_path", &self.python_path),
            ("include", &self.include),
            ("exclude", &self.exclude),
        ] {
            for path in list {
                relative_path(path).map_err(|e| format!("{key}: {e}"))?;
            }
        }
        if !self.python_path.is_empty() && self.runtime != Runtime::Python {
            return Err("python_path: only applies to runtime = \"python\"".into());
        }
        for key in self.env.keys() {
            if key.starts_with("CONVOTIC_") {
                return Err(format!(
                    "env: {key} is reserved: CONVOTIC_* variables are set by the supervisor"
                ));
            }
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(format!("env: {key:?} is not a variable name"));
            }
        }
        if let Some(build) = &self.build {
            if let Some(command) = &build.command {
                if command.trim().is_empty() {
                    return Err("build.command: is empty".into());
                }
            }
        }
        Ok(())
    }

    /// The module this package runs in `workspace`, from the package unpacked at `package_dir`
    /// (an absolute path), with the supervisor's defaults and interpreters. Checks that the entry
    /// is a file of the package.
    pub fn to_spec(
        &self,
        workspace: &str,
        package_dir: &Path,
        source: ModuleSource,
        settings: &PackageSettings,
    ) -> Result<ModuleSpec, String> {
        self.check_policy(settings)?;
        let entry = package_dir.join(relative_path(&self.entry)?);
        check_entry(package_dir, &entry, self.runtime).map_err(|e| format!("entry: {e}"))?;
        let mut env = self.env.clone();
        let (command, args) = match self.runtime {
            Runtime::Native => (entry.display().to_string(), self.args.clone()),
            Runtime::Node => (
                settings.runtimes.node.display().to_string(),
                std::iter::once(entry.display().to_string())
                    .chain(self.args.iter().cloned())
                    .collect(),
            ),
            Runtime::Python => {
                let mut paths = vec![package_dir.to_path_buf()];
                for dir in &self.python_path {
                    paths.push(package_dir.join(relative_path(dir)?));
                }
                let joined =
                    std::env::join_paths(paths).map_err(|e| format!("python_path: {e}"))?;
                env.entry("PYTHONPATH".into())
                    .or_insert_with(|| joined.to_string_lossy().into_owned());
                // The package is read-only: no bytecode files next to the sources.
                env.entry("PYTHONDONTWRITEBYTECODE".into())
                    .or_insert_with(|| "1".into());
                (
                    settings.runtimes.python.display().to_string(),
                    std::iter::once(entry.display().to_string())
                        .chain(self.args.iter().cloned())
                        .collect(),
                )
            }
        };
        let module = ModuleConfig {
            workspace: workspace.to_string(),
            name: self.name.clone(),
            command,
            args,
            env,
            working_dir: Some(package_dir.to_path_buf()),
            restart: self.restart,
            start_timeout: self.start_timeout,
            stop_grace: self.stop_grace,
            health_interval: self.health_interval,
            health_timeout: self.health_timeout,
            health_failures: self.health_failures,
            enabled: true,
            sandbox: self.sandbox,
            memory: self.memory.clone(),
            pids: self.pids,
            cpu: self.cpu,
            open_files: self.open_files,
            read_only_paths: Vec::new(),
            crash_loop_backoff: self.crash_loop_backoff,
            replicas: self.replicas,
            // A package takes the operator's `[defaults]` list.
            disabled_features: None,
        };
        let mut spec =
            crate::config::resolve_module_entry(&module, &settings.defaults, package_dir)?;
        spec.source = source;
        spec.package_dir = Some(package_dir.to_path_buf());
        Ok(spec)
    }
}

/// What turning a package into a module needs from the supervisor's configuration.
#[derive(Debug, Clone, Default)]
pub struct PackageSettings {
    /// `[defaults]`: also the loosest limits a package may ask for.
    pub defaults: Defaults,
    /// `[runtimes]`.
    pub runtimes: Runtimes,
    /// `[deployments]`: the sandbox profiles and replicas a package may ask for.
    pub policy: crate::config::DeploymentsConfig,
}

impl PackageManifest {
    /// An uploaded package may tighten the supervisor's settings, never loosen them: its
    /// sandbox must be one `[deployments] sandboxes` allows, its memory, pids, cpu and open
    /// files at most `[defaults]`' (a limit where the default has one), its replicas at most
    /// `[deployments] max_replicas`. The error names the key and the allowed value.
    pub fn check_policy(&self, settings: &PackageSettings) -> Result<(), String> {
        let d = &settings.defaults;
        let policy = &settings.policy;
        let sandbox = self.sandbox.unwrap_or(d.sandbox);
        if !policy.sandboxes.contains(&sandbox) {
            let allowed: Vec<&str> = policy.sandboxes.iter().map(|p| p.as_str()).collect();
            return Err(format!(
                "sandbox: {:?} is not allowed for deployed packages here (allowed: {}; the operator sets [deployments] sandboxes)",
                sandbox.as_str(),
                allowed.join(", ")
            ));
        }
        if let Some(memory) = &self.memory {
            let asked = crate::config::parse_memory(memory).map_err(|e| format!("memory: {e}"))?;
            let most = crate::config::parse_memory(&d.memory).unwrap_or(None);
            if let Some(most) = most {
                if asked.is_none_or(|a| a > most) {
                    return Err(format!(
                        "memory: {memory:?} is above what this supervisor allows ({}, [defaults] memory)",
                        d.memory
                    ));
                }
            }
        }
        if let Some(pids) = self.pids {
            if d.pids > 0 && (pids == 0 || pids > d.pids) {
                return Err(format!(
                    "pids: {pids} is above what this supervisor allows ({}, [defaults] pids; 0 means unlimited)",
                    d.pids
                ));
            }
        }
        if let (Some(cpu), Some(most)) = (self.cpu, d.cpu) {
            if cpu > most {
                return Err(format!(
                    "cpu: {cpu} is above what this supervisor allows ({most}, [defaults] cpu)"
                ));
            }
        }
        if let Some(open_files) = self.open_files {
            if open_files > d.open_files {
                return Err(format!(
                    "open_files: {open_files} is above what this supervisor allows ({}, [defaults] open_files)",
                    d.open_files
                ));
            }
        }
        if let Some(replicas) = self.replicas {
            if replicas > policy.max_replicas {
                return Err(format!(
                    "replicas: {replicas} is above what this supervisor allows ({}, [deployments] max_replicas)",
                    policy.max_replicas
                ));
            }
        }
        Ok(())
    }
}

/// The entry must be a regular file inside the package (links resolved), executable when it
/// is run directly.
fn check_entry(package_dir: &Path, entry: &Path, runtime: Runtime) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = entry.strip_prefix(package_dir).unwrap_or(entry).display();
    let real =
        std::fs::canonicalize(entry).map_err(|_| format!("{shown} is not in the package"))?;
    let root = std::fs::canonicalize(package_dir).map_err(|e| e.to_string())?;
    if !real.starts_with(&root) {
        return Err(format!("{shown} points outside the package"));
    }
    let meta = std::fs::metadata(&real).map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a file"));
    }
    if runtime == Runtime::Native && meta.permissions().mode() & 0o111 == 0 {
        return Err(format!(
            "{shown} is not executable (runtime \"native\" runs it directly: chmod +x it, or set runtime to \"node\" or \"python\")"
        ));
    }
    Ok(())
}

/// A version: 1-64 of `[A-Za-z0-9.+_-]`, starting with a letter or digit.
pub fn is_version(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '_' | '-'))
}

/// A path relative to the package root that stays inside it.
pub fn relative_path(text: &str) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err("is empty".into());
    }
    let path = Path::new(text);
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!("{text:?} leaves the package ('..' is not allowed)"))
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "{text:?} is absolute: use a path relative to the package root"
                ))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name = \"hello\"\nversion = \"1.0.0\"\nentry = \"bin/hello\"\n";

    #[test]
    fn a_minimal_manifest_takes_the_defaults() {
        let manifest = parse(MINIMAL).unwrap();
        assert_eq!(manifest.runtime, Runtime::Native);
        assert!(manifest.args.is_empty() && manifest.build.is_none());
    }

    #[test]
    fn errors_name_the_key() {
        let unknown = parse(&format!("{MINIMAL}replica = 2\n")).unwrap_err();
        assert!(
            unknown.contains("replica") && unknown.contains(MANIFEST_FILE),
            "{unknown}"
        );
        let missing = parse("name = \"hello\"\nversion = \"1\"\n").unwrap_err();
        assert!(missing.contains("entry"), "{missing}");
        for (text, key) in [
            (MINIMAL.replace("hello\"", "Hello\""), "name"),
            (MINIMAL.replace("1.0.0", "1 0"), "version"),
            (MINIMAL.replace("bin/hello", "../x"), "entry"),
            (MINIMAL.replace("bin/hello", "/bin/sh"), "entry"),
            (
                format!("{MINIMAL}python_path = [\"deps\"]\n"),
                "python_path",
            ),
            (format!("{MINIMAL}[env]\nCONVOTIC_X = \"1\"\n"), "env"),
            (format!("{MINIMAL}runtime = \"ruby\"\n"), "runtime"),
        ] {
            let message = parse(&text).unwrap_err();
            assert!(message.contains(key), "{key}: {message}");
        }
    }

    fn package(entry_mode: u32) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        let entry = dir.path().join("bin/hello");
        std::fs::write(&entry, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(entry_mode)).unwrap();
        dir
    }

    #[test]
    fn a_native_package_runs_its_entry_from_its_directory() {
        let dir = package(0o755);
        let manifest = parse(&format!(
            "{MINIMAL}args = [\"--fast\"]\nmemory = \"64MiB\"\n"
        ))
        .unwrap();
        let source = ModuleSource::Deployment {
            id: "dep_1".into(),
            version: "1.0.0".into(),
        };
        let spec = manifest
            .to_spec(
                "ws_a",
                dir.path(),
                source.clone(),
                &PackageSettings::default(),
            )
            .unwrap();
        assert_eq!(spec.command, dir.path().join("bin/hello"));
        assert_eq!(spec.args, ["--fast"]);
        assert_eq!(spec.working_dir, dir.path());
        assert_eq!(spec.limits.memory_bytes, Some(64 * 1024 * 1024));
        assert_eq!(spec.source, source);
        assert_eq!(spec.package_dir.as_deref(), Some(dir.path()));
    }

    #[test]
    fn interpreted_packages_run_under_the_configured_interpreter() {
        let dir = package(0o644);
        let native = parse(MINIMAL).unwrap();
        let message = native
            .to_spec(
                "ws_a",
                dir.path(),
                ModuleSource::Config,
                &PackageSettings::default(),
            )
            .unwrap_err();
        assert!(message.contains("not executable"), "{message}");
        std::fs::create_dir(dir.path().join("deps")).unwrap();
        let python = parse(&MINIMAL.replace(
            "entry",
            "runtime = \"python\"\npython_path = [\"deps\"]\nentry",
        ))
        .unwrap();
        let settings = PackageSettings {
            runtimes: Runtimes {
                node: "/usr/bin/node".into(),
                python: "/bin/sh".into(),
            },
            ..Default::default()
        };
        let spec = python
            .to_spec("ws_a", dir.path(), ModuleSource::Config, &settings)
            .unwrap();
        assert_eq!(spec.command, Path::new("/bin/sh"));
        assert_eq!(
            spec.args,
            [dir.path().join("bin/hello").display().to_string()]
        );
        let path = &spec.env["PYTHONPATH"];
        assert!(path.ends_with("/deps"), "{path}");
        let missing = parse(&MINIMAL.replace("bin/hello", "bin/nope")).unwrap();
        let message = missing
            .to_spec("ws_a", dir.path(), ModuleSource::Config, &settings)
            .unwrap_err();
        assert!(
            message.contains("entry") && message.contains("not in the package"),
            "{message}"
        );
    }
}
