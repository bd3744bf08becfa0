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
            started.elapsed() < Duration::from_secs(20),
            "the edit was not served:\n{}",
            dev.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let served_in = started.elapsed();
    let text = std::fs::read_to_string(&source).expect("source");
    std::fs::write(&source, format!("{text}\n{breakage}\n")).expect("break");
    dev.wait_for("the previous one keeps serving", Duration::from_secs(30));
    let body = get(&base, &route, &key).expect("still answering");
    assert_eq!(
        body["hello"], "ada!",
        "the previous version answers: {body}"
    );
    std::fs::write(&source, text.replace(answer.1, answer.0)).expect("fix");
    let started = Instant::now();
    while get(&base, &route, &key).is_none_or(|body| body["hello"] != "ada") {
        assert!(
            started.elapsed() < Duration::from_secs(20),
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
