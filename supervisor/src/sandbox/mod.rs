//! The sandbox of module processes: the layers applied by the spawn helper
//! (`crate::process::helper`) between the supervisor and the module's `exec`, and the resource
//! limits the supervisor sets up around them.

pub mod cgroup;
#[cfg(test)]
mod child_test;
pub mod landlock;
pub mod mounts;
pub mod privileges;
pub mod probe;
pub mod report;
pub mod seccomp;
pub mod spec;
