//! Watching a package for `dev`: inotify (through `notify`) on the package directory, events
//! on ignored paths (build output, `.convotic/`, dependencies, editor files) dropped, the rest
//! gathered into one batch per burst of writes (debounced: 150 ms without a new event).

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Quiet time that ends a burst of changes.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Batches of changed paths.
pub struct Changes {
    events: mpsc::UnboundedReceiver<PathBuf>,
    /// The burst being gathered (kept here, so a `next` dropped midway loses nothing).
    pending: Vec<PathBuf>,
    // Kept alive: dropping it stops the watch.
    _watcher: notify::RecommendedWatcher,
}

/// Starts watching `dir`.
pub fn watch(dir: &Path) -> Result<Changes, String> {
    let (sender, events) = mpsc::unbounded_channel();
    let root = dir.to_path_buf();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        for path in event.paths {
            let relative = path.strip_prefix(&root).unwrap_or(&path);
            if !super::ignored(relative) {
                let _ = sender.send(path);
            }
        }
    })
    .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
    // The top level alone, then each directory that is not ignored, recursively: build output
    // and dependency trees can hold more directories than inotify allows watches.
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
        let path = entry.path();
        let relative = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && !super::ignored(&relative) {
            watcher
                .watch(&path, RecursiveMode::Recursive)
                .map_err(|e| format!("cannot watch {}: {e}", path.display()))?;
        }
    }
    Ok(Changes {
        events,
        pending: Vec::new(),
        _watcher: watcher,
    })
}

impl Changes {
    /// The next burst of changes (distinct paths, in order), or None when the watch ended.
    /// Cancel-safe: what a dropped call gathered is returned by the next one.
    pub async fn next(&mut self) -> Option<Vec<PathBuf>> {
        if self.pending.is_empty() {
            let first = self.events.recv().await?;
            self.pending.push(first);
        }
        while let Ok(Some(path)) = tokio::time::timeout(DEBOUNCE, self.events.recv()).await {
            if !self.pending.contains(&path) {
                self.pending.push(path);
            }
        }
        Some(std::mem::take(&mut self.pending))
    }
}
