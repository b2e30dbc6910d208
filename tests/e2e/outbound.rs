//! Sending transactions once: contiguous nonces under concurrency and failing broadcasts, a
//! dropped transaction replaced at the same nonce with a bumped fee within the cap, the same
//! reference sent once, and a transaction recorded before a broadcast that never happened is sent
//! after a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use payscan::devchain::{Anvil, AnvilOptions};
use payscan_core::store::outbound::OutboundStatus;
use payscan_core::store::Store;
use payscan_core::ChainId;
use payscan_custody::{OutboundSettings, Sender, TxRequest};
use tokio::task::JoinSet;

use crate::both_backends;
use crate::support::proxy::{Faults, RpcProxy};
use crate::support::*;

/// anvil's account 2 key: public test material.
const KEY: &str = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";

fn pay_one_wei(to: u64) -> TxRequest {
    // Well away from the precompiles at 0x…01–0x…0a.
    TxRequest {
        to: Address::repeat_byte((to % 200) as u8 + 32),
        value: U256::from(1u8),
        data: Bytes::new(),
        gas_limit: 21_000,
    }
}

async fn store_for(backend: Backend) -> (Store, Database, TempDir) {
    let dir = TempDir::new();
    let db = Database::fresh(backend, &dir).await;
    let store = Store::connect(&db.url).await.expect("store");
    (store, db, dir)
}

fn sender(store: &Store, url: &str, settings: OutboundSettings) -> Sender {
    let signer: PrivateKeySigner = KEY.parse().expect("key");
    Sender::new(store.clone(), &[url], ChainId(31337), signer, settings).expect("sender")
}

/// Tracks until nothing is pending; returns how many steps it took.
async fn track_until_settled(sender: &Sender, mine: Option<&Anvil>) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    for step in 1.. {
        if let Some(anvil) = mine {
            anvil.mine(1).await.expect("mine");
        }
        let report = sender.track().await.expect("track");
        if report.pending == 0 {
            return step;
        }
        assert!(Instant::now() < deadline, "still pending: {report:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    unreachable!()
}

both_backends!(fifty_concurrent_sends_get_contiguous_nonces_even_when_broadcasts_fail, |backend| async move {
    let anvil = Anvil::spawn(AnvilOptions::default()).await.expect("anvil");
    let proxy = RpcProxy::start(&anvil.url, Faults { fail_send: 0.1, ..Default::default() }).await;
    let (store, _db, _dir) = store_for(backend).await;
    let sender = Arc::new(sender(&store, &proxy.url, OutboundSettings::default()));
    let start = anvil.provider().get_transaction_count(sender.address()).await.expect("nonce");

    let mut sends = JoinSet::new();
    for i in 0..50u64 {
        let sender = sender.clone();
        sends.spawn(async move { sender.send("test", &format!("ref-{i}"), &pay_one_wei(i)).await });
    }
    while let Some(joined) = sends.join_next().await {
        joined.expect("task").expect("recorded");
    }
    assert!(proxy.refused() > 0, "no broadcast failed; the test proves nothing");
    track_until_settled(&sender, None).await;

    let sent = store.outbound_of(ChainId(31337), sender.address()).await.expect("rows");
    let nonces: Vec<u64> = sent.iter().map(|t| t.nonce).collect();
    assert_eq!(nonces, (start..start + 50).collect::<Vec<_>>(), "contiguous, none reused");
    assert!(sent.iter().all(|t| t.status == OutboundStatus::Mined), "{sent:#?}");
    let end = anvil.provider().get_transaction_count(sender.address()).await.expect("nonce");
    assert_eq!(end, start + 50, "every transaction landed, none twice");
});

/// Sends `count` transactions at once, references `{prefix}-0..count`, each recorded.
async fn send_at_once(sender: &Arc<Sender>, prefix: &str, count: u64) {
    let mut sends = JoinSet::new();
    for i in 0..count {
        let (sender, reference) = (sender.clone(), format!("{prefix}-{i}"));
        sends.spawn(async move { sender.send("test", &reference, &pay_one_wei(i)).await });
    }
    while let Some(joined) = sends.join_next().await {
        joined.expect("task").expect("recorded");
    }
}

both_backends!(fifty_sends_through_502s_then_a_restart_then_fifty_more_leave_no_nonce_wedged, |backend| async move {
    let anvil = Anvil::spawn(AnvilOptions::default()).await.expect("anvil");
    // One send in ten fails: half never reach the node, half reach it and lose their answer.
    let faults = Faults { fail_send: 0.05, lose_send_answers: 0.05, ..Default::default() };
    let proxy = RpcProxy::start(&anvil.url, faults).await;
    let (store, _db, _dir) = store_for(backend).await;
    let start = {
        let first = Arc::new(sender(&store, &proxy.url, OutboundSettings::default()));
        let start = anvil.provider().get_transaction_count(first.address()).await.expect("nonce");
        send_at_once(&first, "before", 50).await;
        start
        // The process ends here with whatever was not yet confirmed still pending.
    };
    assert!(proxy.refused() > 0 && proxy.answers_lost() > 0, "the faults never fired; the test proves nothing");

    let after = Arc::new(sender(&store, &proxy.url, OutboundSettings::default()));
    track_until_settled(&after, None).await;
    send_at_once(&after, "after", 50).await;
    track_until_settled(&after, None).await;

    let sent = store.outbound_of(ChainId(31337), after.address()).await.expect("rows");
    let nonces: Vec<u64> = sent.iter().map(|t| t.nonce).collect();
    assert_eq!(nonces, (start..start + 100).collect::<Vec<_>>(), "contiguous across the restart, none reused");
    assert!(sent.iter().all(|t| t.status == OutboundStatus::Mined), "{sent:#?}");
    let end = anvil.provider().get_transaction_count(after.address()).await.expect("nonce");
    assert_eq!(end, start + 100, "every transaction landed, none twice");
});

both_backends!(a_dropped_transaction_is_replaced_at_its_nonce_with_a_bumped_fee_up_to_the_cap, |backend| async move {
    let anvil = Anvil::spawn(AnvilOptions { no_mining: true, ..Default::default() }).await.expect("anvil");
    let (store, _db, _dir) = store_for(backend).await;
    let first_fee = anvil.provider().estimate_eip1559_fees().await.expect("fees").max_fee_per_gas;
    let settings = OutboundSettings {
        replace_after: Duration::from_millis(200),
        // Room for one bump of 12.5%, then up to the cap, then no more.
        max_fee_cap: first_fee * 12 / 10,
        ..Default::default()
    };
    let sender = sender(&store, &anvil.url, settings);
    let sent = sender.send("test", "drop-me", &pay_one_wei(1)).await.expect("send");
    let _: serde_json::Value =
        anvil.provider().raw_request("anvil_dropTransaction".into(), (sent.tx_hash,)).await.expect("drop");

    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = sender.track().await.expect("track");
    assert_eq!(report.replaced, 1, "{report:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = sender.track().await.expect("track");
    assert_eq!(report.replaced, 1, "raised to the cap: {report:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = sender.track().await.expect("track");
    assert_eq!(report.replaced, 0, "the cap stops further bumps: {report:?}");
    let pending = store.outbound_by_reference("test", "drop-me").await.expect("row").expect("recorded");
    assert_eq!(pending.nonce, sent.nonce);
    assert_eq!(pending.attempts, 3);
    assert!(sent.max_fee < pending.max_fee, "{} -> {}", sent.max_fee, pending.max_fee);
    assert_eq!(pending.max_fee, first_fee * 12 / 10, "never above the cap");

    track_until_settled(&sender, Some(&anvil)).await;
    let mined = store.outbound_by_reference("test", "drop-me").await.expect("row").expect("recorded");
    assert_eq!(mined.status, OutboundStatus::Mined);
    assert_eq!(mined.tx_hash, pending.tx_hash, "the replacement is the one mined");
    assert_ne!(mined.tx_hash, sent.tx_hash);
});

both_backends!(a_reference_is_sent_once_and_a_lost_broadcast_goes_out_after_a_restart, |backend| async move {
    let anvil = Anvil::spawn(AnvilOptions::default()).await.expect("anvil");
    let proxy = RpcProxy::start(&anvil.url, Faults { fail_send: 1.0, ..Default::default() }).await;
    let (store, _db, _dir) = store_for(backend).await;

    // Recorded, but the broadcast never reaches the node (as if payscan died right after).
    let first = sender(&store, &proxy.url, OutboundSettings::default());
    let sent = first.send("payout", "po-1", &pay_one_wei(7)).await.expect("recorded");
    let again = first.send("payout", "po-1", &pay_one_wei(7)).await.expect("idempotent");
    assert_eq!((again.id, again.tx_hash), (sent.id, sent.tx_hash), "the same reference is the same transaction");
    let chain_nonce = anvil.provider().get_transaction_count(first.address()).await.expect("nonce");
    assert_eq!(chain_nonce, sent.nonce, "nothing reached the chain yet");
    drop(first);

    // A new process over the same database finishes the job.
    proxy.set(|f| f.fail_send = 0.0);
    let restarted = sender(&store, &proxy.url, OutboundSettings::default());
    track_until_settled(&restarted, None).await;
    let mined = store.outbound_by_reference("payout", "po-1").await.expect("row").expect("recorded");
    assert_eq!(mined.status, OutboundStatus::Mined);
    assert_eq!(mined.tx_hash, sent.tx_hash, "the recorded transaction itself, not a new one");
    let end = anvil.provider().get_transaction_count(restarted.address()).await.expect("nonce");
    assert_eq!(end, sent.nonce + 1, "sent exactly once");
});

both_backends!(a_nonce_taken_by_another_transaction_drops_the_recorded_one, |backend| async move {
    let anvil = Anvil::spawn(AnvilOptions::default()).await.expect("anvil");
    let proxy = RpcProxy::start(&anvil.url, Faults { fail_send: 1.0, ..Default::default() }).await;
    let (store, _db, _dir) = store_for(backend).await;
    let settings = OutboundSettings { drop_grace: Duration::from_millis(300), ..OutboundSettings::default() };
    let sender = sender(&store, &proxy.url, settings);
    let sent = sender.send("payout", "po-taken", &pay_one_wei(9)).await.expect("recorded");

    // Someone else uses the key (another tool, an operator's wallet) and takes that nonce.
    let signer: PrivateKeySigner = KEY.parse().expect("key");
    let other = alloy::rpc::types::TransactionRequest::default()
        .from(signer.address())
        .to(Address::repeat_byte(0x77))
        .value(U256::from(2u8))
        .nonce(sent.nonce);
    payscan::devchain::send(anvil.provider(), other).await.expect("the other transaction");

    proxy.set(|f| f.fail_send = 0.0);
    // First only suspected: a node may count a nonce before it serves the receipt.
    let first = sender.track().await.expect("track");
    assert_eq!((first.dropped, first.pending), (0, 1), "{first:?}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let report = sender.track().await.expect("track");
    assert_eq!(report.dropped, 1, "{report:?}");
    let row = store.outbound_by_reference("payout", "po-taken").await.expect("row").expect("recorded");
    assert_eq!(row.status, OutboundStatus::Dropped, "never mined, and now never can be");
    assert_eq!(sender.track().await.expect("track").pending, 0, "nothing left to chase");
});
