//! Reorgs: find where the follower's stored chain and the node's chain meet again, and unwind
//! everything credited above that point in one transaction.

use std::collections::BTreeSet;

use payscan_core::change::PaymentChange;
use payscan_core::event::CreditedTransfer;
use payscan_core::store::credits::Credit;
use payscan_core::store::cursors::Checkpoint;
use payscan_core::store::leases::HeldLease;
use payscan_core::store::ledger::EntryKind;
use payscan_core::store::{Store, StoreError};
use payscan_core::{BaseUnits, ChainId, PaymentStatus};
use tracing::error;

use crate::error::FollowerError;
use crate::rpc::ChainRpc;

/// What an unwind did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwind {
    pub from: u64,
    pub ancestor: Checkpoint,
    pub reverted_credits: u64,
    pub payments: usize,
}

impl Unwind {
    pub fn depth(&self) -> u64 {
        self.from.saturating_sub(self.ancestor.number)
    }
}

/// The newest kept block, at or below `from`, that the node still has with the same hash. Gives up
/// past `max_depth` blocks: a deeper reorg stops the chain rather than guess.
pub async fn find_ancestor(
    rpc: &ChainRpc,
    store: &Store,
    chain_id: ChainId,
    from: u64,
    max_depth: u64,
) -> Result<Checkpoint, FollowerError> {
    let floor = from.saturating_sub(max_depth);
    for kept in store.block_hashes_down(chain_id, from, floor).await? {
        match rpc.block(kept.number).await? {
            Some(block) if block.hash == kept.hash => return Ok(kept),
            Some(_) => continue,
            None => return Err(FollowerError::Incomplete("a block below the head")),
        }
    }
    Err(FollowerError::ReorgTooDeep { from, max_depth })
}

/// Reverts every credit above `ancestor`, moves the payments that lose money back (announcing it),
/// and rewinds the cursor to `ancestor`: all or nothing.
pub async fn unwind(
    store: &Store,
    lease: Option<&HeldLease>,
    chain_id: ChainId,
    from: u64,
    ancestor: Checkpoint,
    threshold: u64,
    now: i64,
) -> Result<Unwind, FollowerError> {
    let mut tx = store.begin().await?;
    crate::follower::hold(store, lease, &mut tx).await?;
    let lost = store.live_credits_above(&mut tx, chain_id, ancestor.number).await?;
    let reverted_credits = store.revert_credits_above(&mut tx, chain_id, ancestor.number).await?;
    let affected: BTreeSet<_> = lost.iter().map(|c| c.payment_id.clone()).collect();
    for payment_id in &affected {
        let Some(mut payment) = store.payment_for_update(&mut tx, payment_id).await? else { continue };
        let before = payment.status;
        let remaining = store.live_credits_of(&mut tx, payment_id).await?;
        let counted: Vec<&Credit> = remaining.iter().filter(|c| c.counted).collect();
        let received = counted.iter().try_fold(BaseUnits::ZERO, |sum, c| sum.checked_add(c.amount));
        let received = received.ok_or_else(|| StoreError::Corrupt(format!("received of {payment_id} overflows")))?;
        let lost_here: Vec<CreditedTransfer> =
            lost.iter().filter(|c| &c.payment_id == payment_id).map(CreditedTransfer::from).collect();
        for credit in lost.iter().filter(|c| &c.payment_id == payment_id) {
            store.record_credit(&mut tx, EntryKind::CreditReverted, credit, &payment.buyer_id, now).await?;
        }

        let change = PaymentChange::Reverted { received, tx_hash: counted.last().map(|c| c.tx_hash), lost: lost_here };
        store.apply_change(&mut tx, &mut payment, change, threshold, now).await?;
        if matches!(before, PaymentStatus::Released | PaymentStatus::Refunded) {
            error!(payment_id = %payment_id, status = %before, "a reorg took away the transfer of a settled payment");
        }
    }
    store.rewind_checkpoint(&mut tx, chain_id, from, ancestor, reverted_credits, now).await?;
    store.commit_with_events(tx).await?;
    Ok(Unwind { from, ancestor, reverted_credits, payments: affected.len() })
}
