//! Payment reads and reports: another user's data is admin-only, statistics count every
//! successful terminal status, exports stream JSON or CSV across pages, expired payments are
//! cancelled (and still watched), and the admin forms keep money states to the chain.

use alloy::primitives::U256;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::*;

async fn put(app: &TestApp, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
    let response = app.http.put(format!("{}{path}", app.url)).bearer_auth(token).json(body).send().await.expect("PUT");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn export(app: &TestApp, path: &str, token: &str) -> (StatusCode, String, String) {
    let response = app.http.get(format!("{}{path}", app.url)).bearer_auth(token).send().await.expect("export");
    let status = response.status();
    let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, kind, response.text().await.expect("body"))
}

both_backends!(reads_stats_and_exports_keep_to_their_users_and_count_every_success, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let (admin, one, two) = (app.admin(), app.token("buyer-1", "buyer"), app.token("buyer-2", "buyer"));
    let paid = completed(&app, &chain, "offer-r1", "2", "USDC").await;
    app.intent("buyer-1", intent_body("offer-r2", "1", "USDC", &chain)).await;
    app.intent("buyer-2", intent_body("offer-r3", "5", "USDT", &chain)).await;

    // As the seed's backend: `completed,success` unless a status is asked for; empty for all.
    let (status, mine) = app.get("/api/payment/user/buyer-1", Some(&one)).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["pagination"]["total"], 1, "{mine}");
    assert_eq!(mine["data"][0]["paymentId"], paid["paymentId"]);
    let (_, all) = app.get("/api/payment/user/buyer-1?status=", Some(&one)).await;
    assert_eq!(all["pagination"]["total"], 2, "{all}");
    let (_, open) = app.get("/api/payment?status=pending,success", Some(&one)).await;
    assert_eq!(open["pagination"]["total"], 2, "{open}");
    let (_, pending) = app.get("/api/payment?status=pending", Some(&one)).await;
    assert_eq!(pending["pagination"]["total"], 1, "{pending}");
    assert_eq!(app.get("/api/payment/user/buyer-1", Some(&two)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/payment/user/buyer-1?status=", Some(&admin)).await.1["pagination"]["total"], 2);

    let (_, stats) = app.get("/api/payment/stats", Some(&one)).await;
    assert_eq!(stats["data"]["totalPayments"], 2);
    assert_eq!(stats["data"]["successfulPayments"], 1, "completed counts as a success: {stats}");
    assert_eq!(stats["data"]["pendingPayments"], 1);
    let completed_row =
        stats["data"]["byStatus"].as_array().expect("rows").iter().find(|r| r["status"] == "completed").cloned();
    assert_eq!(
        completed_row.map(|r| r["amounts"].clone()),
        Some(
            json!([{ "chainId": 31337, "token": "USDC", "amountBaseUnits": "2000000", "amountReceivedBaseUnits": "2000000" }])
        )
    );
    assert_eq!(app.get("/api/payment/stats/buyer-1", Some(&two)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/payment/stats", Some(&admin)).await.1["data"]["totalPayments"], 3);

    let (status, kind, csv) = export(&app, "/api/payment/export?format=csv", &one).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/csv"), "{kind}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("paymentId,provider,status"));
    assert!(csv.contains(paid["paymentId"].as_str().expect("id")) && csv.contains(",completed,funded,"));
    let (_, _, json_text) = export(&app, "/api/payment/export", &one).await;
    let exported: Vec<Value> = serde_json::from_str(&json_text).expect("a JSON array");
    assert_eq!(exported.len(), 2);
    assert_eq!(
        export(&app, "/api/payment/export/buyer-2", &one).await.0,
        StatusCode::FORBIDDEN,
        "another user's export is admin-only"
    );
    assert_eq!(export(&app, "/api/payment/export?format=xml", &one).await.0, StatusCode::BAD_REQUEST);

    // Many pages: the stream joins them into one valid document.
    for i in 0..520 {
        app.intent("buyer-3", intent_body(&format!("offer-bulk-{i}"), "1", "USDC", &chain)).await;
    }
    let (_, _, bulk) = export(&app, "/api/payment/export/buyer-3", &admin).await;
    let bulk: Vec<Value> = serde_json::from_str(&bulk).expect("one JSON array across pages");
    assert_eq!(bulk.len(), 520);
    let (_, _, bulk_csv) = export(&app, "/api/payment/export/buyer-3?format=csv", &admin).await;
    assert_eq!(bulk_csv.lines().count(), 521);
    app.stop().await;
});

both_backends!(
    expired_payments_are_cancelled_still_watched_and_money_states_stay_with_the_chain,
    |backend| async move {
        let chain = TestChain::start(31337).await;
        let mut options = AppOptions::new(backend, &chain);
        options.env.push(("PAYSCAN_PAYMENT_TTL", "300ms".to_owned()));
        // Only the admin route cancels here (the expiry task has its own tests), so its count is
        // this test's to assert.
        options.env.push(("PAYSCAN_EXPIRY_INTERVAL", "1h".to_owned()));
        let (app, receiver) = TestApp::spawn_with_receiver(options).await;
        let admin = app.admin();
        let stale = app.intent("buyer-1", intent_body("offer-x1", "1", "USDC", &chain)).await;
        let id = stale["paymentId"].as_str().expect("id").to_owned();
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let cleanup = "/api/payment/payments/cleanup-pending";
        assert_eq!(app.post(cleanup, Some(&app.token("buyer-1", "buyer")), &json!({})).await.0, StatusCode::FORBIDDEN);
        // Expired by the clock, but no block past expiresAt has been scanned yet.
        let (status, cleaned) = app.post(cleanup, Some(&admin), &json!({})).await;
        assert_eq!(status, StatusCode::OK, "{cleaned}");
        assert_eq!(cleaned["cancelledCount"], 0);
        // A block in a later second than expiresAt, once scanned, lets it expire.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        chain.mine(1).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (status, cleaned) = app.post(cleanup, Some(&admin), &json!({})).await;
            assert_eq!(status, StatusCode::OK, "{cleaned}");
            if cleaned["cancelledCount"] == 1 {
                assert_eq!(cleaned["deletedCount"], 1, "the seed's name for the same count: {cleaned}");
                break;
            }
            assert_eq!(cleaned["cancelledCount"], 0, "{cleaned}");
            if std::time::Instant::now() >= deadline {
                let (_, scanner) = app.get("/api/admin/scanner/status", Some(&admin)).await;
                panic!("never cancelled: payment {:#}, scanner {scanner:#}", app.payment(&id).await);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(app.payment(&id).await["status"], "cancelled");
        receiver.wait_for(&id, "payment.cancelled").await;
        // Money that comes late is still seen and announced, never lost.
        chain.pay(chain.usdc, address(&stale["destination"]), U256::from(1_000_000u64)).await;
        receiver.wait_for(&id, "payment.extra_transfer").await;
        let late = app.payment(&id).await;
        assert_eq!(late["status"], "cancelled");
        assert_eq!(late["transfers"].as_array().map(Vec::len), Some(1));

        // The admin forms: create for a buyer; cancel a pending one; never fake a money state.
        let form = json!({ "purchaseRequestId": "pr-f1", "sellerOfferId": "offer-f1", "buyerId": "buyer-9", "sellerId": "seller-1",
        "amount": { "amount": "3", "currency": "USDC" }, "blockchain": { "network": chain.chain_id } });
        assert_eq!(
            app.post("/api/payment", Some(&app.token("buyer-9", "buyer")), &form).await.0,
            StatusCode::FORBIDDEN
        );
        let (status, created) = app.post("/api/payment", Some(&admin), &form).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["data"]["buyerId"], "buyer-9");
        assert_eq!(created["data"]["amountBaseUnits"], "3000000");
        let created_id = created["data"]["paymentId"].as_str().expect("id").to_owned();
        let path = format!("/api/payment/{created_id}");
        let (status, faked) = put(&app, &path, &admin, &json!({ "status": "completed" })).await;
        assert_eq!(status, StatusCode::CONFLICT, "{faked}");
        let (status, edited) =
            put(&app, &path, &admin, &json!({ "status": "cancelled", "metadata": { "note": "duplicate order" } }))
                .await;
        assert_eq!(status, StatusCode::OK, "{edited}");
        assert_eq!(edited["data"]["status"], "cancelled");
        assert_eq!(edited["data"]["metadata"]["note"], "duplicate order");
        assert_eq!(put(&app, &path, &app.token("buyer-9", "buyer"), &json!({})).await.0, StatusCode::FORBIDDEN);

        // Repair and debug (admin).
        let paid = completed(&app, &chain, "offer-x2", "1", "USDC").await;
        let paid_id = paid["paymentId"].as_str().expect("id");
        let (status, fetched) =
            app.post(&format!("/api/payment/payments/{paid_id}/fetch-tx"), Some(&admin), &json!({})).await;
        assert_eq!(status, StatusCode::OK, "{fetched}");
        assert_eq!(fetched["transactionHash"], app.payment(paid_id).await["txHash"]);
        let (status, auto) =
            app.post("/api/payment/payments/auto-fetch-missing", Some(&admin), &json!({ "limit": 5 })).await;
        assert_eq!(status, StatusCode::OK, "{auto}");
        let (status, debug) = app.get(&format!("/api/payment/payments/{paid_id}/debug"), Some(&admin)).await;
        assert_eq!(status, StatusCode::OK, "{debug}");
        assert_eq!(debug["data"]["watched"], true);
        assert_eq!(debug["data"]["transfers"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            app.get(&format!("/api/payment/payments/{paid_id}/debug"), Some(&app.token("buyer-1", "buyer"))).await.0,
            StatusCode::FORBIDDEN
        );
        app.stop().await;
    }
);
