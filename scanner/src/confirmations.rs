//! Confirmations of processing payments: head − block + 1 of the newest counted credit, capped at
//! the chain's threshold. At the threshold a covered payment completes (escrow funded) and a short
//! one says it is underpaid.

use payscan_core::event::{payment_event, EventKind};
use payscan_core::store::{Store, StoreError};
use payscan_core::{ChainId, EscrowState, PaymentStatus};

/// What one evaluation changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    pub completed: usize,
    pub underpaid: usize,
    pub updated: usize,
}

/// Re-evaluates every processing payment on a chain against `head`.
pub async fn evaluate(
    store: &Store,
    chain_id: ChainId,
    head: u64,
    threshold: u64,
    now: i64,
) -> Result<Evaluation, StoreError> {
    let mut evaluation = Evaluation::default();
    for candidate in store.processing_payments(chain_id).await? {
        let credits = store.credits_of(&candidate.id).await?;
        let Some(newest) = credits.iter().filter(|c| c.counted).map(|c| c.block_number).max() else {
            continue;
        };
        let confirmations = if head >= newest { (head - newest + 1).min(threshold) } else { 0 };

        let mut tx = store.begin().await?;
        let Some(mut payment) = store.payment_for_update(&mut tx, &candidate.id).await? else { continue };
        // Re-read under the lock: a credit may have landed since the candidate was listed.
        if payment.status != PaymentStatus::Processing || payment.received != candidate.received {
            continue;
        }
        let before = payment.status;
        let event = if confirmations >= threshold && payment.is_covered() {
            payment.status =
                before.transition(PaymentStatus::Completed).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            payment.escrow = EscrowState::Funded;
            payment.completed_at = Some(now);
            payment.underpaid = false;
            evaluation.completed += 1;
            Some(EventKind::Completed)
        } else if confirmations >= threshold && !payment.underpaid {
            payment.underpaid = true;
            evaluation.underpaid += 1;
            Some(EventKind::Underpaid)
        } else if confirmations != payment.confirmations {
            evaluation.updated += 1;
            None
        } else {
            continue;
        };
        payment.confirmations = confirmations;
        payment.updated_at = now;
        store.save_progress(&mut tx, &payment, before).await?;
        if let Some(kind) = event {
            let body = payment_event(kind, &payment, threshold, None, now);
            store.enqueue_event(&mut tx, &payment.id, kind.as_str(), &body, now).await?;
            store.commit_with_events(tx).await?;
        } else {
            tx.commit().await?;
        }
    }
    Ok(evaluation)
}
