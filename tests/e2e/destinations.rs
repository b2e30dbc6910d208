//! Derived destinations (admin): list and filters, balances read from the chain, custody health.

use alloy::primitives::U256;
use payscan::Application;
use payscan_core::config::Config;
use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::support::*;

/// anvil's account 0 key: public test material.
const RELAYER_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

fn addresses(list: &Value) -> Vec<String> {
    list["data"]["destinations"]
        .as_array()
        .expect("destinations")
        .iter()
        .map(|d| d["address"].as_str().unwrap_or_default().to_owned())
        .collect()
}

both_backends!(destinations_are_listed_filtered_and_read_from_the_chain, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let admin = app.admin();
    let a = app.intent("buyer-1", intent_body("offer-a", "2", "USDC", &chain)).await;
    let b = app.intent("buyer-1", intent_body("offer-b", "3", "USDT", &chain)).await;
    let c = app.intent("buyer-2", intent_body("offer-a", "4", "USDC", &chain)).await;

    let (status, all) = app.get("/api/payment/derived-destinations", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["data"]["pagination"]["total"], 3);
    assert_eq!(
        addresses(&all),
        [&c, &b, &a].map(|i| i["destination"].as_str().unwrap_or_default().to_owned()),
        "newest first"
    );
    let first = &all["data"]["destinations"][2];
    assert_eq!(first["_id"], a["paymentId"]);
    assert_eq!(first["derivationPath"], "m/44'/60'/0'/0/0");
    assert_eq!(first["status"], "active");
    assert_eq!(first["balance"], Value::Null, "never read yet");

    for (query, expected) in [
        ("buyerId=buyer-2", 1),
        ("sellerOfferId=offer-a", 2),
        ("buyerId=buyer-1&sellerOfferId=offer-a", 1),
        (&*format!("address={}", b["destination"].as_str().unwrap_or_default()), 1),
        ("chainId=31337", 3),
        ("chainId=1", 0),
        ("status=active", 3),
        ("status=swept", 0),
        ("limit=2&page=2", 3),
    ] {
        let (status, list) = app.get(&format!("/api/payment/derived-destinations?{query}"), Some(&admin)).await;
        assert_eq!(status, StatusCode::OK, "{query}: {list}");
        assert_eq!(list["data"]["pagination"]["total"], expected, "{query}");
    }
    let (_, second_page) = app.get("/api/payment/derived-destinations?limit=2&page=2", Some(&admin)).await;
    assert_eq!(addresses(&second_page).len(), 1);
    for bad in ["status=closed", "chainId=x", "address=0x12", "limit=0", "page=0", "color=red"] {
        let (status, body) = app.get(&format!("/api/payment/derived-destinations?{bad}"), Some(&admin)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    assert_eq!(
        app.get("/api/payment/derived-destinations", Some(&app.token("buyer-1", "buyer"))).await.0,
        StatusCode::FORBIDDEN
    );

    // The balance comes from the chain, not from what payscan credited.
    let id = a["paymentId"].as_str().expect("id");
    chain.pay(chain.usdc, address(&a["destination"]), U256::from(2_000_000u64)).await;
    chain.pay(chain.usdc, address(&a["destination"]), U256::from(250_000u64)).await;
    let path = format!("/api/payment/derived-destinations/{id}/balance");
    let (status, refreshed) = app.post(&path, Some(&admin), &serde_json::json!({})).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(refreshed["data"]["balance"], "2250000");
    assert!(refreshed["data"]["balanceRefreshedAt"].is_string());
    let (_, listed) = app
        .get(
            &format!("/api/payment/derived-destinations?address={}", a["destination"].as_str().unwrap_or_default()),
            Some(&admin),
        )
        .await;
    assert_eq!(listed["data"]["destinations"][0]["balance"], "2250000");
    let unknown = "/api/payment/derived-destinations/pay_01JD3Y5Q6P2W8V3N4M5K6J7H8G/balance";
    assert_eq!(app.post(unknown, Some(&admin), &serde_json::json!({})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        app.post("/api/payment/derived-destinations/nope/balance", Some(&admin), &serde_json::json!({})).await.0,
        StatusCode::BAD_REQUEST
    );
    app.stop().await;
});

both_backends!(a_balance_is_read_through_the_next_endpoint_when_the_preferred_one_is_down, |backend| async move {
    use crate::support::proxy::{Faults, RpcProxy};
    let chain = TestChain::start(31337).await;
    // The preferred endpoint answers every request with 503; the second is the chain itself.
    let down = RpcProxy::start(&chain.anvil.url, Faults { down: true, ..Faults::default() }).await;
    let mut options = AppOptions::new(backend, &chain);
    options.rpc.push((chain.chain_id, format!("{}/v3/key-in-path,{}", down.url, chain.anvil.url)));
    let app = TestApp::spawn(options).await;
    let admin = app.admin();
    let intent = app.intent("buyer-1", intent_body("offer-a", "2", "USDC", &chain)).await;
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(1_500_000u64)).await;

    let path = format!("/api/payment/derived-destinations/{}/balance", intent["paymentId"].as_str().expect("id"));
    let (status, refreshed) = app.post(&path, Some(&admin), &serde_json::json!({})).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(refreshed["data"]["balance"], "1500000");
    assert!(!refreshed.to_string().contains("key-in-path"), "{refreshed}");
    app.stop().await;
});

both_backends!(custody_health_reports_the_signer_without_its_keys, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let (status, health) = app.get("/api/payment/derived-destinations/config/health", Some(&app.admin())).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["data"]["signerType"], "build-only");
    assert_eq!(health["data"]["xpubValid"], true);
    assert_eq!(health["data"]["signerHealthy"], true);
    assert_eq!(health["data"]["chainId"], 31337);
    assert!(health["data"]["xpubFingerprint"].as_str().is_some_and(|f| f.starts_with("0x") && f.len() == 10));
    app.stop().await;

    let mut options = AppOptions::new(backend, &chain);
    options.env = vec![
        ("PAYSCAN_SIGNER", "local".to_owned()),
        ("PAYSCAN_RELAYER_KEY", RELAYER_KEY.to_owned()),
        ("PAYSCAN_MASTER_WALLET", "0x000000000000000000000000000000000000dEaD".to_owned()),
    ];
    let app = TestApp::spawn(options).await;
    let (_, health) = app.get("/api/payment/derived-destinations/config/health", Some(&app.admin())).await;
    assert_eq!(health["data"]["signerType"], "local");
    assert_eq!(health["data"]["signerHealthy"], true);
    assert_eq!(health["data"]["relayer"], "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    assert_eq!(health["data"]["payoutWallet"], health["data"]["relayer"]);
    assert_eq!(health["data"]["masterWallet"], "0x000000000000000000000000000000000000dEaD");
    let text = health.to_string();
    assert!(!text.contains("ac0974bec39a17e3") && !text.contains("abandon"), "a secret in {text}");
    app.stop().await;

    // A bad key stops start-up naming the setting, never showing the key.
    let mut options = AppOptions::new(backend, &chain);
    options.env = vec![("PAYSCAN_RELAYER_KEY", "0xdeadbeefnotakey".to_owned())];
    let env = TestEnv::new(&options).await;
    let config = Config::from_sources(&env.env, None).expect("config parses");
    let error = Application::build(config).await.err().map(|e| format!("{e:#}")).unwrap_or_default();
    assert!(error.contains("PAYSCAN_RELAYER_KEY") && !error.contains("deadbeef"), "{error}");
});
