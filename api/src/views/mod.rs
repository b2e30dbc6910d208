//! The API's answers. Base-unit amounts are decimal strings.

pub mod payout;

use std::collections::HashMap;

use axum::Json;
use payscan_core::clock::rfc3339;
use payscan_core::registry::Registry;
use payscan_core::store::Payment;
use payscan_core::{ChainId, Provider};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// A successful answer: `{success: true, data}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always `true`.
    pub success: bool,
    pub data: T,
}

impl<T> Envelope<T> {
    /// `data` as a successful answer.
    pub fn of(data: T) -> Json<Self> {
        Json(Self { success: true, data })
    }
}

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
    let chain = registry.chain(p.rail.chain_id);
    let network = chain.map(|c| c.short_name.clone());
    let mut view = json!({
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
    });
    // The Request Network rail: what the fee proxy must carry, and where it pays.
    if let (Provider::RequestNetwork, Some(rn), Some(map)) = (p.rail.provider, &p.rn, view.as_object_mut()) {
        map.insert("paymentReference".into(), json!(rn.reference.to_string()));
        map.insert("salt".into(), json!(rn.salt));
        map.insert("payee".into(), json!(rn.payee.to_checksum(None)));
        map.insert("feeProxy".into(), json!(chain.and_then(|c| c.proxy_address).map(|a| a.to_checksum(None))));
    }
    view
}
