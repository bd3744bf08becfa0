//! The delivery page: per visible workspace, where each channel's messages go and where
//! workflow runs go (never a webhook's secret), how many messages and runs are in each status,
//! and the dead letters (deliveries that failed for good) with the target's words and
//! *re-drive*.

use std::fmt::Write as _;

use warp::reply::Response;

use super::super::html::{self, esc, url};
use super::super::Visit;
use super::visible_workspaces;
use crate::store::delivery::{DeliveryTarget, Outbox};

/// Dead letters listed per workspace and outbox.
const SHOWN: u32 = 100;

/// `GET /console/delivery`.
pub async fn page(visit: &Visit<'_>) -> Response {
    let store = &visit.state.store;
    let mut body = String::from(
        "<p>Messages go to their channel's target, workflow runs to the workspace's engine \
(<code>PUT /v1/channels/{channel}</code>, <code>PUT /v1/workflow-engine</code>).</p>",
    );
    let mut targets = String::from(
        "<h2>Targets</h2><table id=\"targets\"><thead><tr><th>Workspace</th><th>Channel</th><th>Kind</th>\
<th>Goes to</th><th>Updated</th></tr></thead><tbody>",
    );
    let mut counts = String::from(
        "<h2>Statuses</h2><table id=\"outbox-counts\"><thead><tr><th>Workspace</th><th>Messages</th>\
<th>Workflow runs</th></tr></thead><tbody>",
    );
    let mut dead = String::from(
        "<h2>Dead letters</h2><table id=\"delivery-dead-letters\"><thead><tr><th>Failed</th><th>Workspace</th>\
<th>Item</th><th>Channel / workflow</th><th>Attempts</th><th>Last error</th><th></th></tr></thead><tbody>",
    );
    let mut any_target = false;
    let mut any_dead = false;
    for ws in visible_workspaces(visit) {
        let mut all: Vec<DeliveryTarget> =
            store.target_list(&ws, "channel").await.unwrap_or_default();
        if let Ok(Some(engine)) = store.target_get(&ws, "workflows", "").await {
            all.push(engine);
        }
        for target in &all {
            any_target = true;
            let name = if target.purpose == "workflows" {
                "<i>workflow engine</i>".to_string()
            } else {
                esc(&target.name)
            };
            let _ = write!(
                targets,
                "<tr data-target=\"{}/{}\"><td>{}</td><td>{name}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&ws),
                esc(&target.name),
                esc(&ws),
                esc(&target.kind),
                esc(&destination(target)),
                html::time(Some(target.updated_at_ms)),
            );
        }
        let summary = |counts: Vec<(String, u64)>| {
            if counts.is_empty() {
                return "-".to_string();
            }
            counts
                .iter()
                .map(|(status, n)| format!("{} {n}", html::outcome_badge(status)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let _ = write!(
            counts,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&ws),
            summary(
                store
                    .outbox_counts(Outbox::Messages, &ws)
                    .await
                    .unwrap_or_default()
            ),
            summary(
                store
                    .outbox_counts(Outbox::WorkflowRuns, &ws)
                    .await
                    .unwrap_or_default()
            ),
        );
        let messages = store
            .list_messages(&ws, "", "failed", SHOWN, "")
            .await
            .map(|p| p.items)
            .unwrap_or_default();
        for m in messages.iter().filter(|m| m.dead_lettered_at_ms.is_some()) {
            any_dead = true;
            row(
                visit,
                &mut dead,
                (&ws, "messages", &m.id),
                &m.channel,
                m.attempts,
                m.last_error.as_deref(),
                m.dead_lettered_at_ms,
            );
        }
        let runs = store
            .list_workflow_runs(&ws, "", "failed", SHOWN, "")
            .await
            .map(|p| p.items)
            .unwrap_or_default();
        for r in runs.iter().filter(|r| r.dead_lettered_at_ms.is_some()) {
            any_dead = true;
            row(
                visit,
                &mut dead,
                (&ws, "runs", &r.id),
                &r.workflow_id,
                r.attempts,
                r.error.as_deref(),
                r.dead_lettered_at_ms,
            );
        }
    }
    if !any_target {
        targets.push_str("<tr><td colspan=\"5\">No target is set: messages and runs wait in the outbox.</td></tr>");
    }
    if !any_dead {
        dead.push_str("<tr><td colspan=\"7\">No dead letter.</td></tr>");
    }
    for table in [&mut targets, &mut counts, &mut dead] {
        table.push_str("</tbody></table>");
    }
    body.push_str(&targets);
    body.push_str(&counts);
    body.push_str(&dead);
    super::page(visit, "Delivery", "/console/delivery", &body)
}

/// Where a target sends, without its secret.
fn destination(target: &DeliveryTarget) -> String {
    let config = &target.config;
    match target.kind.as_str() {
        "webhook" => config["url"].as_str().unwrap_or("").to_string(),
        "block" => format!(
            "{}.{} with {} (to the contact's {})",
            config["block"].as_str().unwrap_or(""),
            config["action"].as_str().unwrap_or(""),
            config["connection_id"].as_str().unwrap_or(""),
            config["to"].as_str().unwrap_or("phone"),
        ),
        _ if target.purpose == "workflows" => {
            format!("convotic.{}.workflows.trigger", target.workspace)
        }
        _ => format!("convotic.{}.messages.{}", target.workspace, target.name),
    }
}

/// One dead letter's row: `(workspace, "messages" | "runs", id)`.
fn row(
    visit: &Visit<'_>,
    out: &mut String,
    item: (&str, &str, &str),
    about: &str,
    attempts: u32,
    error: Option<&str>,
    at: Option<u64>,
) {
    let (ws, kind, id) = item;
    let _ = write!(
        out,
        "<tr data-dead-item=\"{}\"><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{attempts}</td><td class=\"err\">{}</td><td>{}</td></tr>",
        esc(id),
        html::time(at),
        esc(ws),
        esc(id),
        esc(about),
        esc(error.unwrap_or("")),
        html::action_button(
            &visit.session,
            &format!("/console/outbox/{}/{kind}/{}/redrive", url(ws), url(id)),
            "Re-drive",
            None
        ),
    );
}
