//! RPC faults through a fault-injecting proxy in front of anvil: a flaky provider, an endpoint
//! that goes down and comes back, one stuck at an old head, one that runs ahead. No payment is
//! missed, none is credited twice, the lag recovers, and a single node never confirms alone.

use std::time::{Duration, Instant};

use alloy::primitives::U256;
use serde_json::Value;

use crate::both_backends;
use crate::support::proxy::{Faults, RpcProxy};
use crate::support::*;

async fn chain_status(app: &TestApp) -> Value {
    let (_, status) = app.get("/api/admin/scanner/status", Some(&app.admin())).await;
    status["data"]["chains"][0].clone()
}

async fn wait_status(app: &TestApp, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = chain_status(app).await;
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "scanner never reached {what}: {status:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates and pays a payment of `amount` USDC base units; returns its id.
async fn pay(app: &TestApp, chain: &TestChain, offer: &str, amount: u64) -> String {
    let intent = app.intent("buyer-1", intent_body(offer, &format!("0.{amount:06}"), "USDC", chain)).await;
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(amount)).await;
    intent["paymentId"].as_str().expect("id").to_owned()
}

async fn assert_completed_once(app: &TestApp, receiver: &Receiver, id: &str) {
    receiver.wait_for(id, "payment.completed").await;
    let payment = app.payment(id).await;
    assert_eq!(payment["status"], "completed");
    assert_eq!(payment["transfers"].as_array().map(Vec::len), Some(1), "credited once: {payment:#}");
    let kinds: Vec<String> = receiver.events_for(id).into_iter().map(|e| e.event_type).collect();
    assert_eq!(kinds, ["payment.processing", "payment.completed"]);
}

both_backends!(a_flaky_provider_loses_nothing_and_credits_nothing_twice, |backend| async move {
    let chain = TestChain::start(31337).await;
    let proxy = RpcProxy::start(&chain.anvil.url, Faults { flaky: 0.15, ..Default::default() }).await;
    let mut options = AppOptions::new(backend, &chain);
    options.rpc = vec![(chain.chain_id, proxy.url.clone())];
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;

    let mut ids = Vec::new();
    for i in 0..6u64 {
        ids.push(pay(&app, &chain, &format!("offer-flaky-{i}"), 100_000 + i).await);
        chain.mine(1).await;
    }
    chain.mine(THRESHOLD).await;
    for id in &ids {
        assert_completed_once(&app, &receiver, id).await;
    }
    assert!(proxy.faulted() > 0, "the proxy injected no fault");
    wait_status(&app, "no lag", |s| s["lagBlocks"] == 0).await;
    app.stop().await;
});

both_backends!(an_endpoint_that_goes_down_is_failed_over_and_back, |backend| async move {
    let chain = TestChain::start(31337).await;
    let primary = RpcProxy::start(&chain.anvil.url, Faults::default()).await;
    let mut options = AppOptions::new(backend, &chain);
    options.rpc = vec![(chain.chain_id, format!("{},{}", primary.url, chain.anvil.url))];
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;
    let primary_label = primary.url.clone();

    let first = pay(&app, &chain, "offer-f1", 100_000).await;
    chain.mine(THRESHOLD).await;
    assert_completed_once(&app, &receiver, &first).await;
    assert_eq!(chain_status(&app).await["rpc"], primary_label);

    primary.set(|f| f.down = true);
    let second = pay(&app, &chain, "offer-f2", 200_000).await;
    chain.mine(THRESHOLD).await;
    assert_completed_once(&app, &receiver, &second).await;
    let status = wait_status(&app, "the secondary serving", |s| s["rpc"] != primary_label).await;
    assert_eq!(status["down"], false, "one endpoint down is not the chain down");

    primary.set(|f| f.down = false);
    wait_status(&app, "failback to the primary", |s| s["rpc"] == primary_label).await;
    let third = pay(&app, &chain, "offer-f3", 300_000).await;
    chain.mine(THRESHOLD).await;
    assert_completed_once(&app, &receiver, &third).await;
    let metrics =
        app.http.get(format!("{}/metrics", app.url)).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains(r#"payscan_rpc_failovers_total{chain_id="31337"}"#), "{metrics}");
    app.stop().await;
});

both_backends!(an_endpoint_stuck_at_an_old_head_is_set_aside, |backend| async move {
    let chain = TestChain::start(31337).await;
    let stuck = RpcProxy::start(&chain.anvil.url, Faults::default()).await;
    let mut options = AppOptions::new(backend, &chain);
    options.rpc = vec![(chain.chain_id, format!("{},{}", stuck.url, chain.anvil.url))];
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;
    wait_status(&app, "following", |s| s["state"] == "following").await;

    let head = chain.anvil.head().await.expect("head");
    stuck.set(|f| f.stale_head = Some(head));
    let id = pay(&app, &chain, "offer-stuck", 100_000).await;
    chain.mine(THRESHOLD).await;
    assert_completed_once(&app, &receiver, &id).await;
    let status = wait_status(&app, "no lag", |s| s["lagBlocks"] == 0).await;
    assert_eq!(
        status["rpc"].as_str().map(|r| r.contains(&chain.anvil.url.replace("http://", ""))),
        Some(true),
        "{status}"
    );
    app.stop().await;
});

both_backends!(one_node_running_ahead_cannot_confirm_alone, |backend| async move {
    let chain = TestChain::start(31337).await;
    let ahead = RpcProxy::start(&chain.anvil.url, Faults { head_ahead: 100, ..Default::default() }).await;
    let mut options = AppOptions::new(backend, &chain);
    options.rpc = vec![(chain.chain_id, format!("{},{}", ahead.url, chain.anvil.url))];
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;

    let id = pay(&app, &chain, "offer-ahead", 100_000).await;
    receiver.wait_for(&id, "payment.processing").await;
    chain.mine(THRESHOLD - 2).await;
    // One node says the transfer is 100 blocks deep; the other says 2. Two is what counts.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let payment = app.payment(&id).await;
    assert_eq!(payment["status"], "processing", "{payment:#}");
    assert_eq!(payment["confirmations"], THRESHOLD - 1);
    chain.mine(1).await;
    assert_completed_once(&app, &receiver, &id).await;
    app.stop().await;
});

both_backends!(a_payment_created_and_paid_while_the_head_is_read_is_found, |backend| async move {
    // Each tick waits 400 ms for the head; payments are created and paid in those windows. A
    // follower that refreshed its watch set before reading the head would scan their blocks
    // without knowing them, and miss them for good.
    let chain = TestChain::start(31337).await;
    let proxy =
        RpcProxy::start(&chain.anvil.url, Faults { head_latency: Duration::from_millis(400), ..Default::default() })
            .await;
    let mut options = AppOptions::new(backend, &chain);
    options.rpc = vec![(chain.chain_id, proxy.url.clone())];
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;
    let mut ids = Vec::new();
    for i in 0..4u64 {
        let before = proxy.calls("eth_blockNumber");
        while proxy.calls("eth_blockNumber") == before {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // A head read is under way now.
        ids.push(pay(&app, &chain, &format!("offer-race-{i}"), 200_000 + i).await);
    }
    chain.mine(THRESHOLD).await;
    for id in &ids {
        assert_completed_once(&app, &receiver, id).await;
    }
    app.stop().await;
});

/// A metric's value, by its full series name (`name{labels}`).
async fn metric(app: &TestApp, series: &str) -> Option<u64> {
    let text = app.http.get(format!("{}/metrics", app.url)).send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok()).map(|v| v as u64)
}

/// Ten payments, one block apart, each completed exactly once.
async fn ten_payments_complete_once(app: &TestApp, chain: &TestChain, receiver: &Receiver, prefix: &str) {
    let mut ids = Vec::new();
    for i in 0..10u64 {
        ids.push(pay(app, chain, &format!("{prefix}-{i}"), 100_000 + i).await);
        chain.mine(1).await;
    }
    chain.mine(THRESHOLD).await;
    for id in &ids {
        assert_completed_once(app, receiver, id).await;
    }
}

both_backends!(a_node_that_drops_every_other_log_answer_loses_no_payment, |backend| async move {
    let chain = TestChain::start(31337).await;
    let proxy = RpcProxy::start(&chain.anvil.url, Faults { empty_logs_every_other: true, ..Default::default() }).await;
    let mut options = AppOptions::new(backend, &chain);
    options.rpc = vec![(chain.chain_id, proxy.url.clone())];
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;

    ten_payments_complete_once(&app, &chain, &receiver, "offer-empty").await;
    assert!(proxy.withheld() > 0, "the node withheld no logs");
    let reasked = metric(&app, r#"payscan_log_answers_reasked_total{chain_id="31337"}"#).await;
    assert!(reasked.is_some_and(|n| n > 0), "no answer was asked again: {reasked:?}");
    app.stop().await;
});

both_backends!(a_load_balancer_over_a_node_20_blocks_behind_loses_no_payment, |backend| async move {
    let chain = TestChain::start(31337).await;
    let proxy = RpcProxy::start(&chain.anvil.url, Faults { lagging_backend: Some(20), ..Default::default() }).await;
    let mut options = AppOptions::new(backend, &chain);
    options.rpc = vec![(chain.chain_id, proxy.url.clone())];
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;

    ten_payments_complete_once(&app, &chain, &receiver, "offer-lagging").await;
    app.stop().await;
});

both_backends!(a_rate_limited_endpoint_is_left_alone_and_the_range_keeps_its_size, |backend| async move {
    let chain = TestChain::start(31337).await;
    let limited = RpcProxy::start(&chain.anvil.url, Faults { rate_limit_logs: Some(3), ..Default::default() }).await;
    let mut options = AppOptions::new(backend, &chain);
    options.rpc = vec![(chain.chain_id, format!("{},{}", limited.url, chain.anvil.url))];
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;

    let mut ids = Vec::new();
    for i in 0..3u64 {
        ids.push(pay(&app, &chain, &format!("offer-limited-{i}"), 100_000 + i).await);
        chain.mine(1).await;
    }
    chain.mine(THRESHOLD).await;
    for id in &ids {
        assert_completed_once(&app, &receiver, id).await;
    }
    let range = metric(&app, r#"payscan_log_range_blocks{chain_id="31337"}"#).await;
    assert!(range.is_some_and(|blocks| blocks >= 100), "a rate limit shrank the range: {range:?}");

    // Retry-After: 3 is honoured: after a 429 the limited endpoint hears nothing for a while, new
    // blocks notwithstanding...
    let deadline = Instant::now() + Duration::from_secs(15);
    let before = limited.rate_limited();
    while limited.rate_limited() == before {
        assert!(Instant::now() < deadline, "the limited endpoint was never asked again");
        chain.mine(1).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let calls = limited.total_calls();
    let quiet = Instant::now() + Duration::from_secs(2);
    while Instant::now() < quiet {
        chain.mine(1).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(limited.total_calls(), calls, "asked within its Retry-After");
    // ... and is asked again once it passed.
    while limited.total_calls() == calls {
        assert!(Instant::now() < deadline, "the limited endpoint was abandoned");
        chain.mine(1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let limited_count = metric(&app, r#"payscan_rpc_rate_limited_total{chain_id="31337"}"#).await;
    assert!(limited_count.is_some_and(|n| n >= 2), "{limited_count:?}");
    app.stop().await;
});

both_backends!(an_rpc_answer_larger_than_the_cap_is_refused_and_another_endpoint_serves, |backend| async move {
    let chain = TestChain::start(31337).await;
    let huge = RpcProxy::start(&chain.anvil.url, Faults { oversized_logs: Some(8 << 20), ..Default::default() }).await;
    let mut options = AppOptions::new(backend, &chain);
    options.rpc = vec![(chain.chain_id, format!("{},{}", huge.url, chain.anvil.url))];
    options.env.push(("PAYSCAN_RPC_MAX_ANSWER_BYTES", (1 << 20).to_string()));
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;

    let id = pay(&app, &chain, "offer-huge", 100_000).await;
    chain.mine(THRESHOLD).await;
    assert_completed_once(&app, &receiver, &id).await;
    assert!(huge.calls("eth_getLogs") > 0, "the oversized endpoint was never asked");
    let refused = metric(&app, r#"payscan_rpc_oversized_answers_total{chain_id="31337"}"#).await;
    assert!(refused.is_some_and(|n| n > 0), "no answer refused as too large: {refused:?}");
    app.stop().await;
});

/// The blocks of `from..=to` that no range in `ranges` covers, as ranges.
fn uncovered(ranges: &[(u64, u64)], from: u64, to: u64) -> Vec<(u64, u64)> {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    let mut gaps = Vec::new();
    let mut next = from;
    for (start, end) in sorted {
        if start > next && next <= to {
            gaps.push((next, (start - 1).min(to)));
        }
        next = next.max(end.saturating_add(1));
    }
    if next <= to {
        gaps.push((next, to));
    }
    gaps
}

#[test]
fn uncovered_finds_every_gap_and_only_gaps() {
    assert_eq!(uncovered(&[(1, 3), (2, 5), (7, 9)], 1, 9), [(6, 6)]);
    assert_eq!(uncovered(&[(4, 9)], 1, 12), [(1, 3), (10, 12)]);
    assert!(uncovered(&[(0, 10)], 3, 8).is_empty());
}

both_backends!(a_blackout_of_every_endpoint_loses_no_payment_and_skips_no_block, |backend| async move {
    // Quick: 30 payments through 20 s of blackout; PAYSCAN_CHAOS_FULL=1: 200 through 2 minutes.
    let full = std::env::var("PAYSCAN_CHAOS_FULL").is_ok_and(|v| v == "1");
    let (payments, blackout) = if full { (200u64, Duration::from_secs(120)) } else { (30, Duration::from_secs(20)) };
    let chain = TestChain::start(31337).await;
    let endpoints = [
        RpcProxy::start(&chain.anvil.url, Faults::default()).await,
        RpcProxy::start(&chain.anvil.url, Faults::default()).await,
    ];
    let mut options = AppOptions::new(backend, &chain);
    options.rpc = vec![(chain.chain_id, format!("{},{}", endpoints[0].url, endpoints[1].url))];
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;
    let before = wait_status(&app, "following", |s| s["state"] == "following" && s["cursor"].is_u64()).await;
    let scanned_from = before["cursor"].as_u64().expect("cursor") + 1;

    // Intents are refused while a chain cannot be followed: the buyers took theirs before.
    let mut intents = Vec::new();
    for i in 0..payments {
        let body = intent_body(&format!("offer-dark-{i}"), &format!("0.{:06}", 100_000 + i), "USDC", &chain);
        intents.push(app.intent(&format!("buyer-{}", i % 10), body).await);
    }
    for endpoint in &endpoints {
        endpoint.set(|f| f.down = true);
    }
    let began = Instant::now();
    let mut ids = Vec::new();
    let mut seen_down = false;
    for (i, intent) in (0..payments).zip(&intents) {
        chain.pay(chain.usdc, address(&intent["destination"]), U256::from(100_000 + i)).await;
        ids.push(intent["paymentId"].as_str().expect("id").to_owned());
        seen_down |= chain_status(&app).await["down"] == true;
        // Spread the payments over the blackout.
        let due = blackout.mul_f64((i + 1) as f64 / payments as f64) / 2;
        tokio::time::sleep(due.saturating_sub(began.elapsed())).await;
    }
    while began.elapsed() < blackout {
        seen_down |= chain_status(&app).await["down"] == true;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(seen_down, "a chain with every endpoint down was never reported down");
    for id in &ids {
        assert_eq!(app.payment(id).await["status"], "pending", "nothing is seen while every endpoint is down");
    }

    for endpoint in &endpoints {
        endpoint.set(|f| f.down = false);
    }
    chain.mine(THRESHOLD).await;
    for id in &ids {
        assert_completed_once(&app, &receiver, id).await;
    }
    let after = wait_status(&app, "no lag", |s| s["lagBlocks"] == 0).await;
    let scanned_to = after["cursor"].as_u64().expect("cursor");
    let ranges: Vec<(u64, u64)> = endpoints.iter().flat_map(RpcProxy::answered_log_ranges).collect();
    let gaps = uncovered(&ranges, scanned_from, scanned_to);
    assert!(gaps.is_empty(), "blocks {scanned_from}..={scanned_to} were scanned with gaps {gaps:?}");
    app.stop().await;
});

both_backends!(a_finalized_block_held_back_confirms_nothing_above_it, |backend| async move {
    let chain = TestChain::start(31337).await;
    let proxy = RpcProxy::start(&chain.anvil.url, Faults::default()).await;
    let mut options = AppOptions::new(backend, &chain);
    options.rpc = vec![(chain.chain_id, proxy.url.clone())];
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;
    let (mut entry, tokens) = chain.registry_entries();
    entry["requireFinalized"] = serde_json::json!(true);
    write_registry(&app.env.dir.0, &[(entry, tokens)]);
    let (status, body) = app.post("/api/admin/rn/networks/reload", Some(&app.admin()), &serde_json::json!({})).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");

    let held = chain.anvil.head().await.expect("head");
    proxy.set(|f| f.finalized_held_at = Some(held));
    let id = pay(&app, &chain, "offer-held", 100_000).await;
    // Far past the threshold and past anvil's own finality (64 blocks behind its head).
    chain.mine(THRESHOLD + 100).await;
    app.wait_for(&id, "the threshold", |p| p["confirmations"].as_u64().is_some_and(|c| c >= THRESHOLD)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.payment(&id).await["status"], "processing", "confirmed above the finalized block");
    assert!(proxy.calls("eth_getBlockByNumber") > 0);

    proxy.set(|f| f.finalized_held_at = None);
    chain.mine(1).await;
    assert_completed_once(&app, &receiver, &id).await;
    app.stop().await;
});
