//! Payouts: queued, run in batches, retried on the schedule into manual review when the payout
//! wallet is short, paid by an admin's retry once it is funded; duplicates, minimums, a wallet
//! without gas and callers who are not admins are refused.

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use payscan::devchain;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::*;

const SELLER_WALLET: &str = "0x000000000000000000000000000000000000c0de";

fn options(backend: Backend, chain: &TestChain) -> AppOptions<'_> {
    let mut options = AppOptions::new(backend, chain);
    local_signer(&mut options);
    options.env.push(("PAYSCAN_PAYOUT_RETRY", "200ms,200ms,200ms".to_owned()));
    options.env.push(("PAYSCAN_PAYOUT_MIN", "USDC=1,USDT=1".to_owned()));
    options
}

fn body(chain: &TestChain, reference: &str, amount: &str) -> Value {
    json!({
        "userId": "seller-7",
        "amount": amount,
        "token": "USDC",
        "chainId": chain.chain_id,
        "destination": { "type": "address", "account": SELLER_WALLET },
        "reference": reference,
    })
}

fn seller() -> Address {
    SELLER_WALLET.parse().expect("address")
}

fn wallet() -> Address {
    PAYOUT_WALLET.parse().expect("address")
}

async fn usdc(chain: &TestChain, owner: Address) -> U256 {
    devchain::balance_of(chain.anvil.provider(), chain.usdc, owner).await.expect("balance")
}

both_backends!(a_short_wallet_retries_into_manual_review_then_an_admin_retry_pays, |backend| async move {
    let chain = TestChain::start(31337).await;
    let (app, receiver) = TestApp::spawn_with_receiver(options(backend, &chain)).await;
    let admin = app.admin();

    let (status, created) = app.post("/payouts", Some(&admin), &body(&chain, "ref-1", "5")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["data"]["status"], "QUEUED");
    assert_eq!(created["data"]["amountBaseUnits"], "5000000");
    let id = created["data"]["payoutId"].as_str().expect("id").to_owned();

    let (status, run) = app.post("/admin/payouts/run", Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["data"], json!({ "processed": 0, "failed": 1, "queued": 0, "jobIds": [id] }));

    // The worker retries on the schedule, then hands it to a person.
    let review = app.wait_for_payout(&id, "MANUAL_REVIEW").await;
    assert_eq!(review["attempts"], 4);
    assert!(review["lastError"].as_str().is_some_and(|e| e.contains("holds 0 USDC")), "{review}");
    receiver.wait_for(&id, "payout.manual_review").await;
    let events: Vec<(String, Value)> =
        receiver.events_for(&id).into_iter().map(|e| (e.event_type, e.body["status"].clone())).collect();
    let expected: Vec<(String, Value)> = [
        ("payout.queued", "QUEUED"),
        ("payout.processing", "PROCESSING"),
        ("payout.failed", "FAILED"),
        ("payout.processing", "RETRY_1"),
        ("payout.failed", "FAILED"),
        ("payout.processing", "RETRY_2"),
        ("payout.failed", "FAILED"),
        ("payout.processing", "RETRY_3"),
        ("payout.manual_review", "MANUAL_REVIEW"),
    ]
    .into_iter()
    .map(|(t, s)| (t.to_owned(), json!(s)))
    .collect();
    assert_eq!(events, expected);
    assert_eq!(receiver.unverified(), 0);
    let provider = chain.anvil.provider();
    assert_eq!(provider.get_transaction_count(wallet()).await.expect("nonce"), 0, "a short wallet sends nothing");

    // Funded, an admin's retry pays it.
    chain.fund(chain.usdc, wallet(), U256::from(5_000_000u64)).await;
    let (status, retried) = app.post(&format!("/payouts/{id}/retry"), Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(retried["data"]["status"], "COMPLETED", "{retried}");
    assert!(retried["data"]["txHash"].as_str().is_some_and(|h| h.len() == 66));
    assert_eq!(usdc(&chain, seller()).await, U256::from(5_000_000u64));
    receiver.wait_for(&id, "payout.completed").await;

    // The ledger has the payout, and it matches the chain: 5 in, 5 out, 0 left.
    let seller_token = app.token("seller-7", "seller");
    let (status, ledger) = app.get("/transactions?userId=seller-7", Some(&seller_token)).await;
    assert_eq!(status, StatusCode::OK, "{ledger}");
    let paid: Vec<&Value> =
        ledger["data"].as_array().expect("entries").iter().filter(|e| e["kind"] == "paid_out").collect();
    assert_eq!(paid.len(), 1, "{ledger}");
    assert_eq!(paid[0]["amountBaseUnits"], "5000000");
    assert_eq!(paid[0]["direction"], "out");
    assert_eq!(paid[0]["account"], PAYOUT_WALLET);
    assert_eq!(paid[0]["payoutId"], id.as_str());
    assert_eq!(usdc(&chain, wallet()).await, U256::ZERO);

    // Final: neither retried nor cancelled, and read by its user.
    for action in ["retry", "cancel"] {
        let (status, refused) = app.post(&format!("/payouts/{id}/{action}"), Some(&admin), &json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{action}: {refused}");
        assert_eq!(refused["error"]["code"], "INVALID_STATE");
    }
    let (status, mine) = app.get(&format!("/payouts/{id}"), Some(&seller_token)).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["data"]["status"], "COMPLETED");
    app.stop().await;
});

both_backends!(duplicates_minimums_and_strangers_are_refused_and_a_cancelled_payout_never_pays, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(options(backend, &chain)).await;
    let admin = app.admin();
    chain.fund(chain.usdc, wallet(), U256::from(100_000_000u64)).await;

    let mut first = body(&chain, "ref-a", "2");
    first["contractId"] = json!("contract_45ab");
    first["reason"] = json!("NET_PAYMENT");
    let (status, created) = app.post("/payouts", Some(&admin), &first).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["payoutId"].as_str().expect("id").to_owned();

    // The same reference, or the same contract and reason under another reference.
    let mut same_contract = first.clone();
    same_contract["reference"] = json!("ref-b");
    for duplicate in [first.clone(), same_contract] {
        let (status, refused) = app.post("/payouts", Some(&admin), &duplicate).await;
        assert_eq!(status, StatusCode::CONFLICT, "{refused}");
        assert_eq!(refused["error"]["code"], "DUPLICATE_PAYOUT");
        assert!(refused["error"]["message"].as_str().is_some_and(|m| m.contains(&id)), "{refused}");
    }
    let (status, small) = app.post("/payouts", Some(&admin), &body(&chain, "ref-c", "0.5")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{small}");
    assert_eq!(small["error"]["code"], "AMOUNT_BELOW_MINIMUM");

    let mut mpesa = body(&chain, "ref-d", "2");
    mpesa["destination"] = json!({ "type": "mpesa", "account": "+255700123456" });
    let mut no_reference = body(&chain, "ref-e", "2");
    no_reference.as_object_mut().expect("object").remove("reference");
    let mut bad_token = body(&chain, "ref-f", "2");
    bad_token["token"] = json!("DOGE");
    let mut bad_account = body(&chain, "ref-g", "2");
    bad_account["destination"]["account"] = json!("0x1234");
    for bad in [mpesa, no_reference, bad_token, bad_account, body(&chain, "ref-h", "abc"), body(&chain, "ref i", "2")] {
        let (status, refused) = app.post("/payouts", Some(&admin), &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {refused}");
        assert_eq!(refused["success"], false);
    }

    // Only admins act on payouts; a payout's user may read it, nobody else.
    let buyer = app.token("buyer-1", "buyer");
    for path in [
        "/payouts".to_owned(),
        "/admin/payouts/run".to_owned(),
        format!("/payouts/{id}/retry"),
        format!("/payouts/{id}/cancel"),
    ] {
        let (status, _) = app.post(&path, Some(&buyer), &body(&chain, "ref-x", "2")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(app.post(&path, None, &json!({})).await.0, StatusCode::UNAUTHORIZED, "{path}");
    }
    assert_eq!(app.get(&format!("/payouts/{id}"), Some(&buyer)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/payouts/po_01JD3Y5Q6P2W8V3N4M5K6J7H8G", Some(&admin)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/payouts/nope", Some(&admin)).await.0, StatusCode::BAD_REQUEST);

    // A cancelled payout is never paid; the next one is.
    let (status, cancelled) = app.post(&format!("/payouts/{id}/cancel"), Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["data"]["status"], "CANCELLED");
    let (_, second) = app.post("/payouts", Some(&admin), &body(&chain, "ref-j", "3")).await;
    let (_, run) = app.post("/admin/payouts/run", Some(&admin), &json!({})).await;
    assert_eq!(run["data"]["processed"], 1, "{run}");
    assert_eq!(run["data"]["jobIds"], json!([second["data"]["payoutId"]]));
    assert_eq!(usdc(&chain, seller()).await, U256::from(3_000_000u64));
    let (_, again) = app.post("/admin/payouts/run", Some(&admin), &json!({})).await;
    assert_eq!(again["data"], json!({ "processed": 0, "failed": 0, "queued": 0, "jobIds": [] }));
    assert_eq!(usdc(&chain, seller()).await, U256::from(3_000_000u64), "a run pays each payout once");
    app.stop().await;

    // A payout wallet without gas cannot take payouts at all.
    let mut broke = options(backend, &chain);
    broke
        .env
        .push(("PAYSCAN_PAYOUT_KEY", "0x0000000000000000000000000000000000000000000000000000000000000001".to_owned()));
    let app = TestApp::spawn(broke).await;
    let (status, refused) = app.post("/payouts", Some(&app.admin()), &body(&chain, "ref-k", "2")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{refused}");
    assert_eq!(refused["error"]["code"], "RELAYER_UNAVAILABLE");
    app.stop().await;
});

both_backends!(a_connection_lost_mid_answer_costs_a_payout_no_attempt, |backend| async move {
    use crate::support::proxy::{Faults, RpcProxy};
    let chain = TestChain::start(31337).await;
    let proxy = RpcProxy::start(&chain.anvil.url, Faults::default()).await;
    let mut options = options(backend, &chain);
    options.rpc.push((chain.chain_id, proxy.url.clone()));
    let app = TestApp::spawn(options).await;
    let admin = app.admin();
    chain.fund(chain.usdc, wallet(), U256::from(5_000_000u64)).await;
    let (status, created) = app.post("/payouts", Some(&admin), &body(&chain, "ref-drop", "5")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["payoutId"].as_str().expect("id").to_owned();

    // The sender's nonce read loses its connection twice: custody asks again, as it may for
    // any read and for a broadcast of bytes already signed.
    proxy.set(|f| f.drop_next = Some(("eth_getTransactionCount", 2)));
    let (status, run) = app.post("/admin/payouts/run", Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["data"]["processed"], 1, "{run}");
    assert_eq!(run["data"]["failed"], 0, "{run}");
    let payout = app.wait_for_payout(&id, "COMPLETED").await;
    assert_eq!(payout["attempts"], 1, "{payout}");
    assert!(proxy.faulted() >= 2, "the connections were dropped");
    assert_eq!(usdc(&chain, seller()).await, U256::from(5_000_000u64));
    app.stop().await;
});

both_backends!(a_payout_fails_over_from_a_down_endpoint_and_pays_once, |backend| async move {
    use crate::support::proxy::{Faults, RpcProxy};
    let chain = TestChain::start(31337).await;
    // The preferred endpoint answers every request with 503, a node down behind its load balancer;
    // the second is the chain itself.
    let down = RpcProxy::start(&chain.anvil.url, Faults { down: true, ..Faults::default() }).await;
    let mut options = options(backend, &chain);
    options.rpc.push((chain.chain_id, format!("{}/v3/key-in-path,{}", down.url, chain.anvil.url)));
    let app = TestApp::spawn(options).await;
    let admin = app.admin();
    chain.fund(chain.usdc, wallet(), U256::from(5_000_000u64)).await;
    let (status, created) = app.post("/payouts", Some(&admin), &body(&chain, "ref-failover", "5")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["payoutId"].as_str().expect("id").to_owned();

    let (status, run) = app.post("/admin/payouts/run", Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["data"]["processed"], 1, "{run}");
    assert_eq!(run["data"]["failed"], 0, "{run}");
    let payout = app.wait_for_payout(&id, "COMPLETED").await;
    assert_eq!(payout["attempts"], 1, "{payout}");
    assert!(down.total_calls() > 0, "the preferred endpoint was asked first");
    assert_eq!(usdc(&chain, seller()).await, U256::from(5_000_000u64), "paid once");

    // A second run finds nothing to pay again.
    let (status, run) = app.post("/admin/payouts/run", Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(usdc(&chain, seller()).await, U256::from(5_000_000u64), "paid once");
    app.stop().await;
});
