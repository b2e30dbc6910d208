//! The webhook contract: every kind of event payscan sends goes from its typed `WebhookEvent`
//! through the outbox and the dispatcher, over real HTTP, to a peer that parses it back into
//! the same type, and to payscan's own receiver, which accepts it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use payscan_core::event::{
    payment_event, payout_event, CreditedTransfer, EventDetail, EventKind, EventSettlement, EventTransfer, PayoutEvent,
    WebhookEvent,
};
use payscan_core::store::Store;
use payscan_core::webhook::SELF_TARGET;
use payscan_core::{BaseUnits, PaymentId, PayoutId};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Row;

use crate::both_backends;
use crate::support::receiver::Delivery;
use crate::support::*;

/// The detail each payment event kind carries when payscan sends it.
fn detail(kind: EventKind, payout_id: &PayoutId, chain_id: u64) -> Option<EventDetail> {
    let transfer = EventTransfer {
        chain_id: payscan_core::ChainId(chain_id),
        token: Address::with_last_byte(0xc0),
        from: Address::with_last_byte(0xb1),
        amount_base_units: BaseUnits(U256::from(2_000_000u64)),
        tx_hash: B256::repeat_byte(0x11),
        log_index: 4,
        block_number: 77,
    };
    match kind {
        EventKind::Processing | EventKind::ExtraTransfer | EventKind::Misdirected => {
            Some(EventDetail::Transfer(transfer))
        }
        EventKind::Reverted => Some(EventDetail::RevertedTransfers(vec![CreditedTransfer {
            chain_id: transfer.chain_id,
            tx_hash: transfer.tx_hash,
            log_index: transfer.log_index,
            block_number: transfer.block_number,
            block_hash: B256::repeat_byte(0x22),
            token: transfer.token,
            from: transfer.from,
            amount_base_units: transfer.amount_base_units,
            counted: true,
            reverted: true,
            payment_reference: Some("0x0102030405060708".into()),
            fee_amount_base_units: Some(BaseUnits::ZERO),
            fee_address: Some(Address::ZERO),
        }])),
        EventKind::Released | EventKind::Refunded => Some(EventDetail::Settlement(EventSettlement {
            payout_id: payout_id.clone(),
            recipient: Address::with_last_byte(0xd0),
            tx_hash: Some(B256::repeat_byte(0x33)),
        })),
        EventKind::Cancelled => Some(EventDetail::Reason("expired".into())),
        EventKind::Underpaid | EventKind::Completed | EventKind::SafetyCheckFailed => None,
    }
}

both_backends!(
    every_event_kind_reaches_a_peer_as_the_same_typed_event_and_payscans_own_receiver_accepts_it,
    |backend| async move {
        let chain = TestChain::start(31337).await;
        let port = ReservedPort::new();
        let mut options = AppOptions::new(backend, &chain);
        options.targets = vec![port.url()];
        local_signer(&mut options);
        let app = TestApp::spawn(options).await;
        let receiver = Receiver::start_on(port, &app.webhook_secret).await;

        // A real payment and a real payout: payscan's receiver accepts events about known ones only.
        let intent = app.intent("buyer-1", intent_body("offer-contract", "2", "USDC", &chain)).await;
        let payment_id: PaymentId = intent["paymentId"].as_str().expect("id").parse().expect("payment id");
        let body = json!({
            "userId": "seller-1", "amount": "2", "token": "USDC", "chainId": chain.chain_id,
            "destination": { "type": "address", "account": Address::with_last_byte(0xd0).to_checksum(None) },
            "reference": "contract-1",
        });
        let (status, created) = app.post("/payouts", Some(&app.admin()), &body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let payout_id: PayoutId = created["data"]["payoutId"].as_str().expect("id").parse().expect("payout id");

        let store = Store::connect(&app.env.db.url)
            .await
            .expect("store")
            .with_webhook_targets(vec![receiver.url.clone(), SELF_TARGET.to_owned()]);
        let payment = store.payment(&payment_id).await.expect("read").expect("payment");
        let payout = store.payout(&payout_id).await.expect("read").expect("payout");
        let now = payscan_core::clock::now_ms();
        let mut sent: HashMap<String, WebhookEvent> = HashMap::new();
        let mut tx = store.begin().await.expect("begin");
        for kind in EventKind::ALL {
            let event = payment_event(kind, &payment, 3, detail(kind, &payout_id, chain.chain_id), now);
            sent.insert(store.enqueue_event(&mut tx, &event, now).await.expect("enqueue").to_string(), event);
        }
        for kind in PayoutEvent::ALL {
            let event = payout_event(kind, &payout, now);
            sent.insert(store.enqueue_event(&mut tx, &event, now).await.expect("enqueue").to_string(), event);
        }
        store.commit_with_events(tx).await.expect("commit");

        // The peer parses each body back into the type payscan serialized it from: nothing lost,
        // nothing renamed, the Standard Webhooks signature verified.
        let deadline = Instant::now() + Duration::from_secs(60);
        let arrived = loop {
            let arrived: HashMap<String, Delivery> = receiver
                .deliveries()
                .into_iter()
                .filter(|d| sent.contains_key(&d.id))
                .map(|d| (d.id.clone(), d))
                .collect();
            if arrived.len() == sent.len() {
                break arrived;
            }
            assert!(Instant::now() < deadline, "{} of {} events reached the peer", arrived.len(), sent.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(receiver.unverified(), 0);
        for (id, event) in &sent {
            let delivery = &arrived[id];
            assert_eq!(delivery.event_type, event.event_type(), "{id}");
            let parsed: WebhookEvent = serde_json::from_value(delivery.body.clone())
                .unwrap_or_else(|e| panic!("{} does not parse back: {e}\n{:#}", event.event_type(), delivery.body));
            assert_eq!(&parsed, event, "{} came back different", event.event_type());
        }

        // payscan's own receiver took every one of them as processed, once.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let rows = sqlx::query("SELECT webhook_id, event_type FROM webhook_receipts")
                .fetch_all(store.pool())
                .await
                .expect("receipts");
            let received: HashMap<String, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
            if sent.iter().all(|(id, event)| received.get(id).map(String::as_str) == Some(event.event_type())) {
                break;
            }
            assert!(Instant::now() < deadline, "payscan's receiver took {} of {} events", received.len(), sent.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        app.stop().await;
    }
);
