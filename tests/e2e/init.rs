//! `init` against the real binary: for each language the scaffold builds as its manifest says
//! and deploys unchanged under the strict sandbox, and its route answers; bad input is refused
//! with a message that says what to do.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use convotic_e2e::packages::deploy;
use convotic_e2e::{binary, Supervisor};
use reqwest::Method;
use serde_json::Value;

fn init(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(binary("convotic-supervisor"))
        .arg("init")
        .args(args)
        .env_remove("CONVOTIC_SDK_DIR")
        .output()
        .expect("init");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn run(dir: &Path, program: &str, args: &[&str]) {
    run_with(dir, program, args, &[]);
}

fn run_with(dir: &Path, program: &str, args: &[&str], env: &[(&str, String)]) {
    let output = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} in {}: {}{}",
        dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn each_language_scaffolds_a_package_that_builds_and_deploys_unchanged() {
    let sup = Supervisor::start(&[], &[]);
    let root = sup.dir.path().join("authors");
    std::fs::create_dir_all(&root).expect("root");
    let key_workspace = "ws_authors";
    for (lang, name) in [
        ("python", "sync-py"),
        ("typescript", "sync-ts"),
        ("rust", "sync-rust"),
    ] {
        let dir = root.join(name);
        let dir_text = dir.display().to_string();
        let (code, stdout, stderr) = init(&[name, "--lang", lang, "--dir", &dir_text]);
        assert_eq!(code, 0, "{lang}: {stdout} {stderr}");
        assert!(stdout.contains("deploy --workspace"), "{stdout}");
        match lang {
            "typescript" => run(
                &dir,
                "npm",
                &["install", "--no-audit", "--no-fund", "--offline"],
            ),
            "rust" => {
                // The build shares the checkout's compiled dependencies, no network.
                convotic_e2e::share_workspace_build(&dir);
                run(&dir, "cargo", &["build", "--offline"]);
            }
            _ => {}
        }
        // The scaffold's own test runs it under the real supervisor (its SDK's test helper).
        let supervisor = binary("convotic-supervisor");
        let python_path = format!("{0}/sdk/src:{0}/sdk/.deps", dir.display());
        let test_env = [
            ("CONVOTIC_SUPERVISOR", supervisor.display().to_string()),
            ("PYTHONPATH", python_path),
        ];
        match lang {
            "python" => run_with(
                &dir,
                "/usr/bin/python3",
                &[
                    "-m",
                    "pytest",
                    "-p",
                    "no:cacheprovider",
                    "-q",
                    "test_module.py",
                ],
                &test_env,
            ),
            "typescript" => run_with(&dir, "npm", &["test"], &test_env),
            _ => run_with(&dir, "cargo", &["test", "--offline"], &test_env),
        }
        let (code, answer, stderr) = deploy(&sup, key_workspace, &dir);
        assert_eq!(code, 0, "{lang}: {answer} {stderr}");
        let declared = &answer["module"];
        for kind in ["routes", "workers", "nodes", "crons"] {
            assert_eq!(
                declared[kind].as_array().map(Vec::len),
                Some(1),
                "{lang}: one {kind}: {declared}"
            );
        }
    }
    let key = sup.create_key(key_workspace);
    for name in ["sync-py", "sync-ts", "sync-rust"] {
        let status = sup.wait_state(name, "ready", Duration::from_secs(30));
        assert_eq!(status["sandbox"]["profile"], "strict", "{status}");
        let response = sup
            .http(Method::GET, &format!("/v1/modules/{name}/hello/world"))
            .header("x-api-key", &key)
            .send()
            .expect("route");
        assert_eq!(response.status().as_u16(), 200, "{name}");
        let body: Value = response.json().expect("json");
        assert_eq!(body["hello"], "world", "{name}: {body}");
    }
}

#[test]
fn init_refuses_bad_names_unknown_languages_and_busy_directories() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().display().to_string();
    let (code, _, stderr) = init(&["Bad_Name", "--lang", "rust", "--dir", &dir]);
    assert_eq!(code, 1);
    assert!(stderr.contains("not a module name"), "{stderr}");
    let (code, _, stderr) = init(&["fine", "--lang", "cobol", "--dir", &dir]);
    assert_eq!(code, 1);
    assert!(stderr.contains("rust, typescript, python"), "{stderr}");
    std::fs::write(tmp.path().join("keep-me"), "mine").expect("file");
    let (code, _, stderr) = init(&["fine", "--lang", "rust", "--dir", &dir]);
    assert_eq!(code, 1);
    assert!(stderr.contains("not empty"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("keep-me")).expect("kept"),
        "mine"
    );
}
