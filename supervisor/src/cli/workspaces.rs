//! `convotic-supervisor workspaces create|list`.

use super::local::{format_ms, with_store};
use super::Target;
use crate::store::Workspace;

/// `workspaces create [--id ws_...] [--name NAME]`: prints the new id alone on stdout.
pub fn create(target: &Target, id: Option<String>, name: Option<String>) -> i32 {
    with_store(target, |store| async move {
        let workspace = store
            .create_workspace(id, name.unwrap_or_default())
            .await
            .map_err(|e| e.to_string())?;
        println!("{}", workspace.id);
        eprintln!(
            "created workspace {}{} in {}",
            workspace.id,
            if workspace.name.is_empty() {
                String::new()
            } else {
                format!(" ({:?})", workspace.name)
            },
            store.location()
        );
        Ok(())
    })
}

/// `workspaces list [--json]`.
pub fn list(target: &Target, json: bool) -> i32 {
    with_store(target, |store| async move {
        let workspaces = store.list_workspaces().await.map_err(|e| e.to_string())?;
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&workspaces).map_err(|e| e.to_string())?
            );
        } else {
            print!("{}", table(&workspaces));
        }
        Ok(())
    })
}

fn table(workspaces: &[Workspace]) -> String {
    let mut out = format!("{:<24} {:<21} {}\n", "ID", "CREATED", "NAME");
    for w in workspaces {
        out.push_str(&format!(
            "{:<24} {:<21} {}\n",
            w.id,
            format_ms(w.created_at_ms),
            w.name
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_layout() {
        let text = table(&[Workspace {
            id: "ws_acme".into(),
            name: "Acme".into(),
            created_at_ms: 0,
        }]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID "));
        assert_eq!(
            lines[1],
            format!("{:<24} {:<21} Acme", "ws_acme", "1970-01-01 00:00:00Z")
        );
    }
}
