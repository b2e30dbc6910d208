//! The registry's generation: bumped by every admin reload, so that each instance sharing the
//! database notices a reload made on another and applies it in its own role.

use super::{Store, StoreError};

impl Store {
    /// Records a reload by `by` at `now`; the new generation.
    pub async fn bump_registry_generation(&self, by: &str, now: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "UPDATE registry_generation SET generation = generation + 1, reloaded_at = $1, reloaded_by = $2 \
             WHERE id = 1 RETURNING generation",
        )
        .bind(now)
        .bind(by)
        .fetch_one(&self.pool)
        .await?)
    }

    /// The generation of the last reload recorded (0 before any).
    pub async fn registry_generation(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT generation FROM registry_generation WHERE id = 1").fetch_one(&self.pool).await?)
    }
}
