//! The payment's Server-Sent Events, read with a real SSE client (`eventsource-stream` over a
//! streaming HTTP response): a checkout page sees pending → processing → completed live, and a
//! reconnect with `Last-Event-ID` resumes after what it saw.

use std::time::Duration;

use alloy::primitives::U256;
use eventsource_stream::{Event, Eventsource};
use futures_util::{Stream, StreamExt};
use reqwest::StatusCode;

use crate::both_backends;
use crate::support::*;

async fn open(app: &TestApp, buyer: &str, id: &str, last_event_id: Option<&str>) -> reqwest::Response {
    let mut request =
        app.http.get(format!("{}/api/payment/{id}/events", app.url)).bearer_auth(app.token(buyer, "buyer"));
    if let Some(last) = last_event_id {
        request = request.header("Last-Event-ID", last);
    }
    request.send().await.expect("events")
}

/// Reads events until one of type `until` arrives; returns all of them.
async fn read_until(stream: &mut (impl Stream<Item = Event> + Unpin), until: &str) -> Vec<Event> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !seen.iter().any(|e: &Event| e.event == until) {
        let next = tokio::time::timeout_at(deadline, stream.next()).await;
        let event = next.unwrap_or_else(|_| panic!("no {until} event; saw {seen:?}")).expect("the stream ended");
        seen.push(event);
    }
    seen
}

both_backends!(a_checkout_page_sees_the_payment_live_and_resumes_after_a_reconnect, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let intent = app.intent("buyer-1", intent_body("offer-sse", "4", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();

    let response = open(&app, "buyer-1", &id, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().is_ok_and(|t| t.starts_with("text/event-stream")));
    let mut stream = response.bytes_stream().eventsource().map(|e| e.expect("a well-formed event"));
    let first = read_until(&mut stream, "payment.progress").await;
    let state: serde_json::Value = serde_json::from_str(&first[0].data).expect("json");
    assert_eq!(state["status"], "pending");

    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(4_000_000u64)).await;
    let processing = read_until(&mut stream, "payment.processing").await;
    let processing = processing.last().expect("event");
    assert!(!processing.id.is_empty(), "outbox events carry their id");
    chain.mine(THRESHOLD).await;
    let rest = read_until(&mut stream, "payment.completed").await;
    let completed = rest.last().expect("event");
    let body: serde_json::Value = serde_json::from_str(&completed.data).expect("json");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["amountReceivedBaseUnits"], "4000000");
    let progress: Vec<serde_json::Value> = rest
        .iter()
        .filter(|e| e.event == "payment.progress")
        .map(|e| serde_json::from_str(&e.data).expect("json"))
        .collect();
    assert!(progress.iter().all(|p| p["paymentId"] == id.as_str()));
    drop(stream);

    // Reconnecting after `processing` replays what came after it, and only that.
    let response = open(&app, "buyer-1", &id, Some(&processing.id)).await;
    let mut resumed = response.bytes_stream().eventsource().map(|e| e.expect("a well-formed event"));
    let again = read_until(&mut resumed, "payment.completed").await;
    let replayed: Vec<&str> = again.iter().filter(|e| !e.id.is_empty()).map(|e| e.event.as_str()).collect();
    assert_eq!(replayed, ["payment.completed"], "{again:?}");
    assert_eq!(again.iter().find(|e| e.event == "payment.completed").map(|e| e.id.clone()), Some(completed.id.clone()));

    // Only its buyer may listen; a Last-Event-ID must be one this stream sent.
    assert_eq!(open(&app, "buyer-2", &id, None).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(open(&app, "buyer-1", &id, Some("yesterday")).await.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
});
