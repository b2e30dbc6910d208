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
    /// What the fee proxy must be paid with; empty for a payment to its own address.
    pub request_network: RequestNetworkRail,
    /// In order; empty once nothing is left to pay.
    pub transactions: Vec<WalletTransaction>,
    /// For a permit token and a `payer`: the permit to sign instead of the approve.
    pub permit: Option<PermitOffer>,
}

/// A Request Network payment's terms: the fee proxy, whom it pays and the reference it carries.
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestNetworkRail {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<schemas::Address>)]
    pub fee_proxy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<schemas::Address>)]
    pub payee: Option<String>,
    /// 0x-hex, 8 bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
}

/// An EIP-2612 permit for the buyer's wallet to sign; payscan's relayer broadcasts it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PermitOffer {
    /// The EIP-712 typed data, as `eth_signTypedData_v4` takes it.
    #[schema(value_type = Object)]
    pub typed_data: Value,
    /// The index in `transactions` of the approve that the signed permit makes unneeded.
    pub replaces: usize,
    pub note: &'static str,
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
