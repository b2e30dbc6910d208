//! The destinations list: its filters bind in the order their placeholders are numbered.

use alloy::primitives::{address, Address, U256};
use serde_json::json;

use super::support::{both_backends, TestStore};
use crate::store::destinations::DestinationFilter;
use crate::store::payments::{NewPayment, Rail, TokenRef};
use crate::store::{Backend, Payment};
use crate::{BaseUnits, ChainId, DerivationIndex, Provider};

const NOW: i64 = 1_700_000_000_123;

pub(super) async fn insert(store: &TestStore, buyer: &str, chain: u64, index: u32, destination: Address) -> Payment {
    let new = NewPayment {
        buyer_id: buyer.into(),
        seller_id: "seller-1".into(),
        seller_offer_id: format!("offer-{index}"),
        purchase_request_id: format!("pr-{index}"),
        rail: Rail {
            provider: Provider::AmnScanner,
            chain_id: ChainId(chain),
            token: TokenRef {
                symbol: "USDC".into(),
                address: address!("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
                decimals: 6,
            },
            amount: BaseUnits(U256::from(1_000_000u64)),
        },
        metadata: json!({}),
        expires_at: NOW + 3_600_000,
        rn_payee: None,
    };
    let mut tx = store.begin().await.expect("begin");
    let index = DerivationIndex::new(index).expect("index");
    let payment =
        store.insert_payment(&mut tx, new, index, destination, NOW + i64::from(index.get())).await.expect("insert");
    tx.commit().await.expect("commit");
    payment
}

async fn destinations_filter_by_every_condition_at_once(backend: Backend) {
    let store = TestStore::fresh(backend).await;
    let (a, b, c) = (Address::repeat_byte(0xa1), Address::repeat_byte(0xb2), Address::repeat_byte(0xc3));
    let first = insert(&store, "buyer-1", 8453, 1, a).await;
    insert(&store, "buyer-1", 1, 2, b).await;
    insert(&store, "buyer-2", 8453, 3, c).await;
    store.save_destination_balance(&first.id, BaseUnits(U256::from(5u64)), NOW).await.expect("balance");

    let list = |filter: DestinationFilter| {
        let store = &store;
        async move {
            let (page, total) = store.destinations(&filter, 10, 0).await.expect("destinations");
            (page.into_iter().map(|d| d.address).collect::<Vec<_>>(), total)
        }
    };
    assert_eq!(list(DestinationFilter::default()).await, (vec![c, b, a], 3));
    let buyer = DestinationFilter { buyer_id: Some("buyer-1".into()), ..Default::default() };
    assert_eq!(list(buyer.clone()).await, (vec![b, a], 2));
    let on_base = DestinationFilter { chain_id: Some(ChainId(8453)), swept: Some(false), ..buyer };
    assert_eq!(list(on_base.clone()).await, (vec![a], 1));
    let by_address = DestinationFilter { address: Some(a), seller_offer_id: Some("offer-1".into()), ..on_base };
    assert_eq!(list(by_address).await, (vec![a], 1));
    assert_eq!(list(DestinationFilter { swept: Some(true), ..Default::default() }).await, (vec![], 0));

    let one = store.destination(&first.id).await.expect("destination").expect("exists");
    assert_eq!(
        (one.balance, one.sweep_count, one.total_swept),
        (Some(BaseUnits(U256::from(5u64))), 0, BaseUnits::default())
    );
}

both_backends!(destinations_filter_by_every_condition_at_once);
