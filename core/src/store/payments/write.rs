//! The one write path of a payment: lock → apply → save → emit, in one transaction.

use super::super::counters::{self, WATCH_SEQ};
use super::super::{Store, StoreError, Tx};
use serde_json::{Map, Value};

use super::Payment;
use crate::change::{Announcement, PaymentChange};
use crate::event::{payment_event, EventKind};
use crate::{PaymentId, PaymentStatus};

/// A payment after a change, and the event the change announced.
#[derive(Debug, Clone)]
pub struct Changed {
    pub payment: Payment,
    pub event: Option<EventKind>,
}

impl Store {
    /// Applies `change` to `payment`, which `tx` holds under its row lock: writes what changed
    /// and queues the event it announces (its body counting `threshold` confirmations), both in
    /// `tx`. The caller commits, with [`Store::commit_with_events`] when an event was queued.
    pub async fn apply_change(
        &self,
        tx: &mut Tx,
        payment: &mut Payment,
        change: PaymentChange,
        threshold: u64,
        now: i64,
    ) -> Result<Option<EventKind>, StoreError> {
        let before = payment.clone();
        let rewatch = change.rewatches();
        let announcement = match payment.apply(change, now) {
            Ok(announcement) => announcement,
            Err(refused) => {
                *payment = before;
                return Err(refused.into());
            }
        };
        if *payment != before && !self.save_payment(tx, payment, before.status, rewatch).await? {
            return Err(StoreError::Corrupt(format!("payment {} changed under its row lock", payment.id)));
        }
        let Some(Announcement { kind, detail }) = announcement else { return Ok(None) };
        self.enqueue_event(tx, &payment_event(kind, payment, threshold, detail, now), now).await?;
        Ok(Some(kind))
    }

    /// Changes one payment in a transaction of its own: locks it, asks `decide` what happened
    /// to it as it now stands (`None`: nothing), applies and saves that, queues its event and
    /// commits. `threshold` is what the event body counts (the payment's own confirmations when
    /// `None`). `Ok(None)` when there is no such payment or nothing was decided.
    pub async fn change_payment(
        &self,
        id: &PaymentId,
        threshold: Option<u64>,
        now: i64,
        decide: impl FnOnce(&Payment) -> Option<PaymentChange>,
    ) -> Result<Option<Changed>, StoreError> {
        let mut tx = self.begin().await?;
        let Some(mut payment) = self.payment_for_update(&mut tx, id).await? else { return Ok(None) };
        let Some(change) = decide(&payment) else { return Ok(None) };
        let threshold = threshold.unwrap_or(payment.confirmations);
        let event = self.apply_change(&mut tx, &mut payment, change, threshold, now).await?;
        if event.is_some() {
            self.commit_with_events(tx).await?;
        } else {
            tx.commit().await?;
        }
        Ok(Some(Changed { payment, event }))
    }

    /// An admin's edit (a pending payment closed by hand, metadata merged) in a transaction of
    /// its own. The keys the admin wrote are remembered, so a buyer re-pointing the payment later
    /// keeps them as the admin wrote them.
    pub async fn edit_payment(
        &self,
        id: &PaymentId,
        status: Option<PaymentStatus>,
        metadata: Option<Map<String, Value>>,
        by: &str,
        now: i64,
    ) -> Result<Option<Changed>, StoreError> {
        let mut tx = self.begin().await?;
        let Some(mut payment) = self.payment_for_update(&mut tx, id).await? else { return Ok(None) };
        let written: Vec<String> = metadata.iter().flat_map(|m| m.keys().cloned()).collect();
        let change = PaymentChange::Edited { status, metadata, by: by.to_owned() };
        let threshold = payment.confirmations;
        let event = self.apply_change(&mut tx, &mut payment, change, threshold, now).await?;
        self.note_admin_metadata_keys(&mut tx, id, written).await?;
        self.commit_with_events(tx).await?;
        Ok(Some(Changed { payment, event }))
    }

    /// Writes every field a change may touch, if the payment's status is still `expected`;
    /// returns whether it was written. `rewatch` gives it a new watch seq, so followers read its
    /// watch window again.
    async fn save_payment(
        &self,
        tx: &mut Tx,
        payment: &Payment,
        expected: PaymentStatus,
        rewatch: bool,
    ) -> Result<bool, StoreError> {
        let watch_seq = if rewatch { Some(counters::next(tx, WATCH_SEQ).await?) } else { None };
        let done = sqlx::query(
            "UPDATE payments SET status = $2, escrow_state = $3, received = $4, confirmations = $5, \
             tx_hash = $6, underpaid = $7, updated_at = $8, completed_at = $9, safety = $10, metadata = $11, \
             watch_seq = COALESCE($12, watch_seq) \
             WHERE id = $1 AND status = $13",
        )
        .bind(payment.id.as_str())
        .bind(payment.status.as_str())
        .bind(payment.escrow.as_str())
        .bind(payment.received.to_string())
        .bind(i64::try_from(payment.confirmations).unwrap_or(i64::MAX))
        .bind(payment.tx_hash.map(|h| format!("{h:#x}")))
        .bind(i64::from(payment.underpaid))
        .bind(payment.updated_at)
        .bind(payment.completed_at)
        .bind(payment.safety.as_ref().map(|s| s.to_string()))
        .bind(payment.metadata.to_string())
        .bind(watch_seq)
        .bind(expected.as_str())
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
