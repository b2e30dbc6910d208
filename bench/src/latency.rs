//! Detection latency: a transfer mined → its `payment.processing` webhook received, and the
//! threshold block mined → `payment.completed` received, p50/p99 over many payments, polling and
//! with a `newHeads` subscription. anvil mines each transaction as it takes it, so "mined" is the
//! moment it answers the send.

use std::time::{Duration, Instant};

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use payscan::devchain::{self, AnvilOptions};
use payscan_chain::abi::IERC20;

use crate::harness::{self, percentile, Backend, Chain, Database, Payscan, Receiver, ReceiverMode, TempDir, THRESHOLD};
use crate::report::Report;

/// Mined → webhook latencies (ms) of `payments` payments, one after another.
async fn measure(chain: &Chain, payments: usize, poll_ms: u64, ws: bool) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let dir = TempDir::new("latency")?;
    let registry = chain.registry_with(&dir.0, ws)?;
    let receiver = Receiver::start(ReceiverMode::Ok).await?;
    let db = Database::fresh(Backend::Sqlite).await?;
    let mut env =
        harness::settings(&db.url, &registry, std::slice::from_ref(&receiver.url), &harness::webhook_secret());
    env.insert("PAYSCAN_POLL_MS".into(), poll_ms.to_string());
    let payscan = Payscan::start(&env).await?;
    let token = Payscan::token("bench-buyer", "buyer")?;
    let provider = chain.anvil.provider();
    let payer = chain.accounts[1];
    let unit = U256::from(1_000_000u64);
    devchain::mint(provider, chain.usdc, payer, payer, unit * U256::from(payments as u64 + 1)).await?;
    // Past the follower's first tick, so that every payment is found by a later one.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (mut seen, mut confirmed) = (Vec::with_capacity(payments), Vec::with_capacity(payments));
    for i in 0..payments {
        let offer = format!("latency-{poll_ms}-{ws}-{i}");
        let payment = payscan.intent(&token, &offer, "1", "USDC").await?;
        let id = payment["paymentId"].as_str().unwrap_or_default().to_owned();
        let destination: Address = payment["destination"].as_str().unwrap_or_default().parse()?;
        // anvil mines a transaction as it takes it: the answer to the send is the moment it is mined.
        let call = IERC20::transferCall { to: destination, amount: unit };
        let request = TransactionRequest::default().with_from(payer).with_to(chain.usdc).with_input(call.abi_encode());
        let pending = provider.send_transaction(request).await?;
        let mined = Instant::now();
        anyhow::ensure!(pending.get_receipt().await?.status(), "transfer {i} reverted");
        let processing = receiver.wait_for(&id, "payment.processing", Duration::from_secs(30)).await?;
        seen.push(harness::millis(processing.saturating_duration_since(mined)));
        chain.anvil.mine(THRESHOLD - 1).await?;
        let threshold_mined = Instant::now();
        let completed = receiver.wait_for(&id, "payment.completed", Duration::from_secs(30)).await?;
        confirmed.push(harness::millis(completed.saturating_duration_since(threshold_mined)));
    }
    payscan.app.stop().await?;
    db.drop_database().await?;
    Ok((seen, confirmed))
}

pub async fn run(report: &mut Report, payments: usize) -> anyhow::Result<()> {
    let chain = Chain::start(AnvilOptions::default()).await?;
    let mut rows = Vec::new();
    for (poll_ms, ws, how) in
        [(50, false, "polling every 50 ms"), (2_000, true, "`newHeads` subscription, polling every 2 s (the default)")]
    {
        let (mut seen, mut confirmed) = measure(&chain, payments, poll_ms, ws).await?;
        rows.push(vec![
            how.to_owned(),
            format!("{:.0}", percentile(&mut seen, 50.0)),
            format!("{:.0}", percentile(&mut seen, 99.0)),
            format!("{:.0}", percentile(&mut confirmed, 50.0)),
            format!("{:.0}", percentile(&mut confirmed, 99.0)),
        ]);
    }
    report.section("Detection latency");
    report.line(&format!(
        "{payments} payments one after another on SQLite, each a USDC transfer to its derived address: transfer \
         mined → `payment.processing` received, and the threshold block ({THRESHOLD}) mined → `payment.completed` \
         received. Target: mined → `processing` p99 ≤ 100 ms."
    ));
    report.table(&["follower", "processing p50 ms", "processing p99 ms", "completed p50 ms", "completed p99 ms"], rows);
    Ok(())
}
