//! Every benchmark at its smallest size, so that the runner cannot rot unseen: a check that each
//! one runs against real anvil, SQLite and PostgreSQL and reports its figures, not a measurement.

use std::process::Command;

#[test]
fn every_benchmark_runs_at_its_smallest_size() {
    let out = std::env::temp_dir().join(format!("payscan-bench-quick-{}.md", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_payscan-bench"))
        .args(["--quick", "all", "--out"])
        .arg(&out)
        .output()
        .expect("payscan-bench runs");
    assert!(
        output.status.success(),
        "payscan-bench --quick all failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = std::fs::read_to_string(&out).expect("the report");
    let _ = std::fs::remove_file(&out);
    for section in
        ["## Derivations", "## Intents", "## Webhook dispatch", "## Detection latency", "## Backfill", "## Memory"]
    {
        assert!(report.contains(section), "{section} is missing from the report:\n{report}");
    }
    // Every table row carries a measured figure, never a NaN from an empty sample.
    assert!(!report.contains("NaN"), "{report}");
}
