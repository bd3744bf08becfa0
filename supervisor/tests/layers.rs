//! The supervisor's layering, checked on its source: a module may use `crate::x` only for an
//! `x` of a lower layer. Protocol and process know nothing of the gateway, the bus or the
//! integrations; supervision knows nothing of what is built on it.

use std::collections::BTreeSet;
use std::path::Path;

/// Layers from the bottom up; a module may depend on modules of lower layers only.
const LAYERS: &[&[&str]] = &[
    &[
        "names",
        "json_schema",
        "metrics",
        "secrets",
        "sandbox",
        "signature",
    ],
    &["store", "process", "protocol"],
    &["config", "registry", "host", "outcomes"],
    &["package"],
    &["supervision"],
    &["bus", "integrations", "deploy"],
    &["cron", "delivery"],
    &["gateway"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Every `crate::<name>` used in code (comments skipped) under `path`.
fn uses(path: &Path, found: &mut BTreeSet<(String, String)>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("read dir") {
            uses(&entry.expect("entry").path(), found);
        }
        return;
    }
    if path.extension().and_then(|e| e.to_str()) != Some("rs") {
        return;
    }
    let text = std::fs::read_to_string(path).expect("read source");
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                !rest.starts_with('{'),
                "{}:{}: `use crate::{{...}}` hides which layers are used; name each",
                path.display(),
                number + 1
            );
            found.insert((name, format!("{}:{}", path.display(), number + 1)));
        }
    }
}

#[test]
fn lower_layers_never_use_higher_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = Vec::new();
    for entry in std::fs::read_dir(&src).expect("src") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if name == "lib" || name == "main" {
            continue;
        }
        assert!(
            layer_of(&name).is_some(),
            "module {name} is in no layer: add it to LAYERS in {}",
            file!()
        );
        modules.push((name, path));
    }
    let mut violations = Vec::new();
    for (module, path) in &modules {
        let own = layer_of(module).unwrap_or_default();
        let mut found = BTreeSet::new();
        uses(path, &mut found);
        for (used, at) in found {
            if used == *module {
                continue;
            }
            match layer_of(&used) {
                Some(layer) if layer < own => {}
                Some(_) => violations.push(format!("{at}: {module} uses crate::{used}")),
                None => violations.push(format!("{at}: crate::{used} is in no layer")),
            }
        }
    }
    assert!(
        violations.is_empty(),
        "lower layers must not use higher ones (or their own layer's neighbours):\n{}",
        violations.join("\n")
    );
}
