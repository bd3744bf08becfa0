//! `convotic-supervisor doctor`: which sandbox layers this kernel and these privileges allow,
//! which layers each running module actually got, and how to enable what is missing; then the
//! gateway's open-file limit and `[server]` limits (`doctor_limits.rs`).

use super::Target;
use crate::sandbox::probe::{probe, Layer};

/// Prints the report; exit code 1 when the `strict` profile cannot work here.
pub fn doctor(target: &Target, json: bool) -> i32 {
    let layers = probe();
    let running = super::client::Admin::connect(target)
        .and_then(|admin| admin.call(reqwest::Method::GET, "/admin/v1/modules"))
        .ok();
    let strict_ok = layers.iter().all(|l| l.available || !l.required);
    let gateway = super::doctor_limits::gateway_limits(target);
    if json {
        let value = serde_json::json!({
            "layers": layers,
            "strict_available": strict_ok,
            "modules": running.as_ref().map(modules_view),
            "gateway": gateway,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        print_layers(&layers);
        match &running {
            Some(body) => print_modules(body),
            None => println!("\n(no running supervisor found for this data dir: start one to see what each module got)"),
        }
        super::doctor_limits::print_gateway_limits(&gateway);
        if strict_ok {
            println!("\nthe strict profile can run here");
        } else {
            println!("\nthe strict profile CANNOT run here: fix the layers marked required, or give modules sandbox = \"none\"");
        }
    }
    i32::from(!strict_ok)
}

fn print_layers(layers: &[Layer]) {
    println!("{:<34} {:<10} detail", "layer", "status");
    for layer in layers {
        let status = match (layer.available, layer.required) {
            (true, _) => "ok",
            (false, true) => "MISSING",
            (false, false) => "missing",
        };
        println!("{:<34} {:<10} {}", layer.layer, status, layer.detail);
    }
}

fn modules_view(body: &serde_json::Value) -> serde_json::Value {
    let modules = body["modules"].as_array().cloned().unwrap_or_default();
    serde_json::Value::Array(
        modules
            .iter()
            .map(|m| {
                serde_json::json!({
                    "workspace": m["workspace"],
                    "name": m["name"],
                    "state": m["state"],
                    "sandbox": m["sandbox"],
                })
            })
            .collect(),
    )
}

fn print_modules(body: &serde_json::Value) {
    println!("\nrunning modules:");
    for module in body["modules"].as_array().into_iter().flatten() {
        let sandbox = &module["sandbox"];
        let summary = if sandbox.is_null() {
            "NO SANDBOX (profile none, or not ready)".to_string()
        } else {
            format!(
                "profile {}, namespaces {}, private root {}, uid {} (host {}), cgroup [{}], rlimits [{}], landlock {}, seccomp {}",
                sandbox["profile"].as_str().unwrap_or("?"),
                join(&sandbox["namespaces"]),
                sandbox["private_root"],
                sandbox["uid_inside"],
                sandbox["uid_host"],
                join(&sandbox["cgroup"]),
                join(&sandbox["rlimits"]),
                sandbox["landlock"].as_str().unwrap_or("?"),
                sandbox["seccomp"].as_str().unwrap_or("?"),
            )
        };
        println!(
            "  {}/{} ({}): {summary}",
            module["workspace"].as_str().unwrap_or("?"),
            module["name"].as_str().unwrap_or("?"),
            module["state"].as_str().unwrap_or("?"),
        );
    }
}

fn join(value: &serde_json::Value) -> String {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}
