//! payscan's outbox: the dispatcher that delivers the webhook events every component (the
//! followers, custody's payouts) writes to the store, under the outbound policy, with retries.

// Money is integers in base units: no float arithmetic anywhere in this crate.
#![deny(clippy::float_arithmetic)]

mod attempt;
mod claim;
pub mod dispatcher;
pub mod metrics;

pub use claim::Claimed;
pub use dispatcher::{DispatchOutcome, Dispatcher};
pub use metrics::OutboxMetrics;
