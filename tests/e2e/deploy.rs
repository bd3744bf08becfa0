//! Deployments against the real binary: packages deployed with the CLI switch without a single
//! failed request under load; a candidate that fails leaves the old version serving and is
//! recorded with its reason; rollback, history, remove, disable and enable; deployed modules
//! come back at their active version after `kill -9`; deploy-scoped keys; every malformed
//! archive refused with its own message and nothing left behind.

use std::path::Path;
use std::time::{Duration, Instant};

use convotic_e2e::load::{whoami, Load};
use convotic_e2e::packages::{deploy, fixture_defaults, fixture_package, upload};
use convotic_e2e::{ModuleEntry, Supervisor};
use reqwest::Method;
use serde_json::Value;

const LONG: Duration = Duration::from_secs(30);

fn start() -> Supervisor {
    Supervisor::start(&[], &[&fixture_defaults()])
}

fn history(sup: &Supervisor, module: &str) -> Vec<(String, String)> {
    let (status, body) = sup.get(&format!(
        "/admin/v1/workspaces/ws_test/modules/{module}/deployments"
    ));
    assert_eq!(status, 200, "{body}");
    body["deployments"]
        .as_array()
        .expect("list")
        .iter()
        .map(|d| {
            (
                d["version"].as_str().unwrap_or("").to_string(),
                d["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn twenty_deploys_under_load_answer_no_error_and_switch_versions() {
    let sup = start();
    let root = sup.dir.path().join("packages-src");
    let v1 = fixture_package(&root, "shop", "1.0.0", "ok", &[], &[]);
    let v2 = fixture_package(&root, "shop", "2.0.0", "ok", &[], &[]);

    // The first version simply starts; the CLI prints what it declared.
    let dir = v1.display().to_string();
    let (code, stdout, stderr) = sup.cli(&["deploy", "--workspace", "ws_test", &dir]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert!(stdout.contains("shop 1.0.0 is live in ws_test"), "{stdout}");
    assert!(stdout.contains("GET /whoami"), "{stdout}");
    let key = sup.create_key("ws_test");
    assert_eq!(whoami(&sup, &key, "shop")["version"], "1.0.0");
    let module = sup.module("shop");
    assert!(
        module["source"]
            .as_str()
            .unwrap_or("")
            .starts_with("deployment dep_"),
        "{module}"
    );
    assert_eq!(module["package_version"], "1.0.0");

    let load = Load::start(&sup, &key, "shop", 4);
    // A slow call started before a switch completes on the version it started on.
    let slow_url = format!("{}/v1/modules/shop/sleep/1500", sup.base);
    let slow_key = key.clone();
    let slow = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .get(slow_url)
            .header("x-api-key", slow_key)
            .timeout(Duration::from_secs(20))
            .send()
            .map(|r| r.status().as_u16())
    });
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    for round in 0..20 {
        let (package, version) = if round % 2 == 0 {
            (&v2, "2.0.0")
        } else {
            (&v1, "1.0.0")
        };
        let (code, answer, stderr) = deploy(&sup, "ws_test", package);
        assert_eq!(code, 0, "round {round}: {answer} {stderr}");
        assert_eq!(answer["deployment"]["state"], "active");
        assert_eq!(answer["deployment"]["version"], version);
        assert_eq!(whoami(&sup, &key, "shop")["version"], version);
    }
    let report = load.finish();
    assert!(
        report.failures.is_empty(),
        "{} of {} requests failed during 20 deploys in {:?}: {:?}",
        report.failures.len(),
        report.ok + report.failures.len() as u64,
        started.elapsed(),
        &report.failures[..report.failures.len().min(5)]
    );
    assert!(report.ok > 100, "the load ran ({} answers)", report.ok);
    assert!(
        report.version_changes.len() >= 10,
        "answers switched between the versions: {:?}",
        report.version_changes
    );
    assert_eq!(slow.join().expect("slow caller").expect("slow call"), 200);

    // History: newest first, one active, the rest superseded; only the last 5 packages kept.
    let (_, body) = sup.get("/admin/v1/workspaces/ws_test/modules/shop/deployments");
    let list = body["deployments"].as_array().expect("list");
    assert_eq!(list.len(), 21);
    assert_eq!(list[0]["state"], "active");
    assert!(list[1..].iter().all(|d| d["state"] == "superseded"));
    let kept = list.iter().filter(|d| d["package_kept"] == true).count();
    assert_eq!(kept, 5, "{body}");
    let on_disk = std::fs::read_dir(sup.data_dir().join("packages/ws_test/shop"))
        .expect("packages")
        .count();
    assert_eq!(on_disk, 5);
}

#[test]
fn a_candidate_that_fails_leaves_the_old_version_serving() {
    let sup = start();
    let root = sup.dir.path().join("packages-src");
    let (code, answer, stderr) = deploy(
        &sup,
        "ws_test",
        &fixture_package(&root, "keeper", "1", "ok", &[], &[]),
    );
    assert_eq!(code, 0, "{answer} {stderr}");
    let key = sup.create_key("ws_test");
    let before = sup.module("keeper");
    for (mode, env, reason) in [
        ("exit-early", vec![], "did not become ready"),
        ("never-listen", vec![], "did not become ready"),
        (
            "bad-manifest-duplicate-route",
            vec![],
            "did not become ready",
        ),
        ("ok", vec![("FIXTURE_NAME", "someone-else")], "someone-else"),
    ] {
        let package = fixture_package(
            &root,
            "keeper",
            "2",
            mode,
            &["start_timeout = \"2s\""],
            &env,
        );
        let (code, answer, stderr) = deploy(&sup, "ws_test", &package);
        assert_eq!(code, 1, "{mode}: {answer} {stderr}");
        assert_eq!(
            answer["error"]["code"], "deployment_failed",
            "{mode}: {answer} {stderr}"
        );
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{mode}: {message}");
        assert_eq!(answer["deployment"]["state"], "failed");
        let now = sup.module("keeper");
        assert_eq!(
            now["pid"], before["pid"],
            "{mode}: the old instance is untouched"
        );
        assert_eq!(now["state"], "ready");
        assert_eq!(whoami(&sup, &key, "keeper")["version"], "1");
    }
    let states = history(&sup, "keeper");
    assert_eq!(states.len(), 5);
    assert_eq!(states[4], ("1".to_string(), "active".to_string()));
    assert!(states[..4].iter().all(|(_, s)| s == "failed"), "{states:?}");

    // The text form explains and shows the candidate's output; exit 1.
    let package = fixture_package(&root, "keeper", "3", "exit-early", &[], &[]);
    let dir = package.display().to_string();
    let (code, _, stderr) = sup.cli(&["deploy", "--workspace", "ws_test", &dir]);
    assert_eq!(code, 1);
    assert!(stderr.contains("did not take over"), "{stderr}");
    assert!(
        stderr.contains("the running version is unchanged"),
        "{stderr}"
    );
    assert!(
        stderr.contains("last output of the new version"),
        "{stderr}"
    );

    // A first version that cannot start is not left behind in the module set.
    let broken = fixture_package(&root, "never-was", "1", "exit-early", &[], &[]);
    let (code, answer, _) = deploy(&sup, "ws_test", &broken);
    assert_eq!(code, 1, "{answer}");
    assert_eq!(sup.get("/admin/v1/modules/never-was").0, 404);
}

#[test]
fn rollback_restores_earlier_versions_and_history_shows_every_step() {
    let sup = start();
    let root = sup.dir.path().join("packages-src");
    let mut ids = Vec::new();
    for version in ["1", "2", "3"] {
        let package = fixture_package(&root, "ledger", version, "ok", &[], &[]);
        let (code, answer, stderr) = deploy(&sup, "ws_test", &package);
        assert_eq!(code, 0, "{answer} {stderr}");
        ids.push(answer["deployment"]["id"].as_str().expect("id").to_string());
    }
    let key = sup.create_key("ws_test");
    let load = Load::start(&sup, &key, "ledger", 3);
    let (code, stdout, stderr) = sup.cli(&[
        "deployments",
        "rollback",
        "ledger",
        "--workspace",
        "ws_test",
    ]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert!(stdout.contains("ledger 2 is live"), "{stdout}");
    assert_eq!(whoami(&sup, &key, "ledger")["version"], "2");
    let (code, stdout, stderr) = sup.cli(&[
        "deployments",
        "rollback",
        "ledger",
        "--workspace",
        "ws_test",
        "--to",
        &ids[0],
    ]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert_eq!(whoami(&sup, &key, "ledger")["version"], "1");
    let report = load.finish();
    assert!(report.failures.is_empty(), "{:?}", report.failures);

    let states = history(&sup, "ledger");
    let expected: Vec<(String, String)> = [
        ("1", "active"),
        ("2", "rolled_back"),
        ("3", "rolled_back"),
        ("2", "superseded"),
        ("1", "superseded"),
    ]
    .iter()
    .map(|(v, s)| (v.to_string(), s.to_string()))
    .collect();
    assert_eq!(states, expected);
    let (code, stdout, _) = sup.cli(&["deployments", "list", "ledger", "--workspace", "ws_test"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("rollback") && stdout.contains("rolled_back"),
        "{stdout}"
    );
    let (code, stdout, _) = sup.cli(&["deployments", "show", &ids[2]]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("rolled_back") && stdout.contains("ledger"),
        "{stdout}"
    );
    // Rolling back to what runs is refused.
    let active = sup
        .get("/admin/v1/workspaces/ws_test/modules/ledger/deployments")
        .1["deployments"][0]["rollback_of"]
        .as_str()
        .expect("rollback_of")
        .to_string();
    let (status, body) = sup.request(
        Method::POST,
        &format!("/admin/v1/workspaces/ws_test/modules/ledger/deployments/{active}/rollback"),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("already_active")),
        "{body}"
    );
}

#[test]
fn deployed_modules_come_back_at_their_active_version_after_kill_9() {
    let mut sup = start();
    let root = sup.dir.path().join("packages-src");
    for version in ["1", "2"] {
        let (code, answer, _) = deploy(
            &sup,
            "ws_test",
            &fixture_package(&root, "durable", version, "ok", &[], &[]),
        );
        assert_eq!(code, 0, "{answer}");
    }
    let (code, answer, _) = deploy(
        &sup,
        "ws_test",
        &fixture_package(&root, "resting", "1", "ok", &[], &[]),
    );
    assert_eq!(code, 0, "{answer}");
    let (code, _, stderr) = sup.cli(&["modules", "disable", "resting", "--workspace", "ws_test"]);
    assert_eq!(code, 0, "{stderr}");
    let key = sup.create_key("ws_test");
    sup.signal(nix::sys::signal::Signal::SIGKILL);
    sup.restart_after_kill();
    let module = sup.wait_state("durable", "ready", LONG);
    assert_eq!(module["package_version"], "2");
    assert_eq!(whoami(&sup, &key, "durable")["version"], "2");
    let resting = sup.module("resting");
    assert_eq!(
        resting["state"], "stopped",
        "disabled stays disabled: {resting}"
    );
    assert_eq!(resting["enabled"], false);
    let (code, _, stderr) = sup.cli(&["modules", "enable", "resting", "--workspace", "ws_test"]);
    assert_eq!(code, 0, "{stderr}");
    sup.wait_state("resting", "ready", LONG);
    let (code, stdout, _) = sup.cli(&["ps"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("SOURCE") && stdout.contains("deployment dep_"),
        "{stdout}"
    );

    // Remove: stopped, gone from the set, history kept; a deploy starts it anew.
    let (code, _, stderr) = sup.cli(&["modules", "remove", "durable", "--workspace", "ws_test"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(sup.get("/admin/v1/modules/durable").0, 404);
    assert_eq!(history(&sup, "durable")[0].1, "removed");
    // Its packages are deleted with it (and recorded so); the history stays.
    assert!(!sup.data_dir().join("packages/ws_test/durable").exists());
    let (_, body) = sup.get("/admin/v1/workspaces/ws_test/modules/durable/deployments");
    let list = body["deployments"].as_array().expect("history");
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|d| d["package_kept"] == false), "{body}");
}

#[test]
fn a_module_of_the_config_file_cannot_be_deployed_and_deploys_of_one_module_do_not_overlap() {
    let sup = Supervisor::start(
        &[ModuleEntry::fixture("configured", "ok")],
        &[&fixture_defaults()],
    );
    sup.wait_state("configured", "ready", LONG);
    let root = sup.dir.path().join("packages-src");
    let (code, answer, _) = deploy(
        &sup,
        "ws_test",
        &fixture_package(&root, "configured", "9", "ok", &[], &[]),
    );
    assert_eq!(code, 1);
    assert_eq!(answer["error"]["code"], "module_in_config", "{answer}");
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("[[modules]]"));

    // A slow candidate holds its module; a second deploy meanwhile gets 409.
    let slow = fixture_package(
        &root,
        "slowpoke",
        "1",
        "slow-start",
        &[],
        &[("MISBEHAVE_N", "2500")],
    );
    let first = {
        let data_dir = sup.data_dir();
        let dir = slow.display().to_string();
        let binary = convotic_e2e::binary("convotic-supervisor");
        std::thread::spawn(move || {
            std::process::Command::new(binary)
                .args(["deploy", "--workspace", "ws_test", &dir, "--data-dir"])
                .arg(data_dir)
                .output()
                .expect("deploy")
        })
    };
    sup.wait_until(LONG, "the first deploy to start", |s| {
        s.get("/admin/v1/modules/slowpoke").0 == 200
    });
    let (code, answer, _) = deploy(&sup, "ws_test", &slow);
    assert_eq!(code, 1);
    assert_eq!(answer["error"]["code"], "operation_in_progress", "{answer}");
    let first = first.join().expect("first deploy");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
}

#[test]
fn deploy_keys_deploy_to_their_workspace_only() {
    let sup = start();
    let root = sup.dir.path().join("packages-src");
    // A solutions engineer's key: the workspace exists, nothing is deployed in it yet.
    for workspace in ["ws_test", "ws_other"] {
        let (code, _, stderr) = sup.cli(&["workspaces", "create", "--id", workspace]);
        assert_eq!(code, 0, "{stderr}");
    }
    let (code, stdout, stderr) = sup.cli(&[
        "keys",
        "create",
        "--workspace",
        "ws_test",
        "--scope",
        "deploy",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let deploy_key = stdout.lines().next().unwrap_or_default().trim().to_string();
    let routes_key = sup.create_key("ws_test");
    let package = fixture_package(&root, "keyed", "1", "ok", &[], &[])
        .display()
        .to_string();
    let by_url = |workspace: &str, key: &str| {
        let output = std::process::Command::new(convotic_e2e::binary("convotic-supervisor"))
            .args([
                "deploy",
                "--workspace",
                workspace,
                &package,
                "--url",
                &sup.base,
                "--json",
            ])
            .env("CONVOTIC_DEPLOY_KEY", key)
            .env_remove("CONVOTIC_ADMIN_TOKEN")
            .output()
            .expect("deploy");
        let answer: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        (
            output.status.code().unwrap_or(-1),
            answer,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, answer, stderr) = by_url("ws_test", &deploy_key);
    assert_eq!(code, 0, "{answer} {stderr}");
    assert_eq!(
        answer["deployment"]["actor"]
            .as_str()
            .map(|a| a.starts_with("key:")),
        Some(true),
        "{answer}"
    );
    let (code, answer, _) = by_url("ws_other", &deploy_key);
    assert_eq!(
        (code, answer["error"]["code"].as_str()),
        (1, Some("wrong_workspace")),
        "{answer}"
    );
    let (code, answer, _) = by_url("ws_test", &routes_key);
    assert_eq!(
        (code, answer["error"]["code"].as_str()),
        (1, Some("invalid_api_key")),
        "{answer}"
    );
    // A deploy key calls no route.
    let response = sup
        .http(Method::GET, "/v1/modules/keyed/whoami")
        .header("x-api-key", &deploy_key)
        .send()
        .expect("route");
    assert_eq!(response.status().as_u16(), 401);
    // --url without any credential says what to set.
    let output = std::process::Command::new(convotic_e2e::binary("convotic-supervisor"))
        .args([
            "deployments",
            "list",
            "keyed",
            "--workspace",
            "ws_test",
            "--url",
            &sup.base,
        ])
        .env_remove("CONVOTIC_DEPLOY_KEY")
        .env_remove("CONVOTIC_ADMIN_TOKEN")
        .output()
        .expect("list");
    assert!(String::from_utf8_lossy(&output.stderr).contains("CONVOTIC_ADMIN_TOKEN"));
}

/// One raw tar entry: name, type, link target, content.
type Entry<'a> = (&'a str, tar::EntryType, &'a str, &'a [u8]);

fn raw_archive(entries: &[Entry]) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    for (name, kind, link, data) in entries {
        let mut header = tar::Header::new_gnu();
        {
            let gnu = header.as_gnu_mut().expect("gnu");
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(*kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o755);
        header.set_cksum();
        builder.append(&header, *data).expect("append");
    }
    builder.into_inner().expect("tar").finish().expect("gzip")
}

fn digest_of(bytes: &[u8]) -> Option<String> {
    Some(format!(
        "sha256:{}",
        convotic_supervisor::package::digest(bytes)
    ))
}

/// Every path under `dir`, relative.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).into_iter().flatten().flatten() {
            let path = entry.path();
            out.push(
                path.strip_prefix(dir)
                    .unwrap_or(&path)
                    .display()
                    .to_string(),
            );
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn malformed_archives_are_refused_each_with_its_own_message() {
    let sup = start();
    let manifest = b"name = \"victim\"\nversion = \"1\"\nentry = \"run\"\n";
    let file = tar::EntryType::Regular;
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "dot-dot",
            raw_archive(&[
                ("convotic-module.toml", file, "", manifest),
                ("../escape", file, "", b"x"),
            ]),
            "bad_archive",
            "'..'",
        ),
        (
            "absolute",
            raw_archive(&[("/tmp/cvt-escape", file, "", b"x")]),
            "bad_archive",
            "absolute",
        ),
        (
            "symlink out",
            raw_archive(&[("link", tar::EntryType::Symlink, "/etc/passwd", b"")]),
            "bad_archive",
            "outside",
        ),
        (
            "hard link out",
            raw_archive(&[("link", tar::EntryType::Link, "../../x", b"")]),
            "bad_archive",
            "outside",
        ),
        (
            "device",
            raw_archive(&[("dev", tar::EntryType::Char, "", b"")]),
            "bad_archive",
            "device",
        ),
        (
            "no manifest",
            raw_archive(&[("run", file, "", b"#!/bin/sh\n")]),
            "bad_manifest",
            "no convotic-module.toml",
        ),
        (
            "bad manifest",
            raw_archive(&[(
                "convotic-module.toml",
                file,
                "",
                b"name = \"victim\"\nversion = \"1\"\nentry = \"run\"\nworkers = 2\n",
            )]),
            "bad_manifest",
            "workers",
        ),
        (
            "missing entry",
            raw_archive(&[("convotic-module.toml", file, "", manifest)]),
            "bad_manifest",
            "entry",
        ),
        (
            "other name",
            raw_archive(&[(
                "convotic-module.toml",
                file,
                "",
                b"name = \"intruder\"\nversion = \"1\"\nentry = \"run\"\n",
            )]),
            "name_mismatch",
            "intruder",
        ),
        (
            "garbage",
            b"definitely not gzip".to_vec(),
            "bad_archive",
            "gzip",
        ),
    ];
    for (what, archive, code, needle) in cases {
        let digest = digest_of(&archive);
        let (status, body) = upload(&sup, "ws_test", "victim", archive, digest);
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{what}: {message}");
    }
    // Over the entry cap: refused while reading.
    let names: Vec<String> = (0..20_001).map(|i| format!("f{i}")).collect();
    let entries: Vec<Entry> = names
        .iter()
        .map(|n| (n.as_str(), file, "", &b""[..]))
        .collect();
    let many = raw_archive(&entries);
    let (status, body) = upload(&sup, "ws_test", "victim", many.clone(), digest_of(&many));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("20000 entries"),
        "{body}"
    );
    // Over the size cap, as a gzip bomb: 300 MiB of zeros compress to a few hundred KiB.
    let bomb = {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let mut header = tar::Header::new_gnu();
        header.set_path("zeros").expect("path");
        header.set_size(300 * 1024 * 1024);
        header.set_mode(0o644);
        header.set_cksum();
        encoder.write_all(header.as_bytes()).expect("header");
        let chunk = vec![0u8; 1024 * 1024];
        for _ in 0..300 {
            encoder.write_all(&chunk).expect("zeros");
        }
        encoder.finish().expect("gzip")
    };
    assert!(bomb.len() < 2 * 1024 * 1024, "{}", bomb.len());
    let (status, body) = upload(&sup, "ws_test", "victim", bomb.clone(), digest_of(&bomb));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("256 MiB"),
        "{body}"
    );
    // Digest missing, malformed, or not the archive's.
    let good = raw_archive(&[("convotic-module.toml", file, "", manifest)]);
    for (digest, code) in [
        (None, "digest_required"),
        (Some("md5:abc".to_string()), "bad_digest"),
        (
            Some(format!("sha256:{}", "0".repeat(64))),
            "digest_mismatch",
        ),
    ] {
        let (status, body) = upload(&sup, "ws_test", "victim", good.clone(), digest);
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some(code)),
            "{body}"
        );
    }
    // Bad names in the URL.
    let (status, body) = upload(&sup, "ws_test", "Bad_Name", good.clone(), digest_of(&good));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_module_name")),
        "{body}"
    );

    // Nothing was written anywhere but the data dir's own files; no module appeared.
    assert_eq!(sup.get("/admin/v1/modules/victim").0, 404);
    assert!(!Path::new("/tmp/cvt-escape").exists());
    assert!(!sup.dir.path().join("escape").exists());
    let packages = tree(&sup.data_dir().join("packages"));
    assert!(
        packages.iter().all(|p| p == ".incoming"),
        "only the (empty) incoming dir: {packages:?}"
    );
    let (status, body) = sup.get("/admin/v1/workspaces/ws_test/modules/victim/deployments");
    assert_eq!(status, 200);
    assert_eq!(
        body["deployments"],
        serde_json::json!([]),
        "refusals record nothing"
    );
}

#[test]
fn a_package_cannot_loosen_its_sandbox_or_limits() {
    let sup = start();
    let root = sup.dir.path().join("packages-src");
    for (line, key) in [
        ("sandbox = \"none\"", "sandbox"),
        ("sandbox = \"relaxed\"", "sandbox"),
        ("memory = \"unlimited\"", "memory"),
        ("memory = \"4GiB\"", "memory"),
        ("pids = 0", "pids"),
        ("open_files = 1000000", "open_files"),
        ("replicas = 20", "replicas"),
        ("start_timeout = \"100years\"", "start_timeout"),
    ] {
        let package = fixture_package(&root, "greedy", "1", "ok", &[line], &[]);
        let (code, answer, stderr) = deploy(&sup, "ws_test", &package);
        assert_eq!(code, 1, "{line}: {answer} {stderr}");
        assert_eq!(answer["error"]["code"], "bad_manifest", "{line}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(key), "{line}: {message}");
    }
    assert_eq!(sup.get("/admin/v1/modules/greedy").0, 404);
    // Tighter than the defaults is fine.
    let package = fixture_package(
        &root,
        "modest",
        "1",
        "ok",
        &["memory = \"128MiB\"", "pids = 64"],
        &[],
    );
    let (code, answer, stderr) = deploy(&sup, "ws_test", &package);
    assert_eq!(code, 0, "{answer} {stderr}");
}
