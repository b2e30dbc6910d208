//! The shapes of the API's answers, as the OpenAPI document names them. Where a handler answers
//! with a type of another crate (a sweep result, a probe report, a status), that type's own
//! derive is its schema; the shapes here are those the handlers build with `json!`, and the
//! schemathesis walk in the end-to-end suite checks every answer against them.
//!
//! Amounts are base units as decimal strings (`BaseUnits`) or token units as decimal strings
//! (`TokenUnits`); addresses are EIP-55 checksummed; times are RFC 3339.

pub use payscan_core::{BaseUnits, EscrowState, PaymentStatus};
pub use payscan_custody::{
    Availability as PermitAvailability, CronRun, Relayed as RelayedPermit, RunReport, SweepResult,
};
pub use payscan_scanner::probe::ProbeReport as Probe;
pub use payscan_scanner::status::ChainStatus;
use serde_json::Value;
use utoipa::ToSchema;

/// An amount in token units, as a decimal string (`"7.5"`).
#[derive(ToSchema)]
#[schema(value_type = String, pattern = "^[0-9]+(\\.[0-9]+)?$", example = "7.5")]
pub struct TokenUnits(pub String);

/// An EVM address, EIP-55 checksummed.
#[derive(ToSchema)]
#[schema(value_type = String, pattern = "^0x[0-9a-fA-F]{40}$", example = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")]
pub struct Address(pub String);

/// A 32-byte transaction hash.
#[derive(ToSchema)]
#[schema(value_type = String, pattern = "^0x[0-9a-f]{64}$")]
pub struct TxHash(pub String);

/// An amount a person types: a JSON number or a decimal string, read exactly from its text.
#[derive(ToSchema)]
#[schema(value_type = Object, example = "7.5")]
pub struct AmountInput(pub Value);

pub use crate::error::{ErrorBody, ErrorDetail};

pub use crate::views::payment::{AwaitingPayment, IntentAnswer, IntentPayment, PaymentDetail, PaymentView as Payment};
pub use crate::views::{Envelope, Paged, Pagination};

/// A token as a payment or payout carries it.
#[derive(ToSchema)]
pub struct TokenRef {
    #[schema(example = "USDC")]
    pub symbol: String,
    #[schema(value_type = Address)]
    pub address: String,
    pub decimals: u8,
}

/// An oracle quote: the USD price settled in the token.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Quote {
    pub quote_id: String,
    pub usd_amount: String,
    #[schema(value_type = TokenUnits)]
    pub settle_amount: String,
    #[schema(value_type = BaseUnits)]
    pub settle_amount_base_units: String,
    pub token: String,
    #[serde(rename = "tokenPriceUSD")]
    pub token_price_usd: String,
    pub depeg_adjustment_bps: i64,
    pub rounding_bps: i64,
    #[schema(value_type = Address)]
    pub price_feed: String,
    pub expires_at: String,
}

/// A transfer the follower credited (or recorded without counting).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Transfer {
    pub chain_id: u64,
    #[schema(value_type = TxHash)]
    pub tx_hash: String,
    pub log_index: u64,
    pub block_number: u64,
    pub block_hash: String,
    #[schema(value_type = Address)]
    pub token: String,
    #[schema(value_type = Address)]
    pub from: String,
    #[schema(value_type = BaseUnits)]
    pub amount_base_units: String,
    /// Counted towards the payment (a transfer in another token is recorded, never counted).
    pub counted: bool,
    /// Taken away by a reorg.
    pub reverted: bool,
    pub payment_reference: Option<String>,
    #[schema(value_type = Option<BaseUnits>)]
    pub fee_amount_base_units: Option<String>,
    #[schema(value_type = Option<Address>)]
    pub fee_address: Option<String>,
}

pub use crate::views::payout::{
    DeliveryView as Delivery, PayoutDestination, PayoutView as Payout, Settlement, SettlementPayout,
};

pub use crate::views::admin::{Liveness, Received};
pub use crate::views::admin::{
    Requeued, ScannerChain, ScannerStatus, Threshold, ThresholdChange, ThresholdHistory, ThresholdUpdate,
    UnwindAuthorized,
};
pub use crate::views::ledger::LedgerEntry;
pub use crate::views::options::{CheckoutOptions, Deleted, OptionChain, RailConfigView as RailConfig};
pub use crate::views::reports::{
    AutoFetchAnswer, CleanupAnswer, FetchTxAnswer, FixedHash, PaymentDebug, Stats, StatusTotals, TokenTotals,
};

/// A derived destination: a payment's deposit address.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Destination {
    #[serde(rename = "_id")]
    pub id: String,
    pub destination_id: String,
    pub payment_id: String,
    pub buyer_id: String,
    pub seller_offer_id: String,
    #[schema(value_type = Address)]
    pub address: String,
    pub derivation_path: String,
    pub derivation_index: u64,
    pub chain_id: u64,
    pub token: DestinationToken,
    /// `active` or `swept`.
    pub status: String,
    /// The last balance read from the chain.
    #[schema(value_type = Option<BaseUnits>)]
    pub balance: Option<String>,
    pub balance_refreshed_at: Option<String>,
    pub sweep_count: i64,
    #[schema(value_type = BaseUnits)]
    pub total_swept: String,
    pub created_at: String,
}

#[derive(ToSchema)]
pub struct DestinationToken {
    pub symbol: String,
    #[schema(value_type = Address)]
    pub address: String,
}

#[derive(ToSchema)]
pub struct DestinationPage {
    pub destinations: Vec<Destination>,
    pub pagination: Pagination,
}

#[derive(ToSchema)]
pub struct SweepResults {
    pub results: Vec<SweepResult>,
}

/// The sweep cron.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct CronStatus {
    pub running: bool,
    pub interval_seconds: f64,
    pub last_run: Option<CronRun>,
}

/// Custody's configuration, never a key, and the registry's first chain.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct CustodyHealth {
    #[serde(flatten)]
    pub keys: payscan_custody::Health,
    pub chain_id: Option<u64>,
}

/// What a wallet sends, as is, to pay a payment.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Checkout {
    pub payment_id: String,
    pub provider: String,
    pub status: PaymentStatus,
    pub chain_id: u64,
    pub network: String,
    pub token: TokenRef,
    #[schema(value_type = BaseUnits)]
    pub amount_base_units: String,
    #[schema(value_type = BaseUnits)]
    pub remaining_base_units: String,
    #[schema(value_type = Address)]
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

#[derive(ToSchema)]
pub struct WalletTransaction {
    pub description: String,
    #[schema(value_type = Address)]
    pub to: String,
    /// Calldata, 0x-hex.
    pub data: String,
    /// Native value in wei, as a decimal string.
    pub value: String,
}

/// A chain of the registry, with its tokens.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Network {
    pub chain_id: u64,
    pub name: String,
    pub short_name: String,
    /// Without path or query (they may hold keys).
    pub rpc_url: String,
    /// The `newHeads` WebSocket endpoint, likewise redacted.
    pub ws_url: Option<String>,
    pub public_rpc_url: Option<String>,
    pub block_explorer: Option<String>,
    #[schema(value_type = Option<Address>)]
    pub proxy_address: Option<String>,
    pub native_currency: Value,
    pub confirmation_threshold: u64,
    pub confirmation_floor: u64,
    pub require_finalized: bool,
    pub tokens: Vec<Value>,
}

#[derive(ToSchema)]
pub struct NetworkList {
    pub success: bool,
    pub data: Vec<Network>,
    pub meta: NetworkCounts,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct NetworkCounts {
    pub chain_count: u64,
    pub token_count: u64,
}

#[derive(ToSchema)]
pub struct ReloadAnswer {
    pub success: bool,
    pub message: String,
    pub data: ReloadReport,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ReloadReport {
    pub chain_count: u64,
    /// Followers started, stopped and restarted.
    pub followers: Value,
}
