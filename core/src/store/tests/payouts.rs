//! Payout rows written and read back.

use alloy::primitives::{address, B256, U256};

use super::support::{both_backends, TestStore};
use crate::store::payments::TokenRef;
use crate::store::payouts::Payout;
use crate::store::{Backend, StoreError};
use crate::{BaseUnits, ChainId, PayoutKind, PayoutStatus};

const NOW: i64 = 1_700_000_000_123;

pub(super) fn payout(id: &str, reference: &str, status: PayoutStatus) -> Payout {
    Payout {
        id: id.parse().expect("payout id"),
        kind: PayoutKind::Release,
        user_id: "seller-1".into(),
        reference: reference.into(),
        contract_id: Some("contract-1".into()),
        reason: Some(reference.into()),
        payment_id: Some("pay_01JD3Y5Q6P2W8V3N4M5K6J7H8G".parse().expect("payment id")),
        holds_escrow: false,
        chain_id: ChainId(8453),
        token: TokenRef {
            symbol: "USDC".into(),
            address: address!("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
            decimals: 6,
        },
        recipient: address!("dbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"),
        amount: BaseUnits(U256::from(12_500_000u64)),
        status,
        attempts: 0,
        failures: 0,
        next_attempt_at: Some(NOW),
        tx_hash: None,
        last_error: None,
        created_at: NOW,
        updated_at: NOW,
        completed_at: None,
    }
}

async fn insert(store: &TestStore, payout: &Payout) {
    let mut tx = store.begin().await.expect("begin");
    store.insert_payout(&mut tx, payout).await.expect("insert").expect("no conflict");
    tx.commit().await.expect("commit");
}

async fn a_payout_reads_back_as_written(backend: Backend) {
    let store = TestStore::fresh(backend).await;
    let queued = payout("po_01JD3Y5Q6P2W8V3N4M5K6J7H8H", "release-1", PayoutStatus::Queued);
    insert(&store, &queued).await;
    assert_eq!(store.payout(&queued.id).await.expect("read"), Some(queued.clone()));
    assert_eq!(store.queued_payouts().await.expect("count"), 1);

    // Every column changes on the way to a finished retry, and comes back typed.
    let mut retrying = queued.clone();
    retrying.status = PayoutStatus::Retrying(2);
    retrying.attempts = 3;
    retrying.failures = 2;
    retrying.next_attempt_at = None;
    retrying.tx_hash = Some(B256::repeat_byte(0xab));
    retrying.last_error = Some("nonce too low".into());
    retrying.updated_at = NOW + 1;
    let mut tx = store.begin().await.expect("begin");
    assert!(store.save_payout(&mut tx, &retrying, PayoutStatus::Queued).await.expect("save"));
    assert!(!store.save_payout(&mut tx, &retrying, PayoutStatus::Queued).await.expect("save"), "status moved on");
    tx.commit().await.expect("commit");
    assert_eq!(store.payout(&retrying.id).await.expect("read"), Some(retrying.clone()));
    assert_eq!(store.in_flight_payouts().await.expect("in flight"), vec![retrying.clone()]);
    assert_eq!(store.queued_payouts().await.expect("count"), 0);

    // Due: failed ones whose retry time came, and queued ones only for a batch run.
    let mut failed = payout("po_01JD3Y5Q6P2W8V3N4M5K6J7H8J", "release-2", PayoutStatus::Failed);
    failed.created_at = NOW + 1;
    insert(&store, &failed).await;
    let later = payout("po_01JD3Y5Q6P2W8V3N4M5K6J7H8K", "release-3", PayoutStatus::Queued);
    insert(&store, &later).await;
    let references = |due: Vec<Payout>| due.into_iter().map(|p| p.reference).collect::<Vec<_>>();
    assert_eq!(references(store.due_payouts(NOW, false).await.expect("due")), ["release-2"]);
    assert_eq!(references(store.due_payouts(NOW, true).await.expect("due")), ["release-3", "release-2"]);
    assert!(store.due_payouts(NOW - 1, false).await.expect("due").is_empty());
}

async fn a_payout_with_an_unknown_status_is_corrupt(backend: Backend) {
    let store = TestStore::fresh(backend).await;
    let queued = payout("po_01JD3Y5Q6P2W8V3N4M5K6J7H8H", "release-1", PayoutStatus::Queued);
    insert(&store, &queued).await;
    sqlx::query("UPDATE payouts SET status = $1 WHERE id = $2")
        .bind("SHIPPED")
        .bind(queued.id.as_str())
        .execute(store.pool())
        .await
        .expect("write behind the store's back");
    match store.payout(&queued.id).await {
        Err(StoreError::Corrupt(what)) => assert!(what.contains("column status `SHIPPED`"), "{what}"),
        other => panic!("expected a corrupt row, got {other:?}"),
    }
}

both_backends!(a_payout_reads_back_as_written, a_payout_with_an_unknown_status_is_corrupt);
