//! `dev publish|invoke|cron|connect|sign`: the other extension points of the module running
//! under `dev`, reached through its private supervisor (found from the package's
//! `.convotic/supervisor.toml`, with the key `dev` created). Each prints the module's answer; a
//! topic, node, cron or block the module does not declare is refused naming the ones it does.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::config::WORKSPACE;

/// What a helper does.
pub enum Action {
    /// Publish `payload` on `topic`.
    Publish { topic: String, payload: String },
    /// Invoke node `node_type` with `input`.
    Invoke { node_type: String, input: String },
    /// Run cron `name` now.
    Cron { name: String },
    /// Create a connection of block `block` with `config`.
    Connect { block: String, config: String },
    /// Print a curl calling `route` with `body` signed with `secret`.
    Sign {
        route: String,
        body: String,
        secret: String,
        method: String,
        header: String,
    },
}

/// The module under `dev` in `dir`, as its private supervisor sees it.
struct Running {
    base: String,
    key: String,
    name: String,
    manifest: Value,
    http: reqwest::blocking::Client,
}

/// Runs a helper; returns the exit code.
pub fn run(dir: &Path, action: Action) -> i32 {
    match locate(dir).and_then(|running| act(&running, action)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn locate(dir: &Path) -> Result<Running, String> {
    let dir = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let config_path = dir.join(".convotic").join("supervisor.toml");
    let not_running = || {
        format!(
            "no dev supervisor for {}: start `convotic-supervisor dev {}` first (in another terminal)",
            dir.display(),
            dir.display()
        )
    };
    let config = crate::config::load_for_clients(&config_path).map_err(|_| not_running())?;
    let name = config
        .modules
        .first()
        .map(|m| m.name.clone())
        .ok_or_else(not_running)?;
    let key =
        std::fs::read_to_string(config.data_dir.join("api-key")).map_err(|_| not_running())?;
    let token = crate::gateway::admin_token::read(&config.data_dir).map_err(|_| not_running())?;
    let base = format!("http://{}", config.listen);
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let status: Value = http
        .get(format!(
            "{base}/admin/v1/modules/{name}?workspace={WORKSPACE}"
        ))
        .bearer_auth(token)
        .send()
        .and_then(|r| r.json())
        .map_err(|_| not_running())?;
    Ok(Running {
        base,
        key: key.trim().to_string(),
        manifest: status["manifest"].clone(),
        name,
        http,
    })
}

fn act(running: &Running, action: Action) -> Result<(), String> {
    match action {
        Action::Publish { topic, payload } => {
            declared(running, "workers", "topic", &topic, "worker topic")?;
            let payload = json(&payload)?;
            running.post(
                &format!("/v1/topics/{topic}/messages"),
                serde_json::json!({"payload": payload}),
            )
        }
        Action::Invoke { node_type, input } => {
            declared(running, "nodes", "type", &node_type, "node")?;
            let input = json(&input)?;
            running.post(
                &format!("/v1/nodes/{node_type}/invoke"),
                serde_json::json!({"input": input}),
            )
        }
        Action::Cron { name } => {
            declared(running, "crons", "name", &name, "cron")?;
            running.post(
                &format!("/v1/crons/{}/{name}/run", running.name),
                Value::Null,
            )
        }
        Action::Connect { block, config } => {
            declared(running, "blocks", "id", &block, "block")?;
            let config = json(&config)?;
            running.post(
                &format!("/v1/blocks/{block}/connections"),
                serde_json::json!({"name": "dev", "config": config}),
            )
        }
        Action::Sign {
            route,
            body,
            secret,
            method,
            header,
        } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            let signature = sign(&secret, now, body.as_bytes());
            let path = if route.starts_with('/') {
                route
            } else {
                format!("/{route}")
            };
            println!(
                "curl -s -X {method} {}/v1/workspaces/{WORKSPACE}/modules/{}{path} -H 'content-type: application/json' -H '{header}: {signature}' -d '{}'",
                running.base,
                running.name,
                body.replace('\'', "'\\''")
            );
            Ok(())
        }
    }
}

impl Running {
    /// POSTs `body` with the dev key and prints the status and answer.
    fn post(&self, path: &str, body: Value) -> Result<(), String> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("x-api-key", &self.key);
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let text = response.text().unwrap_or_default();
        let shown = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or(text);
        println!("{status}\n{shown}");
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("the supervisor answered {status}"))
        }
    }
}

/// Refuses a name the module does not declare, listing those it does.
fn declared(
    running: &Running,
    list: &str,
    field: &str,
    wanted: &str,
    what: &str,
) -> Result<(), String> {
    let names: Vec<String> = running.manifest[list]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e[field].as_str().map(str::to_string))
        .collect();
    if names.iter().any(|n| n == wanted) {
        return Ok(());
    }
    Err(if names.is_empty() {
        format!("{} declares no {what}", running.name)
    } else {
        format!(
            "{} declares no {what} {wanted:?}; it has: {}",
            running.name,
            names.join(", ")
        )
    })
}

fn json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not JSON ({e}): {text}"))
}

/// The signature header value of the SDKs' webhook scheme (see [`crate::signature`]).
pub fn sign(secret: &str, t_ms: u64, body: &[u8]) -> String {
    crate::signature::sign(secret, t_ms, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_has_the_sdks_form() {
        let value = sign(
            "current-secret",
            1_700_000_000_000,
            br#"{"event":"order.paid"}"#,
        );
        assert!(value.starts_with("t=1700000000000,v1="), "{value}");
        assert_eq!(value.len(), "t=1700000000000,v1=".len() + 64);
        assert_ne!(
            value,
            sign(
                "other-secret",
                1_700_000_000_000,
                br#"{"event":"order.paid"}"#
            )
        );
    }
}
