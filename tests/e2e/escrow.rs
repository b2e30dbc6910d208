//! Escrow: a completed payment is released to its seller or refunded to its buyer from the payout
//! wallet, at most once; with the build-only signer the unsigned transfer comes back and the
//! confirm checks the broadcast hash on chain before anything changes.

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::TransactionRequest;
use payscan::devchain;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::proxy::{Faults, RpcProxy};
use crate::support::*;

const SELLER_WALLET: &str = "0x000000000000000000000000000000000000c0de";

async fn usdc(chain: &TestChain, owner: Address) -> U256 {
    devchain::balance_of(chain.anvil.provider(), chain.usdc, owner).await.expect("balance")
}

fn id(intent: &Value) -> &str {
    intent["paymentId"].as_str().expect("id")
}

both_backends!(a_release_pays_the_seller_once_and_a_refund_returns_to_the_payer, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    local_signer(&mut options);
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;
    let admin = app.admin();
    let wallet: Address = PAYOUT_WALLET.parse().expect("address");
    chain.fund(chain.usdc, wallet, U256::from(10_000_000u64)).await;

    // Not yet funded: nothing to release.
    let early = app.intent("buyer-1", intent_body("offer-e0", "1", "USDC", &chain)).await;
    let (status, refused) =
        app.post(&format!("/api/payment/{}/release", id(&early)), Some(&admin), &json!({ "to": SELLER_WALLET })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "INVALID_STATE");

    let sold = completed(&app, &chain, "offer-e1", "2", "USDC").await;
    let path = format!("/api/payment/{}/release", id(&sold));
    let buyer = app.token("buyer-1", "buyer");
    assert_eq!(app.post(&path, Some(&buyer), &json!({})).await.0, StatusCode::FORBIDDEN);
    // The seller's wallet must be known.
    let (status, unknown) = app.post(&path, Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{unknown}");
    assert_eq!(unknown["error"]["code"], "PAYOUT_ADDRESS_MISSING");

    let (status, released) = app.post(&path, Some(&admin), &json!({ "to": SELLER_WALLET })).await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["data"]["status"], "released");
    assert_eq!(released["data"]["escrowState"], "released");
    let payout = &released["data"]["settlement"]["payout"];
    assert_eq!(payout["status"], "COMPLETED", "{released}");
    assert_eq!(payout["kind"], "release");
    assert_eq!(payout["amountBaseUnits"], "2000000");
    assert_eq!(usdc(&chain, SELLER_WALLET.parse().expect("address")).await, U256::from(2_000_000u64));
    let event = receiver.wait_for(id(&sold), "payment.released").await;
    assert_eq!(event.body["status"], "released");
    assert_eq!(event.body["settlement"]["txHash"], payout["txHash"]);
    assert_eq!(app.payment(id(&sold)).await["status"], "released");

    // At most once: neither a second release nor a refund.
    for action in ["release", "refund"] {
        let (status, again) = app
            .post(&format!("/api/payment/{}/{action}", id(&sold)), Some(&admin), &json!({ "to": SELLER_WALLET }))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{action}: {again}");
        assert_eq!(again["error"]["code"], "DUPLICATE_PAYOUT");
    }
    assert_eq!(usdc(&chain, SELLER_WALLET.parse().expect("address")).await, U256::from(2_000_000u64));

    // A refund goes back to the address that paid unless told otherwise.
    let returned = completed(&app, &chain, "offer-e2", "3", "USDC").await;
    let before = usdc(&chain, chain.payer).await;
    let (status, refunded) =
        app.post(&format!("/api/payment/{}/refund", id(&returned)), Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{refunded}");
    assert_eq!(refunded["data"]["status"], "refunded");
    assert_eq!(refunded["data"]["escrowState"], "refunded");
    assert_eq!(usdc(&chain, chain.payer).await - before, U256::from(3_000_000u64));
    receiver.wait_for(id(&returned), "payment.refunded").await;

    // The ledger: the seller's release, the buyer's refund, out of the payout wallet; and the
    // payout wallet's balance is what was put in minus what the ledger says left.
    let (_, seller_ledger) = app.get("/transactions?userId=seller-1", Some(&admin)).await;
    let (_, buyer_ledger) = app.get("/transactions?userId=buyer-1&limit=200", Some(&admin)).await;
    let out_of_wallet = |ledger: &Value, kind: &str| -> Vec<String> {
        ledger["data"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["kind"] == kind && e["account"] == PAYOUT_WALLET && e["direction"] == "out")
            .map(|e| e["amountBaseUnits"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(out_of_wallet(&seller_ledger, "released"), ["2000000"]);
    assert_eq!(out_of_wallet(&buyer_ledger, "refunded"), ["3000000"]);
    assert_eq!(usdc(&chain, wallet).await, U256::from(10_000_000u64 - 2_000_000 - 3_000_000));
    app.stop().await;
});

both_backends!(a_built_release_is_confirmed_only_by_a_transaction_that_pays_the_seller, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    options.env = vec![("PAYSCAN_MASTER_WALLET", MASTER.to_owned())];
    let app = TestApp::spawn(options).await;
    let admin = app.admin();
    let intent = app.intent("buyer-1", intent_body("offer-b1", "2", "USDC", &chain)).await;
    let paid_in = chain.pay(chain.usdc, address(&intent["destination"]), U256::from(2_000_000u64)).await;
    chain.mine(THRESHOLD).await;
    app.wait_for_status(id(&intent), "completed").await;

    let path = format!("/api/payment/{}/release", id(&intent));
    let (status, built) = app.post(&path, Some(&admin), &json!({ "to": SELLER_WALLET })).await;
    assert_eq!(status, StatusCode::OK, "{built}");
    assert_eq!(built["data"]["status"], "completed", "nothing moved yet");
    let settlement = &built["data"]["settlement"];
    assert_eq!(settlement["payout"]["status"], "BUILT");
    assert_eq!(settlement["payload"]["to"], chain.usdc.to_checksum(None));
    assert_eq!(settlement["payload"]["from"], MASTER);
    // Asking again hands back the same payload; a refund is refused meanwhile.
    let (_, again) = app.post(&path, Some(&admin), &json!({ "to": SELLER_WALLET })).await;
    assert_eq!(again["data"]["settlement"]["payout"]["payoutId"], settlement["payout"]["payoutId"]);
    let refund = format!("/api/payment/{}/refund", id(&intent));
    assert_eq!(app.post(&refund, Some(&admin), &json!({})).await.0, StatusCode::CONFLICT);

    let confirm = format!("{path}/confirm");
    let (status, missing) = app.post(&confirm, Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{missing}");
    assert_eq!(app.post(&confirm, Some(&admin), &json!({ "txHash": "0x12" })).await.0, StatusCode::BAD_REQUEST);
    // A real, successful transaction that does not pay the seller proves nothing.
    let (status, wrong) = app.post(&confirm, Some(&admin), &json!({ "txHash": paid_in })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{wrong}");
    assert_eq!(wrong["error"]["code"], "TX_CHECK_FAILED");
    let (status, unknown) = app.post(&confirm, Some(&admin), &json!({ "txHash": B256::repeat_byte(7) })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{unknown}");
    assert_eq!(app.payment(id(&intent)).await["status"], "completed");

    // The external signer (here the deployer, holding the treasury) sends the payload.
    let provider = chain.anvil.provider();
    chain.fund(chain.usdc, chain.deployer, U256::from(2_000_000u64)).await;
    let payload = &settlement["payload"];
    let request = TransactionRequest::default()
        .from(chain.deployer)
        .to(address(&payload["to"]))
        .input(payload["data"].as_str().expect("data").parse::<alloy::primitives::Bytes>().expect("hex").into());
    let (sent, _) = devchain::send(provider, request).await.expect("send the built release");
    let (status, confirmed) = app.post(&confirm, Some(&admin), &json!({ "txHash": sent })).await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    assert_eq!(confirmed["data"]["status"], "released");
    assert_eq!(confirmed["data"]["settlement"]["payout"]["status"], "COMPLETED");
    // The same hash again is fine; another is not.
    assert_eq!(app.post(&confirm, Some(&admin), &json!({ "txHash": sent })).await.0, StatusCode::OK);
    let (status, other) = app.post(&confirm, Some(&admin), &json!({ "txHash": paid_in })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{other}");
    assert_eq!(usdc(&chain, SELLER_WALLET.parse().expect("address")).await, U256::from(2_000_000u64));
    let (_, ledger) = app.get("/transactions?userId=seller-1", Some(&admin)).await;
    let released: Vec<&Value> =
        ledger["data"].as_array().expect("entries").iter().filter(|e| e["kind"] == "released").collect();
    assert_eq!(released.len(), 1, "{ledger}");
    assert_eq!(released[0]["account"], chain.deployer.to_checksum(None), "the wallet that paid");
    app.stop().await;
});

async fn put(app: &TestApp, path: &str, body: &Value) -> (StatusCode, Value) {
    let response =
        app.http.put(format!("{}{path}", app.url)).bearer_auth(app.admin()).json(body).send().await.expect("PUT");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

both_backends!(a_release_without_to_pays_the_admin_set_wallet_never_the_buyers_metadata, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    local_signer(&mut options);
    let app = TestApp::spawn(options).await;
    let admin = app.admin();
    chain.fund(chain.usdc, PAYOUT_WALLET.parse().expect("address"), U256::from(10_000_000u64)).await;

    // A hostile buyer names their own address as the seller's wallet.
    let hostile = chain.payer;
    let mut body = intent_body("offer-h1", "2", "USDC", &chain);
    body["metadata"] = json!({ "sellerWallet": hostile, "sellerAddress": hostile });
    let intent = app.intent("buyer-1", body).await;
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(2_000_000u64)).await;
    chain.mine(THRESHOLD).await;
    app.wait_for_status(id(&intent), "completed").await;
    let hostile_before = usdc(&chain, hostile).await;

    let path = format!("/api/payment/{}/release", id(&intent));
    let (status, refused) = app.post(&path, Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "PAYOUT_ADDRESS_MISSING");
    let zero = json!({ "to": "0x0000000000000000000000000000000000000000" });
    let (status, burned) = app.post(&path, Some(&admin), &zero).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "never to the zero address: {burned}");
    assert_eq!(app.payment(id(&intent)).await["status"], "completed", "nothing moved");

    // The admin sets the seller's wallet on the store; bad ones are refused.
    let store = "/api/admin/payment-config/stores/seller-1";
    for bad in ["0x12", "0x0000000000000000000000000000000000000000"] {
        let (status, body) = put(&app, store, &json!({ "payoutAddress": bad })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (status, saved) = put(&app, store, &json!({ "payoutAddress": SELLER_WALLET })).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (_, shown) = app.get(store, Some(&admin)).await;
    let seller: Address = SELLER_WALLET.parse().expect("address");
    assert_eq!(shown["data"]["payoutAddress"], seller.to_checksum(None), "{shown}");

    let (status, released) = app.post(&path, Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["data"]["status"], "released", "{released}");
    assert_eq!(
        released["data"]["settlement"]["payout"]["destination"]["account"],
        seller.to_checksum(None),
        "{released}"
    );
    assert_eq!(usdc(&chain, seller).await, U256::from(2_000_000u64));
    assert_eq!(usdc(&chain, hostile).await, hostile_before, "the buyer's address received nothing");
    app.stop().await;
});

both_backends!(a_repointed_intent_keeps_the_metadata_an_admin_wrote, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let mut body = intent_body("offer-m1", "2", "USDC", &chain);
    body["metadata"] = json!({ "note": "buyer", "orderRef": "o-1" });
    let intent = app.intent("buyer-1", body).await;
    let edit = app
        .http
        .put(format!("{}/api/payment/{}", app.url, id(&intent)))
        .bearer_auth(app.admin())
        .json(&json!({ "metadata": { "note": "checked by support", "sellerWallet": SELLER_WALLET } }))
        .send()
        .await
        .expect("PUT");
    assert_eq!(edit.status(), StatusCode::OK);

    // The buyer re-points the payment at another token, with metadata of their own.
    let mut again = intent_body("offer-m1", "2", "USDT", &chain);
    again["metadata"] = json!({ "note": "mine now", "sellerWallet": chain.payer, "gift": true });
    let repointed = app.intent("buyer-1", again).await;
    assert_eq!(repointed["paymentId"], intent["paymentId"]);
    assert_eq!(repointed["repointed"], true, "{repointed}");
    let metadata = &app.payment(id(&intent)).await["metadata"];
    assert_eq!(metadata["note"], "checked by support", "{metadata}");
    assert_eq!(metadata["sellerWallet"], SELLER_WALLET, "{metadata}");
    assert_eq!(metadata["orderRef"], "o-1", "merged, not replaced: {metadata}");
    assert_eq!(metadata["gift"], true, "{metadata}");
    app.stop().await;
});

fn payout_body(chain: &TestChain, reference: &str) -> Value {
    json!({
        "userId": "seller-7",
        "amount": "1",
        "token": "USDC",
        "chainId": chain.chain_id,
        "destination": { "type": "address", "account": "0x000000000000000000000000000000000000d00d" },
        "reference": reference,
    })
}

both_backends!(a_reorg_under_an_inflight_release_sends_it_to_review_and_the_queue_goes_on, |backend| async move {
    let chain = TestChain::start(31337).await;
    let proxy = RpcProxy::start(&chain.anvil.url, Faults::default()).await;
    let mut options = AppOptions::new(backend, &chain);
    local_signer(&mut options);
    options.rpc = vec![(chain.chain_id, proxy.url.clone())];
    let app = TestApp::spawn(options).await;
    let admin = app.admin();
    chain.fund(chain.usdc, PAYOUT_WALLET.parse().expect("address"), U256::from(10_000_000u64)).await;
    chain.mine(2).await;
    let sold = completed(&app, &chain, "offer-r1", "2", "USDC").await;

    // The release is signed and recorded, but no broadcast reaches the node yet.
    proxy.set(|f| f.fail_send = 1.0);
    let path = format!("/api/payment/{}/release", id(&sold));
    let release = {
        let (http, url, token) = (app.http.clone(), app.url.clone(), admin.clone());
        tokio::spawn(async move {
            let response = http
                .post(format!("{url}{path}"))
                .bearer_auth(token)
                .json(&json!({ "to": SELLER_WALLET }))
                .send()
                .await
                .expect("release");
            let status = response.status();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while proxy.calls("eth_sendRawTransaction") == 0 {
        assert!(std::time::Instant::now() < deadline, "the release was never sent");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A reorg takes the payment's money back while the release is in flight; then it lands.
    chain.anvil.reorg(THRESHOLD + 1, &[]).await.expect("anvil_reorg");
    app.wait_for_status(id(&sold), "pending").await;
    proxy.set(|f| f.fail_send = 0.0);
    let (status, answer) = release.await.expect("task");
    assert!(status == StatusCode::OK, "the release answers with its payout: {status} {answer}");
    let payout_id = answer["data"]["settlement"]["payout"]["payoutId"].as_str().expect("payout id").to_owned();
    let review = app.wait_for_payout(&payout_id, "MANUAL_REVIEW").await;
    assert!(review["lastError"].as_str().is_some_and(|e| e.contains("was mined")), "{review}");
    assert_eq!(app.payment(id(&sold)).await["status"], "pending", "not released: its money is gone");
    // The mined release is neither sent again nor given up.
    for action in ["retry", "cancel"] {
        let (status, refused) = app.post(&format!("/payouts/{payout_id}/{action}"), Some(&admin), &json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{action}: {refused}");
    }
    assert_eq!(usdc(&chain, SELLER_WALLET.parse().expect("address")).await, U256::from(2_000_000u64), "sent once");

    // The queue goes on: another payout completes and the run answers.
    let (status, created) = app.post("/payouts", Some(&admin), &payout_body(&chain, "after-reorg")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, run) = app.post("/admin/payouts/run", Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["data"]["processed"], 1, "{run}");
    let (status, again) = app.post("/admin/payouts/run", Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    app.stop().await;
});

both_backends!(a_release_retried_after_a_reorg_took_the_money_back_is_never_signed, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    local_signer(&mut options);
    // Retries often enough that one comes due once the wallet is funded.
    options.env.push(("PAYSCAN_PAYOUT_RETRY", vec!["500ms"; 20].join(",")));
    let app = TestApp::spawn(options).await;
    let admin = app.admin();
    let sold = completed(&app, &chain, "offer-r2", "2", "USDC").await;

    // The payout wallet holds no USDC yet: the first attempt fails and a retry is scheduled.
    let path = format!("/api/payment/{}/release", id(&sold));
    let (status, answer) = app.post(&path, Some(&admin), &json!({ "to": SELLER_WALLET })).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let payout = &answer["data"]["settlement"]["payout"];
    assert_eq!(payout["status"], "FAILED", "{answer}");
    let payout_id = payout["payoutId"].as_str().expect("payout id").to_owned();

    // A reorg takes the payment's money back; the wallet is funded; the retry comes due.
    chain.anvil.reorg(THRESHOLD + 1, &[]).await.expect("anvil_reorg");
    app.wait_for_status(id(&sold), "pending").await;
    chain.fund(chain.usdc, PAYOUT_WALLET.parse().expect("address"), U256::from(10_000_000u64)).await;
    let review = app.wait_for_payout(&payout_id, "MANUAL_REVIEW").await;
    assert!(review["lastError"].as_str().is_some_and(|e| e.contains("nothing was sent")), "{review}");
    assert_eq!(usdc(&chain, SELLER_WALLET.parse().expect("address")).await, U256::ZERO, "no release signed");

    let (status, created) = app.post("/payouts", Some(&admin), &payout_body(&chain, "after-reorg-2")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, run) = app.post("/admin/payouts/run", Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["data"]["processed"], 1, "{run}");
    app.stop().await;
});
