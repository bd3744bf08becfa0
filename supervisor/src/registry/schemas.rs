//! The compiled JSON Schemas of one manifest's nodes and blocks, built once when an instance
//! becomes ready and published with the rest of what it serves.

use std::collections::HashMap;

use convotic_proto::plugin::v1::Manifest;

use crate::json_schema::Schema;

/// The compiled schemas of one manifest's nodes and blocks.
#[derive(Debug, Default)]
pub struct ModuleSchemas {
    /// (type, version) → (input, output).
    nodes: HashMap<(String, String), (Schema, Schema)>,
    /// block id → connection schema.
    connections: HashMap<String, Schema>,
    /// (block id, action) → (input, output).
    actions: HashMap<(String, String), (Schema, Schema)>,
}

impl ModuleSchemas {
    /// Compiles every schema of `manifest`. A schema that does not compile (the manifest
    /// validator already refused those) is reported with its entry.
    pub fn compile(manifest: &Manifest) -> Result<Self, String> {
        let mut schemas = Self::default();
        let compile = |entry: &str, field: &str, text: &str| {
            Schema::compile(text).map_err(|e| format!("{entry}: {field} {e}"))
        };
        for node in &manifest.nodes {
            let entry = format!("node {}@{}", node.r#type, node.version);
            schemas.nodes.insert(
                (node.r#type.clone(), node.version.clone()),
                (
                    compile(&entry, "input_schema", &node.input_schema)?,
                    compile(&entry, "output_schema", &node.output_schema)?,
                ),
            );
        }
        for block in &manifest.blocks {
            let entry = format!("block {}", block.id);
            schemas.connections.insert(
                block.id.clone(),
                compile(&entry, "connection_schema", &block.connection_schema)?,
            );
            for action in &block.actions {
                let entry = format!("block {} action {}", block.id, action.name);
                schemas.actions.insert(
                    (block.id.clone(), action.name.clone()),
                    (
                        compile(&entry, "input_schema", &action.input_schema)?,
                        compile(&entry, "output_schema", &action.output_schema)?,
                    ),
                );
            }
        }
        Ok(schemas)
    }

    /// Input and output schemas of a node version.
    pub fn node(&self, node_type: &str, version: &str) -> Option<&(Schema, Schema)> {
        self.nodes
            .get(&(node_type.to_string(), version.to_string()))
    }

    /// The connection schema of a block.
    pub fn connection(&self, block: &str) -> Option<&Schema> {
        self.connections.get(block)
    }

    /// Input and output schemas of a block action.
    pub fn action(&self, block: &str, action: &str) -> Option<&(Schema, Schema)> {
        self.actions.get(&(block.to_string(), action.to_string()))
    }
}
