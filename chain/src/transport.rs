//! The HTTP transport under every provider payscan builds: alloy's reqwest transport reads any
//! answer in full and drops the status line's headers, so this one caps what it reads of an answer
//! and keeps what a rate limit says (`429`, or `503` with `Retry-After`) as a typed error that the
//! follower's endpoint pool and the retry policy act on.

use std::task;
use std::time::Duration;

use alloy::rpc::json_rpc::{RequestPacket, ResponsePacket};
use alloy::transports::{TransportError, TransportErrorKind, TransportFut};
use reqwest::header::RETRY_AFTER;
use reqwest::StatusCode;
use tower::Service;

/// Largest RPC answer read when no setting says otherwise: a 2,000-block `eth_getLogs` answer of a
/// busy token stays well below it.
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// Longest `Retry-After` honoured; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// What of a non-2xx answer is kept for the error message.
const ERROR_BODY_CHARS: usize = 256;

/// Failures this transport tells apart from the rest.
#[derive(Debug, thiserror::Error)]
pub enum HttpFailure {
    /// The endpoint asks to be left alone for a while: backpressure, not a refusal of the request.
    #[error("rate limited (HTTP {status})")]
    RateLimited { status: u16, retry_after: Option<Duration> },
    /// The answer was larger than the cap and was not read.
    #[error("answer larger than {limit} bytes")]
    TooLarge { limit: usize },
}

impl HttpFailure {
    /// The failure inside a transport error, if it is one of these.
    pub fn of(error: &TransportError) -> Option<&Self> {
        match error {
            TransportError::Transport(TransportErrorKind::Custom(inner)) => inner.downcast_ref::<Self>(),
            _ => None,
        }
    }
}

/// An HTTP JSON-RPC transport over reqwest with a cap on what it reads.
#[derive(Clone)]
pub struct CappedHttp {
    client: reqwest::Client,
    url: reqwest::Url,
    max_answer: usize,
}

impl std::fmt::Debug for CappedHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry an API key: its label only.
        f.debug_struct("CappedHttp")
            .field("url", &payscan_core::redact::RedactedUrl(self.url.as_str()))
            .field("max_answer", &self.max_answer)
            .finish_non_exhaustive()
    }
}

impl CappedHttp {
    pub fn new(client: reqwest::Client, url: reqwest::Url, max_answer: usize) -> Self {
        Self { client, url, max_answer: max_answer.max(1) }
    }

    async fn send(self, request: RequestPacket) -> Result<ResponsePacket, TransportError> {
        let mut response = self
            .client
            .post(self.url)
            .json(&request)
            .headers(request.headers())
            .send()
            .await
            // The URL may carry an API key: errors name the endpoint by its label elsewhere.
            .map_err(|e| TransportErrorKind::custom(e.without_url()))?;
        let status = response.status();
        let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(retry_after);
        if status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some())
        {
            return Err(TransportErrorKind::custom(HttpFailure::RateLimited { status: status.as_u16(), retry_after }));
        }
        let too_large = || TransportErrorKind::custom(HttpFailure::TooLarge { limit: self.max_answer });
        if response.content_length().is_some_and(|n| n > self.max_answer as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| TransportErrorKind::custom(e.without_url()))? {
            if body.len() + chunk.len() > self.max_answer {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let text: String = String::from_utf8_lossy(&body).chars().take(ERROR_BODY_CHARS).collect();
            return Err(TransportErrorKind::http_error(status.as_u16(), text));
        }
        serde_json::from_slice(&body).map_err(|e| {
            let text: String = String::from_utf8_lossy(&body).chars().take(ERROR_BODY_CHARS).collect();
            TransportError::deser_err(e, text)
        })
    }
}

/// `Retry-After` as delta-seconds (what RPC providers send), bounded.
fn retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER))
}

impl Service<RequestPacket> for CappedHttp {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_bounded_seconds() {
        assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(retry_after("86400"), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn debug_of_a_transport_prints_no_url_key() {
        let url =
            reqwest::Url::parse("https://u:KEYINUSERINFO@rpc.example/v2/KEYINPATH?apikey=KEYINQUERY").expect("url");
        let _ = rustls::crypto::ring::default_provider().install_default();
        let transport = CappedHttp::new(reqwest::Client::new(), url, 1024);
        for printed in [format!("{transport:?}"), format!("{transport:#?}")] {
            assert!(printed.contains("https://rpc.example/…"), "{printed}");
            for key in ["KEYINUSERINFO", "KEYINPATH", "KEYINQUERY"] {
                assert!(!printed.contains(key), "`{key}` printed: {printed}");
            }
        }
    }
}
