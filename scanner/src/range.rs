//! The eth_getLogs block range: halved when a provider refuses a range as too large, grown again
//! while answers stay small.

use alloy::transports::TransportError;

use crate::transport::HttpFailure;

/// Adaptive block-range size.
#[derive(Debug, Clone)]
pub struct RangeSizer {
    current: u64,
    max: u64,
    /// Quiet answers still to see before growing again after a refusal, so that the range does
    /// not grow straight back into the next refusal.
    cooldown: u32,
}

/// Logs per answer below which the range grows.
const QUIET_LOGS: usize = 1_000;
/// Quiet answers after a refusal before the range grows again.
const COOLDOWN: u32 = 16;

impl RangeSizer {
    pub fn new(max: u64) -> Self {
        Self { current: max.clamp(1, 100), max: max.max(1), cooldown: 0 }
    }

    pub fn get(&self) -> u64 {
        self.current
    }

    /// After a "too many results" refusal. False when already at one block.
    pub fn shrink(&mut self) -> bool {
        if self.current == 1 {
            return false;
        }
        self.current = (self.current / 2).max(1);
        self.cooldown = COOLDOWN;
        true
    }

    /// After a successful answer with `logs` logs.
    pub fn observe(&mut self, logs: usize) {
        if logs >= QUIET_LOGS {
            return;
        }
        if self.cooldown > 0 {
            self.cooldown -= 1;
        } else {
            self.current = (self.current * 2).min(self.max);
        }
    }
}

/// Whether an RPC error is a refusal of the range or result set as too large. A rate limit (429,
/// or 503 with `Retry-After`, however worded) is backpressure on the endpoint, never this.
pub fn is_range_too_large(error: &TransportError) -> bool {
    if HttpFailure::of(error).is_some() {
        return false;
    }
    if let Some(http) = error.as_transport_err().and_then(|kind| kind.as_http_error()) {
        if http.status == 429 || http.status == 503 {
            return false;
        }
    }
    refuses_range(&error.to_string())
}

/// Whether an RPC error message means the range or result set was too large. Providers word it
/// differently (geth, erigon, Infura, Alchemy, QuickNode, Ankr, BSC nodes); rate limits ("limit
/// exceeded", "too many requests") are worded alike and are told apart.
pub fn refuses_range(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    if ["rate limit", "too many requests", "request rate", "entity too large", "payload too large"]
        .iter()
        .any(|needle| m.contains(needle))
    {
        return false;
    }
    [
        "query returned more than",
        "more than 10000 results",
        "too many results",
        "response size exceeded",
        "response size should not",
        "log response size exceeded",
        "block range is too wide",
        "block range too large",
        "exceed maximum block range",
        "exceeds max block range",
        "range too large",
        "range is too large",
        "too large",
        "query timeout exceeded",
        "is limited to",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinks_and_grows_within_bounds() {
        let mut range = RangeSizer::new(2000);
        assert_eq!(range.get(), 100);
        range.observe(5);
        assert_eq!(range.get(), 200);
        for _ in 0..10 {
            range.observe(0);
        }
        assert_eq!(range.get(), 2000);
        range.observe(50_000);
        assert_eq!(range.get(), 2000);
        assert!(range.shrink());
        assert_eq!(range.get(), 1000);
        // After a refusal the range holds for a while before growing again.
        for _ in 0..COOLDOWN {
            range.observe(0);
            assert_eq!(range.get(), 1000);
        }
        range.observe(0);
        assert_eq!(range.get(), 2000);
        while range.shrink() {}
        assert_eq!(range.get(), 1);
    }

    #[test]
    fn recognises_providers_wordings() {
        for message in [
            "query returned more than 10000 results",
            "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range",
            "exceed maximum block range: 5000",
            "eth_getLogs is limited to a 10,000 range",
            "block range is too wide",
            "Query timeout exceeded. Consider reducing your block range",
        ] {
            assert!(refuses_range(message), "{message}");
        }
        assert!(!refuses_range("execution reverted"));
        assert!(!refuses_range("header not found"));
        for rate_limit in [
            "HTTP error 429 with body: rate limit exceeded",
            "limit exceeded",
            "project ID request rate exceeded",
            "Too Many Requests",
            "413 Request Entity Too Large",
        ] {
            assert!(!refuses_range(rate_limit), "{rate_limit}");
        }
    }
}
