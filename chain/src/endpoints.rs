//! How payscan reaches a chain: every endpoint of the chain, the preferred first; a call goes to
//! the endpoint that last answered and fails over to the next ones, in order, within the same call
//! when that one cannot be reached or answers with a transport error. Endpoints are never raced:
//! a nonce or a fee read from whichever node answers first could come from a lagging one, while
//! broadcasting the same signed bytes again through the next endpoint is harmless (they land at
//! most once).
//!
//! Each call waits at most the given timeout per endpoint, follows no redirects and reads no
//! answer larger than the cap. When every endpoint failed for a reason that says nothing about the
//! request itself (a connection refused or reset, a timeout, a rate limit) the whole round is
//! retried a few times. Errors name endpoints by their redacted label.
//!
//! A follower builds one provider per endpoint without retries instead: it cross-checks their
//! heads and schedules their backoff itself.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task;
use std::time::Duration;

use alloy::providers::RootProvider;
use alloy::rpc::client::ClientBuilder;
use alloy::rpc::json_rpc::{RequestPacket, ResponsePacket};
use alloy::transports::layers::{RateLimitRetryPolicy, RetryBackoffLayer, RetryPolicy};
use alloy::transports::{TransportError, TransportErrorKind, TransportFut};
use payscan_core::redact::redact_url;
use payscan_core::registry::Chain;
use tower::Service;
use tracing::warn;

use crate::error::ChainError;
use crate::transport::{CappedHttp, HttpFailure, DEFAULT_MAX_ANSWER_BYTES};

/// Retries of a round in which every endpoint failed transiently, before the caller sees it.
pub const DEFAULT_RETRIES: u32 = 3;
/// The first retry's wait, in ms; alloy's layer backs off from there.
const BACKOFF_MS: u64 = 200;
/// The compute units a second alloy's layer paces rate-limited retries by.
const COMPUTE_UNITS_PER_SECOND: u64 = 1_000;

/// The provider of a chain's RPC as custody and the API use it: all its endpoints, with the
/// default answer cap and retries.
pub fn provider_for(chain: &Chain, timeout: Duration) -> Result<RootProvider, ChainError> {
    Endpoints::of(chain, timeout).connect()
}

/// What a provider is built from: the endpoints of one chain, the preferred first, and how long
/// and how much it waits for each.
#[derive(Clone)]
pub struct Endpoints {
    urls: Vec<String>,
    timeout: Duration,
    max_answer: usize,
    retries: u32,
}

impl std::fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URLs may carry API keys: their labels only.
        f.debug_struct("Endpoints")
            .field("urls", &self.urls.iter().map(|u| redact_url(u)).collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .field("max_answer", &self.max_answer)
            .field("retries", &self.retries)
            .finish()
    }
}

impl Endpoints {
    /// `urls` with each call giving up on an endpoint after `timeout`.
    pub fn new(urls: &[&str], timeout: Duration) -> Self {
        Self {
            urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            timeout,
            max_answer: DEFAULT_MAX_ANSWER_BYTES,
            retries: DEFAULT_RETRIES,
        }
    }

    /// Every endpoint of `chain`, its preferred one first.
    pub fn of(chain: &Chain, timeout: Duration) -> Self {
        Self::new(&chain.rpc_endpoints(), timeout)
    }

    /// Answers larger than `bytes` are refused unread, as a failure of the endpoint that sent them.
    pub fn max_answer(mut self, bytes: usize) -> Self {
        self.max_answer = bytes;
        self
    }

    /// Rounds retried after every endpoint failed transiently; 0 hands the first failure back.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The provider; an error when there is no endpoint or one is not a URL.
    pub fn connect(&self) -> Result<RootProvider, ChainError> {
        let failover = Failover::new(&self.urls, self.timeout, self.max_answer)?;
        let is_local = failover.endpoints.iter().all(|e| e.local);
        let client = if self.retries == 0 {
            ClientBuilder::default().transport(failover, is_local)
        } else {
            let retry =
                RetryBackoffLayer::new_with_policy(self.retries, BACKOFF_MS, COMPUTE_UNITS_PER_SECOND, Transient);
            ClientBuilder::default().layer(retry).transport(failover, is_local)
        };
        Ok(RootProvider::new(client))
    }
}

/// An endpoint could not be reached or did not answer; the URL, which may carry an API key, is
/// replaced by its label.
#[derive(Debug, thiserror::Error)]
#[error("{endpoint}: {source}")]
pub struct Unreachable {
    endpoint: String,
    #[source]
    source: reqwest::Error,
}

struct Endpoint {
    label: String,
    local: bool,
    http: CappedHttp,
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
    fn new(urls: &[String], timeout: Duration, max_answer: usize) -> Result<Self, ChainError> {
        let bad = |url: &str| ChainError::BadUrl(url.to_owned());
        let first = urls.first().ok_or(ChainError::NoEndpoint)?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| bad(first))?;
        let endpoints = urls
            .iter()
            .map(|url| {
                let parsed: reqwest::Url = url.parse().map_err(|_| bad(url))?;
                let local = parsed.host_str().is_some_and(|h| h == "127.0.0.1" || h == "localhost");
                Ok(Endpoint {
                    label: redact_url(url),
                    local,
                    http: CappedHttp::new(client.clone(), parsed, max_answer),
                })
            })
            .collect::<Result<Vec<_>, ChainError>>()?;
        Ok(Self { endpoints: endpoints.into(), current: Arc::new(AtomicUsize::new(0)) })
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
                        warn!(target: "payscan::chain", endpoint = %endpoint.label, %error, "rpc endpoint failed; trying the next");
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

/// `error` with the reqwest error behind it named by the endpoint's label; HTTP status, rate-limit
/// and body errors quote no URL and keep their kind, so that the retry policy and the follower
/// still tell them apart.
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

/// Retries what alloy deems retryable, and failures to reach the node or to hear back from it
/// (including a rate limit), as opposed to the node's answer.
#[derive(Debug, Clone, Copy)]
struct Transient;

impl RetryPolicy for Transient {
    fn should_retry(&self, error: &TransportError) -> bool {
        RateLimitRetryPolicy::default().should_retry(error) || transient(error)
    }

    fn backoff_hint(&self, error: &TransportError) -> Option<Duration> {
        RateLimitRetryPolicy::default().backoff_hint(error)
    }
}

fn transient(error: &TransportError) -> bool {
    if matches!(HttpFailure::of(error), Some(HttpFailure::RateLimited { .. })) {
        return true;
    }
    let TransportError::Transport(TransportErrorKind::Custom(inner)) = error else { return false };
    inner
        .downcast_ref::<Unreachable>()
        .is_some_and(|u| u.source.is_connect() || u.source.is_timeout() || u.source.is_request())
}

#[cfg(test)]
mod tests {
    use alloy::providers::Provider;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// One scripted HTTP answer: status, extra header lines, and a JSON-RPC result (or, with
    /// `None`, a body of `pad` bytes that is no JSON at all).
    struct Answer {
        status: u16,
        headers: &'static str,
        result: Option<&'static str>,
        pad: usize,
    }

    fn ok(result: &'static str) -> Answer {
        Answer { status: 200, headers: "", result: Some(result), pad: 0 }
    }

    /// Reads one HTTP request: its JSON-RPC id.
    async fn read_request(stream: &mut tokio::net::TcpStream) -> serde_json::Value {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.expect("read");
            buffer.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buffer).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if buffer.len() >= end + 4 + length || n == 0 {
                    let body: serde_json::Value = serde_json::from_slice(&buffer[end + 4..]).expect("json request");
                    return body["id"].clone();
                }
            }
            assert!(n > 0, "the request ended early");
        }
    }

    /// A server on a free port giving `answers` in order, one per connection; the URL and a
    /// count of the requests it has read.
    async fn serve(answers: Vec<Answer>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/v2/server-secret", listener.local_addr().expect("address"));
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        tokio::spawn(async move {
            for answer in answers {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let id = read_request(&mut stream).await;
                count.fetch_add(1, Ordering::SeqCst);
                let body = match answer.result {
                    Some(result) => serde_json::json!({ "jsonrpc": "2.0", "id": id, "result": result }).to_string(),
                    None => "x".repeat(answer.pad),
                };
                let head = format!(
                    "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{}\r\n",
                    answer.status,
                    body.len(),
                    answer.headers
                );
                let _ = stream.write_all(format!("{head}{body}").as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        (url, served)
    }

    #[tokio::test]
    async fn a_call_fails_over_to_the_next_endpoint() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (url, served) = serve(vec![ok("0x10")]).await;
        let provider = Endpoints::new(&[&refused_url("/"), &url], Duration::from_secs(5)).connect().expect("provider");
        assert_eq!(provider.get_block_number().await.expect("the second endpoint answers"), 16);
        assert_eq!(served.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_rate_limited_round_is_retried_and_without_retries_comes_back_typed() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let limited = || Answer { status: 429, headers: "retry-after: 1\r\n", result: None, pad: 0 };
        let (url, served) = serve(vec![limited(), ok("0x2a")]).await;
        let provider = Endpoints::new(&[&url], Duration::from_secs(5)).connect().expect("provider");
        assert_eq!(provider.get_block_number().await.expect("the retry answers"), 42);
        assert_eq!(served.load(Ordering::SeqCst), 2, "asked again after the rate limit");

        let (url, _) = serve(vec![limited()]).await;
        let provider = Endpoints::new(&[&url], Duration::from_secs(5)).retries(0).connect().expect("provider");
        let error = provider.get_block_number().await.expect_err("rate limited");
        assert!(
            matches!(HttpFailure::of(&error), Some(HttpFailure::RateLimited { status: 429, retry_after: Some(_) })),
            "{error}"
        );
    }

    #[tokio::test]
    async fn an_answer_over_the_cap_is_refused_unread() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (url, _) = serve(vec![Answer { status: 200, headers: "", result: None, pad: 4096 }]).await;
        let provider =
            Endpoints::new(&[&url], Duration::from_secs(5)).max_answer(1024).retries(0).connect().expect("provider");
        let error = provider.get_block_number().await.expect_err("too large");
        assert!(matches!(HttpFailure::of(&error), Some(HttpFailure::TooLarge { limit: 1024 })), "{error}");
        assert!(!error.to_string().contains("server-secret"), "{error}");
    }

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
        let provider = Endpoints::new(&[&first, &second], Duration::from_secs(1)).connect().expect("provider");
        let error = provider.get_block_number().await.expect_err("nothing listens").to_string();
        assert!(!error.contains("secret"), "{error}");
        assert!(error.contains(&redact_url(&second)), "the endpoint tried last is named: {error}");
    }

    #[test]
    fn no_endpoint_or_a_bad_url_is_refused_and_shown_redacted() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        assert!(matches!(Endpoints::new(&[], Duration::from_secs(1)).connect(), Err(ChainError::NoEndpoint)));
        let bad = "https://u:KEYINUSERINFO@rpc.example:99999/v2/KEYINPATH";
        let error = Endpoints::new(&["http://127.0.0.1:8545", bad], Duration::from_secs(1))
            .connect()
            .expect_err("a port out of range is no URL")
            .to_string();
        assert!(!error.contains("KEYIN"), "{error}");
    }

    #[test]
    fn debug_of_endpoints_prints_no_url_key() {
        let endpoints = Endpoints::new(&["https://rpc.example/v2/KEYINPATH?apikey=KEYINQUERY"], Duration::from_secs(1));
        let printed = format!("{endpoints:?}");
        assert!(printed.contains("https://rpc.example/…"), "{printed}");
        assert!(!printed.contains("KEYIN"), "{printed}");
    }
}
