//! Escrow: a completed payment released to its seller or refunded to its buyer. Each is a payout
//! from the payout wallet that holds the payment's one release-or-refund claim; the build-only
//! signer gets the unsigned transfer instead, and a confirm checks the broadcast hash on chain.

use alloy::primitives::{Address, Bytes, B256};
use alloy::providers::Provider;
use alloy::sol_types::{SolCall, SolEvent};
use payscan_chain::abi::IERC20;
use payscan_core::config::SignerKind;
use payscan_core::event::PayoutEvent;
use payscan_core::store::payouts::Payout;
use payscan_core::store::Payment;
use payscan_core::{clock, PaymentId, PayoutId, PayoutKind, PayoutStatus};
use serde_json::{json, Value};

use crate::payouts::{NewPayout, PayoutError, Payouts, TRANSFER_GAS};

/// What a release or refund produced.
#[derive(Debug, Clone)]
pub enum EscrowOutcome {
    /// Sent by the local signer (maybe still in flight).
    Sent(Payout),
    /// The unsigned transaction an external signer must sign, broadcast and confirm.
    Built(Payout, Value),
}

impl Payouts {
    /// Releases a funded payment's escrow to its seller (`Release`) or returns it to its buyer
    /// (`Refund`), at most once per payment. The local signer sends from the payout wallet; with
    /// the build-only signer the unsigned transfer comes back, and `confirm` records its hash.
    pub async fn settle_escrow(
        &self,
        payment: &Payment,
        kind: PayoutKind,
        recipient: Address,
        by: &str,
    ) -> Result<EscrowOutcome, PayoutError> {
        if let Some(existing) = self.store.escrow_payout(&payment.id).await? {
            if existing.kind == kind && existing.status == PayoutStatus::Built {
                let payload = self.payload(&existing);
                return Ok(EscrowOutcome::Built(existing, payload));
            }
            return Err(PayoutError::Duplicate(format!(
                "payment {} already has a {} ({}, {})",
                payment.id,
                existing.kind.as_str(),
                existing.id,
                existing.status
            )));
        }
        if payment.status != payscan_core::PaymentStatus::Completed {
            return Err(PayoutError::State(format!(
                "payment {} is {}: only a completed payment (escrow funded) can be {}",
                payment.id,
                payment.status,
                if kind == PayoutKind::Release { "released" } else { "refunded" }
            )));
        }
        let build_only = self.keys.kind() == SignerKind::BuildOnly;
        if !build_only {
            self.check_gas(payment.rail.chain_id, self.payout_key()?.address()).await?;
        }
        let id = PayoutId::new();
        let terms = NewPayout {
            user_id: if kind == PayoutKind::Release { payment.seller_id.clone() } else { payment.buyer_id.clone() },
            reference: format!("{}:{}:{id}", kind.as_str(), payment.id),
            contract_id: None,
            reason: Some(format!("{} by {by}", kind.as_str())),
            chain_id: payment.rail.chain_id,
            token: payment.rail.token.clone(),
            recipient,
            amount: payment.received,
        };
        let status = if build_only { PayoutStatus::Built } else { PayoutStatus::Queued };
        let payout = terms.into_payout(id, kind, Some(payment.id.clone()), status, clock::now_ms());
        let payout = match self.insert(payout, PayoutEvent::Queued).await {
            Err(PayoutError::Duplicate(_)) => {
                return Err(PayoutError::Duplicate(format!(
                    "payment {} is already being released or refunded",
                    payment.id
                )))
            }
            other => other?,
        };
        if build_only {
            let payload = self.payload(&payout);
            return Ok(EscrowOutcome::Built(payout, payload));
        }
        let _one_at_a_time = self.running.lock().await;
        let id = payout.id.clone();
        self.start_attempt(payout).await?;
        let mut settled = self.wait_for(std::slice::from_ref(&id)).await?;
        let payout = settled.pop().ok_or_else(|| PayoutError::NotFound(format!("payout {id} not found")))?;
        Ok(EscrowOutcome::Sent(payout))
    }

    /// The unsigned transfer of a built release or refund.
    fn payload(&self, payout: &Payout) -> Value {
        let from = self.keys.payout().map(|k| k.address()).or(self.keys.master_wallet());
        json!({
            "chainId": payout.chain_id,
            "from": from.map(|a| a.to_checksum(None)),
            "to": payout.token.address.to_checksum(None),
            "value": "0",
            "data": Bytes::from(IERC20::transferCall { to: payout.recipient, amount: payout.amount.0 }.abi_encode()),
            "gas": TRANSFER_GAS.to_string(),
            "transfer": {
                "token": payout.token,
                "recipient": payout.recipient.to_checksum(None),
                "amountBaseUnits": payout.amount,
            },
        })
    }

    /// Records the hash of a release or refund sent outside payscan (a built payload, or one an
    /// operator sent by hand from manual review) after checking it on chain: mined, successful,
    /// and moving the amount of the payment's token to the recipient.
    pub async fn confirm_escrow(
        &self,
        payment_id: &PaymentId,
        kind: PayoutKind,
        tx_hash: B256,
    ) -> Result<Payout, PayoutError> {
        let _one_at_a_time = self.running.lock().await;
        let payout = self.store.escrow_payout(payment_id).await?.filter(|p| p.kind == kind).ok_or_else(|| {
            PayoutError::State(format!("no {} of payment {payment_id} is waiting for a confirm", kind.as_str()))
        })?;
        if payout.status == PayoutStatus::Completed {
            return if payout.tx_hash == Some(tx_hash) {
                Ok(payout)
            } else {
                Err(PayoutError::Duplicate(format!(
                    "payment {payment_id} was already settled by {:#x}",
                    payout.tx_hash.unwrap_or_default()
                )))
            };
        }
        if payout.status.is_in_flight() {
            return Err(PayoutError::State(format!(
                "payscan's own transaction for this {} is in flight; wait for it",
                kind.as_str()
            )));
        }
        if !payout.status.can_become(PayoutStatus::Completed) {
            return Err(PayoutError::State(format!("a {} {} cannot be confirmed", payout.status, kind.as_str())));
        }
        let (provider, _) = self.provider(payout.chain_id)?;
        let receipt = provider
            .get_transaction_receipt(tx_hash)
            .await
            .map_err(|_| PayoutError::ChainUnavailable(payout.chain_id))?
            .ok_or_else(|| {
                PayoutError::TxCheck(format!("transaction {tx_hash:#x} is not mined on chain {}", payout.chain_id))
            })?;
        if !receipt.status() {
            return Err(PayoutError::TxCheck(format!("transaction {tx_hash:#x} reverted")));
        }
        let paid = receipt.inner.logs().iter().find_map(|log| {
            if log.address() != payout.token.address {
                return None;
            }
            let transfer = IERC20::Transfer::decode_log_data(log.data()).ok()?;
            (transfer.to == payout.recipient && transfer.value == payout.amount.0).then_some(transfer.from)
        });
        let Some(from) = paid else {
            return Err(PayoutError::TxCheck(format!(
                "transaction {tx_hash:#x} does not transfer {} {} to {}",
                payout.amount.to_token_units(payout.token.decimals),
                payout.token.symbol,
                payout.recipient
            )));
        };
        self.complete(payout, tx_hash, from).await
    }
}
