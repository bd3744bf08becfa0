//! `convotic-supervisor secrets status|rotate|reencrypt`: the keys sealing Block connection
//! secrets. They work on the key directory and the database directly, with or without a
//! running supervisor (a running one notices a rotation by itself).

use std::path::PathBuf;

use super::local::with_store;
use super::Target;
use crate::secrets::{rotate as rotate_key, Keyring};

/// The key directory and configured active key of `target`.
fn key_dir(target: &Target) -> Result<(PathBuf, Option<String>), String> {
    if let Some(config) = &target.config {
        let config = crate::config::load_for_clients(config).map_err(|e| e.to_string())?;
        return Ok((config.key_dir, config.active_key));
    }
    Ok((super::client::data_dir(target)?.join("keys"), None))
}

/// `secrets status [--json]`: the keys, the active one, and how many connections each seals.
pub fn status(target: &Target, json: bool) -> i32 {
    let (dir, active) = match key_dir(target) {
        Ok(found) => found,
        Err(e) => return super::client::fail(e),
    };
    with_store(target, |store| async move {
        let keyring = Keyring::open(&dir, active).map_err(|e| e.to_string())?;
        let status = keyring.status();
        let usage = store
            .connection_key_usage()
            .await
            .map_err(|e| e.to_string())?;
        let missing: Vec<&(String, u64)> = usage
            .iter()
            .filter(|(id, _)| !id.is_empty() && !keyring.has_key(id))
            .collect();
        if json {
            let value = serde_json::json!({
                "dir": status.dir,
                "active": status.active,
                "keys": status.keys,
                "connections_by_key": usage.iter().map(|(id, n)| serde_json::json!({"key_id": id, "connections": n})).collect::<Vec<_>>(),
                "missing_keys": missing.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?
            );
        } else {
            println!("key dir  {}", status.dir);
            println!("active   {}", status.active.as_deref().unwrap_or("-"));
            for id in &status.keys {
                let count = usage.iter().find(|(k, _)| k == id).map_or(0, |(_, n)| *n);
                println!("key      {id}  ({count} connection(s))");
            }
            for (id, count) in &missing {
                println!("MISSING  {id}  ({count} connection(s) cannot be decrypted)");
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} key(s) used by stored connections are missing from {}; restore them from a backup",
                missing.len(),
                dir.display()
            ))
        }
    })
}

/// What one node lacks: the keys in use (`usage`: key id, connections) that are not among the
/// key ids the node reported holding.
fn lacking<'a>(node_keys: &[String], usage: &'a [(String, u64)]) -> Vec<&'a (String, u64)> {
    usage
        .iter()
        .filter(|(id, _)| !id.is_empty() && !node_keys.contains(id))
        .collect()
}

/// Key ids held by more than one node with different key material (their check values
/// differ): connections sealed on one of those nodes cannot be opened on the others.
fn conflicting(nodes: &[crate::store::ClusterNode]) -> Vec<String> {
    let mut seen: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    let mut conflicts = std::collections::BTreeSet::new();
    for node in nodes {
        let Some(values) = node.secrets["check_values"].as_object() else {
            continue;
        };
        for (id, value) in values {
            let value = value.as_str().unwrap_or_default();
            match seen.get(id.as_str()) {
                Some(other) if *other != value => {
                    conflicts.insert(id.clone());
                }
                Some(_) => {}
                None => {
                    seen.insert(id, value);
                }
            }
        }
    }
    conflicts.into_iter().collect()
}

/// The key ids a node reported holding.
fn node_keys(node: &crate::store::ClusterNode) -> Vec<String> {
    node.secrets["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `secrets status --cluster`: for every live node sharing the store, the keys it holds (ids,
/// from its heartbeat) and the keys in use by stored connections it lacks (it cannot open
/// those connections' secrets), and key ids the nodes hold with different key material. Fails
/// when any node lacks a key or any id conflicts.
pub fn status_cluster(target: &Target, json: bool) -> i32 {
    with_store(target, |store| async move {
        let nodes = store
            .list_nodes(crate::supervision::membership::LIVE_WITHIN.as_millis() as u64)
            .await
            .map_err(|e| e.to_string())?;
        let usage = store
            .connection_key_usage()
            .await
            .map_err(|e| e.to_string())?;
        let conflicts = conflicting(&nodes);
        let mut report = Vec::new();
        let mut lacking_nodes = 0;
        for node in &nodes {
            let keys = node_keys(node);
            let missing = lacking(&keys, &usage);
            if !missing.is_empty() {
                lacking_nodes += 1;
            }
            report.push((node, keys, missing));
        }
        if json {
            let value = serde_json::json!({
                "connections_by_key": usage.iter().map(|(id, n)| serde_json::json!({"key_id": id, "connections": n})).collect::<Vec<_>>(),
                "conflicting_keys": conflicts,
                "nodes": report.iter().map(|(node, keys, missing)| serde_json::json!({
                    "id": node.id,
                    "active": node.secrets["active"],
                    "keys": keys,
                    "check_values": node.secrets["check_values"],
                    "missing_keys": missing.iter().map(|(id, _)| id).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?
            );
        } else {
            if nodes.is_empty() {
                println!("no live node has reported recently");
            }
            for (node, keys, missing) in &report {
                println!(
                    "node {}  active {}  keys {}",
                    node.id,
                    node.secrets["active"].as_str().unwrap_or("-"),
                    if keys.is_empty() {
                        "-".to_string()
                    } else {
                        keys.join(", ")
                    }
                );
                for (id, count) in missing {
                    println!("  MISSING {id}  ({count} connection(s) this node cannot decrypt)");
                }
            }
            for id in &conflicts {
                println!("CONFLICT {id}  (nodes hold different keys under this id)");
            }
        }
        let mut problems = Vec::new();
        if lacking_nodes > 0 {
            problems.push(format!(
                "{lacking_nodes} node(s) lack keys used by stored connections"
            ));
        }
        if !conflicts.is_empty() {
            problems.push(format!(
                "key id(s) {} differ between nodes",
                conflicts.join(", ")
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{}: give every node the same key directory ([secrets] key_dir, see docs/cluster.md)",
                problems.join("; ")
            ))
        }
    })
}

/// On a store shared by a cluster: refuses unless every live node holds `active` with the same
/// key material as `check_value` (re-encrypting would lock the others out of every secret).
async fn every_node_holds(
    store: &crate::store::Store,
    active: &str,
    check_value: &str,
) -> Result<(), String> {
    if !store.is_shared() {
        return Ok(());
    }
    let nodes = store
        .list_nodes(crate::supervision::membership::LIVE_WITHIN.as_millis() as u64)
        .await
        .map_err(|e| e.to_string())?;
    let without: Vec<&str> = nodes
        .iter()
        .filter(|node| node.secrets["check_values"][active].as_str() != Some(check_value))
        .map(|node| node.id.as_str())
        .collect();
    if without.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "node(s) {} do not hold key {active} (or hold another key under that id): \
             re-encrypting now would leave them unable to open any connection; give every node \
             the same key directory first (secrets status --cluster shows it)",
            without.join(", ")
        ))
    }
}

/// `secrets rotate`: a new key becomes active; existing secrets keep their key.
pub fn rotate(target: &Target) -> i32 {
    let (dir, active) = match key_dir(target) {
        Ok(found) => found,
        Err(e) => return super::client::fail(e),
    };
    match rotate_key(&dir) {
        Ok(id) => {
            println!("{id}");
            eprintln!(
                "key {id} is now the active key in {}: new connections are sealed with it \
                 (a running supervisor picks it up by itself). Existing connections still use \
                 their old keys; run `convotic-supervisor secrets reencrypt` to move them, and \
                 keep the old key files until then.",
                dir.display()
            );
            if let Some(configured) = active {
                eprintln!(
                    "warning: the config sets [secrets] active_key = {configured:?}, which wins \
                     over the key directory's active file; set it to {id:?} or remove it"
                );
            }
            0
        }
        Err(e) => super::client::fail(e.to_string()),
    }
}

/// `secrets reencrypt`: re-seals every connection with the active key.
pub fn reencrypt(target: &Target) -> i32 {
    let (dir, active) = match key_dir(target) {
        Ok(found) => found,
        Err(e) => return super::client::fail(e),
    };
    with_store(target, |store| async move {
        let keyring = Keyring::open(&dir, active).map_err(|e| e.to_string())?;
        let status = keyring.status();
        let active_id = status
            .active
            .clone()
            .ok_or("no active key: run `secrets rotate` first")?;
        let check_value = status
            .check_values
            .get(&active_id)
            .cloned()
            .unwrap_or_default();
        every_node_holds(&store, &active_id, &check_value).await?;
        let (done, failed) = crate::integrations::connections::reseal_all(&store, &keyring)
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "re-encrypted {done} connection(s) with key {}",
            keyring.active_key_id().unwrap_or_default()
        );
        for failure in &failed {
            eprintln!("cannot re-encrypt {failure}");
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} connection(s) could not be re-encrypted",
                failed.len()
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::lacking;

    #[test]
    fn nodes_holding_different_keys_under_one_id_conflict() {
        let node = |id: &str, values: serde_json::Value| crate::store::ClusterNode {
            id: id.into(),
            address: "http://x".into(),
            instance: "x:1".into(),
            version: "1".into(),
            started_at_ms: 0,
            last_seen_ms: 0,
            modules: serde_json::json!([]),
            secrets: serde_json::json!({"check_values": values}),
        };
        let nodes = vec![
            node("a", serde_json::json!({"k1": "aa", "k2": "bb"})),
            node("b", serde_json::json!({"k1": "aa", "k2": "cc"})),
        ];
        assert_eq!(super::conflicting(&nodes), ["k2"]);
        assert!(super::conflicting(&nodes[..1]).is_empty());
    }

    #[test]
    fn a_node_lacks_the_keys_in_use_it_does_not_hold() {
        let usage = vec![
            ("k1".to_string(), 3),
            ("k2".to_string(), 1),
            (String::new(), 2),
        ];
        let holds = vec!["k1".to_string()];
        let missing: Vec<&str> = lacking(&holds, &usage)
            .iter()
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(missing, ["k2"]);
        assert!(lacking(&["k1".into(), "k2".into()], &usage).is_empty());
    }
}
