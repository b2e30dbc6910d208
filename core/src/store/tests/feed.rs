//! What the event fan-out reads.

use alloy::primitives::Address;

use super::destinations::insert;
use super::support::{both_backends, TestStore};
use crate::store::Backend;
use crate::PaymentId;

async fn payments_are_read_by_the_ids_that_exist(backend: Backend) {
    let store = TestStore::fresh(backend).await;
    let first = insert(&store, "buyer-1", 8453, 1, Address::repeat_byte(0xa1)).await;
    let second = insert(&store, "buyer-2", 8453, 2, Address::repeat_byte(0xb2)).await;
    insert(&store, "buyer-3", 8453, 3, Address::repeat_byte(0xc3)).await;
    let ids = [second.id.clone(), PaymentId::new(), first.id.clone()];
    let mut found = store.payments_by_ids(&ids).await.expect("payments");
    found.sort_by_key(|p| p.created_at);
    assert_eq!(found, [first, second]);
    assert!(store.payments_by_ids(&[]).await.expect("payments").is_empty());
}

both_backends!(payments_are_read_by_the_ids_that_exist);
