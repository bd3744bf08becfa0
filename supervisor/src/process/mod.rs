//! Module processes: spawning through the single-threaded spawn helper, capturing output,
//! runtime directories, killing whole process trees, and reading the process tree.

pub mod control;
pub mod helper;
pub mod logs;
mod pid1;
pub mod runtime_dir;
mod sandboxed;
pub mod spawner;
pub mod stale_roots;
pub mod tree;

pub use logs::{LogBuffer, LogLine, LogSink, Stream};
pub use runtime_dir::{InstanceDir, RuntimeRoot};
pub use spawner::{SpawnRequest, Spawned, Spawner};
