//! Reorgs on anvil (`anvil_reorg`, `evm_snapshot`/`evm_revert`): below and above the threshold, a
//! transfer that moves to another block, one that disappears, depth 1 and depth 20, and shallow
//! reorgs right after a 1,500-block backfill in one range. After each, the payment's state, its
//! credits and the webhooks sent are exactly right.

use std::time::{Duration, Instant};

use alloy::primitives::U256;
use payscan::devchain;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::proxy::{Faults, RpcProxy};
use crate::support::*;

fn types(receiver: &Receiver, id: &str) -> Vec<String> {
    receiver.events_for(id).into_iter().map(|e| e.event_type).collect()
}

fn transfers(payment: &Value) -> Vec<(bool, bool)> {
    payment["transfers"]
        .as_array()
        .expect("transfers")
        .iter()
        .map(|t| (t["counted"] == true, t["reverted"] == true))
        .collect()
}

both_backends!(
    a_reorg_below_the_threshold_that_drops_the_transfer_returns_the_payment_to_pending,
    |backend| async move {
        let chain = TestChain::start(31337).await;
        let (app, receiver) = TestApp::spawn_with_receiver(AppOptions::new(backend, &chain)).await;
        let intent = app.intent("buyer-1", intent_body("offer-drop", "5", "USDC", &chain)).await;
        let id = intent["paymentId"].as_str().expect("id").to_owned();

        chain.pay(chain.usdc, address(&intent["destination"]), U256::from(5_000_000u64)).await;
        receiver.wait_for(&id, "payment.processing").await;
        // Depth 1: the block with the transfer is replaced by an empty one.
        chain.anvil.reorg(1, &[]).await.expect("anvil_reorg");
        let reverted = receiver.wait_for(&id, "payment.reverted").await;
        assert_eq!(reverted.body["status"], "pending");
        assert_eq!(reverted.body["amountReceivedBaseUnits"], "0");
        assert_eq!(reverted.body["revertedTransfers"].as_array().map(Vec::len), Some(1));

        chain.mine(THRESHOLD + 2).await;
        let payment = app.wait_for_status(&id, "pending").await;
        assert_eq!(transfers(&payment), [(true, true)], "kept for the audit trail, marked reverted");
        assert_eq!(payment["escrowState"], "unfunded");
        assert_eq!(types(&receiver, &id), ["payment.processing", "payment.reverted"]);
        app.stop().await;
    }
);

both_backends!(a_reorg_above_the_threshold_takes_a_completed_payment_back, |backend| async move {
    let chain = TestChain::start(31337).await;
    let (app, receiver) = TestApp::spawn_with_receiver(AppOptions::new(backend, &chain)).await;
    let intent = app.intent("buyer-1", intent_body("offer-deep", "5", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();

    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(5_000_000u64)).await;
    chain.mine(THRESHOLD).await;
    receiver.wait_for(&id, "payment.completed").await;
    // Replace the transfer's block and everything after it.
    chain.anvil.reorg(THRESHOLD + 1, &[]).await.expect("anvil_reorg");
    let reverted = receiver.wait_for(&id, "payment.reverted").await;
    assert_eq!(reverted.body["status"], "pending");
    assert_eq!(reverted.body["escrowState"], "unfunded");
    let payment = app.wait_for_status(&id, "pending").await;
    assert_eq!(payment["completedAt"], Value::Null);
    assert_eq!(types(&receiver, &id), ["payment.processing", "payment.completed", "payment.reverted"]);
    app.stop().await;
});

both_backends!(a_transfer_that_moves_to_another_block_is_credited_once, |backend| async move {
    let chain = TestChain::start(31337).await;
    let (app, receiver) = TestApp::spawn_with_receiver(AppOptions::new(backend, &chain)).await;
    let intent = app.intent("buyer-1", intent_body("offer-move", "5", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();

    let tx = chain.pay(chain.usdc, address(&intent["destination"]), U256::from(5_000_000u64)).await;
    let raw = chain.anvil.raw_transaction(tx).await.expect("raw tx");
    let before = receiver.wait_for(&id, "payment.processing").await;
    chain.mine(1).await;
    // Depth 2: the transfer's block and the next; the same signed transaction lands one block later.
    chain.anvil.reorg(2, &[(raw, 1)]).await.expect("anvil_reorg");
    receiver.wait_for(&id, "payment.reverted").await;
    chain.mine(THRESHOLD).await;
    let completed = receiver.wait_for(&id, "payment.completed").await;
    assert_eq!(completed.body["txHash"], format!("{tx:#x}"));
    assert_eq!(completed.body["amountReceivedBaseUnits"], "5000000", "credited once");

    let payment = app.payment(&id).await;
    assert_eq!(transfers(&payment), [(true, false)], "one credit, revived in the new branch");
    let block = payment["transfers"][0]["blockNumber"].as_u64().expect("block");
    let first_block = before.body["transfer"]["blockNumber"].as_u64().expect("block");
    assert_eq!(block, first_block + 1);
    assert_eq!(
        types(&receiver, &id),
        ["payment.processing", "payment.reverted", "payment.processing", "payment.completed"]
    );
    app.stop().await;
});

both_backends!(a_depth_20_reorg_replays_a_completed_payment_into_the_new_branch, |backend| async move {
    let chain = TestChain::start(31337).await;
    let (app, receiver) = TestApp::spawn_with_receiver(AppOptions::new(backend, &chain)).await;
    let intent = app.intent("buyer-1", intent_body("offer-20", "5", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();

    let tx = chain.pay(chain.usdc, address(&intent["destination"]), U256::from(5_000_000u64)).await;
    let raw = chain.anvil.raw_transaction(tx).await.expect("raw tx");
    chain.mine(19).await;
    receiver.wait_for(&id, "payment.completed").await;
    chain.anvil.reorg(20, &[(raw, 10)]).await.expect("anvil_reorg");
    receiver.wait_for(&id, "payment.reverted").await;
    // The new branch is as long as the old: the transfer at offset 10 has 10 confirmations.
    let completions = || receiver.events_for(&id).into_iter().filter(|e| e.event_type == "payment.completed").count();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while completions() < 2 {
        assert!(std::time::Instant::now() < deadline, "not completed again: {:?}", types(&receiver, &id));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let payment = app.payment(&id).await;
    assert_eq!(payment["status"], "completed");
    assert_eq!(payment["amountReceivedBaseUnits"], "5000000");
    assert_eq!(transfers(&payment), [(true, false)]);
    assert_eq!(
        types(&receiver, &id),
        ["payment.processing", "payment.completed", "payment.reverted", "payment.processing", "payment.completed"]
    );
    app.stop().await;
});

both_backends!(evm_revert_to_a_shorter_chain_drops_the_transfer, |backend| async move {
    let chain = TestChain::start(31337).await;
    let (app, receiver) = TestApp::spawn_with_receiver(AppOptions::new(backend, &chain)).await;
    let intent = app.intent("buyer-1", intent_body("offer-revert", "5", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();

    let snapshot = chain.anvil.snapshot().await.expect("snapshot");
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(5_000_000u64)).await;
    chain.mine(1).await;
    receiver.wait_for(&id, "payment.processing").await;
    chain.anvil.revert(snapshot).await.expect("revert");
    // The chain is now shorter than payscan's cursor; new blocks make it longer again.
    chain.mine(THRESHOLD + 3).await;
    let reverted = receiver.wait_for(&id, "payment.reverted").await;
    assert_eq!(reverted.body["status"], "pending");
    let payment = app.wait_for_status(&id, "pending").await;
    assert_eq!(transfers(&payment), [(true, true)]);
    app.stop().await;
});

both_backends!(
    a_reorg_deeper_than_the_limit_halts_the_chain_until_an_operator_authorizes_an_unwind,
    |backend| async move {
        let chain = TestChain::start(31337).await;
        let mut options = AppOptions::new(backend, &chain);
        options.max_reorg_depth = Some(4);
        let (app, receiver) = TestApp::spawn_with_receiver(options).await;
        let admin = app.admin();
        let unwind = |depth: Value| {
            let app = &app;
            let admin = admin.clone();
            async move {
                app.post("/api/admin/scanner/chains/31337/unwind", Some(&admin), &json!({ "maxDepth": depth })).await
            }
        };
        let intent = app.intent("buyer-1", intent_body("offer-limit", "5", "USDC", &chain)).await;
        let id = intent["paymentId"].as_str().expect("id").to_owned();

        chain.pay(chain.usdc, address(&intent["destination"]), U256::from(5_000_000u64)).await;
        chain.mine(8).await;
        receiver.wait_for(&id, "payment.completed").await;
        let (status, body) = unwind(json!(20)).await;
        assert_eq!((status, &body["error"]["code"]), (StatusCode::CONFLICT, &json!("CHAIN_NOT_HALTED")), "{body}");

        chain.anvil.reorg(9, &[]).await.expect("anvil_reorg");
        let too_deep = r#"payscan_reorgs_total{chain_id="31337",outcome="too_deep"}"#;
        wait_metric(&app, too_deep, 1).await;
        let halted = chain_status(&app).await;
        assert_eq!((&halted["state"], &halted["down"]), (&json!("halted"), &json!(true)), "{halted:#}");
        // Nothing was unwound on a guess: the payment stays as it was until an operator acts.
        chain.mine(3).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(app.payment(&id).await["status"], "completed");
        assert_eq!(types(&receiver, &id), ["payment.processing", "payment.completed"]);

        for (depth, why) in [(json!(0), "zero"), (json!(10_001), "past the kept hashes"), (json!("9"), "a string")] {
            let (status, body) = unwind(depth).await;
            assert_eq!(
                (status, &body["error"]["code"]),
                (StatusCode::BAD_REQUEST, &json!("VALIDATION_ERROR")),
                "{why}: {body}"
            );
        }
        let (status, _) =
            app.post("/api/admin/scanner/chains/999/unwind", Some(&admin), &json!({ "maxDepth": 20 })).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app
            .post(
                "/api/admin/scanner/chains/31337/unwind",
                Some(&app.token("buyer-1", "buyer")),
                &json!({ "maxDepth": 20 }),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // Authorized too shallow: still no fork point within it, still halted, the authorization used.
        let (status, body) = unwind(json!(6)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        wait_metric(&app, too_deep, 2).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(metric(&app, too_deep).await, Some(2), "a used-up authorization is not tried again");
        assert_eq!(chain_status(&app).await["state"], "halted");
        assert_eq!(app.payment(&id).await["status"], "completed");

        // Deep enough: everything above the fork point is reverted and the chain follows again.
        let (status, body) = unwind(json!(20)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        receiver.wait_for(&id, "payment.reverted").await;
        assert_eq!(types(&receiver, &id), ["payment.processing", "payment.completed", "payment.reverted"]);
        let payment = app.payment(&id).await;
        assert_ne!(payment["status"], "completed", "{payment:#}");
        let following = chain_status(&app).await;
        assert_eq!(following["down"], false, "{following:#}");
        let (status, _) = unwind(json!(20)).await;
        assert_eq!(status, StatusCode::CONFLICT, "the halt is over");
        app.stop().await;
    }
);

async fn chain_status(app: &TestApp) -> Value {
    let (_, status) = app.get("/api/admin/scanner/status", Some(&app.admin())).await;
    status["data"]["chains"][0].clone()
}

/// Waits until the metric `series` reads `value`.
async fn wait_metric(app: &TestApp, series: &str, value: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(app, series).await != Some(value) {
        assert!(Instant::now() < deadline, "{series} never reached {value}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A metric's value, by its full series name (`name{labels}`).
async fn metric(app: &TestApp, series: &str) -> Option<u64> {
    let text = app.http.get(format!("{}/metrics", app.url)).send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok()).map(|v| v as u64)
}

/// payscan following the chain through `proxy`, its eth_getLogs range grown to the default 2,000.
async fn following_with_full_range(backend: Backend, chain: &TestChain, proxy: &RpcProxy) -> (TestApp, Receiver) {
    let mut options = AppOptions::new(backend, chain);
    options.rpc = vec![(chain.chain_id, proxy.url.clone())];
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&app, r#"payscan_log_range_blocks{chain_id="31337"}"#).await != Some(2000) {
        assert!(Instant::now() < deadline, "the range never grew to 2000");
        chain.mine(1).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    (app, receiver)
}

/// Waits until the follower's cursor is at the chain's head.
async fn wait_cursor_at_head(app: &TestApp, chain: &TestChain) {
    let head = chain.anvil.head().await.expect("head");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, status) = app.get("/api/admin/scanner/status", Some(&app.admin())).await;
        if status["data"]["chains"][0]["cursor"] == head {
            return;
        }
        assert!(Instant::now() < deadline, "cursor never reached {head}: {status:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Another payment is found and completed: the chain is still followed.
async fn still_following(app: &TestApp, chain: &TestChain, receiver: &Receiver, offer: &str) {
    let intent = app.intent("buyer-1", intent_body(offer, "2", "USDC", chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(2_000_000u64)).await;
    chain.mine(THRESHOLD).await;
    receiver.wait_for(&id, "payment.completed").await;
    assert_eq!(types(receiver, &id), ["payment.processing", "payment.completed"]);
}

both_backends!(a_one_block_reorg_right_after_a_1500_block_backfill_is_unwound, |backend| async move {
    let chain = TestChain::start(31337).await;
    let proxy = RpcProxy::start(&chain.anvil.url, Faults::default()).await;
    let (app, receiver) = following_with_full_range(backend, &chain, &proxy).await;
    let intent = app.intent("buyer-1", intent_body("offer-backfill", "5", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();

    // payscan loses its node while the chain grows by 1,500 blocks, then scans them in one range.
    proxy.set(|f| f.down = true);
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(5_000_000u64)).await;
    chain.mine(1500).await;
    // The last block carries a transfer to nobody watched, so that the block replacing it differs.
    chain.pay(chain.usdt, MASTER.parse().expect("address"), U256::from(1u64)).await;
    proxy.set(|f| f.down = false);
    receiver.wait_for(&id, "payment.completed").await;
    wait_cursor_at_head(&app, &chain).await;

    chain.anvil.reorg(1, &[]).await.expect("anvil_reorg");
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&app, r#"payscan_reorgs_total{chain_id="31337",outcome="unwound"}"#).await != Some(1) {
        let too_deep = metric(&app, r#"payscan_reorgs_total{chain_id="31337",outcome="too_deep"}"#).await;
        assert_eq!(too_deep, None, "a one-block reorg counted as too deep");
        assert!(Instant::now() < deadline, "the reorg was never unwound");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    still_following(&app, &chain, &receiver, "offer-after").await;
    let payment = app.payment(&id).await;
    assert_eq!(payment["status"], "completed");
    assert_eq!(payment["amountReceivedBaseUnits"], "5000000");
    assert_eq!(transfers(&payment), [(true, false)], "credited once, untouched by the reorg");
    assert_eq!(types(&receiver, &id), ["payment.processing", "payment.completed"]);
    app.stop().await;
});

both_backends!(a_three_block_reorg_of_a_transfer_right_after_a_1500_block_backfill_is_unwound, |backend| async move {
    let chain = TestChain::start(31337).await;
    let proxy = RpcProxy::start(&chain.anvil.url, Faults::default()).await;
    let (app, receiver) = following_with_full_range(backend, &chain, &proxy).await;
    let intent = app.intent("buyer-1", intent_body("offer-shallow", "5", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();

    // Funded beforehand: the reorg below replaces the transfer's block alone, not a mint.
    chain.fund(chain.usdc, chain.payer, U256::from(5_000_000u64)).await;
    proxy.set(|f| f.down = true);
    chain.mine(1500).await;
    let destination = address(&intent["destination"]);
    let provider = chain.anvil.provider();
    let tx = devchain::transfer(provider, chain.usdc, chain.payer, destination, U256::from(5_000_000u64))
        .await
        .expect("transfer");
    let raw = chain.anvil.raw_transaction(tx).await.expect("raw tx");
    chain.mine(1).await;
    proxy.set(|f| f.down = false);
    receiver.wait_for(&id, "payment.processing").await;
    wait_cursor_at_head(&app, &chain).await;

    // The transfer's block and the blocks either side are replaced; the transfer lands one later.
    chain.anvil.reorg(3, &[(raw, 2)]).await.expect("anvil_reorg");
    receiver.wait_for(&id, "payment.reverted").await;
    chain.mine(THRESHOLD).await;
    let completed = receiver.wait_for(&id, "payment.completed").await;
    assert_eq!(completed.body["amountReceivedBaseUnits"], "5000000", "credited once");
    let payment = app.payment(&id).await;
    assert_eq!(payment["status"], "completed");
    assert_eq!(transfers(&payment), [(true, false)], "one credit, revived in the new branch");
    assert_eq!(
        types(&receiver, &id),
        ["payment.processing", "payment.reverted", "payment.processing", "payment.completed"]
    );
    still_following(&app, &chain, &receiver, "offer-after").await;
    app.stop().await;
});
