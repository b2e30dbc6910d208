//! A payment from intent to signed webhook: exact, short then topped up, over; tokens with
//! different decimals; two chains at once; a `newHeads` subscription that beats the poll.

use alloy::primitives::U256;
use serde_json::Value;

use crate::both_backends;
use crate::support::*;

fn types(events: &[receiver::Delivery]) -> Vec<&str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

both_backends!(exact_payment_completes_and_is_announced_once, |backend| async move {
    let chain = TestChain::start(31337).await;
    let (app, receiver) = TestApp::spawn_with_receiver(AppOptions::new(backend, &chain)).await;

    let intent = app.intent("buyer-1", intent_body("offer-exact", "12.5", "USDC", &chain)).await;
    assert_eq!(intent["status"], "pending");
    assert_eq!(intent["amountBaseUnits"], "12500000");
    let id = intent["paymentId"].as_str().expect("paymentId").to_owned();
    let destination = address(&intent["destination"]);

    let tx = chain.pay(chain.usdc, destination, U256::from(12_500_000u64)).await;
    let processing = receiver.wait_for(&id, "payment.processing").await;
    assert_eq!(processing.body["status"], "processing");
    assert_eq!(processing.body["txHash"], format!("{tx:#x}"));
    assert_eq!(processing.body["amountReceivedBaseUnits"], "12500000");
    assert_eq!(processing.body["chainId"], 31337);
    assert_eq!(processing.body["token"]["symbol"], "USDC");

    chain.mine(THRESHOLD).await;
    let completed = receiver.wait_for(&id, "payment.completed").await;
    assert_eq!(completed.body["status"], "completed");
    assert_eq!(completed.body["escrowState"], "funded");
    assert_eq!(completed.body["confirmations"], THRESHOLD);
    assert_eq!(completed.body["amount"], "12.5");
    assert_eq!(completed.body["overpaidBaseUnits"], "0");

    // More blocks never push the stored count past the threshold.
    chain.mine(5).await;
    let payment = app.wait_for_deliveries(&id, 4).await;
    assert_eq!(payment["status"], "completed");
    assert_eq!(payment["confirmations"], THRESHOLD);
    assert_eq!(payment["transfers"].as_array().map(Vec::len), Some(1));
    // Two events, each delivered to two targets (payscan's own receiver and the peer).
    let webhooks = payment["webhooks"].as_array().expect("webhooks").clone();
    assert!(webhooks.iter().all(|w| w["status"] == "delivered"), "{webhooks:#?}");
    assert_eq!(types(&receiver.events_for(&id)), ["payment.processing", "payment.completed"]);
    assert!(receiver.arrivals().values().all(|n| *n == 1));
    assert_eq!(receiver.unverified(), 0);
    app.stop().await;
});

both_backends!(short_payment_waits_for_a_top_up, |backend| async move {
    let chain = TestChain::start(31337).await;
    let (app, receiver) = TestApp::spawn_with_receiver(AppOptions::new(backend, &chain)).await;

    let intent = app.intent("buyer-1", intent_body("offer-short", "12.5", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();
    let destination = address(&intent["destination"]);

    chain.pay(chain.usdc, destination, U256::from(10_000_000u64)).await;
    chain.mine(THRESHOLD).await;
    let underpaid = receiver.wait_for(&id, "payment.underpaid").await;
    assert_eq!(underpaid.body["status"], "processing");
    assert_eq!(underpaid.body["underpaid"], true);
    assert_eq!(underpaid.body["amountReceived"], "10");
    let payment = app.payment(&id).await;
    assert_eq!(payment["status"], "processing");
    assert_eq!(payment["escrowState"], "unfunded");

    chain.pay(chain.usdc, destination, U256::from(2_500_000u64)).await;
    chain.mine(THRESHOLD).await;
    let completed = receiver.wait_for(&id, "payment.completed").await;
    assert_eq!(completed.body["amountReceivedBaseUnits"], "12500000");
    assert_eq!(completed.body["underpaid"], false);
    assert_eq!(
        types(&receiver.events_for(&id)),
        ["payment.processing", "payment.underpaid", "payment.processing", "payment.completed"]
    );
    let payment = app.payment(&id).await;
    assert_eq!(payment["transfers"].as_array().map(Vec::len), Some(2));
    app.stop().await;
});

both_backends!(overpayment_completes_and_records_the_excess, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let intent = app.intent("buyer-1", intent_body("offer-over", "12.5", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();

    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(15_000_000u64)).await;
    app.wait_for_status(&id, "processing").await;
    chain.mine(THRESHOLD).await;
    let payment = app.wait_for_status(&id, "completed").await;
    assert_eq!(payment["amountReceivedBaseUnits"], "15000000");
    assert_eq!(payment["overpaidBaseUnits"], "2500000");
    assert_eq!(payment["escrowState"], "funded");
    app.stop().await;
});

both_backends!(tokens_with_different_decimals_settle_exactly, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    // 18 decimals: the last base unit matters, and a float would lose it.
    let usdt = app.intent("buyer-1", intent_body("offer-usdt", "1.000000000000000001", "USDT", &chain)).await;
    let usdc = app.intent("buyer-1", intent_body("offer-usdc", "0.000001", "USDC", &chain)).await;
    assert_eq!(usdt["amountBaseUnits"], "1000000000000000001");
    assert_eq!(usdt["token"]["decimals"], 18);
    assert_eq!(usdc["amountBaseUnits"], "1");

    chain.pay(chain.usdt, address(&usdt["destination"]), units(&usdt["amountBaseUnits"])).await;
    chain.pay(chain.usdc, address(&usdc["destination"]), U256::from(1u64)).await;
    // A transfer of the other token to the USDT destination is recorded but never counted.
    chain.pay(chain.usdc, address(&usdt["destination"]), U256::from(5u64)).await;
    chain.mine(THRESHOLD).await;
    for (intent, received) in [(&usdt, "1000000000000000001"), (&usdc, "1")] {
        let id = intent["paymentId"].as_str().expect("id");
        let payment = app.wait_for_status(id, "completed").await;
        assert_eq!(payment["amountReceivedBaseUnits"], received);
    }
    let usdt_payment = app.payment(usdt["paymentId"].as_str().expect("id")).await;
    let counted: Vec<bool> =
        usdt_payment["transfers"].as_array().expect("transfers").iter().map(|t| t["counted"] == true).collect();
    assert_eq!(counted, [true, false]);
    app.stop().await;
});

both_backends!(two_chains_are_followed_at_once, |backend| async move {
    let first = TestChain::start(31337).await;
    let second = TestChain::start(31338).await;
    let mut options = AppOptions::new(backend, &first);
    options.chains.push(&second);
    let app = TestApp::spawn(options).await;

    let on_first = app.intent("buyer-1", intent_body("offer-a", "3", "USDC", &first)).await;
    let on_second = app.intent("buyer-1", intent_body("offer-b", "4", "USDT", &second)).await;
    assert_eq!(on_second["chainId"], 31338);
    // The address is the same on every chain; the payment's rail decides which transfer counts.
    first.pay(first.usdc, address(&on_first["destination"]), U256::from(3_000_000u64)).await;
    second.pay(second.usdt, address(&on_second["destination"]), units(&on_second["amountBaseUnits"])).await;
    first.mine(THRESHOLD).await;
    second.mine(THRESHOLD).await;
    for intent in [&on_first, &on_second] {
        let payment = app.wait_for_status(intent["paymentId"].as_str().expect("id"), "completed").await;
        assert_eq!(payment["chainId"], intent["chainId"]);
    }
    app.stop().await;
});

both_backends!(a_repeated_intent_returns_the_same_payment_and_a_new_rail_repoints_it, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let first = app.intent("buyer-1", intent_body("offer-r", "5", "USDC", &chain)).await;
    let again = app.intent("buyer-1", intent_body("offer-r", "5", "USDC", &chain)).await;
    assert_eq!(again["paymentId"], first["paymentId"]);
    assert_eq!(again["created"], false);
    assert_eq!(again["destination"], first["destination"]);

    let repointed = app.intent("buyer-1", intent_body("offer-r", "5", "USDT", &chain)).await;
    assert_eq!(repointed["paymentId"], first["paymentId"]);
    assert_eq!(repointed["repointed"], true);
    assert_eq!(repointed["destination"], first["destination"]);
    assert_eq!(repointed["token"]["symbol"], "USDT");
    assert_eq!(repointed["amountBaseUnits"], "5000000000000000000");

    // Another buyer, same offer: a payment of its own.
    let other = app.intent("buyer-2", intent_body("offer-r", "5", "USDC", &chain)).await;
    assert_ne!(other["paymentId"], first["paymentId"]);
    assert_ne!(other["derivationIndex"], first["derivationIndex"]);

    // Once money arrives on the rail, the rail is fixed.
    let id = first["paymentId"].as_str().expect("id");
    chain.pay(chain.usdt, address(&first["destination"]), units(&repointed["amountBaseUnits"])).await;
    app.wait_for_status(id, "processing").await;
    let (status, body) = app
        .post(
            "/api/payment/request-network/intents",
            Some(&app.token("buyer-1", "buyer")),
            &intent_body("offer-r", "5", "USDC", &chain),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "PAYMENT_IN_PROGRESS");

    let (status, list) = app.get("/api/payment?status=processing", Some(&app.token("buyer-1", "buyer"))).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let ids: Vec<&Value> = list["data"].as_array().expect("list").iter().map(|p| &p["paymentId"]).collect();
    assert_eq!(ids, [&first["paymentId"]]);
    assert_eq!(list["pagination"]["total"], 1);
    app.stop().await;
});

both_backends!(a_provider_that_refuses_wide_log_ranges_is_met_with_smaller_ones, |backend| async move {
    let chain = TestChain::start(31337).await;
    let proxy =
        proxy::RpcProxy::start(&chain.anvil.url, proxy::Faults { max_log_range: Some(7), ..Default::default() }).await;
    let mut options = AppOptions::new(backend, &chain);
    options.rpc = vec![(chain.chain_id, proxy.url.clone())];
    let app = TestApp::spawn(options).await;
    let intent = app.intent("buyer-1", intent_body("offer-range", "1", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();

    // A backlog of blocks to catch up on, with the transfer in the middle of it.
    chain.mine(150).await;
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(1_000_000u64)).await;
    chain.mine(150).await;
    let payment = app.wait_for_status(&id, "completed").await;
    assert_eq!(payment["amountReceivedBaseUnits"], "1000000");
    assert!(proxy.refused() > 0, "the proxy never refused a range");
    // Halving finds a range the provider accepts, and the cooldown keeps it from re-growing.
    assert!(
        proxy.refused() < proxy.calls("eth_getLogs") / 2,
        "refused {} of {}",
        proxy.refused(),
        proxy.calls("eth_getLogs")
    );
    app.stop().await;
});

both_backends!(a_chain_that_requires_finality_waits_for_the_finalized_block, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let (mut entry, tokens) = chain.registry_entries();
    entry["requireFinalized"] = serde_json::json!(true);
    write_registry(&app.env.dir.0, &[(entry, tokens)]);
    let (status, body) = app.post("/api/admin/rn/networks/reload", Some(&app.admin()), &serde_json::json!({})).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");

    let intent = app.intent("buyer-1", intent_body("offer-final", "1", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(1_000_000u64)).await;
    // anvil finalizes 64 blocks behind its head: the threshold alone is not enough.
    chain.mine(THRESHOLD + 10).await;
    let payment = app.wait_for(&id, "the threshold", |p| p["confirmations"] == THRESHOLD).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(app.payment(&id).await["status"], "processing", "{payment:#}");
    chain.mine(64).await;
    app.wait_for_status(&id, "completed").await;
    app.stop().await;
});

both_backends!(a_new_head_wakes_the_follower_long_before_its_poll, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    // A poll far longer than the test may wait: only the subscription can make it in time.
    options.env.push(("PAYSCAN_POLL_MS", "20000".to_owned()));
    options.ws_heads = true;
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, status) = app.get("/api/admin/scanner/status", Some(&app.admin())).await;
        if status["data"]["chains"][0]["state"] == "following" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the follower never started: {status}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let intent = app.intent("buyer-1", intent_body("offer-heads", "4", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("paymentId").to_owned();
    let started = std::time::Instant::now();
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(4_000_000u64)).await;
    receiver.wait_for(&id, "payment.processing").await;
    chain.mine(THRESHOLD - 1).await;
    receiver.wait_for(&id, "payment.completed").await;
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}: the poll, not the subscription");
    assert_eq!(app.payment(&id).await["status"], "completed");

    // The registry shows the endpoint, and only a ws(s) URL is taken.
    let (_, networks) = app.get("/api/admin/rn/networks", Some(&app.admin())).await;
    assert!(networks["data"][0]["wsUrl"].as_str().is_some_and(|u| u.starts_with("ws://127.0.0.1:")), "{networks}");
    app.stop().await;
});
