//! Rules for workers, nodes, blocks and crons: names, uniqueness, schemas, schedules, zones.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use convotic_proto::plugin::v1::{BlockDef, CronDef, NodeDef, WorkerDef};
use croner::parser::{CronParser, Seconds, Year};

use super::{check_schema, check_timeout};
use crate::names::{is_identifier, is_topic};

pub(super) fn check_workers(workers: &[WorkerDef], problems: &mut Vec<String>) {
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, worker) in workers.iter().enumerate() {
        let name = if worker.name.is_empty() {
            &worker.topic
        } else {
            &worker.name
        };
        let entry = format!("workers[{i}] ({name})");
        if !is_topic(&worker.topic) {
            problems.push(format!(
                "{entry}: topic {:?} must be 1-128 characters of [A-Za-z0-9_-] in '.'-separated segments, without wildcards",
                worker.topic
            ));
        }
        if !worker.name.is_empty() && !is_identifier(&worker.name) {
            problems.push(format!(
                "{entry}: name must be 1-64 characters of [a-z0-9_.-]"
            ));
        }
        if let Some(first) = names.insert(name.clone(), i) {
            problems.push(format!(
                "{entry}: handler name duplicates workers[{first}]; give one a distinct name"
            ));
        }
        if worker.concurrency > 1000 {
            problems.push(format!(
                "{entry}: concurrency {} is over 1000",
                worker.concurrency
            ));
        }
        if worker.max_attempts > 1000 {
            problems.push(format!(
                "{entry}: max_attempts {} is over 1000",
                worker.max_attempts
            ));
        }
        check_timeout(&entry, "timeout_ms", worker.timeout_ms, problems);
    }
}

pub(super) fn check_nodes(nodes: &[NodeDef], problems: &mut Vec<String>) {
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        let entry = format!("nodes[{i}] ({}@{})", node.r#type, node.version);
        if !is_identifier(&node.r#type) {
            problems.push(format!(
                "{entry}: type must be 1-64 characters of [a-z0-9_.-]"
            ));
        }
        if !is_version(&node.version) {
            problems.push(format!(
                "{entry}: version must be non-empty, e.g. \"1.0.0\""
            ));
        }
        if let Some(first) = seen.insert((node.r#type.clone(), node.version.clone()), i) {
            problems.push(format!("{entry}: same type and version as nodes[{first}]"));
        }
        check_schema(&entry, "input_schema", &node.input_schema, problems);
        check_schema(&entry, "output_schema", &node.output_schema, problems);
        let mut branches = HashSet::new();
        for branch in &node.branches {
            if !is_identifier(branch) {
                problems.push(format!(
                    "{entry}: branch {branch:?} must be 1-64 characters of [a-z0-9_.-]"
                ));
            }
            if !branches.insert(branch) {
                problems.push(format!("{entry}: branch {branch:?} is listed twice"));
            }
        }
        if !node.connection_block.is_empty() && !is_identifier(&node.connection_block) {
            problems.push(format!("{entry}: connection_block is not a block id"));
        }
        check_timeout(&entry, "timeout_ms", node.timeout_ms, problems);
    }
}

fn is_version(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= 64
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
}

pub(super) fn check_blocks(blocks: &[BlockDef], problems: &mut Vec<String>) {
    let mut ids: HashMap<String, usize> = HashMap::new();
    for (i, block) in blocks.iter().enumerate() {
        let entry = format!("blocks[{i}] ({})", block.id);
        if !is_identifier(&block.id) {
            problems.push(format!(
                "{entry}: id must be 1-64 characters of [a-z0-9_.-]"
            ));
        }
        if let Some(first) = ids.insert(block.id.clone(), i) {
            problems.push(format!("{entry}: same id as blocks[{first}]"));
        }
        check_schema(
            &entry,
            "connection_schema",
            &block.connection_schema,
            problems,
        );
        let properties = serde_json::from_str::<serde_json::Value>(&block.connection_schema)
            .ok()
            .and_then(|s| s.get("properties").and_then(|p| p.as_object()).cloned());
        for secret in &block.secret_fields {
            if secret.is_empty() {
                problems.push(format!("{entry}: secret_fields has an empty name"));
            } else if let Some(properties) = &properties {
                if !properties.contains_key(secret) {
                    problems.push(format!(
                        "{entry}: secret field {secret:?} is not a property of connection_schema"
                    ));
                }
            }
        }
        check_timeout(&entry, "test_timeout_ms", block.test_timeout_ms, problems);
        let mut actions: HashMap<&str, usize> = HashMap::new();
        for (j, action) in block.actions.iter().enumerate() {
            let action_entry = format!("{entry}.actions[{j}] ({})", action.name);
            if !is_identifier(&action.name) {
                problems.push(format!(
                    "{action_entry}: name must be 1-64 characters of [a-z0-9_.-]"
                ));
            }
            if let Some(first) = actions.insert(&action.name, j) {
                problems.push(format!("{action_entry}: same name as actions[{first}]"));
            }
            check_schema(
                &action_entry,
                "input_schema",
                &action.input_schema,
                problems,
            );
            check_schema(
                &action_entry,
                "output_schema",
                &action.output_schema,
                problems,
            );
            check_timeout(&action_entry, "timeout_ms", action.timeout_ms, problems);
        }
    }
}

pub(super) fn check_crons(crons: &[CronDef], problems: &mut Vec<String>) {
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, cron) in crons.iter().enumerate() {
        let entry = format!("crons[{i}] ({})", cron.name);
        if !is_identifier(&cron.name) {
            problems.push(format!(
                "{entry}: name must be 1-64 characters of [a-z0-9_.-]"
            ));
        }
        if let Some(first) = names.insert(cron.name.clone(), i) {
            problems.push(format!("{entry}: same name as crons[{first}]"));
        }
        if let Err(message) = parse_schedule(&cron.schedule) {
            problems.push(format!("{entry}: schedule {:?}: {message}", cron.schedule));
        }
        if !cron.timezone.is_empty() && chrono_tz::Tz::from_str(&cron.timezone).is_err() {
            problems.push(format!(
                "{entry}: timezone {:?} is not an IANA time zone (e.g. \"Europe/Paris\", \"UTC\")",
                cron.timezone
            ));
        }
        check_timeout(&entry, "timeout_ms", cron.timeout_ms, problems);
    }
}

/// Maps shorthands croner lacks onto ones it has (`@midnight` → `@daily`).
pub fn normalize_schedule(schedule: &str) -> String {
    let trimmed = schedule.trim();
    if trimmed.eq_ignore_ascii_case("@midnight") {
        "@daily".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Parses a schedule: 5 fields (classic cron), 6 fields (leading seconds) or a shorthand.
/// Day-of-month and day-of-week combine with OR, as in classic cron.
pub fn parse_schedule(schedule: &str) -> Result<croner::Cron, String> {
    let normalized = normalize_schedule(schedule);
    if !normalized.starts_with('@') {
        let fields = normalized.split_whitespace().count();
        if fields != 5 && fields != 6 {
            return Err(format!(
                "has {fields} fields; use 5 (minute hour day month weekday), 6 (with leading seconds) or a shorthand such as @hourly"
            ));
        }
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .dom_and_dow(false)
        .build()
        .parse(&normalized)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use convotic_proto::plugin::v1::ActionDef;

    #[test]
    fn schedules() {
        assert!(parse_schedule("*/5 * * * *").is_ok());
        assert!(parse_schedule("*/10 * * * * *").is_ok());
        assert!(parse_schedule("@hourly").is_ok());
        assert!(parse_schedule("@midnight").is_ok());
        assert!(parse_schedule("every tuesday").is_err());
        assert!(parse_schedule("* * * *").unwrap_err().contains("4 fields"));
        assert!(parse_schedule("0 0 0 1 1 * 2030").is_err());
        assert!(parse_schedule("61 * * * *").is_err());
    }

    #[test]
    fn topics() {
        assert!(is_topic("orders.created"));
        assert!(is_topic("a_b-c"));
        assert!(!is_topic("orders.*"));
        assert!(!is_topic("orders..x"));
        assert!(!is_topic(""));
        assert!(!is_topic("a b"));
    }

    #[test]
    fn blocks_check_secrets_and_actions() {
        let block = BlockDef {
            id: "sms".into(),
            connection_schema: r#"{"type":"object","properties":{"api_key":{"type":"string"}}}"#
                .into(),
            secret_fields: vec!["api_key".into(), "token".into()],
            actions: vec![
                ActionDef {
                    name: "send".into(),
                    ..Default::default()
                },
                ActionDef {
                    name: "send".into(),
                    input_schema: "[1]".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let mut problems = Vec::new();
        check_blocks(&[block], &mut problems);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("\"token\""));
        assert!(problems[1].contains("actions[1] (send): same name as actions[0]"));
        assert!(problems[2].contains("input_schema must be a JSON Schema object"));
    }

    #[test]
    fn crons_check_zone() {
        let cron = CronDef {
            name: "n".into(),
            schedule: "@daily".into(),
            timezone: "Mars/Olympus".into(),
            ..Default::default()
        };
        let mut problems = Vec::new();
        check_crons(&[cron], &mut problems);
        assert!(problems[0].contains("IANA"), "{problems:?}");
    }
}
