//! Two supervisors sharing one PostgreSQL store (`[store] url`) and one NATS server, as two
//! nodes of a cluster on one machine: an API key created through one node's CLI opens the other
//! node's routes, a module's storage written through one node is read through the other,
//! contacts created on one are listed on the other; a PostgreSQL store without `[nats]` is
//! refused at start, naming the entry; `ps --cluster` on either node lists both with their
//! modules; `secrets status --cluster` names the node lacking a key in use; a CLI command given only the data dir of a PostgreSQL
//! supervisor refuses to write to an unused SQLite file.

use std::process::Command;

use convotic_e2e::nats::NatsServer;
use convotic_e2e::postgres::{PostgresServer, TestDatabase};
use convotic_e2e::{binary, ModuleEntry, Supervisor};
use reqwest::Method;
use serde_json::{json, Value};

fn node(db: &TestDatabase, nats: &NatsServer) -> Supervisor {
    let tables = format!("{}[nats]\nurl = \"{}\"\n", db.store_table(), nats.url());
    let sup = Supervisor::start_full(
        &[ModuleEntry::new("hello-rust", "hello-rust")],
        &[],
        &[],
        &tables,
    );
    sup.wait_state("hello-rust", "ready", std::time::Duration::from_secs(20));
    sup
}

fn send(request: reqwest::blocking::RequestBuilder) -> (u16, Value) {
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

#[test]
fn two_supervisors_share_one_postgresql_store() {
    let db = TestDatabase::create();
    let nats = NatsServer::start();
    let a = node(&db, &nats);
    let b = node(&db, &nats);

    // A key created through node A's CLI (with its config: the CLI reaches PostgreSQL).
    let (code, stdout, stderr) = a.cli_config(&["keys", "create", "--workspace", "ws_test"]);
    assert_eq!(code, 0, "keys create: {stderr}");
    let key = stdout.lines().next().unwrap_or_default().trim().to_string();

    // Storage written through A is read through B, and the other way round.
    let (status, _) = send(
        a.http(Method::PUT, "/v1/modules/hello-rust/kv/greeting")
            .header("x-api-key", &key)
            .json(&json!({"text": "from A"})),
    );
    assert!((200..300).contains(&status), "PUT through A: {status}");
    let (status, body) = send(
        b.http(Method::GET, "/v1/modules/hello-rust/kv/greeting")
            .header("x-api-key", &key),
    );
    assert_eq!(status, 200, "GET through B: {body}");
    assert_eq!(body["value"], json!({"text": "from A"}), "{body}");
    let (status, _) = send(
        b.http(Method::PUT, "/v1/modules/hello-rust/kv/greeting")
            .header("x-api-key", &key)
            .json(&json!({"text": "from B"})),
    );
    assert!((200..300).contains(&status));
    let (_, body) = send(
        a.http(Method::GET, "/v1/modules/hello-rust/kv/greeting")
            .header("x-api-key", &key),
    );
    assert_eq!(body["value"], json!({"text": "from B"}), "{body}");

    // A contact created through B is listed through A.
    let (status, created) = send(
        b.http(Method::POST, "/v1/contacts")
            .header("x-api-key", &key)
            .json(&json!({"external_id": "cust-1", "name": "Ada"})),
    );
    assert!((200..300).contains(&status), "create contact: {created}");
    let (status, list) = send(
        a.http(Method::GET, "/v1/contacts")
            .header("x-api-key", &key),
    );
    assert_eq!(status, 200, "{list}");
    let ids: Vec<&str> = list["contacts"]
        .as_array()
        .expect("contacts")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, vec![created["id"].as_str().unwrap()], "{list}");

    // A key revoked through B stops working on A (after A's short cache lifetime).
    let key_id = {
        let (code, stdout, stderr) =
            b.cli_config(&["keys", "list", "--workspace", "ws_test", "--json"]);
        assert_eq!(code, 0, "{stderr}");
        let keys: Value = serde_json::from_str(&stdout).expect("keys json");
        keys[0]["id"].as_str().expect("key id").to_string()
    };
    let (code, _, stderr) = b.cli_config(&["keys", "revoke", "--workspace", "ws_test", &key_id]);
    assert_eq!(code, 0, "{stderr}");
    a.wait_until(std::time::Duration::from_secs(15), "revocation on A", |a| {
        send(
            a.http(Method::GET, "/v1/modules/hello-rust/kv/greeting")
                .header("x-api-key", &key),
        )
        .0 == 401
    });

    // Each node sees the other, with its modules.
    a.wait_until(
        std::time::Duration::from_secs(15),
        "both nodes listed",
        |a| {
            let (code, stdout, _) = a.cli(&["ps", "--cluster", "--json"]);
            let body: Value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
            code == 0 && body["nodes"].as_array().is_some_and(|n| n.len() == 2)
        },
    );
    let (_, stdout, _) = a.cli(&["ps", "--cluster", "--json"]);
    let body: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(body["shared_store"], true, "{body}");
    for node in body["nodes"].as_array().unwrap() {
        assert_eq!(node["modules"][0]["name"], "hello-rust", "{node}");
        assert!(
            node["address"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:"),
            "{node}"
        );
    }
    let (code, table, _) = b.cli(&["ps", "--cluster"]);
    assert_eq!(code, 0);
    assert_eq!(table.matches("NODE ").count(), 2, "{table}");

    // Each node has its own key directory here: `secrets status --cluster` lists both, and once
    // a connection is sealed with A's key, says B lacks it.
    let (code, stdout, stderr) = a.cli_config(&["secrets", "status", "--cluster", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let status: Value = serde_json::from_str(&stdout).unwrap();
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "{status}");
    let a_key = nodes
        .iter()
        .find(|n| n["keys"].as_array().is_some_and(|k| !k.is_empty()))
        .and_then(|n| n["active"].as_str())
        .expect("an active key")
        .to_string();
    db.execute(&format!(
        "INSERT INTO block_connections (id, workspace_id, block_id, name, config, secret_fields,
            secret_key_id, secret_nonce, secret_ciphertext, account_label, created_at_ms,
            updated_at_ms, last_tested_at_ms, last_test_ok, last_test_message)
         VALUES ('conn_planted', 'ws_test', 'b', 'n', '{{}}', '[]', '{a_key}', '\\x00',
            '\\x00', '', 0, 0, 0, false, '')"
    ));
    let (code, stdout, _) = a.cli_config(&["secrets", "status", "--cluster"]);
    assert_ne!(code, 0, "{stdout}");
    assert_eq!(
        stdout.matches(&format!("MISSING {a_key}")).count(),
        1,
        "{stdout}"
    );

    // The CLI given only A's data dir refuses to use a SQLite file nobody reads.
    let (code, _, stderr) = a.cli(&["keys", "list", "--workspace", "ws_test"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("PostgreSQL") && stderr.contains("--config"),
        "{stderr}"
    );
}

#[test]
fn a_postgresql_store_without_nats_is_refused() {
    let db = TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("convotic.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[supervisor]\ndata_dir = \"data\"\n{}",
            db.store_table()
        ),
    )
    .unwrap();
    let output = Command::new(binary("convotic-supervisor"))
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("store.url") && stderr.contains("[nats]"),
        "{stderr}"
    );
    // An unreachable server is named at start, with the address (never a password).
    std::fs::write(
        &config,
        "[server]\nlisten = \"127.0.0.1:0\"\n[supervisor]\ndata_dir = \"data\"\n\
         [nats]\nurl = \"nats://127.0.0.1:1\"\n\
         [store]\nurl = \"postgres://convotic:hunter2@127.0.0.1:1/nowhere\"\n",
    )
    .unwrap();
    let output = Command::new(binary("convotic-supervisor"))
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("postgres://convotic@127.0.0.1:1/nowhere"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

/// Runs `convotic-supervisor run` with `config` expecting it to refuse to start; its stderr.
fn refused_start(config: &std::path::Path) -> String {
    let mut child = Command::new(binary("convotic-supervisor"))
        .args(["run", "--config"])
        .arg(config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A supervisor that starts never exits by itself: stopped after 60 s, failing the test.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the supervisor started with {}", config.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        !output.status.success(),
        "the supervisor exited with success"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes a config of one supervisor on `nats` with the store at `store_url`.
fn write_config(config: &std::path::Path, nats: &NatsServer, store_url: &str) {
    std::fs::write(
        config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[supervisor]\ndata_dir = \"data\"\n\
             [nats]\nurl = \"{}\"\n[store]\nurl = \"{store_url}\"\n",
            nats.url()
        ),
    )
    .unwrap();
}

#[test]
fn the_store_is_reached_over_tls_with_the_server_verified() {
    let server = PostgresServer::start_tls(std::net::Ipv4Addr::LOCALHOST, "127.0.0.1/32");
    let url = server.create_database("convotic_tls");
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("convotic.toml");
    let write = |store_url: &str| write_config(&config, &nats, store_url);
    // The server refuses connections without TLS.
    write(&url);
    let stderr = refused_start(&config);
    assert!(
        stderr.contains("postgres://postgres@127.0.0.1") && stderr.contains("no encryption"),
        "{stderr}"
    );
    // TLS, but the server's certificate is not signed by a root this system trusts.
    write(&format!("{url}?sslmode=verify-full"));
    let stderr = refused_start(&config);
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    // A CA file that does not exist is named.
    write(&format!(
        "{url}?sslmode=require&sslrootcert=/nonexistent/ca.pem"
    ));
    let stderr = refused_start(&config);
    assert!(stderr.contains("/nonexistent/ca.pem"), "{stderr}");

    // With the server's CA: it starts, serves, and its connections are encrypted.
    let tables = format!(
        "[store]\nurl = \"{url}?sslmode=verify-full&sslrootcert={}\"\n[nats]\nurl = \"{}\"\n",
        server.ca_file().display(),
        nats.url()
    );
    let sup = Supervisor::start_full(
        &[ModuleEntry::new("hello-rust", "hello-rust")],
        &[],
        &[],
        &tables,
    );
    sup.wait_state("hello-rust", "ready", std::time::Duration::from_secs(20));
    let (code, stdout, stderr) = sup.cli_config(&["keys", "create", "--workspace", "ws_test"]);
    assert_eq!(code, 0, "keys create: {stderr}");
    let key = stdout.lines().next().unwrap_or_default().trim().to_string();
    let (status, _) = send(
        sup.http(Method::PUT, "/v1/modules/hello-rust/kv/greeting")
            .header("x-api-key", &key)
            .json(&json!({"text": "over TLS"})),
    );
    assert!((200..300).contains(&status), "PUT: {status}");
    let encrypted = server.query_i64(
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
         WHERE a.datname = 'convotic_tls' AND s.ssl",
    );
    let plain = server.query_i64(
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
         WHERE a.datname = 'convotic_tls' AND NOT s.ssl",
    );
    assert!(
        encrypted > 0 && plain == 0,
        "encrypted {encrypted}, plain {plain}"
    );
}

/// `sslcert` and `sslkey`: the supervisor authenticates with a client certificate to a server
/// that asks for one (`cert` authentication); a missing key, a key readable by others and no
/// certificate at all are refused at start, each naming what is wrong.
#[test]
fn the_store_authenticates_with_a_client_certificate() {
    use std::os::unix::fs::PermissionsExt;
    let server = PostgresServer::start_tls_client_cert(std::net::Ipv4Addr::LOCALHOST);
    let url = server.create_database("convotic_mtls");
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("convotic.toml");
    let write = |store_url: &str| write_config(&config, &nats, store_url);
    let verified = format!(
        "{url}?sslmode=verify-full&sslrootcert={}",
        server.ca_file().display()
    );
    // Without a certificate the server refuses, and says so.
    write(&verified);
    let stderr = refused_start(&config);
    assert!(stderr.contains("certificate"), "{stderr}");
    // A certificate without its key is named.
    write(&format!(
        "{verified}&sslcert={}",
        server.client_cert_file().display()
    ));
    let stderr = refused_start(&config);
    assert!(stderr.contains("without sslkey"), "{stderr}");
    // A key others can read is refused, as libpq does.
    let loose = dir.path().join("loose.key");
    std::fs::copy(server.client_key_file(), &loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    write(&format!(
        "{verified}&sslcert={}&sslkey={}",
        server.client_cert_file().display(),
        loose.display()
    ));
    let stderr = refused_start(&config);
    assert!(
        stderr.contains("loose.key") && stderr.contains("chmod 600"),
        "{stderr}"
    );

    // With the certificate and its key: it starts and serves; the server saw the certificate.
    let tables = format!(
        "[store]\nurl = \"{verified}&sslcert={}&sslkey={}\"\n[nats]\nurl = \"{}\"\n",
        server.client_cert_file().display(),
        server.client_key_file().display(),
        nats.url()
    );
    let sup = Supervisor::start_full(
        &[ModuleEntry::new("hello-rust", "hello-rust")],
        &[],
        &[],
        &tables,
    );
    sup.wait_state("hello-rust", "ready", std::time::Duration::from_secs(20));
    let (code, _, stderr) = sup.cli_config(&["keys", "create", "--workspace", "ws_test"]);
    assert_eq!(code, 0, "keys create: {stderr}");
    let with_certificate = server.query_i64(
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
         WHERE a.datname = 'convotic_mtls' AND s.ssl AND s.client_dn LIKE '%CN=postgres%'",
    );
    assert!(
        with_certificate > 0,
        "no connection with the client certificate"
    );
}
