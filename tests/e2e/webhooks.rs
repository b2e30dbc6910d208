//! Webhook delivery and payscan's own receiver.

use std::time::Duration;

use alloy::primitives::U256;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::*;

both_backends!(a_target_that_is_down_gets_the_event_when_it_comes_back, |backend| async move {
    let chain = TestChain::start(31337).await;
    // Bound, not listening: deliveries are refused until the receiver listens on it.
    let port = ReservedPort::new();
    let port_number = port.port;
    let mut options = AppOptions::new(backend, &chain);
    options.targets = vec![port.url()];
    // A long tail: on a loaded machine an answer may outlast the 2 s timeout now and then.
    options.retry = "300ms,600ms,1s,2s,4s,8s,8s";
    let app = TestApp::spawn(options).await;

    let intent = app.intent("buyer-1", intent_body("offer-down", "2", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(2_000_000u64)).await;
    // The first attempt to the peer fails (nothing listens), payscan's own receiver gets it.
    app.wait_for(&id, "a failed attempt", |p| {
        p["webhooks"]
            .as_array()
            .is_some_and(|w| w.iter().any(|d| d["status"] == "pending" && d["attempts"].as_u64() >= Some(1)))
    })
    .await;

    let receiver = Receiver::start_on(port, &app.webhook_secret).await;
    let delivered = receiver.wait_for(&id, "payment.processing").await;
    let payment = app.wait_for_deliveries(&id, 2).await;
    let peer = payment["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .find(|w| w["target"].as_str().is_some_and(|t| t.ends_with(&format!(":{port_number}/hook"))))
        .cloned()
        .expect("peer delivery");
    assert_eq!(peer["status"], "delivered", "{peer}");
    assert!(peer["attempts"].as_u64() >= Some(2), "{peer}");
    // Same event, same id, at every target and on every attempt.
    assert_eq!(peer["webhookId"].as_str(), Some(delivered.id.as_str()));
    app.stop().await;
});

both_backends!(exhausted_retries_end_in_manual_review, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    options.retry = "100ms,100ms,100ms";
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;
    receiver.set_failing(true);

    let intent = app.intent("buyer-1", intent_body("offer-review", "2", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(2_000_000u64)).await;
    let payment = app.wait_for_deliveries(&id, 2).await;
    let webhooks = payment["webhooks"].as_array().expect("webhooks");
    let peer = webhooks.iter().find(|w| w["target"] == receiver.url).expect("peer delivery");
    assert_eq!(peer["status"], "manual_review");
    assert_eq!(peer["attempts"], 4, "one attempt and three retries: {peer}");
    assert_eq!(peer["lastStatus"], 500);
    let own = webhooks.iter().find(|w| w["target"] != receiver.url).expect("own delivery");
    assert_eq!(own["status"], "delivered");

    // Nothing more is sent once in manual review, even when the target recovers.
    receiver.set_failing(false);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.deliveries().is_empty());
    app.stop().await;
});

type Headers = Vec<(&'static str, String)>;

/// Signs like any Standard Webhooks sender, with the independent crate.
fn signed(secret: &str, id: &str, timestamp: i64, body: &str) -> Headers {
    let webhook = standardwebhooks::Webhook::new(secret).expect("secret");
    let signature = webhook.sign(id, timestamp, body.as_bytes()).expect("sign");
    vec![("webhook-id", id.to_owned()), ("webhook-timestamp", timestamp.to_string()), ("webhook-signature", signature)]
}

async fn deliver(app: &TestApp, headers: Headers, body: &str) -> (StatusCode, Value) {
    let mut request = app
        .http
        .post(format!("{}/api/payment/amn-scanner/webhook", app.url))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

both_backends!(the_receiver_verifies_dedupes_and_refuses, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    options.self_webhook = false;
    let app = TestApp::spawn(options).await;
    let intent = app.intent("buyer-1", intent_body("offer-recv", "2", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id");
    let now = payscan_core::clock::now_ms() / 1000;
    let body = json!({ "intentId": id, "status": "processing", "type": "payment.processing" }).to_string();
    let secret = app.webhook_secret.clone();

    let (status, answer) = deliver(&app, signed(&secret, "msg_peer_1", now, &body), &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["status"], "processed");
    // A retry: same id, re-signed with a later timestamp. Deduped, not processed again.
    let (status, answer) = deliver(&app, signed(&secret, "msg_peer_1", now + 120, &body), &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["data"]["status"], "duplicate");

    let other_secret = payscan_core::webhook::WebhookSecret::generate();
    let cases: Vec<(&str, Headers, String, StatusCode, &str)> = vec![
        (
            "wrong secret",
            signed(&other_secret, "msg_2", now, &body),
            body.clone(),
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
        ),
        (
            "stale timestamp",
            signed(&secret, "msg_3", now - 600, &body),
            body.clone(),
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
        ),
        (
            "no signature",
            vec![("webhook-id", "msg_4".into()), ("webhook-timestamp", now.to_string())],
            body.clone(),
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
        ),
        (
            "body changed after signing",
            signed(&secret, "msg_5", now, &body),
            body.replace("processing", "completed"),
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
        ),
        (
            "no intentId",
            signed(&secret, "msg_6", now, r#"{"status":"completed"}"#),
            r#"{"status":"completed"}"#.into(),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            "not JSON",
            signed(&secret, "msg_7", now, "intentId=1"),
            "intentId=1".into(),
            StatusCode::BAD_REQUEST,
            "MALFORMED_JSON",
        ),
        (
            "unknown payment",
            signed(&secret, "msg_8", now, r#"{"intentId":"pay_01JD3Y5Q6P2W8V3N4M5K6J7H8G"}"#),
            r#"{"intentId":"pay_01JD3Y5Q6P2W8V3N4M5K6J7H8G"}"#.into(),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
    ];
    for (what, headers, body, expected, code) in cases {
        let (status, answer) = deliver(&app, headers, &body).await;
        assert_eq!(status, expected, "{what}: {answer}");
        assert_eq!(answer["success"], false, "{what}");
        assert_eq!(answer["error"]["code"], code, "{what}: {answer}");
    }
    app.stop().await;
});
