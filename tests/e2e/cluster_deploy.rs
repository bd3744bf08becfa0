//! Deployments across a cluster: supervisors sharing one PostgreSQL store and one nats-server.
//! A package deployed through one node runs on every node (each reports), with no failed
//! request under load; a version that fails on one node only is rolled back on every node and
//! the deployment names that node; a node that starts later installs the active version from
//! the store; rollback, disable, enable and remove sent to any node reach every node, and so
//! does a reload (each node reloading its own config file); the console of any node shows every
//! node with its modules.

use std::time::Duration;

use convotic_e2e::load::{whoami, Load};
use convotic_e2e::nats::NatsServer;
use convotic_e2e::packages::{
    deploy, failing_under, fixture_defaults, fixture_package, node_reports as reports,
    reported as pairs,
};
use convotic_e2e::postgres::TestDatabase;
use convotic_e2e::{ModuleEntry, Supervisor};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(30);

fn node(db: &TestDatabase, nats: &NatsServer, name: &str) -> Supervisor {
    node_with(db, nats, name, &[])
}

fn node_with(
    db: &TestDatabase,
    nats: &NatsServer,
    name: &str,
    modules: &[ModuleEntry],
) -> Supervisor {
    let tables = format!(
        "{}[nats]\nurl = \"{}\"\n[cluster]\nnode_id = \"{name}\"\n",
        db.store_table(),
        nats.url()
    );
    Supervisor::start_full(modules, &[&fixture_defaults()], &[], &tables)
}

/// The NATS subject node `id` answers on (from its instance, as the cluster API reports it).
fn node_subject(through: &Supervisor, id: &str) -> String {
    use sha2::Digest as _;
    let (_, cluster) = through.get("/admin/v1/cluster");
    let instance = cluster["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["id"] == id))
        .and_then(|n| n["instance"].as_str())
        .unwrap_or_else(|| panic!("node {id} in {cluster}"))
        .to_string();
    let digest = sha2::Sha256::digest(instance.as_bytes());
    format!("convotic.cluster.node.{}", hex::encode(&digest[..12]))
}

/// Sends `payload` to `subject` as a NATS client of its own (not a supervisor) would, and
/// returns the answer, if one comes within 3 s.
fn foreign_request(nats: &NatsServer, subject: &str, payload: Vec<u8>) -> Option<Value> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = async_nats::connect(nats.url()).await.expect("connect");
        let answer = tokio::time::timeout(
            Duration::from_secs(3),
            client.request(subject.to_string(), payload.into()),
        )
        .await
        .ok()?
        .ok()?;
        Some(serde_json::from_slice(&answer.payload).expect("a JSON answer"))
    })
}

fn version_on(sup: &Supervisor, key: &str) -> String {
    whoami(sup, key, "shop")["version"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// A console session cookie, signed in with the admin token.
fn console_session(sup: &Supervisor) -> String {
    let signed_in = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
        .post(format!("{}/console/login", sup.base))
        .form(&[("token", sup.token.as_str())])
        .send()
        .expect("sign in");
    signed_in
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_string()
}

/// A console page with session `cookie`.
fn console_page(sup: &Supervisor, cookie: &str, path: &str) -> String {
    let response = sup
        .http(reqwest::Method::GET, path)
        .header("cookie", cookie)
        .send()
        .expect("console page");
    assert_eq!(response.status().as_u16(), 200, "{path}");
    response.text().expect("page")
}

fn state_on(sup: &Supervisor) -> String {
    let (status, body) = sup.get("/admin/v1/modules/shop");
    if status == 404 {
        return "absent".into();
    }
    body["state"].as_str().unwrap_or("?").to_string()
}

#[test]
fn deployments_sent_to_one_node_apply_to_every_node() {
    let db = TestDatabase::create();
    let nats = NatsServer::start();
    let a = node(&db, &nats, "a");
    let b = node(&db, &nats, "b");
    let root = b.dir.path().join("packages-src");
    let v1 = fixture_package(&root, "shop", "1", "ok", &[], &[]);
    let v2 = fixture_package(&root, "shop", "2", "ok", &[], &[]);

    // Deployed through B: both nodes run it, each reports.
    let (code, answer, stderr) = deploy(&b, "ws_test", &v1);
    assert_eq!(code, 0, "{answer} {stderr}");
    let deployment = &answer["deployment"];
    assert_eq!(deployment["state"], "active", "{answer}");
    assert_eq!(
        reports(deployment),
        pairs(&[("a", "switched"), ("b", "switched")])
    );
    let (code, stdout, stderr) = a.cli_config(&["keys", "create", "--workspace", "ws_test"]);
    assert_eq!(code, 0, "{stderr}");
    let key = stdout.lines().next().unwrap_or_default().trim().to_string();
    assert_eq!(version_on(&a, &key), "1");
    assert_eq!(version_on(&b, &key), "1");
    // A got the package from the store: its own copy, under its own data dir.
    let id = deployment["id"].as_str().expect("id");
    assert!(a
        .data_dir()
        .join(format!("packages/ws_test/shop/{id}/convotic-module.toml"))
        .is_file());

    // A new version through B while both nodes serve calls: no call fails on either.
    let on_a = Load::start(&a, &key, "shop", 2);
    let on_b = Load::start(&b, &key, "shop", 2);
    let (code, answer, stderr) = deploy(&b, "ws_test", &v2);
    assert_eq!(code, 0, "{answer} {stderr}");
    assert_eq!(version_on(&a, &key), "2");
    assert_eq!(version_on(&b, &key), "2");

    // A version that fails on A only: B switched, then both went back to 2.
    let broken = failing_under(&root, "shop", "3", &a.data_dir());
    let (code, answer, _) = deploy(&b, "ws_test", &broken);
    assert_eq!(code, 1, "{answer}");
    let deployment = &answer["deployment"];
    assert_eq!(deployment["state"], "failed", "{answer}");
    assert_eq!(
        reports(deployment),
        pairs(&[("a", "failed"), ("b", "rolled_back")]),
        "{answer}"
    );
    let message = answer["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("node a failed"), "{message}");
    for load in [on_a, on_b] {
        let report = load.finish();
        assert!(
            report.failures.is_empty(),
            "calls failed during the deploys: {:?}",
            &report.failures[..report.failures.len().min(5)]
        );
        assert!(report.ok > 20, "the load ran ({} answers)", report.ok);
    }
    assert_eq!(version_on(&a, &key), "2");
    assert_eq!(version_on(&b, &key), "2");

    // A node starting now installs the active version from the store.
    let c = node(&db, &nats, "c");
    c.wait_state("shop", "ready", LONG);
    assert_eq!(version_on(&c, &key), "2");

    // Rolled back through A: every node runs 1 again.
    let (code, stdout, stderr) = a.cli(&[
        "deployments",
        "rollback",
        "shop",
        "--workspace",
        "ws_test",
        "--json",
    ]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    let answer: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(
        reports(&answer["deployment"]),
        pairs(&[("a", "switched"), ("b", "switched"), ("c", "switched")])
    );
    for sup in [&a, &b, &c] {
        assert_eq!(version_on(sup, &key), "1");
    }

    // The console of any node shows every node with its modules (as of its last heartbeat).
    let cookie = console_session(&a);
    a.wait_until(LONG, "the console to show shop on the three nodes", |s| {
        let page = console_page(s, &cookie, "/console/cluster");
        ["a", "b", "c"].iter().all(|node| {
            page.split("<section class=\"node\"").any(|section| {
                section.contains(&format!("data-node=\"{node}\""))
                    && section.contains("data-module=\"shop\"")
                    && section.contains("(1)")
            })
        })
    });

    // Disabled through C: stopped everywhere; enabled again: serving everywhere.
    // The answer comes once every node answered: no waiting for the nodes' catch-up.
    let (code, stdout, stderr) = c.cli(&["modules", "disable", "shop", "--workspace", "ws_test"]);
    assert_eq!(code, 0, "{stderr}");
    // One line per node, the node asked first.
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("node "))
        .collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].contains("node c: applied (disabled)"), "{stdout}");
    for node in ["a", "b"] {
        assert!(
            stdout.contains(&format!("node {node}: applied")),
            "{stdout}"
        );
    }
    for sup in [&a, &b, &c] {
        assert_eq!(state_on(sup), "stopped", "{}", sup.base);
    }
    let (code, _, stderr) = b.cli(&["modules", "enable", "shop", "--workspace", "ws_test"]);
    assert_eq!(code, 0, "{stderr}");
    for sup in [&a, &b, &c] {
        assert_ne!(state_on(sup), "stopped", "{}", sup.base);
        sup.wait_state("shop", "ready", LONG);
        assert_eq!(version_on(sup, &key), "1");
    }

    // A reload sent to A reloads every node's own file: B's gained a module.
    let mut config = std::fs::read_to_string(b.config_path()).expect("config");
    config.push_str(&ModuleEntry::fixture("extra", "ok").toml());
    std::fs::write(b.config_path(), config).expect("config");
    let (code, stdout, stderr) = a.cli(&["reload"]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert!(stdout.contains("node b: 1 added"), "{stdout}");
    assert!(stdout.contains("node c: 0 added"), "{stdout}");
    b.wait_state("extra", "ready", LONG);
    assert_eq!(a.get("/admin/v1/modules/extra").0, 404);

    // A NATS publisher without the cluster key is refused: C does not reload, does not answer
    // (an answer would go to a subject of the publisher's choice), and logs it; a request
    // signed with another key gets the same.
    let before = std::fs::read_to_string(c.config_path()).expect("config");
    let forged_module = ModuleEntry::fixture("forged", "ok").toml();
    std::fs::write(c.config_path(), format!("{before}{forged_module}")).expect("config");
    let subject = node_subject(&a, "c");
    let unsigned = foreign_request(&nats, &subject, br#"{"op":"reload"}"#.to_vec());
    assert!(unsigned.is_none(), "{unsigned:?}");
    let mut forged = vec![b'0'; 64];
    forged.push(b'\n');
    forged.extend_from_slice(
        format!(r#"{{"v":1,"to":"{subject}","at_ms":1,"nonce":"n","request":{{"op":"reload"}}}}"#)
            .as_bytes(),
    );
    let forged = foreign_request(&nats, &subject, forged);
    assert!(forged.is_none(), "{forged:?}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(c.get("/admin/v1/modules/forged").0, 404);
    assert!(
        c.log().contains("a cluster request was refused"),
        "{}",
        c.log_tail(20)
    );
    std::fs::write(c.config_path(), before).expect("config");

    // Removed through B: gone from every node.
    let (code, stdout, stderr) = b.cli(&["modules", "remove", "shop", "--workspace", "ws_test"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("node b: applied (removed)"), "{stdout}");
    assert_eq!(stdout.matches(": applied").count(), 3, "{stdout}");
    assert!(!stderr.contains("warning"), "{stderr}");
    for sup in [&a, &b, &c] {
        assert_eq!(state_on(sup), "absent", "{}", sup.base);
        // Its packages go with it on every node.
        let dir = sup.data_dir().join("packages/ws_test/shop");
        let left = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(left, 0, "packages left in {}", dir.display());
    }

    // A first version failing on C only: removed again from every node, packages too.
    let first = failing_under(&root, "first", "1", &c.data_dir());
    let (code, answer, _) = deploy(&b, "ws_test", &first);
    assert_eq!(code, 1, "{answer}");
    assert_eq!(
        reports(&answer["deployment"]),
        pairs(&[("a", "rolled_back"), ("b", "rolled_back"), ("c", "failed")]),
        "{answer}"
    );
    for sup in [&a, &b, &c] {
        assert_eq!(sup.get("/admin/v1/modules/first").0, 404, "{}", sup.base);
        // Deleted once the failure is recorded (announced to every node).
        let dir = sup.data_dir().join("packages/ws_test/first");
        sup.wait_until(LONG, "the failed package to be deleted", |_| {
            std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0) == 0
        });
    }
}

#[test]
fn a_deployment_whose_node_dies_is_failed_by_the_others_and_frees_the_module() {
    let db = TestDatabase::create();
    let nats = NatsServer::start();
    let a = node(&db, &nats, "a");
    let b = node(&db, &nats, "b");
    let root = b.dir.path().join("packages-src");
    let (code, answer, stderr) = deploy(
        &b,
        "ws_test",
        &fixture_package(&root, "shop", "1", "ok", &[], &[]),
    );
    assert_eq!(code, 0, "{answer} {stderr}");

    // B dies while its candidate is still starting: the deployment stays under way.
    let slow = fixture_package(
        &root,
        "shop",
        "2",
        "slow-start",
        &[],
        &[("MISBEHAVE_N", "8000")],
    );
    let deploying = {
        let (data_dir, dir) = (b.data_dir(), slow.display().to_string());
        let binary = convotic_e2e::binary("convotic-supervisor");
        std::thread::spawn(move || {
            std::process::Command::new(binary)
                .args(["deploy", "--workspace", "ws_test", &dir, "--data-dir"])
                .arg(data_dir)
                .output()
                .expect("deploy")
        })
    };
    let history = |sup: &Supervisor| -> Vec<Value> {
        let (_, body) = sup.get("/admin/v1/workspaces/ws_test/modules/shop/deployments");
        body["deployments"].as_array().cloned().unwrap_or_default()
    };
    a.wait_until(LONG, "B's deployment to be under way", |s| {
        history(s)
            .first()
            .is_some_and(|d| d["state"] == "deploying")
    });
    b.signal(nix::sys::signal::Signal::SIGKILL);
    let _ = deploying.join();

    // Meanwhile nobody else may start one of that module, saying why.
    let v3 = fixture_package(&root, "shop", "3", "ok", &[], &[]);
    let (code, answer, _) = deploy(&a, "ws_test", &v3);
    assert_eq!(code, 1, "{answer}");
    assert_eq!(answer["error"]["code"], "operation_in_progress", "{answer}");

    // Once B is no longer live, A records it failed and the module is free again.
    a.wait_until(Duration::from_secs(60), "A to fail B's deployment", |s| {
        history(s).first().is_some_and(|d| d["state"] == "failed")
    });
    let failed = &history(&a)[0];
    assert!(
        failed["reason"]
            .as_str()
            .unwrap_or("")
            .contains("interrupted"),
        "{failed}"
    );
    let (code, answer, stderr) = deploy(&a, "ws_test", &v3);
    assert_eq!(code, 0, "{answer} {stderr}");
    assert_eq!(
        reports(&answer["deployment"]),
        pairs(&[("a", "switched")]),
        "B is gone: only A reports"
    );
}

#[test]
fn a_node_that_is_stopping_does_not_hold_a_deployment_back() {
    let db = TestDatabase::create();
    let nats = NatsServer::start();
    let a = node(&db, &nats, "a");
    // C runs a module that takes its whole stop grace to stop: C stops slowly.
    let stubborn = ModuleEntry::fixture("stubborn", "ignore-sigterm").with("stop_grace = \"8s\"");
    let mut c = node_with(&db, &nats, "c", &[stubborn]);
    c.wait_state("stubborn", "ready", LONG);
    let root = a.dir.path().join("packages-src");
    let (code, answer, stderr) = deploy(
        &a,
        "ws_test",
        &fixture_package(&root, "shop", "1", "ok", &[], &[]),
    );
    assert_eq!(code, 0, "{answer} {stderr}");
    assert_eq!(
        reports(&answer["deployment"]),
        pairs(&[("a", "switched"), ("c", "switched")])
    );

    // C is stopping (still live: its heartbeats go on until its modules stopped).
    c.signal(nix::sys::signal::Signal::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    let (code, answer, stderr) = deploy(
        &a,
        "ws_test",
        &fixture_package(&root, "shop", "2", "ok", &[], &[]),
    );
    assert_eq!(code, 0, "{answer} {stderr}");
    assert_eq!(
        reports(&answer["deployment"]),
        pairs(&[("a", "switched"), ("c", "left")]),
        "{answer}"
    );
    assert!(
        c.wait_exit(Duration::from_secs(30)).is_some(),
        "C did not stop"
    );

    // Back, C runs the version that became active while it was away.
    c.restart_after_kill();
    c.wait_state("shop", "ready", LONG);
    let (code, stdout, stderr) = a.cli_config(&["keys", "create", "--workspace", "ws_test"]);
    assert_eq!(code, 0, "{stderr}");
    let key = stdout.lines().next().unwrap_or_default().trim().to_string();
    assert_eq!(version_on(&c, &key), "2");
}
