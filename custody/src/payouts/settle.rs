//! Settling sent payouts: each in-flight payout from its transaction's receipt, and a release or
//! refund's payment with it, in the transaction that completes the payout.

use super::*;
use payscan_core::change::PaymentChange;

impl Payouts {
    /// Settles every in-flight payout from its transaction's receipt; sends the attempts a crash
    /// left unsent.
    pub(super) async fn settle_in_flight(&self) -> Result<(), PayoutError> {
        let in_flight = self.store.in_flight_payouts().await?;
        if in_flight.is_empty() {
            return Ok(());
        }
        if let Ok(key) = self.payout_key() {
            let chains: BTreeSet<ChainId> = in_flight.iter().map(|p| p.chain_id).collect();
            for chain_id in chains {
                let Ok((_, urls)) = self.provider(chain_id) else { continue };
                let tracked = Sender::new(self.store.clone(), &endpoints(&urls), chain_id, key.clone(), self.outbound);
                if let Err(e) = async { tracked?.track().await }.await {
                    warn!(%chain_id, error = %e, "tracking payout transactions failed; next step retries");
                }
            }
        }
        for payout in in_flight {
            let id = payout.id.clone();
            // One payout's failure is that payout's state, never the queue's.
            if let Err(e) = self.settle_one(payout).await {
                warn!(payout_id = %id, error = %e, "settling a payout failed; the next step retries");
            }
        }
        Ok(())
    }

    /// Settles one in-flight payout from its transaction, or sends its attempt if a crash left it
    /// unsent.
    pub(super) async fn settle_one(&self, payout: Payout) -> Result<(), PayoutError> {
        let sent = self.store.outbound_by_reference(PURPOSE, &payout.attempt_reference()).await?;
        match sent {
            None => {
                self.send_attempt(payout).await?;
            }
            Some(out) => match out.status.as_str() {
                "mined" => {
                    self.complete(payout, out.tx_hash, out.sender).await?;
                }
                "failed" => {
                    self.fail_attempt(payout, &format!("transaction {:#x} reverted", out.tx_hash)).await?;
                }
                "dropped" => {
                    self.fail_attempt(payout, "the transaction's nonce was taken by another transaction").await?;
                }
                _ => {}
            },
        }
        Ok(())
    }

    /// The transfer is mined: the payout completes, the ledger records the money out, and a
    /// release or refund settles its payment, all in one transaction.
    pub(crate) async fn complete(
        &self,
        mut payout: Payout,
        tx_hash: B256,
        from: Address,
    ) -> Result<Payout, PayoutError> {
        let expected = payout.status;
        let now = clock::now_ms();
        payout.status = expected.transition(PayoutStatus::Completed).map_err(|e| PayoutError::State(e.to_string()))?;
        payout.tx_hash = Some(tx_hash);
        payout.completed_at = Some(now);
        payout.updated_at = now;
        payout.last_error = None;
        payout.next_attempt_at = None;

        let mut tx = self.store.begin().await?;
        if !self.store.save_payout(&mut tx, &payout, expected).await? {
            return self.get(&payout.id).await;
        }
        let kind = match payout.kind {
            PayoutKind::Payout => EntryKind::PaidOut,
            PayoutKind::Release => EntryKind::Released,
            PayoutKind::Refund => EntryKind::Refunded,
        };
        let entry = NewEntry {
            kind,
            payment_id: payout.payment_id.as_ref(),
            payout_id: Some(&payout.id),
            user_id: Some(&payout.user_id),
            chain_id: payout.chain_id,
            token: payout.token.address,
            account: from,
            amount: payout.amount,
            tx_hash,
        };
        self.store.append_entry(&mut tx, &entry, now).await?;
        self.store.enqueue_event(&mut tx, &payout_event(PayoutEvent::Completed, &payout, now), now).await?;
        if let Some(payment_id) = payout.payment_id.clone().filter(|_| payout.kind != PayoutKind::Payout) {
            match self.settle_payment(&mut tx, &payment_id, &payout, now).await {
                Ok(()) => {}
                // The money left, but the payment no longer holds it (a reorg took it back while
                // the transfer was in flight): a person decides, the queue goes on.
                Err(PayoutError::State(reason)) if expected.is_in_flight() => {
                    drop(tx);
                    let mut mined = payout;
                    mined.status = expected;
                    mined.completed_at = None;
                    let why = format!(
                        "transaction {tx_hash:#x} was mined, but {reason}; once the payment is completed \
                         again, confirm this hash (…/confirm), else recover the money by hand"
                    );
                    return self.review(mined, &why, Some(tx_hash)).await;
                }
                Err(e) => return Err(e),
            }
        }
        self.store.commit_with_events(tx).await?;
        info!(payout_id = %payout.id, kind = payout.kind.as_str(), tx = %tx_hash, "payout completed");
        Ok(payout)
    }

    pub(super) async fn settle_payment(
        &self,
        tx: &mut payscan_core::store::Tx,
        payment_id: &PaymentId,
        payout: &Payout,
        now: i64,
    ) -> Result<(), PayoutError> {
        let Some(mut payment) = self.store.payment_for_update(tx, payment_id).await? else {
            return Err(PayoutError::NotFound(format!("payment {payment_id} not found")));
        };
        let settlement =
            EventSettlement { payout_id: payout.id.clone(), recipient: payout.recipient, tx_hash: payout.tx_hash };
        let change = PaymentChange::Settled { kind: payout.kind, settlement };
        let threshold = payment.confirmations;
        self.store.apply_change(tx, &mut payment, change, threshold, now).await.map_err(|e| match e {
            StoreError::Change(refused) => PayoutError::State(refused.to_string()),
            other => other.into(),
        })?;
        Ok(())
    }
}
