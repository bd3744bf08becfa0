//! Started by the supervisor, the binary refuses to run without its signing secret: exit code
//! 78 (EX_CONFIG, "do not restart") and an error line on stderr naming the variable. Started by
//! hand, it explains how to run it (exit 2) whether the secret is set or not.

use std::process::Command;

#[test]
fn exits_78_without_a_secret() {
    // As the supervisor starts it (the secret is checked before the socket is bound).
    let dir = std::env::temp_dir().join(format!("erp-webhook-test-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_erp-webhook"))
        .env_remove("ERP_WEBHOOK_SECRET")
        .env("CONVOTIC_PLUGIN_SOCKET", dir.join("plugin.sock"))
        .output()
        .expect("run erp-webhook");
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line: serde_json::Value = serde_json::from_str(stderr.trim()).expect("one JSON line");
    assert_eq!(line["level"], "error");
    assert!(
        line["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("ERP_WEBHOOK_SECRET"),
        "{stderr}"
    );
}

#[test]
fn started_by_hand_without_a_secret_it_explains_how_to_run_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_erp-webhook"))
        .env_remove("ERP_WEBHOOK_SECRET")
        .env_remove("CONVOTIC_PLUGIN_SOCKET")
        .output()
        .expect("run erp-webhook");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("convotic-supervisor run --config"));
}

#[test]
fn with_a_secret_it_is_an_ordinary_module() {
    // Started by hand (no supervisor socket) a module explains how to run it and exits with 2.
    let output = Command::new(env!("CARGO_BIN_EXE_erp-webhook"))
        .env("ERP_WEBHOOK_SECRET", "s")
        .env_remove("CONVOTIC_PLUGIN_SOCKET")
        .output()
        .expect("run erp-webhook");
    assert_eq!(output.status.code(), Some(2));
}
