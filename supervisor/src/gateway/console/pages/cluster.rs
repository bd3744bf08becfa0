//! The cluster page: every live node sharing the store (one on SQLite) with the modules it ran
//! at its last heartbeat (those of the session's workspaces); an admin also sees each node's
//! address, version, start and last heartbeat.

use std::fmt::Write as _;

use serde_json::Value;
use warp::reply::Response;

use super::super::html::{self, esc, url};
use super::super::Visit;
use crate::store::ClusterNode;
use crate::supervision::membership::{self, LIVE_WITHIN};

/// `GET /console/cluster`.
pub async fn page(visit: &Visit<'_>) -> Response {
    let body = match visit
        .state
        .store
        .list_nodes(LIVE_WITHIN.as_millis() as u64)
        .await
    {
        Ok(nodes) if nodes.is_empty() => {
            "<p>No node has recorded a heartbeat yet (the first one is recorded at start).</p>"
                .to_string()
        }
        Ok(nodes) => {
            let mut out = format!(
                "<p>{} live node{} (heard from within {} s){}.</p>",
                nodes.len(),
                if nodes.len() == 1 { "" } else { "s" },
                LIVE_WITHIN.as_secs(),
                if visit.state.store.is_shared() {
                    ", sharing one PostgreSQL store"
                } else {
                    ": one supervisor with its own SQLite store"
                }
            );
            for node in &nodes {
                out.push_str(&node_section(visit, node));
            }
            out
        }
        Err(e) => format!(
            "<p class=\"error\">cannot read the cluster's nodes: {}</p>",
            esc(&e.to_string())
        ),
    };
    super::page(visit, "Cluster", "/console/cluster", &body)
}

/// One node: a heading line and its modules.
fn node_section(visit: &Visit<'_>, node: &ClusterNode) -> String {
    let this = node.instance == membership::instance_id();
    let mut out = format!(
        "<section class=\"node\" data-node=\"{}\"><h2>{}{}</h2>",
        esc(&node.id),
        esc(&node.id),
        if this { " (this node)" } else { "" },
    );
    // A workspace session sees its modules per node, not the nodes' addresses.
    if visit.session.role.may_act() {
        let _ = write!(
            out,
            "<p><code>{}</code> · version {} · up since {} · last heartbeat {}</p>",
            esc(&node.address),
            esc(&node.version),
            html::time(Some(node.started_at_ms)),
            html::time(Some(node.last_seen_ms)),
        );
    }
    out.push_str(&modules_table(visit, node));
    out.push_str("</section>");
    out
}

/// The modules of the session's workspaces on `node`.
fn modules_table(visit: &Visit<'_>, node: &ClusterNode) -> String {
    let mut out = String::new();
    let modules: Vec<&Value> = node
        .modules
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| visit.session.role.sees(text(m, "workspace")))
        .collect();
    if modules.is_empty() {
        out.push_str("<p>No module of yours runs on it.</p>");
        return out;
    }
    out.push_str(
        "<table class=\"node-modules\"><thead><tr><th>Module</th><th>Workspace</th><th>State</th>\
         <th>Source</th><th>Restarts</th></tr></thead><tbody>",
    );
    for module in modules {
        let (workspace, name) = (text(module, "workspace"), text(module, "name"));
        let source = match text(module, "package_version") {
            "" => text(module, "source").to_string(),
            version => format!("{} ({version})", text(module, "source")),
        };
        let _ = write!(
            out,
            "<tr data-module=\"{}\"><td><a href=\"/console/modules/{}/{}\">{}</a></td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            url(workspace),
            url(name),
            esc(name),
            esc(workspace),
            html::state_badge(text(module, "state")),
            esc(&source),
            module["restarts"].as_u64().unwrap_or(0),
        );
    }
    out.push_str("</tbody></table>");
    out
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or("")
}
