//! Expiry: a payment is cancelled only once its chain has been scanned past the block at its
//! `expiresAt` with nothing credited (a payment paid in time behind a lagging follower completes),
//! the expiry task cancels by itself, and a cancelled payment's address stays watched for the
//! watch window, then leaves the watch set.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::primitives::U256;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::proxy::{Faults, RpcProxy};
use crate::support::*;

const CLEANUP: &str = "/api/payment/payments/cleanup-pending";

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `expiresAt` of a payment, in Unix ms.
fn expires_at(payment: &Value) -> u64 {
    let text = payment["expiresAt"].as_str().expect("expiresAt");
    chrono::DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_millis() as u64).expect("rfc3339")
}

/// Mines a block whose timestamp (whole seconds) lies after `at_ms`.
async fn mine_after(chain: &TestChain, at_ms: u64) {
    let next_second = (at_ms / 1000 + 1) * 1000;
    let wait = next_second.saturating_sub(now_ms()) + 50;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    chain.mine(1).await;
}

/// Waits until the chain's follower has scanned up to the chain's head.
async fn scanned_to_head(app: &TestApp, chain: &TestChain) {
    let head = chain.anvil.head().await.expect("head");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, status) = app.get("/api/admin/scanner/status", Some(&app.admin())).await;
        if status["data"]["chains"][0]["cursor"].as_u64().is_some_and(|c| c >= head) {
            return;
        }
        assert!(Instant::now() < deadline, "the follower did not reach block {head}: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

both_backends!(a_payment_paid_in_time_behind_a_lagging_follower_is_not_cancelled, |backend| async move {
    let chain = TestChain::start(31337).await;
    let proxy = RpcProxy::start(&chain.anvil.url, Faults::default()).await;
    let mut options = AppOptions::new(backend, &chain);
    options.rpc.push((chain.chain_id, proxy.url.clone()));
    options.env.push(("PAYSCAN_PAYMENT_TTL", "2s".to_owned()));
    options.env.push(("PAYSCAN_EXPIRY_INTERVAL", "100ms".to_owned()));
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;
    let admin = app.admin();
    let intent = app.intent("buyer-1", intent_body("offer-e1", "2", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();
    let expiry = expires_at(&intent);

    // The follower's node goes down; the buyer pays before expiry all the same.
    proxy.set(|f| f.down = true);
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(2_000_000u64)).await;
    assert!(now_ms() < expiry, "paid before expiresAt");
    mine_after(&chain, expiry).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Expired by the clock, but the chain is not scanned that far: neither the admin's cleanup
    // nor the expiry task cancels it.
    let (status, cleaned) = app.post(CLEANUP, Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{cleaned}");
    assert_eq!(cleaned["cancelledCount"], 0, "{cleaned}");
    assert_eq!(app.payment(&id).await["status"], "pending");

    // The node is back: the payment is credited and completes.
    proxy.set(|f| f.down = false);
    receiver.wait_for(&id, "payment.processing").await;
    chain.mine(THRESHOLD).await;
    receiver.wait_for(&id, "payment.completed").await;
    let (_, cleaned) = app.post(CLEANUP, Some(&admin), &json!({})).await;
    assert_eq!(cleaned["cancelledCount"], 0, "{cleaned}");
    assert_eq!(app.payment(&id).await["status"], "completed");
    assert!(receiver.events_for(&id).iter().all(|d| d.event_type != "payment.cancelled"));
    app.stop().await;
});

both_backends!(the_expiry_task_cancels_an_unpaid_expired_payment_by_itself, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    options.env.push(("PAYSCAN_PAYMENT_TTL", "300ms".to_owned()));
    options.env.push(("PAYSCAN_EXPIRY_INTERVAL", "100ms".to_owned()));
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;
    let intent = app.intent("buyer-1", intent_body("offer-e2", "1", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();
    mine_after(&chain, expires_at(&intent)).await;
    let cancelled = receiver.wait_for(&id, "payment.cancelled").await;
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(app.payment(&id).await["status"], "cancelled");
    app.stop().await;
});

both_backends!(a_cancelled_address_is_watched_for_the_window_then_no_more, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    options.env.push(("PAYSCAN_PAYMENT_TTL", "300ms".to_owned()));
    options.env.push(("PAYSCAN_EXPIRY_INTERVAL", "100ms".to_owned()));
    options.env.push(("PAYSCAN_WATCH_WINDOW", "4s".to_owned()));
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;
    let admin = app.admin();
    let early = app.intent("buyer-1", intent_body("offer-w1", "1", "USDC", &chain)).await;
    let late = app.intent("buyer-1", intent_body("offer-w2", "1", "USDC", &chain)).await;
    let (early_id, late_id) = (early["paymentId"].as_str().expect("id"), late["paymentId"].as_str().expect("id"));
    mine_after(&chain, expires_at(&late)).await;
    receiver.wait_for(early_id, "payment.cancelled").await;
    receiver.wait_for(late_id, "payment.cancelled").await;
    let cancelled_at = Instant::now();
    let watched = |id: &str| {
        let path = format!("/api/payment/payments/{id}/debug");
        let app = &app;
        let admin = admin.clone();
        async move {
            let (status, debug) = app.get(&path, Some(&admin)).await;
            assert_eq!(status, StatusCode::OK, "{debug}");
            debug["data"]["watched"].as_bool().expect("watched")
        }
    };

    // Within the window, late money is recorded and announced.
    assert!(watched(early_id).await && watched(late_id).await);
    chain.pay(chain.usdc, address(&early["destination"]), U256::from(1_000_000u64)).await;
    receiver.wait_for(early_id, "payment.extra_transfer").await;
    assert!(cancelled_at.elapsed() < Duration::from_secs(4), "paid within the window");
    assert_eq!(app.payment(early_id).await["transfers"].as_array().map(Vec::len), Some(1));

    // After it, the address has left the watch set: money there is no payment's any more.
    tokio::time::sleep(Duration::from_secs(4).saturating_sub(cancelled_at.elapsed()) + Duration::from_millis(500))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while watched(late_id).await {
        assert!(Instant::now() < deadline, "the address is still watched after its window");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    chain.pay(chain.usdc, address(&late["destination"]), U256::from(1_000_000u64)).await;
    chain.mine(1).await;
    scanned_to_head(&app, &chain).await;
    let after = app.payment(late_id).await;
    assert_eq!(after["transfers"].as_array().map(Vec::len), Some(0), "{after}");
    assert!(receiver.events_for(late_id).iter().all(|d| d.event_type != "payment.extra_transfer"));
    app.stop().await;
});
