//! Expiry: a pending payment past its `expiresAt` with nothing received becomes `cancelled`, with
//! its `payment.cancelled` event, but only once its chain's follower has scanned past the block at
//! `expiresAt`. A payment paid in time behind a lagging follower is credited, not cancelled.

use crate::event::{payment_event, EventDetail, EventKind};
use crate::store::{Store, StoreError};
use crate::{ChainId, PaymentStatus};

/// How many expired payments one pass looks at.
const BATCH: i64 = 10_000;

/// Cancels what has expired, on the given chains only (`None`: every chain). Returns how many
/// were cancelled. Each payment is re-read under its row lock and cancelled at most once, so
/// passes on several instances at once cancel nothing twice.
pub async fn cancel_expired(store: &Store, chains: Option<&[ChainId]>, now: i64) -> Result<u64, StoreError> {
    let mut cancelled = 0;
    for (id, chain_id) in store.expired_pending(now, BATCH).await? {
        if chains.is_some_and(|chains| !chains.contains(&chain_id)) {
            continue;
        }
        let mut tx = store.begin().await?;
        let Some(mut payment) = store.payment_for_update(&mut tx, &id).await? else { continue };
        if payment.status != PaymentStatus::Pending || !payment.received.is_zero() || payment.expires_at >= now {
            continue;
        }
        payment.status = PaymentStatus::Cancelled;
        payment.updated_at = now;
        if !store.edit_payment(&mut tx, &payment, PaymentStatus::Pending).await? {
            continue;
        }
        let reason = Some(EventDetail::Reason("expired".to_owned()));
        let event = payment_event(EventKind::Cancelled, &payment, payment.confirmations, reason, now);
        store.enqueue_event(&mut tx, &event, now).await?;
        store.commit_with_events(tx).await?;
        cancelled += 1;
    }
    Ok(cancelled)
}
