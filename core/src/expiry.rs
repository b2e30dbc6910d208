//! Expiry: a pending payment past its `expiresAt` with nothing received becomes `cancelled`, with
//! its `payment.cancelled` event, but only once its chain's follower has scanned past the block at
//! `expiresAt`. A payment paid in time behind a lagging follower is credited, not cancelled.

use crate::change::PaymentChange;
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
        let decide = |payment: &crate::store::Payment| {
            let expired =
                payment.status == PaymentStatus::Pending && payment.received.is_zero() && payment.expires_at < now;
            expired.then_some(PaymentChange::Expired)
        };
        if store.change_payment(&id, None, now, decide).await?.is_none() {
            continue;
        }
        cancelled += 1;
    }
    Ok(cancelled)
}
