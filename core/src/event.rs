//! Webhook events: the seed's scanner envelope (`intentId`, `status`, `txHash`, `chainId`,
//! `confirmations`, `amount`, `amountBaseUnits`, `token`) plus `type` and what payscan knows more.

use serde_json::{json, Value};

use crate::clock;
use crate::store::payouts::Payout;
use crate::store::Payment;

/// What happened to a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A transfer on the payment's rail was seen (first or top-up); awaiting confirmations.
    Processing,
    /// The threshold was reached with less than the amount received.
    Underpaid,
    /// Confirmed at the threshold with the amount covered; escrow funded.
    Completed,
    /// A transfer to the destination arrived after completion.
    ExtraTransfer,
    /// A transfer to the destination on another chain or token than the payment's rail.
    Misdirected,
    /// A reorg took credited transfers away; `status` is what the payment fell back to.
    Reverted,
    /// At the threshold a Transaction Safety check failed; the payment waits in the
    /// awaiting-confirmation queue.
    SafetyCheckFailed,
    /// Expired before any money arrived, or cancelled by an admin.
    Cancelled,
    /// The escrow reached the seller.
    Released,
    /// The escrow went back to the buyer.
    Refunded,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "payment.processing",
            Self::Underpaid => "payment.underpaid",
            Self::Completed => "payment.completed",
            Self::ExtraTransfer => "payment.extra_transfer",
            Self::Misdirected => "payment.misdirected",
            Self::Reverted => "payment.reverted",
            Self::SafetyCheckFailed => "payment.safety_check_failed",
            Self::Cancelled => "payment.cancelled",
            Self::Released => "payment.released",
            Self::Refunded => "payment.refunded",
        }
    }
}

/// The body of one event about `payment`, as delivered to every target; `extra` adds one field
/// (the transfer that caused it, the transfers a reorg took away).
pub fn payment_event(
    kind: EventKind,
    payment: &Payment,
    threshold: u64,
    extra: Option<(&str, Value)>,
    now: i64,
) -> Value {
    let decimals = payment.rail.token.decimals;
    let tx_hash = payment.tx_hash.map(|h| format!("{h:#x}"));
    let mut body = json!({
        "type": kind.as_str(),
        "intentId": payment.id,
        "paymentId": payment.id,
        "provider": payment.rail.provider.as_str(),
        "status": payment.status,
        "escrowState": payment.escrow,
        "txHash": tx_hash,
        "transactionHash": tx_hash,
        "chainId": payment.rail.chain_id,
        "confirmations": payment.confirmations,
        "threshold": threshold,
        "amount": payment.rail.amount.to_token_units(decimals),
        "amountBaseUnits": payment.rail.amount,
        "amountReceived": payment.received.to_token_units(decimals),
        "amountReceivedBaseUnits": payment.received,
        "overpaidBaseUnits": payment.overpaid(),
        "underpaid": payment.underpaid,
        "transactionSafety": payment.safety,
        "token": payment.rail.token,
        "destination": payment.destination.to_checksum(None),
        "purchaseRequestId": payment.purchase_request_id,
        "sellerOfferId": payment.seller_offer_id,
        "sellerId": payment.seller_id,
        "buyerId": payment.buyer_id,
        "occurredAt": clock::rfc3339(now),
    });
    if let (Some((key, value)), Some(map)) = (extra, body.as_object_mut()) {
        map.insert(key.to_owned(), value);
    }
    body
}

/// What happened to a payout (a release or refund included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutEvent {
    Queued,
    /// An attempt started: its transaction is signed and sent.
    Processing,
    /// An attempt failed; `nextAttemptAt` says when the retry runs.
    Failed,
    Completed,
    /// Retries are used up; a person must look.
    ManualReview,
    Cancelled,
    /// An admin put it back in the queue.
    Requeued,
}

impl PayoutEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "payout.queued",
            Self::Processing => "payout.processing",
            Self::Failed => "payout.failed",
            Self::Completed => "payout.completed",
            Self::ManualReview => "payout.manual_review",
            Self::Cancelled => "payout.cancelled",
            Self::Requeued => "payout.requeued",
        }
    }
}

/// The body of one event about `payout`.
pub fn payout_event(kind: PayoutEvent, payout: &Payout, now: i64) -> Value {
    json!({
        "type": kind.as_str(),
        "payoutId": payout.id,
        "kind": payout.kind,
        "status": payout.status,
        "userId": payout.user_id,
        "reference": payout.reference,
        "contractId": payout.contract_id,
        "reason": payout.reason,
        "paymentId": payout.payment_id,
        "chainId": payout.chain_id,
        "token": payout.token,
        "recipient": payout.recipient.to_checksum(None),
        "amount": payout.amount.to_token_units(payout.token.decimals),
        "amountBaseUnits": payout.amount,
        "attempts": payout.attempts,
        "txHash": payout.tx_hash.map(|h| format!("{h:#x}")),
        "error": payout.last_error,
        "nextAttemptAt": payout.next_attempt_at.map(clock::rfc3339),
        "occurredAt": clock::rfc3339(now),
    })
}
