//! The seeds' commands as a new user runs them: in an empty directory, install the packed SDK
//! (`npm pack` tarball), then `npx @convotic/block-sdk init my-module`, `... dev`, and
//! `... deploy --workspace ws_abc123` to a separately running supervisor; and the same three
//! through `python -m convotic_sdk`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use convotic_e2e::{binary, free_port, Supervisor};
use reqwest::Method;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repo")
}

/// Runs `program args` in `dir` with the supervisor binary named; panics with its output when
/// it fails.
fn run(dir: &Path, program: &str, args: &[&str], env: &[(&str, String)]) -> String {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        .env("CONVOTIC_SUPERVISOR", binary("convotic-supervisor"))
        .env("npm_config_update_notifier", "false");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{program} {args:?}:\n{text}");
    text
}

/// Runs `command` in the background until `ready` shows in its output, checks the route, stops it.
fn dev_serves(
    dir: &Path,
    program: &str,
    args: &[&str],
    route: &str,
    state: &Path,
    env: &[(&str, String)],
) {
    // Outside the package: dev watches it, and its own output is not a change.
    let log = state.with_extension("log");
    let err_log = state.with_extension("err");
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("CONVOTIC_SUPERVISOR", binary("convotic-supervisor"))
        .env("XDG_STATE_HOME", state)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).expect("log"))
        .stderr(std::fs::File::create(&err_log).expect("err"))
        // Its own process group, which Ctrl-C reaches as a terminal's would (npx included).
        .process_group(0)
        .spawn()
        .expect("dev");
    let started = Instant::now();
    let output = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("watching for changes") {
            break text;
        }
        let err = std::fs::read_to_string(&err_log).unwrap_or_default();
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "dev did not get ready:\n{text}{err}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let key = output
        .split("API key: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("key")
        .to_string();
    let port = output
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .expect("port");
    let body: Value = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{port}{route}"))
        .header("x-api-key", key)
        .send()
        .expect("route")
        .json()
        .expect("json");
    assert_eq!(body["hello"], "ada", "{body}");
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("sigint");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "dev did not stop on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A supervisor to deploy to, and the environment `deploy --url` needs.
fn target() -> (Supervisor, Vec<(&'static str, String)>) {
    let sup = Supervisor::start(&[], &[]);
    let env = vec![
        ("CONVOTIC_URL", sup.base.clone()),
        ("CONVOTIC_ADMIN_TOKEN", sup.token.clone()),
    ];
    (sup, env)
}

fn answers(sup: &Supervisor, workspace: &str, module: &str) {
    let key = sup.create_key(workspace);
    let response = sup
        .http(Method::GET, &format!("/v1/modules/{module}/hello/ada"))
        .header("x-api-key", &key)
        .send()
        .expect("route");
    assert_eq!(response.status().as_u16(), 200);
}

#[test]
fn npx_block_sdk_init_dev_deploy_from_an_empty_directory() {
    let tmp = tempfile::tempdir().expect("tmp");
    let project = tmp.path().join("project");
    std::fs::create_dir(&project).expect("project");
    // The packed SDK, installed as a user would (dependencies from the npm cache).
    let sdk = repo().join("plugin-sdk/typescript");
    run(
        &sdk,
        "npm",
        &[
            "pack",
            "--pack-destination",
            &tmp.path().display().to_string(),
        ],
        &[],
    );
    let tarball = std::fs::read_dir(tmp.path())
        .expect("tmp")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "tgz"))
        .expect("the packed SDK");
    run(
        &project,
        "npm",
        &[
            "install",
            "--no-audit",
            "--no-fund",
            "--prefer-offline",
            &tarball.display().to_string(),
        ],
        &[],
    );
    let out = run(
        &project,
        "npx",
        &["@convotic/block-sdk", "init", "my-module"],
        &[],
    );
    assert!(out.contains("created typescript module my-module"), "{out}");
    let module = project.join("my-module");
    assert!(module.join("src/index.ts").is_file());
    run(
        &module,
        "npm",
        &["install", "--no-audit", "--no-fund", "--offline"],
        &[],
    );
    let port = free_port().to_string();
    dev_serves(
        &module,
        "npx",
        &["@convotic/block-sdk", "dev", "--port", &port],
        "/v1/modules/my-module/hello/ada",
        &tmp.path().join("state"),
        &[],
    );
    let (sup, env) = target();
    let out = run(
        &module,
        "npx",
        &["@convotic/block-sdk", "deploy", "--workspace", "ws_abc123"],
        &env,
    );
    assert!(
        out.contains("my-module 0.1.0 is live in ws_abc123"),
        "{out}"
    );
    answers(&sup, "ws_abc123", "my-module");
}

#[test]
fn python_m_convotic_sdk_init_dev_deploy() {
    let tmp = tempfile::tempdir().expect("tmp");
    let python_path = format!(
        "{}:{}",
        repo().join("plugin-sdk/python/src").display(),
        repo().join("plugin-sdk/python/.deps").display()
    );
    let env = [("PYTHONPATH", python_path.clone())];
    let out = run(
        tmp.path(),
        "/usr/bin/python3",
        &["-m", "convotic_sdk", "init", "py-module"],
        &env,
    );
    assert!(out.contains("created python module py-module"), "{out}");
    let module = tmp.path().join("py-module");
    let port = free_port().to_string();
    let state = tmp.path().join("state");
    dev_serves(
        &module,
        "/usr/bin/python3",
        &["-m", "convotic_sdk", "dev", "--port", &port],
        "/v1/modules/py-module/hello/ada",
        &state,
        &env,
    );
    let (sup, mut deploy_env) = target();
    deploy_env.push(("PYTHONPATH", python_path));
    let out = run(
        &module,
        "/usr/bin/python3",
        &["-m", "convotic_sdk", "deploy", "--workspace", "ws_abc123"],
        &deploy_env,
    );
    assert!(
        out.contains("py-module 0.1.0 is live in ws_abc123"),
        "{out}"
    );
    answers(&sup, "ws_abc123", "py-module");
}
