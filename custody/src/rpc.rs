//! How custody reaches a chain: a bounded wait per call (`PAYSCAN_RPC_TIMEOUT`, as for the
//! followers: a payout run holds its lock meanwhile), no redirects, and a few retries of the
//! failures that say nothing about the request itself (a connection refused or reset, a timeout,
//! a rate limit). Retrying is safe for every call custody makes: reads, and broadcasts of a
//! transaction already signed and recorded, whose same bytes land at most once.

use std::time::Duration;

use alloy::providers::RootProvider;
use alloy::rpc::client::ClientBuilder;
use alloy::transports::layers::{OrRetryPolicyFn, RateLimitRetryPolicy, RetryBackoffLayer};
use alloy::transports::{TransportError, TransportErrorKind};
use payscan_core::registry::Chain;

/// Retries of a transient failure before the caller sees it.
const RETRIES: u32 = 3;
/// The first retry's wait, in ms; alloy's layer backs off from there.
const BACKOFF_MS: u64 = 200;
/// The compute units a second alloy's layer paces rate-limited retries by.
const COMPUTE_UNITS_PER_SECOND: u64 = 1_000;

/// The chain's RPC as custody uses it; `None` when its URL is not one.
pub(crate) fn provider(chain: &Chain, timeout: Duration) -> Option<RootProvider> {
    connect(&chain.rpc_url, timeout)
}

/// An RPC endpoint as custody uses it; `None` when `url` is not one.
pub(crate) fn connect(url: &str, timeout: Duration) -> Option<RootProvider> {
    let url: reqwest::Url = url.parse().ok()?;
    let client =
        reqwest::Client::builder().timeout(timeout).redirect(reqwest::redirect::Policy::none()).build().ok()?;
    let policy = OrRetryPolicyFn::new(RateLimitRetryPolicy::default(), transient);
    let retry = RetryBackoffLayer::new_with_policy(RETRIES, BACKOFF_MS, COMPUTE_UNITS_PER_SECOND, policy);
    Some(RootProvider::new(ClientBuilder::default().layer(retry).http_with_client(client, url)))
}

/// A failure to reach the node or to hear back from it, as opposed to the node's answer.
fn transient(error: &TransportError) -> bool {
    let TransportError::Transport(TransportErrorKind::Custom(inner)) = error else { return false };
    inner.downcast_ref::<reqwest::Error>().is_some_and(|e| e.is_connect() || e.is_timeout() || e.is_request())
}
