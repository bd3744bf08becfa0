//! The sandbox end to end, against hostile fixture modules run by the real binary under the
//! default `strict` profile: every escape attempt of `GET /escape/sandbox` fails (reading the
//! supervisor's database and admin token, /root, another module's dir, /etc/shadow; writing
//! outside the data dir and /tmp; TCP to a nats-server on loopback; seeing or signalling host
//! processes; ptrace; mount; loading a kernel module; unsharing a namespace; raising an rlimit),
//! a fork bomb stops at the pids limit, an allocation past the memory limit is reported as an
//! OOM kill, children die with their module, a `relaxed` module can open a TCP connection, and
//! python3 and node run inside `strict`. The supervisor stays healthy throughout.
//!
//! Layers exercised on a host like the CI machine (root, cgroup v1): user/mount/pid/ipc/uts/net
//! namespaces, pivot_root, capabilities, rlimits, cgroup memory and pids, seccomp, Landlock
//! (partially enforced on older kernel ABIs). The first test prints `doctor`'s view of the host.

use std::time::Duration;

use convotic_e2e::nats::NatsServer;
use convotic_e2e::{ModuleEntry, Supervisor};
use reqwest::Method;
use serde_json::Value;

const LONG: Duration = Duration::from_secs(30);

fn send(request: reqwest::blocking::RequestBuilder) -> (u16, Value) {
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn get(sup: &Supervisor, key: &str, path: &str) -> (u16, Value) {
    send(
        sup.http(Method::GET, path)
            .header("x-api-key", key)
            .timeout(Duration::from_secs(60)),
    )
}

fn healthy(sup: &Supervisor) {
    assert_eq!(sup.get("/healthz").0, 200, "the supervisor is not healthy");
}

#[test]
fn strict_modules_cannot_escape() {
    let nats = NatsServer::start();
    let modules = [
        ModuleEntry::fixture("fixture", "ok")
            .env("PROBE_TCP_PORT", &nats.port().to_string())
            .env("PROBE_HOST_PID", &nats.pid().unwrap().to_string()),
        ModuleEntry::fixture("other", "ok"),
        ModuleEntry::fixture("relaxed", "ok")
            .env("PROBE_TCP_PORT", &nats.port().to_string())
            .with("sandbox = \"relaxed\""),
    ];
    let sup = Supervisor::start(&modules, &[]);
    sup.wait_until(LONG, "every module ready", |s| s.get("/readyz").0 == 200);
    let key = sup.create_key("ws_test");
    // Write something into the other module's dir so there is something to find.
    std::fs::write(
        sup.data_dir().join("modules/ws_test/other/secret.txt"),
        "other module's data",
    )
    .unwrap();

    let (code, doctor, _) = sup.cli(&["doctor"]);
    println!("doctor (exit {code}):\n{doctor}");

    // What the module got, as reported.
    let status = sup.module("fixture");
    let sandbox = &status["sandbox"];
    println!("fixture sandbox: {sandbox}");
    assert_eq!(sandbox["profile"], "strict", "{status}");
    for namespace in ["user", "mount", "pid", "ipc", "uts", "net"] {
        assert!(
            sandbox["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n == namespace),
            "{namespace} namespace missing: {sandbox}"
        );
    }
    assert_eq!(sandbox["private_root"], true);
    assert_eq!(sandbox["privileges_dropped"], true);
    assert_eq!(sandbox["seccomp"], "enforced");

    let (status, probes) = get(&sup, &key, "/v1/modules/fixture/escape/sandbox");
    assert_eq!(status, 200, "{probes}");
    println!("probes: {probes:#}");
    for forbidden in [
        "read_supervisor_db",
        "read_admin_token",
        "list_root_home",
        "list_other_module_dir",
        "read_etc_shadow",
        "write_module_dir",
        "write_etc",
        "write_usr",
        "tcp_connect_loopback",
        "see_many_processes",
        "signal_host_process",
        "ptrace",
        "mount",
        "load_kernel_module",
        "unshare_user_namespace",
        "raise_rlimit",
    ] {
        assert_eq!(
            probes[forbidden]["ok"], false,
            "{forbidden} succeeded from inside the sandbox: {}",
            probes[forbidden]
        );
    }
    for allowed in ["write_data_dir", "write_tmp"] {
        assert_eq!(
            probes[allowed]["ok"], true,
            "{allowed}: {}",
            probes[allowed]
        );
    }
    assert_ne!(
        probes["uid"]["detail"], "0",
        "the module runs as root inside"
    );
    healthy(&sup);

    // The relaxed profile keeps the host network.
    let (status, relaxed) = get(&sup, &key, "/v1/modules/relaxed/escape/sandbox");
    assert_eq!(status, 200, "{relaxed}");
    assert_eq!(
        relaxed["tcp_connect_loopback"]["ok"], true,
        "relaxed cannot connect: {}",
        relaxed["tcp_connect_loopback"]
    );
    assert_eq!(relaxed["read_supervisor_db"]["ok"], false);
    assert_eq!(sup.module("relaxed")["sandbox"]["profile"], "relaxed");
    healthy(&sup);
}

#[test]
fn limits_hold_and_children_die_with_their_module() {
    let modules = [
        ModuleEntry::fixture("bomber", "ok").with("pids = 48"),
        ModuleEntry::fixture("hog", "ok").with("memory = \"64MiB\""),
        ModuleEntry::fixture("parent", "spawn-children")
            .env("MISBEHAVE_PIDFILE", "/tmp/children.pids")
            .with("restart = \"never\""),
    ];
    let sup = Supervisor::start(&modules, &[]);
    sup.wait_until(LONG, "every module ready", |s| s.get("/readyz").0 == 200);
    let key = sup.create_key("ws_test");

    // A fork bomb stops at the pids limit; the module and the supervisor carry on.
    let (status, bomb) = get(&sup, &key, "/v1/modules/bomber/escape/fork-bomb");
    assert_eq!(status, 200, "{bomb}");
    let spawned = bomb["spawned"].as_u64().unwrap();
    assert!(spawned < 48, "{bomb}");
    assert!(!bomb["stopped_by"].as_str().unwrap().is_empty(), "{bomb}");
    assert_eq!(get(&sup, &key, "/v1/modules/bomber/ping").0, 200);
    healthy(&sup);

    // Within its memory limit a module allocates; past it, it is OOM-killed and reported so.
    let (status, small) = get(&sup, &key, "/v1/modules/hog/escape/allocate/16");
    assert_eq!(status, 200, "{small}");
    let (status, big) = get(&sup, &key, "/v1/modules/hog/escape/allocate/256");
    assert_eq!(status, 502, "{big}");
    sup.wait_until(LONG, "the OOM kill to be reported", |s| {
        s.module("hog")["last_exit"]
            .as_str()
            .is_some_and(|e| e.contains("out of memory"))
    });
    println!("hog: {}", sup.module("hog")["last_error"]);
    sup.wait_state("hog", "ready", LONG);
    healthy(&sup);

    // Children (one escaped into its own session) die when their module stops.
    let helper = sup.module("parent")["helper_pid"].as_i64().unwrap() as i32;
    let tree = convotic_supervisor::process::tree::descendants_of(helper);
    let sleepers: Vec<i32> = tree
        .iter()
        .copied()
        .filter(|pid| convotic_e2e::cmdline(*pid).contains("sleep"))
        .collect();
    assert_eq!(
        sleepers.len(),
        2,
        "expected two sleeping children in {tree:?}"
    );
    let (code, _, stderr) = sup.cli(&["restart", "parent"]);
    assert_eq!(code, 0, "{stderr}");
    let survivors = convotic_e2e::wait_all_dead(&sleepers, LONG);
    assert!(
        survivors.is_empty(),
        "children outlived their module: {survivors:?}"
    );
    healthy(&sup);
}

#[test]
fn interpreters_run_under_strict() {
    let sup = Supervisor::start(&[ModuleEntry::fixture("fixture", "ok")], &[]);
    sup.wait_state("fixture", "ready", LONG);
    let key = sup.create_key("ws_test");
    for (interpreter, language) in [("python3", "python"), ("node", "node")] {
        let (status, body) = get(
            &sup,
            &key,
            &format!("/v1/modules/fixture/escape/run/{interpreter}"),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["status"], 0,
            "{interpreter} failed inside the sandbox: {body}"
        );
        assert_eq!(body["output"]["language"], language, "{body}");
        assert_eq!(body["output"]["uid"], 1000, "{body}");
    }
    assert_eq!(sup.module("fixture")["sandbox"]["profile"], "strict");
}

#[test]
fn profile_none_is_logged_and_unsandboxed() {
    let sup = Supervisor::start(
        &[ModuleEntry::fixture("bare", "ok").with("sandbox = \"none\"")],
        &[],
    );
    sup.wait_state("bare", "ready", LONG);
    assert!(sup.module("bare")["sandbox"].is_null());
    assert!(
        sup.log().contains("WITHOUT a sandbox"),
        "no warning for profile none:\n{}",
        sup.log()
    );
    let key = sup.create_key("ws_test");
    // Only the harmless probe: without a sandbox the full one would write into /etc and /usr.
    let (_, probe) = get(&sup, &key, "/v1/modules/bare/escape/read-supervisor-db");
    assert_eq!(probe["ok"], true, "{probe}");
}

/// Without cgroups (`[supervisor] cgroups = false`, or a host without them), rlimits stand in:
/// `RLIMIT_AS` for memory and `RLIMIT_NPROC` for processes; the sandbox report says so.
#[test]
fn without_cgroups_rlimits_stand_in() {
    let sup = Supervisor::start_full(
        &[ModuleEntry::fixture("hog", "ok")
            .with("memory = \"256MiB\"")
            .with("pids = 48")],
        &[],
        &[],
        "# no cgroups",
    );
    sup.wait_state("hog", "ready", LONG);
    let key = sup.create_key("ws_test");
    let sandbox = sup.module("hog")["sandbox"].clone();
    assert_eq!(sandbox["cgroup"], serde_json::json!([]), "{sandbox}");
    let rlimits = sandbox["rlimits"].to_string();
    assert!(
        rlimits.contains("as=268435456") && rlimits.contains("nproc=48"),
        "{sandbox}"
    );
    let (status, bomb) = get(&sup, &key, "/v1/modules/hog/escape/fork-bomb");
    assert_eq!(status, 200, "{bomb}");
    assert!(bomb["spawned"].as_u64().unwrap() < 48, "{bomb}");
    // Past RLIMIT_AS the allocation fails and the module dies (Rust aborts); it comes back.
    let (status, body) = get(&sup, &key, "/v1/modules/hog/escape/allocate/400");
    assert_eq!(status, 502, "{body}");
    sup.wait_until(LONG, "the module to be restarted", |s| {
        let status = s.module("hog");
        status["state"] == "ready" && status["restarts"].as_u64() >= Some(1)
    });
    healthy(&sup);
}

/// io_uring and AF_VSOCK are denied by seccomp under `strict` and `relaxed`, and neither
/// profile reaches an abstract Unix socket of the host (`strict`: its own network namespace;
/// `relaxed`: the Landlock scope, where the kernel has it).
#[test]
fn io_uring_vsock_and_host_abstract_sockets_are_closed() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};

    let name = format!("convotic-e2e-abstract-{}", std::process::id());
    let _host_socket =
        UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
            .expect("abstract socket on the host");
    let modules = [
        ModuleEntry::fixture("strictmod", "ok").env("PROBE_ABSTRACT_SOCKET", &name),
        ModuleEntry::fixture("relaxedmod", "ok")
            .env("PROBE_ABSTRACT_SOCKET", &name)
            .with("sandbox = \"relaxed\""),
    ];
    let sup = Supervisor::start(&modules, &[]);
    sup.wait_until(LONG, "every module ready", |s| s.get("/readyz").0 == 200);
    let key = sup.create_key("ws_test");
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    for module in ["strictmod", "relaxedmod"] {
        let (status, probes) = get(&sup, &key, &format!("/v1/modules/{module}/escape/sandbox"));
        assert_eq!(status, 200, "{probes}");
        for denied in ["io_uring_setup", "vsock_socket", "vsock_socketpair"] {
            assert_eq!(
                probes[denied],
                serde_json::json!({"ok": false, "detail": "EPERM"}),
                "{module}: {denied}"
            );
        }
        assert_eq!(
            probes["abstract_unix_connect"]["ok"], false,
            "{module} reached the host's abstract socket (kernel {kernel}): {}",
            probes["abstract_unix_connect"]
        );
    }
    // Under relaxed it is the Landlock scope that refuses (EPERM), not a missing socket.
    let (_, probes) = get(&sup, &key, "/v1/modules/relaxedmod/escape/sandbox");
    assert_eq!(probes["abstract_unix_connect"]["detail"], "EPERM");
    healthy(&sup);
}
