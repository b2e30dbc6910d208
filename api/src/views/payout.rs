//! A payout (a release or refund included), and a webhook delivery, as every route shows them.

use payscan_core::clock::rfc3339;
use payscan_core::store::outbox::DeliveryRecord;
use payscan_core::store::payments::TokenRef;
use payscan_core::store::payouts::Payout;
use payscan_core::store::Payment;
use payscan_core::{
    BaseUnits, ChainId, EscrowState, EventId, PaymentId, PaymentStatus, PayoutId, PayoutKind, PayoutStatus,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::schemas;

/// A payout: a transfer from the payout wallet, a release of an escrow or a refund.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Payout)]
pub struct PayoutView {
    pub payout_id: PayoutId,
    /// `payout`, `release` or `refund`.
    #[schema(value_type = String)]
    pub kind: PayoutKind,
    /// `QUEUED`, `PROCESSING`, `RETRY_n`, `FAILED`, `COMPLETED`, `MANUAL_REVIEW`, `BUILT`,
    /// `CANCELLED`.
    #[schema(value_type = String)]
    pub status: PayoutStatus,
    pub user_id: String,
    pub reference: String,
    pub contract_id: Option<String>,
    pub reason: Option<String>,
    pub payment_id: Option<PaymentId>,
    #[schema(value_type = u64)]
    pub chain_id: ChainId,
    #[schema(value_type = schemas::TokenRef)]
    pub token: TokenRef,
    pub destination: PayoutDestination,
    #[schema(value_type = schemas::TokenUnits)]
    pub amount: String,
    pub amount_base_units: BaseUnits,
    pub attempts: u32,
    #[schema(value_type = Option<schemas::TxHash>)]
    pub tx_hash: Option<String>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutDestination {
    /// Always `address`: payscan pays out on chain.
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[schema(value_type = schemas::Address)]
    pub account: String,
}

impl From<&Payout> for PayoutView {
    fn from(p: &Payout) -> Self {
        Self {
            payout_id: p.id.clone(),
            kind: p.kind,
            status: p.status,
            user_id: p.user_id.clone(),
            reference: p.reference.clone(),
            contract_id: p.contract_id.clone(),
            reason: p.reason.clone(),
            payment_id: p.payment_id.clone(),
            chain_id: p.chain_id,
            token: p.token.clone(),
            destination: PayoutDestination { kind: "address", account: p.recipient.to_checksum(None) },
            amount: p.amount.to_token_units(p.token.decimals),
            amount_base_units: p.amount,
            attempts: p.attempts,
            tx_hash: p.tx_hash.map(|h| format!("{h:#x}")),
            last_error: p.last_error.clone(),
            next_attempt_at: p.next_attempt_at.map(rfc3339),
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
            completed_at: p.completed_at.map(rfc3339),
        }
    }
}

/// A release or refund: the payment's state, and the payout that settles it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Settlement {
    pub payment_id: PaymentId,
    pub status: PaymentStatus,
    pub escrow_state: EscrowState,
    pub settlement: SettlementPayout,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementPayout {
    pub payout: PayoutView,
    /// Build-only signer: the unsigned transfer for an external signer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

impl Settlement {
    /// `payment` as it stands after `payout` settled (or was built for) its escrow.
    pub fn new(payment: &Payment, payout: &Payout, payload: Option<Value>) -> Self {
        Self {
            payment_id: payment.id.clone(),
            status: payment.status,
            escrow_state: payment.escrow,
            settlement: SettlementPayout { payout: PayoutView::from(payout), payload },
        }
    }
}

/// One webhook delivery: an event to one target (admin view).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Delivery)]
pub struct DeliveryView {
    /// The event's id, the same on every retry (`webhook-id`).
    pub webhook_id: EventId,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The target's URL, or `self` for payscan's own receiver.
    pub target: String,
    /// `pending`, `delivered`, `manual_review`, or `gone` (the target answered 410: not retried).
    pub status: String,
    pub attempts: i64,
    /// The HTTP status of the last attempt, when it got one.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

impl From<&DeliveryRecord> for DeliveryView {
    fn from(d: &DeliveryRecord) -> Self {
        Self {
            webhook_id: d.event_id.clone(),
            event_type: d.event_type.clone(),
            target: d.target.clone(),
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, B256};
    use serde_json::json;

    use super::*;

    #[test]
    fn a_payout_answers_the_fields_and_formats_the_seed_names() {
        let token = TokenRef { symbol: "USDC".into(), address: Address::with_last_byte(0x0c), decimals: 6 };
        let payout = Payout {
            id: "po_01JD7Z5W8Q2V4N6M3K1H0G9F8E".parse().expect("id"),
            kind: PayoutKind::Refund,
            user_id: "buyer-1".into(),
            reference: "ref-1".into(),
            contract_id: None,
            reason: Some("refund".into()),
            payment_id: Some("pay_01JD7Z5W8Q2V4N6M3K1H0G9F8E".parse().expect("id")),
            holds_escrow: true,
            chain_id: ChainId(31337),
            token,
            recipient: Address::with_last_byte(0xb1),
            amount: BaseUnits(alloy::primitives::U256::from(7_500_000u64)),
            status: PayoutStatus::Retrying(2),
            attempts: 3,
            failures: 2,
            next_attempt_at: Some(1_700_000_060_000),
            tx_hash: Some(B256::with_last_byte(1)),
            last_error: Some("nonce too low".into()),
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_030_000,
            completed_at: None,
        };
        let answered = serde_json::to_value(PayoutView::from(&payout)).expect("serializes");
        assert_eq!(
            answered,
            json!({
                "payoutId": "po_01JD7Z5W8Q2V4N6M3K1H0G9F8E",
                "kind": "refund",
                "status": "RETRY_2",
                "userId": "buyer-1",
                "reference": "ref-1",
                "contractId": null,
                "reason": "refund",
                "paymentId": "pay_01JD7Z5W8Q2V4N6M3K1H0G9F8E",
                "chainId": 31337,
                "token": { "symbol": "USDC", "address": Address::with_last_byte(0x0c).to_checksum(None), "decimals": 6 },
                "destination": { "type": "address", "account": Address::with_last_byte(0xb1).to_checksum(None) },
                "amount": "7.5",
                "amountBaseUnits": "7500000",
                "attempts": 3,
                "txHash": format!("{:#x}", B256::with_last_byte(1)),
                "lastError": "nonce too low",
                "nextAttemptAt": rfc3339(1_700_000_060_000),
                "createdAt": rfc3339(1_700_000_000_000),
                "updatedAt": rfc3339(1_700_000_030_000),
                "completedAt": null,
            })
        );
    }
}
