//! The benchmark harness: runs the real supervisor binary with the Rust example module and
//! prints figures and ratios against their targets. It asserts nothing; numbers on shared
//! machines are noisy, so read them as indications and compare runs on one machine.
//!
//! Build and run in release mode (binaries are taken from the directory of this executable):
//!
//! ```sh
//! cargo build --release --workspace --bins && ./target/release/bench [lifecycle|sandbox|languages|routes|workers|crons|deploy|dev|peers|store|cluster]
//! ```
//!
//! * `lifecycle`: spawn → ready, 100 modules, memory per module ([`lifecycle`]).
//! * `sandbox`: spawn → ready under the `strict` sandbox against `none` ([`sandbox`]).
//! * `languages`: cold start and echo round trips of the same module in Rust, TypeScript and
//!   Python ([`languages`]; build both SDKs first, see their `scripts/ci.sh`).
//! * `routes`: HTTP throughput and latency of a 1 KiB JSON echo served in-process, through a
//!   bare forwarder and through the supervisor ([`routes`]). Options: `--duration <s>`
//!   (measured seconds per run, default 5), `--warmup <s>` (default 1) and `--rounds <n>`
//!   (default 3; the best round is printed).
//! * `workers`: messages per second through the workers' bus (a bare JetStream consumer, the
//!   supervisor on NATS, the supervisor on its embedded queue) with the `bench-worker` module
//!   ([`workers`]). Option: `--rounds <n>` (default 3; the best round is printed).
//! * `dev`: save → new version answering under `dev`, per language ([`dev`]).
//! * `console`: the console's pages and `/metrics` at 200 modules: time and size ([`console`]).
//! * `delivery`: messages to a local signed-webhook receiver: send → arrival latency, backlog
//!   drain rate, end-to-end rate with concurrent senders ([`delivery`]).
//! * `deploy`: upload → traffic switched for the Rust example deployed as a package, and failed
//!   requests during 20 deploys under load ([`deploy`]).
//! * `peers`: the same 1 KiB echo through HashiCorp go-plugin (Go host → Go plugin) and
//!   through our work stream to `hello-rust`, at concurrency 1 and 32, with ratios
//!   ([`peers`]; needs Debian's Go packages, see README.md). Options as for `routes`.
//!
//! * `store`: `ctx.storage` operations per second on SQLite and on PostgreSQL, side by side
//!   ([`store`]; needs the local PostgreSQL server).
//!
//! * `cluster`: route req/s and worker msg/s with 1, 2 and 3 supervisors sharing PostgreSQL
//!   and NATS, with scaling factors ([`cluster`]).
//!
//! Without an argument (or with `all`), every benchmark runs.

mod cluster;
mod console;
mod crons;
mod delivery;
mod deploy;
mod dev;
mod languages;
mod lifecycle;
mod peers;
mod routes;
mod sandbox;
mod store;
mod summary;
mod workers;

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "all".into());
    let options = match routes::Options::parse(args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("bench: {message}\nusage: bench [all|lifecycle|sandbox|languages|routes|workers|crons|deploy|dev|console|delivery|peers|store|cluster] [--duration <s>] [--warmup <s>] [--rounds <n>]");
            std::process::exit(2);
        }
    };
    if !matches!(
        which.as_str(),
        "all"
            | "lifecycle"
            | "sandbox"
            | "languages"
            | "routes"
            | "workers"
            | "crons"
            | "deploy"
            | "dev"
            | "console"
            | "delivery"
            | "peers"
            | "store"
            | "cluster"
    ) {
        eprintln!("bench: unknown benchmark {which:?} (all, lifecycle, sandbox, languages, routes, workers, crons, deploy, dev, console, delivery, peers, store or cluster)");
        std::process::exit(2);
    }
    println!("convotic bench ({which}); machine: {} cores", num_cpus());
    if which == "all" || which == "lifecycle" {
        lifecycle::run();
    }
    if which == "all" || which == "sandbox" {
        sandbox::run();
    }
    if which == "all" || which == "languages" {
        languages::run();
    }
    if which == "all" || which == "routes" {
        routes::run(&options);
    }
    if which == "all" || which == "workers" {
        workers::run(options.rounds);
    }
    if which == "all" || which == "crons" {
        crons::run();
    }
    if which == "all" || which == "console" {
        console::run();
    }
    if which == "all" || which == "delivery" {
        delivery::run();
    }
    if which == "all" || which == "peers" {
        peers::run(&options);
    }
    if which == "all" || which == "store" {
        store::run(options.rounds);
    }
    if which == "all" || which == "cluster" {
        cluster::run(&options);
    }
    if which == "all" || which == "deploy" {
        deploy::run();
    }
    if which == "all" || which == "dev" {
        dev::run();
    }
    summary::print();
}

/// The `[defaults]` line of the supervisors that run a scenario without the optional
/// protocol features, side by side with the same scenario with them.
pub(crate) const FEATURES_OFF: &str = "disabled_features = [\"work.batch\", \"host.stream\"]";

/// The `p`th percentile of sorted samples (nearest rank); NaN when there are none.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// "met" or "NOT met".
pub(crate) fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
