//! `crons list`, `crons runs <module> <cron>` and `crons run <module> <cron>`: clients of a
//! running supervisor's `/admin/v1/crons` endpoints.

use serde_json::Value;

use super::client::{fail, format_time, Admin};
use super::Target;

/// Percent-encodes a path segment or query value.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn workspace_query(workspace: Option<&str>) -> String {
    workspace
        .map(|w| format!("?workspace={}", encode(w)))
        .unwrap_or_default()
}

fn print_json(body: &Value) {
    println!("{}", serde_json::to_string_pretty(body).unwrap_or_default());
}

fn call(target: &Target, method: reqwest::Method, path: &str) -> Result<Value, String> {
    Admin::connect(target)?.call(method, path)
}

/// `crons list`.
pub fn list(target: &Target, workspace: Option<&str>, json: bool) -> i32 {
    let path = format!("/admin/v1/crons{}", workspace_query(workspace));
    let body = match call(target, reqwest::Method::GET, &path) {
        Ok(body) => body,
        Err(e) => return fail(e),
    };
    if json {
        print_json(&body);
        return 0;
    }
    print!(
        "{}",
        format_crons(
            body["crons"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
        )
    );
    0
}

/// The `crons list` table.
fn format_crons(crons: &[Value]) -> String {
    let mut out = format!(
        "{:<16} {:<20} {:<20} {:<16} {:<16} {:<6} {:<26} {}\n",
        "WORKSPACE", "MODULE", "CRON", "SCHEDULE", "TIMEZONE", "OVERLAP", "NEXT", "LAST RUN"
    );
    for c in crons {
        let last = match &c["last_run"] {
            Value::Null => "-".to_string(),
            run => format!(
                "{} {}",
                run["outcome"].as_str().unwrap_or("?"),
                run["scheduled_at_ms"]
                    .as_u64()
                    .map(format_time)
                    .unwrap_or_default()
            ),
        };
        out.push_str(&format!(
            "{:<16} {:<20} {:<20} {:<16} {:<16} {:<6} {:<26} {}\n",
            c["workspace"].as_str().unwrap_or(""),
            c["module"].as_str().unwrap_or(""),
            c["name"].as_str().unwrap_or(""),
            c["schedule"].as_str().unwrap_or(""),
            c["timezone"].as_str().unwrap_or(""),
            c["overlap"].as_str().unwrap_or(""),
            c["next_fire_at"].as_str().unwrap_or("-"),
            last
        ));
    }
    out
}

/// `crons runs <module> <cron>`.
pub fn runs(
    target: &Target,
    module: &str,
    cron: &str,
    workspace: Option<&str>,
    limit: u32,
    json: bool,
) -> i32 {
    let query = workspace_query(workspace);
    let sep = if query.is_empty() { '?' } else { '&' };
    let path = format!(
        "/admin/v1/crons/{}/{}/runs{query}{sep}page_size={limit}",
        encode(module),
        encode(cron)
    );
    let body = match call(target, reqwest::Method::GET, &path) {
        Ok(body) => body,
        Err(e) => return fail(e),
    };
    if json {
        print_json(&body);
        return 0;
    }
    println!(
        "{:<32} {:<26} {:<8} {:<9} {:>9} MESSAGE",
        "RUN", "SCHEDULED", "OUTCOME", "MANUAL", "DURATION"
    );
    for run in body["runs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let duration = match (
            run["started_at_ms"].as_u64(),
            run["finished_at_ms"].as_u64(),
        ) {
            (Some(start), Some(end)) => format!("{}ms", end.saturating_sub(start)),
            _ => "-".to_string(),
        };
        println!(
            "{:<32} {:<26} {:<8} {:<9} {:>9} {}",
            run["id"].as_str().unwrap_or(""),
            run["scheduled_at_ms"]
                .as_u64()
                .map(format_time)
                .unwrap_or_default(),
            run["outcome"].as_str().unwrap_or(""),
            if run["manual"] == true { "manual" } else { "" },
            duration,
            run["message"].as_str().unwrap_or("")
        );
    }
    0
}

/// `crons run <module> <cron>`.
pub fn run(target: &Target, module: &str, cron: &str, workspace: Option<&str>) -> i32 {
    let path = format!(
        "/admin/v1/crons/{}/{}/run{}",
        encode(module),
        encode(cron),
        workspace_query(workspace)
    );
    match call(target, reqwest::Method::POST, &path) {
        Ok(body) => {
            println!(
                "started run {} of {module}/{cron}",
                body["id"].as_str().unwrap_or("?")
            );
            0
        }
        Err(e) => fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_segments() {
        assert_eq!(encode("nightly-sync.v2"), "nightly-sync.v2");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn table_has_a_row_per_cron() {
        let crons = [serde_json::json!({
            "workspace": "ws_a", "module": "m", "name": "tick", "schedule": "* * * * * *",
            "timezone": "UTC", "overlap": "skip", "next_fire_at": "2026-01-01T00:00:01+00:00",
            "last_run": {"outcome": "ok", "scheduled_at_ms": 0}
        })];
        let table = format_crons(&crons);
        assert_eq!(table.lines().count(), 2);
        assert!(table.contains("tick") && table.contains("ok 1970-01-01T00:00:00"));
    }
}
