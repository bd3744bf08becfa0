//! `bench store`: operations per second of the store on its two backends, side by side in
//! interleaved rounds: a SQLite file in a temp dir (the embedded default) and a fresh database
//! on the local PostgreSQL server (`CONVOTIC_TEST_POSTGRES`, default
//! `host=127.0.0.1 port=5432 user=postgres`). Operations are `ctx.storage`'s: set (new keys),
//! get (existing keys) and compare-and-set (each caller bumping its own key), at concurrency
//! 1 and 16, driven by tasks on this process's runtime. Every write is durable on both (SQLite
//! `synchronous=FULL`, PostgreSQL `synchronous_commit=on`). Prints the best round of each and
//! PostgreSQL ÷ SQLite; asserts nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use convotic_e2e::postgres::TestDatabase;
use convotic_supervisor::store::Store;
use serde_json::json;

const WORKSPACE: &str = "ws_bench";
const MODULE: &str = "bench";

#[derive(Clone, Copy)]
enum Op {
    Set,
    Get,
    CompareAndSet,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Set => "set",
            Op::Get => "get",
            Op::CompareAndSet => "compare-and-set",
        }
    }
}

/// Runs `op` with `callers` concurrent callers for `duration`; operations per second.
async fn measure(store: &Store, op: Op, callers: usize, duration: Duration) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..callers {
        let (store, done) = (store.clone(), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            let mut revision = store
                .kv_get(WORKSPACE, MODULE, &format!("cas-{caller}"))
                .await
                .map_or(0, |e| e.revision);
            while Instant::now() < deadline {
                let result = match op {
                    Op::Set => store
                        .kv_set(
                            WORKSPACE,
                            MODULE,
                            &format!("set-{caller}-{i}"),
                            json!({"n": i}),
                            0,
                        )
                        .await
                        .map(drop),
                    Op::Get => store
                        .kv_get(WORKSPACE, MODULE, &format!("get-{}", i % 1000))
                        .await
                        .map(drop),
                    Op::CompareAndSet => store
                        .kv_compare_and_set(
                            WORKSPACE,
                            MODULE,
                            &format!("cas-{caller}"),
                            json!({"n": i}),
                            revision,
                            0,
                        )
                        .await
                        .map(|e| revision = e.revision),
                };
                if let Err(e) = result {
                    eprintln!("bench store: {} failed: {e}", op.name());
                    return;
                }
                i += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn prepare(store: &Store) {
    store.ensure_workspace(WORKSPACE).await.expect("workspace");
    for i in 0..1000 {
        store
            .kv_set(WORKSPACE, MODULE, &format!("get-{i}"), json!({"i": i}), 0)
            .await
            .expect("seed");
    }
}

/// Runs the benchmark: `rounds` interleaved rounds of every operation on both backends.
pub fn run(rounds: usize) {
    println!("\n== store: operations per second, SQLite vs PostgreSQL (same rounds) ==");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let database = TestDatabase::create();
    let (sqlite, postgres) = runtime.block_on(async {
        let sqlite = Store::open_in(dir.path()).expect("sqlite store");
        let postgres = Store::open_postgres(&database.url(), 16)
            .await
            .expect("postgres store");
        prepare(&sqlite).await;
        prepare(&postgres).await;
        (sqlite, postgres)
    });
    let duration = Duration::from_secs(2);
    for op in [Op::Set, Op::Get, Op::CompareAndSet] {
        for callers in [1usize, 16] {
            let (mut best_sqlite, mut best_postgres) = (0f64, 0f64);
            for _ in 0..rounds.max(1) {
                best_sqlite =
                    best_sqlite.max(runtime.block_on(measure(&sqlite, op, callers, duration)));
                best_postgres =
                    best_postgres.max(runtime.block_on(measure(&postgres, op, callers, duration)));
            }
            println!(
                "  {:<16} c={callers:<3} SQLite {best_sqlite:>9.0}/s   PostgreSQL {best_postgres:>9.0}/s   PostgreSQL ÷ SQLite {:.2}",
                op.name(),
                best_postgres / best_sqlite.max(1.0)
            );
            crate::summary::record(
                &format!("store {} c={callers}: PostgreSQL ops/s (SQLite)", op.name()),
                format!("{best_postgres:.0} ({best_sqlite:.0})"),
                "reported",
                None,
            );
        }
    }
    drop(sqlite);
    drop(postgres);
    drop(runtime);
}
