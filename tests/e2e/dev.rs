//! `dev` against the real binary, for a Python and a TypeScript scaffold: it prints the route
//! as a curl line with a working key; an edit is served while a request loop sees no failed
//! request; a syntax error is reported and the previous version keeps answering; fixing it
//! recovers; Ctrl-C (SIGINT) stops everything and leaves no process behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use convotic_e2e::load::Load;
use convotic_e2e::{binary, free_port};

struct Dev {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    state: PathBuf,
}

impl Dev {
    fn start(dir: &Path, port: u16, state: &Path) -> Self {
        let out = dir.with_extension("out");
        let err = dir.with_extension("err");
        let child = Command::new(binary("convotic-supervisor"))
            .args([
                "dev",
                &dir.display().to_string(),
                "--port",
                &port.to_string(),
            ])
            .env("XDG_STATE_HOME", state)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("out"))
            .stderr(std::fs::File::create(&err).expect("err"))
            .spawn()
            .expect("dev");
        Self {
            child,
            out,
            err,
            state: state.to_path_buf(),
        }
    }

    fn output(&self) -> String {
        format!(
            "{}{}",
            std::fs::read_to_string(&self.out).unwrap_or_default(),
            std::fs::read_to_string(&self.err).unwrap_or_default()
        )
    }

    fn wait_for(&self, what: &str, timeout: Duration) -> String {
        let started = Instant::now();
        loop {
            let output = self.output();
            if output.contains(what) {
                return output;
            }
            assert!(
                started.elapsed() < timeout,
                "no {what:?} within {timeout:?}:\n{output}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(base: &str, path: &str, key: &str) -> Option<serde_json::Value> {
    reqwest::blocking::Client::new()
        .get(format!("{base}{path}"))
        .header("x-api-key", key)
        .timeout(Duration::from_secs(5))
        .send()
        .ok()?
        .json()
        .ok()
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("source");
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, text.replace(from, to)).expect("write");
}

/// Runs the dev loop on a scaffold of `lang`; `source` is its handler file, `answer` the text
/// to change in it.
fn the_dev_loop(lang: &str, source: &str, answer: (&str, &str), breakage: &str) {
    let tmp = tempfile::tempdir().expect("tmp");
    let name = format!("dev-{lang}");
    let dir = tmp.path().join(&name);
    let output = Command::new(binary("convotic-supervisor"))
        .args([
            "init",
            &name,
            "--lang",
            lang,
            "--dir",
            &dir.display().to_string(),
        ])
        .output()
        .expect("init");
    assert!(output.status.success(), "{output:?}");
    if lang == "rust" {
        // Builds share the checkout's compiled dependencies.
        convotic_e2e::share_workspace_build(&dir);
    }
    if lang == "typescript" {
        let installed = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--offline"])
            .current_dir(&dir)
            .output()
            .expect("npm");
        assert!(installed.status.success(), "{installed:?}");
    }
    let port = free_port();
    let dev = Dev::start(&dir, port, &tmp.path().join("state"));
    let printed = dev.wait_for("watching for changes", Duration::from_secs(120));
    let key = printed
        .split("API key: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the key is printed")
        .to_string();
    let route = format!("/v1/modules/{name}/hello/ada");
    assert!(printed.contains(&format!("curl -s -X GET http://127.0.0.1:{port}/v1/modules/{name}/hello/name -H 'X-API-Key: {key}'")), "{printed}");
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(get(&base, &route, &key).expect("answer")["hello"], "ada");

    // A request loop runs through every switch below.
    let load = Load::at(&base, &key, &route, 2);
    let source = dir.join(source);
    edit(&source, answer.0, answer.1);
    let started = Instant::now();
    while get(&base, &route, &key).is_none_or(|body| body["hello"] == "ada") {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the edit was not served:\n{}",
            dev.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let served_in = started.elapsed();
    let text = std::fs::read_to_string(&source).expect("source");
    std::fs::write(&source, format!("{text}\n{breakage}\n")).expect("break");
    dev.wait_for("keeps serving", Duration::from_secs(90));
    let body = get(&base, &route, &key).expect("still answering");
    assert_eq!(
        body["hello"], "ada!",
        "the previous version answers: {body}"
    );
    std::fs::write(&source, text.replace(answer.1, answer.0)).expect("fix");
    let started = Instant::now();
    while get(&base, &route, &key).is_none_or(|body| body["hello"] != "ada") {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the fix was not served:\n{}",
            dev.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let report = load.finish();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(report.ok > 20, "the request loop ran ({})", report.ok);
    eprintln!("{lang}: an edit was served after {served_in:?}");

    // Ctrl-C: dev, its supervisor and the module are gone.
    let data = std::fs::read_dir(dev.state.join("convotic-dev"))
        .expect("state")
        .next()
        .expect("data dir")
        .expect("entry")
        .path();
    let recorded: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("supervisor.json")).expect("discovery"),
    )
    .expect("json");
    let supervisor_pid = recorded["pid"].as_i64().expect("pid") as i32;
    let module_pids = convotic_supervisor::process::tree::descendants_of(supervisor_pid);
    assert!(!module_pids.is_empty());
    let mut dev = dev;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(dev.child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("sigint");
    let started = Instant::now();
    while dev.child.try_wait().expect("wait").is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "dev did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut all = module_pids;
    all.push(supervisor_pid);
    let left = convotic_e2e::wait_all_dead(&all, Duration::from_secs(10));
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn python_dev_loop() {
    the_dev_loop(
        "python",
        "module.py",
        (
            r#"{"hello": req.params["name"]}"#,
            r#"{"hello": req.params["name"] + "!"}"#,
        ),
        "def broken(:",
    );
}

#[test]
fn rust_dev_loop() {
    the_dev_loop(
        "rust",
        "src/main.rs",
        (
            r#"json!({ "hello": name })"#,
            r#"json!({ "hello": format!("{name}!") })"#,
        ),
        "fn broken( {}",
    );
}

#[test]
fn typescript_dev_loop() {
    the_dev_loop(
        "typescript",
        "src/index.ts",
        (
            "body: { hello: req.params.name }",
            "body: { hello: req.params.name + \"!\" }",
        ),
        "const broken = ;",
    );
}

/// A package running a built example binary as is (no build command).
fn example_package(root: &Path, name: &str, env: &[(&str, &str)]) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("dir");
    let mut manifest = format!(
        "name = \"{name}\"\nversion = \"1.0.0\"\nentry = \"bin/{name}\"\n[build]\noutput = {:?}\n[env]\n",
        binary(name).display().to_string()
    );
    for (key, value) in env {
        manifest.push_str(&format!("{key} = {value:?}\n"));
    }
    std::fs::write(dir.join("convotic-module.toml"), manifest).expect("manifest");
    dir
}

fn helper(dir: &Path, args: &[&str], state: &Path) -> (i32, String, String) {
    let output = Command::new(binary("convotic-supervisor"))
        .arg("dev")
        .args(args)
        .arg("--dir")
        .arg(dir)
        .env("XDG_STATE_HOME", state)
        .output()
        .expect("dev helper");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn dev_helpers_reach_each_extension_point_and_name_what_exists() {
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("state");
    let hello = example_package(tmp.path(), "hello-rust", &[]);
    let (code, _, stderr) = helper(&hello, &["publish", "orders.created", "{}"], &state);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("start `convotic-supervisor dev"),
        "{stderr}"
    );
    let dev = Dev::start(&hello, free_port(), &state);
    dev.wait_for("watching for changes", Duration::from_secs(60));

    let (code, stdout, stderr) = helper(
        &hello,
        &["publish", "orders.created", r#"{"order_id": "SO-1"}"#],
        &state,
    );
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert!(
        stdout.starts_with("202") && stdout.contains("message_id"),
        "{stdout}"
    );
    dev.wait_for("order created", Duration::from_secs(20));
    let (code, stdout, stderr) = helper(
        &hello,
        &["invoke", "greeting", r#"{"name": "Ada"}"#],
        &state,
    );
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert!(stdout.contains("Hello, Ada!"), "{stdout}");
    let (code, stdout, stderr) = helper(&hello, &["cron", "heartbeat"], &state);
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert!(stdout.starts_with("202"), "{stdout}");
    let (code, stdout, stderr) = helper(
        &hello,
        &["connect", "echo-block", r#"{"api_key": "good"}"#],
        &state,
    );
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert!(stdout.contains("echo account"), "{stdout}");
    // Names the module does not declare are refused with the ones it does.
    for (args, listed) in [
        (vec!["publish", "nope", "{}"], "orders.created"),
        (vec!["invoke", "nope", "{}"], "greeting"),
        (vec!["cron", "nope"], "heartbeat"),
        (vec!["connect", "nope", "{}"], "echo-block"),
    ] {
        let (code, _, stderr) = helper(&hello, &args, &state);
        assert_eq!(code, 1, "{args:?}");
        assert!(
            stderr.contains("\"nope\"") && stderr.contains(listed),
            "{stderr}"
        );
    }
    let (code, _, stderr) = helper(&hello, &["invoke", "greeting", "not json"], &state);
    assert_eq!(code, 1);
    assert!(stderr.contains("not JSON"), "{stderr}");
    drop(dev);

    // `sign` prints a curl the signed webhook accepts.
    let erp = example_package(
        tmp.path(),
        "erp-webhook",
        &[("ERP_WEBHOOK_SECRET", "s3cret")],
    );
    let dev = Dev::start(&erp, free_port(), &state);
    dev.wait_for("watching for changes", Duration::from_secs(60));
    let body = r#"{"event": "order.paid"}"#;
    let (code, curl, stderr) = helper(
        &erp,
        &["sign", "/webhook/external", body, "--secret", "s3cret"],
        &state,
    );
    assert_eq!(code, 0, "{stderr}");
    let run = |line: &str| {
        let output = Command::new("sh")
            .arg("-c")
            .arg(format!("{} -o /dev/null -w '%{{http_code}}'", line.trim()))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert_eq!(run(&curl), "200", "{curl}");
    let (_, wrong, _) = helper(
        &erp,
        &["sign", "/webhook/external", body, "--secret", "wrong"],
        &state,
    );
    assert_eq!(run(&wrong), "401", "{wrong}");
}
