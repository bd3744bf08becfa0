//! The Block connection flow: the block catalog, creating a connection (configuration checked
//! against the block's schema, then tested by the module, stored only if the test passes),
//! listing and reading connections (secret fields never included), re-testing, deleting, and
//! calling an action with the decrypted configuration.
//!
//! Secret fields are split from the configuration before it is stored and sealed as one JSON
//! object; the associated data binds the ciphertext to (workspace, connection id, block).

use convotic_proto::plugin::v1::{
    invocation, outcome, BlockActionCall, BlockTestConnection, BlockTestResult, Connection,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use warp::http::StatusCode;

use super::catalog::{list_blocks, resolve_block, BlockTarget};
use super::failure::{bad_answer, Callee};
use super::schema::CheckInput;
use super::{parse_body, Answer, ApiError, CallInfo, Integrations};
use crate::secrets::{Keyring, Sealed, SecretsError};
use crate::store::{new_connection_id, Store, StoreError, StoredConnection};

/// The expected body of `POST /v1/blocks/{id}/connections`.
pub const CREATE_SHAPE: &str = r#"{"name"?: "Main account", "config": {...}}"#;
/// The expected body of an action call.
pub const ACTION_SHAPE: &str = r#"{"input": <JSON>}"#;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    #[serde(default)]
    name: Option<String>,
    config: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionRequest {
    #[serde(default)]
    input: Value,
}

/// The associated data sealing a connection's secrets.
fn associated_data(workspace: &str, id: &str, block: &str) -> Vec<u8> {
    format!("convotic.connection.v1\0{workspace}\0{id}\0{block}").into_bytes()
}

fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "connection_not_found", m),
        StoreError::InvalidArgument(m) => ApiError::bad_request(m),
        StoreError::Conflict(m) | StoreError::FailedPrecondition(m) => {
            ApiError::new(StatusCode::CONFLICT, "conflict", m)
        }
        StoreError::Internal(m) => {
            tracing::error!("store error: {m}");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", m).retryable(true)
        }
        StoreError::Storage { fault, message } => {
            tracing::warn!("store error: {message}");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, fault.code(), message).retryable(true)
        }
    }
}

fn secrets_error(connection: &str, error: SecretsError) -> ApiError {
    let code = match &error {
        SecretsError::MissingKey { .. } => "secret_key_missing",
        SecretsError::Undecryptable { .. } => "secret_undecryptable",
        SecretsError::KeyDir(_) => "secret_keys_unusable",
    };
    tracing::error!(connection, "{error}");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        code,
        format!("connection {connection}: {error}"),
    )
    .retryable(false)
}

/// The API's view of a stored connection: no secret value, ever; the names of the secret
/// fields that are set are listed under `secrets`.
fn view(stored: &StoredConnection, also_secret: &[String]) -> Value {
    let config: Map<String, Value> = stored
        .config
        .iter()
        .filter(|(k, _)| !also_secret.contains(k) && !stored.secret_fields.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    json!({
        "id": stored.id,
        "block": stored.block_id,
        "name": stored.name,
        "config": config,
        "secrets": stored.secret_fields,
        "key_id": stored.sealed.as_ref().map(|s| s.key_id.clone()),
        "account_label": stored.account_label,
        "created_at_ms": stored.created_at_ms,
        "updated_at_ms": stored.updated_at_ms,
        "last_test": {
            "ok": stored.last_test_ok,
            "message": stored.last_test_message,
            "tested_at_ms": stored.last_tested_at_ms,
        },
    })
}

impl Integrations {
    /// `GET /v1/blocks`.
    pub fn list_blocks(&self, workspace: &str) -> Answer {
        Answer::ok(list_blocks(&self.supervisor, workspace))
    }

    /// `GET /v1/blocks/{id}`.
    pub fn get_block(&self, workspace: &str, block: &str) -> Result<Answer, ApiError> {
        Ok(Answer::ok(
            resolve_block(&self.supervisor, workspace, block)?.view(),
        ))
    }

    /// Secret field names the block's current definition declares (Ready or not), so a field
    /// that became secret in a newer version is hidden in old connections too.
    fn declared_secrets(&self, workspace: &str, block: &str) -> Vec<String> {
        self.supervisor
            .modules()
            .iter()
            .filter(|m| m.workspace == workspace)
            .filter_map(|m| m.declared())
            .flat_map(|declared| {
                let manifest = &declared.manifest;
                manifest
                    .blocks
                    .iter()
                    .filter(|b| b.id == block)
                    .flat_map(|b| b.secret_fields.clone())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// `POST /v1/blocks/{id}/connections`: validate, test, seal, store.
    pub async fn create_connection(
        &self,
        workspace: &str,
        block_id: &str,
        body: &[u8],
        call: &CallInfo,
    ) -> Result<Answer, ApiError> {
        let request: CreateRequest = parse_body(body, CREATE_SHAPE)?;
        let target = resolve_block(&self.supervisor, workspace, block_id)?;
        let block = &target.block;
        let Value::Object(config) = request.config else {
            return Err(ApiError::bad_request("config: must be a JSON object"));
        };
        let name = request
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| {
                if block.name.is_empty() {
                    block.id.clone()
                } else {
                    block.name.clone()
                }
            });
        let Some(schema) = target.module.schemas().connection(&block.id) else {
            return Err(bad_answer(
                &format!("block {}", block.id),
                target.module.name(),
                "its schemas are unavailable".into(),
            ));
        };
        let config_value = Value::Object(config);
        let problems = schema.check(&config_value, &block.secret_fields);
        if !problems.is_empty() {
            return Err(ApiError::invalid(
                "invalid_config",
                "the connection config",
                problems,
            ));
        }
        let Value::Object(config) = config_value else {
            unreachable!("checked above")
        };
        let candidate = Connection {
            id: String::new(),
            block_id: block.id.clone(),
            config_json: Value::Object(config.clone()).to_string().into_bytes(),
        };
        let result = self.run_test(&target, candidate, call).await?;
        if !result.ok {
            let reason = if result.message.is_empty() {
                "the module gave no reason".to_string()
            } else {
                result.message.clone()
            };
            let mut error = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "connection_test_failed",
                format!("the connection test failed: {reason}; nothing was stored"),
            );
            error.details = Some(json!({ "reason": reason }));
            return Err(error);
        }
        let id = new_connection_id();
        let (public, secret): (Map<String, Value>, Map<String, Value>) = config
            .into_iter()
            .partition(|(k, _)| !block.secret_fields.contains(k));
        let secret_fields: Vec<String> = secret.keys().cloned().collect();
        let sealed = if secret.is_empty() {
            None
        } else {
            let plaintext = Value::Object(secret).to_string();
            Some(
                self.keyring
                    .seal(
                        plaintext.as_bytes(),
                        &associated_data(workspace, &id, &block.id),
                    )
                    .map_err(|e| secrets_error(&id, e))?,
            )
        };
        let stored = self
            .store
            .connection_insert(StoredConnection {
                id,
                workspace: workspace.to_string(),
                block_id: block.id.clone(),
                name,
                config: public,
                secret_fields,
                sealed,
                account_label: result.account_label.clone(),
                created_at_ms: 0,
                updated_at_ms: 0,
                last_tested_at_ms: 0,
                last_test_ok: true,
                last_test_message: result.message.clone(),
            })
            .await
            .map_err(store_error)?;
        tracing::info!(workspace, block = %block.id, connection = %stored.id, "connection created");
        Ok(Answer {
            status: StatusCode::CREATED,
            body: view(&stored, &block.secret_fields),
        })
    }

    /// `GET /v1/blocks/{id}/connections`.
    pub async fn list_connections(&self, workspace: &str, block: &str) -> Result<Answer, ApiError> {
        let secrets = self.declared_secrets(workspace, block);
        let connections = self
            .store
            .connection_list(workspace, block)
            .await
            .map_err(store_error)?;
        let views: Vec<Value> = connections.iter().map(|c| view(c, &secrets)).collect();
        Ok(Answer::ok(json!({ "connections": views })))
    }

    /// `GET /v1/blocks/{id}/connections/{cid}`.
    pub async fn get_connection(
        &self,
        workspace: &str,
        block: &str,
        id: &str,
    ) -> Result<Answer, ApiError> {
        let stored = self
            .store
            .connection_get(workspace, block, id)
            .await
            .map_err(store_error)?;
        Ok(Answer::ok(view(
            &stored,
            &self.declared_secrets(workspace, block),
        )))
    }

    /// `DELETE /v1/blocks/{id}/connections/{cid}`.
    pub async fn delete_connection(
        &self,
        workspace: &str,
        block: &str,
        id: &str,
    ) -> Result<Answer, ApiError> {
        self.store
            .connection_delete(workspace, block, id)
            .await
            .map_err(store_error)?;
        tracing::info!(workspace, block, connection = id, "connection deleted");
        Ok(Answer {
            status: StatusCode::NO_CONTENT,
            body: Value::Null,
        })
    }

    /// `POST /v1/blocks/{id}/connections/{cid}/test`: tests the stored credentials again and
    /// records the result.
    pub async fn test_connection(
        &self,
        workspace: &str,
        block_id: &str,
        id: &str,
        call: &CallInfo,
    ) -> Result<Answer, ApiError> {
        let target = resolve_block(&self.supervisor, workspace, block_id)?;
        let connection = self.open_connection(workspace, block_id, id).await?;
        let result = self.run_test(&target, connection, call).await?;
        let stored = self
            .store
            .connection_record_test(
                workspace,
                block_id,
                id,
                result.ok,
                &result.message,
                &result.account_label,
            )
            .await
            .map_err(store_error)?;
        Ok(Answer::ok(json!({
            "ok": result.ok,
            "message": result.message,
            "account_label": result.account_label,
            "connection": view(&stored, &target.block.secret_fields),
        })))
    }

    /// `POST /v1/blocks/{id}/connections/{cid}/actions/{action}`.
    pub async fn call_action(
        &self,
        workspace: &str,
        block_id: &str,
        id: &str,
        action_name: &str,
        body: &[u8],
        call: &CallInfo,
    ) -> Result<Answer, ApiError> {
        let request: ActionRequest = parse_body(body, ACTION_SHAPE)?;
        let target = resolve_block(&self.supervisor, workspace, block_id)?;
        let module = target.module.name().to_string();
        let Some(action) = target.block.actions.iter().find(|a| a.name == action_name) else {
            let names: Vec<&str> = target
                .block
                .actions
                .iter()
                .map(|a| a.name.as_str())
                .collect();
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "action_not_found",
                format!(
                    "block {block_id:?} has no action {action_name:?}; its actions: {}",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        };
        let label = format!("action {block_id}.{action_name}");
        let Some((input_schema, output_schema)) =
            target.module.schemas().action(block_id, action_name)
        else {
            return Err(bad_answer(
                &label,
                &module,
                "its schemas are unavailable".into(),
            ));
        };
        input_schema.check_input(&request.input)?;
        let connection = self.open_connection(workspace, block_id, id).await?;
        let input_json = request.input.to_string().into_bytes();
        let options = call.options(action.timeout_ms, input_json.len());
        let kind = invocation::Kind::BlockAction(BlockActionCall {
            block_id: block_id.to_string(),
            action: action_name.to_string(),
            connection: Some(connection),
            input_json,
        });
        let callee = Callee {
            label: &label,
            module: &module,
            point: crate::outcomes::Point::Action,
        };
        let result = target
            .module
            .handle
            .invoke(&target.module.work, kind, options)
            .await;
        let handle = &target.module.handle;
        crate::metrics::global().block_invoked(
            [&handle.workspace, &handle.name, block_id, action_name],
            super::outcome_label(&result),
        );
        let answer = callee.expect(result, |r| match r {
            outcome::Result::BlockAction(answer) => Some(answer),
            _ => None,
        })?;
        let output = callee.output(&answer.output_json, output_schema)?;
        Ok(Answer::ok(json!({
            "output": output,
            "action": {"block": block_id, "name": action_name, "module": module},
        })))
    }

    /// A stored connection with its secrets decrypted, as handlers receive it.
    pub(super) async fn open_connection(
        &self,
        workspace: &str,
        block: &str,
        id: &str,
    ) -> Result<Connection, ApiError> {
        let stored = self
            .store
            .connection_get(workspace, block, id)
            .await
            .map_err(store_error)?;
        let mut config = stored.config;
        if let Some(sealed) = &stored.sealed {
            let plaintext = self
                .keyring
                .open_sealed(
                    sealed,
                    &associated_data(workspace, &stored.id, &stored.block_id),
                )
                .map_err(|e| secrets_error(&stored.id, e))?;
            let secret: Map<String, Value> = serde_json::from_slice(&plaintext).map_err(|e| {
                secrets_error(
                    &stored.id,
                    SecretsError::KeyDir(format!(
                        "the decrypted secrets are not a JSON object: {e}"
                    )),
                )
            })?;
            config.extend(secret);
        }
        Ok(Connection {
            id: stored.id,
            block_id: stored.block_id,
            config_json: Value::Object(config).to_string().into_bytes(),
        })
    }

    async fn run_test(
        &self,
        target: &BlockTarget,
        connection: Connection,
        call: &CallInfo,
    ) -> Result<BlockTestResult, ApiError> {
        let module = target.module.name().to_string();
        let label = format!("connection test of block {}", target.block.id);
        let options = call.options(target.block.test_timeout_ms, connection.config_json.len());
        let kind = invocation::Kind::BlockTest(BlockTestConnection {
            block_id: target.block.id.clone(),
            connection: Some(connection),
        });
        let callee = Callee {
            label: &label,
            module: &module,
            point: crate::outcomes::Point::BlockTest,
        };
        let result = target
            .module
            .handle
            .invoke(&target.module.work, kind, options)
            .await;
        let handle = &target.module.handle;
        crate::metrics::global().block_invoked(
            [
                &handle.workspace,
                &handle.name,
                &target.block.id,
                "test_connection",
            ],
            super::outcome_label(&result),
        );
        callee.expect(result, |r| match r {
            outcome::Result::BlockTest(result) => Some(result),
            _ => None,
        })
    }
}

/// Re-seals every connection whose secrets use another key than the active one (for
/// `convotic-supervisor secrets reencrypt`, so old keys can then be deleted). Returns how many
/// were re-sealed and a message per connection that could not be.
pub async fn reseal_all(
    store: &Store,
    keyring: &Keyring,
) -> Result<(usize, Vec<String>), StoreError> {
    let active = keyring.active_key_id().unwrap_or_default();
    let stale = store.connections_sealed_with_other_keys(&active).await?;
    let mut done = 0;
    let mut failed = Vec::new();
    for stored in stale {
        let Some(sealed) = &stored.sealed else {
            continue;
        };
        let aad = associated_data(&stored.workspace, &stored.id, &stored.block_id);
        let resealed: Result<Sealed, SecretsError> = keyring
            .open_sealed(sealed, &aad)
            .and_then(|plain| keyring.seal(&plain, &aad));
        match resealed {
            Ok(new) => {
                if store
                    .connection_reseal(&stored.id, &sealed.key_id, new)
                    .await?
                {
                    done += 1;
                }
            }
            Err(e) => failed.push(format!("{}: {e}", stored.id)),
        }
    }
    Ok((done, failed))
}
