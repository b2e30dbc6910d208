//! A ledger row as the ledger route shows it.

use payscan_core::clock::rfc3339;
use payscan_core::store::ledger::Entry;
use payscan_core::{BaseUnits, ChainId, PaymentId, PayoutId};
use serde::Serialize;
use utoipa::ToSchema;

use crate::schemas;

/// One row of the append-only ledger.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    pub id: i64,
    /// `credit_detected`, `credit_confirmed`, `credit_reverted`, `swept`, `paid_out`,
    /// `released`, `refunded`, `fee`.
    pub kind: String,
    pub payment_id: Option<PaymentId>,
    pub payout_id: Option<PayoutId>,
    pub user_id: Option<String>,
    #[schema(value_type = u64)]
    pub chain_id: ChainId,
    #[schema(value_type = schemas::Address)]
    pub token: String,
    #[schema(value_type = schemas::Address)]
    pub account: String,
    /// `in` or `out` of `account`.
    pub direction: String,
    pub amount_base_units: BaseUnits,
    #[schema(value_type = Option<schemas::TxHash>)]
    pub tx_hash: Option<String>,
    pub log_index: Option<u64>,
    pub created_at: String,
}

impl From<&Entry> for LedgerEntry {
    fn from(e: &Entry) -> Self {
        Self {
            id: e.id,
            kind: e.kind.clone(),
            payment_id: e.payment_id.clone(),
            payout_id: e.payout_id.clone(),
            user_id: e.user_id.clone(),
            chain_id: e.chain_id,
            token: e.token.to_checksum(None),
            account: e.account.to_checksum(None),
            direction: e.direction.clone(),
            amount_base_units: e.amount,
            tx_hash: e.tx_hash.map(|h| format!("{h:#x}")),
            log_index: e.log_index,
            created_at: rfc3339(e.created_at),
        }
    }
}
