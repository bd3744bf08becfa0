//! The operator console in a real browser: Debian's Chromium, driven over CDP by playwright-core
//! (`tests/browser/console.mjs`), against a live supervisor running every example module with
//! traffic of every kind and a package deployed twice. The script signs in (a wrong token first),
//! watches a zero-downtime restart from the modules table, reads live logs, tries a route,
//! invokes a node through its generated form, runs a cron by hand, re-drives a dead letter,
//! tests a Block connection, rolls a deployment back, checks CSRF refusals, logs out, and signs
//! in read-only with a workspace API key; no page ever shows the admin token, the API key or the
//! connection's secret.
//!
//! Needs `/usr/bin/chromium` (Debian's `chromium` package; `scripts/test` installs it) and Node.js;
//! the npm packages of `tests/browser` are installed on first use. Screenshots land in
//! `target/console-screenshots/`; after a passing run, the modules page's is copied to
//! `docs/images/console-modules.png` when that file is missing or `CONVOTIC_UPDATE_SCREENSHOTS=1`
//! (so a test run does not rewrite the committed picture).

use std::io::{BufRead as _, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use convotic_e2e::showcase::{self, Showcase};
use reqwest::Method;
use serde_json::json;

/// Where Debian's Chromium lives.
const CHROMIUM: &str = "/usr/bin/chromium";
/// Longest run of the browser script.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .to_path_buf()
}

/// Installs `tests/browser`'s npm packages when they are missing (from the lock file; no
/// browser download: the script uses Debian's Chromium).
fn ensure_npm_packages(browser: &Path) {
    if browser
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(browser)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .status()
        .expect("npm (install Node.js and npm: scripts/test does)");
    assert!(status.success(), "npm ci --prefix tests/browser failed");
}

/// Forwards `stream`'s lines to the test's output and keeps them in `all`.
fn forward(
    stream: impl Read + Send + 'static,
    all: Arc<Mutex<String>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            println!("[browser] {line}");
            let mut all = all.lock().unwrap_or_else(|e| e.into_inner());
            all.push_str(&line);
            all.push('\n');
        }
    })
}

#[test]
fn the_console_works_in_a_real_browser() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium package (scripts/test does)"
    );
    let root = root();
    let browser = root.join("tests/browser");
    ensure_npm_packages(&browser);
    let screenshots = root.join("target/console-screenshots");
    let _ = std::fs::remove_dir_all(&screenshots);
    std::fs::create_dir_all(&screenshots).expect("screenshot dir");

    let show = Showcase::start(vec![]);
    show.drive_traffic();
    show.deploy_twice();
    // Deliveries for the delivery page: channel sms to the Block (order-worker's SMS is sent),
    // channel email to an address that refuses (a dead letter at once).
    for (channel, body) in [
        (
            "sms",
            json!({"kind": "block", "block": "regional-sms", "action": "send_message",
                   "connection_id": show.connection}),
        ),
        (
            "email",
            json!({"kind": "webhook", "url": format!("{}/refuses", show.provider.url())}),
        ),
    ] {
        let (status, answer) =
            show.call(Method::PUT, &format!("/v1/channels/{channel}"), Some(body));
        assert_eq!(status, 200, "channel {channel}: {answer}");
    }
    let (_, contacts) = show.call(Method::GET, "/v1/contacts", None);
    let contact = contacts["contacts"][0]["id"]
        .as_str()
        .expect("a contact")
        .to_string();
    let (status, mail) = show.call(
        Method::POST,
        "/v1/messages",
        Some(json!({"contact_id": contact, "channel": "email", "text": "Your invoice"})),
    );
    assert_eq!(status, 201, "{mail}");
    let dead = mail["id"].as_str().expect("message id").to_string();
    show.sup.wait_until(
        Duration::from_secs(30),
        "the email to be dead-lettered",
        |_| {
            show.call(Method::GET, &format!("/v1/messages/{dead}"), None)
                .1["status"]
                == "failed"
        },
    );
    // The member the node form looks up (the traffic stored it too; this makes it explicit).
    let (status, body) = show.call(
        Method::PUT,
        "/v1/modules/loyalty-lookup/loyalty/ada@example.com",
        Some(json!({"tier": "gold", "points": 1200})),
    );
    assert_eq!(status, 200, "seed the loyalty member: {body}");

    let scenario = json!({
        "base": show.sup.base,
        "token": show.sup.token,
        "key": show.key,
        "out": screenshots,
        "connection": show.connection,
        "secrets": [showcase::TOKEN],
        "chromium": CHROMIUM,
    });
    let mut child = Command::new("node")
        .arg(browser.join("console.mjs"))
        .current_dir(&browser)
        .env("CONSOLE_SCENARIO", scenario.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node (install Node.js: scripts/test does)");
    let output = Arc::new(Mutex::new(String::new()));
    let readers = [
        forward(child.stdout.take().expect("stdout"), output.clone()),
        forward(child.stderr.take().expect("stderr"), output.clone()),
    ];
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > SCRIPT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    for reader in readers {
        let _ = reader.join();
    }
    let output = output.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let log = show.sup.log();
    // The supervisor's warnings and errors and its console lines (the cron's ticks would drown
    // them otherwise).
    let tail: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR ") || l.contains("console"))
        .rev()
        .take(40)
        .collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    match status {
        None => panic!(
            "the browser script ran longer than {SCRIPT_TIMEOUT:?}:\n{output}\n--- supervisor log (warnings, errors, console; last 40) ---\n{}",
            tail.join("\n")
        ),
        Some(status) => assert!(
            status.success(),
            "the browser script failed ({status}); screenshots in {}:\n{output}\n--- supervisor log (warnings, errors, console; last 40) ---\n{}",
            screenshots.display(),
            tail.join("\n")
        ),
    }

    let images = root.join("docs/images");
    let picture = images.join("console-modules.png");
    let update = std::env::var("CONVOTIC_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1");
    if update || !picture.exists() {
        std::fs::create_dir_all(&images).expect("docs/images");
        std::fs::copy(screenshots.join("modules.png"), &picture)
            .expect("copy the modules screenshot to docs/images");
    }
}
