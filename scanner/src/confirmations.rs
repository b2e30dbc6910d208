//! Confirmations of processing payments: head − block + 1 of the newest counted transfer, capped
//! at the chain's effective threshold (and, where the chain asks for it, at or below its finalized
//! block). At the threshold a covered payment completes once Transaction Safety passes; a short
//! one says it is underpaid.

use payscan_core::change::PaymentChange;
use payscan_core::event::EventKind;
use payscan_core::registry::Chain;
use payscan_core::store::leases::HeldLease;
use payscan_core::store::ledger::EntryKind;
use payscan_core::store::Store;
use payscan_core::{failpoint, PaymentStatus};

use crate::error::FollowerError;
use crate::rpc::ChainRpc;
use crate::safety::{self, Verdict};

/// What one evaluation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    pub completed: usize,
    pub underpaid: usize,
    pub updated: usize,
    pub safety_failed: usize,
    /// Some check could not be made (the node did not answer): evaluate again soon.
    pub inconclusive: bool,
    /// A credited block the node no longer has: the follower must unwind below it.
    pub stale_block: Option<u64>,
}

/// Re-evaluates every processing payment on a chain against `head`.
pub async fn evaluate(
    store: &Store,
    lease: Option<&HeldLease>,
    rpc: &ChainRpc,
    chain: &Chain,
    head: u64,
    threshold: u64,
    now: i64,
) -> Result<Evaluation, FollowerError> {
    let mut evaluation = Evaluation::default();
    let finalized = if chain.require_finalized { rpc.finalized().await? } else { None };
    for candidate in store.processing_payments(chain.chain_id).await? {
        let credits = store.credits_of(&candidate.id).await?;
        let live = || credits.iter().filter(|c| c.counted && !c.reverted);
        let Some(newest) = live().map(|c| c.block_number).max() else { continue };
        let confirmations = if head >= newest { (head - newest + 1).min(threshold) } else { 0 };
        let final_enough = !chain.require_finalized || finalized.is_some_and(|f| newest <= f);
        let at_threshold = confirmations >= threshold && final_enough;
        // Checked against the node before taking any lock: the checks make RPC calls.
        let report = if at_threshold && candidate.is_covered() {
            Some(safety::check(rpc, chain, &candidate, &credits).await)
        } else {
            None
        };

        let mut tx = store.begin().await?;
        crate::follower::hold(store, lease, &mut tx).await?;
        let Some(mut payment) = store.payment_for_update(&mut tx, &candidate.id).await? else { continue };
        // Re-read under the lock: a credit may have landed since the candidate was listed.
        if payment.status != PaymentStatus::Processing || payment.received != candidate.received {
            continue;
        }
        let change = match &report {
            Some(report) => PaymentChange::Checked {
                confirmations,
                verdict: report.verdict,
                report: report.to_json(confirmations, threshold),
            },
            None if at_threshold && !payment.underpaid => PaymentChange::Underpaid { confirmations },
            None if confirmations != payment.confirmations => PaymentChange::Counted { confirmations },
            None => continue,
        };
        let event = store.apply_change(&mut tx, &mut payment, change, threshold, now).await?;
        match (&report, event) {
            (_, Some(EventKind::Completed)) => {
                evaluation.completed += 1;
                for credit in live() {
                    store.record_credit(&mut tx, EntryKind::CreditConfirmed, credit, &payment.buyer_id, now).await?;
                }
            }
            (Some(report), _) if report.verdict == Verdict::Failed => {
                evaluation.safety_failed += 1;
                if let Some(block) = report.stale_block {
                    evaluation.stale_block = Some(evaluation.stale_block.map_or(block, |b| b.min(block)));
                }
                tracing::warn!(payment_id = %payment.id, reasons = ?report.reasons(), "transaction safety failed");
            }
            (Some(_), _) => evaluation.inconclusive = true,
            (None, Some(EventKind::Underpaid)) => evaluation.underpaid += 1,
            (None, _) => evaluation.updated += 1,
        }
        if event.is_some() {
            store.commit_with_events(tx).await?;
            if event == Some(EventKind::Completed) {
                failpoint::reached("follower.confirmed");
            }
        } else {
            tx.commit().await.map_err(payscan_core::store::StoreError::from)?;
        }
    }
    Ok(evaluation)
}
