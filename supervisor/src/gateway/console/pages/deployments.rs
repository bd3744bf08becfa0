//! The deployments page: recent deploys and rollbacks across the modules the session sees,
//! with outcome and reason; [`table`] also serves a module's own history.

use std::fmt::Write as _;

use warp::reply::Response;

use super::super::html::{self, esc, url};
use super::super::Visit;
use crate::store::Deployment;

/// Most deployments listed.
const SHOWN: u32 = 200;

/// `GET /console/deployments`.
pub async fn page(visit: &Visit<'_>) -> Response {
    let body = match visit.state.store.deployments_recent(SHOWN).await {
        Ok(all) => {
            let seen: Vec<Deployment> = all
                .into_iter()
                .filter(|d| visit.session.role.sees(&d.workspace))
                .collect();
            if seen.is_empty() {
                "<p>No deployment yet: <code>convotic-supervisor deploy DIR</code> makes one.</p>"
                    .to_string()
            } else {
                table(&seen, true)
            }
        }
        Err(e) => format!(
            "<p class=\"error\">cannot read the deployments: {}</p>",
            esc(&e.to_string())
        ),
    };
    super::page(visit, "Deployments", "/console/deployments", &body)
}

/// A table of `deployments` (`with_module`: a column naming the module).
pub fn table(deployments: &[Deployment], with_module: bool) -> String {
    let mut out = String::from("<table id=\"deployments\"><thead><tr><th>Id</th>");
    if with_module {
        out.push_str("<th>Module</th><th>Workspace</th>");
    }
    out.push_str("<th>Version</th><th>Kind</th><th>State</th><th>By</th><th>Started</th><th>Took</th><th>Reason</th></tr></thead><tbody>");
    for d in deployments {
        let _ = write!(
            out,
            "<tr data-deployment=\"{}\"><td><code>{}</code></td>",
            esc(&d.id),
            esc(&d.id)
        );
        if with_module {
            let _ = write!(
                out,
                "<td><a href=\"/console/modules/{}/{}\">{}</a></td><td>{}</td>",
                url(&d.workspace),
                url(&d.module),
                esc(&d.module),
                esc(&d.workspace)
            );
        }
        let kind = match &d.rollback_of {
            Some(of) => format!("rollback to {}", esc(of)),
            None => esc(&d.kind),
        };
        let took = d
            .finished_at_ms
            .map(|end| html::duration_ms(end.saturating_sub(d.created_at_ms)))
            .unwrap_or_else(|| "-".into());
        let _ = write!(
            out,
            "<td>{}</td><td class=\"kind\">{kind}</td><td>{}</td><td>{}</td><td>{}</td><td>{took}</td><td>{}</td></tr>",
            esc(&d.version),
            html::outcome_badge(&d.state),
            esc(&d.actor),
            html::time(Some(d.created_at_ms)),
            esc(&d.reason),
        );
    }
    out.push_str("</tbody></table>");
    out
}
