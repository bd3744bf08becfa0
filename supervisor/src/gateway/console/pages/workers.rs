//! The workers page: every worker handler the session sees with topic, backlog, in-flight,
//! deliveries, acks, retries and dead letters, and its module's current throughput; then the
//! dead letters of each visible workspace with reason, payload preview, attempts and
//! *re-drive*.

use std::fmt::Write as _;

use warp::reply::Response;

use super::super::html::{self, esc, url};
use super::super::Visit;
use super::visible_workspaces;

/// Dead letters listed per workspace.
const DEAD_LETTERS_SHOWN: u32 = 100;
/// Characters of a payload shown.
const PREVIEW_CHARS: usize = 160;

/// `GET /console/workers`.
pub async fn page(visit: &Visit<'_>) -> Response {
    let mut body = String::from(
        "<h2>Handlers</h2><table id=\"handlers\"><thead><tr><th>Handler</th><th>Module</th><th>Workspace</th>\
<th>Topic</th><th>Backlog</th><th>In flight</th><th>Delivered</th><th>Acked</th><th>Retried</th>\
<th>Dead letters</th><th>Module msg/s</th></tr></thead><tbody>",
    );
    let metrics = crate::metrics::global();
    let mut handlers = 0;
    for module in visit.state.supervisor.modules().iter() {
        if !visit.session.role.sees(&module.workspace) {
            continue;
        }
        let Some(declared) = module.declared() else {
            continue;
        };
        let rate = module
            .samples
            .points()
            .last()
            .map(|p| format!("{:.2}", p.messages_per_s))
            .unwrap_or_else(|| "-".into());
        for worker in &declared.manifest.workers {
            handlers += 1;
            let name = if worker.name.is_empty() {
                &worker.topic
            } else {
                &worker.name
            };
            let n = metrics.worker_numbers([&module.workspace, &module.name, name]);
            let _ = write!(
                body,
                "<tr data-handler=\"{}/{}/{}\"><td>{}</td><td><a href=\"/console/modules/{}/{}\">{}</a></td><td>{}</td>\
<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{rate}</td></tr>",
                esc(&module.workspace),
                esc(&module.name),
                esc(name),
                esc(name),
                url(&module.workspace),
                url(&module.name),
                esc(&module.name),
                esc(&module.workspace),
                esc(&worker.topic),
                n.backlog,
                n.in_flight,
                n.deliveries,
                n.acks,
                n.retries,
                n.dead_letters,
            );
        }
    }
    if handlers == 0 {
        body.push_str("<tr><td colspan=\"11\">No module declares a worker.</td></tr>");
    }
    body.push_str("</tbody></table><h2>Dead letters</h2><table id=\"dead-letters\"><thead><tr><th>Failed</th>\
<th>Workspace</th><th>Module</th><th>Handler</th><th>Topic</th><th>Attempts</th><th>Reason</th><th>Payload</th><th></th></tr></thead><tbody>");
    let mut letters = 0;
    for ws in visible_workspaces(visit) {
        let page = match visit
            .state
            .bus
            .list_dead_letters(&ws, DEAD_LETTERS_SHOWN, "")
            .await
        {
            Ok(page) => page,
            Err(e) => {
                let _ = write!(
                    body,
                    "<tr><td colspan=\"9\" class=\"error\">{}: cannot list the dead letters: {}</td></tr>",
                    esc(&ws),
                    esc(&e.to_string())
                );
                continue;
            }
        };
        for letter in page.dead_letters.iter().rev() {
            letters += 1;
            let payload = letter.payload.to_string();
            let preview: String = payload.chars().take(PREVIEW_CHARS).collect();
            let more = if payload.chars().count() > PREVIEW_CHARS {
                "…"
            } else {
                ""
            };
            let _ = write!(
                body,
                "<tr data-dead-letter=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
<td class=\"err\">{}</td><td><code>{}{more}</code></td><td>{}</td></tr>",
                esc(&letter.id),
                html::time(Some(letter.failed_at_ms)),
                esc(&letter.workspace),
                esc(&letter.module),
                esc(&letter.handler),
                esc(&letter.topic),
                letter.attempts,
                esc(&letter.reason),
                esc(&preview),
                html::action_button(
                    &visit.session,
                    &format!("/console/dead-letters/{}/{}/redrive", url(&ws), url(&letter.id)),
                    "Re-drive",
                    None
                ),
            );
        }
    }
    if letters == 0 {
        body.push_str("<tr><td colspan=\"9\">No dead letter.</td></tr>");
    }
    body.push_str("</tbody></table>");
    super::page(visit, "Workers", "/console/workers", &body)
}
