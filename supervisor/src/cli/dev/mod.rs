//! `convotic-supervisor dev [DIR] [--port P]`: the author's loop. Builds the package in DIR (its
//! `[build] command`), runs it under a private supervisor (its config and log in
//! `DIR/.convotic/`, its data outside the package, workspace `ws_dev`, an API key created once), prints every route as a ready curl line with the key and
//! every worker topic, node and cron, streams the module's output, and on every change of the
//! package rebuilds and switches to the new version through the zero-downtime switch: requests
//! keep being answered, a failed build or a version that does not start is reported and the
//! last good version keeps serving. Ctrl-C stops everything.

mod config;
pub mod helpers;
mod watch;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::package::MANIFEST_FILE;

/// Runs `dev`; returns the exit code.
pub fn dev(dir: &Path, port: u16) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(format!("cannot start: {e}")),
    };
    match runtime.block_on(run(dir, port)) {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}

fn fail(message: String) -> i32 {
    eprintln!("error: {message}");
    1
}

/// The private supervisor: its process and how to reach it.
struct Private {
    child: std::process::Child,
    base: String,
    token: String,
    http: reqwest::Client,
    name: String,
}

async fn run(dir: &Path, port: u16) -> Result<(), String> {
    let dir = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let manifest = read_manifest(&dir)?;
    let state = dir.join(".convotic");
    std::fs::create_dir_all(&state).map_err(|e| format!("{}: {e}", state.display()))?;
    let data = config::data_dir(&dir);
    private_dir(&data)?;
    let config_path = state.join("supervisor.toml");
    let text = config::supervisor_config(&manifest, &dir, &data, port)?;
    std::fs::write(&config_path, text).map_err(|e| format!("{}: {e}", config_path.display()))?;
    if let Err(output) = build(&dir, &manifest).await {
        return Err(format!("the build failed:\n{output}"));
    }
    let mut private = start(&config_path, &state, &data, &manifest.name, port).await?;
    let key = api_key(&data).await?;
    let result = serve(
        &dir,
        &mut private,
        &key,
        &Rewrite {
            config: config_path,
            data,
            port,
        },
    )
    .await;
    eprintln!("dev: stopping");
    stop(&mut private.child).await;
    result
}

fn read_manifest(dir: &Path) -> Result<crate::package::PackageManifest, String> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{} cannot be read ({e}): run dev in a package directory (convotic-supervisor init writes one)",
            path.display()
        )
    })?;
    crate::package::parse(&text)
}

/// Creates `dir` (0700) or checks that the existing one is ours and private: another local
/// user must not own the private supervisor's data (its admin token, its key).
fn private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mine = meta.uid() == nix::unistd::geteuid().as_raw();
    if !meta.is_dir() || !mine || meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{} must be a directory of yours that only you can open (mode 0700); remove it or set XDG_STATE_HOME",
            dir.display()
        ));
    }
    Ok(())
}

/// Runs the package's build command; its output on failure.
async fn build(dir: &Path, manifest: &crate::package::PackageManifest) -> Result<(), String> {
    let Some(command) = manifest.build.as_ref().and_then(|b| b.command.clone()) else {
        return Ok(());
    };
    eprintln!("dev: building ({command})");
    let dir = dir.to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .current_dir(&dir)
            .stdin(std::process::Stdio::null())
            .output()
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("cannot run the build: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    Err(lines[lines.len().saturating_sub(40)..].join("\n"))
}

/// Starts the private supervisor and waits for it to answer.
async fn start(
    config: &Path,
    state: &Path,
    data: &Path,
    name: &str,
    port: u16,
) -> Result<Private, String> {
    let log = std::fs::File::create(state.join("supervisor.log")).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = std::process::Command::new(exe);
    command
        .arg("run")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    // The private supervisor dies with `dev`, however `dev` ends.
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl, which is
    // async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                .map_err(std::io::Error::from)
        });
    }
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start the private supervisor: {e}"))?;
    let token_path = data.join(crate::gateway::admin_token::FILE_NAME);
    let mut private = Private {
        child,
        base: format!("http://127.0.0.1:{port}"),
        token: String::new(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?,
        name: name.to_string(),
    };
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = private.child.try_wait() {
            let log = std::fs::read_to_string(state.join("supervisor.log")).unwrap_or_default();
            return Err(format!("the private supervisor exited ({status}):\n{log}"));
        }
        if let Ok(token) = std::fs::read_to_string(&token_path) {
            private.token = token.trim().to_string();
            if private.get("/healthz").await.is_ok() {
                return Ok(private);
            }
        }
        if started.elapsed() > Duration::from_secs(20) {
            return Err(format!("the private supervisor did not answer on port {port} within 20 s (is the port taken? use --port)"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Private {
    async fn call(&self, method: reqwest::Method, path: &str) -> Result<Value, String> {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(body["error"]["message"]
                .as_str()
                .unwrap_or("failed")
                .to_string())
        }
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        self.call(reqwest::Method::GET, path).await
    }

    async fn status(&self) -> Result<Value, String> {
        self.get(&format!(
            "/admin/v1/modules/{}?workspace={}",
            self.name,
            config::WORKSPACE
        ))
        .await
    }
}

/// The API key of `ws_dev`, created on the first run and kept beside the data (`api-key`).
async fn api_key(data: &Path) -> Result<String, String> {
    let path = data.join("api-key");
    let store = crate::store::Store::open_in(data).map_err(|e| e.to_string())?;
    if let Ok(key) = std::fs::read_to_string(&path) {
        if store
            .authenticate(key.trim())
            .await
            .ok()
            .flatten()
            .is_some()
        {
            return Ok(key.trim().to_string());
        }
    }
    store
        .ensure_workspace(config::WORKSPACE)
        .await
        .map_err(|e| e.to_string())?;
    let (_, key) = store
        .create_key(config::WORKSPACE, "dev")
        .await
        .map_err(|e| e.to_string())?;
    use std::os::unix::fs::OpenOptionsExt;
    // A new file, never through a link someone planted.
    let _ = std::fs::remove_file(&path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    std::io::Write::write_all(&mut file, key.as_bytes()).map_err(|e| e.to_string())?;
    Ok(key)
}

/// Waits for the module to be ready; prints what it serves; then follows changes and output
/// until Ctrl-C or SIGTERM.
/// What rewriting the private supervisor's config needs.
struct Rewrite {
    config: PathBuf,
    data: PathBuf,
    port: u16,
}

async fn serve(
    dir: &Path,
    private: &mut Private,
    key: &str,
    rewrite: &Rewrite,
) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut changes = watch::watch(dir)?;
    let mut after: Option<u64> = None;
    let mut instance = wait_ready(private, None, &mut after).await;
    if instance.is_some() {
        print_summary(private, key).await;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
            _ = tick.tick() => print_logs(private, &mut after).await,
            paths = changes.next() => {
                let Some(paths) = paths else { return Err("the file watcher stopped".into()) };
                let shown: Vec<String> = paths
                    .iter()
                    .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
                    .collect();
                eprintln!("dev: changed: {}", shown.join(", "));
                let started = Instant::now();
                let manifest = match read_manifest(dir) {
                    Ok(manifest) => manifest,
                    Err(e) => {
                        eprintln!("dev: {e}; the running version keeps serving");
                        continue;
                    }
                };
                if let Err(output) = build(dir, &manifest).await {
                    eprintln!("dev: the build failed; the running version keeps serving:\n{output}");
                    continue;
                }
                // A changed manifest (env, limits, entry...) is applied by a config reload, the
                // rest by a restart; both go through the switch.
                let manifest_changed = paths.iter().any(|p| p.ends_with(MANIFEST_FILE));
                let path = if manifest_changed && manifest.name == private.name {
                    let text = config::supervisor_config(&manifest, dir, &rewrite.data, rewrite.port)?;
                    std::fs::write(&rewrite.config, text).map_err(|e| e.to_string())?;
                    "/admin/v1/reload".to_string()
                } else {
                    if manifest_changed {
                        eprintln!("dev: the module's name changed to {}: restart dev to run it under its new name", manifest.name);
                    }
                    format!("/admin/v1/modules/{}/restart?workspace={}", private.name, config::WORKSPACE)
                };
                match private.call(reqwest::Method::POST, &path).await {
                    // A reload that changed nothing the supervisor runs (e.g. only the version):
                    // restart, so the new files run.
                    Ok(report) if report["changed"].as_array().is_some_and(Vec::is_empty) => {
                        let restart = format!("/admin/v1/modules/{}/restart?workspace={}", private.name, config::WORKSPACE);
                        if let Err(e) = private.call(reqwest::Method::POST, &restart).await {
                            eprintln!("dev: cannot switch: {e}");
                            continue;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("dev: cannot switch: {e}");
                        continue;
                    }
                }
                match wait_ready(private, instance.as_deref(), &mut after).await {
                    Some(next) => {
                        eprintln!(
                            "dev: {} serves the new version ({} ms after the change was seen)",
                            next,
                            started.elapsed().as_millis()
                        );
                        instance = Some(next);
                    }
                    None => eprintln!("dev: the new version did not start; the previous one keeps serving (fix it and save again)"),
                }
            }
        }
    }
}

/// Waits until an instance other than `previous` is ready (its id), printing output meanwhile;
/// None when the switch failed or nothing got ready in time.
async fn wait_ready(
    private: &Private,
    previous: Option<&str>,
    after: &mut Option<u64>,
) -> Option<String> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(40) {
        print_logs(private, after).await;
        if let Ok(status) = private.status().await {
            let current = status["instance"].as_str().map(str::to_string);
            if status["state"] == "ready" && current.is_some() && current.as_deref() != previous {
                return current;
            }
            if previous.is_some() && status["state"] == "ready" {
                // Still the old instance: a failed switch says so in the output.
                if switch_failed(private, previous).await {
                    return None;
                }
            }
            if previous.is_none()
                && matches!(status["state"].as_str(), Some("failed" | "crash-loop"))
            {
                eprintln!(
                    "dev: the module is {}: {}",
                    status["state"], status["last_error"]
                );
                return None;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Whether the module's output reports that the switch away from `previous` failed.
async fn switch_failed(private: &Private, previous: Option<&str>) -> bool {
    let Some(previous) = previous else {
        return false;
    };
    let path = format!(
        "/admin/v1/modules/{}/logs?workspace={}&limit=5",
        private.name,
        config::WORKSPACE
    );
    let Ok(body) = private.get(&path).await else {
        return false;
    };
    body["lines"].as_array().is_some_and(|lines| {
        lines.iter().any(|l| {
            l["stream"] == "supervisor"
                && l["text"]
                    .as_str()
                    .is_some_and(|t| t.contains(&format!("instance {previous} keeps serving")))
        })
    })
}

/// Prints the module's new output lines.
async fn print_logs(private: &Private, after: &mut Option<u64>) {
    let mut path = format!(
        "/admin/v1/modules/{}/logs?workspace={}&limit=500",
        private.name,
        config::WORKSPACE
    );
    if let Some(seq) = after {
        path.push_str(&format!("&after={seq}"));
    }
    let Ok(body) = private.get(&path).await else {
        return;
    };
    for line in body["lines"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if let Some(seq) = line["seq"].as_u64() {
            *after = Some(seq);
        }
        eprintln!(
            "{} | {}",
            line["stream"].as_str().unwrap_or("?"),
            readable(line["text"].as_str().unwrap_or_default())
        );
    }
}

/// A structured log line of the SDKs (`{"level", "msg", ...fields}`) as `LEVEL msg k=v ...`;
/// anything else as it is.
fn readable(text: &str) -> String {
    let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(text) else {
        return text.to_string();
    };
    let (Some(Value::String(level)), Some(Value::String(msg))) =
        (fields.remove("level"), fields.remove("msg"))
    else {
        return text.to_string();
    };
    let mut out = format!("{:<5} {msg}", level.to_uppercase());
    for (key, value) in fields {
        match value {
            Value::String(s) => out.push_str(&format!(" {key}={s}")),
            other => out.push_str(&format!(" {key}={other}")),
        }
    }
    out
}

/// Prints what the module serves, with ready-to-run commands.
async fn print_summary(private: &Private, key: &str) {
    let Ok(status) = private.status().await else {
        return;
    };
    let manifest = &status["manifest"];
    let base = &private.base;
    let name = &private.name;
    println!(
        "dev: {name} {} is ready at {base} (workspace {}); API key: {key}",
        manifest["version"].as_str().unwrap_or("?"),
        config::WORKSPACE
    );
    println!(
        "  studio  {base}/console/modules/{}/{name} (the console, no login from this machine)",
        config::WORKSPACE
    );
    for route in manifest["routes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let method = route["method"].as_str().unwrap_or("GET");
        let path = example_path(route["path"].as_str().unwrap_or("/"));
        let body = if matches!(method, "POST" | "PUT" | "PATCH") {
            " -H 'content-type: application/json' -d '{}'"
        } else {
            ""
        };
        println!("  route   curl -s -X {method} {base}/v1/modules/{name}{path} -H 'X-API-Key: {key}'{body}");
    }
    for worker in manifest["workers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let topic = worker["topic"].as_str().unwrap_or_default();
        println!("  worker  curl -s -X POST {base}/v1/topics/{topic}/messages -H 'X-API-Key: {key}' -d '{{\"payload\": {{}}}}'");
    }
    for node in manifest["nodes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let node_type = node["type"].as_str().unwrap_or_default();
        println!("  node    curl -s -X POST {base}/v1/nodes/{node_type}/invoke -H 'X-API-Key: {key}' -d '{{\"input\": {{}}}}'");
    }
    for block in manifest["blocks"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        println!("  block   {}", block["id"].as_str().unwrap_or_default());
    }
    for cron in manifest["crons"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let cron_name = cron["name"].as_str().unwrap_or_default();
        println!(
            "  cron    {cron_name} ({} {}): curl -s -X POST {base}/v1/crons/{name}/{cron_name}/run -H 'X-API-Key: {key}'",
            cron["schedule"].as_str().unwrap_or_default(),
            cron["timezone"].as_str().unwrap_or_default()
        );
    }
    println!("dev: watching for changes (Ctrl-C stops)");
}

/// A route path with its parameters filled in (`/hello/:name` → `/hello/name`).
fn example_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| segment.trim_start_matches([':', '*']))
        .collect::<Vec<_>>()
        .join("/")
}

/// Stops the private supervisor gracefully (SIGTERM), then for good.
async fn stop(child: &mut std::process::Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Paths `dev` never watches.
pub(crate) fn ignored(relative: &Path) -> bool {
    relative.components().any(|c| {
        matches!(
            c.as_os_str().to_str(),
            Some(
                ".convotic" | "target" | "node_modules" | ".git" | "__pycache__" | ".pytest_cache"
            )
        )
    }) || relative
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with('~') || n.ends_with(".swp") || n.starts_with(".#"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_paths_and_ignored_files() {
        assert_eq!(example_path("/hello/:name"), "/hello/name");
        assert_eq!(example_path("/files/*rest"), "/files/rest");
        assert!(ignored(Path::new("target/debug/x")));
        assert!(ignored(Path::new(".convotic/data/convotic.db")));
        assert!(ignored(Path::new("src/.main.rs.swp")));
        assert!(!ignored(Path::new("src/index.ts")));
        assert_eq!(
            readable(r#"{"level": "info", "msg": "serving", "module": "m", "n": 2}"#),
            "INFO  serving module=m n=2"
        );
        assert_eq!(readable("plain text"), "plain text");
    }
}
