//! Event streams share one fan-out per instance: what the database is asked does not grow with the
//! number of open streams, the number of streams is capped, and every stream still sees its
//! payment through to completion.

use std::time::Duration;

use alloy::primitives::U256;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use reqwest::header::RETRY_AFTER;
use reqwest::StatusCode;

use crate::both_backends;
use crate::support::*;

async fn open(app: &TestApp, id: &str) -> reqwest::Response {
    let url = format!("{}/api/payment/{id}/events", app.url);
    app.http.get(url).bearer_auth(app.token("buyer-1", "buyer")).send().await.expect("events")
}

/// `payscan_sse_feed_queries_total` from /metrics.
async fn feed_queries(app: &TestApp) -> u64 {
    let text = app.http.get(format!("{}/metrics", app.url)).send().await.expect("metrics").text().await.expect("text");
    text.lines()
        .find_map(|line| line.strip_prefix("payscan_sse_feed_queries_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no payscan_sse_feed_queries_total in {text}"))
}

/// Queries the feed makes over `window` while nothing is written.
async fn queries_over(app: &TestApp, window: Duration) -> u64 {
    let before = feed_queries(app).await;
    tokio::time::sleep(window).await;
    feed_queries(app).await - before
}

both_backends!(twenty_streams_cost_the_database_what_one_does, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let intent = app.intent("buyer-1", intent_body("offer-fanout", "3", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();

    let one = open(&app, &id).await;
    assert_eq!(one.status(), StatusCode::OK);
    let with_one = queries_over(&app, Duration::from_secs(3)).await;
    let mut streams = vec![one.bytes_stream().eventsource().boxed()];
    for _ in 0..19 {
        let response = open(&app, &id).await;
        assert_eq!(response.status(), StatusCode::OK);
        streams.push(response.bytes_stream().eventsource().boxed());
    }
    let with_twenty = queries_over(&app, Duration::from_secs(3)).await;
    // Polled once a second (two queries: events, followed payments); a stream of its own each
    // would be twenty times that.
    assert!(with_one >= 2, "the feed polls: {with_one} queries in 3 s");
    assert!(with_twenty <= with_one + 4, "one stream: {with_one} queries, twenty: {with_twenty}");

    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(3_000_000u64)).await;
    chain.mine(THRESHOLD).await;
    for stream in &mut streams {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let event = tokio::time::timeout_at(deadline, stream.next()).await.expect("payment.completed in time");
            if event.expect("open").expect("well-formed").event == "payment.completed" {
                break;
            }
        }
    }
    app.stop().await;
});

both_backends!(streams_past_the_cap_are_refused_until_one_closes, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    options.env.push(("PAYSCAN_SSE_MAX_STREAMS", "3".to_owned()));
    let app = TestApp::spawn(options).await;
    let intent = app.intent("buyer-1", intent_body("offer-cap", "3", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();

    let mut open_streams = Vec::new();
    for _ in 0..3 {
        let response = open(&app, &id).await;
        assert_eq!(response.status(), StatusCode::OK);
        open_streams.push(response);
    }
    let refused = open(&app, &id).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after: Option<u64> = refused.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()?.parse().ok());
    assert!(retry_after.is_some_and(|s| s >= 1), "Retry-After {retry_after:?}");
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "TOO_MANY_STREAMS", "{body}");

    // A client that goes away frees its place.
    drop(open_streams.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = open(&app, &id).await;
        if response.status() == StatusCode::OK {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the closed stream's place was never freed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
});
