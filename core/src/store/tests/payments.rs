//! The one payment write path against each database: what is applied is what is read back, with
//! its event beside it, and a refused change writes nothing.

use alloy::primitives::{address, Address, B256, U256};
use serde_json::json;

use super::destinations::insert;
use super::support::{both_backends, TestStore};
use crate::change::{ChangeError, PaymentChange};
use crate::event::{EventKind, EventTransfer};
use crate::status::InvalidTransition;
use crate::store::{Backend, StoreError};
use crate::{BaseUnits, ChainId, PaymentStatus};

const NOW: i64 = 1_700_000_100_000;

fn transfer(amount: u64) -> EventTransfer {
    EventTransfer {
        chain_id: ChainId(8453),
        token: address!("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
        from: Address::repeat_byte(0xbb),
        amount_base_units: BaseUnits(U256::from(amount)),
        tx_hash: B256::repeat_byte(0x11),
        log_index: 3,
        block_number: 40,
    }
}

/// `(type, status in the body)` of every event about the payment, oldest first.
async fn events(store: &TestStore, id: &crate::PaymentId) -> Vec<(String, String)> {
    let rows = store.events_after(id.as_str(), 0, 100).await.expect("events");
    rows.into_iter()
        .map(|(_, kind, payload)| {
            let body: serde_json::Value = serde_json::from_str(&payload).expect("body");
            (kind, body["status"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

async fn a_change_is_written_with_its_event_and_a_refused_one_writes_nothing(backend: Backend) {
    let store = TestStore::fresh(backend).await;
    let payment = insert(&store, "buyer-1", 8453, 1, Address::repeat_byte(0xa1)).await;

    let mut tx = store.begin().await.expect("begin");
    let mut locked = store.payment_for_update(&mut tx, &payment.id).await.expect("read").expect("payment");
    let change = PaymentChange::Credited { transfer: transfer(400_000), confirmations: 1 };
    let event = store.apply_change(&mut tx, &mut locked, change, 3, NOW).await.expect("credit");
    assert_eq!(event, Some(EventKind::Processing));
    store.commit_with_events(tx).await.expect("commit");
    let read = store.payment(&payment.id).await.expect("read").expect("payment");
    assert_eq!(read, locked, "what was applied is what is stored");
    assert_eq!((read.status, read.received), (PaymentStatus::Processing, BaseUnits(U256::from(400_000u64))));
    assert_eq!(events(&store, &payment.id).await, [("payment.processing".to_owned(), "processing".to_owned())]);

    // Expiry is for an unpaid pending payment only: refused, nothing written, nothing announced.
    let refused = store.change_payment(&payment.id, None, NOW + 1, |_| Some(PaymentChange::Expired)).await;
    assert!(
        matches!(
            refused,
            Err(StoreError::Change(ChangeError::Transition(InvalidTransition {
                from: PaymentStatus::Processing,
                to: PaymentStatus::Cancelled
            })))
        ),
        "{refused:?}"
    );
    assert_eq!(store.payment(&payment.id).await.expect("read").expect("payment"), read);
    assert_eq!(events(&store, &payment.id).await.len(), 1);

    // Nothing decided: nothing written.
    assert!(store.change_payment(&payment.id, None, NOW + 2, |_| None).await.expect("nothing").is_none());
    assert_eq!(store.payment(&payment.id).await.expect("read").expect("payment").updated_at, read.updated_at);
}

async fn an_admin_closes_a_pending_payment_and_the_keys_written_are_kept(backend: Backend) {
    let store = TestStore::fresh(backend).await;
    let payment = insert(&store, "buyer-1", 8453, 1, Address::repeat_byte(0xa1)).await;
    let note = json!({"reviewed": "yes"}).as_object().cloned();
    let changed = store
        .edit_payment(&payment.id, Some(PaymentStatus::Failed), note, "admin-1", NOW)
        .await
        .expect("edit")
        .expect("payment");
    assert_eq!(changed.event, Some(EventKind::Cancelled));
    let read = store.payment(&payment.id).await.expect("read").expect("payment");
    assert_eq!(read.status, PaymentStatus::Failed);
    assert_eq!(read.metadata, json!({"reviewed": "yes"}));
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(store.admin_metadata_keys(&mut tx, &payment.id).await.expect("keys"), ["reviewed"]);
    tx.commit().await.expect("commit");
    assert_eq!(events(&store, &payment.id).await, [("payment.cancelled".to_owned(), "failed".to_owned())]);

    // A closed payment is not reopened or closed again by hand.
    let again = store.edit_payment(&payment.id, Some(PaymentStatus::Cancelled), None, "admin-1", NOW + 1).await;
    assert!(matches!(again, Err(StoreError::Change(ChangeError::Transition(_)))), "{again:?}");
    assert!(store.edit_payment(&crate::PaymentId::new(), None, None, "admin-1", NOW).await.expect("edit").is_none());
}

both_backends!(
    a_change_is_written_with_its_event_and_a_refused_one_writes_nothing,
    an_admin_closes_a_pending_payment_and_the_keys_written_are_kept,
);
