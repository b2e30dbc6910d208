//! The body of a payout event (releases and refunds included).

use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};

use super::PayoutEvent;
use crate::clock;
use crate::store::payments::TokenRef;
use crate::store::payouts::Payout;
use crate::{BaseUnits, ChainId, PaymentId, PayoutId, PayoutKind, PayoutStatus};

/// A payout event as every target receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PayoutEventBody {
    #[serde(rename = "type")]
    pub event: PayoutEvent,
    pub payout_id: PayoutId,
    /// `payout`, `release` or `refund`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "release"))]
    pub kind: PayoutKind,
    /// `QUEUED`, `PROCESSING`, `RETRY_n`, `FAILED`, `COMPLETED`, `MANUAL_REVIEW`, `BUILT`,
    /// `CANCELLED`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "QUEUED"))]
    pub status: PayoutStatus,
    pub user_id: String,
    /// The caller's idempotency key.
    pub reference: String,
    pub contract_id: Option<String>,
    pub reason: Option<String>,
    /// The payment a release or refund settles.
    pub payment_id: Option<PaymentId>,
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub chain_id: ChainId,
    pub token: TokenRef,
    #[serde(with = "super::checksummed")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub recipient: Address,
    /// In token units (`"12.5"`).
    pub amount: String,
    pub amount_base_units: BaseUnits,
    /// Attempts made, every retry included.
    pub attempts: u32,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub tx_hash: Option<B256>,
    /// The last attempt's failure.
    pub error: Option<String>,
    /// RFC 3339: when the next retry runs.
    pub next_attempt_at: Option<String>,
    /// RFC 3339, in milliseconds.
    pub occurred_at: String,
}

impl PayoutEventBody {
    /// The body of the event `event` about `payout`, as of `occurred_at` (RFC 3339).
    pub fn new(event: PayoutEvent, payout: &Payout, occurred_at: String) -> Self {
        Self {
            event,
            payout_id: payout.id.clone(),
            kind: payout.kind,
            status: payout.status,
            user_id: payout.user_id.clone(),
            reference: payout.reference.clone(),
            contract_id: payout.contract_id.clone(),
            reason: payout.reason.clone(),
            payment_id: payout.payment_id.clone(),
            chain_id: payout.chain_id,
            token: payout.token.clone(),
            recipient: payout.recipient,
            amount: payout.amount.to_token_units(payout.token.decimals),
            amount_base_units: payout.amount,
            attempts: payout.attempts,
            tx_hash: payout.tx_hash,
            error: payout.last_error.clone(),
            next_attempt_at: payout.next_attempt_at.map(clock::rfc3339),
            occurred_at,
        }
    }
}
