//! Why a chain could not be reached or read.

use alloy::transports::TransportError;
use payscan_core::redact::{redact_url, scrub_urls};

/// A chain access failure; URLs, which may carry an API key, only ever shown redacted.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("rpc url `{}` is invalid", redact_url(.0))]
    BadUrl(String),
    #[error("no rpc endpoint is configured")]
    NoEndpoint,
    /// Transport errors quote the URL they failed on: shown with every URL redacted.
    #[error("rpc: {}", scrub_urls(&.0.to_string()))]
    Rpc(#[from] TransportError),
    #[error("rpc answered without {0}")]
    Incomplete(&'static str),
}
