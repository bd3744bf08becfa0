//! `workspaces` and `keys`: the real binary on a data dir in a temporary directory, with no
//! supervisor running.

use std::path::Path;
use std::process::{Command, Output};

use convotic_supervisor::store::Store;

fn cli(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_convotic-supervisor"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("CONVOTIC_CONFIG")
        .output()
        .expect("run convotic-supervisor")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn workspaces_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let created = cli(
        &data,
        &["workspaces", "create", "--id", "ws_acme", "--name", "Acme"],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    assert_eq!(stdout(&created), "ws_acme\n");
    let generated = cli(&data, &["workspaces", "create"]);
    assert!(generated.status.success());
    let generated_id = stdout(&generated).trim().to_string();
    assert!(generated_id.starts_with("ws_") && generated_id.len() == 15);
    let duplicate = cli(&data, &["workspaces", "create", "--id", "ws_acme"]);
    assert_eq!(duplicate.status.code(), Some(1));
    assert!(stderr(&duplicate).contains("already exists"));

    let listed = stdout(&cli(&data, &["workspaces", "list"]));
    assert!(listed.starts_with("ID "));
    assert!(listed
        .lines()
        .any(|l| l.starts_with("ws_acme ") && l.ends_with("Acme")));
    assert!(listed.contains(&generated_id));
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&cli(&data, &["workspaces", "list", "--json"]))).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);

    let key = cli(
        &data,
        &["keys", "create", "--workspace", "ws_acme", "--label", "erp"],
    );
    assert!(key.status.success(), "{}", stderr(&key));
    let out = stdout(&key);
    let plaintext = out.lines().next().unwrap().to_string();
    assert_eq!(out, format!("{plaintext}\n"));
    assert!(plaintext.starts_with("cvk_") && plaintext.len() == 56);
    assert!(stderr(&key).contains("only time"));
    assert!(stderr(&key).contains("hash"));
    let key_id = &plaintext[4..12];

    // The database holds the hash, not the key.
    let db = std::fs::read(data.join("convotic.db")).unwrap();
    let wal = std::fs::read(data.join("convotic.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(!bytes
            .windows(plaintext.len())
            .any(|w| w == plaintext.as_bytes()));
    }
    let store = Store::open(&data.join("convotic.db")).unwrap();
    assert_eq!(
        store.authenticate(&plaintext).await.unwrap().as_deref(),
        Some("ws_acme")
    );

    let listed = stdout(&cli(&data, &["keys", "list", "--workspace", "ws_acme"]));
    assert!(listed.starts_with("KEY ID"));
    assert!(listed
        .lines()
        .any(|l| l.starts_with(key_id) && l.ends_with("erp")));
    assert!(!listed.contains(&plaintext[13..]));

    let unknown = cli(&data, &["keys", "create", "--workspace", "ws_nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("ws_nope"));

    let revoked = cli(&data, &["keys", "revoke", "--workspace", "ws_acme", key_id]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    assert!(stdout(&revoked).contains(key_id));
    let again = cli(&data, &["keys", "revoke", "--workspace", "ws_acme", key_id]);
    assert_eq!(again.status.code(), Some(1));
    let fresh = Store::open(&data.join("convotic.db")).unwrap();
    assert_eq!(fresh.authenticate(&plaintext).await.unwrap(), None);
    let json: serde_json::Value = serde_json::from_str(&stdout(&cli(
        &data,
        &["keys", "list", "--workspace", "ws_acme", "--json"],
    )))
    .unwrap();
    assert!(json[0]["revoked_at_ms"].as_u64().unwrap() > 0);
}
