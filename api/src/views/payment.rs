//! A payment as every route shows it, and the answers that add to it.

use std::collections::HashMap;

use axum::Json;
use payscan_core::clock::rfc3339;
use payscan_core::event::CreditedTransfer;
use payscan_core::quote::Quote;
use payscan_core::registry::{Registry, Token};
use payscan_core::store::payments::TokenRef;
use payscan_core::store::Payment;
use payscan_core::{BaseUnits, ChainId, DerivationIndex, EscrowState, PaymentId, PaymentStatus, Provider};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::payout::DeliveryView;
use crate::schemas;

/// A payment, as every route that shows one shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Payment)]
pub struct PaymentView {
    pub payment_id: PaymentId,
    /// `amn.scanner` (a derived address) or `request.network` (through the fee proxy).
    #[schema(value_type = String)]
    pub provider: Provider,
    pub status: PaymentStatus,
    pub escrow_state: EscrowState,
    #[schema(value_type = u64)]
    pub chain_id: ChainId,
    pub network: Option<String>,
    #[schema(value_type = schemas::TokenRef)]
    pub token: TokenRef,
    #[schema(value_type = schemas::TokenUnits)]
    pub amount: String,
    pub amount_base_units: BaseUnits,
    #[schema(value_type = schemas::TokenUnits)]
    pub amount_received: String,
    pub amount_received_base_units: BaseUnits,
    pub overpaid_base_units: BaseUnits,
    pub underpaid: bool,
    #[schema(value_type = schemas::Address)]
    pub destination: String,
    #[schema(value_type = u32)]
    pub derivation_index: DerivationIndex,
    pub derivation_path: String,
    pub confirmations: u64,
    pub threshold: Option<u64>,
    #[schema(value_type = Option<schemas::TxHash>)]
    pub tx_hash: Option<String>,
    pub purchase_request_id: String,
    pub seller_offer_id: String,
    pub seller_id: String,
    pub buyer_id: String,
    /// The intent's metadata, plus `transactionSafety` once the checks ran.
    pub metadata: Value,
    pub expires_at: String,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
    /// Request Network rail only: the 16-hex-character payment reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_reference: Option<String>,
    /// Request Network rail only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// Request Network rail only: who the fee proxy pays.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<schemas::Address>)]
    pub payee: Option<String>,
    /// Request Network rail only: the chain's ERC20FeeProxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<schemas::Address>)]
    pub fee_proxy: Option<String>,
}

/// The threshold a payment's chain uses now.
pub fn threshold_of(registry: &Registry, overrides: &HashMap<ChainId, u64>, payment: &Payment) -> Option<u64> {
    let chain_id = payment.rail.chain_id;
    registry.chain(chain_id).map(|c| c.effective_threshold(overrides.get(&chain_id).copied()))
}

impl PaymentView {
    pub fn new(registry: &Registry, overrides: &HashMap<ChainId, u64>, p: &Payment) -> Self {
        let decimals = p.rail.token.decimals;
        let mut metadata = p.metadata.clone();
        if let (Some(safety), Some(map)) = (&p.safety, metadata.as_object_mut()) {
            map.insert("transactionSafety".to_owned(), safety.clone());
        }
        let chain = registry.chain(p.rail.chain_id);
        // The Request Network rail: what the fee proxy must carry, and where it pays.
        let rn = p.rn.as_ref().filter(|_| p.rail.provider == Provider::RequestNetwork);
        Self {
            payment_id: p.id.clone(),
            provider: p.rail.provider,
            status: p.status,
            escrow_state: p.escrow,
            chain_id: p.rail.chain_id,
            network: chain.map(|c| c.short_name.clone()),
            token: p.rail.token.clone(),
            amount: p.rail.amount.to_token_units(decimals),
            amount_base_units: p.rail.amount,
            amount_received: p.received.to_token_units(decimals),
            amount_received_base_units: p.received,
            overpaid_base_units: p.overpaid(),
            underpaid: p.underpaid,
            destination: p.destination.to_checksum(None),
            derivation_index: p.derivation_index,
            derivation_path: format!("m/44'/60'/0'/0/{}", p.derivation_index),
            confirmations: p.confirmations,
            threshold: threshold_of(registry, overrides, p),
            tx_hash: p.tx_hash.map(|h| format!("{h:#x}")),
            purchase_request_id: p.purchase_request_id.clone(),
            seller_offer_id: p.seller_offer_id.clone(),
            seller_id: p.seller_id.clone(),
            buyer_id: p.buyer_id.clone(),
            metadata,
            expires_at: rfc3339(p.expires_at),
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
            completed_at: p.completed_at.map(rfc3339),
            payment_reference: rn.map(|rn| rn.reference.to_string()),
            salt: rn.map(|rn| rn.salt.clone()),
            payee: rn.map(|rn| rn.payee.to_checksum(None)),
            fee_proxy: rn.and(chain.and_then(|c| c.proxy_address)).map(|a| a.to_checksum(None)),
        }
    }
}

/// A payment with what the chain and the outbox hold of it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentDetail {
    #[serde(flatten)]
    #[schema(inline)]
    pub payment: PaymentView,
    pub transfers: Vec<CreditedTransfer>,
    /// Admins only: every webhook delivery of the payment's events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<Vec<DeliveryView>>,
}

/// A payment waiting to be credited, and why.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwaitingPayment {
    #[serde(flatten)]
    #[schema(inline)]
    pub payment: PaymentView,
    /// Why it waits: confirmations, a top-up, finality, or a failed safety check.
    pub awaiting_reason: &'static str,
}

/// An intent's answer: the payment, and whether it was made or re-pointed now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntentPayment {
    #[serde(flatten)]
    #[schema(inline)]
    pub payment: PaymentView,
    pub created: bool,
    pub repointed: bool,
    /// Pay-in only: payscan's checkout route for the payment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_url: Option<String>,
    /// Pay-in only: the payment reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_payment_id: Option<String>,
}

/// `{success, data, quote?}`: the quote sits next to the payment, as the seed places it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntentAnswer {
    pub success: bool,
    pub data: IntentPayment,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote: Option<QuoteView>,
}

impl IntentAnswer {
    pub fn new(data: IntentPayment, quote: Option<QuoteView>) -> Json<Self> {
        Json(Self { success: true, data, quote })
    }
}

/// An oracle quote: the USD price settled in the token.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Quote)]
pub struct QuoteView {
    pub quote_id: String,
    pub usd_amount: String,
    #[schema(value_type = schemas::TokenUnits)]
    pub settle_amount: String,
    pub settle_amount_base_units: BaseUnits,
    pub token: String,
    #[serde(rename = "tokenPriceUSD")]
    pub token_price_usd: String,
    pub depeg_adjustment_bps: i64,
    pub rounding_bps: u32,
    #[schema(value_type = schemas::Address)]
    pub price_feed: String,
    pub expires_at: String,
}

impl QuoteView {
    pub fn new(quote_id: String, token: &Token, quote: &Quote) -> Self {
        Self {
            quote_id,
            usd_amount: quote.usd_amount.to_token_units(payscan_core::quote::USD_DECIMALS),
            settle_amount: quote.settle.to_token_units(token.decimals),
            settle_amount_base_units: quote.settle,
            token: token.symbol.clone(),
            token_price_usd: quote.price_text(),
            depeg_adjustment_bps: quote.depeg_adjustment_bps,
            rounding_bps: quote.rounding_bps,
            price_feed: quote.round.feed.to_checksum(None),
            expires_at: rfc3339(quote.expires_at),
        }
    }
}
