//! The rails a checkout offers, and a store's or template's rail configuration.

use payscan_core::clock::rfc3339;
use payscan_core::rails::{AllowedRails, RailSource};
use payscan_core::store::payments::TokenRef;
use payscan_core::store::rails::{RailConfig, RailScope};
use payscan_core::ChainId;
use serde::Serialize;
use utoipa::ToSchema;

use crate::schemas;

/// The chains and tokens a checkout may use.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutOptions {
    #[schema(value_type = Vec<u64>)]
    pub allowed_chains: Vec<ChainId>,
    pub allowed_tokens: Vec<String>,
    /// `item` (a template's own), `store` or `default`.
    #[schema(value_type = String)]
    pub source: RailSource,
    pub chains: Vec<OptionChain>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OptionChain {
    #[schema(value_type = u64)]
    pub chain_id: ChainId,
    pub name: String,
    pub short_name: String,
    #[schema(value_type = Vec<schemas::TokenRef>)]
    pub tokens: Vec<TokenRef>,
}

impl From<&AllowedRails<'_>> for CheckoutOptions {
    fn from(allowed: &AllowedRails<'_>) -> Self {
        let mut tokens: Vec<String> =
            allowed.chains.iter().flat_map(|(_, tokens)| tokens.iter().map(|t| t.symbol.clone())).collect();
        tokens.sort();
        tokens.dedup();
        Self {
            allowed_chains: allowed.chains.iter().map(|(c, _)| c.chain_id).collect(),
            allowed_tokens: tokens,
            source: allowed.source,
            chains: allowed
                .chains
                .iter()
                .map(|(c, tokens)| OptionChain {
                    chain_id: c.chain_id,
                    name: c.name.clone(),
                    short_name: c.short_name.clone(),
                    tokens: tokens
                        .iter()
                        .map(|t| TokenRef { symbol: t.symbol.clone(), address: t.address, decimals: t.decimals })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// A store's or template's rail configuration.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RailConfig)]
pub struct RailConfigView {
    /// `store` or `template`.
    pub scope: &'static str,
    pub id: String,
    /// Templates only: follow the store's configuration.
    pub use_shop_default: Option<bool>,
    #[schema(value_type = Vec<u64>)]
    pub allowed_chains: Vec<ChainId>,
    pub allowed_tokens: Vec<String>,
    /// Stores only: the seller's wallet a release without `to` pays (null: none set).
    #[schema(value_type = Option<schemas::Address>)]
    pub payout_address: Option<String>,
    /// Templates only: the seller the template belongs to.
    pub seller_id: Option<String>,
    pub updated_by: String,
    pub updated_at: String,
}

impl From<&RailConfig> for RailConfigView {
    fn from(config: &RailConfig) -> Self {
        let template = config.scope == RailScope::Template;
        Self {
            scope: config.scope.as_str(),
            id: config.key.clone(),
            use_shop_default: template.then_some(config.use_shop_default),
            allowed_chains: config.allowed_chains.clone(),
            allowed_tokens: config.allowed_tokens.clone(),
            payout_address: config.payout_address.filter(|_| !template).map(|a| a.to_checksum(None)),
            seller_id: config.seller_id.clone().filter(|_| template),
            updated_by: config.updated_by.clone(),
            updated_at: rfc3339(config.updated_at),
        }
    }
}

/// What a delete answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: bool,
}
