//! The report and repair routes' answers: statistics, expiry cleanup, transaction-hash repair and
//! the debug view of one payment.

use payscan_core::event::CreditedTransfer;
use payscan_core::{ChainId, PaymentId};
use payscan_scanner::status::ChainStatus;
use serde::Serialize;
use utoipa::ToSchema;

use super::payment::PaymentView;
use super::payout::{DeliveryView, PayoutView};
use crate::schemas;

/// Counts and base-unit sums per status.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// The user, or null for everyone (admin).
    pub user_id: Option<String>,
    pub total_payments: u64,
    /// Every successful terminal status: confirmed, completed, released, refunded.
    pub successful_payments: u64,
    pub pending_payments: u64,
    pub failed_payments: u64,
    pub by_status: Vec<StatusTotals>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusTotals {
    #[schema(value_type = schemas::PaymentStatus)]
    pub status: &'static str,
    pub count: u64,
    pub amounts: Vec<TokenTotals>,
}

/// Sums of one status in one token of one chain. Sums of many amounts can pass 256 bits, so
/// they are decimal strings of wider integers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenTotals {
    #[schema(value_type = u64)]
    pub chain_id: ChainId,
    pub token: String,
    #[schema(value_type = schemas::BaseUnits)]
    pub amount_base_units: String,
    #[schema(value_type = schemas::BaseUnits)]
    pub amount_received_base_units: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CleanupAnswer {
    pub success: bool,
    pub cancelled_count: u64,
    /// The seed's name for `cancelledCount`: payscan cancels stale payments, it deletes none.
    pub deleted_count: u64,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FetchTxAnswer {
    /// Whether a hash is known now.
    pub success: bool,
    #[schema(value_type = Option<schemas::TxHash>)]
    pub transaction_hash: Option<String>,
    pub network: Option<String>,
    /// `payment` (it had one) or `credits` (recovered from its transfers).
    pub source: &'static str,
    pub message: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AutoFetchAnswer {
    pub success: bool,
    pub checked: usize,
    pub fixed: Vec<FixedHash>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FixedHash {
    pub payment_id: PaymentId,
    #[schema(value_type = schemas::TxHash)]
    pub transaction_hash: String,
}

/// Everything payscan knows of one payment.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentDebug {
    pub payment: PaymentView,
    pub transfers: Vec<CreditedTransfer>,
    pub webhooks: Vec<DeliveryView>,
    /// The follower watches the payment's address for it.
    pub watched: bool,
    /// Its chain's follower state.
    pub chain: Option<ChainStatus>,
    pub settlement: Option<PayoutView>,
}
