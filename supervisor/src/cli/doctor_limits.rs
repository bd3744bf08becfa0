//! The gateway part of `doctor`: the open-file limit the supervisor will run with and, with
//! `--config`, the HTTP limits and timeouts of `[server]` as they will apply (the connection
//! cap lowered to fit the open-file limit).

use super::Target;

/// The gateway's limits as JSON: `open_files` (soft and hard now; the supervisor raises its
/// soft limit to the hard one at start) and `server` when a config was given.
pub fn gateway_limits(target: &Target) -> serde_json::Value {
    use nix::sys::resource::{getrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((1024, 1024));
    let mut value = serde_json::json!({"open_files": {"soft": soft, "hard": hard}});
    let Some(path) = &target.config else {
        return value;
    };
    value["server"] = match crate::config::load_for_clients(path) {
        Ok(config) => {
            let s = &config.server;
            let duration = |d: std::time::Duration| humantime::format_duration(d).to_string();
            serde_json::json!({
                "max_connections": s.max_connections,
                "max_connections_effective":
                    crate::gateway::connections_that_fit(s.max_connections, hard),
                "header_read_timeout": duration(s.header_read_timeout),
                "idle_timeout": duration(s.idle_timeout),
                "body_read_timeout": duration(s.body_read_timeout),
                "route_timeout": duration(s.route_timeout),
                "http2_max_concurrent_streams": s.http2_max_concurrent_streams,
                "max_body_bytes": s.max_body_bytes,
                "max_header_bytes": s.max_header_bytes,
                "max_response_bytes": s.max_response_bytes,
                "response_buffer_bytes": s.response_buffer_bytes,
                "public_metrics": s.public_metrics,
                "console": s.console,
                "console_without_login": s.console_without_login,
                "console_session": duration(s.console_session),
            })
        }
        Err(e) => serde_json::json!({"error": e.to_string()}),
    };
    value
}

/// Prints [`gateway_limits`] for people.
pub fn print_gateway_limits(limits: &serde_json::Value) {
    let files = &limits["open_files"];
    println!(
        "\nopen files: soft {} hard {} (the supervisor raises its soft limit to the hard one at start)",
        files["soft"], files["hard"]
    );
    let server = &limits["server"];
    if server.is_null() {
        println!("gateway limits: pass --config to see the [server] limits as they will apply");
        return;
    }
    if let Some(error) = server["error"].as_str() {
        println!("gateway limits: cannot read the config: {error}");
        return;
    }
    let effective = &server["max_connections_effective"];
    let lowered = if effective != &server["max_connections"] {
        format!(
            " (lowered from {} to fit the open-file limit: raise the hard RLIMIT_NOFILE, e.g. LimitNOFILE= in the systemd unit)",
            server["max_connections"]
        )
    } else {
        String::new()
    };
    println!("gateway limits ([server], docs/configuration.md):");
    println!("  max_connections              {effective}{lowered}");
    for key in [
        "header_read_timeout",
        "idle_timeout",
        "body_read_timeout",
        "route_timeout",
        "http2_max_concurrent_streams",
        "max_body_bytes",
        "max_header_bytes",
        "max_response_bytes",
        "response_buffer_bytes",
        "public_metrics",
        "console",
        "console_without_login",
        "console_session",
    ] {
        let value = &server[key];
        let shown = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string);
        println!("  {key:<28} {shown}");
    }
}
