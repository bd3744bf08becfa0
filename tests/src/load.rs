//! Steady route load for the switch tests: keep-alive callers of a module's `/whoami` that
//! count answers by status and by the instance that answered.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::Supervisor;

/// One `GET /v1/modules/{module}/whoami` (the fixture's instance id and `FIXTURE_VERSION`);
/// panics unless it answers 200.
pub fn whoami(sup: &Supervisor, key: &str, module: &str) -> Value {
    let response = sup
        .http(
            reqwest::Method::GET,
            &format!("/v1/modules/{module}/whoami"),
        )
        .header("x-api-key", key)
        .send()
        .expect("whoami");
    assert_eq!(response.status().as_u16(), 200);
    response.json().expect("json")
}

/// Keep-alive callers hitting `/whoami` until `stop`; counts answers by status and version.
pub struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    instances: Arc<Mutex<std::collections::BTreeSet<String>>>,
    versions: Arc<Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// What the callers saw.
#[derive(Debug)]
pub struct LoadReport {
    /// 2xx answers.
    pub ok: u64,
    /// Every other answer or error, as text.
    pub failures: Vec<String>,
    /// Distinct instances that answered.
    pub instances: usize,
    /// The `version` of each answer at which it changed from the previous one, in order.
    pub version_changes: Vec<String>,
}

impl Load {
    /// Starts `callers` threads calling `GET /v1/modules/{module}/whoami` with `key`.
    pub fn start(sup: &Supervisor, key: &str, module: &str, callers: usize) -> Self {
        Self::on(sup, key, &format!("/v1/modules/{module}/whoami"), callers)
    }

    /// Starts `callers` threads calling `GET {path}` with `key`.
    pub fn on(sup: &Supervisor, key: &str, path: &str, callers: usize) -> Self {
        Self::at(&sup.base, key, path, callers)
    }

    /// Starts `callers` threads calling `GET {base}{path}` with `key`.
    pub fn at(base: &str, key: &str, path: &str, callers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let instances = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
        let versions = Arc::new(Mutex::new(Vec::new()));
        let url = format!("{base}{path}");
        let threads = (0..callers)
            .map(|_| {
                let (stop, ok, failures, instances, versions) = (
                    Arc::clone(&stop),
                    Arc::clone(&ok),
                    Arc::clone(&failures),
                    Arc::clone(&instances),
                    Arc::clone(&versions),
                );
                let (url, key) = (url.clone(), key.to_string());
                std::thread::spawn(move || {
                    let client = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(10))
                        .build()
                        .expect("client");
                    while !stop.load(Ordering::Relaxed) {
                        match client.get(&url).header("x-api-key", &key).send() {
                            Ok(r) if r.status().is_success() => {
                                let body: Value = r.json().unwrap_or(Value::Null);
                                let instance = body["instance"].as_str().unwrap_or("?");
                                instances.lock().unwrap().insert(instance.to_string());
                                let version = body["version"].as_str().unwrap_or("?").to_string();
                                let mut seen = versions.lock().unwrap();
                                if seen.last() != Some(&version) {
                                    seen.push(version);
                                }
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(r) => {
                                let status = r.status();
                                let text = r.text().unwrap_or_default();
                                failures.lock().unwrap().push(format!("{status} {text}"));
                            }
                            Err(e) => failures.lock().unwrap().push(e.to_string()),
                        }
                    }
                })
            })
            .collect();
        Self {
            stop,
            ok,
            failures,
            instances,
            versions,
            threads,
        }
    }

    /// Stops the callers and reports what they saw.
    pub fn finish(self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
        let failures = self.failures.lock().unwrap().clone();
        let instances = self.instances.lock().unwrap().len();
        let version_changes = self.versions.lock().unwrap().clone();
        LoadReport {
            ok: self.ok.load(Ordering::Relaxed),
            failures,
            instances,
            version_changes,
        }
    }
}
