//! JSON shapes of the API's answers. Base-unit amounts are decimal strings.

use std::collections::HashMap;

use payscan_core::clock::rfc3339;
use payscan_core::registry::Registry;
use payscan_core::store::outbox::DeliveryRecord;
use payscan_core::store::payouts::Payout;
use payscan_core::store::Payment;
use payscan_core::ChainId;
use serde_json::{json, Value};

/// The threshold a payment's chain uses now.
pub fn threshold_of(registry: &Registry, overrides: &HashMap<ChainId, u64>, payment: &Payment) -> Option<u64> {
    let chain_id = payment.rail.chain_id;
    registry.chain(chain_id).map(|c| c.effective_threshold(overrides.get(&chain_id).copied()))
}

/// A payment as the API shows it.
pub fn payment(registry: &Registry, overrides: &HashMap<ChainId, u64>, p: &Payment) -> Value {
    let decimals = p.rail.token.decimals;
    let mut metadata = p.metadata.clone();
    if let (Some(safety), Some(map)) = (&p.safety, metadata.as_object_mut()) {
        map.insert("transactionSafety".to_owned(), safety.clone());
    }
    let network = registry.chain(p.rail.chain_id).map(|c| c.short_name.clone());
    json!({
        "paymentId": p.id,
        "provider": p.rail.provider.as_str(),
        "status": p.status,
        "escrowState": p.escrow,
        "chainId": p.rail.chain_id,
        "network": network,
        "token": p.rail.token,
        "amount": p.rail.amount.to_token_units(decimals),
        "amountBaseUnits": p.rail.amount,
        "amountReceived": p.received.to_token_units(decimals),
        "amountReceivedBaseUnits": p.received,
        "overpaidBaseUnits": p.overpaid(),
        "underpaid": p.underpaid,
        "destination": p.destination.to_checksum(None),
        "derivationIndex": p.derivation_index,
        "derivationPath": format!("m/44'/60'/0'/0/{}", p.derivation_index),
        "confirmations": p.confirmations,
        "threshold": threshold_of(registry, overrides, p),
        "txHash": p.tx_hash.map(|h| format!("{h:#x}")),
        "purchaseRequestId": p.purchase_request_id,
        "sellerOfferId": p.seller_offer_id,
        "sellerId": p.seller_id,
        "buyerId": p.buyer_id,
        "metadata": metadata,
        "expiresAt": rfc3339(p.expires_at),
        "createdAt": rfc3339(p.created_at),
        "updatedAt": rfc3339(p.updated_at),
        "completedAt": p.completed_at.map(rfc3339),
    })
}

/// One webhook delivery (admin view).
pub fn delivery(d: &DeliveryRecord) -> Value {
    json!({
        "webhookId": d.event_id,
        "type": d.event_type,
        "target": d.target,
        "status": d.status,
        "attempts": d.attempts,
        "lastStatus": d.last_status,
        "lastError": d.last_error,
    })
}

/// A payout (a release or refund included) as the API shows it.
pub fn payout(p: &Payout) -> Value {
    json!({
        "payoutId": p.id,
        "kind": p.kind,
        "status": p.status,
        "userId": p.user_id,
        "reference": p.reference,
        "contractId": p.contract_id,
        "reason": p.reason,
        "paymentId": p.payment_id,
        "chainId": p.chain_id,
        "token": p.token,
        "destination": { "type": "address", "account": p.recipient.to_checksum(None) },
        "amount": p.amount.to_token_units(p.token.decimals),
        "amountBaseUnits": p.amount,
        "attempts": p.attempts,
        "txHash": p.tx_hash.map(|h| format!("{h:#x}")),
        "lastError": p.last_error,
        "nextAttemptAt": p.next_attempt_at.map(rfc3339),
        "createdAt": rfc3339(p.created_at),
        "updatedAt": rfc3339(p.updated_at),
        "completedAt": p.completed_at.map(rfc3339),
    })
}
