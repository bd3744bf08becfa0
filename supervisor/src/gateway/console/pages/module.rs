//! A module's page: its state, its manifest (routes with a *try it* form, workers, nodes with
//! an input form generated from their JSON Schema, Blocks, crons with *run now*), live logs,
//! deployment history with *roll back*, and charts of its recent samples.

use std::fmt::Write as _;

use warp::reply::Response;

use super::super::html::{self, esc, url};
use super::super::schema_form;
use super::super::Visit;
use super::now_ms;
use crate::supervision::ModuleHandle;

/// `GET /console/modules/{ws}/{name}`.
pub async fn page(visit: &Visit<'_>, module: &ModuleHandle) -> Response {
    let session = &visit.session;
    let status = module.status();
    let key = format!("{}/{}", url(&module.workspace), url(&module.name));
    let mut body = String::new();
    let version = status
        .manifest
        .as_ref()
        .and_then(|m| m["version"].as_str())
        .unwrap_or("-");
    let _ = write!(
        body,
        "<dl class=\"facts\"><dt>Workspace</dt><dd>{}</dd><dt>State</dt><dd>{}</dd>\
<dt>Version</dt><dd>{}</dd><dt>Source</dt><dd>{}</dd><dt>Pid</dt><dd class=\"pid\">{}</dd>\
<dt>Restarts</dt><dd>{}</dd><dt>Uptime</dt><dd>{}</dd><dt>In flight</dt><dd>{}</dd>\
<dt>Last error</dt><dd>{}</dd><dt>Last failure</dt><dd>{}</dd></dl>",
        esc(&module.workspace),
        html::state_badge(status.state.as_str()),
        esc(version),
        esc(&status.source),
        status
            .pid
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into()),
        status.restarts,
        match (status.state.as_str(), status.ready_since_ms) {
            ("ready", Some(since)) => html::duration_ms(now_ms().saturating_sub(since)),
            _ => "-".into(),
        },
        status.in_flight,
        esc(status.last_error.as_deref().unwrap_or("-")),
        esc(status.last_failure.as_deref().unwrap_or("-")),
    );
    if session.role.may_act() {
        let mut buttons = html::action_button(
            session,
            &format!("/console/modules/{key}/restart"),
            "Restart",
            None,
        );
        if status.source.starts_with("deployment") {
            let (verb, label) = if status.enabled {
                ("disable", "Disable")
            } else {
                ("enable", "Enable")
            };
            buttons.push_str(&html::action_button(
                session,
                &format!("/console/modules/{key}/{verb}"),
                label,
                Some(&format!("{label} {}?", module.name)),
            ));
        }
        let _ = write!(body, "<p>{buttons}</p>");
    }
    let _ = write!(
        body,
        "<section id=\"charts\"><h2>Last 10 minutes</h2><div class=\"charts\" data-refresh=\"/console/modules/{key}/charts\" data-every=\"5000\">{}</div></section>",
        charts(module)
    );
    manifest_sections(visit, module, &key, &mut body);
    let _ = write!(
        body,
        "<section id=\"logs\" data-stream=\"/console/modules/{key}/logs\"><h2>Logs</h2>\
<div class=\"toolbar\"><button id=\"logs-pause\" type=\"button\">Pause</button>\
<input id=\"logs-filter\" type=\"search\" placeholder=\"Filter lines\"><span id=\"logs-status\"></span></div>\
<ul id=\"log-lines\"></ul></section>"
    );
    deployments_section(visit, module, &key, &mut body).await;
    super::page(visit, &module.name, "/console/", &body)
}

/// The four charts of a module's recent samples.
pub fn charts(module: &ModuleHandle) -> String {
    let points = module.samples.points();
    let series = |f: &dyn Fn(&crate::metrics::samples::Point) -> Option<f64>| -> Vec<Option<f64>> {
        points.iter().map(f).collect()
    };
    [
        html::sparkline("Requests", "req/s", &series(&|p| Some(p.requests_per_s))),
        html::sparkline(
            "Errors (5xx)",
            "%",
            &series(&|p| Some(p.error_ratio * 100.0)),
        ),
        html::sparkline("p99 latency", "ms", &series(&|p| p.p99_ms)),
        html::sparkline(
            "Worker messages",
            "msg/s",
            &series(&|p| Some(p.messages_per_s)),
        ),
    ]
    .concat()
}

fn manifest_sections(visit: &Visit<'_>, module: &ModuleHandle, key: &str, body: &mut String) {
    let session = &visit.session;
    let Some(declared) = module.declared() else {
        body.push_str("<p>The module has not been ready yet: no manifest to show.</p>");
        return;
    };
    let manifest = &declared.manifest;
    let can_act = session.role.may_act();
    body.push_str("<section id=\"routes\"><h2>Routes</h2>");
    if manifest.routes.is_empty() {
        body.push_str("<p>None.</p>");
    }
    for route in &manifest.routes {
        let method = route.method.to_uppercase();
        let public = route.auth == convotic_proto::plugin::v1::AuthMode::None as i32;
        let _ = write!(
            body,
            "<div class=\"route\"><code>{} /v1/workspaces/{}/modules/{}{}</code>{}",
            esc(&method),
            esc(&module.workspace),
            esc(&module.name),
            esc(&route.path),
            if public { " <small>public</small>" } else { "" }
        );
        if can_act {
            let _ = write!(
                body,
                "<form class=\"try\" data-action=\"/console/modules/{key}/try\"><input name=\"method\" value=\"{m}\" readonly size=\"6\">\
<input name=\"path\" value=\"{p}\" size=\"40\"><textarea name=\"body\" rows=\"2\" placeholder=\"JSON body (optional)\"></textarea>\
<button>Send</button><pre class=\"result\"></pre></form>",
                m = esc(&method),
                p = esc(&route.path),
            );
        }
        body.push_str("</div>");
    }
    body.push_str("</section><section id=\"workers\"><h2>Workers</h2>");
    if manifest.workers.is_empty() {
        body.push_str("<p>None.</p>");
    } else {
        body.push_str("<table><thead><tr><th>Handler</th><th>Topic</th><th>Concurrency</th><th>Max attempts</th></tr></thead><tbody>");
        for w in &manifest.workers {
            let name = if w.name.is_empty() { &w.topic } else { &w.name };
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                esc(&w.topic),
                w.concurrency.max(1),
                if w.max_attempts == 0 {
                    5
                } else {
                    w.max_attempts
                }
            );
        }
        body.push_str("</tbody></table>");
    }
    body.push_str("</section><section id=\"nodes\"><h2>Nodes</h2>");
    if manifest.nodes.is_empty() {
        body.push_str("<p>None.</p>");
    }
    for node in &manifest.nodes {
        let _ = write!(
            body,
            "<div class=\"node\"><h3>{} <small>{} {}</small></h3><p>{}</p>",
            esc(&node.display_name),
            esc(&node.r#type),
            esc(&node.version),
            esc(&node.description)
        );
        if can_act {
            let connection = if node.connection_block.is_empty() {
                String::new()
            } else {
                format!(
                    "<label>Connection id (block {})<input name=\"connection_id\" data-connection></label>",
                    esc(&node.connection_block)
                )
            };
            let _ = write!(
                body,
                "<form class=\"node-invoke\" data-node=\"{t}\" data-version=\"{v}\" data-action=\"/console/modules/{key}/nodes/{tu}/invoke\">{}{connection}<button>Invoke</button><pre class=\"result\"></pre></form>",
                schema_form::fields(&node.input_schema),
                t = esc(&node.r#type),
                v = esc(&node.version),
                tu = url(&node.r#type),
            );
        }
        body.push_str("</div>");
    }
    body.push_str("</section><section id=\"blocks\"><h2>Blocks</h2>");
    if manifest.blocks.is_empty() {
        body.push_str("<p>None.</p>");
    }
    for block in &manifest.blocks {
        let actions: Vec<&str> = block.actions.iter().map(|a| a.name.as_str()).collect();
        let _ = write!(
            body,
            "<p><b>{}</b> ({}) actions: {} · <a href=\"/console/catalog\">connections</a></p>",
            esc(&block.name),
            esc(&block.id),
            esc(&actions.join(", "))
        );
    }
    body.push_str("</section><section id=\"crons\"><h2>Crons</h2>");
    if manifest.crons.is_empty() {
        body.push_str("<p>None.</p>");
    }
    for cron in &manifest.crons {
        let path = format!("/console/crons/{key}/{}", url(&cron.name));
        let zone = if cron.timezone.is_empty() {
            "UTC"
        } else {
            &cron.timezone
        };
        let _ = write!(
            body,
            "<p><a href=\"{path}\">{}</a> <code>{}</code> {} {}</p>",
            esc(&cron.name),
            esc(&cron.schedule),
            esc(zone),
            html::action_button(&visit.session, &format!("{path}/run"), "Run now", None)
        );
    }
    body.push_str("</section>");
}

async fn deployments_section(
    visit: &Visit<'_>,
    module: &ModuleHandle,
    key: &str,
    body: &mut String,
) {
    let deployments = visit
        .state
        .store
        .deployments_of(&module.workspace, &module.name, 20)
        .await
        .unwrap_or_default();
    body.push_str("<section id=\"deployments\"><h2>Deployments</h2>");
    if deployments.is_empty() {
        body.push_str("<p>None: this module comes from the configuration file.</p></section>");
        return;
    }
    body.push_str(&super::deployments::table(&deployments, false));
    let _ = write!(
        body,
        "<p>{}</p></section>",
        html::action_button(
            &visit.session,
            &format!("/console/modules/{key}/rollback"),
            "Roll back",
            Some("Roll back to the previous version?")
        )
    );
}
