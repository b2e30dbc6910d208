//! Confirmation threshold overrides set by admins, with their history.

use std::collections::HashMap;

use sqlx::Row;

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

fn to_u64(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(corrupt)
}

fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(corrupt)
}

impl Store {
    /// The admin override of a chain's threshold, if any.
    pub async fn threshold_override(&self, chain_id: ChainId) -> Result<Option<u64>, StoreError> {
        let row = sqlx::query("SELECT threshold FROM threshold_overrides WHERE chain_id = $1")
            .bind(chain_id.as_i64())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| to_u64(r.try_get(0)?)).transpose()
    }

    /// Every override.
    pub async fn threshold_overrides(&self) -> Result<HashMap<ChainId, u64>, StoreError> {
        let rows = sqlx::query("SELECT chain_id, threshold FROM threshold_overrides").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((ChainId(to_u64(r.try_get(0)?)?), to_u64(r.try_get(1)?)?))).collect()
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
    pub async fn threshold_history(&self, limit: i64, offset: i64) -> Result<(Vec<ThresholdChange>, i64), StoreError> {
        let rows = sqlx::query(
            "SELECT chain_id, old_threshold, new_threshold, requested, changed_by, changed_at FROM threshold_history \
             ORDER BY changed_at DESC, id DESC LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 =
            sqlx::query("SELECT COUNT(*) FROM threshold_history").fetch_one(&self.pool).await?.try_get(0)?;
        let changes = rows
            .iter()
            .map(|r| {
                Ok(ThresholdChange {
                    chain_id: ChainId(to_u64(r.try_get(0)?)?),
                    old_threshold: to_u64(r.try_get(1)?)?,
                    new_threshold: to_u64(r.try_get(2)?)?,
                    requested: to_u64(r.try_get(3)?)?,
                    changed_by: r.try_get(4)?,
                    changed_at: r.try_get(5)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((changes, total))
    }
}
