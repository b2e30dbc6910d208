//! Webhooks accepted by payscan's own receiver, deduplicated by `webhook-id` for good: a sender
//! re-signs each retry with a fresh timestamp, so a time-window cache would let a retry through.

use super::{Store, StoreError};

impl Store {
    /// Records a received webhook; false when its id was received before.
    pub async fn record_receipt(
        &self,
        webhook_id: &str,
        subject: &str,
        event_type: &str,
        status: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO webhook_receipts (webhook_id, payment_id, event_type, status, received_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (webhook_id) DO NOTHING",
        )
        .bind(webhook_id)
        .bind(subject)
        .bind(event_type)
        .bind(status)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
