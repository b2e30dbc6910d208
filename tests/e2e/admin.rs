//! The admin chain surface: thresholds and their history, the awaiting-confirmation queue, the
//! registry with reload and probe, scanner status and webhook retry. Every admin route (custody's
//! included) refuses buyers.

use std::time::{Duration, Instant};

use alloy::primitives::U256;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::*;

async fn patch(app: &TestApp, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
    let response =
        app.http.patch(format!("{}{path}", app.url)).bearer_auth(token).json(body).send().await.expect("PATCH");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

both_backends!(every_admin_route_refuses_buyers_and_anonymous_callers, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let buyer = app.token("buyer-1", "buyer");
    let gets = [
        "/api/admin/settings/confirmation-thresholds",
        "/api/admin/settings/confirmation-thresholds/history",
        "/api/admin/payments/awaiting-confirmation",
        "/api/admin/rn/networks",
        "/api/admin/scanner/status",
        "/api/payment/derived-destinations",
        "/api/payment/derived-destinations/config/health",
        "/api/payment/derived-destinations/cron/status",
    ];
    // Custody routes on a payment and payout that exist: a buyer learns nothing, not even a 404.
    let intent = app.intent("buyer-1", intent_body("offer-adm", "1", "USDC", &chain)).await;
    let payment = intent["paymentId"].as_str().expect("id");
    let payout = "po_01JD3Y5Q6P2W8V3N4M5K6J7H8G";
    let custody = [
        format!("/api/payment/derived-destinations/{payment}/balance"),
        format!("/api/payment/derived-destinations/{payment}/sweep"),
        "/api/payment/derived-destinations/sweep".to_owned(),
        "/api/payment/derived-destinations/cron/start".to_owned(),
        "/api/payment/derived-destinations/cron/stop".to_owned(),
        "/payouts".to_owned(),
        "/admin/payouts/run".to_owned(),
        format!("/payouts/{payout}/retry"),
        format!("/payouts/{payout}/cancel"),
        format!("/api/payment/{payment}/release"),
        format!("/api/payment/{payment}/release/confirm"),
        format!("/api/payment/{payment}/refund"),
        format!("/api/payment/{payment}/refund/confirm"),
    ];
    let posts =
        ["/api/admin/rn/networks/reload", "/api/admin/rn/networks/probe/31337", "/api/admin/scanner/webhooks/retry"]
            .map(str::to_owned)
            .into_iter()
            .chain(custody);
    for path in gets {
        assert_eq!(app.get(path, Some(&buyer)).await.0, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(app.get(path, None).await.0, StatusCode::UNAUTHORIZED, "{path}");
    }
    for path in posts {
        assert_eq!(app.post(&path, Some(&buyer), &json!({})).await.0, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(app.post(&path, None, &json!({})).await.0, StatusCode::UNAUTHORIZED, "{path}");
    }
    let path = "/api/admin/settings/confirmation-thresholds/31337";
    assert_eq!(patch(&app, path, &buyer, &json!({ "threshold": 9 })).await.0, StatusCode::FORBIDDEN);
    app.stop().await;
});

both_backends!(a_threshold_change_takes_effect_is_clamped_and_audited, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let admin = app.admin();
    let path = "/api/admin/settings/confirmation-thresholds/31337";

    let (_, list) = app.get("/api/admin/settings/confirmation-thresholds", Some(&admin)).await;
    assert_eq!(
        list["data"][0],
        json!({ "chainId": 31337, "threshold": 3, "source": "config", "configured": 3,
        "floor": 1, "requireFinalized": false })
    );

    // Below the floor (1) is clamped, and the answer says so.
    let (status, clamped) = patch(&app, path, &admin, &json!({ "threshold": 0 })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{clamped}");
    let (status, raised) = patch(&app, path, &admin, &json!({ "threshold": 5 })).await;
    assert_eq!(status, StatusCode::OK, "{raised}");
    assert_eq!(raised["data"]["threshold"], 5);
    assert_eq!(raised["data"]["clamped"], false);
    assert_eq!(raised["message"], "Confirmation threshold for chain 31337 updated to 5");

    for (body, expected) in [
        (json!({ "threshold": "5" }), StatusCode::BAD_REQUEST),
        (json!({ "threshold": -1 }), StatusCode::BAD_REQUEST),
        (json!({ "thresh": 5 }), StatusCode::BAD_REQUEST),
        (json!({ "threshold": 100_000_000 }), StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(patch(&app, path, &admin, &body).await.0, expected, "{body}");
    }
    assert_eq!(
        patch(&app, "/api/admin/settings/confirmation-thresholds/abc", &admin, &json!({ "threshold": 5 })).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        patch(&app, "/api/admin/settings/confirmation-thresholds/999", &admin, &json!({ "threshold": 5 })).await.0,
        StatusCode::NOT_FOUND
    );

    // The next evaluation uses 5: three confirmations are no longer enough.
    let intent = app.intent("buyer-1", intent_body("offer-t", "1", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(1_000_000u64)).await;
    chain.mine(2).await;
    let payment = app.wait_for(&id, "3 confirmations", |p| p["confirmations"] == 3).await;
    assert_eq!(payment["status"], "processing");
    assert_eq!(payment["threshold"], 5);
    let (_, awaiting) = app.get("/api/admin/payments/awaiting-confirmation?chainId=31337", Some(&admin)).await;
    assert_eq!(awaiting["data"][0]["paymentId"], intent["paymentId"]);
    assert_eq!(awaiting["data"][0]["awaitingReason"], "waiting for confirmations");
    assert_eq!(awaiting["pagination"]["total"], 1);
    let (_, elsewhere) = app.get("/api/admin/payments/awaiting-confirmation?chainId=1", Some(&admin)).await;
    assert_eq!(elsewhere["pagination"]["total"], 0);
    assert_eq!(
        app.get("/api/admin/payments/awaiting-confirmation?page=0", Some(&admin)).await.0,
        StatusCode::BAD_REQUEST
    );

    chain.mine(2).await;
    let payment = app.wait_for_status(&id, "completed").await;
    assert_eq!(payment["confirmations"], 5);
    assert_eq!(payment["metadata"]["transactionSafety"]["status"], "passed");

    // Lowering it back (to below the floor of a stricter chain it would be clamped; here floor 1).
    let (_, lowered) = patch(&app, path, &admin, &json!({ "threshold": 2 })).await;
    assert_eq!(lowered["data"]["previous"], 5);
    let (_, history) = app.get("/api/admin/settings/confirmation-thresholds/history?limit=10", Some(&admin)).await;
    let changes: Vec<(u64, u64)> = history["data"]
        .as_array()
        .expect("history")
        .iter()
        .map(|c| (c["oldThreshold"].as_u64().unwrap_or(0), c["newThreshold"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(changes, [(5, 2), (3, 5)], "newest first");
    assert_eq!(history["data"][0]["changedBy"], "admin-1");
    assert_eq!(history["pagination"]["total"], 2);
    let (_, this_chain) =
        app.get("/api/admin/settings/confirmation-thresholds/history?chainId=31337", Some(&admin)).await;
    assert_eq!(this_chain["pagination"]["total"], 2, "{this_chain}");
    let (_, other_chain) = app.get("/api/admin/settings/confirmation-thresholds/history?chainId=1", Some(&admin)).await;
    assert_eq!(other_chain["pagination"]["total"], 0, "only that chain's changes: {other_chain}");
    assert_eq!(other_chain["data"], json!([]));
    app.stop().await;
});

both_backends!(a_floor_clamps_a_lower_threshold, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    // Raise the floor in the registry and reload, then ask for less.
    let (mut entry, tokens) = chain.registry_entries();
    entry["confirmationFloor"] = json!(3);
    write_registry(&app.env.dir.0, &[(entry, tokens)]);
    let (status, body) = app.post("/api/admin/rn/networks/reload", Some(&app.admin()), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, clamped) =
        patch(&app, "/api/admin/settings/confirmation-thresholds/31337", &app.admin(), &json!({ "threshold": 1 }))
            .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(clamped["data"]["threshold"], 3);
    assert_eq!(clamped["data"]["clamped"], true);
    assert!(clamped["message"].as_str().is_some_and(|m| m.contains("below the chain's floor of 3")), "{clamped}");
    app.stop().await;
});

both_backends!(the_registry_reloads_without_a_restart_and_refuses_a_bad_file, |backend| async move {
    let first = TestChain::start(31337).await;
    let second = TestChain::start(31338).await;
    let app = TestApp::spawn(AppOptions::new(backend, &first)).await;
    let admin = app.admin();
    let (_, networks) = app.get("/api/admin/rn/networks", Some(&admin)).await;
    assert_eq!(networks["meta"], json!({ "chainCount": 1, "tokenCount": 2 }));
    assert_eq!(networks["data"][0]["tokens"][0]["symbol"], "USDC");
    assert!(!networks["data"][0]["rpcUrl"].as_str().unwrap_or_default().is_empty());

    // A bad file is refused with the reason; the live registry stays.
    std::fs::write(
        app.env.dir.0.join("tokens.json"),
        r#"{"31337":[{"address":"0x12","symbol":"USDC","decimals":6,"name":"x"}]}"#,
    )
    .expect("write");
    let (status, refused) = app.post("/api/admin/rn/networks/reload", Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"]["code"], "REGISTRY_INVALID");
    assert!(refused["error"]["message"].as_str().is_some_and(|m| m.contains("tokens.json")), "{refused}");
    app.intent("buyer-1", intent_body("offer-still", "1", "USDC", &first)).await;

    // Adding a chain starts its follower.
    write_registry(&app.env.dir.0, &[first.registry_entries(), second.registry_entries()]);
    let (status, reloaded) = app.post("/api/admin/rn/networks/reload", Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{reloaded}");
    assert_eq!(reloaded["message"], "Registry reloaded from disk");
    assert_eq!(reloaded["data"]["followers"]["started"], json!([31338]));
    let intent = app.intent("buyer-1", intent_body("offer-new-chain", "2", "USDT", &second)).await;
    second.pay(second.usdt, address(&intent["destination"]), units(&intent["amountBaseUnits"])).await;
    second.mine(THRESHOLD).await;
    app.wait_for_status(intent["paymentId"].as_str().expect("id"), "completed").await;

    // Removing it stops the follower.
    write_registry(&app.env.dir.0, &[first.registry_entries()]);
    let (_, reloaded) = app.post("/api/admin/rn/networks/reload", Some(&admin), &json!({})).await;
    assert_eq!(reloaded["data"]["followers"]["stopped"], json!([31338]));
    let (_, status) = app.get("/api/admin/scanner/status", Some(&admin)).await;
    let chains: Vec<&Value> =
        status["data"]["chains"].as_array().expect("chains").iter().map(|c| &c["chainId"]).collect();
    assert_eq!(chains, [&json!(31337)]);
    app.stop().await;
});

both_backends!(a_chain_whose_rpc_is_down_is_reported_refused_and_isolated, |backend| async move {
    let chain = TestChain::start(31337).await;
    let options = AppOptions::new(backend, &chain);
    let app = TestApp::spawn(options).await;
    let (dead_chain, dead_tokens, _refusing) = unreachable_chain(4242);
    write_registry(&app.env.dir.0, &[chain.registry_entries(), (dead_chain, dead_tokens)]);
    let admin = app.admin();
    let (status, body) = app.post("/api/admin/rn/networks/reload", Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Probe: bad id, unknown chain, a live chain, a dead one.
    assert_eq!(app.post("/api/admin/rn/networks/probe/abc", Some(&admin), &json!({})).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(app.post("/api/admin/rn/networks/probe/7", Some(&admin), &json!({})).await.0, StatusCode::NOT_FOUND);
    let (status, live) = app.post("/api/admin/rn/networks/probe/31337", Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{live}");
    assert_eq!(live["data"]["reachable"], true);
    assert_eq!(live["data"]["chainIdMatches"], true);
    assert!(live["data"]["blockNumber"].as_str().is_some_and(|b| b.starts_with("0x")));
    assert_eq!(live["data"]["hasCode"], true, "the test chain's fee proxy is deployed");
    assert_eq!(live["data"]["callValid"], true, "a dummy payment reverts with a reason: {live}");
    let (status, dead) = app.post("/api/admin/rn/networks/probe/4242", Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{dead}");
    assert_eq!(dead["error"]["code"], "CHAIN_UNAVAILABLE");

    // The dead chain shows as down and refuses intents; the live one carries on.
    let deadline = Instant::now() + Duration::from_secs(30);
    let dead_status = loop {
        let (_, status) = app.get("/api/admin/scanner/status", Some(&admin)).await;
        let dead = status["data"]["chains"].as_array().and_then(|c| c.iter().find(|c| c["chainId"] == 4242).cloned());
        if let Some(dead) = dead.filter(|d| d["down"] == true) {
            break dead;
        }
        assert!(Instant::now() < deadline, "chain 4242 never reported down: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(dead_status["state"], "failing");
    assert!(dead_status["lastError"].as_str().is_some_and(|e| !e.is_empty()));
    let body = json!({ "purchaseRequestId": "pr-d", "sellerOfferId": "offer-d", "sellerId": "s", "amount": "1",
        "token": "USDC", "network": 4242 });
    let (status, refused) =
        app.post("/api/payment/request-network/intents", Some(&app.token("buyer-1", "buyer")), &body).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{refused}");
    assert_eq!(refused["error"]["code"], "CHAIN_UNAVAILABLE");

    let intent = app.intent("buyer-1", intent_body("offer-live", "1", "USDC", &chain)).await;
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(1_000_000u64)).await;
    chain.mine(THRESHOLD).await;
    app.wait_for_status(intent["paymentId"].as_str().expect("id"), "completed").await;
    let (_, status) = app.get("/api/admin/scanner/status", Some(&admin)).await;
    let live = status["data"]["chains"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["chainId"] == 31337).cloned())
        .expect("live");
    assert_eq!(live["state"], "following");
    assert_eq!(live["lagBlocks"], 0);
    assert!(live["lagSeconds"].is_u64());
    assert_eq!(status["data"]["watchedDestinations"], 1);
    let metrics =
        app.http.get(format!("{}/metrics", app.url)).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains(r#"payscan_follower_errors_total{chain_id="4242",kind="rpc_transport"}"#), "{metrics}");
    app.stop().await;
});

both_backends!(manual_review_deliveries_can_be_retried_by_an_admin, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    options.retry = "100ms";
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;
    receiver.set_failing(true);
    let intent = app.intent("buyer-1", intent_body("offer-retry", "1", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(1_000_000u64)).await;
    app.wait_for(&id, "manual review", |p| {
        p["webhooks"].as_array().is_some_and(|w| w.iter().any(|d| d["status"] == "manual_review"))
    })
    .await;

    let admin = app.admin();
    let retry = "/api/admin/scanner/webhooks/retry";
    assert_eq!(app.post(retry, Some(&admin), &json!({ "intentId": "nope" })).await.0, StatusCode::BAD_REQUEST);
    let unknown = json!({ "intentId": "pay_01JD3Y5Q6P2W8V3N4M5K6J7H8G" });
    assert_eq!(app.post(retry, Some(&admin), &unknown).await.0, StatusCode::NOT_FOUND);
    receiver.set_failing(false);
    let (status, retried) = app.post(retry, Some(&admin), &json!({ "intentId": id })).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(retried["data"]["requeued"], 1);
    let delivered = receiver.wait_for(&id, "payment.processing").await;
    let payment = app.wait_for_deliveries(&id, 2).await;
    let peer = payment["webhooks"]
        .as_array()
        .and_then(|w| w.iter().find(|d| d["target"] == receiver.url).cloned())
        .expect("peer");
    assert_eq!(peer["status"], "delivered");
    assert_eq!(peer["webhookId"].as_str(), Some(delivered.id.as_str()), "the same event id after a retry");
    app.stop().await;
});
