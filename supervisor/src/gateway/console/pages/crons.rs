//! The crons page: every cron the session sees with its schedule, next fire time in the
//! cron's zone, last outcome and whether a run is outstanding; and one cron's run history
//! (scheduled time, outcome, manual or not, duration, message) with *run now*.

use std::fmt::Write as _;

use warp::reply::Response;

use super::super::html::{self, esc, url};
use super::super::Visit;

/// Runs shown on a cron's page.
const RUNS_SHOWN: u32 = 100;

/// `GET /console/crons`.
pub async fn page(visit: &Visit<'_>) -> Response {
    let crons = match visit.state.crons.list(None).await {
        Ok(crons) => crons,
        Err(e) => {
            let body = format!(
                "<p class=\"error\">cannot read the crons: {}</p>",
                esc(&e.to_string())
            );
            return super::page(visit, "Crons", "/console/crons", &body);
        }
    };
    let mut body = String::from(
        "<table id=\"crons\"><thead><tr><th>Cron</th><th>Module</th><th>Workspace</th><th>Schedule</th>\
<th>Zone</th><th>Next fire</th><th>Last run</th><th>Outcome</th><th>Running</th><th></th></tr></thead><tbody>",
    );
    let mut shown = 0;
    for cron in crons
        .iter()
        .filter(|c| visit.session.role.sees(&c.workspace))
    {
        shown += 1;
        let path = format!(
            "/console/crons/{}/{}/{}",
            url(&cron.workspace),
            url(&cron.module),
            url(&cron.name)
        );
        let (last, outcome) = match &cron.last_run {
            Some(run) => (
                html::time(Some(run.scheduled_at_ms)),
                html::outcome_badge(&run.outcome.to_string()),
            ),
            None => ("-".into(), "-".into()),
        };
        let _ = write!(
            body,
            "<tr data-cron=\"{}/{}/{}\"><td><a href=\"{path}\">{}</a></td><td>{}</td><td>{}</td>\
<td><code>{}</code></td><td>{}</td><td>{}</td><td>{last}</td><td>{outcome}</td><td>{}</td><td>{}</td></tr>",
            esc(&cron.workspace),
            esc(&cron.module),
            esc(&cron.name),
            esc(&cron.name),
            esc(&cron.module),
            esc(&cron.workspace),
            esc(&cron.schedule),
            esc(&cron.timezone),
            esc(cron.next_fire_at.as_deref().unwrap_or("- (module not ready)")),
            if cron.running { "yes" } else { "" },
            html::action_button(&visit.session, &format!("{path}/run"), "Run now", None),
        );
    }
    if shown == 0 {
        body.push_str(
            "<tr><td colspan=\"10\">No cron is declared by a module that has been ready.</td></tr>",
        );
    }
    body.push_str("</tbody></table>");
    super::page(visit, "Crons", "/console/crons", &body)
}

/// `GET /console/crons/{ws}/{module}/{cron}`.
pub async fn runs_page(visit: &Visit<'_>, ws: &str, module: &str, cron: &str) -> Response {
    let title = format!("{module} · {cron}");
    let runs = match visit
        .state
        .crons
        .runs(Some(ws), module, cron, RUNS_SHOWN, "")
        .await
    {
        Ok(page) => page.items,
        Err(e) => {
            return super::not_found(visit, &e.to_string());
        }
    };
    let path = format!("/console/crons/{}/{}/{}", url(ws), url(module), url(cron));
    let mut body = format!(
        "<p>Module <a href=\"/console/modules/{}/{}\">{}</a> in {}. {}</p>\
<table id=\"runs\" data-refresh-page=\"3000\"><thead><tr><th>Run</th><th>Scheduled</th><th>Outcome</th><th>Manual</th>\
<th>Took</th><th>Message</th><th>Supervisor</th></tr></thead><tbody>",
        url(ws),
        url(module),
        esc(module),
        esc(ws),
        html::action_button(&visit.session, &format!("{path}/run"), "Run now", None)
    );
    for run in &runs {
        let took = match (run.started_at_ms, run.finished_at_ms) {
            (Some(start), Some(end)) => html::duration_ms(end.saturating_sub(start)),
            (Some(_), None) => "running".into(),
            _ => "-".into(),
        };
        let _ = write!(
            body,
            "<tr data-run=\"{}\" data-manual=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{took}</td><td>{}</td><td>{}</td></tr>",
            esc(&run.id),
            run.manual,
            esc(&run.id),
            html::time(Some(run.scheduled_at_ms)),
            html::outcome_badge(&run.outcome.to_string()),
            if run.manual { "manual" } else { "" },
            esc(&run.message),
            esc(&run.supervisor_id),
        );
    }
    if runs.is_empty() {
        body.push_str("<tr><td colspan=\"7\">No run yet.</td></tr>");
    }
    body.push_str("</tbody></table>");
    super::page(visit, &title, "/console/crons", &body)
}
