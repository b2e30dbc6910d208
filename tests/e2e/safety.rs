//! Transaction Safety: a node that lies about a log cannot complete a payment.

use alloy::primitives::U256;

use crate::both_backends;
use crate::support::*;

both_backends!(a_forged_log_fails_transaction_safety_and_waits_for_review, |backend| async move {
    let chain = TestChain::start(31337).await;
    // The node claims every transfer moved 12.5 USDC; receipts (the truth) say otherwise.
    let proxy = proxy::RpcProxy::start(
        &chain.anvil.url,
        proxy::Faults { forge_transfer_value: Some(U256::from(12_500_000u64)), ..Default::default() },
    )
    .await;
    let mut options = AppOptions::new(backend, &chain);
    options.rpc = vec![(chain.chain_id, proxy.url.clone())];
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;
    let intent = app.intent("buyer-1", intent_body("offer-forged", "12.5", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();

    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(5_000_000u64)).await;
    chain.mine(THRESHOLD).await;
    let failed = receiver.wait_for(&id, "payment.safety_check_failed").await;
    assert_eq!(failed.body["status"], "processing");
    assert_eq!(failed.body["transactionSafety"]["status"], "failed");

    let payment = app.payment(&id).await;
    assert_eq!(payment["status"], "processing");
    assert_eq!(payment["escrowState"], "unfunded");
    let safety = &payment["metadata"]["transactionSafety"];
    let failing: Vec<&str> = safety["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["passed"] == false)
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(failing, ["amount"], "{safety:#}");
    let (_, awaiting) = app.get("/api/admin/payments/awaiting-confirmation", Some(&app.admin())).await;
    assert_eq!(awaiting["data"][0]["paymentId"], intent["paymentId"]);
    assert_eq!(awaiting["data"][0]["awaitingReason"], "transaction safety failed");

    // More blocks do not wear it down, and the failure is announced once.
    chain.mine(3).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(app.payment(&id).await["status"], "processing");
    let kinds: Vec<String> = receiver.events_for(&id).into_iter().map(|e| e.event_type).collect();
    assert_eq!(kinds, ["payment.processing", "payment.safety_check_failed"]);
    let metrics =
        app.http.get(format!("{}/metrics", app.url)).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains(r#"payscan_safety_check_failures_total{chain_id="31337"}"#), "{metrics}");
    app.stop().await;
});
