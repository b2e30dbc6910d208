//! How custody reaches a chain: every endpoint of the chain, the preferred first; a call goes to
//! the endpoint that last answered and fails over to the next ones, in order, within the same call
//! when that one cannot be reached or answers with a transport error. Endpoints are never raced:
//! a nonce or a fee read from whichever node answers first could come from a lagging one, while
//! broadcasting the same signed bytes again through the next endpoint is harmless (they land at
//! most once).
//!
//! Each call waits at most `PAYSCAN_RPC_TIMEOUT` per endpoint (as for the followers: a payout run
//! holds its lock meanwhile), follows no redirects, and when every endpoint failed for a reason
//! that says nothing about the request itself (a connection refused or reset, a timeout, a rate
//! limit) the whole round is retried a few times. Errors name endpoints by their redacted label.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task;
use std::time::Duration;

use alloy::providers::RootProvider;
use alloy::rpc::client::ClientBuilder;
use alloy::rpc::json_rpc::{RequestPacket, ResponsePacket};
use alloy::transports::http::Http;
use alloy::transports::layers::{OrRetryPolicyFn, RateLimitRetryPolicy, RetryBackoffLayer};
use alloy::transports::{TransportError, TransportErrorKind, TransportFut};
use payscan_core::registry::{redact_url, Chain};
use tower::Service;
use tracing::warn;

/// Retries of a round in which every endpoint failed transiently, before the caller sees it.
const RETRIES: u32 = 3;
/// The first retry's wait, in ms; alloy's layer backs off from there.
const BACKOFF_MS: u64 = 200;
/// The compute units a second alloy's layer paces rate-limited retries by.
const COMPUTE_UNITS_PER_SECOND: u64 = 1_000;

/// The chain's RPC as custody uses it: all its endpoints; `None` when one is not a URL.
pub(crate) fn provider(chain: &Chain, timeout: Duration) -> Option<RootProvider> {
    connect(&chain.rpc_endpoints(), timeout)
}

/// RPC endpoints of one chain as custody uses them, the preferred first; `None` when there are
/// none or one is not a URL.
pub(crate) fn connect(urls: &[&str], timeout: Duration) -> Option<RootProvider> {
    let failover = Failover::new(urls, timeout)?;
    let is_local = failover.endpoints.iter().all(|e| e.local);
    let policy = OrRetryPolicyFn::new(RateLimitRetryPolicy::default(), transient);
    let retry = RetryBackoffLayer::new_with_policy(RETRIES, BACKOFF_MS, COMPUTE_UNITS_PER_SECOND, policy);
    Some(RootProvider::new(ClientBuilder::default().layer(retry).transport(failover, is_local)))
}

/// An endpoint could not be reached or did not answer; the URL, which may carry an API key, is
/// replaced by its label.
#[derive(Debug, thiserror::Error)]
#[error("{endpoint}: {source}")]
pub(crate) struct Unreachable {
    endpoint: String,
    #[source]
    source: reqwest::Error,
}

struct Endpoint {
    label: String,
    local: bool,
    http: Http<reqwest::Client>,
}

/// Ordered failover over a chain's endpoints.
#[derive(Clone)]
struct Failover {
    endpoints: Arc<[Endpoint]>,
    /// The endpoint that answered last: a dead preferred endpoint costs one failed attempt per
    /// provider, not one per call.
    current: Arc<AtomicUsize>,
}

impl Failover {
    fn new(urls: &[&str], timeout: Duration) -> Option<Self> {
        let client =
            reqwest::Client::builder().timeout(timeout).redirect(reqwest::redirect::Policy::none()).build().ok()?;
        let endpoints = urls
            .iter()
            .map(|url| {
                let parsed: reqwest::Url = url.parse().ok()?;
                let local = parsed.host_str().is_some_and(|h| h == "127.0.0.1" || h == "localhost");
                Some(Endpoint { label: redact_url(url), local, http: Http::with_client(client.clone(), parsed) })
            })
            .collect::<Option<Vec<_>>>()?;
        if endpoints.is_empty() {
            return None;
        }
        Some(Self { endpoints: endpoints.into(), current: Arc::new(AtomicUsize::new(0)) })
    }

    async fn send(self, request: RequestPacket) -> Result<ResponsePacket, TransportError> {
        let count = self.endpoints.len();
        let start = self.current.load(Ordering::Relaxed) % count;
        let mut last = None;
        for step in 0..count {
            let at = (start + step) % count;
            let endpoint = &self.endpoints[at];
            match endpoint.http.clone().call(request.clone()).await {
                Ok(answer) => {
                    self.current.store(at, Ordering::Relaxed);
                    return Ok(answer);
                }
                Err(error) => {
                    let error = labelled(&endpoint.label, error);
                    if step + 1 < count {
                        warn!(target: "payscan::custody", endpoint = %endpoint.label, %error, "rpc endpoint failed; trying the next");
                    }
                    last = Some(error);
                }
            }
        }
        Err(last.unwrap_or_else(|| TransportErrorKind::custom_str("no rpc endpoint")))
    }
}

impl Service<RequestPacket> for Failover {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _cx: &mut task::Context<'_>) -> task::Poll<Result<(), Self::Error>> {
        task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        Box::pin(self.clone().send(request))
    }
}

/// `error` with the URL reqwest quotes replaced by the endpoint's label; HTTP status and body
/// errors quote no URL and keep their kind, so that the rate-limit policy still sees them.
fn labelled(label: &str, error: TransportError) -> TransportError {
    match error {
        TransportError::Transport(TransportErrorKind::Custom(inner)) => match inner.downcast::<reqwest::Error>() {
            Ok(source) => {
                TransportErrorKind::custom(Unreachable { endpoint: label.to_owned(), source: source.without_url() })
            }
            Err(inner) => TransportError::Transport(TransportErrorKind::Custom(inner)),
        },
        other => other,
    }
}

/// A failure to reach the node or to hear back from it, as opposed to the node's answer.
fn transient(error: &TransportError) -> bool {
    let TransportError::Transport(TransportErrorKind::Custom(inner)) = error else { return false };
    inner
        .downcast_ref::<Unreachable>()
        .is_some_and(|u| u.source.is_connect() || u.source.is_timeout() || u.source.is_request())
}

#[cfg(test)]
mod tests {
    use alloy::providers::Provider;

    use super::*;

    /// A port nothing listens on: bound, then dropped.
    fn refused_url(path: &str) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        format!("http://127.0.0.1:{port}{path}")
    }

    #[tokio::test]
    async fn errors_name_endpoints_by_their_label_only() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (first, second) = (refused_url("/v3/first-secret"), refused_url("/?key=second-secret"));
        let provider = connect(&[&first, &second], Duration::from_secs(1)).expect("provider");
        let error = provider.get_block_number().await.expect_err("nothing listens").to_string();
        assert!(!error.contains("secret"), "{error}");
        assert!(error.contains(&redact_url(&second)), "the endpoint tried last is named: {error}");
    }
}
