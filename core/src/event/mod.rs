//! Webhook events: the seed's scanner envelope (`intentId`, `status`, `txHash`, `chainId`,
//! `confirmations`, `amount`, `amountBaseUnits`, `token`) plus `type` and what payscan knows more.
//!
//! [`WebhookEvent`] is the whole contract: the outbox stores what it serializes to, every target
//! receives that text, and payscan's own receiver reads it back into the same type.

mod payment;
mod payout;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Deserializer, Serialize};

use crate::clock;
use crate::store::payouts::Payout;
use crate::store::Payment;

pub use payment::{CreditedTransfer, EventDetail, EventSettlement, EventTransfer, PaymentEvent};
pub use payout::PayoutEventBody;

/// What happened to a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventKind {
    /// A transfer on the payment's rail was seen (first or top-up); awaiting confirmations.
    #[serde(rename = "payment.processing")]
    Processing,
    /// The threshold was reached with less than the amount received.
    #[serde(rename = "payment.underpaid")]
    Underpaid,
    /// Confirmed at the threshold with the amount covered; escrow funded.
    #[serde(rename = "payment.completed")]
    Completed,
    /// A transfer to the destination arrived after completion.
    #[serde(rename = "payment.extra_transfer")]
    ExtraTransfer,
    /// A transfer to the destination on another chain or token than the payment's rail.
    #[serde(rename = "payment.misdirected")]
    Misdirected,
    /// A reorg took credited transfers away; `status` is what the payment fell back to.
    #[serde(rename = "payment.reverted")]
    Reverted,
    /// At the threshold a Transaction Safety check failed; the payment waits in the
    /// awaiting-confirmation queue.
    #[serde(rename = "payment.safety_check_failed")]
    SafetyCheckFailed,
    /// Expired before any money arrived, or cancelled by an admin.
    #[serde(rename = "payment.cancelled")]
    Cancelled,
    /// The escrow reached the seller.
    #[serde(rename = "payment.released")]
    Released,
    /// The escrow went back to the buyer.
    #[serde(rename = "payment.refunded")]
    Refunded,
}

impl EventKind {
    pub const ALL: [Self; 10] = [
        Self::Processing,
        Self::Underpaid,
        Self::Completed,
        Self::ExtraTransfer,
        Self::Misdirected,
        Self::Reverted,
        Self::SafetyCheckFailed,
        Self::Cancelled,
        Self::Released,
        Self::Refunded,
    ];

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

/// What happened to a payout (a release or refund included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PayoutEvent {
    #[serde(rename = "payout.queued")]
    Queued,
    /// An attempt started: its transaction is signed and sent.
    #[serde(rename = "payout.processing")]
    Processing,
    /// An attempt failed; `nextAttemptAt` says when the retry runs.
    #[serde(rename = "payout.failed")]
    Failed,
    #[serde(rename = "payout.completed")]
    Completed,
    /// Retries are used up; a person must look.
    #[serde(rename = "payout.manual_review")]
    ManualReview,
    #[serde(rename = "payout.cancelled")]
    Cancelled,
    /// An admin put it back in the queue.
    #[serde(rename = "payout.requeued")]
    Requeued,
}

impl PayoutEvent {
    pub const ALL: [Self; 7] = [
        Self::Queued,
        Self::Processing,
        Self::Failed,
        Self::Completed,
        Self::ManualReview,
        Self::Cancelled,
        Self::Requeued,
    ];

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

/// One webhook body: a payment event or a payout event, told apart by its `type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
// An event is built, written or read, and dropped, one at a time: a box would only add an
// allocation to every event.
#[allow(clippy::large_enum_variant)]
pub enum WebhookEvent {
    Payment(PaymentEvent),
    Payout(PayoutEventBody),
}

impl WebhookEvent {
    /// The `type` string (`payment.processing`, `payout.queued`, …).
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Payment(event) => event.kind.as_str(),
            Self::Payout(event) => event.event.as_str(),
        }
    }

    /// The id the event is about: the payment's, or the payout's.
    pub fn subject(&self) -> &str {
        match self {
            Self::Payment(event) => event.payment_id.as_str(),
            Self::Payout(event) => event.payout_id.as_str(),
        }
    }

    /// The subject's status as the body states it (`processing`, `RETRY_2`, …).
    pub fn status(&self) -> String {
        match self {
            Self::Payment(event) => event.status.as_str().to_owned(),
            Self::Payout(event) => event.status.as_string(),
        }
    }
}

impl<'de> Deserialize<'de> for WebhookEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The `type` picks the body before it is read, so a refusal names the field that is
        // wrong instead of saying only that neither shape matched.
        let body = serde_json::Value::deserialize(d)?;
        let payout = body.get("type").and_then(serde_json::Value::as_str).is_some_and(|t| t.starts_with("payout."));
        let event = if payout {
            PayoutEventBody::deserialize(body).map(Self::Payout)
        } else {
            PaymentEvent::deserialize(body).map(Self::Payment)
        };
        event.map_err(serde::de::Error::custom)
    }
}

/// The event `kind` about `payment`, as delivered to every target; `detail` adds what caused it
/// (the transfer, the transfers a reorg took away, the settling payout, a reason).
pub fn payment_event(
    kind: EventKind,
    payment: &Payment,
    threshold: u64,
    detail: Option<EventDetail>,
    now: i64,
) -> WebhookEvent {
    WebhookEvent::Payment(PaymentEvent::new(kind, payment, threshold, detail, clock::rfc3339(now)))
}

/// The event `kind` about `payout`.
pub fn payout_event(kind: PayoutEvent, payout: &Payout, now: i64) -> WebhookEvent {
    WebhookEvent::Payout(PayoutEventBody::new(kind, payout, clock::rfc3339(now)))
}

/// Addresses in event bodies are EIP-55 checksummed, as payscan shows them everywhere.
mod checksummed {
    use alloy::primitives::Address;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(address: &Address, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&address.to_checksum(None))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        Address::deserialize(d)
    }

    pub(super) mod option {
        use alloy::primitives::Address;
        use serde::{Deserialize, Deserializer, Serializer};

        pub(in crate::event) fn serialize<S: Serializer>(address: &Option<Address>, s: S) -> Result<S::Ok, S::Error> {
            match address {
                Some(address) => s.collect_str(&address.to_checksum(None)),
                None => s.serialize_none(),
            }
        }

        pub(in crate::event) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Address>, D::Error> {
            Option::<Address>::deserialize(d)
        }
    }
}
