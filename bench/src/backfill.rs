//! Backfill: payscan's follower over the whole fixture with 100, 10,000 and 100,000 open
//! payments watched, next to the peer `cryo` fetching the same logs with the same range size and
//! a bare `eth_getLogs` loop (the floor: what the node alone costs).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use alloy::primitives::B256;
use alloy::providers::Provider;
use alloy::sol_types::SolEvent;
use payscan_chain::abi::{IERC20FeeProxy, IERC20};
use payscan_core::store::cursors::Checkpoint;
use payscan_core::store::Store;
use payscan_core::ChainId;
use serde_json::{json, Value};

use crate::fixture::{self, PAID};
use crate::harness::{self, Backend, Chain, Database, Payscan, TempDir};
use crate::report::Report;
use crate::seed;

/// The event topics payscan's filter asks for.
pub fn topics() -> Vec<B256> {
    vec![IERC20::Transfer::SIGNATURE_HASH, IERC20FeeProxy::TransferWithReferenceAndFee::SIGNATURE_HASH]
}

/// The floor: `eth_getLogs` over the same ranges with the same filter, answers parsed, nothing else.
async fn floor(chain: &Chain, head: u64, range: u64) -> anyhow::Result<(Duration, u64)> {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut logs = 0u64;
    let mut from = 0u64;
    while from <= head {
        let to = (from + range - 1).min(head);
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{
            "fromBlock": format!("{from:#x}"), "toBlock": format!("{to:#x}"),
            "address": [chain.usdc, chain.usdt, chain.proxy], "topics": [topics()] }] });
        let answer: Value = http.post(&chain.anvil.url).json(&body).send().await?.json().await?;
        logs += answer["result"].as_array().map_or(0, |a| a.len() as u64);
        from = to + 1;
    }
    Ok((started.elapsed(), logs))
}

/// cryo fetching the same logs with the same range size, when it is installed.
fn cryo(chain: &Chain, head: u64, range: u64, out: &Path) -> anyhow::Result<Option<Duration>> {
    let binary = std::env::var("PAYSCAN_CRYO").unwrap_or_else(|_| "cryo".to_owned());
    if Command::new(&binary).arg("--version").output().is_err() {
        return Ok(None);
    }
    let started = Instant::now();
    let mut command = Command::new(&binary);
    command
        .args(["logs", "--rpc", &chain.anvil.url, "--blocks", &format!("0:{}", head + 1)])
        .args(["--chunk-size", &range.to_string(), "--inner-request-size", &range.to_string()])
        .arg("--contract")
        .args([chain.usdc, chain.usdt, chain.proxy].map(|a| a.to_string()))
        .arg("--topic0")
        .args(topics().iter().map(|t| t.to_string()))
        .args([
            "--output-dir",
            &out.display().to_string(),
            "--no-report",
            "--overwrite",
            "--max-concurrent-requests",
            "1",
        ]);
    let output = command.output()?;
    anyhow::ensure!(output.status.success(), "cryo failed: {}", String::from_utf8_lossy(&output.stderr));
    Ok(Some(started.elapsed()))
}

/// payscan's follower from block 0 to the head, with `count` open payments watched.
/// With `paid`, the payments whose addresses the fixture pays are among them.
async fn payscan(
    chain: &Chain,
    dir: &TempDir,
    head: u64,
    range: u64,
    count: usize,
    paid: bool,
) -> anyhow::Result<(Duration, u64)> {
    let db = Database::fresh(Backend::Sqlite).await?;
    let chain_id = ChainId(chain.anvil.chain_id);
    seed::open_payments(&db.url, chain_id.0, chain.usdc, count, if paid { PAID.min(count) } else { 0 }).await?;
    // The cursor at genesis: payscan backfills the whole chain, as after a long outage.
    let store = Store::connect(&db.url).await?;
    let genesis =
        chain.anvil.provider().get_block_by_number(0.into()).await?.ok_or_else(|| anyhow::anyhow!("no genesis"))?;
    let mut tx = store.begin().await?;
    store
        .save_checkpoint(
            &mut tx,
            chain_id,
            Checkpoint { number: 0, hash: genesis.header.hash },
            payscan_core::clock::now_ms(),
        )
        .await?;
    tx.commit().await?;

    let registry = chain.registry(&dir.0)?;
    let mut env = harness::settings(&db.url, &registry, &[], &harness::webhook_secret());
    env.insert("PAYSCAN_MAX_BLOCK_RANGE".into(), range.to_string());
    env.insert("PAYSCAN_POLL_MS".into(), "100".into());
    let started = Instant::now();
    let app = Payscan::start(&env).await?;
    let deadline = started + Duration::from_secs(1800);
    loop {
        if store.checkpoint(chain_id).await?.is_some_and(|c| c.number >= head) {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "backfill with {count} payments did not finish");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let credited: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM credits").fetch_one(store.pool()).await?;
    app.app.stop().await?;
    store.close().await;
    db.drop_database().await?;
    Ok((elapsed, credited as u64))
}

pub async fn run(
    report: &mut Report,
    fixture_dir: &Path,
    blocks: u64,
    per_block: u64,
    range: u64,
    counts: &[usize],
) -> anyhow::Result<()> {
    let fixture = fixture::generate(fixture_dir, blocks, per_block).await?;
    let chain = fixture.start().await?;
    let head = chain.anvil.head().await?;
    let dir = TempDir::new("backfill")?;
    let (floor_time, floor_logs) = floor(&chain, head, range).await?;
    anyhow::ensure!(floor_logs == fixture.logs, "the node served {floor_logs} logs, the fixture has {}", fixture.logs);
    let cryo_time = cryo(&chain, head, range, &dir.0.join("cryo"))?;
    let rate = |d: Duration| (head as f64 / d.as_secs_f64(), fixture.logs as f64 / d.as_secs_f64());
    let mut rows = Vec::new();
    let (b, l) = rate(floor_time);
    rows.push(vec![
        "bare eth_getLogs loop (floor)".into(),
        format!("{:.2}", floor_time.as_secs_f64()),
        format!("{b:.0}"),
        format!("{l:.0}"),
        "1.00".into(),
        String::new(),
        String::new(),
    ]);
    if let Some(t) = cryo_time {
        let (b, l) = rate(t);
        rows.push(vec![
            "cryo 0.3.2 logs".into(),
            format!("{:.2}", t.as_secs_f64()),
            format!("{b:.0}"),
            format!("{l:.0}"),
            format!("{:.2}", floor_time.as_secs_f64() / t.as_secs_f64()),
            "1.00".into(),
            String::new(),
        ]);
    }
    let runs = counts.iter().map(|&c| (c, true)).chain(counts.last().map(|&c| (c, false)));
    for (count, paid) in runs {
        let (t, credited) = payscan(&chain, &dir, head, range, count, paid).await?;
        let (b, l) = rate(t);
        rows.push(vec![
            if paid {
                format!("payscan, {count} open payments")
            } else {
                format!("payscan, {count} open payments, none paid")
            },
            format!("{:.2}", t.as_secs_f64()),
            format!("{b:.0}"),
            format!("{l:.0}"),
            format!("{:.2}", floor_time.as_secs_f64() / t.as_secs_f64()),
            cryo_time
                .map(|c| format!("{:.2}", c.as_secs_f64() / t.as_secs_f64()))
                .unwrap_or_else(|| "cryo not installed".into()),
            credited.to_string(),
        ]);
    }
    report.section("Backfill");
    report.line(&format!(
        "The fixture: {head} blocks, {} logs of the registry tokens and the fee proxy ({per_block} transfers a block, one in ten to one of {PAID} payments' addresses, a fee-proxy payment every tenth block), loaded into a fresh anvil. Range size {range} blocks for all three. payscan's time runs from start-up to its cursor at the head on SQLite, and includes matching and cursor commits; in all but the last row also the credits: each of those {PAID} payments is paid a hundred times, so every credit writes its ledger rows and an outbox event. Ratios are speeds (higher is faster).",
        fixture.logs
    ));
    report.table(&["reader", "seconds", "blocks/s", "logs/s", "÷ floor", "÷ cryo", "credits"], rows);
    Ok(())
}
