//! Rail configurations: the chains and tokens a store (a seller) or a template accepts.

use alloy::primitives::Address;
use sqlx::FromRow;

use super::column::{json, parsed, parsed_opt};
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

impl std::str::FromStr for RailScope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [Self::Store, Self::Template]
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| format!("unknown rail scope `{s}`"))
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

/// A `rail_configs` row as the database holds it.
#[derive(Debug, FromRow)]
struct RailConfigRow {
    scope: String,
    config_key: String,
    use_shop_default: i64,
    /// JSON lists.
    allowed_chains: String,
    allowed_tokens: String,
    payout_address: Option<String>,
    seller_id: Option<String>,
    updated_by: String,
    updated_at: i64,
}

impl TryFrom<RailConfigRow> for RailConfig {
    type Error = StoreError;

    fn try_from(row: RailConfigRow) -> Result<Self, StoreError> {
        Ok(RailConfig {
            scope: parsed("scope", &row.scope)?,
            key: row.config_key,
            use_shop_default: row.use_shop_default != 0,
            allowed_chains: json("allowed_chains", &row.allowed_chains)?,
            allowed_tokens: json("allowed_tokens", &row.allowed_tokens)?,
            payout_address: parsed_opt("payout_address", row.payout_address.as_deref())?,
            seller_id: row.seller_id,
            updated_by: row.updated_by,
            updated_at: row.updated_at,
        })
    }
}

impl Store {
    pub async fn rail_config(&self, scope: RailScope, key: &str) -> Result<Option<RailConfig>, StoreError> {
        let row = sqlx::query_as::<_, RailConfigRow>(
            "SELECT scope, config_key, use_shop_default, allowed_chains, allowed_tokens, payout_address, seller_id, \
             updated_by, updated_at FROM rail_configs WHERE scope = $1 AND config_key = $2",
        )
        .bind(scope.as_str())
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.map(RailConfig::try_from).transpose()
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
