//! The names the OpenAPI document gives the API's shapes. The answers themselves are the types in
//! `views` (and, where a handler answers with a type of another crate, a sweep result, a probe
//! report, a status, that type), re-exported here under their document names; what is defined
//! here is only what is not a Rust type of its own: string formats (`TokenUnits`, `Address`,
//! `TxHash`), request shapes taken as raw JSON, and the bodies built as free JSON (a quote, a
//! transfer). The schemathesis walk in the end-to-end suite checks every answer against them.
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
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
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
pub struct AmountInput(pub Value);

impl utoipa::PartialSchema for AmountInput {
    fn schema() -> RefOr<Schema> {
        one_of([Type::String, Type::Number], "An amount a person types: a JSON number or a decimal string")
    }
}

impl ToSchema for AmountInput {}

/// A non-negative integer too large for some JSON readers: a decimal string, or a JSON integer.
pub struct UintInput(pub Value);

impl utoipa::PartialSchema for UintInput {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some("^[0-9]{1,77}$")))
            .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).maximum(Some(u64::MAX)))
            .description(Some("A non-negative integer: a decimal string, or a JSON integer up to 2^64 - 1"))
            .into()
    }
}

impl ToSchema for UintInput {}

/// A chain: its id (a JSON integer or a decimal string) or its short name.
pub struct ChainInput(pub Value);

impl utoipa::PartialSchema for ChainInput {
    fn schema() -> RefOr<Schema> {
        one_of([Type::String, Type::Integer], "A chain id (a number or a decimal string) or a short name")
    }
}

impl ToSchema for ChainInput {}

fn one_of(types: [Type; 2], description: &str) -> RefOr<Schema> {
    let mut builder = OneOfBuilder::new().description(Some(description));
    for schema_type in types {
        builder = builder.item(ObjectBuilder::new().schema_type(schema_type));
    }
    builder.into()
}

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

/// A transfer the follower credited (or recorded without counting).
pub use payscan_core::event::CreditedTransfer as Transfer;

pub use crate::views::payout::{
    DeliveryView as Delivery, PayoutDestination, PayoutView as Payout, Settlement, SettlementPayout,
};

pub use crate::views::admin::{Liveness, Network, NetworkCounts, NetworkList, Received, ReloadAnswer, ReloadReport};
pub use crate::views::admin::{
    Requeued, ScannerChain, ScannerStatus, Threshold, ThresholdChange, ThresholdHistory, ThresholdUpdate,
    UnwindAuthorized,
};
pub use crate::views::checkout::{Checkout, WalletTransaction};
pub use crate::views::custody::{
    CronStatus, CustodyHealth, DestinationPage, DestinationToken, DestinationView as Destination, SweepResults,
};
pub use crate::views::ledger::LedgerEntry;
pub use crate::views::options::{CheckoutOptions, Deleted, OptionChain, RailConfigView as RailConfig};
pub use crate::views::reports::{
    AutoFetchAnswer, CleanupAnswer, FetchTxAnswer, FixedHash, PaymentDebug, Stats, StatusTotals, TokenTotals,
};
