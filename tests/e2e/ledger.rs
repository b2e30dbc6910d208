//! The ledger: every movement of money is an entry that is never changed, and the balances summed
//! from it equal what the chain holds.

use std::collections::BTreeMap;

use alloy::primitives::{Address, U256};
use payscan::devchain;
use payscan_core::store::Store;
use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::support::*;

fn kinds_of(entries: &[Value], payment: &Value) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e["paymentId"] == payment["paymentId"])
        .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

both_backends!(the_ledger_records_every_movement_and_matches_the_chain, |backend| async move {
    let chain = TestChain::start(31337).await;
    let (app, receiver) = TestApp::spawn_with_receiver(AppOptions::new(backend, &chain)).await;
    let exact = app.intent("buyer-1", intent_body("offer-l1", "2", "USDC", &chain)).await;
    let mixed = app.intent("buyer-1", intent_body("offer-l2", "1", "USDT", &chain)).await;
    let dropped = app.intent("buyer-1", intent_body("offer-l3", "3", "USDC", &chain)).await;

    chain.pay(chain.usdc, address(&exact["destination"]), U256::from(2_000_000u64)).await;
    chain.pay(chain.usdt, address(&mixed["destination"]), units(&mixed["amountBaseUnits"])).await;
    // The wrong token to the same destination: money at payscan's address all the same.
    chain.pay(chain.usdc, address(&mixed["destination"]), U256::from(500_000u64)).await;
    chain.mine(THRESHOLD).await;
    for intent in [&exact, &mixed] {
        receiver.wait_for(intent["paymentId"].as_str().expect("id"), "payment.completed").await;
    }
    let id = dropped["paymentId"].as_str().expect("id");
    chain.pay(chain.usdc, address(&dropped["destination"]), U256::from(3_000_000u64)).await;
    receiver.wait_for(id, "payment.processing").await;
    chain.anvil.reorg(1, &[]).await.expect("reorg");
    receiver.wait_for(id, "payment.reverted").await;

    let (status, ledger) =
        app.get("/transactions?userId=buyer-1&limit=200", Some(&app.token("buyer-1", "buyer"))).await;
    assert_eq!(status, StatusCode::OK, "{ledger}");
    let entries = ledger["data"].as_array().expect("entries").clone();
    assert_eq!(kinds_of(&entries, &exact), ["credit_detected", "credit_confirmed"]);
    assert_eq!(kinds_of(&entries, &mixed), ["credit_detected", "credit_detected", "credit_confirmed"]);
    assert_eq!(kinds_of(&entries, &dropped), ["credit_detected", "credit_reverted"]);

    // Balances summed from the ledger are what the chain holds, account by account.
    let mut derived: BTreeMap<(Address, Address), U256> = BTreeMap::new();
    for entry in &entries {
        let key = (address(&entry["account"]), address(&entry["token"]));
        let amount = units(&entry["amountBaseUnits"]);
        let balance = derived.entry(key).or_default();
        match entry["direction"].as_str() {
            Some("in") => *balance += amount,
            Some("out") => *balance -= amount,
            _ => {}
        }
    }
    assert_eq!(derived.len(), 4, "{derived:?}");
    for ((account, token), balance) in &derived {
        let on_chain = devchain::balance_of(chain.anvil.provider(), *token, *account).await.expect("balanceOf");
        assert_eq!(*balance, on_chain, "{account} in {token}");
    }

    // Self or admin only.
    assert_eq!(
        app.get("/transactions?userId=buyer-1", Some(&app.token("buyer-2", "buyer"))).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.get("/transactions?userId=buyer-1", Some(&app.admin())).await.0, StatusCode::OK);
    let (_, own) = app.get("/transactions", Some(&app.token("buyer-2", "buyer"))).await;
    assert_eq!(own["pagination"]["total"], 0);
    assert_eq!(app.get("/transactions?userId=a%20b", Some(&app.admin())).await.0, StatusCode::BAD_REQUEST);

    // Append-only, whoever asks: the database itself refuses to change or remove an entry.
    let store = Store::connect(&app.env.db.url).await.expect("store");
    let update = sqlx::query("UPDATE ledger_entries SET amount = '0'").execute(store.pool()).await;
    assert!(update.is_err(), "the ledger accepted an update");
    let delete = sqlx::query("DELETE FROM ledger_entries").execute(store.pool()).await;
    assert!(delete.is_err(), "the ledger accepted a delete");
    store.close().await;
    app.stop().await;
});
