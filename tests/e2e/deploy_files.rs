//! The monitoring files operators install from `deploy/`: the Prometheus alerting rules pass
//! `promtool check rules` and their unit tests (`promtool test rules`), the example Prometheus
//! configuration passes `promtool check config` together with the rules it loads, and the
//! Grafana dashboard is valid JSON whose queries are valid PromQL and use only the metric
//! families documented in `docs/metrics.md`, every one of them.
//!
//! `promtool` comes with Debian's `prometheus` package (`scripts/test` installs it); without it
//! these tests fail rather than skip.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Alerts the rule file must define.
const REQUIRED_ALERTS: &[&str] = &[
    "ConvoticModuleCrashLooping",
    "ConvoticModuleFailed",
    "ConvoticDeadLettersGrowing",
    "ConvoticCronRunsFailing",
    "ConvoticRouteErrorRatioHigh",
    "ConvoticStorageNotOk",
];

/// Where the scrape config expects Prometheus' copy of the admin token.
const TOKEN_PATH: &str = "/etc/convotic/admin-token";

/// Series every histogram family is exported as, besides none under its own name.
const HISTOGRAM_SUFFIXES: &[&str] = &["_bucket", "_sum", "_count"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repo")
}

/// `promtool` from `PATH`, else `/usr/bin/promtool`; fails the test when there is none.
fn promtool() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("promtool"))
            .find(|candidate| candidate.is_file())
    });
    let found = on_path.or_else(|| {
        let fallback = PathBuf::from("/usr/bin/promtool");
        fallback.is_file().then_some(fallback)
    });
    found.unwrap_or_else(|| {
        panic!(
            "promtool is missing (not on PATH, no /usr/bin/promtool): install Debian's \
             prometheus package (`apt-get install prometheus`; scripts/test does) to check \
             the files in deploy/prometheus and deploy/grafana"
        )
    })
}

/// Runs `promtool` with `args` in `dir` and returns its output; fails the test unless it
/// succeeds.
fn promtool_ok(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(promtool())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool {} (in {}) failed:\n{text}",
        args.join(" "),
        dir.display()
    );
    text
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One metric family of the table in `docs/metrics.md`.
#[derive(Debug)]
struct Family {
    name: String,
    histogram: bool,
}

/// The families of the table whose header is `| name | type | labels |` in `docs/metrics.md`.
fn documented_families() -> Vec<Family> {
    let doc = read(&repo().join("docs/metrics.md"));
    let mut lines = doc.lines().skip_while(|line| {
        let cells = cells(line);
        cells.first().map(String::as_str) != Some("name")
            || cells.get(1).map(String::as_str) != Some("type")
    });
    assert!(
        lines.next().is_some(),
        "docs/metrics.md has no table with the header | name | type | labels |"
    );
    let mut families = Vec::new();
    for line in lines.skip(1).take_while(|line| line.starts_with('|')) {
        let cells = cells(line);
        assert!(cells.len() >= 3, "docs/metrics.md: short table row {line}");
        let histogram = cells[1] == "histogram";
        for name in cells[0].split(',') {
            let name = name.trim().trim_matches('`').to_string();
            assert!(
                !name.is_empty() && metric_names(&name) == [name.clone()],
                "docs/metrics.md: {name:?} is not a metric name"
            );
            families.push(Family { name, histogram });
        }
    }
    assert!(
        families.len() > 20,
        "docs/metrics.md: the metrics table has only {} families",
        families.len()
    );
    families
}

/// The cells of a Markdown table row, trimmed.
fn cells(line: &str) -> Vec<String> {
    let line = line.trim();
    if !line.starts_with('|') {
        return Vec::new();
    }
    line.trim_matches('|')
        .split('|')
        .map(|cell| cell.trim().to_string())
        .collect()
}

/// The Convotic and process metric names in `text`: its words (runs of letters, digits and
/// `_`) that start with `convotic_` or `process_`.
fn metric_names(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("convotic_") || word.starts_with("process_"))
        .map(str::to_string)
        .collect()
}

/// The documented family `name` belongs to (a histogram's `_bucket`, `_sum` and `_count`
/// series belong to the histogram), if any.
fn family_of<'a>(name: &str, families: &'a [Family]) -> Option<&'a Family> {
    families.iter().find(|f| f.name == name).or_else(|| {
        HISTOGRAM_SUFFIXES.iter().find_map(|suffix| {
            let base = name.strip_suffix(suffix)?;
            families.iter().find(|f| f.histogram && f.name == base)
        })
    })
}

/// Checks that every metric name in `text` is documented; returns the families it uses.
fn check_names<'a>(
    what: &str,
    text: &str,
    families: &'a [Family],
    unknown: &mut Vec<String>,
) -> BTreeSet<&'a str> {
    let mut used = BTreeSet::new();
    for name in metric_names(text) {
        match family_of(&name, families) {
            Some(family) => {
                used.insert(family.name.as_str());
            }
            None => unknown.push(format!("{what}: {name}")),
        }
    }
    used
}

fn dashboard() -> Value {
    let path = repo().join("deploy/grafana/convotic-supervisor.json");
    serde_json::from_str(&read(&path))
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// Every PromQL query of the dashboard with where it is: panel targets and annotations
/// (`expr`), and the template variables' queries.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                let here = map
                    .get("title")
                    .or_else(|| map.get("name"))
                    .and_then(Value::as_str)
                    .map_or_else(|| at.to_string(), |t| format!("{at} / {t}"));
                if let Some(expr) = map.get("expr").and_then(Value::as_str) {
                    let id = map.get("refId").and_then(Value::as_str).unwrap_or("");
                    out.push((format!("{here} {id}").trim_end().to_string(), expr.into()));
                }
                for (key, child) in map {
                    if key != "templating" {
                        walk(child, &here, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, at, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dashboard, "dashboard", &mut out);
    for variable in variables(dashboard) {
        if variable["type"] == "query" {
            let query = match &variable["query"] {
                Value::String(query) => query.clone(),
                other => other["query"].as_str().unwrap_or_default().to_string(),
            };
            out.push((format!("variable {}", variable["name"]), query));
        }
    }
    out
}

fn variables(dashboard: &Value) -> &[Value] {
    dashboard["templating"]["list"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

/// The panels of the dashboard, those inside collapsed rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        out.push(panel);
        if let Some(inner) = panel["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    let dir = repo().join("deploy/prometheus");
    let checked = promtool_ok(&dir, &["check", "rules", "convotic-alerts.yml"]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool_ok(&dir, &["test", "rules", "convotic-alerts.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");

    let rules = read(&dir.join("convotic-alerts.yml"));
    let tests = read(&dir.join("convotic-alerts.test.yml"));
    for alert in REQUIRED_ALERTS {
        assert!(
            rules.contains(&format!("- alert: {alert}\n")),
            "convotic-alerts.yml does not define {alert}"
        );
    }
    for alert in [
        "ConvoticModuleCrashLooping",
        "ConvoticDeadLettersGrowing",
        "ConvoticCronRunsFailing",
    ] {
        assert!(
            tests.contains(&format!("alertname: {alert}\n")),
            "convotic-alerts.test.yml does not test {alert}"
        );
    }
    let count = |text: &str, needle: &str| text.matches(needle).count();
    let alerts = count(&rules, "- alert: ");
    for needle in ["severity: ", "summary: ", "description: "] {
        assert_eq!(
            count(&rules, needle),
            alerts,
            "convotic-alerts.yml: every one of the {alerts} alerts needs one `{needle}`"
        );
    }

    let families = documented_families();
    let mut unknown = Vec::new();
    check_names("convotic-alerts.yml", &rules, &families, &mut unknown);
    check_names("convotic-alerts.test.yml", &tests, &families, &mut unknown);
    assert!(
        unknown.is_empty(),
        "metric names not in docs/metrics.md: {unknown:#?}"
    );
}

#[test]
fn prometheus_config_passes_promtool_with_its_rules() {
    let dir = repo().join("deploy/prometheus");
    promtool_ok(
        &dir,
        &["check", "config", "--syntax-only", "prometheus.yml"],
    );

    // A full check also reads the token file and the rule files: run it on a copy whose token
    // path points at a file that exists.
    let config = read(&dir.join("prometheus.yml"));
    assert!(
        config.contains(&format!("credentials_file: {TOKEN_PATH}\n")),
        "prometheus.yml should send the admin token from {TOKEN_PATH}"
    );
    assert!(
        config.contains("job_name: convotic-supervisor\n"),
        "{config}"
    );
    assert!(config.contains("\"127.0.0.1:8080\""), "{config}");
    let tmp = tempfile::tempdir().expect("tmp");
    let token = tmp.path().join("admin-token");
    std::fs::write(&token, "token\n").expect("token");
    std::fs::write(
        tmp.path().join("prometheus.yml"),
        config.replace(TOKEN_PATH, &token.display().to_string()),
    )
    .expect("config copy");
    std::fs::copy(
        dir.join("convotic-alerts.yml"),
        tmp.path().join("convotic-alerts.yml"),
    )
    .expect("rules copy");
    let checked = promtool_ok(tmp.path(), &["check", "config", "prometheus.yml"]);
    assert!(
        checked.contains("1 rule files found") && checked.contains("convotic-alerts.yml"),
        "prometheus.yml should load convotic-alerts.yml:\n{checked}"
    );
}

#[test]
fn dashboard_uses_only_documented_metrics_and_every_one_of_them() {
    let dashboard = dashboard();
    let families = documented_families();
    let queries = dashboard_queries(&dashboard);
    let mut unknown = Vec::new();
    let mut used = BTreeSet::new();
    for (at, query) in &queries {
        used.extend(check_names(at, query, &families, &mut unknown));
        if query.contains("histogram_quantile") {
            assert!(
                query.contains("_bucket{") && query.contains(", le)"),
                "{at}: histogram_quantile over the rate of a _bucket series by le: {query}"
            );
        }
    }
    assert!(
        unknown.is_empty(),
        "metric names in the dashboard not in docs/metrics.md: {unknown:#?}"
    );
    let unused: Vec<&str> = families
        .iter()
        .map(|f| f.name.as_str())
        .filter(|name| !used.contains(name))
        .collect();
    assert!(
        unused.is_empty(),
        "documented families no dashboard panel shows: {unused:?}"
    );
}

#[test]
fn dashboard_is_importable_with_its_variables() {
    let dashboard = dashboard();
    assert!(
        dashboard["schemaVersion"].as_u64().unwrap_or(0) >= 36,
        "schemaVersion: {}",
        dashboard["schemaVersion"]
    );
    assert_eq!(dashboard["uid"], "convotic-supervisor");
    assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()));

    let variable = |name: &str| -> &Value {
        variables(&dashboard)
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no template variable {name}"))
    };
    let datasource = variable("datasource");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");
    for (name, query) in [
        ("workspace", "label_values(convotic_module_up, workspace)"),
        (
            "module",
            "label_values(convotic_module_up{workspace=~\"$workspace\"}, module)",
        ),
    ] {
        let v = variable(name);
        assert_eq!(v["type"], "query", "{name}");
        assert_eq!(v["query"], query, "{name}");
        assert_eq!(v["datasource"]["uid"], "${datasource}", "{name}");
    }

    let mut ids = HashSet::new();
    let mut rows = Vec::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or_default();
        let id = panel["id"].as_u64().expect("panel id");
        assert!(ids.insert(id), "panel id {id} ({title}) is not unique");
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64(), grid["w"].as_u64());
        assert!(
            matches!((x, w), (Some(x), Some(w)) if w > 0 && x + w <= 24)
                && grid["h"].as_u64().is_some()
                && grid["y"].as_u64().is_some(),
            "panel {title}: gridPos {grid}"
        );
        if panel["type"] == "row" {
            rows.push(title.to_string());
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "panel {title} should use the datasource variable"
        );
        let targets = panel["targets"].as_array().map_or(&[][..], Vec::as_slice);
        assert!(!targets.is_empty(), "panel {title} has no query");
        for target in targets {
            assert_eq!(
                target["datasource"]["uid"], "${datasource}",
                "panel {title}"
            );
            assert!(
                target["expr"]
                    .as_str()
                    .is_some_and(|e| !e.trim().is_empty()),
                "panel {title}: target without expr"
            );
        }
    }
    for row in [
        "Modules",
        "Routes",
        "Workers",
        "Crons",
        "Host calls",
        "Nodes & Blocks",
        "Deployments",
        "Supervisor process",
    ] {
        assert!(rows.iter().any(|r| r == row), "no row {row}: {rows:?}");
    }
}

#[test]
fn dashboard_queries_are_valid_promql() {
    // Grafana's variables replaced by values, each query becomes a recording rule that
    // `promtool check rules` parses.
    let dashboard = dashboard();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let mut count = 0;
    for (at, query) in dashboard_queries(&dashboard) {
        if query.starts_with("label_values(") {
            continue;
        }
        let expr = query
            .replace("$__rate_interval", "5m")
            .replace("$__interval", "1m")
            .replace("$__range", "6h")
            .replace("$workspace", ".*")
            .replace("$module", ".*")
            .replace("$instance", ".*");
        assert!(!expr.contains('$'), "{at}: unknown variable in {query}");
        count += 1;
        rules.push_str(&format!(
            "      # {at}\n      - record: dashboard:query_{count}\n        expr: {}\n",
            serde_json::to_string(&expr).expect("quote")
        ));
    }
    assert!(count > 30, "only {count} queries in the dashboard");
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(tmp.path().join("dashboard.rules.yml"), &rules).expect("rules");
    let checked = promtool_ok(tmp.path(), &["check", "rules", "dashboard.rules.yml"]);
    assert!(
        checked.contains(&format!("SUCCESS: {count} rules found")),
        "{checked}\n{rules}"
    );
}
