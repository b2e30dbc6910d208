//! Everything that happens to a payment, as values, and the one place each is applied to it.
//!
//! A payment's status moves only through [`Payment::apply`]: followers, confirmations, reorgs,
//! expiry, settlement and the admin routes describe what happened as a [`PaymentChange`], and
//! [`Store::apply_change`](crate::store::Store::apply_change) applies it under the payment's row
//! lock, writes it and queues the event it announces in the same transaction.

use alloy::primitives::B256;
use serde_json::{Map, Value};

use crate::event::{CreditedTransfer, EventDetail, EventKind, EventSettlement, EventTransfer};
use crate::status::InvalidTransition;
use crate::store::Payment;
use crate::{BaseUnits, EscrowState, PaymentId, PaymentStatus, PayoutKind};

/// What happened to a payment.
#[derive(Debug, Clone, PartialEq)]
pub enum PaymentChange {
    /// A transfer on the payment's rail was recorded, `confirmations` deep (capped at the
    /// threshold). Before completion it is counted towards the amount; after, it is extra.
    Credited { transfer: EventTransfer, confirmations: u64 },
    /// A transfer to the destination on another rail: announced, not counted.
    Misdirected { transfer: EventTransfer },
    /// The newest counted transfer is now `confirmations` deep, below the threshold.
    Counted { confirmations: u64 },
    /// At the threshold with less than the amount received.
    Underpaid { confirmations: u64 },
    /// At the threshold, covered, and what the Transaction Safety checks concluded (`report`).
    Checked { confirmations: u64, verdict: SafetyVerdict, report: Value },
    /// A reorg took credited transfers away; `received` is what still counts and `tx_hash` the
    /// newest transfer that still does.
    Reverted { received: BaseUnits, tx_hash: Option<B256>, lost: Vec<CreditedTransfer> },
    /// Past its `expiresAt` with nothing received.
    Expired,
    /// The escrow left through a payout: released to the seller or refunded to the buyer.
    Settled { kind: PayoutKind, settlement: EventSettlement },
    /// An admin's edit: metadata merged, and a pending payment set `cancelled` or `failed`.
    Edited { status: Option<PaymentStatus>, metadata: Option<Map<String, Value>>, by: String },
    /// A settled payment's missing transaction hash, recovered from its credited transfers.
    TxHashRecovered { tx_hash: B256 },
}

/// What the Transaction Safety checks concluded at the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SafetyVerdict {
    Passed,
    Failed,
    /// The node could not answer every check yet: decided on a later pass.
    Pending,
}

impl SafetyVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Pending => "pending",
        }
    }
}

/// The event a change announces, before it is given the payment's body.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    pub kind: EventKind,
    pub detail: Option<EventDetail>,
}

impl Announcement {
    fn new(kind: EventKind, detail: Option<EventDetail>) -> Self {
        Self { kind, detail }
    }
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Transition(#[from] InvalidTransition),
    #[error("the received amount of payment {0} overflows")]
    Overflow(PaymentId),
}

impl PaymentChange {
    /// Whether followers must see the payment anew (its watch window depends on the change).
    pub fn rewatches(&self) -> bool {
        matches!(self, Self::Expired | Self::Edited { .. })
    }
}

impl Payment {
    /// Applies `change` at `now`, returning the event it announces, if any. Nothing is changed
    /// when the change is refused.
    pub fn apply(&mut self, change: PaymentChange, now: i64) -> Result<Option<Announcement>, ChangeError> {
        let before = self.status;
        let announcement = match change {
            PaymentChange::Credited { transfer, confirmations } => {
                let received = self
                    .received
                    .checked_add(transfer.amount_base_units)
                    .ok_or_else(|| ChangeError::Overflow(self.id.clone()))?;
                let kind = if before.is_open() {
                    if before == PaymentStatus::Pending {
                        self.status = before.transition(PaymentStatus::Processing)?;
                    }
                    self.tx_hash = Some(transfer.tx_hash);
                    self.underpaid = false;
                    self.confirmations = confirmations;
                    EventKind::Processing
                } else {
                    EventKind::ExtraTransfer
                };
                self.received = received;
                Some(Announcement::new(kind, Some(EventDetail::Transfer(transfer))))
            }
            PaymentChange::Misdirected { transfer } => {
                return Ok(Some(Announcement::new(EventKind::Misdirected, Some(EventDetail::Transfer(transfer)))));
            }
            PaymentChange::Counted { confirmations } => {
                if confirmations == self.confirmations {
                    return Ok(None);
                }
                self.confirmations = confirmations;
                None
            }
            PaymentChange::Underpaid { confirmations } => {
                if self.underpaid && confirmations == self.confirmations {
                    return Ok(None);
                }
                self.confirmations = confirmations;
                let newly = !self.underpaid;
                self.underpaid = true;
                newly.then(|| Announcement::new(EventKind::Underpaid, None))
            }
            PaymentChange::Checked { confirmations, verdict, report } => {
                let had_failed =
                    self.safety.as_ref().and_then(|s| s["status"].as_str()) == Some(SafetyVerdict::Failed.as_str());
                let announcement = match verdict {
                    SafetyVerdict::Passed => {
                        self.status = before.transition(PaymentStatus::Completed)?;
                        self.escrow = EscrowState::Funded;
                        self.completed_at = Some(now);
                        self.underpaid = false;
                        Some(Announcement::new(EventKind::Completed, None))
                    }
                    SafetyVerdict::Failed => {
                        (!had_failed).then(|| Announcement::new(EventKind::SafetyCheckFailed, None))
                    }
                    SafetyVerdict::Pending => None,
                };
                self.confirmations = confirmations;
                self.safety = Some(report);
                announcement
            }
            PaymentChange::Reverted { received, tx_hash, lost } => {
                let target = if received.is_zero() { PaymentStatus::Pending } else { PaymentStatus::Processing };
                // Money that already left (released, refunded) cannot be taken back by a status:
                // such a payment keeps it, and the event tells the backend what the chain did.
                if before.can_fall_back_to(target) || before == target {
                    self.status = target;
                    self.escrow = EscrowState::Unfunded;
                    self.received = received;
                    self.underpaid = false;
                    self.completed_at = None;
                    self.safety = None;
                    self.tx_hash = tx_hash;
                    // Recounted against the new branch on the next evaluation.
                    self.confirmations = 0;
                }
                Some(Announcement::new(EventKind::Reverted, Some(EventDetail::RevertedTransfers(lost))))
            }
            PaymentChange::Expired => {
                self.status = before.transition(PaymentStatus::Cancelled)?;
                Some(Announcement::new(EventKind::Cancelled, Some(EventDetail::Reason("expired".to_owned()))))
            }
            PaymentChange::Settled { kind, settlement } => {
                let (status, escrow, event) = match kind {
                    PayoutKind::Release => (PaymentStatus::Released, EscrowState::Released, EventKind::Released),
                    _ => (PaymentStatus::Refunded, EscrowState::Refunded, EventKind::Refunded),
                };
                self.status = before.transition(status)?;
                self.escrow = escrow;
                Some(Announcement::new(event, Some(EventDetail::Settlement(settlement))))
            }
            PaymentChange::Edited { status, metadata, by } => {
                let announcement = match status.filter(|s| *s != before) {
                    Some(status) => {
                        // By hand only an unpaid payment may be closed: money states come from the chain.
                        let by_hand = before == PaymentStatus::Pending
                            && matches!(status, PaymentStatus::Cancelled | PaymentStatus::Failed);
                        if !by_hand {
                            return Err(InvalidTransition { from: before, to: status }.into());
                        }
                        self.status = status;
                        let reason = format!("set to {status} by {by}");
                        Some(Announcement::new(EventKind::Cancelled, Some(EventDetail::Reason(reason))))
                    }
                    None => None,
                };
                if let Some(metadata) = metadata {
                    let mut merged = self.metadata.as_object().cloned().unwrap_or_default();
                    merged.extend(metadata);
                    self.metadata = Value::Object(merged);
                }
                announcement
            }
            PaymentChange::TxHashRecovered { tx_hash } => {
                self.tx_hash = Some(tx_hash);
                None
            }
        };
        self.updated_at = now;
        Ok(announcement)
    }
}

#[cfg(test)]
mod tests;
