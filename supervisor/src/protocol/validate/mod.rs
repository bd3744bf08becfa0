//! Manifest validation: the supervisor refuses a module whose manifest is wrong, with an error
//! naming every bad entry (`routes[1] (GET /orders/:id): duplicate of routes[0]`).

mod entries;
mod routes;

use convotic_proto::plugin::v1::Manifest;

pub use entries::{normalize_schedule, parse_schedule};
pub use routes::{route_pattern_to_matchit, validate_route_path};

/// Largest accepted per-entry timeout.
pub const MAX_TIMEOUT_MS: u32 = 24 * 60 * 60 * 1000;
/// Largest accepted `max_in_flight`.
pub const MAX_IN_FLIGHT: u32 = 10_000;

/// Every problem found in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid manifest: {}", problems.join("; "))]
pub struct ManifestError {
    /// One message per problem, each naming its entry.
    pub problems: Vec<String>,
}

/// Most entries of each kind in one manifest: each becomes consumers, timers, metric series
/// and console rows, so a module cannot declare them without bound.
pub const MOST_ROUTES: usize = 256;
/// See [`MOST_ROUTES`].
pub const MOST_WORKERS: usize = 64;
/// See [`MOST_ROUTES`].
pub const MOST_NODES: usize = 256;
/// See [`MOST_ROUTES`].
pub const MOST_BLOCKS: usize = 64;
/// See [`MOST_ROUTES`].
pub const MOST_CRONS: usize = 64;

/// Checks a manifest against the rules of docs/PROTOCOL.md ("Manifest validation").
/// `expected_name` is the module name the operator configured.
pub fn validate_manifest(manifest: &Manifest, expected_name: &str) -> Result<(), ManifestError> {
    let mut problems = Vec::new();
    if manifest.name != expected_name {
        problems.push(format!(
            "name: the module calls itself {:?} but is configured as {:?}; make them equal",
            manifest.name, expected_name
        ));
    }
    if manifest.version.trim().is_empty() {
        problems.push("version: must not be empty (e.g. \"1.0.0\")".into());
    }
    if manifest.max_in_flight > MAX_IN_FLIGHT {
        problems.push(format!(
            "max_in_flight: {} is over the limit of {MAX_IN_FLIGHT}",
            manifest.max_in_flight
        ));
    }
    let counts = [
        ("routes", manifest.routes.len(), MOST_ROUTES),
        ("workers", manifest.workers.len(), MOST_WORKERS),
        ("nodes", manifest.nodes.len(), MOST_NODES),
        ("blocks", manifest.blocks.len(), MOST_BLOCKS),
        ("crons", manifest.crons.len(), MOST_CRONS),
    ];
    for (field, count, most) in counts {
        if count > most {
            problems.push(format!(
                "{field}: {count} entries, over the limit of {most} (split the module)"
            ));
        }
    }
    if !problems.is_empty() && counts.iter().any(|(_, count, most)| count > most) {
        return Err(ManifestError { problems });
    }
    routes::check(&manifest.routes, &mut problems);
    entries::check_workers(&manifest.workers, &mut problems);
    entries::check_nodes(&manifest.nodes, &mut problems);
    entries::check_blocks(&manifest.blocks, &mut problems);
    entries::check_crons(&manifest.crons, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ManifestError { problems })
    }
}

pub(crate) fn check_timeout(entry: &str, field: &str, value: u32, problems: &mut Vec<String>) {
    if value > MAX_TIMEOUT_MS {
        problems.push(format!(
            "{entry}: {field} {value} ms is over the 24 h limit"
        ));
    }
}

/// Checks that `text` is empty or a JSON Schema document that compiles (no remote `$ref`s).
pub(crate) fn check_schema(entry: &str, field: &str, text: &str, problems: &mut Vec<String>) {
    if let Err(e) = crate::json_schema::Schema::compile(text) {
        problems.push(format!("{entry}: {field} {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use convotic_proto::plugin::v1::{CronDef, RouteDef, WorkerDef};

    fn manifest() -> Manifest {
        Manifest {
            name: "m".into(),
            version: "1.0.0".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_good_manifest_passes() {
        let mut m = manifest();
        m.routes.push(RouteDef {
            method: "GET".into(),
            path: "/orders/:orderId".into(),
            ..Default::default()
        });
        m.workers.push(WorkerDef {
            topic: "orders.created".into(),
            ..Default::default()
        });
        m.crons.push(CronDef {
            name: "nightly".into(),
            schedule: "0 2 * * *".into(),
            timezone: "Europe/Paris".into(),
            ..Default::default()
        });
        validate_manifest(&m, "m").unwrap();
    }

    #[test]
    fn entries_are_bounded_in_number() {
        let mut m = manifest();
        for i in 0..=MOST_WORKERS {
            m.workers.push(WorkerDef {
                topic: format!("t{i}"),
                ..Default::default()
            });
        }
        let problems = validate_manifest(&m, "m").unwrap_err().problems;
        assert_eq!(
            problems,
            vec!["workers: 65 entries, over the limit of 64 (split the module)".to_string()]
        );
    }

    #[test]
    fn name_mismatch_and_all_problems_are_reported() {
        let mut m = manifest();
        m.name = "other".into();
        m.crons.push(CronDef {
            name: "bad".into(),
            schedule: "every tuesday".into(),
            ..Default::default()
        });
        let err = validate_manifest(&m, "m").unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");
        assert!(err.problems[0].starts_with("name:"));
        assert!(err.problems[1].starts_with("crons[0] (bad)"), "{err}");
    }
}
