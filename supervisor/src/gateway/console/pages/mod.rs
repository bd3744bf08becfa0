//! The console's GET side: which page or fragment a path names, with the session's view
//! (a workspace session sees its workspace only; anything else is "not found").

mod catalog;
mod cluster;
mod crons;
mod delivery;
mod deployments;
mod module;
mod modules;
mod workers;

use std::sync::Arc;

use warp::http::StatusCode;
use warp::reply::Response;

use super::html::{self, esc};
use super::{html as html_response, Visit};
use crate::supervision::ModuleHandle;

/// Serves the page or fragment of `visit`'s path.
pub async fn get(visit: &Visit<'_>) -> Response {
    let rest = visit.request.path.trim_start_matches("/console/");
    let decoded: Option<Vec<String>> = if rest.is_empty() {
        Some(Vec::new())
    } else {
        rest.trim_end_matches('/')
            .split('/')
            .map(crate::registry::percent_decode)
            .collect()
    };
    let Some(segments) = decoded else {
        return not_found(visit, "the path is not valid percent-encoding");
    };
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segments.as_slice() {
        [] => modules::page(visit),
        ["fragments", "modules"] => modules::rows_fragment(visit),
        ["modules", ws, name] => match module_of(visit, ws, name) {
            Some(handle) => module::page(visit, &handle).await,
            None => not_found(visit, &format!("no module {name} in workspace {ws}")),
        },
        ["modules", ws, name, "logs"] => match module_of(visit, ws, name) {
            Some(handle) => super::live::logs(visit, handle),
            None => not_found(visit, &format!("no module {name} in workspace {ws}")),
        },
        ["modules", ws, name, "charts"] => match module_of(visit, ws, name) {
            Some(handle) => html_response(StatusCode::OK, module::charts(&handle)),
            None => not_found(visit, &format!("no module {name} in workspace {ws}")),
        },
        ["crons"] => crons::page(visit).await,
        ["crons", ws, module, cron] => {
            if !visit.session.role.sees(ws) {
                return not_found(visit, &format!("no cron {cron} of {module} in {ws}"));
            }
            crons::runs_page(visit, ws, module, cron).await
        }
        ["workers"] => workers::page(visit).await,
        ["catalog"] => catalog::page(visit).await,
        ["deployments"] => deployments::page(visit).await,
        ["delivery"] => delivery::page(visit).await,
        ["cluster"] => cluster::page(visit).await,
        _ => not_found(visit, "no such console page"),
    }
}

/// Module `ws/name`, when the session may see it.
fn module_of(visit: &Visit<'_>, ws: &str, name: &str) -> Option<Arc<ModuleHandle>> {
    if !visit.session.role.sees(ws) {
        return None;
    }
    visit
        .state
        .supervisor
        .modules()
        .iter()
        .find(|m| m.workspace == ws && m.name == name)
        .cloned()
}

/// The workspaces the session may see that have at least one module, sorted.
fn visible_workspaces(visit: &Visit<'_>) -> Vec<String> {
    let mut workspaces: Vec<String> = visit
        .state
        .supervisor
        .modules()
        .iter()
        .map(|m| m.workspace.clone())
        .filter(|ws| visit.session.role.sees(ws))
        .collect();
    workspaces.sort();
    workspaces.dedup();
    workspaces
}

/// A query parameter of the request.
fn query(visit: &Visit<'_>, name: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&visit.request.query)
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The `notice` / `error` a form action sent back, as a paragraph.
fn flash(visit: &Visit<'_>) -> String {
    let mut out = String::new();
    if let Some(notice) = query(visit, "notice") {
        out.push_str(&format!(
            "<p class=\"notice\" role=\"status\">{}</p>",
            esc(&notice)
        ));
    }
    if let Some(error) = query(visit, "error") {
        out.push_str(&format!(
            "<p class=\"error\" role=\"alert\">{}</p>",
            esc(&error)
        ));
    }
    out
}

/// A full page for the session.
fn page(visit: &Visit<'_>, title: &str, current: &str, body: &str) -> Response {
    let body = format!("{}{body}", flash(visit));
    html_response(
        StatusCode::OK,
        html::page(title, current, &visit.session, &body),
    )
}

/// 404 as a page.
fn not_found(visit: &Visit<'_>, why: &str) -> Response {
    let body = format!(
        "<p class=\"error\">{}</p><p><a href=\"/console/\">Back to the modules</a></p>",
        esc(why)
    );
    html_response(
        StatusCode::NOT_FOUND,
        html::page("Not found", "", &visit.session, &body),
    )
}

/// Milliseconds since the Unix epoch now.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}
