//! The modules page: every module the session sees with its workspace, state, version and
//! source, pid, restarts, uptime, calls in flight, spawn→ready time, sandbox layers and last
//! error; filters by workspace and state; restart (disable and enable are on a module's page). The table body refreshes
//! itself every two seconds from [`rows_fragment`].

use std::fmt::Write as _;

use warp::http::StatusCode;
use warp::reply::Response;

use super::super::html::{self, esc, url};
use super::super::session::Session;
use super::super::Visit;
use super::{now_ms, query, visible_workspaces};
use crate::supervision::ModuleStatus;

const STATES: &[&str] = &[
    "ready",
    "starting",
    "draining",
    "backoff",
    "crash-loop",
    "failed",
    "stopped",
];

/// The page.
fn page_html(visit: &Visit<'_>) -> String {
    let ws = query(visit, "ws");
    let state = query(visit, "state");
    let mut filter = String::from("<form method=\"get\" class=\"filters\"><label>Workspace <select name=\"ws\"><option value=\"\">all</option>");
    for workspace in visible_workspaces(visit) {
        let selected = if ws.as_deref() == Some(workspace.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(filter, "<option{selected}>{}</option>", esc(&workspace));
    }
    filter.push_str(
        "</select></label><label>State <select name=\"state\"><option value=\"\">all</option>",
    );
    for s in STATES {
        let selected = if state.as_deref() == Some(*s) {
            " selected"
        } else {
            ""
        };
        let _ = write!(filter, "<option{selected}>{s}</option>");
    }
    filter.push_str("</select></label><button>Filter</button></form>");
    let refresh = format!(
        "/console/fragments/modules?ws={}&state={}",
        url(ws.as_deref().unwrap_or("")),
        url(state.as_deref().unwrap_or(""))
    );
    format!(
        "{filter}<table id=\"modules\"><thead><tr><th>Module</th><th>Workspace</th><th>State</th>\
<th>Version</th><th>Source</th><th>Pid</th><th>Restarts</th><th>Uptime</th><th>In flight</th>\
<th>Spawn→ready</th><th>Sandbox</th><th>Last error</th><th></th></tr></thead>\
<tbody data-refresh=\"{}\" data-every=\"2000\">{}</tbody></table>",
        esc(&refresh),
        rows(
            &statuses(visit, ws.as_deref(), state.as_deref()),
            &visit.session
        )
    )
}

/// `GET /console/`.
pub fn page(visit: &Visit<'_>) -> Response {
    let body = page_html(visit);
    super::page(visit, "Modules", "/console/", &body)
}

/// `GET /console/fragments/modules`: the table's rows.
pub fn rows_fragment(visit: &Visit<'_>) -> Response {
    let ws = query(visit, "ws");
    let state = query(visit, "state");
    super::super::html(
        StatusCode::OK,
        rows(
            &statuses(visit, ws.as_deref(), state.as_deref()),
            &visit.session,
        ),
    )
}

/// The statuses the session sees, filtered, sorted by workspace and name.
fn statuses(visit: &Visit<'_>, ws: Option<&str>, state: Option<&str>) -> Vec<ModuleStatus> {
    let mut statuses: Vec<ModuleStatus> = visit
        .state
        .supervisor
        .modules()
        .iter()
        .filter(|m| visit.session.role.sees(&m.workspace))
        .filter(|m| ws.is_none_or(|w| m.workspace == w))
        .map(|m| m.status())
        .filter(|s| state.is_none_or(|st| s.state.as_str() == st))
        .collect();
    statuses.sort_by(|a, b| (&a.workspace, &a.name).cmp(&(&b.workspace, &b.name)));
    statuses
}

/// The sandbox layers an instance got, in a few words.
fn sandbox(status: &ModuleStatus) -> String {
    let Some(report) = &status.sandbox else {
        return "none".into();
    };
    let mut layers = vec![report
        .profile
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "custom".into())];
    if !report.namespaces.is_empty() {
        layers.push(format!("ns×{}", report.namespaces.len()));
    }
    if !report.cgroup.is_empty() {
        layers.push("cgroup".into());
    }
    let applied = |layer: &str| {
        !layer.is_empty()
            && !["not", "off", "none", "disabled"]
                .iter()
                .any(|n| layer.starts_with(n))
    };
    if applied(&report.landlock) {
        layers.push(if report.landlock.starts_with("partially") {
            "landlock(partial)".into()
        } else {
            "landlock".into()
        });
    }
    if applied(&report.seccomp) {
        layers.push("seccomp".into());
    }
    layers.join(" ")
}

/// The rows of `statuses` (kept small: 200 modules stay well under 150 KB).
pub fn rows(statuses: &[ModuleStatus], session: &Session) -> String {
    let now = now_ms();
    let mut out = String::new();
    for s in statuses {
        let key = format!("{}/{}", url(&s.workspace), url(&s.name));
        let version = s
            .manifest
            .as_ref()
            .and_then(|m| m["version"].as_str())
            .or(s.package_version.as_deref())
            .unwrap_or("-");
        let uptime = match (s.state.as_str(), s.ready_since_ms) {
            ("ready", Some(since)) => html::duration_ms(now.saturating_sub(since)),
            _ => "-".into(),
        };
        let start = s
            .start_ms
            .map(|ms| format!("{ms:.0} ms"))
            .unwrap_or_else(|| "-".into());
        let error = s.last_error.as_deref().unwrap_or("");
        let source = if s.source.starts_with("deployment") {
            "deployment"
        } else {
            "config"
        };
        let mut actions = String::new();
        if session.role.may_act() {
            let _ = write!(
                actions,
                "<button data-post=\"/console/modules/{key}/restart\">Restart</button>"
            );
        }
        let _ = write!(
            out,
            "<tr data-module=\"{}/{}\"><td><a href=\"/console/modules/{key}\">{}</a></td><td>{}</td>\
<td>{}</td><td>{}</td><td>{source}</td><td class=\"pid\">{}</td><td>{}</td><td>{uptime}</td>\
<td>{}</td><td>{start}</td><td>{}</td><td class=\"err\">{e}</td><td>{actions}</td></tr>",
            esc(&s.workspace),
            esc(&s.name),
            esc(&s.name),
            esc(&s.workspace),
            html::state_badge(s.state.as_str()),
            esc(version),
            s.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            s.restarts,
            s.in_flight,
            esc(&sandbox(s)),
            e = esc(error),
        );
    }
    if statuses.is_empty() {
        out.push_str("<tr><td colspan=\"13\">No module matches.</td></tr>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::console::session::{Role, Sessions};

    #[test]
    fn two_hundred_modules_fit_in_a_page() {
        let statuses: Vec<ModuleStatus> = (0..200)
            .map(|i| {
                let mut s = ModuleStatus::new("ws_production_eu", &format!("module-number-{i:03}"));
                s.pid = Some(123_456);
                s.last_error = Some("health probe failed: deadline of 2s exceeded".into());
                s.source = "deployment dep_0123456789abcdef".into();
                s
            })
            .collect();
        let (_, admin) = Sessions::new(std::time::Duration::from_secs(60)).open(Role::Admin, None);
        let html = rows(&statuses, &admin);
        assert!(
            html.len() < 120_000,
            "{} bytes: {}",
            html.len(),
            &html[..800]
        );
        assert!(
            !html.contains("/disable"),
            "disable lives on the module's page"
        );
        assert!(html
            .contains("data-post=\"/console/modules/ws_production_eu/module-number-007/restart\""));
        let (_, reader) = Sessions::new(std::time::Duration::from_secs(60))
            .open(Role::Workspace("ws_production_eu".into()), None);
        assert!(!rows(&statuses, &reader).contains("data-post"));
    }

    #[test]
    fn module_text_is_escaped() {
        let mut s = ModuleStatus::new("ws", "m");
        s.last_error = Some("<img src=x onerror=alert(1)>".into());
        let (_, admin) = Sessions::new(std::time::Duration::from_secs(60)).open(Role::Admin, None);
        let html = rows(&[s], &admin);
        assert!(!html.contains("<img"), "{html}");
    }
}
