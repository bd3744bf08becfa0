//! `bench console`: what an operator's browser and Prometheus pay at 200 modules. One ready
//! module (the Rust example) and 199 disabled ones (configured, stopped: a row each, no
//! process) behind one supervisor; each page is fetched with a signed-in session, sequentially,
//! in interleaved rounds, and the best round's median is printed with the page's size against
//! the 150 KB budget.

use std::time::{Duration, Instant};

use convotic_e2e::{ModuleEntry, Supervisor};

use crate::{percentile, verdict};

const MODULES: usize = 200;
const ROUNDS: usize = 5;
const FETCHES: usize = 40;
/// Most bytes of a page, uncompressed.
const PAGE_BUDGET: usize = 150 * 1024;

pub fn run() {
    let mut modules = vec![ModuleEntry::new("hello-rust", "hello-rust")];
    for i in 1..MODULES {
        modules.push(
            ModuleEntry::new(&format!("module-{i:03}"), "hello-rust").with("enabled = false"),
        );
    }
    let sup = Supervisor::start(&modules, &[]);
    sup.wait_state("hello-rust", "ready", Duration::from_secs(30));
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let base = sup.base.clone();
    let login = client
        .post(format!("{base}/console/login"))
        .form(&[("token", sup.token.as_str())])
        .send()
        .expect("login");
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_string();
    let pages: [(&str, &str, bool); 5] = [
        ("modules page", "/console/", true),
        (
            "modules rows (refreshed every 2 s)",
            "/console/fragments/modules",
            true,
        ),
        (
            "a module's page",
            "/console/modules/ws_test/hello-rust",
            true,
        ),
        ("crons page", "/console/crons", true),
        ("/metrics scrape", "/metrics", false),
    ];
    let mut best: Vec<f64> = vec![f64::MAX; pages.len()];
    let mut sizes = vec![0usize; pages.len()];
    for _ in 0..ROUNDS {
        for (i, (_, path, console)) in pages.iter().enumerate() {
            let mut times = Vec::with_capacity(FETCHES);
            for _ in 0..FETCHES {
                let request = client.get(format!("{base}{path}"));
                let request = if *console {
                    request.header("cookie", &cookie)
                } else {
                    request.bearer_auth(&sup.token)
                };
                let started = Instant::now();
                let response = request.send().expect("fetch");
                assert_eq!(response.status().as_u16(), 200, "{path}");
                let body = response.bytes().expect("body");
                times.push(started.elapsed().as_secs_f64() * 1000.0);
                sizes[i] = body.len();
            }
            times.sort_by(|a, b| a.total_cmp(b));
            best[i] = best[i].min(percentile(&times, 50.0));
        }
    }
    println!("\n## console: {MODULES} modules (1 ready, {} disabled), best of {ROUNDS} rounds of {FETCHES} sequential fetches", MODULES - 1);
    println!("| page | median | size | budget |");
    println!("|---|---|---|---|");
    for (i, (name, _, console)) in pages.iter().enumerate() {
        let budget = if *console {
            format!("< 150 KB: {}", verdict(sizes[i] < PAGE_BUDGET))
        } else {
            String::new()
        };
        println!(
            "| {name} | {:.2} ms | {:.1} KB | {budget} |",
            best[i],
            sizes[i] as f64 / 1024.0
        );
    }
}
