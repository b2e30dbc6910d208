//! Custody's answers: derived destinations, sweeps, the sweep cron and custody's health.

use payscan_core::clock::rfc3339;
use payscan_core::store::destinations::Destination;
use payscan_core::{BaseUnits, ChainId, DerivationIndex, PaymentId};
use payscan_custody::{CronRun, Health, SweepResult};
use serde::Serialize;
use utoipa::ToSchema;

use super::Pagination;
use crate::schemas;

/// A derived destination: a payment's deposit address.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Destination)]
pub struct DestinationView {
    #[serde(rename = "_id")]
    pub id: PaymentId,
    pub destination_id: PaymentId,
    pub payment_id: PaymentId,
    pub buyer_id: String,
    pub seller_offer_id: String,
    #[schema(value_type = schemas::Address)]
    pub address: String,
    pub derivation_path: String,
    #[schema(value_type = u32)]
    pub derivation_index: DerivationIndex,
    #[schema(value_type = u64)]
    pub chain_id: ChainId,
    pub token: DestinationToken,
    /// `active` or `swept`.
    pub status: &'static str,
    /// The last balance read from the chain.
    pub balance: Option<BaseUnits>,
    pub balance_refreshed_at: Option<String>,
    pub sweep_count: u64,
    pub total_swept: BaseUnits,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationToken {
    pub symbol: String,
    #[schema(value_type = schemas::Address)]
    pub address: String,
}

impl From<&Destination> for DestinationView {
    fn from(d: &Destination) -> Self {
        Self {
            id: d.payment_id.clone(),
            destination_id: d.payment_id.clone(),
            payment_id: d.payment_id.clone(),
            buyer_id: d.buyer_id.clone(),
            seller_offer_id: d.seller_offer_id.clone(),
            address: d.address.to_checksum(None),
            derivation_path: format!("m/44'/60'/0'/0/{}", d.derivation_index),
            derivation_index: d.derivation_index,
            chain_id: d.chain_id,
            token: DestinationToken { symbol: d.token_symbol.clone(), address: d.token.to_checksum(None) },
            status: d.status(),
            balance: d.balance,
            balance_refreshed_at: d.refreshed_at.map(rfc3339),
            sweep_count: d.sweep_count,
            total_swept: d.total_swept,
            created_at: rfc3339(d.created_at),
        }
    }
}

/// A page of destinations, the seed's shape: the page inside `data`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationPage {
    pub destinations: Vec<DestinationView>,
    pub pagination: Pagination,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SweepResults {
    pub results: Vec<SweepResult>,
}

/// The sweep cron.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CronStatus {
    pub running: bool,
    pub interval_seconds: f64,
    pub last_run: Option<CronRun>,
}

/// Custody's configuration, never a key, and the registry's first chain.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustodyHealth {
    #[serde(flatten)]
    pub keys: Health,
    #[schema(value_type = Option<u64>)]
    pub chain_id: Option<ChainId>,
}
