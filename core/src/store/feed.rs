//! What the API's one event fan-out reads: every outbox event after a sequence, and the payments
//! that open streams follow, a batch at a time, so the number of open streams never multiplies
//! the queries.

use sqlx::FromRow;

use super::filter::Filter;
use super::payments::{from_row, COLUMNS};
use super::{Payment, Store, StoreError};
use crate::PaymentId;

/// An outbox event as a stream sends it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct FeedEvent {
    pub ord: i64,
    pub payment_id: String,
    #[sqlx(rename = "event_type")]
    pub kind: String,
    pub payload: String,
}

/// Payments read by id in one query each this many.
const ID_BATCH: usize = 200;

impl Store {
    /// Every outbox event after `after_ord`, oldest first, at most `limit`.
    pub async fn events_since(&self, after_ord: i64, limit: i64) -> Result<Vec<FeedEvent>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT ord, payment_id, event_type, payload FROM outbox_events WHERE ord > $1 ORDER BY ord LIMIT $2",
        )
        .bind(after_ord)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The newest outbox sequence, 0 when there is none.
    pub async fn last_event_ord(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COALESCE(MAX(ord), 0) FROM outbox_events").fetch_one(&self.pool).await?)
    }

    /// The payments with these ids that exist, in no particular order.
    pub async fn payments_by_ids(&self, ids: &[PaymentId]) -> Result<Vec<Payment>, StoreError> {
        let mut payments = Vec::with_capacity(ids.len());
        for batch in ids.chunks(ID_BATCH) {
            let filter = Filter::default().any_of("id", batch.iter().map(PaymentId::as_str));
            let sql = format!("SELECT {COLUMNS} FROM payments{}", filter.clause());
            for row in filter.bind(sqlx::query(&sql)).fetch_all(&self.pool).await? {
                payments.push(from_row(&row)?);
            }
        }
        Ok(payments)
    }
}
