//! Per-caller rate limits: a hostile buyer cannot create intents (each a watched address) or ask
//! for permit relays (each the relayer's gas) without bound; other buyers and admins are not held
//! back by them.

use reqwest::header::RETRY_AFTER;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::*;

/// POSTs as `token` and returns the status, the `Retry-After` header and the body.
async fn post(app: &TestApp, path: &str, token: &str, body: &Value) -> (StatusCode, Option<u64>, Value) {
    let response =
        app.http.post(format!("{}{path}", app.url)).bearer_auth(token).json(body).send().await.expect("post");
    let status = response.status();
    let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()?.parse().ok());
    (status, retry_after, response.json().await.expect("json body"))
}

const INTENTS: &str = "/api/payment/request-network/intents";

both_backends!(a_buyer_past_the_intent_limit_is_told_when_to_retry, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    options.env.push(("PAYSCAN_RATE_LIMIT_INTENTS", "3/m".to_owned()));
    let app = TestApp::spawn(options).await;
    let hostile = app.token("buyer-1", "buyer");

    for offer in ["offer-1", "offer-2", "offer-3"] {
        let (status, _, body) = post(&app, INTENTS, &hostile, &intent_body(offer, "5", "USDC", &chain)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, retry_after, body) = post(&app, INTENTS, &hostile, &intent_body("offer-4", "5", "USDC", &chain)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    // One intent every 20 s refills a budget of three a minute.
    let retry_after = retry_after.expect("a Retry-After header");
    assert!((1..=20).contains(&retry_after), "Retry-After {retry_after}");
    // The pay-in route draws on the same budget.
    let pay_in = intent_body("offer-5", "5", "USDC", &chain);
    let (status, _, body) = post(&app, "/api/payment/request-network/pay-in", &hostile, &pay_in).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");

    // The refused intents made no payment, so no address joined the watch set for them.
    let (_, mine) = app.get("/api/payment?status=", Some(&hostile)).await;
    assert_eq!(mine["data"].as_array().map(Vec::len), Some(3), "{mine}");

    // Another buyer has a budget of their own, and an admin has none.
    let (status, _, body) =
        post(&app, INTENTS, &app.token("buyer-2", "buyer"), &intent_body("offer-1", "5", "USDC", &chain)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let manual = json!({
        "purchaseRequestId": "pr-admin", "sellerOfferId": "offer-admin", "buyerId": "buyer-1", "sellerId": "seller-1",
        "amount": { "amount": "5", "currency": "USDC" }, "blockchain": { "network": chain.chain_id, "token": "USDC" },
    });
    let (status, _, body) = post(&app, "/api/payment", &app.admin(), &manual).await;
    assert_eq!(status, StatusCode::CREATED, "an admin's manual payment for the limited buyer: {body}");
    app.stop().await;
});

both_backends!(permit_relays_are_limited_per_caller_before_any_check, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    options.env.push(("PAYSCAN_RATE_LIMIT_PERMITS", "2/m".to_owned()));
    let app = TestApp::spawn(options).await;
    let mut body = intent_body("offer-permit", "2", "USDC", &chain);
    body["provider"] = json!("request.network");
    let intent = app.intent("buyer-1", body).await;
    let path = format!("/api/payment/request-network/{}/permit", intent["paymentId"].as_str().expect("id"));
    let hostile = app.token("buyer-1", "buyer");
    // Permits from a key that holds nothing: refused, but each still costs payscan a check.
    let permit = json!({
        "owner": "0x000000000000000000000000000000000000dEaD", "spender": chain.fee_proxy.to_checksum(None),
        "value": "2000000", "deadline": "99999999999", "v": 27,
        "r": format!("0x{}", "11".repeat(32)), "s": format!("0x{}", "22".repeat(32)),
    });
    for _ in 0..2 {
        let (status, _, refused) = post(&app, &path, &hostile, &permit).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    }
    let (status, retry_after, refused) = post(&app, &path, &hostile, &permit).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    assert_eq!(refused["error"]["code"], "RATE_LIMITED");
    assert!(retry_after.is_some_and(|s| (1..=30).contains(&s)), "Retry-After {retry_after:?}");
    app.stop().await;
});
