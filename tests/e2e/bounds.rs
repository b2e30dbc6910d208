//! Hostile input meets bounds: amounts above 10^30 base units are refused and sums near the bound
//! still add up; an exported CSV cannot carry a spreadsheet formula; the ledger cannot be
//! truncated; an event stream ends when its token expires.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::both_backends;
use crate::support::*;

both_backends!(amounts_are_bounded_and_sums_near_the_bound_add_up, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let buyer = app.token("buyer-1", "buyer");
    let intents = "/api/payment/request-network/intents";

    for (amount, why) in [
        (json!("1e70"), "a number far past U256's comfort"),
        (json!(1e70), "the same as a JSON number"),
        (json!("1000000000000.000000000000000001"), "one base unit past 10^30"),
        (json!("115792089237316195423570985008687907853269984665640564039457584007913129639935"), "U256::MAX"),
    ] {
        let mut body = intent_body("offer-b0", "1", "USDT", &chain);
        body["amount"] = amount.clone();
        let (status, refused) = app.post(intents, Some(&buyer), &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {refused}");
        assert_eq!(refused["error"]["code"], "VALIDATION_ERROR", "{why}: {refused}");
    }
    // Payouts take the same bound.
    let payout = json!({ "userId": "seller-7", "amount": "1e70", "token": "USDT", "chainId": chain.chain_id,
        "destination": { "type": "address", "account": "0x000000000000000000000000000000000000c0de" },
        "reference": "ref-b1" });
    let (status, refused) = app.post("/payouts", Some(&app.admin()), &payout).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");

    // Two intents at the bound (10^12 USDT of 18 decimals = 10^30 base units each).
    for offer in ["offer-b1", "offer-b2"] {
        let intent = app.intent("buyer-1", intent_body(offer, "1000000000000", "USDT", &chain)).await;
        assert_eq!(intent["amountBaseUnits"], format!("1{}", "0".repeat(30)));
    }
    for path in ["/api/payment/stats", "/api/payment/stats/buyer-1"] {
        let (status, stats) = app.get(path, Some(&app.admin())).await;
        assert_eq!(status, StatusCode::OK, "{path}: {stats}");
        assert_eq!(stats["data"]["totalPayments"], 2, "{stats}");
        let pending = stats["data"]["byStatus"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["status"] == "pending"))
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(pending["amounts"][0]["amountBaseUnits"], format!("2{}", "0".repeat(30)), "{stats}");
    }
    app.stop().await;
});

both_backends!(an_exported_csv_cell_is_never_a_formula, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let hostile = "=HYPERLINK(\"http://evil.example\",\"x\")";
    let mut body = intent_body("offer-c1", "1", "USDC", &chain);
    body["sellerOfferId"] = json!("-2.3");
    body["purchaseRequestId"] = json!("-cmd");
    let (status, created) =
        app.post("/api/payment/request-network/intents", Some(&app.token(hostile, "buyer")), &body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let response = app
        .http
        .get(format!("{}/api/payment/export?format=csv", app.url))
        .bearer_auth(app.admin())
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), StatusCode::OK);
    let csv = response.text().await.expect("csv");
    let row = csv.lines().nth(1).expect("one payment row");
    assert!(row.contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\""), "{row}");
    assert!(row.contains(",'-2.3,") && row.contains(",'-cmd,"), "{row}");
    for cell in row.split(',') {
        assert!(!cell.trim_start_matches('"').starts_with(['=', '+', '-', '@']), "a formula cell: {cell} in {row}");
    }
    app.stop().await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_ledger_refuses_truncate() {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(Backend::Postgres, &chain)).await;
    let mut conn = sqlx::PgConnection::connect(&app.env.db.url).await.expect("connect");
    let refused = sqlx::query("TRUNCATE ledger_entries").execute(&mut conn).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("append-only"), "TRUNCATE went through: {message:?}");
    drop(conn);
    app.stop().await;
}

both_backends!(an_event_stream_ends_when_its_token_expires, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let intent = app.intent("buyer-1", intent_body("offer-t1", "1", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id");
    let short = payscan::dev::token(&app.jwt_secret, "buyer-1", "buyer", Duration::from_secs(2)).expect("token");
    let response =
        app.http.get(format!("{}/api/payment/{id}/events", app.url)).bearer_auth(&short).send().await.expect("events");
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = response.bytes_stream().eventsource();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("a first event");
    assert!(first.is_some_and(|e| e.is_ok_and(|e| e.event == "payment.progress")));
    // Open past its expiry (plus a second of the token's whole-second `exp`), it must end.
    let ended = tokio::time::timeout(Duration::from_secs(8), async {
        while let Some(event) = stream.next().await {
            if event.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream stayed open after the token expired");
    app.stop().await;
});
