//! Memory: the resident set of a `payscan serve` process once it watches N open payments, next to
//! the same process watching none.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use payscan::devchain::AnvilOptions;
use serde_json::Value;

use crate::harness::{self, Backend, Chain, Database, Payscan, TempDir};
use crate::report::Report;
use crate::seed;

/// The `payscan` binary built next to this one.
fn payscan_binary() -> anyhow::Result<std::path::PathBuf> {
    let binary = std::env::current_exe()?.with_file_name("payscan");
    anyhow::ensure!(binary.is_file(), "{} is missing: cargo build --release first", binary.display());
    Ok(binary)
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).ok_or_else(|| anyhow::anyhow!("no VmRSS"))?;
    Ok(line.split_whitespace().nth(1).unwrap_or("0").parse()?)
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `payscan serve` on the database, waits until its follower watches `watched` payments,
/// lets it settle, and returns its RSS in KiB.
async fn measure(chain: &Chain, dir: &TempDir, database_url: &str, watched: usize) -> anyhow::Result<u64> {
    let registry = chain.registry(&dir.0)?;
    let env = harness::settings(database_url, &registry, &[], &harness::webhook_secret());
    let listen = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let child = Command::new(payscan_binary()?)
        .arg("serve")
        .envs(&env)
        .env("PAYSCAN_LISTEN", listen.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let serve = Serve(child);
    let http = reqwest::Client::new();
    let admin = Payscan::token("bench-admin", "admin")?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let status = http.get(format!("http://{listen}/api/admin/scanner/status")).bearer_auth(&admin).send().await;
        if let Ok(response) = status {
            let body: Value = response.json().await.unwrap_or_default();
            if body["data"]["watchedDestinations"].as_u64() == Some(watched as u64) {
                break;
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "payscan never watched {watched} payments");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A few follower ticks and dispatcher rounds at rest.
    tokio::time::sleep(Duration::from_secs(5)).await;
    rss_kib(serve.0.id())
}

pub async fn run(report: &mut Report, counts: &[usize]) -> anyhow::Result<()> {
    let chain = Chain::start(AnvilOptions::default()).await?;
    let dir = TempDir::new("rss")?;
    let mut rows = Vec::new();
    for &count in counts {
        let db = Database::fresh(Backend::Sqlite).await?;
        let started = Instant::now();
        seed::open_payments(&db.url, chain.anvil.chain_id, chain.usdc, count, 0).await?;
        let seeded = started.elapsed();
        let kib = measure(&chain, &dir, &db.url, count).await?;
        rows.push(vec![
            count.to_string(),
            format!("{:.1}", kib as f64 / 1024.0),
            if count == 1_000_000 { "≤ 190.7 (200 MB)".into() } else { String::new() },
            format!("{:.1}", seeded.as_secs_f64()),
        ]);
        db.drop_database().await?;
    }
    report.section("Memory");
    report.line("Resident set (VmRSS) of `payscan serve` on SQLite once its follower watches every open payment, after 5 s at rest.");
    report.table(&["open payments watched", "RSS MiB", "target MiB", "seeding s"], rows);
    Ok(())
}
