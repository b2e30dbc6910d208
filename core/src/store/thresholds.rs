//! Confirmation threshold overrides set by admins, with their history.

use std::collections::HashMap;

use sqlx::FromRow;

use super::column::unsigned;
use super::filter::Filter;
use super::{corrupt, Store, StoreError};
use crate::ChainId;

/// One change of a chain's threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdChange {
    pub chain_id: ChainId,
    pub old_threshold: u64,
    pub new_threshold: u64,
    /// What the admin asked for (below the floor it was clamped).
    pub requested: u64,
    pub changed_by: String,
    pub changed_at: i64,
}

/// A `threshold_history` row as the database holds it.
#[derive(Debug, FromRow)]
struct ChangeRow {
    chain_id: i64,
    old_threshold: i64,
    new_threshold: i64,
    requested: i64,
    changed_by: String,
    changed_at: i64,
}

impl TryFrom<ChangeRow> for ThresholdChange {
    type Error = StoreError;

    fn try_from(row: ChangeRow) -> Result<Self, StoreError> {
        Ok(ThresholdChange {
            chain_id: ChainId(unsigned("chain_id", row.chain_id)?),
            old_threshold: unsigned("old_threshold", row.old_threshold)?,
            new_threshold: unsigned("new_threshold", row.new_threshold)?,
            requested: unsigned("requested", row.requested)?,
            changed_by: row.changed_by,
            changed_at: row.changed_at,
        })
    }
}

fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(corrupt)
}

impl Store {
    /// The admin override of a chain's threshold, if any.
    pub async fn threshold_override(&self, chain_id: ChainId) -> Result<Option<u64>, StoreError> {
        let threshold: Option<i64> =
            sqlx::query_scalar("SELECT threshold FROM threshold_overrides WHERE chain_id = $1")
                .bind(chain_id.as_i64())
                .fetch_optional(&self.pool)
                .await?;
        threshold.map(|t| unsigned("threshold", t)).transpose()
    }

    /// Every override.
    pub async fn threshold_overrides(&self) -> Result<HashMap<ChainId, u64>, StoreError> {
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT chain_id, threshold FROM threshold_overrides").fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|(chain, threshold)| Ok((ChainId(unsigned("chain_id", chain)?), unsigned("threshold", threshold)?)))
            .collect()
    }

    /// Sets an override and records the change, in one transaction.
    pub async fn set_threshold(&self, change: &ThresholdChange) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO threshold_overrides (chain_id, threshold, updated_by, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (chain_id) DO UPDATE SET threshold = $2, updated_by = $3, updated_at = $4",
        )
        .bind(change.chain_id.as_i64())
        .bind(to_i64(change.new_threshold)?)
        .bind(&change.changed_by)
        .bind(change.changed_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO threshold_history (chain_id, old_threshold, new_threshold, requested, changed_by, changed_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(change.chain_id.as_i64())
        .bind(to_i64(change.old_threshold)?)
        .bind(to_i64(change.new_threshold)?)
        .bind(to_i64(change.requested)?)
        .bind(&change.changed_by)
        .bind(change.changed_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Threshold changes, newest first, with the total.
    pub async fn threshold_history(
        &self,
        chain_id: Option<ChainId>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ThresholdChange>, i64), StoreError> {
        let filter = Filter::default().and_some("chain_id = {}", chain_id.map(ChainId::as_i64));
        let page = format!(
            "SELECT chain_id, old_threshold, new_threshold, requested, changed_by, changed_at FROM threshold_history{} \
             ORDER BY changed_at DESC, id DESC LIMIT {} OFFSET {}",
            filter.clause(),
            filter.then(1),
            filter.then(2)
        );
        let rows = filter
            .bind_as(sqlx::query_as::<_, ChangeRow>(&page))
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let count = format!("SELECT COUNT(*) FROM threshold_history{}", filter.clause());
        let total: i64 = filter.bind_scalar(sqlx::query_scalar(&count)).fetch_one(&self.pool).await?;
        let changes = rows.into_iter().map(ThresholdChange::try_from).collect::<Result<_, _>>()?;
        Ok((changes, total))
    }
}
