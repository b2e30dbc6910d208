//! Rail configurations: the chains and tokens a store (a seller) or a template accepts.

use sqlx::any::AnyRow;
use sqlx::Row;

use alloy::primitives::Address;

use super::{corrupt, Store, StoreError};
use crate::ChainId;

/// Whose configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RailScope {
    /// A seller's store default, keyed by seller id.
    Store,
    /// One checkout template, keyed by template id.
    Template,
}

impl RailScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Store => "store",
            Self::Template => "template",
        }
    }
}

/// One stored configuration. Empty lists leave that dimension open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RailConfig {
    pub scope: RailScope,
    pub key: String,
    /// For a template: follow the store default instead of its own lists.
    pub use_shop_default: bool,
    pub allowed_chains: Vec<ChainId>,
    /// Upper-case token symbols.
    pub allowed_tokens: Vec<String>,
    /// For a store: the seller's wallet, where a release without an explicit recipient goes.
    pub payout_address: Option<Address>,
    /// For a template: the seller it belongs to; it applies to that seller's checkouts only.
    pub seller_id: Option<String>,
    pub updated_by: String,
    pub updated_at: i64,
}

fn from_row(row: &AnyRow, scope: RailScope) -> Result<RailConfig, StoreError> {
    let chains: String = row.try_get("allowed_chains")?;
    let tokens: String = row.try_get("allowed_tokens")?;
    let payout_address: Option<String> = row.try_get("payout_address")?;
    Ok(RailConfig {
        scope,
        key: row.try_get("config_key")?,
        use_shop_default: row.try_get::<i64, _>("use_shop_default")? != 0,
        allowed_chains: serde_json::from_str(&chains).map_err(corrupt)?,
        allowed_tokens: serde_json::from_str(&tokens).map_err(corrupt)?,
        payout_address: payout_address.map(|a| a.parse().map_err(corrupt)).transpose()?,
        seller_id: row.try_get("seller_id")?,
        updated_by: row.try_get("updated_by")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    pub async fn rail_config(&self, scope: RailScope, key: &str) -> Result<Option<RailConfig>, StoreError> {
        let row = sqlx::query("SELECT * FROM rail_configs WHERE scope = $1 AND config_key = $2")
            .bind(scope.as_str())
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| from_row(&r, scope)).transpose()
    }

    /// Creates or replaces a configuration.
    pub async fn save_rail_config(&self, config: &RailConfig) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO rail_configs (scope, config_key, use_shop_default, allowed_chains, allowed_tokens, \
             updated_by, updated_at, payout_address, seller_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (scope, config_key) DO UPDATE SET use_shop_default = excluded.use_shop_default, \
             allowed_chains = excluded.allowed_chains, allowed_tokens = excluded.allowed_tokens, \
             payout_address = excluded.payout_address, seller_id = excluded.seller_id, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(config.scope.as_str())
        .bind(&config.key)
        .bind(i64::from(config.use_shop_default))
        .bind(serde_json::to_string(&config.allowed_chains).map_err(corrupt)?)
        .bind(serde_json::to_string(&config.allowed_tokens).map_err(corrupt)?)
        .bind(&config.updated_by)
        .bind(config.updated_at)
        .bind(config.payout_address.map(|a| format!("{a:#x}")))
        .bind(config.seller_id.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes a configuration; whether there was one.
    pub async fn delete_rail_config(&self, scope: RailScope, key: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM rail_configs WHERE scope = $1 AND config_key = $2")
            .bind(scope.as_str())
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
