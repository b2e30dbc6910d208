//! Checkout options: the seed's precedence (a template that opts out of its store's default, then
//! the store default, then everything supported), set by admins and enforced on intents.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::*;

async fn put(app: &TestApp, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
    let response = app.http.put(format!("{}{path}", app.url)).bearer_auth(token).json(body).send().await.expect("PUT");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn options(app: &TestApp, query: &str) -> Value {
    let (status, body) =
        app.get(&format!("/api/payment/request-network/options{query}"), Some(&app.token("buyer-1", "buyer"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

fn symbols(data: &Value) -> Vec<String> {
    data["chains"][0]["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| t["symbol"].as_str().unwrap_or_default().to_owned())
        .collect()
}

both_backends!(a_template_overrides_its_store_which_overrides_the_default, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let admin = app.admin();

    let default = options(&app, "?sellerId=seller-1").await;
    assert_eq!(default["source"], "default");
    assert_eq!(default["allowedChains"], json!([31337]));
    assert_eq!(default["allowedTokens"], json!(["USDC", "USDT"]));

    let (status, saved) = put(
        &app,
        "/api/admin/payment-config/stores/seller-1",
        &admin,
        &json!({ "allowedChains": [31337], "allowedTokens": ["usdc"] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["data"]["allowedTokens"], json!(["USDC"]));
    let store = options(&app, "?sellerId=seller-1").await;
    assert_eq!(store["source"], "store");
    assert_eq!(symbols(&store), ["USDC"]);
    assert_eq!(options(&app, "?sellerId=seller-2").await["source"], "default", "another seller keeps the default");

    // A template follows its store unless it opts out.
    let path = "/api/admin/payment-config/templates/tpl-1";
    put(&app, path, &admin, &json!({ "allowedTokens": ["USDT"], "sellerId": "seller-1" })).await;
    assert_eq!(options(&app, "?sellerId=seller-1&templateId=tpl-1").await["source"], "store");
    put(&app, path, &admin, &json!({ "allowedTokens": ["USDT"], "useShopDefault": false, "sellerId": "seller-1" }))
        .await;
    let item = options(&app, "?sellerId=seller-1&templateId=tpl-1").await;
    assert_eq!(item["source"], "item");
    assert_eq!(symbols(&item), ["USDT"]);

    // Intents keep to the same rails.
    let (status, refused) = app
        .post(
            "/api/payment/request-network/intents",
            Some(&app.token("buyer-1", "buyer")),
            &intent_body("offer-o1", "1", "USDT", &chain),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"]["code"], "RAIL_NOT_ALLOWED");
    app.intent("buyer-1", intent_body("offer-o2", "1", "USDC", &chain)).await;
    let mut templated = intent_body("offer-o3", "1", "USDT", &chain);
    templated["metadata"] = json!({ "templateId": "tpl-1" });
    app.intent("buyer-1", templated).await;

    // Bad configurations and callers who are not admins are refused.
    for bad in [
        json!({ "allowedChains": [999] }),
        json!({ "allowedTokens": ["DOGE"] }),
        json!({ "useShopDefault": false }),
        json!({ "color": 1 }),
        json!({ "sellerId": "seller-3" }),
    ] {
        let (status, body) = put(&app, "/api/admin/payment-config/stores/seller-3", &admin, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    // A template belongs to a seller and pays nobody.
    for bad in [json!({ "allowedTokens": ["USDT"] }), json!({ "sellerId": "seller-1", "payoutAddress": MASTER })] {
        let (status, body) = put(&app, "/api/admin/payment-config/templates/tpl-9", &admin, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let buyer = app.token("buyer-1", "buyer");
    assert_eq!(
        put(&app, "/api/admin/payment-config/stores/seller-1", &buyer, &json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.get("/api/admin/payment-config/stores/seller-1", Some(&buyer)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        put(&app, "/api/admin/payment-config/shops/seller-1", &admin, &json!({})).await.0,
        StatusCode::NOT_FOUND
    );

    // Removing the store configuration brings the default back.
    let (status, _) = app.get("/api/admin/payment-config/stores/seller-1", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    let response = app
        .http
        .delete(format!("{}/api/admin/payment-config/stores/seller-1", app.url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(options(&app, "?sellerId=seller-1").await["source"], "default");
    app.stop().await;
});

both_backends!(a_template_of_another_seller_gives_a_buyer_nothing, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let admin = app.admin();
    // seller-1 accepts USDC only; seller-2 has a template that accepts USDT.
    let (status, body) =
        put(&app, "/api/admin/payment-config/stores/seller-1", &admin, &json!({ "allowedTokens": ["USDC"] })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, template) = put(
        &app,
        "/api/admin/payment-config/templates/tpl-other",
        &admin,
        &json!({ "allowedTokens": ["USDT"], "useShopDefault": false, "sellerId": "seller-2" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{template}");
    assert_eq!(template["data"]["sellerId"], "seller-2");

    // A buyer of seller-1 names seller-2's template: seller-1's rails still apply.
    let mut body = intent_body("offer-t1", "1", "USDT", &chain);
    body["metadata"] = json!({ "templateId": "tpl-other" });
    let (status, refused) =
        app.post("/api/payment/request-network/intents", Some(&app.token("buyer-1", "buyer")), &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"]["code"], "RAIL_NOT_ALLOWED");
    let shown = options(&app, "?sellerId=seller-1&templateId=tpl-other").await;
    assert_eq!(shown["source"], "store");
    assert_eq!(symbols(&shown), ["USDC"]);
    // For its own seller the template applies.
    let mut own = intent_body("offer-t2", "1", "USDT", &chain);
    own["sellerId"] = json!("seller-2");
    own["metadata"] = json!({ "templateId": "tpl-other" });
    app.intent("buyer-1", own).await;
    app.stop().await;
});

both_backends!(the_seeds_configuration_route_lists_every_rail_without_a_token, |backend| async move {
    let chain = TestChain::start(31337).await;
    let payee = alloy::primitives::Address::with_last_byte(0x9a).to_checksum(None);
    let mut options = AppOptions::new(backend, &chain);
    options.env.push(("PAYSCAN_PUBLIC_URL", "https://pay.example.com/".to_owned()));
    options.env.push(("PAYSCAN_REDIRECT_SUCCESS", "https://shop.example.com/paid".to_owned()));
    options.env.push(("PAYSCAN_RN_PAYEE", payee.clone()));
    let app = TestApp::spawn(options).await;

    // The seed's request and answer: no token, every field optional, the body unwrapped.
    let (status, config) = app.post("/api/payment/configuration", None, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{config}");
    let accept = config["accept"].as_array().expect("accept");
    let tokens: Vec<&str> = accept.iter().filter_map(|r| r["token"].as_str()).collect();
    for token in [chain.usdc, chain.usdt] {
        assert!(tokens.contains(&token.to_checksum(None).as_str()), "{token} missing: {config}");
    }
    assert!(accept.iter().all(|r| r["blockchain"] == accept[0]["blockchain"] && r["receiver"] == payee), "{config}");
    assert_eq!(config["redirect"], json!({ "success": "https://shop.example.com/paid", "cancel": null }));
    assert_eq!(config["webhook"], "https://pay.example.com/api/payment/amn-scanner/webhook");

    // Scoped to a currency; a bad field is a 400 in payscan's error shape.
    let body = json!({ "amount": "12.5", "currency": "usdc", "purchaseRequestId": "pr-1" });
    let (status, usdc) = app.post("/api/payment/configuration", None, &body).await;
    assert_eq!(status, StatusCode::OK, "{usdc}");
    assert_eq!(
        usdc["accept"],
        json!([{ "blockchain": accept[0]["blockchain"], "token": chain.usdc.to_checksum(None), "receiver": payee }])
    );
    for bad in [
        json!({ "amount": true }),
        json!({ "purchaseRequestId": "no spaces" }),
        json!({ "currency": "" }),
        json!({ "secret": 1 }),
    ] {
        let (status, refused) = app.post("/api/payment/configuration", None, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {refused}");
        assert_eq!(refused["error"]["code"], "VALIDATION_ERROR", "{refused}");
    }
    app.stop().await;
});
