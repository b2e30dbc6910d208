//! Follower errors, each saying whether the next tick may succeed.

use alloy::transports::TransportError;
use payscan_chain::transport::HttpFailure;
use payscan_chain::ChainError;
use payscan_core::redact::{redact_url, scrub_urls};
use payscan_core::store::StoreError;

/// Why a follower tick failed.
#[derive(Debug, thiserror::Error)]
pub enum FollowerError {
    /// Transport errors quote the URL they failed on: shown with every URL redacted.
    #[error("rpc: {}", scrub_urls(&.0.to_string()))]
    Rpc(#[from] TransportError),
    #[error("rpc answered without {0}")]
    Incomplete(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Every endpoint asked to be left alone for now (`Retry-After`).
    #[error("every rpc endpoint is rate limited")]
    RateLimited,
    #[error("rpc url `{}` is invalid", redact_url(.0))]
    BadUrl(String),
    #[error("no rpc endpoint is configured")]
    NoEndpoint,
    /// The chain reorganised deeper than payscan may unwind: halt and wait for an operator.
    #[error("reorg below block {from} is deeper than the {max_depth}-block limit; the chain is halted until an operator authorizes an unwind")]
    ReorgTooDeep { from: u64, max_depth: u64 },
    /// Another instance holds the chain's lease now: this follower stops without writing.
    #[error("the chain lease passed to another instance; this follower stopped without committing")]
    LeaseLost,
}

impl From<ChainError> for FollowerError {
    fn from(error: ChainError) -> Self {
        match error {
            ChainError::Rpc(e) => Self::Rpc(e),
            ChainError::Incomplete(what) => Self::Incomplete(what),
            ChainError::BadUrl(url) => Self::BadUrl(url),
            ChainError::NoEndpoint => Self::NoEndpoint,
        }
    }
}

impl FollowerError {
    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Rpc(e) => match HttpFailure::of(e) {
                Some(HttpFailure::RateLimited { .. }) => "rpc_rate_limited",
                Some(HttpFailure::TooLarge { .. }) => "rpc_answer_too_large",
                None if e.is_error_resp() => "rpc_error_response",
                None if e.is_transport_error() => "rpc_transport",
                None => "rpc_other",
            },
            Self::RateLimited => "rpc_rate_limited",
            Self::Incomplete(_) => "rpc_incomplete",
            Self::Store(_) => "store",
            Self::BadUrl(_) | Self::NoEndpoint => "config",
            Self::ReorgTooDeep { .. } => "reorg_too_deep",
            Self::LeaseLost => "lease_lost",
        }
    }

    /// The HTTP-level failure (rate limit, answer too large) behind this error, if any.
    pub fn http_failure(&self) -> Option<&HttpFailure> {
        match self {
            Self::Rpc(e) => HttpFailure::of(e),
            _ => None,
        }
    }

    /// False when retrying cannot help (the chain stops and says why).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::BadUrl(_) | Self::NoEndpoint | Self::ReorgTooDeep { .. } | Self::LeaseLost)
    }
}
