//! `reload`: asks the running supervisor to re-read its config file and prints what changed.

use std::time::Duration;

use super::client::{fail, Admin};
use super::Target;

/// How long a reload may take: new instances start and old ones drain.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// Prints the reload report; exit 1 when the file was refused or a change did not take over.
pub fn reload(target: &Target, json: bool) -> i32 {
    let admin = match Admin::connect(target) {
        Ok(admin) => admin,
        Err(e) => return fail(e),
    };
    let report = match admin.call_within(reqwest::Method::POST, "/admin/v1/reload", RELOAD_TIMEOUT)
    {
        Ok(report) => report,
        Err(e) => return fail(e),
    };
    let complete = report["changed"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|c| c["applied"].as_bool() == Some(true))
        && report["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|n| n["ok"].as_bool() == Some(true));
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print_report(&report);
    }
    i32::from(!complete)
}

fn print_report(report: &serde_json::Value) {
    let names = |key: &str| -> Vec<String> {
        report[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    for module in names("added") {
        println!("added      {module}: started");
    }
    for module in names("removed") {
        println!("removed    {module}: stopped");
    }
    for change in report["changed"].as_array().into_iter().flatten() {
        let what = if change["applied"].as_bool() == Some(true) {
            "changed   "
        } else {
            "NOT CHANGED"
        };
        println!(
            "{what} {}: {}",
            change["module"].as_str().unwrap_or("?"),
            change["message"].as_str().unwrap_or("")
        );
    }
    let unchanged = names("unchanged").len();
    println!("unchanged  {unchanged} module(s) left as they were");
    for item in names("needs_restart") {
        println!("restart needed: {item} changed; it applies at the next start");
    }
    for node in report["nodes"].as_array().into_iter().flatten() {
        println!(
            "node {}: {}{}",
            node["node"].as_str().unwrap_or("?"),
            if node["ok"].as_bool() == Some(true) {
                ""
            } else {
                "NOT RELOADED: "
            },
            node["message"].as_str().unwrap_or("")
        );
    }
}
