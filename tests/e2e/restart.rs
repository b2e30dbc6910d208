//! Crash safety: `kill -9` between detection and the threshold, in a payout batch and in a sweep;
//! after a restart every payment completes once, each target gets each event once by
//! `webhook-id`, nothing is paid or swept twice and the ledger matches the chain.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use payscan::devchain;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::proxy::{Faults, RpcProxy};
use crate::support::*;

both_backends!(kill_9_between_detection_and_threshold_loses_and_repeats_nothing, |backend| async move {
    let chain = TestChain::start(31337).await;
    let port = ReservedPort::new();
    let mut options = AppOptions::new(backend, &chain);
    options.targets = vec![port.url()];
    let env = Arc::new(TestEnv::new(&options).await);
    let receiver = Receiver::start_on(port, &env.webhook_secret).await;

    let (daemon, app) = Daemon::start(env.clone()).await;
    let first = app.intent("buyer-1", intent_body("offer-k1", "7", "USDC", &chain)).await;
    let second = app.intent("buyer-1", intent_body("offer-k2", "8", "USDT", &chain)).await;
    let first_id = first["paymentId"].as_str().expect("id").to_owned();
    let second_id = second["paymentId"].as_str().expect("id").to_owned();

    chain.pay(chain.usdc, address(&first["destination"]), U256::from(7_000_000u64)).await;
    receiver.wait_for(&first_id, "payment.processing").await;
    // The second transfer lands and payscan dies before it can be sure to have seen it.
    chain.pay(chain.usdt, address(&second["destination"]), units(&second["amountBaseUnits"])).await;
    daemon.kill9();
    chain.mine(THRESHOLD).await;

    let (daemon, app) = Daemon::start(env.clone()).await;
    for id in [&first_id, &second_id] {
        receiver.wait_for(id, "payment.completed").await;
        let payment = app.wait_for_deliveries(id, 4).await;
        assert_eq!(payment["status"], "completed");
        assert_eq!(payment["transfers"].as_array().map(Vec::len), Some(1), "credited once: {payment:#}");
        let types: Vec<String> = receiver.events_for(id).into_iter().map(|e| e.event_type).collect();
        assert_eq!(types, ["payment.processing", "payment.completed"], "each event once");
        // payscan's own receiver took each event once too.
        let own: Vec<_> = payment["webhooks"]
            .as_array()
            .expect("webhooks")
            .iter()
            .filter(|w| w["target"] == "self")
            .cloned()
            .collect();
        assert_eq!(own.len(), 2);
        assert!(own.iter().all(|w| w["status"] == "delivered"));
    }
    // A delivery interrupted by the kill may arrive again, always under its own id.
    assert!(receiver.deliveries().iter().all(|d| d.body["intentId"] == first_id || d.body["intentId"] == second_id));
    assert_eq!(receiver.unverified(), 0);
    drop(daemon);
});

/// payscan behind a slow node (every RPC call waits), so that a kill lands mid-way.
async fn slow_daemon(backend: Backend, chain: &TestChain) -> (Arc<TestEnv>, RpcProxy) {
    let proxy =
        RpcProxy::start(&chain.anvil.url, Faults { latency: Duration::from_millis(60), ..Faults::default() }).await;
    let mut options = AppOptions::new(backend, chain);
    local_signer(&mut options);
    options.env.push(("PAYSCAN_PAYOUT_RETRY", "200ms,200ms,200ms".to_owned()));
    options.rpc = vec![(chain.chain_id, proxy.url.clone())];
    (Arc::new(TestEnv::new(&options).await), proxy)
}

/// Waits until `done` holds, checking every 10 ms.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn balance(chain: &TestChain, token: Address, owner: Address) -> U256 {
    devchain::balance_of(chain.anvil.provider(), token, owner).await.expect("balance")
}

both_backends!(kill_9_in_a_payout_batch_pays_each_payout_exactly_once, |backend| async move {
    let chain = TestChain::start(31337).await;
    let (env, _proxy) = slow_daemon(backend, &chain).await;
    let wallet: Address = PAYOUT_WALLET.parse().expect("address");
    chain.fund(chain.usdc, wallet, U256::from(10_000_000u64)).await;
    let (daemon, app) = Daemon::start(env.clone()).await;
    let admin = app.admin();
    let recipients: Vec<Address> = (1..=4u8).map(|i| Address::with_last_byte(0xa0 + i)).collect();
    let mut ids = Vec::new();
    for (i, recipient) in (1u64..).zip(&recipients) {
        let body = json!({
            "userId": format!("seller-{i}"), "amount": i.to_string(), "token": "USDC", "chainId": chain.chain_id,
            "destination": { "type": "address", "account": recipient.to_checksum(None) }, "reference": format!("batch-{i}"),
        });
        let (status, created) = app.post("/payouts", Some(&admin), &body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        ids.push(created["data"]["payoutId"].as_str().expect("id").to_owned());
    }

    // The batch starts; payscan dies as soon as the first payout has landed.
    let runner = {
        let (http, url, admin) = (app.http.clone(), app.url.clone(), admin.clone());
        tokio::spawn(async move { http.post(format!("{url}/admin/payouts/run")).bearer_auth(admin).send().await })
    };
    until("the first payout", || async { balance(&chain, chain.usdc, recipients[0]).await > U256::ZERO }).await;
    daemon.kill9();
    runner.abort();
    let sent_before_restart = chain.anvil.provider().get_transaction_count(wallet).await.expect("nonce");
    assert!(sent_before_restart < 4, "the kill landed mid-batch ({sent_before_restart} sent)");

    // Restarted, what was in flight settles and a run takes what still waits.
    let (daemon, app) = Daemon::start(env.clone()).await;
    let (status, run) = app.post("/admin/payouts/run", Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    for id in &ids {
        app.wait_for_payout(id, "COMPLETED").await;
    }
    for (i, recipient) in (1u64..).zip(&recipients) {
        assert_eq!(balance(&chain, chain.usdc, *recipient).await, U256::from(i * 1_000_000), "paid once");
        let (_, ledger) = app.get(&format!("/transactions?userId=seller-{i}"), Some(&admin)).await;
        let paid: Vec<&Value> =
            ledger["data"].as_array().expect("entries").iter().filter(|e| e["kind"] == "paid_out").collect();
        assert_eq!(paid.len(), 1, "{ledger}");
        assert_eq!(paid[0]["amountBaseUnits"], (i * 1_000_000).to_string());
    }
    assert_eq!(chain.anvil.provider().get_transaction_count(wallet).await.expect("nonce"), 4, "one transaction each");
    assert_eq!(balance(&chain, chain.usdc, wallet).await, U256::ZERO, "10 in, 1+2+3+4 out");
    drop(daemon);
});

both_backends!(kill_9_in_a_sweep_moves_the_money_exactly_once, |backend| async move {
    let chain = TestChain::start(31337).await;
    let (env, _proxy) = slow_daemon(backend, &chain).await;
    let (daemon, app) = Daemon::start(env.clone()).await;
    let intent = completed(&app, &chain, "offer-ks", "3", "USDT").await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();
    let destination = address(&intent["destination"]);
    let amount = units(&intent["amountBaseUnits"]);
    let path = format!("/api/payment/derived-destinations/{id}/sweep");

    // A plain token: the relayer's gas top-up lands, and payscan dies before or while the
    // destination's own transfer goes out.
    let runner = {
        let (http, url, admin) = (app.http.clone(), app.url.clone(), app.admin());
        let path = path.clone();
        tokio::spawn(async move { http.post(format!("{url}{path}")).bearer_auth(admin).json(&json!({})).send().await })
    };
    let provider = chain.anvil.provider();
    until("the gas top-up", || async { provider.get_balance(destination).await.is_ok_and(|b| b > U256::ZERO) }).await;
    daemon.kill9();
    runner.abort();

    let (daemon, app) = Daemon::start(env.clone()).await;
    let (status, swept) = app.post(&path, Some(&app.admin()), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{swept}");
    let result = &swept["data"]["results"][0];
    assert!(result["status"] == "success" || result["status"] == "skipped", "{result}");
    let master: Address = MASTER.parse().expect("address");
    assert_eq!(balance(&chain, chain.usdt, master).await, amount, "moved once");
    assert_eq!(balance(&chain, chain.usdt, destination).await, U256::ZERO);
    let relayer: Address = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC".parse().expect("address");
    assert_eq!(provider.get_transaction_count(relayer).await.expect("nonce"), 1, "one top-up");
    assert_eq!(provider.get_transaction_count(destination).await.expect("nonce"), 1, "one transfer");
    // The ledger has the sweep once, and it matches the chain.
    let (_, ledger) = app.get("/transactions?userId=buyer-1&limit=200", Some(&app.admin())).await;
    let swept: Vec<(&str, &str)> = ledger["data"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["kind"] == "swept")
        .map(|e| (e["direction"].as_str().unwrap_or_default(), e["amountBaseUnits"].as_str().unwrap_or_default()))
        .collect();
    let amount = amount.to_string();
    assert_eq!(swept, [("out", amount.as_str()), ("in", amount.as_str())], "{ledger}");
    let (_, destinations) = app.get("/api/payment/derived-destinations?status=swept", Some(&app.admin())).await;
    assert_eq!(destinations["data"]["destinations"][0]["sweepCount"], 1);
    drop(daemon);
});

both_backends!(a_crash_between_a_sweeps_broadcast_and_its_commit_never_sweeps_twice, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    local_signer(&mut options);
    let env = Arc::new(TestEnv::new(&options).await);
    // The permit path relays the permit, then the pull; the top-up path sends the gas, then the
    // destination's own transfer. payscan dies after each broadcast and after the sweep is mined
    // but before it is booked.
    let cases = [
        ("USDC", "outbound.broadcast:1"),
        ("USDC", "outbound.broadcast:2"),
        ("USDC", "sweep.mined:1"),
        ("USDT", "outbound.broadcast:1"),
        ("USDT", "outbound.broadcast:2"),
        ("USDT", "sweep.mined:1"),
    ];
    let (daemon, app) = Daemon::start(env.clone()).await;
    let mut intents = Vec::new();
    for (i, (token, _)) in cases.iter().enumerate() {
        intents.push(completed(&app, &chain, &format!("offer-cut-{i}"), &format!("{}", i + 1), token).await);
    }
    drop(daemon);

    let provider = chain.anvil.provider();
    let master: Address = MASTER.parse().expect("address");
    let relayer: Address = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC".parse().expect("address");
    for ((token, point), intent) in cases.iter().zip(&intents) {
        let address = if *token == "USDC" { chain.usdc } else { chain.usdt };
        let destination = self::address(&intent["destination"]);
        let amount = units(&intent["amountBaseUnits"]);
        let master_before = balance(&chain, address, master).await;
        let relayer_before = provider.get_transaction_count(relayer).await.expect("nonce");
        let path = format!("/api/payment/derived-destinations/{}/sweep", intent["paymentId"].as_str().expect("id"));

        let (mut daemon, app) = Daemon::start_with(env.clone(), &[("PAYSCAN_FAILPOINTS", (*point).to_owned())]).await;
        let runner = {
            let (http, url, admin, path) = (app.http.clone(), app.url.clone(), app.admin(), path.clone());
            tokio::spawn(
                async move { http.post(format!("{url}{path}")).bearer_auth(admin).json(&json!({})).send().await },
            )
        };
        until("payscan to die at its failpoint", || {
            let died = daemon.exited();
            async move { died }
        })
        .await;
        runner.abort();

        let (daemon, app) = Daemon::start(env.clone()).await;
        let (status, swept) = app.post(&path, Some(&app.admin()), &json!({})).await;
        assert_eq!(status, StatusCode::OK, "{token} {point}: {swept}");
        let result = &swept["data"]["results"][0];
        assert!(result["status"] == "success" || result["status"] == "skipped", "{token} {point}: {result}");
        assert_eq!(balance(&chain, address, master).await - master_before, amount, "{token} {point}: moved once");
        assert_eq!(balance(&chain, address, destination).await, U256::ZERO, "{token} {point}");
        // Each transaction of the sweep went out once: a permit and a pull, or a top-up and a
        // transfer, never a second of either.
        let relayed = provider.get_transaction_count(relayer).await.expect("nonce") - relayer_before;
        let own = provider.get_transaction_count(destination).await.expect("nonce");
        let expected = if *token == "USDC" { (2, 0) } else { (1, 1) };
        assert_eq!((relayed, own), expected, "{token} {point}: (relayer, destination) transactions");
        drop(daemon);
    }

    let (daemon, app) = Daemon::start(env.clone()).await;
    let (_, destinations) =
        app.get("/api/payment/derived-destinations?status=swept&limit=100", Some(&app.admin())).await;
    let counts: Vec<&Value> = destinations["data"]["destinations"]
        .as_array()
        .expect("destinations")
        .iter()
        .map(|d| &d["sweepCount"])
        .collect();
    assert_eq!(counts, vec![&json!(1); cases.len()], "{destinations:#}");
    let (_, ledger) = app.get("/transactions?userId=buyer-1&limit=200", Some(&app.admin())).await;
    let swept = ledger["data"].as_array().expect("entries").iter().filter(|e| e["kind"] == "swept").count();
    assert_eq!(swept, 2 * cases.len(), "one out and one in per sweep: {ledger:#}");
    drop(daemon);
});
