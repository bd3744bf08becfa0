//! The catalog: nodes and blocks of the workspace's Ready modules, as the builder sees them,
//! and the lookups that pick the module serving a node version or a block.
//!
//! A module that is not Ready is not in the catalog. A lookup that finds the node or block only
//! in a module that is not Ready (restarting, failed) answers 503 naming the module and its
//! state, so a caller can tell "try again shortly" from "no such node".

use std::sync::Arc;

use convotic_proto::plugin::v1::{BlockDef, Manifest, NodeDef};
use convotic_proto::versions::compare_versions;
use serde_json::{json, Value};
use warp::http::StatusCode;

use super::schema::ModuleSchemas;
use super::ApiError;
use crate::outcomes::{http_answer, Failure, Point};
use crate::protocol::WorkClient;
use crate::supervision::{Declared, ModuleHandle, Supervisor};

/// A module that is Ready, with what its current instance declared.
#[derive(Clone)]
pub struct ReadyModule {
    /// The module.
    pub handle: Arc<ModuleHandle>,
    /// Its work client.
    pub work: WorkClient,
    /// What the same instance declared (manifest, schemas).
    pub declared: Arc<Declared>,
}

impl ReadyModule {
    /// The ready instance's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.declared.manifest
    }

    /// The ready instance's compiled schemas.
    pub fn schemas(&self) -> &ModuleSchemas {
        &self.declared.schemas
    }

    /// The module's name.
    pub fn name(&self) -> &str {
        &self.handle.name
    }
}

/// The Ready modules of `workspace`.
pub fn ready_modules(supervisor: &Supervisor, workspace: &str) -> Vec<ReadyModule> {
    supervisor
        .modules()
        .iter()
        .filter(|m| m.workspace == workspace)
        .filter_map(|handle| {
            let serving = handle.serving()?;
            Some(ReadyModule {
                work: serving.work,
                declared: serving.declared,
                handle: Arc::clone(handle),
            })
        })
        .collect()
}

/// Modules of `workspace` that are not Ready but whose last manifest matches `declares`:
/// `(name, state)`.
fn unready_providers(
    supervisor: &Supervisor,
    workspace: &str,
    declares: impl Fn(&Manifest) -> bool,
) -> Vec<(String, String)> {
    supervisor
        .modules()
        .iter()
        .filter(|m| m.workspace == workspace && m.work().is_none())
        .filter(|m| m.declared().is_some_and(|d| declares(&d.manifest)))
        .map(|m| {
            (
                m.name.clone(),
                format!("{:?}", m.status().state).to_lowercase(),
            )
        })
        .collect()
}

fn not_ready(what: String, providers: Vec<(String, String)>) -> ApiError {
    let list: Vec<String> = providers
        .iter()
        .map(|(name, state)| format!("{name} ({state})"))
        .collect();
    let answer = http_answer(Failure::Unavailable, Point::Node);
    ApiError::new(
        answer.status,
        answer.code,
        format!(
            "{what} is provided by module {}, which is not ready; retry shortly (see `convotic-supervisor ps`)",
            list.join(", ")
        ),
    )
    .retryable(true)
}

/// A schema text as JSON (`null` for "any value").
fn schema_value(text: &str) -> Value {
    if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(text).unwrap_or(Value::Null)
    }
}

/// The branches a node may take (`default` when it declares none).
pub fn node_branches(node: &NodeDef) -> Vec<String> {
    if node.branches.is_empty() {
        vec!["default".to_string()]
    } else {
        node.branches.clone()
    }
}

fn node_view(module: &ReadyModule, node: &NodeDef, latest: bool) -> Value {
    json!({
        "type": node.r#type,
        "version": node.version,
        "latest": latest,
        "display_name": node.display_name,
        "description": node.description,
        "category": node.category,
        "icon": node.icon,
        "input_schema": schema_value(&node.input_schema),
        "output_schema": schema_value(&node.output_schema),
        "branches": node_branches(node),
        "connection_block": if node.connection_block.is_empty() { Value::Null } else { json!(node.connection_block) },
        "timeout_ms": effective_timeout_ms(node.timeout_ms),
        "module": module.name(),
        "module_version": module.manifest().version,
    })
}

fn effective_timeout_ms(timeout_ms: u32) -> u64 {
    super::call_timeout(timeout_ms).as_millis() as u64
}

/// Every node version of `modules`, by type then newest version first.
fn all_nodes(modules: &[ReadyModule]) -> Vec<(&ReadyModule, &NodeDef)> {
    let mut nodes: Vec<(&ReadyModule, &NodeDef)> = modules
        .iter()
        .flat_map(|m| m.manifest().nodes.iter().map(move |n| (m, n)))
        .collect();
    nodes.sort_by(|(ma, a), (mb, b)| {
        a.r#type
            .cmp(&b.r#type)
            .then_with(|| compare_versions(&b.version, &a.version))
            .then_with(|| ma.name().cmp(mb.name()))
    });
    nodes
}

/// `GET /v1/nodes`: every node version of the workspace.
pub fn list_nodes(supervisor: &Supervisor, workspace: &str) -> Value {
    let modules = ready_modules(supervisor, workspace);
    let nodes = all_nodes(&modules);
    let views: Vec<Value> = nodes
        .iter()
        .enumerate()
        .map(|(i, (module, node))| {
            let latest = i == 0 || nodes[i - 1].1.r#type != node.r#type;
            node_view(module, node, latest)
        })
        .collect();
    json!({ "nodes": views })
}

/// `GET /v1/nodes/{type}`: the versions of one node type, newest first.
pub fn get_node(
    supervisor: &Supervisor,
    workspace: &str,
    node_type: &str,
) -> Result<Value, ApiError> {
    let modules = ready_modules(supervisor, workspace);
    let versions: Vec<Value> = all_nodes(&modules)
        .into_iter()
        .filter(|(_, n)| n.r#type == node_type)
        .enumerate()
        .map(|(i, (module, node))| node_view(module, node, i == 0))
        .collect();
    if versions.is_empty() {
        return Err(missing_node(supervisor, workspace, node_type));
    }
    Ok(json!({ "type": node_type, "versions": versions }))
}

fn missing_node(supervisor: &Supervisor, workspace: &str, node_type: &str) -> ApiError {
    let providers = unready_providers(supervisor, workspace, |m| {
        m.nodes.iter().any(|n| n.r#type == node_type)
    });
    if !providers.is_empty() {
        return not_ready(format!("node {node_type:?}"), providers);
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "node_not_found",
        format!("no module of this workspace defines node type {node_type:?}; GET /v1/nodes lists the catalog"),
    )
}

/// The module and definition that serve a node invocation.
pub struct NodeTarget {
    /// The module.
    pub module: ReadyModule,
    /// The node version.
    pub node: NodeDef,
}

/// Picks the node version to invoke: `version` exactly, or the newest; `module` to choose
/// between modules that define the same type and version.
pub fn resolve_node(
    supervisor: &Supervisor,
    workspace: &str,
    node_type: &str,
    version: Option<&str>,
    module: Option<&str>,
) -> Result<NodeTarget, ApiError> {
    let modules = ready_modules(supervisor, workspace);
    let candidates: Vec<(&ReadyModule, &NodeDef)> = all_nodes(&modules)
        .into_iter()
        .filter(|(m, n)| n.r#type == node_type && module.is_none_or(|name| m.name() == name))
        .collect();
    if candidates.is_empty() {
        if let Some(name) = module {
            if !modules.iter().any(|m| m.name() == name) {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "module_not_found",
                    format!("no Ready module {name:?} in this workspace"),
                ));
            }
        }
        return Err(missing_node(supervisor, workspace, node_type));
    }
    let chosen_version = match version {
        Some(v) => {
            if !candidates.iter().any(|(_, n)| n.version == v) {
                let known: Vec<&str> = candidates.iter().map(|(_, n)| n.version.as_str()).collect();
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "node_version_not_found",
                    format!(
                        "node {node_type:?} has no version {v:?}; available: {}",
                        known.join(", ")
                    ),
                ));
            }
            v.to_string()
        }
        None => candidates[0].1.version.clone(),
    };
    let matching: Vec<&(&ReadyModule, &NodeDef)> = candidates
        .iter()
        .filter(|(_, n)| n.version == chosen_version)
        .collect();
    if matching.len() > 1 {
        let names: Vec<&str> = matching.iter().map(|(m, _)| m.name()).collect();
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "node_ambiguous",
            format!(
                "node {node_type:?} version {chosen_version:?} is defined by several modules ({}); pass \"module\" to choose one",
                names.join(", ")
            ),
        ));
    }
    let (module, node) = matching[0];
    Ok(NodeTarget {
        module: (*module).clone(),
        node: (*node).clone(),
    })
}

fn block_view(module: &ReadyModule, block: &BlockDef) -> Value {
    let actions: Vec<Value> = block
        .actions
        .iter()
        .map(|a| {
            json!({
                "name": a.name,
                "display_name": a.display_name,
                "description": a.description,
                "input_schema": schema_value(&a.input_schema),
                "output_schema": schema_value(&a.output_schema),
                "timeout_ms": effective_timeout_ms(a.timeout_ms),
            })
        })
        .collect();
    json!({
        "id": block.id,
        "name": block.name,
        "description": block.description,
        "icon": block.icon,
        "connection_schema": schema_value(&block.connection_schema),
        "secret_fields": block.secret_fields,
        "actions": actions,
        "test_timeout_ms": effective_timeout_ms(block.test_timeout_ms),
        "module": module.name(),
        "module_version": module.manifest().version,
    })
}

/// `GET /v1/blocks`: every block of the workspace, by id.
pub fn list_blocks(supervisor: &Supervisor, workspace: &str) -> Value {
    let modules = ready_modules(supervisor, workspace);
    let mut blocks: Vec<(&ReadyModule, &BlockDef)> = modules
        .iter()
        .flat_map(|m| m.manifest().blocks.iter().map(move |b| (m, b)))
        .collect();
    blocks.sort_by(|(ma, a), (mb, b)| a.id.cmp(&b.id).then_with(|| ma.name().cmp(mb.name())));
    let views: Vec<Value> = blocks.iter().map(|(m, b)| block_view(m, b)).collect();
    json!({ "blocks": views })
}

/// The module and definition of a block.
pub struct BlockTarget {
    /// The module.
    pub module: ReadyModule,
    /// The block.
    pub block: BlockDef,
}

impl BlockTarget {
    /// The catalog entry.
    pub fn view(&self) -> Value {
        block_view(&self.module, &self.block)
    }
}

/// The Ready module defining block `id`.
pub fn resolve_block(
    supervisor: &Supervisor,
    workspace: &str,
    id: &str,
) -> Result<BlockTarget, ApiError> {
    let modules = ready_modules(supervisor, workspace);
    let matching: Vec<(&ReadyModule, &BlockDef)> = modules
        .iter()
        .flat_map(|m| m.manifest().blocks.iter().map(move |b| (m, b)))
        .filter(|(_, b)| b.id == id)
        .collect();
    match matching.as_slice() {
        [(module, block)] => Ok(BlockTarget {
            module: (*module).clone(),
            block: (*block).clone(),
        }),
        [] => {
            let providers = unready_providers(supervisor, workspace, |m| {
                m.blocks.iter().any(|b| b.id == id)
            });
            if providers.is_empty() {
                Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "block_not_found",
                    format!("no module of this workspace defines block {id:?}; GET /v1/blocks lists the catalog"),
                ))
            } else {
                Err(not_ready(format!("block {id:?}"), providers))
            }
        }
        several => {
            let names: Vec<&str> = several.iter().map(|(m, _)| m.name()).collect();
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "block_ambiguous",
                format!(
                    "block {id:?} is defined by several modules of this workspace ({}); a block id must be unique in a workspace: disable one of them",
                    names.join(", ")
                ),
            ))
        }
    }
}
