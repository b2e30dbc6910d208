//! Outbox rows as the database holds them, and the checks that make them a delivery.

use sqlx::FromRow;

use super::{DeliveryRecord, DueDelivery};
use crate::store::column::{parsed, unsigned};
use crate::store::StoreError;
use crate::EventId;

/// The columns a delivery read selects, in [`DeliveryRow`]'s names (`d` the delivery, `e` its event).
pub(super) const DELIVERY_COLUMNS: &str =
    "e.id AS event_id, e.event_type, d.target, d.status, d.attempts, d.last_status, d.last_error";

/// A delivery joined with its event.
#[derive(Debug, FromRow)]
pub(super) struct DeliveryRow {
    event_id: String,
    event_type: String,
    target: String,
    status: String,
    attempts: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
}

impl TryFrom<DeliveryRow> for DeliveryRecord {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> Result<Self, StoreError> {
        Ok(DeliveryRecord {
            event_id: parsed("event_id", &row.event_id)?,
            event_type: row.event_type,
            target: row.target,
            status: parsed("status", &row.status)?,
            attempts: row.attempts,
            last_status: row.last_status,
            last_error: row.last_error,
        })
    }
}

/// A delivery with the payment or payout it is about.
#[derive(Debug, FromRow)]
pub(super) struct SubjectDeliveryRow {
    payment_id: String,
    #[sqlx(flatten)]
    delivery: DeliveryRow,
}

impl TryFrom<SubjectDeliveryRow> for (String, DeliveryRecord) {
    type Error = StoreError;

    fn try_from(row: SubjectDeliveryRow) -> Result<Self, StoreError> {
        Ok((row.payment_id, row.delivery.try_into()?))
    }
}

/// A due delivery as the claim selects it, before it is leased.
#[derive(Debug, FromRow)]
pub(super) struct ClaimRow {
    pub(super) id: i64,
    pub(super) target: String,
    attempts: i64,
    event_id: String,
    payment_id: String,
    payload: String,
}

impl ClaimRow {
    /// The delivery as `claim_token`'s claim takes it: its attempt is the next one.
    pub(super) fn claimed(self, claim_token: i64) -> Result<DueDelivery, StoreError> {
        let event_id: EventId = parsed("event_id", &self.event_id)?;
        Ok(DueDelivery {
            delivery_id: self.id,
            event_id,
            subject: self.payment_id,
            target: self.target,
            attempt: unsigned("attempts", self.attempts.saturating_add(1))?,
            payload: self.payload,
            claim_token,
        })
    }
}
