//! payscan's custody side: the keys destinations are derived from, the keys it signs with.

pub mod derivation;
pub mod keys;
pub mod outbound;
pub mod sweep;

pub use derivation::{DeriveError, Deriver};
pub use keys::{CustodyError, Health, Keys};
pub use outbound::{OutboundSettings, Sender, TrackReport, TxRequest};
pub use sweep::{CronRun, SweepCron, SweepResult, SweepStatus, Sweeper};
