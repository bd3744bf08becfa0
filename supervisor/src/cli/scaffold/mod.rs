//! `init NAME --lang rust|typescript|python [--dir D] [--sdk DIR]`: writes a module package
//! (`convotic-module.toml`, source registering one route, worker, node and cron with a Block in
//! comments, README, `.gitignore`) that builds and deploys unchanged.
//!
//! The SDKs are found in `--sdk`, `CONVOTIC_SDK_DIR`, or a `plugin-sdk` directory above the
//! supervisor's executable (a checkout's `target/<profile>/`); the scaffold refers to them by
//! absolute path (Cargo path dependency, npm `file:` dependency, a `sdk` link for Python).

mod templates;

use std::path::{Path, PathBuf};

/// The languages `init` scaffolds.
pub const LANGUAGES: [&str; 3] = ["rust", "typescript", "python"];

/// Runs `init`; returns the exit code.
pub fn init(name: &str, lang: &str, dir: Option<&Path>, sdk: Option<&Path>) -> i32 {
    match scaffold(name, lang, dir, sdk) {
        Ok(dir) => {
            println!("created {lang} module {name} in {}", dir.display());
            for step in next_steps(lang, &dir) {
                println!("  {step}");
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Writes the scaffold; returns its directory.
fn scaffold(
    name: &str,
    lang: &str,
    dir: Option<&Path>,
    sdk: Option<&Path>,
) -> Result<PathBuf, String> {
    if !crate::names::is_module_name(name) {
        return Err(format!(
            "{name:?} is not a module name: use 1-64 of [a-z0-9-] starting with a letter, e.g. order-sync"
        ));
    }
    let files = match lang {
        "rust" => templates::RUST,
        "typescript" | "ts" => templates::TYPESCRIPT,
        "python" | "py" => templates::PYTHON,
        other => {
            return Err(format!(
                "unknown language {other:?}: use one of {}",
                LANGUAGES.join(", ")
            ))
        }
    };
    let dir = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(name));
    if let Ok(mut entries) = std::fs::read_dir(&dir) {
        if entries.next().is_some() {
            return Err(format!(
                "{} is not empty: init writes a new package; pick another --dir, or remove what is there",
                dir.display()
            ));
        }
    }
    let sdk = find_sdk(sdk)?;
    let rust_ident = name.replace('-', "_");
    // The SDK is built with the checkout's vendored h2 (see vendor/README.md): so is the module.
    let vendored_h2 = sdk.join("../vendor/h2");
    let patch = if vendored_h2.join("Cargo.toml").is_file() {
        let path = std::fs::canonicalize(&vendored_h2).unwrap_or(vendored_h2);
        format!(
            "\n[patch.crates-io]\nh2 = {{ path = {:?} }}\n",
            path.display().to_string()
        )
    } else {
        String::new()
    };
    for (path, text) in files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let text = text
            .replace("{{name}}", name)
            .replace("{{crate}}", &rust_ident)
            .replace("{{patch}}", &patch)
            .replace("{{sdk}}", &sdk.display().to_string());
        std::fs::write(&target, text).map_err(|e| format!("{}: {e}", target.display()))?;
    }
    if matches!(lang, "python" | "py") {
        let link = dir.join("sdk");
        std::os::unix::fs::symlink(sdk.join("python"), &link)
            .map_err(|e| format!("{}: {e}", link.display()))?;
    }
    Ok(dir)
}

/// The SDKs' directory: `--sdk`, `CONVOTIC_SDK_DIR`, or a `plugin-sdk` above the executable.
fn find_sdk(given: Option<&Path>) -> Result<PathBuf, String> {
    let candidate = given
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("CONVOTIC_SDK_DIR").map(PathBuf::from));
    if let Some(dir) = candidate {
        return check_sdk(&dir);
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    for ancestor in exe.ancestors().skip(1) {
        let dir = ancestor.join("plugin-sdk");
        if dir.join("rust").is_dir() && dir.join("typescript").is_dir() {
            return check_sdk(&dir);
        }
    }
    Err(
        "cannot find the Convotic SDKs: pass --sdk <checkout>/plugin-sdk (or set CONVOTIC_SDK_DIR)"
            .into(),
    )
}

fn check_sdk(dir: &Path) -> Result<PathBuf, String> {
    let dir = std::fs::canonicalize(dir).map_err(|e| format!("--sdk {}: {e}", dir.display()))?;
    for sub in ["rust", "typescript", "python"] {
        if !dir.join(sub).is_dir() {
            return Err(format!(
                "{} is not the SDKs' directory: it has no {sub}/ (expected <checkout>/plugin-sdk)",
                dir.display()
            ));
        }
    }
    Ok(dir)
}

/// What to run next, in the package's language.
fn next_steps(lang: &str, dir: &Path) -> Vec<String> {
    let d = dir.display();
    let build = match lang {
        "rust" => format!("(cd {d} && cargo build)"),
        "typescript" | "ts" => format!("(cd {d} && npm install --no-audit --no-fund)"),
        _ => "(the Python SDK's dependencies: see plugin-sdk/python/README.md)".to_string(),
    };
    vec![
        build,
        format!("convotic-supervisor deploy --workspace <ws> {d} --config <supervisor config>"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdk() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk")
    }

    #[test]
    fn every_language_writes_a_valid_package() {
        for lang in LANGUAGES {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("m");
            scaffold("order-sync", lang, Some(&dir), Some(&sdk())).unwrap();
            let text = std::fs::read_to_string(dir.join("convotic-module.toml")).unwrap();
            let manifest = crate::package::parse(&text).unwrap();
            assert_eq!(manifest.name, "order-sync", "{lang}");
            let all: String = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ");
            assert!(
                all.contains("README.md") && all.contains(".gitignore"),
                "{lang}: {all}"
            );
        }
    }

    #[test]
    fn bad_names_languages_and_busy_directories_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let message = scaffold("Bad_Name", "rust", Some(tmp.path()), Some(&sdk())).unwrap_err();
        assert!(message.contains("not a module name"), "{message}");
        let message =
            scaffold("ok", "cobol", Some(&tmp.path().join("x")), Some(&sdk())).unwrap_err();
        assert!(message.contains("rust, typescript, python"), "{message}");
        std::fs::write(tmp.path().join("existing"), "").unwrap();
        let message = scaffold("ok", "rust", Some(tmp.path()), Some(&sdk())).unwrap_err();
        assert!(message.contains("not empty"), "{message}");
        let message =
            scaffold("ok", "rust", Some(&tmp.path().join("y")), Some(tmp.path())).unwrap_err();
        assert!(message.contains("not the SDKs' directory"), "{message}");
    }
}
