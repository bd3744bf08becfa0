//! The nodes and Blocks page: the builder's catalog of each visible workspace (node types and
//! versions with their module, Blocks with their actions), and the Block connections — their
//! names, non-secret settings and last test, never a secret value — with *test connection*.

use std::fmt::Write as _;

use serde_json::Value;
use warp::reply::Response;

use super::super::html::{self, esc, url};
use super::super::Visit;
use super::visible_workspaces;

/// `GET /console/catalog`.
pub async fn page(visit: &Visit<'_>) -> Response {
    let api = &visit.state.integrations;
    let mut nodes = String::from(
        "<h2>Nodes</h2><table id=\"nodes\"><thead><tr><th>Node</th><th>Type</th><th>Version</th><th>Workspace</th>\
<th>Module</th><th>Branches</th><th>Connection</th></tr></thead><tbody>",
    );
    let mut blocks = String::from(
        "<h2>Blocks</h2><table id=\"blocks\"><thead><tr><th>Block</th><th>Id</th><th>Workspace</th><th>Module</th>\
<th>Actions</th></tr></thead><tbody>",
    );
    let mut connections = String::from(
        "<h2>Connections</h2><table id=\"connections\"><thead><tr><th>Name</th><th>Id</th><th>Block</th>\
<th>Workspace</th><th>Settings</th><th>Secrets</th><th>Last test</th><th></th></tr></thead><tbody>",
    );
    for ws in visible_workspaces(visit) {
        let listed = crate::integrations::catalog::list_nodes(&api.supervisor, &ws);
        for node in listed["nodes"].as_array().into_iter().flatten() {
            let module = node["module"].as_str().unwrap_or("");
            let _ = write!(
                nodes,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}{}</td><td>{}</td><td><a href=\"/console/modules/{}/{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
                esc(node["display_name"].as_str().unwrap_or("")),
                esc(node["type"].as_str().unwrap_or("")),
                esc(node["version"].as_str().unwrap_or("")),
                if node["latest"] == true { " <small>latest</small>" } else { "" },
                esc(&ws),
                url(&ws),
                url(module),
                esc(module),
                esc(&strings(&node["branches"]).join(", ")),
                esc(node["connection_block"].as_str().unwrap_or("-")),
            );
        }
        let listed = crate::integrations::catalog::list_blocks(&api.supervisor, &ws);
        for block in listed["blocks"].as_array().into_iter().flatten() {
            let id = block["id"].as_str().unwrap_or("");
            let module = block["module"].as_str().unwrap_or("");
            let actions: Vec<String> = block["actions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["name"].as_str().map(str::to_string))
                .collect();
            let _ = write!(
                blocks,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td><a href=\"/console/modules/{}/{}\">{}</a></td><td>{}</td></tr>",
                esc(block["name"].as_str().unwrap_or("")),
                esc(id),
                esc(&ws),
                url(&ws),
                url(module),
                esc(module),
                esc(&actions.join(", ")),
            );
            let Ok(answer) = api.list_connections(&ws, id).await else {
                continue;
            };
            for c in answer.body["connections"].as_array().into_iter().flatten() {
                let cid = c["id"].as_str().unwrap_or("");
                let test = &c["last_test"];
                let last = match test["ok"].as_bool() {
                    Some(ok) => format!(
                        "{} {}",
                        html::outcome_badge(if ok { "ok" } else { "failed" }),
                        esc(test["message"].as_str().unwrap_or(""))
                    ),
                    None => "never".into(),
                };
                let button = if visit.session.role.may_act() {
                    format!(
                        "<button data-json-post=\"/console/blocks/{}/{}/connections/{}/test\">Test connection</button>",
                        url(&ws),
                        url(id),
                        url(cid)
                    )
                } else {
                    String::new()
                };
                let _ = write!(
                    connections,
                    "<tr data-connection=\"{}\"><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{last}</td><td>{button}<span class=\"result\"></span></td></tr>",
                    esc(cid),
                    esc(c["name"].as_str().unwrap_or("")),
                    esc(cid),
                    esc(id),
                    esc(&ws),
                    esc(&c["config"].to_string()),
                    esc(&strings(&c["secrets"]).join(", ")),
                );
            }
        }
    }
    for table in [&mut nodes, &mut blocks, &mut connections] {
        if !table.contains("<tr><td") && !table.contains("<tr data-") {
            table.push_str("<tr><td colspan=\"8\">None.</td></tr>");
        }
        table.push_str("</tbody></table>");
    }
    let body = format!("{nodes}{blocks}{connections}");
    super::page(visit, "Nodes & Blocks", "/console/catalog", &body)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}
