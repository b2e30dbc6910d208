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
        ("/api/payment/42'%20OR%201=1".into(), buyer.clone(), StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
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

/// Any JSON: scalars, strings that look like amounts, addresses and ids, and nested values.
fn hostile_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,40}".prop_map(Value::from),
        "-?[0-9]{0,80}(\\.[0-9]{0,40})?(e-?[0-9]{1,4})?".prop_map(Value::from),
        "0x[0-9a-fA-F]{0,70}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    "[a-zA-Z]{1,12}",
                    Just("amount".to_owned()),
                    Just("token".to_owned()),
                    Just("network".to_owned()),
                    Just("chainId".to_owned()),
                    Just("destination".to_owned()),
                    Just("reference".to_owned()),
                    Just("signature".to_owned()),
                    Just("deadline".to_owned()),
                    Just("value".to_owned()),
                    Just("url".to_owned()),
                ],
                inner,
                0..8
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

both_backends!(hostile_json_at_every_write_route_is_refused_with_a_4xx, |backend| async move {
    use proptest::strategy::{Strategy, ValueTree};
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let buyer = app.token("buyer-1", "buyer");
    let admin = app.admin();
    let intent = app.intent("buyer-1", intent_body("offer-h", "3", "USDC", &chain)).await;
    let payment = intent["paymentId"].as_str().expect("id").to_owned();
    let document: Value =
        app.http.get(format!("{}/api/openapi.json", app.url)).send().await.expect("get").json().await.expect("json");
    let mut routes = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys().filter(|m| ["post", "put", "patch"].contains(&m.as_str()))
        {
            // Path parameters: the real payment's id, so the body is what gets judged.
            let concrete = path
                .split('/')
                .map(|segment| match segment {
                    s if s.starts_with('{') && s.contains("hain") => chain.chain_id.to_string(),
                    s if s.starts_with('{') => payment.clone(),
                    s => s.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("/");
            routes.push((method.to_uppercase(), concrete));
        }
    }
    assert!(routes.len() >= 10, "write routes: {routes:?}");
    let cases: usize = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(40);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let bodies = hostile_json();
    let mut answered = 0;
    for case in 0..cases {
        // Half the time the intent body with one field made hostile, so validation past parsing runs.
        let hostile = bodies.new_tree(&mut runner).expect("body").current();
        let body = if case % 2 == 0 {
            hostile
        } else {
            let mut body = intent_body("offer-h", "3", "USDC", &chain);
            let field = ["amount", "token", "network", "sellerOfferId", "purchaseRequestId"][case % 5];
            body[field] = hostile;
            body
        };
        for (method, path) in &routes {
            let token = if case % 3 == 0 { &buyer } else { &admin };
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let response = app
                .http
                .request(method.clone(), format!("{}{path}", app.url))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            assert!(
                status != StatusCode::INTERNAL_SERVER_ERROR && status.as_u16() < 600,
                "{method} {path} answered {status} to {body}: {text}"
            );
            if status.is_client_error() {
                let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                assert_eq!(answer["success"], false, "{method} {path} {status} to {body}: {text}");
                assert!(answer["error"]["code"].is_string(), "{method} {path} {status} to {body}: {text}");
            }
            answered += 1;
        }
    }
    eprintln!("{answered} hostile bodies at {} write routes", routes.len());
});
