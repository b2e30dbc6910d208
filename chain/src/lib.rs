//! payscan's chain access: every contract interface it uses, declared once, and the one factory
//! of the providers through which the followers, custody and the API reach a chain's endpoints
//! (timeouts, an answer cap, ordered failover, URLs shown redacted).

// Money is integers in base units: no float arithmetic anywhere in this crate.
#![deny(clippy::float_arithmetic)]

pub mod abi;
pub mod endpoints;
pub mod error;
pub mod read;
pub mod transport;

pub use endpoints::{provider_for, Endpoints};
pub use error::ChainError;
