//! `deploy`, `deployments list|show|rollback` and `modules remove|disable|enable`: clients of
//! the deployment endpoints of a running supervisor's admin API.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::client::{fail, format_time};
use super::remote::{Answer, RemoteTarget, Upload};
use crate::package::{self, MANIFEST_FILE};

/// How long a deploy or rollback may take to answer (unpacking, start, switch).
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(300);

/// `deploy --workspace WS DIR`: packs the package, uploads it, prints the outcome. Exit 0 only
/// when the new version took over.
pub fn deploy(target: &RemoteTarget, workspace: &str, dir: &Path, json: bool, build: bool) -> i32 {
    if build {
        if let Err(e) = run_build(dir) {
            return fail(e);
        }
    }
    let packed = match pack(dir) {
        Ok(packed) => packed,
        Err(e) => return fail(e),
    };
    let (manifest, packed) = packed;
    if !json {
        eprintln!(
            "deploying {} {} to {workspace}: {} files, {} KiB packed, sha256:{}",
            manifest.name,
            manifest.version,
            packed.files,
            packed.bytes.len().div_ceil(1024),
            &packed.digest[..12]
        );
    }
    let admin = match target.connect() {
        Ok(admin) => admin,
        Err(e) => return fail(e),
    };
    let path = format!(
        "/admin/v1/workspaces/{workspace}/modules/{}/deployments",
        manifest.name
    );
    let headers = vec![
        ("x-convotic-digest", format!("sha256:{}", packed.digest)),
        ("content-type", "application/gzip".to_string()),
    ];
    let answer = match admin.send(
        reqwest::Method::POST,
        &path,
        Some(Upload {
            bytes: packed.bytes,
            headers,
        }),
        DEPLOY_TIMEOUT,
    ) {
        Ok(answer) => answer,
        Err(e) => return fail(e),
    };
    report(&answer, json)
}

/// Runs the package's `[build] command` in `dir` (output on stderr), if it has one.
fn run_build(dir: &Path) -> Result<(), String> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let Ok(text) = std::fs::read_to_string(&manifest_path) else {
        return Ok(()); // pack() explains what is missing.
    };
    let manifest = package::parse(&text)?;
    let Some(command) = manifest.build.and_then(|b| b.command) else {
        return Ok(());
    };
    eprintln!("building: {command}");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::io::stderr())
        .status()
        .map_err(|e| format!("cannot run the build ({command}): {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "the build failed ({command}: {status}); nothing was deployed (--no-build deploys what is there)"
        ))
    }
}

/// Reads the manifest and packs the package at `dir`.
fn pack(dir: &Path) -> Result<(package::PackageManifest, package::Packed), String> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest_path).map_err(|e| {
        format!(
            "{} cannot be read ({e}): a package is a directory with {MANIFEST_FILE} at its root (see docs/packages.md)",
            manifest_path.display()
        )
    })?;
    let manifest = package::parse(&text)?;
    let files = package::files_to_pack(dir, &manifest)?;
    let packed = package::pack(&files, package::Limits::default())?;
    Ok((manifest, packed))
}

/// Prints a deploy's or rollback's answer; exit code 0 when the new version took over.
fn report(answer: &Answer, json: bool) -> i32 {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&answer.body).unwrap_or_default()
        );
        return i32::from(!answer.ok());
    }
    if !answer.ok() {
        eprintln!("error: {}", answer.message());
        let deployment = &answer.body["deployment"];
        if !deployment.is_null() {
            eprintln!(
                "recorded as {} ({}); the running version is unchanged",
                deployment["id"].as_str().unwrap_or("?"),
                deployment["state"].as_str().unwrap_or("?")
            );
            eprint!("{}", nodes(deployment));
        }
        if let Some(lines) = answer.body["logs"].as_array().filter(|l| !l.is_empty()) {
            eprintln!("last output of the new version:");
            for line in lines {
                eprintln!("  {}", line.as_str().unwrap_or_default());
            }
        }
        return 1;
    }
    let deployment = &answer.body["deployment"];
    println!(
        "{} {} is live in {} ({}): {}",
        deployment["module"].as_str().unwrap_or("?"),
        deployment["version"].as_str().unwrap_or("?"),
        deployment["workspace"].as_str().unwrap_or("?"),
        deployment["id"].as_str().unwrap_or("?"),
        answer.body["message"].as_str().unwrap_or("")
    );
    print!("{}", nodes(deployment));
    print!("{}", declared(&answer.body["module"]));
    0
}

/// What each node of a cluster reported, one line per node (nothing on one node).
fn nodes(deployment: &Value) -> String {
    let mut out = String::new();
    for node in deployment["nodes"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  node {}: {} ({})\n",
            node["node"].as_str().unwrap_or("?"),
            node["state"].as_str().unwrap_or("?"),
            node["message"].as_str().unwrap_or("")
        ));
    }
    out
}

/// The routes, workers, nodes, blocks and crons a version declared, one kind per line.
fn declared(module: &Value) -> String {
    let list = |key: &str, item: &dyn Fn(&Value) -> String| -> Option<String> {
        let items: Vec<String> = module[key].as_array()?.iter().map(item).collect();
        (!items.is_empty()).then(|| format!("  {key:<8} {}\n", items.join(", ")))
    };
    let text = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_string();
    [
        list("routes", &|r| {
            format!("{} {}", text(r, "method"), text(r, "path"))
        }),
        list("workers", &|w| text(w, "topic")),
        list("nodes", &|n| {
            format!("{} {}", text(n, "type"), text(n, "version"))
        }),
        list("blocks", &|b| text(b, "id")),
        list("crons", &|c| {
            format!(
                "{} ({} {})",
                text(c, "name"),
                text(c, "schedule"),
                text(c, "timezone")
            )
        }),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `deployments list MODULE --workspace WS`.
pub fn list(target: &RemoteTarget, workspace: &str, module: &str, json: bool) -> i32 {
    let path = format!("/admin/v1/workspaces/{workspace}/modules/{module}/deployments");
    let answer = match call(target, reqwest::Method::GET, &path) {
        Ok(answer) => answer,
        Err(code) => return code,
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&answer.body).unwrap_or_default()
        );
        return 0;
    }
    let mut out = format!(
        "{:<25} {:<12} {:<12} {:<9} {:<24} {:<14} {}\n",
        "ID", "VERSION", "STATE", "KIND", "CREATED", "BY", "REASON"
    );
    for d in answer.body["deployments"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        out.push_str(&format!(
            "{:<25} {:<12} {:<12} {:<9} {:<24} {:<14} {}\n",
            d["id"].as_str().unwrap_or(""),
            d["version"].as_str().unwrap_or(""),
            d["state"].as_str().unwrap_or(""),
            d["kind"].as_str().unwrap_or(""),
            d["created_at_ms"]
                .as_u64()
                .map(format_time)
                .unwrap_or_default(),
            d["actor"].as_str().unwrap_or(""),
            d["reason"].as_str().unwrap_or("")
        ));
    }
    print!("{out}");
    0
}

/// `deployments show ID`.
pub fn show(target: &RemoteTarget, id: &str, json: bool) -> i32 {
    let answer = match call(
        target,
        reqwest::Method::GET,
        &format!("/admin/v1/deployments/{id}"),
    ) {
        Ok(answer) => answer,
        Err(code) => return code,
    };
    let d = &answer.body["deployment"];
    if json {
        println!("{}", serde_json::to_string_pretty(d).unwrap_or_default());
        return 0;
    }
    for key in [
        "id",
        "workspace",
        "module",
        "version",
        "state",
        "kind",
        "rollback_of",
        "digest",
        "actor",
        "reason",
        "package_kept",
    ] {
        let value = match &d[key] {
            Value::String(s) => s.clone(),
            Value::Null => "-".into(),
            other => other.to_string(),
        };
        println!("{key:<13} {value}");
    }
    for key in ["created_at_ms", "finished_at_ms"] {
        let when = d[key]
            .as_u64()
            .map(format_time)
            .unwrap_or_else(|| "-".into());
        println!("{:<13} {when}", key.trim_end_matches("_at_ms"));
    }
    0
}

/// `deployments rollback MODULE --workspace WS [--to ID]`.
pub fn rollback(
    target: &RemoteTarget,
    workspace: &str,
    module: &str,
    to: Option<&str>,
    json: bool,
) -> i32 {
    let admin = match target.connect() {
        Ok(admin) => admin,
        Err(e) => return fail(e),
    };
    let path = match to {
        Some(id) => {
            format!("/admin/v1/workspaces/{workspace}/modules/{module}/deployments/{id}/rollback")
        }
        None => format!("/admin/v1/workspaces/{workspace}/modules/{module}/rollback"),
    };
    match admin.send(reqwest::Method::POST, &path, None, DEPLOY_TIMEOUT) {
        Ok(answer) => report(&answer, json),
        Err(e) => fail(e),
    }
}

/// `modules remove|disable|enable MODULE --workspace WS`.
pub fn change(target: &RemoteTarget, workspace: &str, module: &str, what: &str) -> i32 {
    let (method, path) = match what {
        "remove" => (
            reqwest::Method::DELETE,
            format!("/admin/v1/workspaces/{workspace}/modules/{module}"),
        ),
        other => (
            reqwest::Method::POST,
            format!("/admin/v1/workspaces/{workspace}/modules/{module}/{other}"),
        ),
    };
    match call(target, method, &path) {
        Ok(answer) => {
            println!(
                "{workspace}/{module}: {}",
                answer.body["done"].as_str().unwrap_or(what)
            );
            print!("{}", nodes(&answer.body));
            // Recorded: a node that has not applied it yet catches up by itself.
            let lagging = answer.body["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|n| matches!(n["state"].as_str(), Some("not_applied" | "unreachable")))
                .count();
            if lagging > 0 {
                eprintln!(
                    "warning: {lagging} node(s) have not applied it yet; they catch up with the \
                     store within seconds (see docs/cluster.md)"
                );
            }
            0
        }
        Err(code) => code,
    }
}

/// Calls the admin API; prints the error and returns the exit code on failure.
fn call(target: &RemoteTarget, method: reqwest::Method, path: &str) -> Result<Answer, i32> {
    let admin = target.connect().map_err(fail)?;
    let answer = admin
        .send(method, path, None, Duration::from_secs(60))
        .map_err(fail)?;
    if answer.ok() {
        Ok(answer)
    } else {
        Err(fail(answer.message()))
    }
}
