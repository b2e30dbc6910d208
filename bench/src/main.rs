//! payscan's benchmarks, run on a local anvil on this machine, each figure next to its reference
//! from the same run. `payscan-bench all` runs every one and writes the report (see README).

// A binary: its modules' items are for each other, never reachable from outside.
#![allow(unreachable_pub)]

mod backfill;
mod derive;
mod dispatch;
mod fixture;
mod harness;
mod intents;
mod latency;
mod report;
mod rss;
mod seed;

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "payscan-bench", about = "payscan's benchmarks on a local anvil")]
struct Cli {
    /// Smaller sizes everywhere: a check that every benchmark runs, not a measurement.
    #[arg(long, global = true)]
    quick: bool,
    /// Also write the report to this file.
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, Subcommand)]
enum Command {
    /// Every benchmark below, in order.
    All,
    /// Derivations per second, single-threaded.
    Derive,
    /// Intents per second over HTTP, SQLite and PostgreSQL.
    Intents,
    /// Webhook deliveries per second and enqueue → receipt latency, SQLite and PostgreSQL.
    Dispatch,
    /// Transfer mined → webhook latency.
    Latency,
    /// Backfill over the fixture, next to cryo and a bare eth_getLogs loop.
    Backfill,
    /// RSS of `payscan serve` watching many open payments.
    Rss,
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixture")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    payscan::telemetry::install_tls_provider();
    let quick = cli.quick;
    let started = Instant::now();
    let mut report = report::Report::default();
    report.line(&format!(
        "# payscan benchmarks\n\n{} cores, payscan {}, `payscan-bench {}{}`.",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        env!("CARGO_PKG_VERSION"),
        format!("{:?}", cli.command).to_lowercase(),
        if quick { " --quick" } else { "" },
    ));
    let all = matches!(cli.command, Command::All);
    if all || matches!(cli.command, Command::Derive) {
        derive::run(&mut report, if quick { 2_000 } else { 50_000 })?;
    }
    if all || matches!(cli.command, Command::Intents) {
        intents::run(&mut report, if quick { 300 } else { 5_000 }, 32).await?;
    }
    if all || matches!(cli.command, Command::Dispatch) {
        dispatch::run(&mut report, if quick { 500 } else { 10_000 }).await?;
    }
    if all || matches!(cli.command, Command::Latency) {
        latency::run(&mut report, if quick { 20 } else { 500 }).await?;
    }
    if all || matches!(cli.command, Command::Backfill) {
        let (blocks, per_block, counts): (u64, u64, &[usize]) =
            if quick { (200, 10, &[100, 1_000]) } else { (5_000, 20, &[100, 10_000, 100_000]) };
        backfill::run(&mut report, &fixture_dir(), blocks, per_block, 500, counts).await?;
    }
    if all || matches!(cli.command, Command::Rss) {
        let counts: &[usize] = if quick { &[0, 10_000] } else { &[0, 100_000, 1_000_000] };
        rss::run(&mut report, counts).await?;
    }
    report.line(&format!("\nRan in {:.0} s.", started.elapsed().as_secs_f64()));
    if let Some(out) = cli.out {
        std::fs::write(out, report.text())?;
    }
    Ok(())
}
