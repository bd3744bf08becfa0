//! Which files of a package directory go into its archive (the author's side of `deploy`):
//! everything under the `include` paths (default: the whole directory), links followed, minus
//! the `exclude` paths (default `.git` and `target`), plus the manifest, plus `build.output`
//! placed at `entry`.

use std::path::{Path, PathBuf};

use super::archive::PackFile;
use super::manifest::{relative_path, PackageManifest, MANIFEST_FILE};

/// Deepest directory nesting followed.
const MAX_DEPTH: usize = 64;

/// What is left out when the manifest names no `exclude`.
pub const DEFAULT_EXCLUDE: &[&str] = &[".git", "target"];

/// The files to pack from the package at `dir`, named by their path in the archive.
pub fn files_to_pack(dir: &Path, manifest: &PackageManifest) -> Result<Vec<PackFile>, String> {
    let excluded: Vec<PathBuf> = if manifest.exclude.is_empty() {
        DEFAULT_EXCLUDE.iter().map(PathBuf::from).collect()
    } else {
        manifest
            .exclude
            .iter()
            .map(|p| relative_path(p))
            .collect::<Result<_, _>>()?
    };
    let includes: Vec<PathBuf> = if manifest.include.is_empty() {
        vec![PathBuf::new()]
    } else {
        manifest
            .include
            .iter()
            .map(|p| relative_path(p))
            .collect::<Result<_, _>>()?
    };
    let mut walk = Walk {
        root: dir,
        excluded: &excluded,
        files: Vec::new(),
        ancestors: Vec::new(),
    };
    for include in &includes {
        let path = dir.join(include);
        let meta = std::fs::metadata(&path)
            .map_err(|e| format!("include: {} cannot be read: {e}", include.display()))?;
        if meta.is_dir() {
            walk.dir(include, 0)?;
        } else {
            walk.files.push(PackFile {
                name: include.clone(),
                source: path,
            });
        }
    }
    let mut files = walk.files;
    files.retain(|f| f.name != std::path::Path::new(MANIFEST_FILE));
    files.push(PackFile {
        name: MANIFEST_FILE.into(),
        source: dir.join(MANIFEST_FILE),
    });
    if let Some(output) = manifest.build.as_ref().and_then(|b| b.output.as_ref()) {
        let source = dir.join(output);
        if !source.is_file() {
            return Err(format!(
                "build.output {} does not exist: build the module first{}",
                source.display(),
                manifest
                    .build
                    .as_ref()
                    .and_then(|b| b.command.as_ref())
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            ));
        }
        let entry = relative_path(&manifest.entry)?;
        files.retain(|f| f.name != entry);
        files.push(PackFile {
            name: entry,
            source,
        });
    }
    Ok(files)
}

struct Walk<'a> {
    root: &'a Path,
    excluded: &'a [PathBuf],
    files: Vec<PackFile>,
    /// Real paths of the directories being walked, to stop at a link back to one of them.
    ancestors: Vec<PathBuf>,
}

impl Walk<'_> {
    fn dir(&mut self, relative: &Path, depth: usize) -> Result<(), String> {
        let path = self.root.join(relative);
        if depth > MAX_DEPTH {
            return Err(format!(
                "{} is nested more than {MAX_DEPTH} directories deep",
                relative.display()
            ));
        }
        let real = std::fs::canonicalize(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if self.ancestors.contains(&real) {
            return Err(format!(
                "{} links back to a directory that contains it: packing it would never end; exclude it",
                relative.display()
            ));
        }
        self.ancestors.push(real);
        let mut entries: Vec<_> = std::fs::read_dir(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = relative.join(entry.file_name());
            if self.excluded.iter().any(|x| name.starts_with(x)) {
                continue;
            }
            // Links are followed: the archive holds what they point to.
            let meta = std::fs::metadata(entry.path()).map_err(|e| {
                format!("{} cannot be read (a dangling link?): {e}", name.display())
            })?;
            if meta.is_dir() {
                self.dir(&name, depth + 1)?;
            } else if meta.is_file() {
                self.files.push(PackFile {
                    name,
                    source: entry.path(),
                });
            }
        }
        self.ancestors.pop();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(extra: &str) -> PackageManifest {
        super::super::manifest::parse(&format!(
            "name = \"m\"\nversion = \"1\"\nentry = \"run\"\n{extra}"
        ))
        .unwrap()
    }

    fn names(files: &[PackFile]) -> Vec<String> {
        let mut names: Vec<String> = files.iter().map(|f| f.name.display().to_string()).collect();
        names.sort();
        names
    }

    #[test]
    fn everything_but_the_excluded_paths_with_links_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, text) in [
            ("convotic-module.toml", "x"),
            ("run", "#!/bin/sh"),
            ("lib/a.js", "a"),
            (".git/HEAD", "ref"),
            ("target/debug/big", "big"),
        ] {
            std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            std::fs::write(root.join(path), text).unwrap();
        }
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("sdk.js"), "sdk").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("linked")).unwrap();
        let files = files_to_pack(root, &manifest("")).unwrap();
        assert_eq!(
            names(&files),
            ["convotic-module.toml", "lib/a.js", "linked/sdk.js", "run"]
        );
        let files = files_to_pack(root, &manifest("include = [\"lib\"]\n")).unwrap();
        assert_eq!(names(&files), ["convotic-module.toml", "lib/a.js"]);
    }

    #[test]
    fn a_link_loop_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::os::unix::fs::symlink("..", dir.path().join("a/up")).unwrap();
        let message = files_to_pack(dir.path(), &manifest("")).unwrap_err();
        assert!(message.contains("links back"), "{message}");
    }

    #[test]
    fn the_build_output_lands_at_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let build = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("convotic-module.toml"), "x").unwrap();
        let missing = format!(
            "[build]\ncommand = \"make\"\noutput = \"{}\"\n",
            build.path().join("bin").display()
        );
        let message = files_to_pack(dir.path(), &manifest(&missing)).unwrap_err();
        assert!(
            message.contains("build the module first (make)"),
            "{message}"
        );
        std::fs::write(build.path().join("bin"), "elf").unwrap();
        let files = files_to_pack(dir.path(), &manifest(&missing)).unwrap();
        let run = files.iter().find(|f| f.name == Path::new("run")).unwrap();
        assert_eq!(run.source, build.path().join("bin"));
    }
}
