//! `ps`, `logs` and `restart`: clients of a running supervisor's admin API.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::discovery::read_endpoint;
use super::Target;
use crate::gateway::admin_token;

/// A connection to a running supervisor's admin API.
pub(super) struct Admin {
    pub(super) base: String,
    pub(super) credential: Credential,
    pub(super) http: reqwest::Client,
    pub(super) runtime: tokio::runtime::Runtime,
}

/// How a client proves who it is.
pub(super) enum Credential {
    /// The admin token (`Authorization: Bearer`).
    Bearer(String),
    /// A workspace API key (`X-API-Key`), e.g. one with the deploy scope.
    Key(String),
}

impl Admin {
    /// Finds the supervisor of `target` and reads its admin token.
    pub(super) fn connect(target: &Target) -> Result<Self, String> {
        let data_dir = data_dir(target)?;
        let endpoint = read_endpoint(&data_dir).map_err(|e| {
            format!(
                "no running supervisor found for data dir {} ({e}); start one with `convotic-supervisor run --config <file>`",
                data_dir.display()
            )
        })?;
        if !endpoint.is_running() {
            return Err(not_running(&data_dir, &endpoint));
        }
        let token = admin_token::read(&data_dir)
            .map_err(|e| format!("cannot read the admin token in {}: {e}", data_dir.display()))?;
        Self::at(
            &format!("http://{}", endpoint.listen),
            Credential::Bearer(token),
        )
    }

    /// A client of the supervisor at `base` (e.g. `http://127.0.0.1:8080`).
    pub(super) fn at(base: &str, credential: Credential) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            base: base.to_string(),
            credential,
            http,
            runtime,
        })
    }

    /// Adds the credential to a request.
    pub(super) fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credential {
            Credential::Bearer(token) => request.bearer_auth(token),
            Credential::Key(key) => request.header("x-api-key", key),
        }
    }

    /// Calls `path`; the JSON answer, or the error message of a failed request.
    pub(super) fn call(&self, method: reqwest::Method, path: &str) -> Result<Value, String> {
        self.call_within(method, path, Duration::from_secs(10))
    }

    /// Like [`Self::call`], waiting up to `timeout` for the answer.
    pub(super) fn call_within(
        &self,
        method: reqwest::Method,
        path: &str,
        timeout: Duration,
    ) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        self.runtime.block_on(async {
            let response = self
                .authorize(self.http.request(method, &url))
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| format!("cannot reach the supervisor at {}: {e}", self.base))?;
            let status = response.status();
            let body: Value = response
                .json()
                .await
                .map_err(|e| format!("bad answer from the supervisor: {e}"))?;
            if status.is_success() {
                Ok(body)
            } else {
                Err(body["error"]["message"]
                    .as_str()
                    .unwrap_or("request failed")
                    .to_string())
            }
        })
    }
}

/// Says that the supervisor recorded in the discovery file is gone, and how to start one.
fn not_running(data_dir: &std::path::Path, endpoint: &super::Endpoint) -> String {
    let started = endpoint
        .started_at_ms
        .map(|ms| format!(", started {}", format_time(ms)))
        .unwrap_or_default();
    format!(
        "the supervisor recorded in {} (pid {}{started}, listening on {}) is not running: it \
         stopped without cleaning up (killed or crashed). Start it again with \
         `convotic-supervisor run --config <file>`",
        data_dir.join(super::discovery::FILE_NAME).display(),
        endpoint.pid,
        endpoint.listen
    )
}

/// The data dir `target` names (`--data-dir`, the config's `data_dir`, or `./data`).
pub(super) fn data_dir(target: &Target) -> Result<PathBuf, String> {
    if let Some(dir) = &target.data_dir {
        return Ok(dir.clone());
    }
    if let Some(config) = &target.config {
        return crate::config::load_for_clients(config)
            .map(|c| c.data_dir)
            .map_err(|e| e.to_string());
    }
    Ok(PathBuf::from("./data"))
}

/// Where `target`'s records live: the data dir's SQLite file, or the configured PostgreSQL
/// database (`[store] url`).
pub(super) enum StoreLocation {
    /// `<data_dir>/convotic.db`.
    Sqlite(PathBuf),
    /// `[store]`'s URL and connection limit.
    Postgres(String, usize),
}

impl StoreLocation {
    /// The location of a resolved configuration.
    pub(super) fn of(config: &crate::config::ResolvedConfig) -> Self {
        match &config.store_url {
            Some(url) => StoreLocation::Postgres(url.clone(), config.store_max_connections),
            None => StoreLocation::Sqlite(config.data_dir.join(crate::store::DB_FILE)),
        }
    }

    /// Opens the store (creating and migrating it).
    pub(super) async fn open(&self) -> Result<crate::store::Store, String> {
        match self {
            StoreLocation::Sqlite(path) => {
                crate::store::Store::open(path).map_err(|e| e.to_string())
            }
            StoreLocation::Postgres(url, max) => crate::store::Store::open_postgres(url, *max)
                .await
                .map_err(|e| e.to_string()),
        }
    }
}

/// Where `target`'s records live (see [`StoreLocation`]).
pub(super) fn store_location(target: &Target) -> Result<StoreLocation, String> {
    if let (None, Some(config)) = (&target.data_dir, &target.config) {
        let config = crate::config::load_for_clients(config).map_err(|e| e.to_string())?;
        return Ok(StoreLocation::of(&config));
    }
    let dir = data_dir(target)?;
    if let Some(postgres) = super::discovery::postgres_store_of(&dir) {
        return Err(format!(
            "the supervisor of {} keeps its records in PostgreSQL ({postgres}): pass --config \
             with its config file so this command reaches that database",
            dir.display()
        ));
    }
    Ok(StoreLocation::Sqlite(dir.join(crate::store::DB_FILE)))
}

/// Prints `message` as an error; exit code 1.
pub(super) fn fail(message: String) -> i32 {
    eprintln!("error: {message}");
    1
}

fn module_query(workspace: Option<&str>) -> String {
    workspace
        .map(|w| format!("?workspace={w}"))
        .unwrap_or_default()
}

/// `ps --cluster`: every live node sharing the store, with its modules.
pub fn ps_cluster(target: &Target, json: bool) -> i32 {
    let admin = match Admin::connect(target) {
        Ok(admin) => admin,
        Err(e) => return fail(e),
    };
    let body = match admin.call(reqwest::Method::GET, "/admin/v1/cluster") {
        Ok(body) => body,
        Err(e) => return fail(e),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        );
        return 0;
    }
    let nodes = body["nodes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if body["shared_store"] == false {
        println!("(a single node: this supervisor's store is its own SQLite file)");
    }
    for node in nodes {
        println!(
            "NODE {}  {}  v{}  {} modules",
            node["id"].as_str().unwrap_or("?"),
            node["address"].as_str().unwrap_or("?"),
            node["version"].as_str().unwrap_or("?"),
            node["modules"].as_array().map_or(0, Vec::len)
        );
        print!(
            "{}",
            format_table(
                node["modules"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
            )
        );
        println!();
    }
    0
}

/// `ps`.
pub fn ps(target: &Target, json: bool) -> i32 {
    let admin = match Admin::connect(target) {
        Ok(admin) => admin,
        Err(e) => return fail(e),
    };
    let body = match admin.call(reqwest::Method::GET, "/admin/v1/modules") {
        Ok(body) => body,
        Err(e) => return fail(e),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        );
        return 0;
    }
    print!(
        "{}",
        format_table(
            body["modules"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
        )
    );
    0
}

/// The `ps` table.
fn format_table(modules: &[Value]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut out = format!(
        "{:<16} {:<24} {:<14} {:>8} {:>8} {:>9} {:<28} {:<40} {}\n",
        "WORKSPACE",
        "MODULE",
        "STATE",
        "PID",
        "RESTARTS",
        "UPTIME",
        "MANIFEST",
        "SOURCE",
        "LAST ERROR"
    );
    for m in modules {
        let uptime = m["ready_since_ms"]
            .as_u64()
            .filter(|_| m["state"] == "ready")
            .map(|since| {
                humantime::format_duration(Duration::from_secs(now.saturating_sub(since) / 1000))
                    .to_string()
            })
            .unwrap_or_else(|| "-".into());
        let manifest = match &m["manifest"] {
            Value::Null => "-".to_string(),
            man => format!(
                "v{} {}r {}w {}n {}b {}c",
                man["version"].as_str().unwrap_or("?"),
                count(&man["routes"]),
                count(&man["workers"]),
                count(&man["nodes"]),
                count(&man["blocks"]),
                count(&man["crons"])
            ),
        };
        let replicas = m["replicas"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let state = if replicas.len() > 1 {
            let ready = replicas.iter().filter(|r| r["state"] == "ready").count();
            format!(
                "{} {ready}/{}",
                m["state"].as_str().unwrap_or(""),
                replicas.len()
            )
        } else {
            m["state"].as_str().unwrap_or("").to_string()
        };
        let source = match m["package_version"].as_str() {
            Some(version) => format!("{} ({version})", m["source"].as_str().unwrap_or("")),
            None => m["source"].as_str().unwrap_or("config").to_string(),
        };
        out.push_str(&format!(
            "{:<16} {:<24} {:<14} {:>8} {:>8} {:>9} {:<28} {:<40} {}\n",
            m["workspace"].as_str().unwrap_or(""),
            m["name"].as_str().unwrap_or(""),
            state,
            m["pid"]
                .as_i64()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            m["restarts"].as_u64().unwrap_or(0),
            uptime,
            manifest,
            source,
            problem(m, now)
        ));
    }
    out
}

/// The `LAST ERROR` cell: the next attempt of a module waiting to restart, what keeps it down,
/// or (once it recovered) its last failure with when it happened.
fn problem(m: &Value, now: u64) -> String {
    let ago = |at: u64| {
        humantime::format_duration(Duration::from_secs(now.saturating_sub(at) / 1000)).to_string()
    };
    let mut cell = String::new();
    if let Some(next) = m["next_attempt_ms"].as_u64() {
        let wait = Duration::from_secs(next.saturating_sub(now).div_ceil(1000));
        cell.push_str(&format!(
            "next attempt in {} (at {}); ",
            humantime::format_duration(wait),
            format_time(next)
        ));
    }
    if let Some(error) = m["last_error"].as_str() {
        cell.push_str(error);
    } else if let Some(failure) = m["last_failure"].as_str() {
        let when = m["last_failure_at_ms"]
            .as_u64()
            .map(|at| format!(" {} ago, at {}", ago(at), format_time(at)))
            .unwrap_or_default();
        cell.push_str(&format!("(recovered) last failure{when}: {failure}"));
    }
    cell
}

fn count(v: &Value) -> usize {
    v.as_array().map(Vec::len).unwrap_or(0)
}

/// `logs`.
pub fn logs(
    target: &Target,
    module: &str,
    workspace: Option<&str>,
    lines: usize,
    follow: bool,
) -> i32 {
    let admin = match Admin::connect(target) {
        Ok(admin) => admin,
        Err(e) => return fail(e),
    };
    let base = format!("/admin/v1/modules/{module}/logs{}", module_query(workspace));
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut path = format!("{base}{sep}limit={lines}");
    loop {
        let body = match admin.call(reqwest::Method::GET, &path) {
            Ok(body) => body,
            Err(e) => return fail(e),
        };
        let mut last = None;
        for line in body["lines"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            println!(
                "{} {:<10} {:<4} {}",
                line["ts_ms"].as_u64().map(format_time).unwrap_or_default(),
                line["stream"].as_str().unwrap_or(""),
                line["instance"].as_str().unwrap_or(""),
                line["text"].as_str().unwrap_or("")
            );
            last = line["seq"].as_u64();
        }
        if !follow {
            return 0;
        }
        if let Some(seq) = last {
            path = format!("{base}{sep}after={seq}&limit=10000");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `ms` since the Unix epoch as RFC 3339 (UTC, milliseconds).
pub(super) fn format_time(ms: u64) -> String {
    let time = std::time::UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_millis(time).to_string()
}

/// `restart`.
pub fn restart(target: &Target, module: &str, workspace: Option<&str>) -> i32 {
    let admin = match Admin::connect(target) {
        Ok(admin) => admin,
        Err(e) => return fail(e),
    };
    let path = format!(
        "/admin/v1/modules/{module}/restart{}",
        module_query(workspace)
    );
    match admin.call(reqwest::Method::POST, &path) {
        Ok(_) => {
            println!("restarting {module}");
            0
        }
        Err(e) => fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ps_shows_the_next_attempt_and_a_recovered_modules_last_failure() {
        let now = 1_800_000_000_000;
        let looping = json!({
            "state": "crash-loop",
            "last_error": "crash loop (...); last: the module exited with code 3",
            "next_attempt_ms": now + 90_000,
        });
        let cell = problem(&looping, now);
        assert!(cell.starts_with("next attempt in 1m 30s (at "), "{cell}");
        assert!(cell.ends_with("exited with code 3"), "{cell}");
        let recovered = json!({
            "state": "ready",
            "last_error": null,
            "last_failure": "crash loop (...)",
            "last_failure_at_ms": now - 120_000,
        });
        let cell = problem(&recovered, now);
        assert!(
            cell.starts_with("(recovered) last failure 2m ago, at "),
            "{cell}"
        );
        assert!(cell.ends_with(": crash loop (...)"), "{cell}");
        assert_eq!(problem(&json!({"state": "ready"}), now), "");
        let table = format_table(&[looping]);
        assert!(table.contains("crash-loop"), "{table}");
    }
}
