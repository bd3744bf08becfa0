//! Module packages for the deployment tests and the bench: a package of the misbehaving
//! fixture (a script running its binary, so packing stays small), and uploading archives
//! through the admin API.

use std::path::{Path, PathBuf};

use crate::{binary, Supervisor};

/// The `[defaults]` line that lets sandboxed fixture packages run the fixture's binary.
pub fn fixture_defaults() -> String {
    let dir = binary("misbehaving-module")
        .parent()
        .expect("target dir")
        .to_path_buf();
    format!("read_only_paths = [{:?}]", dir.display().to_string())
}

/// Writes a package of the fixture under `root`: `convotic-module.toml` naming `name` and
/// `version`, the fixture in `MISBEHAVE` mode `mode` answering `version` on `/whoami`, plus
/// `extra` manifest lines (before `[env]`) and `env` variables. Returns its directory.
pub fn fixture_package(
    root: &Path,
    name: &str,
    version: &str,
    mode: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> PathBuf {
    let dir = root.join(format!("{name}-{version}-{mode}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bin")).expect("package dir");
    let run = dir.join("bin/run");
    std::fs::write(
        &run,
        format!(
            "#!/bin/sh\nexec {} \"$@\"\n",
            binary("misbehaving-module").display()
        ),
    )
    .expect("entry");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut manifest = format!("name = \"{name}\"\nversion = \"{version}\"\nentry = \"bin/run\"\n");
    for line in extra {
        manifest.push_str(line);
        manifest.push('\n');
    }
    manifest.push_str(&format!(
        "[env]\nMISBEHAVE = \"{mode}\"\nFIXTURE_VERSION = \"{version}\"\n"
    ));
    for (key, value) in env {
        manifest.push_str(&format!("{key} = {value:?}\n"));
    }
    std::fs::write(dir.join("convotic-module.toml"), manifest).expect("manifest");
    dir
}

/// `deploy --workspace WS DIR --json` with the CLI; returns (exit code, JSON answer, stderr).
pub fn deploy(sup: &Supervisor, workspace: &str, dir: &Path) -> (i32, serde_json::Value, String) {
    let dir = dir.display().to_string();
    let (code, stdout, stderr) = sup.cli(&["deploy", "--workspace", workspace, &dir, "--json"]);
    (
        code,
        serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null),
        stderr,
    )
}

/// Uploads raw archive bytes with the admin token and `digest` (None: no digest header);
/// returns (status, JSON body).
pub fn upload(
    sup: &Supervisor,
    workspace: &str,
    module: &str,
    archive: Vec<u8>,
    digest: Option<String>,
) -> (u16, serde_json::Value) {
    let mut request = sup
        .http(
            reqwest::Method::POST,
            &format!("/admin/v1/workspaces/{workspace}/modules/{module}/deployments"),
        )
        .bearer_auth(&sup.token)
        .timeout(std::time::Duration::from_secs(60))
        .body(archive);
    if let Some(digest) = digest {
        request = request.header("x-convotic-digest", digest);
    }
    let response = request.send().expect("upload");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(serde_json::Value::Null))
}

/// The per-node reports of a deployment record (its `nodes`): `(node, state)` sorted by node.
pub fn node_reports(deployment: &serde_json::Value) -> Vec<(String, String)> {
    let mut nodes: Vec<(String, String)> = deployment["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            (
                n["node"].as_str().unwrap_or("").to_string(),
                n["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    nodes.sort();
    nodes
}

/// `(node, state)` pairs as [`node_reports`] returns them.
pub fn reported(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect()
}

/// A package of the fixture (`name`, `version`) whose entry exits at once when started from
/// under `failing_on` (one node's data dir) and runs the fixture everywhere else: a version that
/// fails on one node of a cluster only.
pub fn failing_under(root: &Path, name: &str, version: &str, failing_on: &Path) -> PathBuf {
    let dir = fixture_package(root, name, version, "ok", &[], &[]);
    let run = dir.join("bin/run");
    let script = std::fs::read_to_string(&run).expect("entry");
    let guard = format!(
        "#!/bin/sh\ncase \"$(pwd -P)\" in {}*) echo 'this node refuses' >&2; exit 3;; esac\n",
        std::fs::canonicalize(failing_on)
            .expect("data dir")
            .display()
    );
    std::fs::write(&run, script.replacen("#!/bin/sh\n", &guard, 1)).expect("entry");
    dir
}
