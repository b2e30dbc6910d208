//! payscan's shared domain: the chain and token registry, money and status types, configuration,
//! the database store and the signing of webhooks. It knows no HTTP server and no chain follower.

// Money is integers in base units: no float arithmetic anywhere in this crate.
#![deny(clippy::float_arithmetic)]

pub mod change;
pub mod clock;
pub mod config;
pub mod event;
pub mod expiry;
pub mod failpoint;
pub mod ids;
pub mod intent;
pub mod money;
pub mod outbound;
pub mod quote;
pub mod rails;
pub mod redact;
pub mod reference;
pub mod registry;
pub mod status;
pub mod store;
pub mod tasks;
pub mod webhook;

pub use ids::{ChainId, DerivationIndex, EventId, PaymentId, PayoutId};
pub use money::BaseUnits;
pub use status::{EscrowState, PaymentStatus, PayoutKind, PayoutStatus, Provider};
