//! The printout of `bench routes`: the table of figures, the ratios against their targets and
//! where (c)'s cost goes.

use super::setup::{A, B, B_SDK, C, C_OFF, D, D_OFF};
use super::{Cell, Outcome, LEVELS};
use crate::{summary, verdict};

/// Target of (c)/(a) throughput at 32 connections.
const ROUTE_RATIO: f64 = 0.65;
/// Target of the p50 one host call adds at concurrency 1, µs.
const HOST_CALL_US: f64 = 40.0;
/// Target of (d)/(c) throughput at 32 connections.
const HOST_CALL_RATIO: f64 = 0.85;

/// One row per scenario and level.
pub fn table(names: &[&str], outcomes: &[Outcome]) {
    println!(
        "\n{:<52} {:>5} {:>10} {:>9} {:>9} {:>7}",
        "scenario", "conc", "req/s", "p50 µs", "p99 µs", "errors"
    );
    for (name, outcome) in names.iter().zip(outcomes) {
        match outcome {
            Err(reason) => println!("{name:<52} not available: {reason}"),
            Ok(cells) => {
                for (level, cell) in LEVELS.iter().zip(cells) {
                    println!(
                        "{name:<52} {level:>5} {:>10.0} {:>9.0} {:>9.0} {:>7}",
                        cell.rps, cell.p50_us, cell.p99_us, cell.errors
                    );
                    if let Some(error) = &cell.first_error {
                        println!("{:<52}       first error: {error}", "");
                    }
                }
            }
        }
    }
}

/// The cell of `scenario` at concurrency `level`.
fn at(outcomes: &[Outcome], scenario: usize, level: usize) -> Option<&Cell> {
    let index = LEVELS.iter().position(|&l| l == level)?;
    outcomes.get(scenario)?.as_ref().ok()?.get(index)
}

/// Throughput at 32 and median latency at 1.
fn rps32(outcomes: &[Outcome], scenario: usize) -> Option<f64> {
    at(outcomes, scenario, 32).map(|c| c.rps)
}

fn p50_1(outcomes: &[Outcome], scenario: usize) -> Option<f64> {
    at(outcomes, scenario, 1).map(|c| c.p50_us)
}

/// The ratios the targets are stated in, then the cost of a host call and the split of (c).
pub fn ratios(outcomes: &[Outcome]) {
    println!("\nratios");
    let rps = |s| rps32(outcomes, s);
    let p50 = |s| p50_1(outcomes, s);
    if let (Some(a), Some(b)) = (rps(A), rps(B)) {
        println!(
            "(b)/(a) throughput at 32: {:.2} (reference 0.60 on this machine kind)",
            b / a
        );
    }
    match (rps(A), rps(C)) {
        (Some(a), Some(c)) => {
            println!(
                "(c)/(a) throughput at 32: {:.2} (target ≥ {ROUTE_RATIO}: {})",
                c / a,
                verdict(c / a >= ROUTE_RATIO)
            );
            summary::record(
                "route req/s via supervisor ÷ in-process warp (32 connections)",
                format!("{:.2}", c / a),
                "≥ 0.65",
                Some(c / a >= ROUTE_RATIO),
            );
        }
        _ => println!("(c)/(a) throughput at 32: not available"),
    }
    match (p50(A), p50(B), p50(C)) {
        (Some(a), Some(b), Some(c)) if b - a >= 5.0 => {
            let (b_added, c_added) = (b - a, c - a);
            let ratio = c_added / b_added;
            println!(
                "added p50 at concurrency 1: (c) +{c_added:.0} µs vs (b) +{b_added:.0} µs = {ratio:.2}× (target ≤ 1.2×: {})",
                verdict(ratio <= 1.2)
            );
            summary::record(
                "added route p50 at concurrency 1, ÷ the bare forwarder's",
                format!("{ratio:.2}× (+{c_added:.0} vs +{b_added:.0} µs)"),
                "≤ 1.2×",
                Some(ratio <= 1.2),
            );
        }
        (Some(a), Some(b), Some(c)) => println!(
            "added p50 at concurrency 1: not meaningful in this run ((a) {a:.0} µs, (b) {b:.0} µs, (c) {c:.0} µs): run again or with more --rounds"
        ),
        (Some(a), Some(b), None) => println!(
            "added p50 at concurrency 1: (b) +{:.0} µs; (c) not available",
            b - a
        ),
        _ => println!("added p50 at concurrency 1: not available"),
    }
    match (p50(C), p50(D), rps(C), rps(D)) {
        (Some(c1), Some(d1), Some(c32), Some(d32)) => {
            println!(
                "one host call (storage get): +{:.0} µs p50 at concurrency 1 (target ≤ {HOST_CALL_US} µs: {}); (d)/(c) throughput at 32: {:.2} (target ≥ {HOST_CALL_RATIO}: {})",
                d1 - c1,
                verdict(d1 - c1 <= HOST_CALL_US),
                d32 / c32,
                verdict(d32 / c32 >= HOST_CALL_RATIO)
            );
            summary::record(
                "one Host call (storage.get), added p50 at concurrency 1",
                format!("{:.0} µs", d1 - c1),
                "≤ 40 µs",
                Some(d1 - c1 <= HOST_CALL_US),
            );
            summary::record(
                "route with one storage call ÷ route without, throughput at 32",
                format!("{:.2}", d32 / c32),
                "≥ 0.85",
                Some(d32 / c32 >= HOST_CALL_RATIO),
            );
        }
        _ => println!("one host call (storage get): not available"),
    }
    match (p50(B), p50(B_SDK), p50(C)) {
        (Some(b), Some(s), Some(c)) => println!(
            "split of (c) − (b) p50 at concurrency 1: SDK module +{:.0} µs ((b′) − (b)), supervisor +{:.0} µs ((c) − (b′))",
            s - b,
            c - s
        ),
        (Some(b), Some(s), None) => println!(
            "SDK module over the bare echo server, p50 at concurrency 1: +{:.0} µs",
            s - b
        ),
        _ => {}
    }
    if let (Some(b), Some(s)) = (rps(B), rps(B_SDK)) {
        println!("(b′)/(b) throughput at 32: {:.2}", s / b);
    }
    println!("\nwith work.batch and host.stream vs without them (c₀, d₀):");
    if let (Some(a), Some(c), Some(c0)) = (rps(A), rps(C), rps(C_OFF)) {
        println!(
            "(c)/(a) throughput at 32: {:.2} with, {:.2} without",
            c / a,
            c0 / a
        );
    }
    if let (Some(a), Some(c), Some(c0)) = (p50(A), p50(C), p50(C_OFF)) {
        println!(
            "(c) added p50 at concurrency 1: +{:.0} µs with, +{:.0} µs without",
            c - a,
            c0 - a
        );
    }
    if let (Some(c), Some(d), Some(c0), Some(d0)) = (p50(C), p50(D), p50(C_OFF), p50(D_OFF)) {
        println!(
            "one host call, added p50 at concurrency 1: +{:.0} µs on the stream, +{:.0} µs unary",
            d - c,
            d0 - c0
        );
    }
    if let (Some(c), Some(d), Some(c0), Some(d0)) = (rps(C), rps(D), rps(C_OFF), rps(D_OFF)) {
        println!(
            "(d)/(c) throughput at 32: {:.2} on the stream, {:.2} unary",
            d / c,
            d0 / c0
        );
    }
}
