//! Which supervisor a deployment command talks to, and with which credential: the one of a
//! config file or data dir on this host (its admin token read from the data dir), or any
//! supervisor by `--url` with the admin token in `CONVOTIC_ADMIN_TOKEN` or a workspace deploy
//! key in `CONVOTIC_DEPLOY_KEY` (`keys create --scope deploy`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::Value;

use super::client::{Admin, Credential};
use super::Target;

/// A supervisor on this host (`--config`, `--data-dir`) or anywhere (`--url`).
#[derive(Debug, Args)]
pub struct RemoteTarget {
    /// The supervisor's config file (its data dir locates the running supervisor and its
    /// admin token).
    #[arg(long, short, env = "CONVOTIC_CONFIG", conflicts_with_all = ["data_dir", "url"])]
    config: Option<PathBuf>,
    /// The supervisor's data dir (default ./data).
    #[arg(long, conflicts_with = "url")]
    data_dir: Option<PathBuf>,
    /// The supervisor's address, e.g. http://10.0.0.5:8080 (credential: CONVOTIC_ADMIN_TOKEN
    /// or CONVOTIC_DEPLOY_KEY).
    #[arg(long, env = "CONVOTIC_URL")]
    url: Option<String>,
    /// A workspace API key with the deploy scope (instead of the admin token).
    #[arg(long, env = "CONVOTIC_DEPLOY_KEY", hide_env_values = true)]
    key: Option<String>,
}

/// Environment variable holding the admin token for `--url`.
pub const ADMIN_TOKEN_ENV: &str = "CONVOTIC_ADMIN_TOKEN";

impl RemoteTarget {
    /// Connects to the supervisor this names.
    pub(super) fn connect(&self) -> Result<Admin, String> {
        let key = self.key.clone().filter(|k| !k.trim().is_empty());
        if let Some(url) = &self.url {
            let credential = match (key, std::env::var(ADMIN_TOKEN_ENV).ok()) {
                (Some(key), _) => Credential::Key(key.trim().to_string()),
                (None, Some(token)) if !token.trim().is_empty() => {
                    Credential::Bearer(token.trim().to_string())
                }
                _ => {
                    return Err(format!(
                        "--url needs a credential: the admin token in {ADMIN_TOKEN_ENV}, or a deploy key (--key or CONVOTIC_DEPLOY_KEY; create one with `convotic-supervisor keys create --scope deploy --workspace <ws>`)"
                    ))
                }
            };
            return Admin::at(url.trim_end_matches('/'), credential);
        }
        let local = Target {
            config: self.config.clone(),
            data_dir: self.data_dir.clone(),
        };
        let mut admin = Admin::connect(&local)?;
        if let Some(key) = key {
            admin.credential = Credential::Key(key.trim().to_string());
        }
        Ok(admin)
    }
}

/// A request body with its headers.
pub(super) struct Upload {
    /// The bytes.
    pub(super) bytes: Vec<u8>,
    /// Headers describing them (digest, content type).
    pub(super) headers: Vec<(&'static str, String)>,
}

/// An answer of the admin API: its status and JSON body.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: Value,
}

impl Answer {
    /// The error message of a failed call.
    pub(super) fn message(&self) -> String {
        self.body["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("the supervisor answered {}", self.status))
    }

    /// Whether the call succeeded.
    pub(super) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Admin {
    /// Sends a request with an optional body and headers; the answer whatever its status.
    pub(super) fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Upload>,
        timeout: Duration,
    ) -> Result<Answer, String> {
        let url = format!("{}{path}", self.base);
        self.runtime.block_on(async {
            let mut request = self
                .authorize(self.http.request(method, &url))
                .timeout(timeout);
            if let Some(upload) = body {
                for (name, value) in upload.headers {
                    request = request.header(name, value);
                }
                request = request.body(upload.bytes);
            }
            let response = request
                .send()
                .await
                .map_err(|e| format!("cannot reach the supervisor at {}: {e}", self.base))?;
            let status = response.status().as_u16();
            let body: Value = response
                .json()
                .await
                .map_err(|e| format!("bad answer from the supervisor ({status}): {e}"))?;
            Ok(Answer { status, body })
        })
    }
}
