//! The body of a payment event, and what a few kinds of event add to it.

use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::EventKind;
use crate::store::credits::Credit;
use crate::store::payments::TokenRef;
use crate::store::Payment;
use crate::{BaseUnits, ChainId, EscrowState, PaymentId, PaymentStatus, PayoutId, Provider};

/// A payment event as every target receives it. `txHash` and `transactionHash` are the same
/// value under the seed's two names; amounts come both in token units and in base units, each a
/// decimal string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PaymentEvent {
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The seed's name for the payment id.
    pub intent_id: PaymentId,
    pub payment_id: PaymentId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "amn.scanner"))]
    pub provider: Provider,
    pub status: PaymentStatus,
    pub escrow_state: EscrowState,
    /// The newest counted transfer's transaction.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub tx_hash: Option<B256>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub transaction_hash: Option<B256>,
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub chain_id: ChainId,
    pub confirmations: u64,
    pub threshold: u64,
    /// In token units (`"12.5"`).
    pub amount: String,
    pub amount_base_units: BaseUnits,
    /// In token units.
    pub amount_received: String,
    pub amount_received_base_units: BaseUnits,
    pub overpaid_base_units: BaseUnits,
    pub underpaid: bool,
    /// The Transaction Safety evaluation (`status`, `checks`), once the threshold was reached.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub transaction_safety: Option<Value>,
    pub token: TokenRef,
    #[serde(with = "super::checksummed")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub destination: Address,
    pub purchase_request_id: String,
    pub seller_offer_id: String,
    pub seller_id: String,
    pub buyer_id: String,
    /// RFC 3339, in milliseconds.
    pub occurred_at: String,
    /// The transfer behind a `processing`, `extra_transfer` or `misdirected` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<EventTransfer>,
    /// What a reorg took away (`reverted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverted_transfers: Option<Vec<CreditedTransfer>>,
    /// The payout that moved the escrow (`released`, `refunded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement: Option<EventSettlement>,
    /// Why a payment was cancelled or set by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What one kind of payment event adds to the body, under its own key.
#[derive(Debug, Clone, PartialEq)]
pub enum EventDetail {
    /// `transfer`
    Transfer(EventTransfer),
    /// `revertedTransfers`
    RevertedTransfers(Vec<CreditedTransfer>),
    /// `settlement`
    Settlement(EventSettlement),
    /// `reason`
    Reason(String),
}

/// The transfer a follower just recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EventTransfer {
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub chain_id: ChainId,
    #[serde(with = "super::checksummed")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub token: Address,
    #[serde(with = "super::checksummed")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub from: Address,
    pub amount_base_units: BaseUnits,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tx_hash: B256,
    pub log_index: u64,
    pub block_number: u64,
}

/// A credited transfer, as the API's `transfers` show it too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreditedTransfer {
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub chain_id: ChainId,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tx_hash: B256,
    pub log_index: u64,
    pub block_number: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub block_hash: B256,
    #[serde(with = "super::checksummed")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub token: Address,
    #[serde(with = "super::checksummed")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub from: Address,
    pub amount_base_units: BaseUnits,
    pub counted: bool,
    pub reverted: bool,
    /// Request Network's payment reference, for a transfer through the fee proxy.
    pub payment_reference: Option<String>,
    pub fee_amount_base_units: Option<BaseUnits>,
    #[serde(with = "super::checksummed::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub fee_address: Option<Address>,
}

impl From<&Credit> for CreditedTransfer {
    fn from(credit: &Credit) -> Self {
        Self {
            chain_id: credit.chain_id,
            tx_hash: credit.tx_hash,
            log_index: credit.log_index,
            block_number: credit.block_number,
            block_hash: credit.block_hash,
            token: credit.token,
            from: credit.from,
            amount_base_units: credit.amount,
            counted: credit.counted,
            reverted: credit.reverted,
            payment_reference: credit.proxy.as_ref().map(|p| p.reference.to_string()),
            fee_amount_base_units: credit.proxy.as_ref().map(|p| p.fee_amount),
            fee_address: credit.proxy.as_ref().map(|p| p.fee_address),
        }
    }
}

/// The payout that released or refunded a payment's escrow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EventSettlement {
    pub payout_id: PayoutId,
    #[serde(with = "super::checksummed")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub recipient: Address,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub tx_hash: Option<B256>,
}

impl PaymentEvent {
    /// The body of the event `kind` about `payment`, as of `occurred_at` (RFC 3339).
    pub fn new(
        kind: EventKind,
        payment: &Payment,
        threshold: u64,
        detail: Option<EventDetail>,
        occurred_at: String,
    ) -> Self {
        let decimals = payment.rail.token.decimals;
        let mut event = Self {
            kind,
            intent_id: payment.id.clone(),
            payment_id: payment.id.clone(),
            provider: payment.rail.provider,
            status: payment.status,
            escrow_state: payment.escrow,
            tx_hash: payment.tx_hash,
            transaction_hash: payment.tx_hash,
            chain_id: payment.rail.chain_id,
            confirmations: payment.confirmations,
            threshold,
            amount: payment.rail.amount.to_token_units(decimals),
            amount_base_units: payment.rail.amount,
            amount_received: payment.received.to_token_units(decimals),
            amount_received_base_units: payment.received,
            overpaid_base_units: payment.overpaid(),
            underpaid: payment.underpaid,
            transaction_safety: payment.safety.clone(),
            token: payment.rail.token.clone(),
            destination: payment.destination,
            purchase_request_id: payment.purchase_request_id.clone(),
            seller_offer_id: payment.seller_offer_id.clone(),
            seller_id: payment.seller_id.clone(),
            buyer_id: payment.buyer_id.clone(),
            occurred_at,
            transfer: None,
            reverted_transfers: None,
            settlement: None,
            reason: None,
        };
        match detail {
            Some(EventDetail::Transfer(transfer)) => event.transfer = Some(transfer),
            Some(EventDetail::RevertedTransfers(lost)) => event.reverted_transfers = Some(lost),
            Some(EventDetail::Settlement(settlement)) => event.settlement = Some(settlement),
            Some(EventDetail::Reason(reason)) => event.reason = Some(reason),
            None => {}
        }
        event
    }
}
