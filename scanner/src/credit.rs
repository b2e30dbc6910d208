//! Crediting one matched transfer: recorded once per (chain, tx, log index), applied to its
//! payment, and announced through the outbox, all in the caller's transaction.

use alloy::primitives::{Address, B256};
use payscan_core::change::PaymentChange;
use payscan_core::event::{EventKind, EventTransfer};
use payscan_core::store::credits::{Credit, ProxyPayment};
use payscan_core::store::ledger::EntryKind;
use payscan_core::store::{Store, StoreError, Tx};
use payscan_core::{BaseUnits, ChainId, PaymentId, Provider};

/// A decoded `Transfer` log to a watched destination.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub chain_id: ChainId,
    pub token: Address,
    pub from: Address,
    pub to: Address,
    pub amount: BaseUnits,
    pub tx_hash: B256,
    pub log_index: u64,
    pub block_number: u64,
    pub block_hash: B256,
    /// Set when the transfer is a fee proxy's `TransferWithReferenceAndFee`.
    pub proxy: Option<ProxyPayment>,
}

/// What crediting a transfer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditOutcome {
    /// Already recorded: nothing changed.
    Duplicate,
    /// Unknown payment (e.g. removed): nothing changed.
    NoPayment,
    /// Recorded and announced with this event.
    Applied(EventKind),
}

/// Applies one transfer. `head` and `threshold` give the confirmations it starts with.
pub async fn apply(
    store: &Store,
    tx: &mut Tx,
    transfer: &Transfer,
    payment_id: &PaymentId,
    head: u64,
    threshold: u64,
    now: i64,
) -> Result<CreditOutcome, StoreError> {
    let Some(mut payment) = store.payment_for_update(tx, payment_id).await? else {
        return Ok(CreditOutcome::NoPayment);
    };
    let on_rail = payment.rail.chain_id == transfer.chain_id && payment.rail.token.address == transfer.token;
    // A Request Network payment counts only what its fee proxy paid with its reference to its
    // payee; a plain transfer to its address is recorded, never counted.
    let counted = on_rail
        && match (payment.rail.provider, &payment.rn, &transfer.proxy) {
            (Provider::RequestNetwork, Some(rn), Some(proxy)) => {
                proxy.reference == rn.reference && transfer.to == rn.payee
            }
            (Provider::RequestNetwork, ..) => false,
            (Provider::AmnScanner, ..) => payment.destination == transfer.to,
        };
    let credit = Credit {
        chain_id: transfer.chain_id,
        tx_hash: transfer.tx_hash,
        log_index: transfer.log_index,
        payment_id: payment.id.clone(),
        block_number: transfer.block_number,
        block_hash: transfer.block_hash,
        token: transfer.token,
        from: transfer.from,
        to: transfer.to,
        amount: transfer.amount,
        counted,
        reverted: false,
        proxy: transfer.proxy.clone(),
    };
    if !store.insert_credit(tx, &credit, now).await? {
        return Ok(CreditOutcome::Duplicate);
    }
    store.record_credit(tx, EntryKind::CreditDetected, &credit, &payment.buyer_id, now).await?;
    let transfer = EventTransfer {
        chain_id: transfer.chain_id,
        token: transfer.token,
        from: transfer.from,
        amount_base_units: transfer.amount,
        tx_hash: transfer.tx_hash,
        log_index: transfer.log_index,
        block_number: transfer.block_number,
    };
    let change = if counted {
        let confirmations = head.saturating_sub(transfer.block_number).saturating_add(1).min(threshold);
        PaymentChange::Credited { transfer, confirmations }
    } else {
        PaymentChange::Misdirected { transfer }
    };
    match store.apply_change(tx, &mut payment, change, threshold, now).await? {
        Some(kind) => Ok(CreditOutcome::Applied(kind)),
        None => Err(StoreError::Corrupt(format!("a credit of payment {} announced nothing", payment.id))),
    }
}
