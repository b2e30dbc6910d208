//! Sweeps: a permit token moves without the destination ever holding gas; a plain token gets a
//! top-up first; build-only hands back payloads; nothing under the threshold or below the minimum
//! moves; every sweep is in the ledger and the ledger still matches the chain.

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use payscan::devchain;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::*;

fn local(backend: Backend, chain: &TestChain) -> AppOptions<'_> {
    let mut options = AppOptions::new(backend, chain);
    local_signer(&mut options);
    options
}

async fn sweep(app: &TestApp, intent: &Value, body: Value) -> Value {
    let path = format!("/api/payment/derived-destinations/{}/sweep", intent["paymentId"].as_str().expect("id"));
    let (status, answer) = app.post(&path, Some(&app.admin()), &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["data"]["results"][0].clone()
}

fn master() -> Address {
    MASTER.parse().expect("address")
}

both_backends!(a_permit_token_is_swept_without_gas_at_the_destination, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(local(backend, &chain)).await;
    let intent = completed(&app, &chain, "offer-s1", "2", "USDC").await;
    let destination = address(&intent["destination"]);

    let result = sweep(&app, &intent, json!({})).await;
    assert_eq!(result["status"], "success", "{result}");
    assert_eq!(result["amount"], "2000000");
    assert!(result["txHash"].as_str().is_some_and(|h| h.len() == 66));
    let provider = chain.anvil.provider();
    assert_eq!(devchain::balance_of(provider, chain.usdc, master()).await.expect("balance"), U256::from(2_000_000u64));
    assert_eq!(devchain::balance_of(provider, chain.usdc, destination).await.expect("balance"), U256::ZERO);
    assert_eq!(provider.get_balance(destination).await.expect("eth"), U256::ZERO, "the destination never held gas");

    let (_, swept) = app.get("/api/payment/derived-destinations?status=swept", Some(&app.admin())).await;
    assert_eq!(swept["data"]["pagination"]["total"], 1);
    assert_eq!(swept["data"]["destinations"][0]["sweepCount"], 1);
    assert_eq!(swept["data"]["destinations"][0]["totalSwept"], "2000000");
    let again = sweep(&app, &intent, json!({})).await;
    assert_eq!(again["status"], "skipped", "nothing left: {again}");

    // The ledger follows the money to the master wallet and still matches the chain.
    let (_, ledger) = app.get("/transactions?userId=buyer-1&limit=200", Some(&app.admin())).await;
    let entries = ledger["data"].as_array().expect("entries");
    let swept: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e["kind"] == "swept")
        .map(|e| (e["direction"].as_str().unwrap_or_default(), e["account"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(swept, [("out", intent["destination"].as_str().unwrap_or_default()), ("in", MASTER)]);
    app.stop().await;
});

/// The account keys of [`MNEMONIC`] at m/44'/60'/0', as a wallet exports them.
const ACCOUNT_XPRV: &str =
    "xprv9zDSoJv1aBcjX6sNgEpE2J9K6MV2MUnXuqXsFgzVn3zY2aHyupaFQdYCtdCbNMkvcTdx9FeN49sgXw6mjrhrFLRSzJVnRYPfSCCgjeg4GxY";
const ACCOUNT_XPUB: &str =
    "xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt";

both_backends!(a_local_signer_keyed_by_an_xprv_sweeps_without_a_mnemonic, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = local(backend, &chain);
    // No mnemonic anywhere: the xpub hands out addresses, the xprv signs for them.
    options.xpub = Some(ACCOUNT_XPUB.to_owned());
    options.env.push(("PAYSCAN_XPRV", ACCOUNT_XPRV.to_owned()));
    let app = TestApp::spawn(options).await;
    assert!(!app.env.env.contains_key("PAYSCAN_MNEMONIC"));
    let (status, health) = app.get("/api/payment/derived-destinations/config/health", Some(&app.admin())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (health["data"]["signerType"].as_str(), health["data"]["signerHealthy"].as_bool()),
        (Some("local"), Some(true))
    );
    assert!(!health.to_string().contains(&ACCOUNT_XPRV[4..30]), "the xprv is never returned");

    let intent = completed(&app, &chain, "offer-x1", "3", "USDT").await;
    let result = sweep(&app, &intent, json!({})).await;
    assert_eq!(result["status"], "success", "{result}");
    let provider = chain.anvil.provider();
    assert_eq!(
        devchain::balance_of(provider, chain.usdt, master()).await.expect("balance"),
        U256::from(3_000_000_000_000_000_000u128)
    );
    app.stop().await;
});

both_backends!(a_plain_token_is_topped_up_then_transferred, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(local(backend, &chain)).await;
    let intent = completed(&app, &chain, "offer-s2", "3", "USDT").await;
    let result = sweep(&app, &intent, json!({})).await;
    assert_eq!(result["status"], "success", "{result}");
    assert_eq!(result["amount"], "3000000000000000000");
    let provider = chain.anvil.provider();
    assert_eq!(
        devchain::balance_of(provider, chain.usdt, master()).await.expect("balance"),
        U256::from(3u64) * U256::from(10u64).pow(U256::from(18u64))
    );
    assert_eq!(
        devchain::balance_of(provider, chain.usdt, address(&intent["destination"])).await.expect("balance"),
        U256::ZERO
    );
    app.stop().await;
});

both_backends!(nothing_moves_under_the_threshold_below_the_minimum_or_without_keys, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(local(backend, &chain)).await;
    // Paid but not yet confirmed.
    let early = app.intent("buyer-1", intent_body("offer-s3", "1", "USDC", &chain)).await;
    chain.pay(chain.usdc, address(&early["destination"]), U256::from(1_000_000u64)).await;
    app.wait_for_status(early["paymentId"].as_str().expect("id"), "processing").await;
    let result = sweep(&app, &early, json!({})).await;
    assert_eq!(result["status"], "skipped");
    assert!(result["error"].as_str().is_some_and(|e| e.contains("processing")), "{result}");
    // Completed, but below the minimum.
    chain.mine(THRESHOLD).await;
    app.wait_for_status(early["paymentId"].as_str().expect("id"), "completed").await;
    let dust = sweep(&app, &early, json!({ "minSweepAmount": "5" })).await;
    assert_eq!(dust["status"], "skipped", "{dust}");
    let path = format!("/api/payment/derived-destinations/{}/sweep", early["paymentId"].as_str().expect("id"));
    for bad in [json!({ "minSweepAmount": "abc" }), json!({ "chainId": 1 }), json!({ "color": 1 })] {
        assert_eq!(app.post(&path, Some(&app.admin()), &bad).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(app.post(&path, Some(&app.token("buyer-1", "buyer")), &json!({})).await.0, StatusCode::FORBIDDEN);
    let unknown = "/api/payment/derived-destinations/pay_01JD3Y5Q6P2W8V3N4M5K6J7H8G/sweep";
    assert_eq!(app.post(unknown, Some(&app.admin()), &json!({})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(devchain::balance_of(chain.anvil.provider(), chain.usdc, master()).await.expect("balance"), U256::ZERO);
    app.stop().await;

    // build-only: payloads for an external signer, and nothing sent. A chain of its own: a new
    // database would hand out index 0, whose address already holds the dust above.
    let chain = TestChain::start(31338).await;
    let mut options = AppOptions::new(backend, &chain);
    options.env = vec![("PAYSCAN_MASTER_WALLET", MASTER.to_owned())];
    let app = TestApp::spawn(options).await;
    let permit = completed(&app, &chain, "offer-s4", "2", "USDC").await;
    let plain = completed(&app, &chain, "offer-s5", "2", "USDT").await;
    let built = sweep(&app, &permit, json!({})).await;
    assert_eq!(built["status"], "built", "{built}");
    let typed = &built["payload"]["typedData"];
    assert_eq!(typed["primaryType"], "Permit");
    assert_eq!(typed["domain"]["name"], "USD Coin");
    assert_eq!(typed["message"]["owner"], permit["destination"]);
    assert_eq!(typed["message"]["value"], "2000000");
    let built = sweep(&app, &plain, json!({})).await;
    assert_eq!(built["status"], "built");
    assert_eq!(built["payload"]["transactions"].as_array().map(Vec::len), Some(2));
    let top_up: U256 = built["payload"]["transactions"][0]["value"].as_str().expect("wei").parse().expect("number");
    assert!(top_up > U256::ZERO, "a real amount of gas, not a placeholder");
    assert_eq!(devchain::balance_of(chain.anvil.provider(), chain.usdc, master()).await.expect("balance"), U256::ZERO);
    app.stop().await;
});

both_backends!(a_sweep_of_all_destinations_honours_its_filters, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(local(backend, &chain)).await;
    let usdc = completed(&app, &chain, "offer-a1", "1", "USDC").await;
    let usdt = completed(&app, &chain, "offer-a2", "1", "USDT").await;
    let all = "/api/payment/derived-destinations/sweep";
    let (_, none) = app.post(all, Some(&app.admin()), &json!({ "chainId": 999 })).await;
    assert_eq!(none["data"]["results"], json!([]));
    let (status, only_usdc) = app.post(all, Some(&app.admin()), &json!({ "tokenSymbol": "usdc" })).await;
    assert_eq!(status, StatusCode::OK, "{only_usdc}");
    let results = only_usdc["data"]["results"].as_array().expect("results");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["destinationId"], usdc["paymentId"]);
    assert_eq!(results[0]["status"], "success");
    let (_, rest) = app.post(all, Some(&app.admin()), &json!({})).await;
    let statuses: Vec<(Value, Value)> = rest["data"]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| (r["destinationId"].clone(), r["status"].clone()))
        .collect();
    assert_eq!(
        statuses,
        [(usdc["paymentId"].clone(), json!("skipped")), (usdt["paymentId"].clone(), json!("success"))]
    );
    app.stop().await;
});

both_backends!(the_sweep_cron_starts_sweeps_and_stops, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = local(backend, &chain);
    options.env.push(("PAYSCAN_SWEEP_INTERVAL", "200ms".to_owned()));
    let app = TestApp::spawn(options).await;
    let admin = app.admin();
    let (status, idle) = app.get("/api/payment/derived-destinations/cron/status", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{idle}");
    assert_eq!(idle["data"]["running"], false);
    assert_eq!(idle["data"]["intervalSeconds"], 0.2);

    let first = completed(&app, &chain, "offer-c1", "1", "USDC").await;
    let (_, started) = app.post("/api/payment/derived-destinations/cron/start", Some(&admin), &json!({})).await;
    assert_eq!(started["data"]["running"], true);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while devchain::balance_of(chain.anvil.provider(), chain.usdc, master()).await.expect("balance")
        < U256::from(1_000_000u64)
    {
        assert!(std::time::Instant::now() < deadline, "the cron never swept");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The run is recorded when it ends, a moment after its sweep lands.
    loop {
        let (_, status) = app.get("/api/payment/derived-destinations/cron/status", Some(&admin)).await;
        if status["data"]["lastRun"]["at"].is_string() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no run recorded: {status}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let (_, stopped) = app.post("/api/payment/derived-destinations/cron/stop", Some(&admin), &json!({})).await;
    assert_eq!(stopped["data"]["running"], false);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let second = completed(&app, &chain, "offer-c2", "2", "USDC").await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(
        devchain::balance_of(chain.anvil.provider(), chain.usdc, address(&second["destination"]))
            .await
            .expect("balance"),
        U256::from(2_000_000u64),
        "a stopped cron sweeps nothing"
    );
    assert_eq!(
        app.post("/api/payment/derived-destinations/cron/start", Some(&app.token("b", "buyer")), &json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    let swept_first = devchain::balance_of(chain.anvil.provider(), chain.usdc, address(&first["destination"])).await;
    assert_eq!(swept_first.expect("balance"), U256::ZERO, "the running cron emptied the first destination");
    app.stop().await;
});

both_backends!(a_sweep_whose_gas_costs_more_than_allowed_is_skipped, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = local(backend, &chain);
    // anvil's fees make any sweep cost far more than one wei.
    options.env.push(("PAYSCAN_SWEEP_MAX_GAS_COST", "0.000000000000000001".to_owned()));
    let app = TestApp::spawn(options).await;
    let intent = completed(&app, &chain, "offer-g1", "2", "USDT").await;
    let result = sweep(&app, &intent, json!({})).await;
    assert_eq!(result["status"], "skipped", "{result}");
    assert!(result["error"].as_str().is_some_and(|e| e.contains("PAYSCAN_SWEEP_MAX_GAS_COST")), "{result}");
    let provider = chain.anvil.provider();
    assert_eq!(provider.get_balance(address(&intent["destination"])).await.expect("eth"), U256::ZERO, "no top-up");
    assert_eq!(
        devchain::balance_of(provider, chain.usdt, address(&intent["destination"])).await.expect("balance"),
        U256::from(2u64) * U256::from(10u64).pow(U256::from(18u64))
    );
    app.stop().await;
});

both_backends!(a_sweep_recorded_by_several_instances_at_once_is_booked_once, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(local(backend, &chain)).await;
    let intent = completed(&app, &chain, "offer-d1", "2", "USDC").await;
    let id: payscan_core::PaymentId = intent["paymentId"].as_str().expect("id").parse().expect("payment id");
    // Each its own pool, as separate instances would be.
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(payscan_core::store::Store::connect(&app.env.db.url).await.expect("store"));
    }
    let payment = stores[0].payment(&id).await.expect("read").expect("payment");
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let mut running = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (store, payment, barrier) = (stores[i % 4].clone(), payment.clone(), barrier.clone());
        running.spawn(async move {
            barrier.wait().await;
            let hash = alloy::primitives::B256::repeat_byte(0x5e);
            store.record_sweep(&payment, 0, master(), payscan_core::BaseUnits(U256::from(2_000_000u64)), hash, 1).await
        });
    }
    while let Some(done) = running.join_next().await {
        done.expect("task").expect("record_sweep");
    }
    let destination = stores[0].destination(&id).await.expect("read").expect("destination");
    assert_eq!(destination.sweep_count, 1, "one sweep");
    assert_eq!(destination.total_swept, payscan_core::BaseUnits(U256::from(2_000_000u64)));
    let (_, ledger) = app.get("/transactions?userId=buyer-1&limit=200", Some(&app.admin())).await;
    let swept = ledger["data"].as_array().expect("entries").iter().filter(|e| e["kind"] == "swept").count();
    assert_eq!(swept, 2, "one pair of ledger rows (out of the destination, into the master): {ledger}");
    app.stop().await;
});
