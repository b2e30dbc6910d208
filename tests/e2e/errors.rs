//! Bad input gets a clear 4xx in the error shape, never a 500.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::*;

both_backends!(bad_requests_get_clear_4xx_answers, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let buyer = app.token("buyer-1", "buyer");
    let intents = "/api/payment/request-network/intents";
    let good = intent_body("offer-e", "12.5", "USDC", &chain);
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let expired = {
        let claims = json!({ "sub": "buyer-1", "role": "buyer", "exp": 1_000_000 });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(app.jwt_secret.as_bytes()),
        )
        .expect("token")
    };
    let forged = payscan::dev::token(
        "another-secret-of-32-bytes-or-more",
        "buyer-1",
        "buyer",
        std::time::Duration::from_secs(60),
    )
    .expect("token");
    let no_role = {
        let claims = json!({ "sub": "buyer-1", "role": "superuser", "exp": 4_000_000_000u64 });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(app.jwt_secret.as_bytes()),
        )
        .expect("token")
    };

    let cases: Vec<(&str, Option<&str>, Value, StatusCode, &str)> = vec![
        ("no token", None, good.clone(), StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        ("garbage token", Some("nope"), good.clone(), StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        ("expired token", Some(&expired), good.clone(), StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        ("token signed with another key", Some(&forged), good.clone(), StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        ("unknown role", Some(&no_role), good.clone(), StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        (
            "too many decimals",
            Some(&buyer),
            with("amount", json!("1.0000001")),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        ("negative amount", Some(&buyer), with("amount", json!(-5)), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        ("zero amount", Some(&buyer), with("amount", json!("0")), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        ("amount as bool", Some(&buyer), with("amount", json!(true)), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        ("amount as text", Some(&buyer), with("amount", json!("twelve")), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        ("huge amount", Some(&buyer), with("amount", json!("1e90")), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        ("unknown token", Some(&buyer), with("token", json!("DOGE")), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        (
            "unknown network",
            Some(&buyer),
            with("network", json!("solana")),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        ("unknown chain id", Some(&buyer), with("network", json!(1)), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        (
            "network of wrong type",
            Some(&buyer),
            with("network", json!([1])),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            "unknown provider",
            Some(&buyer),
            with("provider", json!("paypal")),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        ("unknown field", Some(&buyer), with("amountUsd", json!(5)), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        (
            "missing field",
            Some(&buyer),
            json!({ "sellerOfferId": "o", "sellerId": "s", "amount": 1 }),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            "id with spaces",
            Some(&buyer),
            with("sellerOfferId", json!("offer 1")),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            "id with markup",
            Some(&buyer),
            with("sellerId", json!("<script>")),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            "overlong id",
            Some(&buyer),
            with("purchaseRequestId", json!("x".repeat(129))),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        ("id of wrong type", Some(&buyer), with("sellerId", json!(42)), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        (
            "metadata not an object",
            Some(&buyer),
            with("metadata", json!("x")),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        ("body not an object", Some(&buyer), json!([1, 2]), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
    ];
    for (what, token, body, expected, code) in cases {
        let (status, answer) = app.post(intents, token, &body).await;
        assert_eq!(status, expected, "{what}: {answer}");
        assert_eq!(answer["success"], false, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{what}: {answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}");
    }

    // Raw bodies: malformed JSON, wrong content type, a huge body.
    let raw = |body: String, content_type: &'static str| {
        app.http
            .post(format!("{}{intents}", app.url))
            .bearer_auth(&buyer)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (what, response, expected) in [
        ("malformed JSON", raw("{\"amount\": ".into(), "application/json").await, StatusCode::BAD_REQUEST),
        (
            "not JSON content",
            raw("a=b".into(), "application/x-www-form-urlencoded").await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "huge body",
            raw(format!("{{\"metadata\":\"{}\"}}", "x".repeat(1 << 20)), "application/json").await,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ] {
        let response = response.expect("request");
        assert_eq!(response.status(), expected, "{what}");
        let body: Value = response.json().await.expect("JSON error body");
        assert_eq!(body["success"], false, "{what}");
    }

    // Reads: unknown, malformed, someone else's.
    let data = app.intent("buyer-1", good.clone()).await;
    let id = data["paymentId"].as_str().expect("id");
    let reads: Vec<(String, String, StatusCode, &str)> = vec![
        (format!("/api/payment/{id}"), app.token("buyer-2", "buyer"), StatusCode::FORBIDDEN, "FORBIDDEN"),
        ("/api/payment/pay_01JD3Y5Q6P2W8V3N4M5K6J7H8G".into(), buyer.clone(), StatusCode::NOT_FOUND, "NOT_FOUND"),
        ("/api/payment/42'%20OR%201=1".into(), buyer.clone(), StatusCode::BAD_REQUEST, "INVALID_ID"),
        ("/api/payment?limit=0".into(), buyer.clone(), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        ("/api/payment?limit=abc".into(), buyer.clone(), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        ("/api/payment?status=paid".into(), buyer.clone(), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        ("/api/payment?offset=-1".into(), buyer.clone(), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        ("/api/nope".into(), buyer.clone(), StatusCode::NOT_FOUND, "NOT_FOUND"),
    ];
    for (path, token, expected, code) in reads {
        let (status, answer) = app.get(&path, Some(&token)).await;
        assert_eq!(status, expected, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{path}: {answer}");
    }
    let (status, own) = app.get(&format!("/api/payment/{id}"), Some(&buyer)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(own["data"].get("webhooks").is_none(), "delivery details are for admins");
    let (status, _) = app.get(&format!("/api/payment/{id}"), Some(&app.admin())).await;
    assert_eq!(status, StatusCode::OK);

    // Health, options and metrics answer.
    let (status, health) = app.get("/api/payment/health", None).await;
    assert_eq!((status, health["success"].clone()), (StatusCode::OK, json!(true)));
    let (status, options) = app.get("/api/payment/request-network/options", Some(&buyer)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(options["data"]["chains"][0]["tokens"].as_array().map(Vec::len), Some(2));
    let metrics = app.http.get(format!("{}/metrics", app.url)).send().await.expect("metrics");
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.expect("text");
    assert!(text.contains("payscan_chain_head_block"), "{text}");
    app.stop().await;
});
