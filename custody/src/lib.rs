//! payscan's custody side: the keys destinations are derived from, the keys it signs with, and
//! the money it moves: sweeps, payouts, releases and refunds.

// Money is integers in base units: no float arithmetic anywhere in this crate.
#![deny(clippy::float_arithmetic)]

pub mod derivation;
pub mod escrow;
pub mod keys;
pub mod outbound;
pub mod payouts;
pub mod permit;
pub mod sweep;

pub use derivation::{DeriveError, Deriver};
pub use escrow::EscrowOutcome;
pub use keys::{CustodyError, Health, Keys};
pub use outbound::{OutboundSettings, Sender, TrackReport, TxRequest};
pub use payouts::{NewPayout, PayoutError, PayoutSettings, Payouts, RunReport};
pub use permit::{Availability, PermitError, PermitRelay, PermitTerms, Relayed, SignedPermit};
pub use sweep::{CronRun, SweepCron, SweepResult, SweepStatus, Sweeper};
