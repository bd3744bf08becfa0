//! The deployment scenario of the three-node test: packages deployed through node B switch all
//! three nodes with no failed call under load on every node, and a version that fails on node C
//! only is rolled back on all three (the deployment names C).

use std::path::Path;
use std::time::Duration;

use convotic_e2e::load::{whoami, Load};
use convotic_e2e::netns::{Cluster, NODE_IDS};
use convotic_e2e::packages::{deploy, failing_under, fixture_package, node_reports as reports};
use convotic_e2e::Supervisor;
use serde_json::Value;

fn all(state: &str) -> Vec<(String, String)> {
    NODE_IDS
        .iter()
        .map(|id| (id.to_string(), state.to_string()))
        .collect()
}

fn versions(cluster: &Cluster, key: &str) -> Vec<String> {
    cluster
        .nodes
        .iter()
        .map(|node| {
            whoami(node, key, "shop")["version"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

fn deploy_through(node: &Supervisor, package: &Path) -> (i32, Value) {
    let (code, answer, stderr) = deploy(node, "ws_test", package);
    assert!(
        answer.is_object(),
        "deploy through {}: no JSON answer; stderr: {stderr}",
        node.base
    );
    (code, answer)
}

/// The scenario (see the module docs).
pub fn deployments_sent_to_b_switch_all_three(cluster: &Cluster, key: &str) {
    let b = cluster.node("b");
    let root = b.dir.path().join("packages-src");
    let (code, answer) = deploy_through(b, &fixture_package(&root, "shop", "1", "ok", &[], &[]));
    assert_eq!(code, 0, "{answer}");
    assert_eq!(reports(&answer["deployment"]), all("switched"), "{answer}");
    for node in &cluster.nodes {
        node.wait_state("shop", "ready", Duration::from_secs(30));
    }
    assert_eq!(versions(cluster, key), ["1", "1", "1"]);

    let loads: Vec<Load> = cluster
        .nodes
        .iter()
        .map(|node| Load::start(node, key, "shop", 2))
        .collect();
    let (code, answer) = deploy_through(b, &fixture_package(&root, "shop", "2", "ok", &[], &[]));
    assert_eq!(code, 0, "{answer}");
    assert_eq!(reports(&answer["deployment"]), all("switched"), "{answer}");
    assert_eq!(versions(cluster, key), ["2", "2", "2"]);

    let broken = failing_under(&root, "shop", "3", &cluster.node("c").data_dir());
    let (code, answer) = deploy_through(b, &broken);
    assert_eq!(code, 1, "{answer}");
    assert_eq!(answer["deployment"]["state"], "failed", "{answer}");
    assert_eq!(
        reports(&answer["deployment"]),
        [("a", "rolled_back"), ("b", "rolled_back"), ("c", "failed")]
            .map(|(n, s)| (n.to_string(), s.to_string())),
        "{answer}"
    );
    assert_eq!(versions(cluster, key), ["2", "2", "2"]);
    for (node, load) in NODE_IDS.iter().zip(loads) {
        let report = load.finish();
        assert!(
            report.failures.is_empty(),
            "calls to node {node} failed during the deploys: {:?}",
            &report.failures[..report.failures.len().min(5)]
        );
        assert!(
            report.ok > 20,
            "the load on node {node} ran ({} answers)",
            report.ok
        );
        println!(
            "node {node}: {} calls answered during two deploys and a roll back, versions {:?}",
            report.ok, report.version_changes
        );
    }
}
