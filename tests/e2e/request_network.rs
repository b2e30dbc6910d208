//! The Request Network rail: references by Request Network's rule, a buyer who pays through the
//! fee proxy with only what checkout returned, a payment with the wrong reference left uncredited,
//! and permits: relayed when every check passes, refused before any gas otherwise, and a permit
//! someone else submitted first reported as the success it is.

use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use alloy::sol_types::{Eip712Domain, SolStruct};
use payscan::devchain;
use payscan_core::reference::PaymentReference;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::*;

alloy::sol! {
    struct Permit {
        address owner;
        address spender;
        uint256 value;
        uint256 nonce;
        uint256 deadline;
    }

    interface IFeeProxy {
        function transferFromWithReferenceAndFee(address _tokenAddress, address _to, uint256 _amount,
            bytes calldata _paymentReference, uint256 _feeAmount, address _feeAddress) external;
    }

    interface IPermit {
        function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;
        function allowance(address owner, address spender) external view returns (uint256);
        function approve(address spender, uint256 amount) external returns (bool);
    }
}

/// anvil's account 4 (public test material): a buyer's wallet whose key signs permits.
const BUYER_KEY: &str = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a";
/// anvil's account 5 (public test material): somebody else.
const STRANGER_KEY: &str = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";

fn key(text: &str) -> PrivateKeySigner {
    text.parse().expect("key")
}

fn rn_intent(offer: &str, amount: &str, token: &str, chain: &TestChain) -> Value {
    let mut body = intent_body(offer, amount, token, chain);
    body["provider"] = json!("request.network");
    body
}

fn id(payment: &Value) -> &str {
    payment["paymentId"].as_str().expect("id")
}

/// Sends a checkout transaction exactly as returned, from an unlocked anvil account.
async fn send_as_is(chain: &TestChain, from: Address, tx: &Value) -> B256 {
    let request = TransactionRequest::default()
        .from(from)
        .to(address(&tx["to"]))
        .input(tx["data"].as_str().expect("data").parse::<Bytes>().expect("hex").into());
    devchain::send(chain.anvil.provider(), request).await.expect("checkout transaction").0
}

async fn checkout(app: &TestApp, buyer: &str, payment: &str, payer: Address) -> (StatusCode, Value) {
    let path = format!("/api/payment/request-network/{payment}/checkout?payer={}", payer.to_checksum(None));
    app.get(&path, Some(&app.token(buyer, "buyer"))).await
}

/// Signs the permit typed data a checkout returned, reading every field from its JSON.
fn sign(signer: &PrivateKeySigner, typed: &Value) -> Value {
    let (domain, message) = (&typed["domain"], &typed["message"]);
    let uint = |v: &Value| -> U256 { v.as_str().expect("uint").parse().expect("uint") };
    let domain = Eip712Domain::new(
        Some(domain["name"].as_str().expect("name").to_owned().into()),
        Some(domain["version"].as_str().expect("version").to_owned().into()),
        Some(U256::from(domain["chainId"].as_u64().expect("chainId"))),
        Some(address(&domain["verifyingContract"])),
        None,
    );
    let permit = Permit {
        owner: address(&message["owner"]),
        spender: address(&message["spender"]),
        value: uint(&message["value"]),
        nonce: uint(&message["nonce"]),
        deadline: uint(&message["deadline"]),
    };
    let signature = signer.sign_hash_sync(&permit.eip712_signing_hash(&domain)).expect("sign");
    json!({
        "owner": message["owner"], "spender": message["spender"], "value": message["value"],
        "deadline": message["deadline"], "v": 27 + u8::from(signature.v()),
        "r": B256::from(signature.r()), "s": B256::from(signature.s()),
    })
}

both_backends!(a_buyer_pays_through_the_fee_proxy_with_only_what_checkout_returned, |backend| async move {
    let chain = TestChain::start(31337).await;
    let (app, receiver) = TestApp::spawn_with_receiver(AppOptions::new(backend, &chain)).await;
    let payment = app.intent("buyer-1", rn_intent("offer-rn1", "5", "USDC", &chain)).await;
    assert_eq!(payment["provider"], "request.network");
    assert_eq!(payment["feeProxy"], chain.fee_proxy.to_checksum(None));
    assert_eq!(payment["payee"], payment["destination"], "by default each payment is paid to its own address");
    let salt = payment["salt"].as_str().expect("salt");
    assert_eq!(salt.len(), 16);
    let reference = payment["paymentReference"].as_str().expect("reference");
    let expected = PaymentReference::for_payment(id(&payment), salt, address(&payment["payee"]));
    assert_eq!(reference, expected.to_string(), "Request Network's rule over requestId + salt + payee");

    let (status, out) = checkout(&app, "buyer-1", id(&payment), chain.payer).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let transactions = out["data"]["transactions"].as_array().expect("transactions").clone();
    assert_eq!(transactions.len(), 2, "approve, then pay through the proxy: {out}");
    assert_eq!(out["data"]["requestNetwork"]["paymentReference"], reference);
    assert!(out["data"]["permit"]["typedData"]["message"].is_object(), "USDC has permit: {out}");
    chain.fund(chain.usdc, chain.payer, U256::from(5_000_000u64)).await;
    for tx in &transactions {
        send_as_is(&chain, chain.payer, tx).await;
    }
    chain.mine(THRESHOLD).await;
    receiver.wait_for(id(&payment), "payment.completed").await;
    let paid = app.wait_for_status(id(&payment), "completed").await;
    let transfers = paid["transfers"].as_array().expect("transfers");
    assert_eq!(transfers.len(), 1, "credited once, through the proxy's log: {paid:#}");
    assert_eq!(transfers[0]["paymentReference"], reference);
    assert_eq!(transfers[0]["from"], chain.payer.to_checksum(None));
    assert_eq!(transfers[0]["feeAmountBaseUnits"], "0");
    assert_eq!(paid["metadata"]["transactionSafety"]["status"], "passed", "{paid:#}");
    // Paid: checkout has nothing more to send.
    let (_, done) = checkout(&app, "buyer-1", id(&payment), chain.payer).await;
    assert_eq!(done["data"]["transactions"], json!([]));
    // Somebody else's payment is not theirs to check out.
    assert_eq!(checkout(&app, "buyer-2", id(&payment), chain.payer).await.0, StatusCode::FORBIDDEN);

    // The legacy pay-in route makes the same kind of payment, in the seed's shape.
    let (status, pay_in) = app
        .post(
            "/api/payment/request-network/pay-in",
            Some(&app.token("buyer-1", "buyer")),
            &intent_body("offer-rn2", "1", "USDC", &chain),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{pay_in}");
    assert_eq!(pay_in["data"]["provider"], "request.network");
    assert_eq!(pay_in["data"]["providerPaymentId"], pay_in["data"]["paymentReference"]);
    assert!(pay_in["data"]["paymentUrl"].as_str().is_some_and(|u| u.ends_with("/checkout")));
    app.stop().await;
});

both_backends!(a_proxy_payment_with_the_wrong_reference_is_not_credited, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let payment = app.intent("buyer-1", rn_intent("offer-rn3", "2", "USDC", &chain)).await;
    let payee = address(&payment["payee"]);
    let provider = chain.anvil.provider();
    chain.fund(chain.usdc, chain.payer, U256::from(4_000_000u64)).await;
    let approve = IPermit::approveCall { spender: chain.fee_proxy, amount: U256::from(4_000_000u64) };
    devchain::call(provider, chain.payer, chain.usdc, approve).await.expect("approve");
    let pay = |reference: Bytes| IFeeProxy::transferFromWithReferenceAndFeeCall {
        _tokenAddress: chain.usdc,
        _to: payee,
        _amount: U256::from(2_000_000u64),
        _paymentReference: reference,
        _feeAmount: U256::ZERO,
        _feeAddress: Address::ZERO,
    };
    // The right payee and amount, through the proxy, under another reference.
    let wrong = Bytes::from(vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33]);
    devchain::call(provider, chain.payer, chain.fee_proxy, pay(wrong)).await.expect("pay with a wrong reference");
    chain.mine(THRESHOLD).await;
    // The money is seen and recorded (it reached the payment's address), never counted.
    let seen = app
        .wait_for(id(&payment), "the transfer recorded", |p| !p["transfers"].as_array().is_none_or(Vec::is_empty))
        .await;
    assert_eq!(seen["status"], "pending", "{seen:#}");
    assert_eq!(seen["amountReceivedBaseUnits"], "0");
    assert_eq!(seen["transfers"][0]["counted"], false);
    assert_eq!(seen["transfers"][0]["paymentReference"], Value::Null);

    // Its own reference completes it.
    let reference: PaymentReference = payment["paymentReference"].as_str().expect("reference").parse().expect("hex");
    let right = Bytes::copy_from_slice(reference.as_bytes());
    devchain::call(provider, chain.payer, chain.fee_proxy, pay(right)).await.expect("pay with the reference");
    chain.mine(THRESHOLD).await;
    let paid = app.wait_for_status(id(&payment), "completed").await;
    assert_eq!(paid["amountReceivedBaseUnits"], "2000000", "only the referenced payment counts: {paid:#}");
    app.stop().await;
});

fn with_relayer(backend: Backend, chain: &TestChain) -> AppOptions<'_> {
    let mut options = AppOptions::new(backend, chain);
    local_signer(&mut options);
    options
}

fn relayer() -> Address {
    key(RELAYER_KEY).address()
}

both_backends!(a_relayed_permit_then_the_proxy_payment_completes_the_payment, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(with_relayer(backend, &chain)).await;
    let buyer = key(BUYER_KEY);
    let provider = chain.anvil.provider();
    chain.fund(chain.usdc, buyer.address(), U256::from(3_000_000u64)).await;

    let (status, available) = app
        .get(
            &format!("/api/payment/request-network/permit-availability?chainId={}&token=USDC", chain.chain_id),
            Some(&app.token("buyer-1", "buyer")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{available}");
    assert_eq!(available["data"]["available"], true, "{available}");
    assert_eq!(available["data"]["relayer"], relayer().to_checksum(None));
    let required: U256 = available["data"]["requiredWei"].as_str().expect("wei").parse().expect("uint");
    let balance: U256 = available["data"]["balanceWei"].as_str().expect("wei").parse().expect("uint");
    assert!(required > U256::ZERO && balance >= required, "{available}");

    let payment = app.intent("buyer-1", rn_intent("offer-p1", "3", "USDC", &chain)).await;
    let (_, out) = checkout(&app, "buyer-1", id(&payment), buyer.address()).await;
    let typed = &out["data"]["permit"]["typedData"];
    assert_eq!(typed["message"]["spender"], chain.fee_proxy.to_checksum(None));
    assert_eq!(typed["message"]["value"], "3000000");
    assert_eq!(typed["domain"]["verifyingContract"], chain.usdc.to_checksum(None));
    let eth_before = provider.get_balance(buyer.address()).await.expect("eth");

    let path = format!("/api/payment/request-network/{}/permit", id(&payment));
    let (status, relayed) = app.post(&path, Some(&app.token("buyer-1", "buyer")), &sign(&buyer, typed)).await;
    assert_eq!(status, StatusCode::OK, "{relayed}");
    assert_eq!(relayed["data"]["status"], "mined", "{relayed}");
    assert_eq!(relayed["data"]["allowance"], "3000000");
    assert!(relayed["data"]["txHash"].as_str().is_some_and(|h| h.len() == 66));
    assert_eq!(provider.get_balance(buyer.address()).await.expect("eth"), eth_before, "the relayer paid the gas");
    assert_eq!(provider.get_transaction_count(relayer()).await.expect("nonce"), 1);

    // The approve is done; the buyer sends only the payment, exactly as checkout gave it.
    let pay = &out["data"]["transactions"][1];
    assert_eq!(pay["to"], chain.fee_proxy.to_checksum(None));
    send_as_is(&chain, buyer.address(), pay).await;
    chain.mine(THRESHOLD).await;
    app.wait_for_status(id(&payment), "completed").await;
    app.stop().await;
});

both_backends!(every_bad_permit_is_refused_before_any_gas_and_a_front_run_one_succeeds, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(with_relayer(backend, &chain)).await;
    let buyer = key(BUYER_KEY);
    let token = app.token("buyer-1", "buyer");
    let payment = app.intent("buyer-1", rn_intent("offer-p2", "2", "USDC", &chain)).await;
    let (_, out) = checkout(&app, "buyer-1", id(&payment), buyer.address()).await;
    let typed = out["data"]["permit"]["typedData"].clone();
    let path = format!("/api/payment/request-network/{}/permit", id(&payment));
    let good = sign(&buyer, &typed);

    let altered = |field: &str, value: Value| {
        let mut typed = typed.clone();
        typed["message"][field] = value;
        sign(&buyer, &typed)
    };
    let past =
        (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() - 10).to_string();
    let mut not_signed_by_owner = sign(&key(STRANGER_KEY), &typed);
    not_signed_by_owner["owner"] = json!(buyer.address());
    let mut bad_hex = good.clone();
    bad_hex["r"] = json!("0x12");
    let cases = [
        ("spender is not the fee proxy", altered("spender", json!(chain.usdc.to_checksum(None))), "PERMIT_INVALID"),
        ("value below the amount", altered("value", json!("1999999")), "PERMIT_INVALID"),
        ("deadline passed", altered("deadline", json!(past)), "PERMIT_INVALID"),
        ("signed by someone else", not_signed_by_owner, "PERMIT_INVALID"),
        ("a stale nonce", altered("nonce", json!("1")), "PERMIT_INVALID"),
        ("not hex", bad_hex, "VALIDATION_ERROR"),
    ];
    for (why, body, code) in cases {
        let (status, refused) = app.post(&path, Some(&token), &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {refused}");
        assert_eq!(refused["error"]["code"], code, "{why}: {refused}");
    }
    // Not the caller's payment; a payment by plain transfer; a token without permit.
    assert_eq!(app.post(&path, Some(&app.token("buyer-2", "buyer")), &good).await.0, StatusCode::FORBIDDEN);
    let plain = app.intent("buyer-1", intent_body("offer-p3", "2", "USDC", &chain)).await;
    let (status, refused) =
        app.post(&format!("/api/payment/request-network/{}/permit", id(&plain)), Some(&token), &good).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    let usdt = app.intent("buyer-1", rn_intent("offer-p4", "2", "USDT", &chain)).await;
    let (status, refused) =
        app.post(&format!("/api/payment/request-network/{}/permit", id(&usdt)), Some(&token), &good).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(refused["error"]["message"].as_str().is_some_and(|m| m.contains("permit")), "{refused}");
    let provider = chain.anvil.provider();
    assert_eq!(provider.get_transaction_count(relayer()).await.expect("nonce"), 0, "no gas spent on a refusal");

    // Someone submits the buyer's permit first: the allowance is what the buyer wanted.
    let uint = |v: &Value| -> U256 { v.as_str().expect("uint").parse().expect("uint") };
    let submitted = IPermit::permitCall {
        owner: buyer.address(),
        spender: chain.fee_proxy,
        value: uint(&good["value"]),
        deadline: uint(&good["deadline"]),
        v: u8::try_from(good["v"].as_u64().expect("v")).expect("v"),
        r: good["r"].as_str().expect("r").parse().expect("r"),
        s: good["s"].as_str().expect("s").parse().expect("s"),
    };
    devchain::call(provider, chain.deployer, chain.usdc, submitted).await.expect("front-run permit");
    let (status, relayed) = app.post(&path, Some(&token), &good).await;
    assert_eq!(status, StatusCode::OK, "{relayed}");
    assert_eq!(relayed["data"]["status"], "already_approved");
    assert_eq!(relayed["data"]["allowance"], "2000000");
    assert_eq!(provider.get_transaction_count(relayer()).await.expect("nonce"), 0, "nothing sent for it");

    // Availability says no for a token without permit.
    let (_, usdt_available) = app
        .get(
            &format!("/api/payment/request-network/permit-availability?chainId={}&token=USDT", chain.chain_id),
            Some(&token),
        )
        .await;
    assert_eq!(usdt_available["data"]["available"], false);
    assert!(usdt_available["data"]["reason"].as_str().is_some_and(|r| r.contains("permit")));

    // A payment that is already paid takes no permit.
    let paid = app.intent("buyer-1", rn_intent("offer-p6", "1", "USDC", &chain)).await;
    chain.fund(chain.usdc, chain.payer, U256::from(1_000_000u64)).await;
    let (_, out) = checkout(&app, "buyer-1", id(&paid), chain.payer).await;
    for tx in out["data"]["transactions"].as_array().expect("transactions") {
        send_as_is(&chain, chain.payer, tx).await;
    }
    chain.mine(THRESHOLD).await;
    app.wait_for_status(id(&paid), "completed").await;
    let late = sign(&buyer, &out["data"]["permit"]["typedData"]);
    let (status, refused) =
        app.post(&format!("/api/payment/request-network/{}/permit", id(&paid)), Some(&token), &late).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "INVALID_STATE");
    assert_eq!(provider.get_transaction_count(relayer()).await.expect("nonce"), 0);
    app.stop().await;

    // A relayer without gas: 503 after every check has passed, and nothing sent.
    let mut broke = with_relayer(backend, &chain);
    broke
        .env
        .push(("PAYSCAN_RELAYER_KEY", "0x0000000000000000000000000000000000000000000000000000000000000002".to_owned()));
    let app = TestApp::spawn(broke).await;
    let token = app.token("buyer-1", "buyer");
    let payment = app.intent("buyer-1", rn_intent("offer-p7", "1", "USDC", &chain)).await;
    let fresh = PrivateKeySigner::random();
    let (_, out) = checkout(&app, "buyer-1", id(&payment), fresh.address()).await;
    let body = sign(&fresh, &out["data"]["permit"]["typedData"]);
    let (status, refused) =
        app.post(&format!("/api/payment/request-network/{}/permit", id(&payment)), Some(&token), &body).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{refused}");
    assert_eq!(refused["error"]["code"], "RELAYER_UNAVAILABLE");
    let (_, broke_available) = app
        .get(
            &format!("/api/payment/request-network/permit-availability?chainId={}&token=USDC", chain.chain_id),
            Some(&token),
        )
        .await;
    assert_eq!(broke_available["data"]["available"], false, "{broke_available}");
    assert_eq!(broke_available["data"]["balanceWei"], "0");
    app.stop().await;

    // Without a relayer a valid permit gets a 503, and availability says why.
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let token = app.token("buyer-1", "buyer");
    let payment = app.intent("buyer-1", rn_intent("offer-p5", "1", "USDC", &chain)).await;
    let payer = key(STRANGER_KEY);
    let (_, out) = checkout(&app, "buyer-1", id(&payment), payer.address()).await;
    let body = sign(&payer, &out["data"]["permit"]["typedData"]);
    let (status, refused) =
        app.post(&format!("/api/payment/request-network/{}/permit", id(&payment)), Some(&token), &body).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{refused}");
    assert_eq!(refused["error"]["code"], "RELAYER_UNAVAILABLE");
    let (_, none) = app
        .get(
            &format!("/api/payment/request-network/permit-availability?chainId={}&token=USDC", chain.chain_id),
            Some(&token),
        )
        .await;
    assert_eq!(none["data"]["available"], false);
    app.stop().await;
});

both_backends!(fifty_concurrent_permits_all_land_with_contiguous_relayer_nonces, |backend| async move {
    // One in ten broadcasts fails at the RPC: the relayer's tracking sends them again.
    let chain = TestChain::start(31337).await;
    let proxy = crate::support::proxy::RpcProxy::start(
        &chain.anvil.url,
        crate::support::proxy::Faults { fail_send: 0.1, ..Default::default() },
    )
    .await;
    let mut options = with_relayer(backend, &chain);
    options.rpc = vec![(chain.chain_id, proxy.url.clone())];
    let app = TestApp::spawn(options).await;
    let mut requests = Vec::new();
    for i in 0..50 {
        let buyer = format!("buyer-{i}");
        let payer = PrivateKeySigner::random();
        let payment = app.intent(&buyer, rn_intent(&format!("offer-c{i}"), "1", "USDC", &chain)).await;
        let (status, out) = checkout(&app, &buyer, id(&payment), payer.address()).await;
        assert_eq!(status, StatusCode::OK, "{out}");
        let body = sign(&payer, &out["data"]["permit"]["typedData"]);
        let path = format!("/api/payment/request-network/{}/permit", id(&payment));
        requests.push((app.token(&buyer, "buyer"), path, body, payer.address()));
    }
    let mut running = tokio::task::JoinSet::new();
    for (token, path, body, owner) in requests {
        let (http, url) = (app.http.clone(), app.url.clone());
        running.spawn(async move {
            let response =
                http.post(format!("{url}{path}")).bearer_auth(token).json(&body).send().await.expect("permit");
            let status = response.status();
            (status, response.json::<Value>().await.expect("json"), owner)
        });
    }
    let provider = chain.anvil.provider();
    let mut owners = Vec::new();
    while let Some(done) = running.join_next().await {
        let (status, body, owner) = done.expect("task");
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["status"], "mined", "{body}");
        owners.push(owner);
    }
    assert!(proxy.refused() > 0, "some broadcasts did fail");
    assert_eq!(provider.get_transaction_count(relayer()).await.expect("nonce"), 50, "50 permits, no gap, none twice");
    for owner in owners {
        let allowance = IPermit::allowanceCall { owner, spender: chain.fee_proxy };
        let request = TransactionRequest::default()
            .to(chain.usdc)
            .input(alloy::sol_types::SolCall::abi_encode(&allowance).into());
        let out = provider.call(request).await.expect("allowance");
        assert_eq!(U256::from_be_slice(&out[..32]), U256::from(1_000_000u64));
    }
    app.stop().await;
});

both_backends!(with_one_configured_payee_each_payment_is_told_apart_by_its_reference, |backend| async move {
    let chain = TestChain::start(31337).await;
    let payee = "0x000000000000000000000000000000000000FEED";
    let mut options = AppOptions::new(backend, &chain);
    options.env.push(("PAYSCAN_RN_PAYEE", payee.to_lowercase()));
    let app = TestApp::spawn(options).await;
    let first = app.intent("buyer-1", rn_intent("offer-s1", "1", "USDC", &chain)).await;
    let second = app.intent("buyer-1", rn_intent("offer-s2", "1", "USDC", &chain)).await;
    assert_eq!(first["payee"], address(&json!(payee)).to_checksum(None));
    assert_eq!(second["payee"], first["payee"]);
    assert_ne!(first["paymentReference"], second["paymentReference"]);

    // Only the second is paid, through the fee proxy to the shared payee.
    chain.fund(chain.usdc, chain.payer, U256::from(1_000_000u64)).await;
    let (_, out) = checkout(&app, "buyer-1", id(&second), chain.payer).await;
    for tx in out["data"]["transactions"].as_array().expect("transactions") {
        send_as_is(&chain, chain.payer, tx).await;
    }
    chain.mine(THRESHOLD).await;
    app.wait_for_status(id(&second), "completed").await;
    let unpaid = app.payment(id(&first)).await;
    assert_eq!(unpaid["status"], "pending");
    assert_eq!(unpaid["transfers"], json!([]), "the other payment's money is not this one's");
    app.stop().await;
});

both_backends!(one_relayed_permit_per_payment_the_relayer_pays_gas_once, |backend| async move {
    // Permits from throwaway keys, all for one payment: the relayer sends one, at once or later.
    let chain = TestChain::start(31337).await;
    let app = TestApp::spawn(with_relayer(backend, &chain)).await;
    let provider = chain.anvil.provider();
    let payment = app.intent("buyer-1", rn_intent("offer-pr1", "1", "USDC", &chain)).await;
    let path = format!("/api/payment/request-network/{}/permit", id(&payment));
    let token = app.token("buyer-1", "buyer");
    let mut bodies = Vec::new();
    for _ in 0..5 {
        let payer = PrivateKeySigner::random();
        let (status, out) = checkout(&app, "buyer-1", id(&payment), payer.address()).await;
        assert_eq!(status, StatusCode::OK, "{out}");
        bodies.push(sign(&payer, &out["data"]["permit"]["typedData"]));
    }
    let gas_before = provider.get_balance(relayer()).await.expect("eth");
    let last = bodies.pop().expect("a permit");
    let mut running = tokio::task::JoinSet::new();
    for body in bodies {
        let (http, url, path, token) = (app.http.clone(), app.url.clone(), path.clone(), token.clone());
        running.spawn(async move {
            let response =
                http.post(format!("{url}{path}")).bearer_auth(token).json(&body).send().await.expect("permit");
            let status = response.status();
            (status, response.json::<Value>().await.expect("json"))
        });
    }
    let mut relayed = Vec::new();
    while let Some(done) = running.join_next().await {
        let (status, body) = done.expect("task");
        if status == StatusCode::OK {
            assert_eq!(body["data"]["status"], "mined", "{body}");
            relayed.push(body["data"]["txHash"].as_str().expect("hash").parse::<B256>().expect("hash"));
        } else {
            assert_eq!(status, StatusCode::CONFLICT, "{body}");
            assert_eq!(body["error"]["code"], "PERMIT_ALREADY_RELAYED", "{body}");
        }
    }
    assert_eq!(relayed.len(), 1, "exactly one of four concurrent permits is relayed");
    // Later, with the first one mined: refused too.
    let (status, refused) = app.post(&path, Some(&token), &last).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "PERMIT_ALREADY_RELAYED");
    assert_eq!(provider.get_transaction_count(relayer()).await.expect("nonce"), 1, "one permit sent");
    let spent = gas_before - provider.get_balance(relayer()).await.expect("eth");
    let receipt = provider.get_transaction_receipt(relayed[0]).await.expect("receipt").expect("mined");
    let one_permit = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
    assert_eq!(spent, one_permit, "the relayer paid the gas of one permit");
    app.stop().await;
});
