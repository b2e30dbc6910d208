//! What a wallet needs to pay a payment.

use payscan_core::store::payments::TokenRef;
use payscan_core::{BaseUnits, ChainId, PaymentId, PaymentStatus, Provider};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::schemas;

/// What a wallet sends, as is, to pay a payment.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Checkout {
    pub payment_id: PaymentId,
    #[schema(value_type = String)]
    pub provider: Provider,
    pub status: PaymentStatus,
    #[schema(value_type = u64)]
    pub chain_id: ChainId,
    pub network: String,
    #[schema(value_type = schemas::TokenRef)]
    pub token: TokenRef,
    pub amount_base_units: BaseUnits,
    pub remaining_base_units: BaseUnits,
    #[schema(value_type = schemas::Address)]
    pub destination: String,
    pub expires_at: String,
    /// Request Network rail: `feeProxy`, `payee`, `paymentReference`, `salt`; else empty.
    pub request_network: Value,
    /// In order; empty once nothing is left to pay.
    pub transactions: Vec<WalletTransaction>,
    /// For a permit token and a `payer`: `{typedData, replaces, note}`, the EIP-712 typed data
    /// as `eth_signTypedData_v4` takes it.
    pub permit: Option<Value>,
}

/// One transaction for the wallet to send.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalletTransaction {
    pub description: &'static str,
    #[schema(value_type = schemas::Address)]
    pub to: String,
    /// Calldata, 0x-hex.
    pub data: String,
    /// Native value in wei, as a decimal string.
    pub value: &'static str,
}
