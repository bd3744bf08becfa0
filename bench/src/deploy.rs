//! `bench deploy`: deployments of the Rust example (`hello-rust`, release build) as a package.
//! Two versions are packed once; each deploy uploads one through the admin API and is timed
//! from the first byte sent to the answer, which comes once the new version has taken over
//! (candidate started beside the old one, ready, published; the old one then drains). Steady
//! keep-alive route load runs throughout and every non-2xx answer is counted (target: 0). The
//! CLI's own figure (read, pack, hash, upload, switch) is timed once.

use std::path::Path;
use std::time::{Duration, Instant};

use convotic_e2e::load::Load;
use convotic_e2e::{binary, Supervisor};

use crate::{percentile, verdict};

const DEPLOYS: usize = 20;
const CALLERS: usize = 4;

/// Writes a package of the example at `dir` with `version`.
fn package(dir: &Path, version: &str) {
    std::fs::create_dir_all(dir).expect("package dir");
    std::fs::write(
        dir.join("convotic-module.toml"),
        format!(
            "name = \"hello-rust\"\nversion = \"{version}\"\nentry = \"bin/hello-rust\"\n[build]\noutput = {:?}\n",
            binary("hello-rust").display().to_string()
        ),
    )
    .expect("manifest");
}

fn packed(dir: &Path) -> convotic_supervisor::package::Packed {
    let text = std::fs::read_to_string(dir.join("convotic-module.toml")).expect("manifest");
    let manifest = convotic_supervisor::package::parse(&text).expect("valid manifest");
    let files = convotic_supervisor::package::files_to_pack(dir, &manifest).expect("files");
    convotic_supervisor::package::pack(&files, Default::default()).expect("pack")
}

/// Runs the benchmark.
pub fn run() {
    let sup = Supervisor::start(&[], &[]);
    let root = sup.dir.path().join("packages-src");
    let versions = ["1.0.0", "2.0.0"];
    let mut archives = Vec::new();
    for version in versions {
        let dir = root.join(version);
        package(&dir, version);
        let started = Instant::now();
        let archive = packed(&dir);
        if archives.is_empty() {
            println!(
                "\n## deploy: hello-rust package ({} KiB packed from {} KiB, packing {:.0} ms)",
                archive.bytes.len() / 1024,
                archive.content_bytes / 1024,
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
        archives.push(archive);
    }
    let upload = |archive: &convotic_supervisor::package::Packed| -> (u16, f64) {
        let started = Instant::now();
        let response = sup
            .http(
                reqwest::Method::POST,
                "/admin/v1/workspaces/ws_bench/modules/hello-rust/deployments",
            )
            .bearer_auth(&sup.token)
            .header("x-convotic-digest", format!("sha256:{}", archive.digest))
            .timeout(Duration::from_secs(60))
            .body(archive.bytes.clone())
            .send()
            .expect("upload");
        let status = response.status().as_u16();
        (status, started.elapsed().as_secs_f64() * 1000.0)
    };
    // The first version simply starts.
    let (status, first_ms) = upload(&archives[0]);
    assert_eq!(status, 201, "the first deploy");
    let key = {
        let (code, stdout, stderr) = sup.cli(&["keys", "create", "--workspace", "ws_bench"]);
        assert_eq!(code, 0, "{stderr}");
        stdout.lines().next().unwrap_or_default().to_string()
    };
    let load = Load::on(&sup, &key, "/v1/modules/hello-rust/hello/bench", CALLERS);
    std::thread::sleep(Duration::from_millis(300));
    let mut switch_ms = Vec::with_capacity(DEPLOYS);
    let mut refused = 0;
    for round in 0..DEPLOYS {
        let (status, ms) = upload(&archives[(round + 1) % 2]);
        if status == 201 {
            switch_ms.push(ms);
        } else {
            refused += 1;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let report = load.finish();
    // The CLI end to end: read the directory, pack, hash, upload, switch.
    let started = Instant::now();
    let dir = root.join(versions[0]).display().to_string();
    let (code, _, stderr) = sup.cli(&["deploy", "--workspace", "ws_bench", &dir]);
    let cli_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(code, 0, "{stderr}");

    switch_ms.sort_by(|a, b| a.total_cmp(b));
    let total = report.ok + report.failures.len() as u64;
    println!("| figure | measured | target |");
    println!("|---|---|---|");
    println!("| first deploy (upload → started and ready) | {first_ms:.0} ms | |");
    println!(
        "| upload → traffic switched, median of {} (p90 {:.0} ms, max {:.0} ms) | {:.0} ms | |",
        switch_ms.len(),
        percentile(&switch_ms, 90.0),
        switch_ms.last().copied().unwrap_or(f64::NAN),
        percentile(&switch_ms, 50.0)
    );
    println!(
        "| failed requests during {DEPLOYS} deploys under load ({CALLERS} keep-alive callers, {total} requests) | {} | 0: {} |",
        report.failures.len(),
        verdict(report.failures.is_empty())
    );
    println!("| deploys refused | {refused} | 0 |");
    println!("| `deploy` CLI end to end (pack, hash, upload, switch) | {cli_ms:.0} ms | |");
    if !report.failures.is_empty() {
        println!(
            "first failures: {:?}",
            &report.failures[..report.failures.len().min(3)]
        );
    }
}
