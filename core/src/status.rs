//! Payment and escrow states, with every allowed transition in one place.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A payment's status, as the seed's status model names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Intent created, nothing seen on chain yet.
    Pending,
    /// Money seen on chain, awaiting confirmations (or a top-up when underpaid).
    Processing,
    /// Fully credited; payscan moves straight on to `Completed`, but the state exists in the model.
    Confirmed,
    /// Confirmed at the chain's threshold; escrow funded.
    Completed,
    Failed,
    Cancelled,
    Released,
    Refunded,
}

/// A status string that is not one of [`PaymentStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown payment status `{0}`")]
pub struct UnknownStatus(pub String);

/// A status change the model does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {from} payment cannot become {to}")]
pub struct InvalidTransition {
    pub from: PaymentStatus,
    pub to: PaymentStatus,
}

impl PaymentStatus {
    pub const ALL: [Self; 8] = [
        Self::Pending,
        Self::Processing,
        Self::Confirmed,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
        Self::Released,
        Self::Refunded,
    ];

    /// Still waiting for money (see [`PaymentStatus::is_open`]).
    pub const OPEN: [Self; 2] = [Self::Pending, Self::Processing];

    /// The successful terminal statuses (the seed's `success`), as statistics count them.
    pub const SUCCESSFUL: [Self; 4] = [Self::Confirmed, Self::Completed, Self::Released, Self::Refunded];

    /// The money passed its threshold: it is the marketplace's, to sweep, release or refund.
    pub const SETTLED: [Self; 3] = [Self::Completed, Self::Released, Self::Refunded];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Confirmed => "confirmed",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Released => "released",
            Self::Refunded => "refunded",
        }
    }

    /// Whether the transition `self → to` is allowed.
    pub fn can_become(self, to: Self) -> bool {
        use PaymentStatus::*;
        matches!(
            (self, to),
            (Pending, Processing | Failed | Cancelled)
                | (Processing, Confirmed | Completed | Failed)
                | (Confirmed, Completed)
                | (Completed, Released | Refunded)
        )
    }

    /// Whether a reorg that takes away credited transfers may move a payment from `self` back to
    /// `to`. Nothing else moves a payment backwards.
    pub fn can_fall_back_to(self, to: Self) -> bool {
        use PaymentStatus::*;
        matches!((self, to), (Processing, Pending) | (Confirmed | Completed, Processing | Pending))
    }

    /// `self → to` after a reorg, or why not.
    pub fn fall_back(self, to: Self) -> Result<Self, InvalidTransition> {
        if self.can_fall_back_to(to) {
            Ok(to)
        } else {
            Err(InvalidTransition { from: self, to })
        }
    }

    /// `self → to`, or why not.
    pub fn transition(self, to: Self) -> Result<Self, InvalidTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(InvalidTransition { from: self, to })
        }
    }

    /// Still waiting for money: its destination is watched and the buyer's intent is reused.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Processing)
    }

    /// A successful terminal status, as payment statistics count them.
    pub fn is_successful(self) -> bool {
        Self::SUCCESSFUL.contains(&self)
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PaymentStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|status| status.as_str() == s).ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// Escrow state: `unfunded → funded → released | refunded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EscrowState {
    Unfunded,
    Funded,
    Released,
    Refunded,
}

impl EscrowState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unfunded => "unfunded",
            Self::Funded => "funded",
            Self::Released => "released",
            Self::Refunded => "refunded",
        }
    }
}

impl FromStr for EscrowState {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Unfunded, Self::Funded, Self::Released, Self::Refunded]
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// A payout's status: the seed's `PROCESSING|COMPLETED|FAILED|RETRY_n|MANUAL_REVIEW`, plus
/// `QUEUED` (waiting for a batch run), `BUILT` (an unsigned payload waits for its confirm) and
/// `CANCELLED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayoutStatus {
    Queued,
    /// The first attempt is under way.
    Processing,
    /// Retry `n` is under way.
    Retrying(u32),
    /// An attempt failed; the next retry is scheduled.
    Failed,
    Completed,
    /// Retries are used up; waits for an admin to retry or cancel.
    ManualReview,
    Built,
    Cancelled,
}

impl PayoutStatus {
    pub fn as_string(self) -> String {
        match self {
            Self::Queued => "QUEUED".into(),
            Self::Processing => "PROCESSING".into(),
            Self::Retrying(n) => format!("RETRY_{n}"),
            Self::Failed => "FAILED".into(),
            Self::Completed => "COMPLETED".into(),
            Self::ManualReview => "MANUAL_REVIEW".into(),
            Self::Built => "BUILT".into(),
            Self::Cancelled => "CANCELLED".into(),
        }
    }

    /// An attempt is under way: a transaction may be in flight.
    pub fn is_in_flight(self) -> bool {
        matches!(self, Self::Processing | Self::Retrying(_))
    }

    /// Whether the transition `self → to` is allowed.
    pub fn can_become(self, to: Self) -> bool {
        use PayoutStatus::*;
        match (self, to) {
            (Queued, Processing | Cancelled) => true,
            (Processing | Retrying(_), Completed | Failed | ManualReview) => true,
            // The retry after `n` failures is retry `n`.
            (Failed, Retrying(_) | Queued | Cancelled | Completed) => true,
            (ManualReview, Queued | Cancelled | Completed) => true,
            (Built, Completed | Cancelled) => true,
            _ => false,
        }
    }

    /// `self → to`, or why not.
    pub fn transition(self, to: Self) -> Result<Self, InvalidPayoutTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(InvalidPayoutTransition { from: self, to })
        }
    }
}

/// A payout status change the model does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {from} payout cannot become {to}")]
pub struct InvalidPayoutTransition {
    pub from: PayoutStatus,
    pub to: PayoutStatus,
}

impl fmt::Display for PayoutStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

impl FromStr for PayoutStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "QUEUED" => Self::Queued,
            "PROCESSING" => Self::Processing,
            "FAILED" => Self::Failed,
            "COMPLETED" => Self::Completed,
            "MANUAL_REVIEW" => Self::ManualReview,
            "BUILT" => Self::Built,
            "CANCELLED" => Self::Cancelled,
            other => match other.strip_prefix("RETRY_").and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => Self::Retrying(n),
                _ => return Err(UnknownStatus(s.to_owned())),
            },
        })
    }
}

impl Serialize for PayoutStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PayoutStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// What a payout pays: a plain payout, or a payment's escrow to its seller or back to its buyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayoutKind {
    Payout,
    Release,
    Refund,
}

impl PayoutKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Payout => "payout",
            Self::Release => "release",
            Self::Refund => "refund",
        }
    }
}

impl FromStr for PayoutKind {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "payout" => Ok(Self::Payout),
            "release" => Ok(Self::Release),
            "refund" => Ok(Self::Refund),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

/// Which rail a payment takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Provider {
    /// A derived deposit address that payscan's follower watches.
    #[serde(rename = "amn.scanner")]
    AmnScanner,
    /// A Request Network payment reference paid through the chain's ERC20FeeProxy.
    #[serde(rename = "request.network")]
    RequestNetwork,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AmnScanner => "amn.scanner",
            Self::RequestNetwork => "request.network",
        }
    }
}

impl FromStr for Provider {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "amn.scanner" => Ok(Self::AmnScanner),
            "request.network" => Ok(Self::RequestNetwork),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_follow_the_model() {
        use PaymentStatus::*;
        assert!(Pending.can_become(Processing));
        assert!(Processing.can_become(Completed));
        assert!(Completed.can_become(Released));
        assert!(!Completed.can_become(Processing));
        assert!(!Pending.can_become(Completed));
        assert!(!Released.can_become(Refunded));
        assert!(Completed.can_fall_back_to(Pending));
        assert!(Processing.can_fall_back_to(Pending));
        assert!(!Released.can_fall_back_to(Processing));
        assert!(!Pending.can_fall_back_to(Pending));
        assert_eq!(Failed.transition(Completed), Err(InvalidTransition { from: Failed, to: Completed }));
    }

    #[test]
    fn the_status_sets_agree_with_the_model() {
        for status in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::OPEN.contains(&status), status.is_open(), "{status}");
            // Settled money only moves forward to another settled status.
            if PaymentStatus::SETTLED.contains(&status) {
                assert!(PaymentStatus::ALL
                    .iter()
                    .filter(|to| status.can_become(**to))
                    .all(|to| PaymentStatus::SETTLED.contains(to)));
            }
        }
    }

    #[test]
    fn payout_transitions_follow_the_model() {
        use PayoutStatus::*;
        assert!(Queued.can_become(Processing));
        assert!(Processing.can_become(Failed));
        assert!(Failed.can_become(Retrying(1)));
        assert!(Retrying(3).can_become(ManualReview));
        assert!(ManualReview.can_become(Queued));
        assert!(Built.can_become(Completed));
        // A transaction may be in flight: nothing but its outcome moves it.
        assert!(!Processing.can_become(Cancelled));
        assert!(!Retrying(1).can_become(Queued));
        assert!(!Completed.can_become(Queued));
        assert!(!Cancelled.can_become(Processing));
        for status in [Queued, Processing, Retrying(2), Failed, Completed, ManualReview, Built, Cancelled] {
            assert_eq!(status.as_string().parse::<PayoutStatus>(), Ok(status));
        }
        assert!("RETRY_0".parse::<PayoutStatus>().is_err());
        assert!("RETRY_x".parse::<PayoutStatus>().is_err());
    }

    #[test]
    fn statuses_round_trip_as_strings() {
        for status in PaymentStatus::ALL {
            assert_eq!(status.as_str().parse::<PaymentStatus>(), Ok(status));
            assert_eq!(serde_json::to_value(status).ok(), Some(status.as_str().into()));
        }
        assert!("success".parse::<PaymentStatus>().is_err());
    }

    #[test]
    fn stats_count_every_successful_terminal_status() {
        use PaymentStatus::*;
        let successful: Vec<_> = PaymentStatus::ALL.into_iter().filter(|s| s.is_successful()).collect();
        assert_eq!(successful, vec![Confirmed, Completed, Released, Refunded]);
    }
}
