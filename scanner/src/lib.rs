//! payscan's scanner: one follower per chain that finds registry-token transfers to watched
//! destinations and counts their confirmations; the events it writes are the outbox's to deliver.

// Money is integers in base units: no float arithmetic anywhere in this crate.
#![deny(clippy::float_arithmetic)]

pub mod confirmations;
pub mod credit;
pub mod error;
pub mod follower;
pub mod heads;
pub mod metrics;
pub mod pool;
pub mod probe;
pub mod range;
pub mod reload;
pub mod reorg;
pub mod rpc;
pub mod safety;
pub mod status;
pub mod supervisor;
pub mod watch;

pub use error::FollowerError;
pub use follower::Follower;
pub use metrics::ScannerMetrics;
pub use reload::{ReloadError, Reloaded, Reloader};
pub use status::ScannerStatus;
pub use supervisor::{FollowerContext, Lease, Supervisor};
pub use watch::WatchSet;
