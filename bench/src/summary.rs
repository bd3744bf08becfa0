//! The table of performance targets printed at the end of a run: each benchmark records the
//! figures its targets are stated in (measured in that benchmark's own side-by-side rounds),
//! and `main` prints them together with the target beside each.

use std::sync::Mutex;

/// One figure against its target.
struct Row {
    figure: String,
    measured: String,
    target: String,
    met: Option<bool>,
}

static ROWS: Mutex<Vec<Row>> = Mutex::new(Vec::new());

/// Records `figure` measured as `measured` against `target`; `met` is `None` for a figure
/// reported without a target.
pub fn record(figure: &str, measured: String, target: &str, met: Option<bool>) {
    ROWS.lock().unwrap_or_else(|e| e.into_inner()).push(Row {
        figure: figure.to_string(),
        measured,
        target: target.to_string(),
        met,
    });
}

/// Prints the recorded rows as a table (nothing when no benchmark recorded any).
pub fn print() {
    let rows = ROWS.lock().unwrap_or_else(|e| e.into_inner());
    if rows.is_empty() {
        return;
    }
    println!("\n## Targets (figures from the runs above)");
    println!("| figure | measured | target | |");
    println!("|---|---|---|---|");
    for row in rows.iter() {
        let verdict = match row.met {
            Some(ok) => crate::verdict(ok),
            None => "",
        };
        println!(
            "| {} | {} | {} | {verdict} |",
            row.figure, row.measured, row.target
        );
    }
}
