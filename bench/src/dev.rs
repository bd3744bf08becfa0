//! `bench dev`: the author's loop. For a scaffold of each language under `dev`, the time from
//! writing a changed handler to the new version answering (10 edits each, median and max): for
//! TypeScript and Python the switch alone, for Rust `cargo build` plus the switch.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use convotic_e2e::{binary, free_port};

use crate::percentile;

const EDITS: usize = 10;

/// The languages: (name, handler file, the text of the answer to change, its template).
const LANGUAGES: [(&str, &str, &str, &str); 3] = [
    (
        "python",
        "module.py",
        r#"{"hello": req.params["name"]}"#,
        r#"{"hello": "VALUE"}"#,
    ),
    (
        "typescript",
        "src/index.ts",
        "body: { hello: req.params.name }",
        r#"body: { hello: "VALUE" }"#,
    ),
    (
        "rust",
        "src/main.rs",
        r#"json!({ "hello": name })"#,
        r#"json!({ "hello": "VALUE" })"#,
    ),
];

/// Runs the benchmark.
pub fn run() {
    println!("\n## dev: save → new version answering ({EDITS} edits each)");
    println!("| language | median | max |");
    println!("|---|---|---|");
    for (lang, file, original, template) in LANGUAGES {
        match measure(lang, file, original, template) {
            Ok(mut samples) => {
                samples.sort_by(|a, b| a.total_cmp(b));
                println!(
                    "| {lang} | {:.0} ms | {:.0} ms |",
                    percentile(&samples, 50.0),
                    samples.last().copied().unwrap_or(f64::NAN)
                );
            }
            Err(e) => println!("| {lang} | failed: {e} | |"),
        }
    }
}

fn measure(lang: &str, file: &str, original: &str, template: &str) -> Result<Vec<f64>, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let name = format!("bench-{lang}");
    let dir = tmp.path().join(&name);
    let supervisor = binary("convotic-supervisor");
    let status = Command::new(&supervisor)
        .args(["init", &name, "--lang", lang, "--dir"])
        .arg(&dir)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("init failed".into());
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match lang {
        "typescript" => {
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--offline"])
                .current_dir(&dir)
                .output()
                .map_err(|e| e.to_string())?;
        }
        "rust" => {
            std::fs::copy(repo.join("Cargo.lock"), dir.join("Cargo.lock"))
                .map_err(|e| e.to_string())?;
            let target = repo
                .join("target")
                .canonicalize()
                .map_err(|e| e.to_string())?;
            std::os::unix::fs::symlink(target, dir.join("target")).map_err(|e| e.to_string())?;
        }
        _ => {}
    }
    let port = free_port();
    let out = tmp.path().join("dev.out");
    let mut child = Command::new(&supervisor)
        .args([
            "dev",
            &dir.display().to_string(),
            "--port",
            &port.to_string(),
        ])
        .env("XDG_STATE_HOME", tmp.path().join("state"))
        .stdout(std::fs::File::create(&out).map_err(|e| e.to_string())?)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let result = edits(&dir.join(file), &out, port, &name, original, template);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let _ = child.wait();
    result
}

fn edits(
    source: &Path,
    out: &Path,
    port: u16,
    name: &str,
    original: &str,
    template: &str,
) -> Result<Vec<f64>, String> {
    let started = Instant::now();
    let printed = loop {
        let text = std::fs::read_to_string(out).unwrap_or_default();
        if text.contains("watching for changes") {
            break text;
        }
        if started.elapsed() > Duration::from_secs(180) {
            return Err("dev did not get ready".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let key = printed
        .split("API key: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .ok_or("no key printed")?
        .to_string();
    let url = format!("http://127.0.0.1:{port}/v1/modules/{name}/hello/x");
    let client = reqwest::blocking::Client::new();
    let text = std::fs::read_to_string(source).map_err(|e| e.to_string())?;
    if !text.contains(original) {
        return Err(format!("{} has no {original:?}", source.display()));
    }
    let mut samples = Vec::with_capacity(EDITS);
    for edit in 0..EDITS {
        let value = format!("v{edit}");
        let changed = text.replace(original, &template.replace("VALUE", &value));
        let written = Instant::now();
        std::fs::write(source, changed).map_err(|e| e.to_string())?;
        loop {
            let answer: Option<serde_json::Value> = client
                .get(&url)
                .header("x-api-key", &key)
                .send()
                .ok()
                .and_then(|r| r.json().ok());
            if answer.is_some_and(|a| a["hello"] == value.as_str()) {
                break;
            }
            if written.elapsed() > Duration::from_secs(120) {
                return Err(format!("edit {edit} was not served"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        samples.push(written.elapsed().as_secs_f64() * 1000.0);
        // Let the old instance drain before the next edit.
        std::thread::sleep(Duration::from_millis(300));
    }
    Ok(samples)
}
