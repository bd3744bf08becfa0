//! The private supervisor of `dev`: a config file under `<package>/.convotic/` (its data
//! outside the package, see [`data_dir`]) that runs the package straight from its directory
//! (no packing), as module `ws_dev/<name>`, with the
//! targets of the package's links outside it readable to the sandbox (an SDK linked into
//! `node_modules`, a Python `sdk` link), as packing would have copied them.

use std::path::{Path, PathBuf};

use crate::config::Runtimes;
use crate::package::{PackageManifest, Runtime};

/// The workspace of the module under `dev`.
pub const WORKSPACE: &str = "ws_dev";

/// Where the private supervisor of the package at `dir` keeps its data: outside the package,
/// because a sandboxed module is never shown a supervisor's data dir and must see its package
/// (`$XDG_STATE_HOME` or `~/.local/state`, else the temp dir, `/convotic-dev/<digest of dir>`).
pub fn data_dir(dir: &Path) -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    let digest = crate::package::digest(dir.as_os_str().as_encoded_bytes());
    base.join("convotic-dev").join(&digest[..16])
}

/// The supervisor config that runs `manifest`'s package at `dir` on `port`, with its data in
/// `data`.
pub fn supervisor_config(
    manifest: &PackageManifest,
    dir: &Path,
    data: &Path,
    port: u16,
) -> Result<String, String> {
    let runtimes = Runtimes::default();
    let entry = dir.join(
        manifest
            .build
            .as_ref()
            .and_then(|b| b.output.as_deref())
            .unwrap_or(&manifest.entry),
    );
    let mut env = manifest.env.clone();
    let (command, mut args): (PathBuf, Vec<String>) = match manifest.runtime {
        Runtime::Native => (entry, Vec::new()),
        Runtime::Node => (runtimes.node, vec![entry.display().to_string()]),
        Runtime::Python => {
            let mut paths = vec![dir.to_path_buf()];
            paths.extend(manifest.python_path.iter().map(|p| dir.join(p)));
            let joined = std::env::join_paths(paths).map_err(|e| e.to_string())?;
            env.entry("PYTHONPATH".into())
                .or_insert_with(|| joined.to_string_lossy().into_owned());
            env.entry("PYTHONDONTWRITEBYTECODE".into())
                .or_insert_with(|| "1".into());
            (runtimes.python, vec![entry.display().to_string()])
        }
    };
    args.extend(manifest.args.iter().cloned());
    let mut module = toml::Table::new();
    let text = |s: &str| toml::Value::String(s.to_string());
    module.insert("workspace".into(), text(WORKSPACE));
    module.insert("name".into(), text(&manifest.name));
    module.insert("command".into(), text(&command.display().to_string()));
    module.insert(
        "args".into(),
        toml::Value::Array(args.iter().map(|a| text(a)).collect()),
    );
    module.insert("working_dir".into(), text(&dir.display().to_string()));
    module.insert(
        "env".into(),
        toml::Value::Table(env.iter().map(|(k, v)| (k.clone(), text(v))).collect()),
    );
    let links = outside_links(dir);
    module.insert(
        "read_only_paths".into(),
        toml::Value::Array(
            links
                .iter()
                .map(|p| text(&p.display().to_string()))
                .collect(),
        ),
    );
    if let Some(sandbox) = manifest.sandbox {
        module.insert("sandbox".into(), text(sandbox.as_str()));
    }
    if let Some(memory) = &manifest.memory {
        module.insert("memory".into(), text(memory));
    }
    // One instance: a dev loop has no use for several, and switches are faster.
    let mut root = toml::Table::new();
    let mut server = toml::Table::new();
    server.insert("listen".into(), text(&format!("127.0.0.1:{port}")));
    // The console is the author's studio: open without login to this machine's browsers.
    server.insert("console_without_login".into(), toml::Value::Boolean(true));
    root.insert("server".into(), toml::Value::Table(server));
    let mut supervisor = toml::Table::new();
    supervisor.insert("data_dir".into(), text(&data.display().to_string()));
    root.insert("supervisor".into(), toml::Value::Table(supervisor));
    root.insert(
        "modules".into(),
        toml::Value::Array(vec![toml::Value::Table(module)]),
    );
    let body = toml::to_string(&root).map_err(|e| e.to_string())?;
    Ok(format!(
        "# Written by `convotic-supervisor dev` for {}; rewritten at every start.\n{body}",
        dir.display()
    ))
}

/// Real paths of the links under `dir` (top level, `node_modules/*`, `node_modules/@scope/*`)
/// that point outside it.
fn outside_links(dir: &Path) -> Vec<PathBuf> {
    let Ok(root) = std::fs::canonicalize(dir) else {
        return Vec::new();
    };
    let mut candidates = Vec::new();
    let mut list = |parent: &Path| {
        if let Ok(entries) = std::fs::read_dir(parent) {
            for entry in entries.flatten() {
                candidates.push(entry.path());
            }
        }
    };
    list(dir);
    list(&dir.join("node_modules"));
    if let Ok(scopes) = std::fs::read_dir(dir.join("node_modules")) {
        for scope in scopes.flatten() {
            if scope.file_name().to_string_lossy().starts_with('@') {
                list(&scope.path());
            }
        }
    }
    let mut out: Vec<PathBuf> = candidates
        .into_iter()
        .filter(|p| {
            p.symlink_metadata()
                .is_ok_and(|m| m.file_type().is_symlink())
        })
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .filter(|real| !real.starts_with(&root))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_package_runs_from_its_directory_with_its_links_readable() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("sdk")).unwrap();
        let manifest = crate::package::parse(
            "name = \"m\"\nversion = \"1\"\nruntime = \"python\"\nentry = \"main.py\"\npython_path = [\"sdk/src\"]\n",
        )
        .unwrap();
        let data = tempfile::tempdir().unwrap();
        let text = supervisor_config(&manifest, dir.path(), data.path(), 9999).unwrap();
        let config: toml::Table = toml::from_str(&text).unwrap();
        let module = &config["modules"].as_array().unwrap()[0];
        assert_eq!(module["command"].as_str(), Some("/usr/bin/python3"));
        assert!(module["env"]["PYTHONPATH"]
            .as_str()
            .unwrap()
            .ends_with("sdk/src"));
        let real = std::fs::canonicalize(outside.path()).unwrap();
        assert_eq!(
            module["read_only_paths"].as_array().unwrap()[0].as_str(),
            Some(real.display().to_string().as_str())
        );
        assert!(text.contains("127.0.0.1:9999"));
    }
}
