//! The boundary between a module and the supervisor at spawn time, against the hostile
//! `runtime-*` modes of the misbehaving fixture (see its hostile_runtime.rs), run by the real
//! binary (as root here, so sandboxed modules get their own host uids):
//!
//! * a module that puts a link to another instance's socket at its own plugin socket (a
//!   symbolic link under `strict`, a hard link under `none`) is refused and never served by
//!   the victim; instance ids are random and runtime dirs private;
//! * a module starts with stdin, stdout and stderr only, and a forged status written into
//!   inherited pipes does not turn its crash into a clean exit;
//! * a FIFO or links planted where the sandbox report used to be read are never opened: the
//!   gateway keeps answering and no host file shows up in the admin API;
//! * the sandbox spec is not on the spawn helper's command line.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use convotic_e2e::{ModuleEntry, Supervisor};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(40);

/// `CONVOTIC_PLUGIN_SOCKET` of a running module, from its environment.
fn plugin_socket_of(pid: i64) -> PathBuf {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    environ
        .split(|b| *b == 0)
        .filter_map(|v| std::str::from_utf8(v).ok())
        .find_map(|v| v.strip_prefix("CONVOTIC_PLUGIN_SOCKET="))
        .map(PathBuf::from)
        .expect("CONVOTIC_PLUGIN_SOCKET in the module's environment")
}

fn status_in(sup: &Supervisor, workspace: &str, name: &str) -> Value {
    let (code, body) = sup.get(&format!("/admin/v1/modules/{name}?workspace={workspace}"));
    assert_eq!(code, 200, "{workspace}/{name}: {body}");
    body
}

fn module_data_dir(sup: &Supervisor, workspace: &str, name: &str) -> PathBuf {
    sup.data_dir().join("modules").join(workspace).join(name)
}

fn in_workspace(entry: ModuleEntry, workspace: &str) -> ModuleEntry {
    ModuleEntry {
        workspace: workspace.into(),
        ..entry
    }
}

/// Hands the victim's socket path to an attacker (it waits for the file in its data dir).
fn hand_target(sup: &Supervisor, workspace: &str, name: &str, target: &Path) {
    let dir = module_data_dir(sup, workspace, name);
    sup.wait_until(LONG, "the attacker's data dir", |_| dir.is_dir());
    let file = dir.join("steal-target");
    std::fs::write(&file, target.display().to_string()).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
}

#[test]
fn a_module_cannot_have_its_socket_served_by_another_instance() {
    let modules = [
        in_workspace(ModuleEntry::fixture("m", "ok"), "ws_victim"),
        in_workspace(
            ModuleEntry::fixture("m", "runtime-steal-socket").with("start_timeout = \"60s\""),
            "ws_symlink",
        ),
        in_workspace(
            ModuleEntry::fixture("m", "runtime-steal-socket")
                .env("HOSTILE_LINK", "hard")
                .with("sandbox = \"none\"")
                .with("start_timeout = \"60s\""),
            "ws_hardlink",
        ),
    ];
    let sup = Supervisor::start(&modules, &[]);
    sup.wait_until(LONG, "the victim ready", |s| {
        status_in(s, "ws_victim", "m")["state"] == "ready"
    });
    let victim = status_in(&sup, "ws_victim", "m");
    let socket = plugin_socket_of(victim["pid"].as_i64().expect("victim pid"));

    // Random instance ids, a private root, a private instance dir owned by the module's uid.
    let instance_dir = socket.parent().unwrap();
    let id = instance_dir.file_name().unwrap().to_str().unwrap();
    assert_eq!(victim["instance"], id, "{victim}");
    assert!(
        id.len() >= 11 && !id[1..].bytes().all(|b| b.is_ascii_digit()),
        "instance id {id} is guessable"
    );
    let root = std::fs::metadata(instance_dir.parent().unwrap()).unwrap();
    assert_eq!(root.mode() & 0o777, 0o700, "runtime root mode");
    assert_eq!(root.uid(), 0, "runtime root owner");
    let own = std::fs::metadata(instance_dir).unwrap();
    assert_eq!(own.mode() & 0o777, 0o700, "instance dir mode");
    assert_eq!(
        own.uid(),
        convotic_supervisor::sandbox::spec::sandbox_uid("ws_victim", "m"),
        "instance dir owner"
    );

    hand_target(&sup, "ws_symlink", "m", &socket);
    hand_target(&sup, "ws_hardlink", "m", &socket);
    for (workspace, expected) in [
        ("ws_symlink", "symbolic link"),
        ("ws_hardlink", "not a process of this instance"),
    ] {
        let mut last = Value::Null;
        sup.wait_until(LONG, &format!("{workspace}'s socket to be refused"), |s| {
            last = status_in(s, workspace, "m");
            assert_ne!(
                last["state"], "ready",
                "{workspace}/m became ready through another instance's socket: {last}"
            );
            last["last_error"]
                .as_str()
                .is_some_and(|e| e.contains(expected))
        });
        println!("{workspace}: {}", last["last_error"]);
    }
    // The victim was never disturbed.
    let after = status_in(&sup, "ws_victim", "m");
    assert_eq!(after["state"], "ready", "{after}");
    assert_eq!(after["restarts"], 0, "{after}");
}

/// The fds a `runtime-list-fds` module recorded at the start of `main`.
fn recorded_fds(sup: &Supervisor, name: &str) -> Vec<Value> {
    let file = module_data_dir(sup, "ws_test", name).join("fds.json");
    sup.wait_until(LONG, &format!("{name} to record its fds"), |_| {
        std::fs::read(&file).is_ok_and(|b| !b.is_empty())
    });
    serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap()
}

#[test]
fn modules_inherit_only_the_standard_streams_and_the_spec_is_not_on_argv() {
    let modules = [
        ModuleEntry::fixture("strict", "runtime-list-fds"),
        ModuleEntry::fixture("none", "runtime-list-fds").with("sandbox = \"none\""),
    ];
    let sup = Supervisor::start(&modules, &[]);
    for name in ["strict", "none"] {
        let status = sup.wait_state(name, "ready", LONG);
        let fds = recorded_fds(&sup, name);
        let numbers: Vec<i64> = fds.iter().filter_map(|f| f["fd"].as_i64()).collect();
        assert_eq!(
            numbers,
            vec![0, 1, 2],
            "{name} inherited more than the standard streams: {fds:?}"
        );
        // Neither the helper nor the namespace's PID 1 carries the sandbox spec in argv.
        let helper = status["helper_pid"].as_i64().expect("helper pid") as i32;
        let module = status["pid"].as_i64().unwrap_or(0) as i32;
        let mut carriers = vec![helper];
        carriers.extend(
            convotic_supervisor::process::tree::descendants_of(helper)
                .into_iter()
                .filter(|p| *p != module),
        );
        for pid in carriers {
            let cmdline = convotic_e2e::cmdline(pid);
            for leaked in ["read_exec", "\"profile\"", "hostname", "cgroup_procs"] {
                assert!(
                    !cmdline.contains(leaked),
                    "pid {pid}'s command line shows the sandbox spec: {cmdline}"
                );
            }
        }
    }
    let strict = sup.module("strict");
    assert_eq!(strict["sandbox"]["profile"], "strict", "{strict}");
}

#[test]
fn a_forged_status_does_not_turn_a_crash_into_a_clean_exit() {
    let modules = [
        ModuleEntry::fixture("strict", "runtime-forge-status")
            .env("MISBEHAVE_N", "2500")
            .with("restart = \"on-failure\""),
        ModuleEntry::fixture("none", "runtime-forge-status")
            .env("MISBEHAVE_N", "2500")
            .with("restart = \"on-failure\"")
            .with("sandbox = \"none\""),
    ];
    let sup = Supervisor::start(&modules, &[]);
    for name in ["strict", "none"] {
        let mut last = Value::Null;
        sup.wait_until(
            Duration::from_secs(60),
            &format!("{name} to be restarted after exiting with code 3"),
            |s| {
                last = s.module(name);
                let says_3 = ["last_exit", "last_error"].iter().any(|field| {
                    last[*field]
                        .as_str()
                        .is_some_and(|t| t.contains("exited with code 3"))
                });
                says_3 && last["restarts"].as_u64().unwrap_or(0) >= 1
            },
        );
        assert_ne!(last["state"], "stopped", "{last}");
        println!("{name}: {last}");
    }
}

#[test]
fn files_planted_in_the_runtime_dir_are_never_read() {
    let secret_dir = tempfile::tempdir().unwrap();
    let secret = secret_dir.path().join("host-secret.json");
    // Valid report JSON, so a supervisor that read it would show it.
    std::fs::write(
        &secret,
        r#"{"profile":"strict","namespaces":[],"private_root":false,"uid_inside":0,"uid_host":0,"privileges_dropped":false,"rlimits":[],"cgroup":[],"landlock":"HOST-SECRET-7f3a","seccomp":"HOST-SECRET-7f3a"}"#,
    )
    .unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let modules = [
        ModuleEntry::fixture("fifo", "runtime-plant-fifo"),
        ModuleEntry::fixture("link", "runtime-plant-link")
            .env("HOSTILE_TARGET", secret.to_str().unwrap()),
        ModuleEntry::fixture("fifo-none", "runtime-plant-fifo").with("sandbox = \"none\""),
    ];
    let sup = Supervisor::start(&modules, &[]);
    for name in ["fifo", "link", "fifo-none"] {
        let status = sup.wait_state(name, "ready", LONG);
        // The plant really stands there.
        let socket = plugin_socket_of(status["pid"].as_i64().expect("pid"));
        let planted = std::fs::symlink_metadata(socket.with_file_name("sandbox.json"))
            .unwrap_or_else(|e| panic!("{name} planted nothing: {e}"));
        assert!(
            planted.file_type().is_fifo() || planted.file_type().is_symlink(),
            "{name}: {planted:?}"
        );
    }
    for _ in 0..5 {
        assert_eq!(sup.get("/healthz").0, 200);
        assert_eq!(sup.get("/metrics").0, 200);
        let (code, all) = sup.get("/admin/v1/modules");
        assert_eq!(code, 200);
        assert!(
            !all.to_string().contains("HOST-SECRET"),
            "a host file shows in the admin API: {all}"
        );
    }
    let link = sup.module("link");
    assert_eq!(link["sandbox"]["profile"], "strict", "{link}");
    assert_eq!(link["sandbox"]["private_root"], true, "{link}");
    let fifo = sup.module("fifo");
    assert_eq!(fifo["sandbox"]["seccomp"], "enforced", "{fifo}");
}

#[test]
fn a_link_to_dev_zero_in_the_runtime_dir_is_never_read() {
    let modules = [ModuleEntry::fixture("zero", "runtime-plant-zero")];
    let sup = Supervisor::start(&modules, &[]);
    let status = sup.wait_state("zero", "ready", LONG);
    assert_eq!(status["sandbox"]["profile"], "strict", "{status}");
    assert_eq!(sup.get("/healthz").0, 200);
    assert_eq!(sup.get("/metrics").0, 200);
}
