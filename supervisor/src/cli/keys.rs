//! `convotic-supervisor keys create|list|revoke`: workspace API keys (`X-API-Key`).

use super::local::{explain, format_ms, with_store};
use super::Target;
use crate::store::{ApiKey, KeyScope};

/// `keys create --workspace ws_... [--label L] [--scope routes|deploy]`: the plaintext key
/// alone on stdout's first line; a note on stderr that it is shown only once.
pub fn create(target: &Target, workspace: String, label: Option<String>, scope: KeyScope) -> i32 {
    with_store(target, |store| async move {
        let (key, plaintext) = store
            .create_scoped_key(&workspace, label.as_deref().unwrap_or_default(), scope)
            .await
            .map_err(|e| explain(e, &workspace))?;
        println!("{plaintext}");
        let usage = match scope {
            KeyScope::Routes => "Send it as the X-API-Key header",
            KeyScope::Deploy => {
                "It deploys to this workspace only (`convotic-supervisor deploy --key ...` or CONVOTIC_DEPLOY_KEY) and calls no route"
            }
        };
        eprintln!(
            "created {} key {} for workspace {}. This is the only time the key is shown: the \
             supervisor stores only its SHA-256 hash. {usage}; revoke it \
             with `convotic-supervisor keys revoke --workspace {} {}`.",
            scope.as_str(),
            key.id,
            key.workspace,
            key.workspace,
            key.id
        );
        Ok(())
    })
}

/// `keys list --workspace ws_... [--json]`: never any secret.
pub fn list(target: &Target, workspace: String, json: bool) -> i32 {
    with_store(target, |store| async move {
        let keys = store
            .list_keys(&workspace)
            .await
            .map_err(|e| explain(e, &workspace))?;
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&keys).map_err(|e| e.to_string())?
            );
        } else {
            print!("{}", table(&keys));
        }
        Ok(())
    })
}

/// `keys revoke --workspace ws_... KEY_ID` (also accepts `cvk_<id>` or the whole key).
pub fn revoke(target: &Target, workspace: String, key: String) -> i32 {
    let key_id = key_id(&key).to_string();
    with_store(target, |store| async move {
        let revoked = store
            .revoke_key(&workspace, &key_id)
            .await
            .map_err(|e| explain(e, &workspace))?;
        if !revoked {
            return Err(format!(
                "workspace {workspace} has no active key {key_id} (see `convotic-supervisor keys list --workspace {workspace}`)"
            ));
        }
        println!("revoked key {key_id} of workspace {workspace}");
        eprintln!("a running supervisor refuses it within 5 seconds");
        Ok(())
    })
}

/// The key id in `KEY_ID`, `cvk_KEY_ID` or a whole key.
fn key_id(given: &str) -> &str {
    match given.strip_prefix("cvk_") {
        Some(rest) => rest.split('_').next().unwrap_or(rest),
        None => given,
    }
}

fn table(keys: &[ApiKey]) -> String {
    let mut out = format!(
        "{:<10} {:<7} {:<21} {:<21} {}\n",
        "KEY ID", "SCOPE", "CREATED", "REVOKED", "LABEL"
    );
    for k in keys {
        out.push_str(&format!(
            "{:<10} {:<7} {:<21} {:<21} {}\n",
            k.id,
            k.scope.as_str(),
            format_ms(k.created_at_ms),
            k.revoked_at_ms.map(format_ms).unwrap_or_else(|| "-".into()),
            k.label
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids() {
        assert_eq!(key_id("abcd1234"), "abcd1234");
        assert_eq!(key_id("cvk_abcd1234"), "abcd1234");
        assert_eq!(key_id("cvk_abcd1234_secretsecret"), "abcd1234");
    }

    #[test]
    fn table_layout() {
        let text = table(&[ApiKey {
            id: "abcd1234".into(),
            workspace: "ws_a".into(),
            label: "ci".into(),
            created_at_ms: 0,
            revoked_at_ms: None,
            scope: KeyScope::Deploy,
        }]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("KEY ID"));
        assert_eq!(
            lines[1],
            format!(
                "{:<10} {:<7} {:<21} {:<21} ci",
                "abcd1234", "deploy", "1970-01-01 00:00:00Z", "-"
            )
        );
    }
}
