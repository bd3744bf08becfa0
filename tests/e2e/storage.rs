//! The supervisor's storage under a full disk, a read-only remount and a power cut, run as root
//! on real filesystems mounted inside each test's temp dir: a small tmpfs, or an ext4 image on a
//! loop device (`errors=remount-ro`, failed on purpose through
//! `/sys/fs/ext4/<dev>/trigger_fs_error`, which aborts the journal and drops whatever was not
//! on the device yet, as a power cut would). Every mount and loop device is undone by a `Drop`
//! guard, also when a test fails.
//!
//! * a full disk answers 503 `storage_full` with `Retry-After` (publish and contact writes),
//!   `/readyz` says so, `convotic_storage_status` too; freeing space heals it; a start on a
//!   full disk says "no space left on device";
//! * a filesystem remounted read-only answers 503 `storage_read_only`, and a start on it says
//!   "read-only file system";
//! * every publish answered 202 is still there after the power cut (fsck, remount).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use convotic_e2e::{binary, Supervisor};
use reqwest::Method;
use serde_json::{json, Value};

/// Runs a command; panics with its output when it fails.
fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A filesystem mounted at `<dir>/data`; unmounted (and the loop device detached) on drop,
/// then the temp dir is removed.
struct Mounted {
    root: PathBuf,
    mount_point: PathBuf,
    loop_device: Option<String>,
}

impl Mounted {
    /// A tmpfs of `size` (e.g. `8m`) at `<dir>/data`.
    fn tmpfs(dir: &Path, size: &str) -> Self {
        let mount_point = dir.join("data");
        std::fs::create_dir_all(&mount_point).unwrap();
        let guard = Mounted {
            root: dir.to_path_buf(),
            mount_point: mount_point.clone(),
            loop_device: None,
        };
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
                mount_point.to_str().unwrap(),
            ],
        );
        guard
    }

    /// An ext4 image of `mib` MiB (in `dir`) on a loop device at `<dir>/data`, mounted with
    /// `errors=remount-ro` and a long commit interval (nothing reaches the device unless it is
    /// fsynced).
    fn ext4(dir: &Path, mib: u64) -> Self {
        let image = dir.join("disk.img");
        std::fs::File::create(&image)
            .unwrap()
            .set_len(mib << 20)
            .unwrap();
        run("mkfs.ext4", &["-q", "-F", image.to_str().unwrap()]);
        let device = run("losetup", &["-f", "--show", image.to_str().unwrap()]);
        let mount_point = dir.join("data");
        std::fs::create_dir_all(&mount_point).unwrap();
        let guard = Mounted {
            root: dir.to_path_buf(),
            mount_point,
            loop_device: Some(device),
        };
        guard.mount();
        guard
    }

    fn device(&self) -> &str {
        self.loop_device.as_deref().expect("a loop device")
    }

    fn mount(&self) {
        run(
            "mount",
            &[
                "-o",
                "errors=remount-ro,commit=300",
                self.device(),
                self.mount_point.to_str().unwrap(),
            ],
        );
    }

    /// Fails the ext4 filesystem now: the journal is aborted, the filesystem remounted
    /// read-only, and what was not written to the device is lost.
    fn fail(&self) {
        let name = Path::new(self.device()).file_name().unwrap();
        let trigger = Path::new("/sys/fs/ext4")
            .join(name)
            .join("trigger_fs_error");
        std::fs::write(&trigger, "1").expect("trigger_fs_error");
    }

    fn unmount(&self) {
        let point = self.mount_point.to_str().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Command::new("umount")
            .arg(point)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| !s.success())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn is_mounted(&self) -> bool {
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let point = self.mount_point.to_str().unwrap();
        mounts.lines().any(|l| l.split(' ').nth(1) == Some(point))
    }

    /// Writes a filler file until the filesystem is full; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.mount_point.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0x5au8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let small = [0x5au8; 512];
        while file.write_all(&small).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        self.unmount();
        if self.is_mounted() {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.mount_point)
                .status();
        }
        if let Some(device) = &self.loop_device {
            let _ = Command::new("losetup").args(["-d", device]).status();
        }
        if !self.is_mounted() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// A temp dir kept (not removed by `TempDir`'s drop): [`Mounted`] removes it after unmounting.
fn test_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("cvt-e2e-storage")
        .tempdir()
        .unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}

/// Starts a supervisor (no modules) in `dir`, whose `data` is already mounted, with the
/// workspace `ws_test`.
fn start(dir: tempfile::TempDir) -> Supervisor {
    let sup = Supervisor::start_in(dir, &[], &[], &[], "");
    let (code, _, stderr) = sup.cli(&["workspaces", "create", "--id", "ws_test"]);
    assert_eq!(code, 0, "workspaces create: {stderr}");
    sup
}

/// Publishes one message; returns (status, Retry-After, body).
fn publish(sup: &Supervisor, key: &str, id: &str, payload: Value) -> (u16, Option<String>, Value) {
    let response = sup
        .http(Method::POST, "/v1/topics/orders.created/messages")
        .header("x-api-key", key)
        .json(&json!({"payload": payload, "message_id": id}))
        .send()
        .expect("publish");
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, retry, response.json().unwrap_or(Value::Null))
}

fn create_contact(sup: &Supervisor, key: &str, name: &str) -> (u16, Option<String>, Value) {
    let response = sup
        .http(Method::POST, "/v1/contacts")
        .header("x-api-key", key)
        .json(&json!({"name": "Ada", "attributes": {"note": name}}))
        .send()
        .expect("contact");
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, retry, response.json().unwrap_or(Value::Null))
}

fn metrics(sup: &Supervisor) -> String {
    sup.http(Method::GET, "/metrics")
        .bearer_auth(&sup.token)
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default()
}

/// Asserts a 503 with `Retry-After` and the error code `code`.
fn assert_storage_503(what: &str, answer: &(u16, Option<String>, Value), code: &str) {
    let (status, retry, body) = answer;
    assert_eq!(*status, 503, "{what}: {body}");
    assert!(retry.is_some(), "{what}: no Retry-After: {body}");
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
}

/// Starts the supervisor binary on `sup`'s config (after it stopped) and expects it to fail;
/// returns its output.
fn failed_start(config: &Path) -> String {
    let mut child = Command::new(binary("convotic-supervisor"))
        .arg("run")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "the supervisor started on a broken disk: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_full_disk_answers_503_storage_full_and_heals() {
    if !is_root() {
        eprintln!("skipped: needs root to mount a tmpfs");
        return;
    }
    let (dir, path) = test_dir();
    let mount = Mounted::tmpfs(&path, "12m");
    let mut sup = start(dir);
    let key = sup.create_key("ws_test");
    assert_eq!(publish(&sup, &key, "before", json!({"n": 0})).0, 202);

    let filler = mount.fill();
    let big = "x".repeat(32 * 1024);
    let mut full = None;
    for i in 0..400 {
        let answer = publish(&sup, &key, &format!("m-{i}"), json!({"pad": big}));
        assert_ne!(answer.0, 500, "publish {i} on a full disk: {}", answer.2);
        if answer.0 != 202 {
            full = Some(answer);
            break;
        }
    }
    let full = full.expect("publishing never failed on a full disk");
    assert_storage_503("publish", &full, "storage_full");
    let message = full.2["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("no space left on device"), "{message}");
    let contact = (0..50)
        .map(|i| create_contact(&sup, &key, &format!("{big}{i}")))
        .find(|a| a.0 != 201)
        .expect("contact writes never failed on a full disk");
    assert_storage_503("contact", &contact, "storage_full");

    let (status, ready) = sup.get("/readyz");
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["storage"]["status"], "full", "{ready}");
    assert_eq!(ready["storage"]["code"], "storage_full", "{ready}");
    let exposition = metrics(&sup);
    assert!(
        exposition.contains("convotic_storage_status{state=\"full\"} 1"),
        "{exposition}"
    );
    assert_eq!(sup.get("/healthz").0, 200);

    // Space freed: writes and readiness come back.
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(publish(&sup, &key, "after", json!({"n": 1})).0, 202);
    assert_eq!(sup.get("/readyz").0, 200);
    assert!(metrics(&sup).contains("convotic_storage_status{state=\"ok\"} 1"));

    // A start on a full disk names the cause.
    sup.signal(nix::sys::signal::Signal::SIGTERM);
    sup.wait_exit(Duration::from_secs(30)).expect("stops");
    let _ = std::fs::remove_file(sup.data_dir().join("supervisor.json"));
    // The database must be created anew: SQLite is the first to meet the full disk (it says
    // "disk I/O error" or "database or disk is full").
    for file in ["convotic.db", "convotic.db-wal", "convotic.db-shm"] {
        let _ = std::fs::remove_file(sup.data_dir().join(file));
    }
    mount.fill();
    let output = failed_start(&sup.config_path());
    assert!(
        output.contains("convotic.db: no space left on device"),
        "start on a full disk: {output}"
    );
    drop(sup);
    drop(mount);
}

#[test]
fn a_read_only_remount_answers_503_storage_read_only() {
    if !is_root() {
        eprintln!("skipped: needs root to mount an ext4 image");
        return;
    }
    let (dir, path) = test_dir();
    let mount = Mounted::ext4(&path, 64);
    let mut sup = start(dir);
    let key = sup.create_key("ws_test");
    assert_eq!(publish(&sup, &key, "before", json!({"n": 0})).0, 202);

    mount.fail();
    let answer = publish(&sup, &key, "after", json!({"n": 1}));
    assert_storage_503("publish", &answer, "storage_read_only");
    assert_storage_503(
        "contact",
        &create_contact(&sup, &key, "Ada"),
        "storage_read_only",
    );
    let (status, ready) = sup.get("/readyz");
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["storage"]["status"], "read_only", "{ready}");
    assert!(metrics(&sup).contains("convotic_storage_status{state=\"read_only\"} 1"));

    sup.signal(nix::sys::signal::Signal::SIGKILL);
    sup.wait_exit(Duration::from_secs(30)).expect("killed");
    let output = failed_start(&sup.config_path());
    assert!(
        output.to_lowercase().contains("read-only file system"),
        "start on a read-only disk: {output}"
    );
    drop(sup);
    drop(mount);
}

#[test]
fn every_acknowledged_publish_survives_a_power_cut() {
    if !is_root() {
        eprintln!("skipped: needs root to mount an ext4 image");
        return;
    }
    let (dir, path) = test_dir();
    let mount = Mounted::ext4(&path, 64);
    let mut sup = start(dir);
    let key = sup.create_key("ws_test");
    let acknowledged: Vec<String> = (0..40)
        .map(|i| {
            let id = format!("durable-{i}");
            let (status, _, body) = publish(&sup, &key, &id, json!({"n": i}));
            assert_eq!(status, 202, "{body}");
            id
        })
        .collect();
    // The power cut: nothing more reaches the device.
    mount.fail();
    sup.signal(nix::sys::signal::Signal::SIGKILL);
    sup.wait_exit(Duration::from_secs(30)).expect("killed");
    mount.unmount();
    assert!(!mount.is_mounted(), "cannot unmount after the failure");
    // fsck exits 1 (errors corrected) or 0; 4 and above are failures.
    let fsck = Command::new("fsck.ext4")
        .args(["-f", "-y", mount.device()])
        .output()
        .unwrap();
    assert!(
        fsck.status.code().is_some_and(|c| c < 4),
        "fsck: {}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    mount.mount();
    let db = rusqlite::Connection::open(sup.data_dir().join("convotic.db")).unwrap();
    let stored: Vec<String> = db
        .prepare("SELECT message_id FROM queue_messages WHERE message_id LIKE 'durable-%'")
        .and_then(|mut stmt| {
            stmt.query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap_or_default();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged messages lost in the power cut: {missing:?}",
        missing.len(),
        acknowledged.len()
    );
    drop(db);
    drop(sup);
    drop(mount);
}
