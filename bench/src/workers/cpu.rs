//! Where the CPU goes during a timed phase: the CPU time of each process involved (the sum of
//! its threads' `/proc/<pid>/task/<tid>/schedstat` run times, in ns) at the start and the end,
//! reported per message and as cores kept busy. Threads that end during the phase are missed;
//! the processes measured here keep theirs.

use std::time::Duration;

/// Named groups of processes.
#[derive(Debug, Clone, Default)]
pub struct Groups(pub Vec<(&'static str, Vec<i32>)>);

/// CPU time of each group at one moment (ns), and the machine's busy and total time (in
/// `/proc/stat` ticks).
#[derive(Debug, Clone)]
pub struct Sample(Vec<u64>, (u64, u64));

/// Busy and total ticks of all cores together, from the first line of `/proc/stat`.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    let total: u64 = ticks.iter().sum();
    // idle and iowait are the 4th and 5th fields.
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// CPU time consumed so far by `pid`'s live threads, ns.
fn cpu_ns(pid: i32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The processes whose command line holds every one of `parts` (as whole arguments).
pub fn find(parts: &[&str]) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            parts.iter().all(|part| args.contains(&part.as_bytes()))
        })
        .collect()
}

/// The supervisor running `config` and the processes below it (the module).
pub fn supervisor(config: &std::path::Path) -> Groups {
    let config = config.to_string_lossy().into_owned();
    let supervisors = find(&["run", "--config", &config]);
    let below = supervisors
        .iter()
        .flat_map(|pid| convotic_supervisor::process::tree::descendants_of(*pid))
        .collect();
    Groups(vec![("supervisor", supervisors), ("module", below)])
}

/// The `nats-server` listening on `port`.
pub fn nats_server(port: u16) -> Groups {
    Groups(vec![(
        "nats-server",
        find(&["-p", &port.to_string(), "-js"]),
    )])
}

/// This process.
pub fn this_process() -> Groups {
    Groups(vec![("bench", vec![std::process::id() as i32])])
}

impl Groups {
    /// These groups followed by `other`'s.
    pub fn and(mut self, other: Groups) -> Groups {
        self.0.extend(other.0);
        self
    }

    /// The CPU time of every group now.
    pub fn sample(&self) -> Sample {
        Sample(
            self.0
                .iter()
                .map(|(_, pids)| pids.iter().map(|pid| cpu_ns(*pid)).sum())
                .collect(),
            machine_ticks(),
        )
    }

    /// "CPU µs per message: supervisor 12.3, ...; 1.70 cores busy (machine 1.95 of 2)"
    /// between two samples: the cores these processes kept busy, and the whole machine's.
    pub fn report(
        &self,
        start: &Sample,
        end: &Sample,
        messages: usize,
        elapsed: Duration,
    ) -> String {
        let mut parts = Vec::new();
        let mut total = 0u64;
        for ((name, _), (a, b)) in self.0.iter().zip(start.0.iter().zip(&end.0)) {
            let used = b.saturating_sub(*a);
            total += used;
            parts.push(format!(
                "{name} {:.1}",
                used as f64 / 1000.0 / messages.max(1) as f64
            ));
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let busy = end.1 .0.saturating_sub(start.1 .0) as f64;
        let all = end.1 .1.saturating_sub(start.1 .1).max(1) as f64;
        format!(
            "CPU µs per message: {}, all {:.1}; {:.2} cores busy (machine {:.2} of {cores})",
            parts.join(", "),
            total as f64 / 1000.0 / messages.max(1) as f64,
            total as f64 / elapsed.as_nanos().max(1) as f64,
            busy / all * cores as f64
        )
    }
}
