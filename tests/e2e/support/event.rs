//! A payment event about a payment that need not exist, for tests that fill the outbox directly.

use alloy::primitives::{Address, U256};
use payscan_core::event::{EventKind, PaymentEvent, WebhookEvent};
use payscan_core::store::payments::TokenRef;
use payscan_core::{BaseUnits, ChainId, EscrowState, PaymentId, PaymentStatus, Provider};

/// A `kind` event about `payment_id`: a 2 USDC payment on chain 31337, nothing received yet.
pub fn event_about(payment_id: &PaymentId, kind: EventKind) -> WebhookEvent {
    WebhookEvent::Payment(PaymentEvent {
        kind,
        intent_id: payment_id.clone(),
        payment_id: payment_id.clone(),
        provider: Provider::AmnScanner,
        status: PaymentStatus::Processing,
        escrow_state: EscrowState::Unfunded,
        tx_hash: None,
        transaction_hash: None,
        chain_id: ChainId(31337),
        confirmations: 0,
        threshold: 1,
        amount: "2".into(),
        amount_base_units: BaseUnits(U256::from(2_000_000u64)),
        amount_received: "0".into(),
        amount_received_base_units: BaseUnits::ZERO,
        overpaid_base_units: BaseUnits::ZERO,
        underpaid: false,
        transaction_safety: None,
        token: TokenRef { symbol: "USDC".into(), address: Address::with_last_byte(0xc0), decimals: 6 },
        destination: Address::with_last_byte(0xde),
        purchase_request_id: "pr-test".into(),
        seller_offer_id: "offer-test".into(),
        seller_id: "seller-test".into(),
        buyer_id: "buyer-test".into(),
        occurred_at: payscan_core::clock::rfc3339(payscan_core::clock::now_ms()),
        transfer: None,
        reverted_transfers: None,
        settlement: None,
        reason: None,
    })
}
