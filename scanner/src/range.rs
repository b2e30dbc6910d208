//! The eth_getLogs block range: halved when a provider refuses a range as too large, grown again
//! while answers stay small.

use alloy::transports::TransportError;
use payscan_chain::transport::HttpFailure;

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

    /// The last block of the range to ask for next from `from` toward `to`: at most [`get`]
    /// blocks, never past `to`, never wrapping however high the block numbers.
    ///
    /// [`get`]: RangeSizer::get
    pub fn end(&self, from: u64, to: u64) -> u64 {
        from.saturating_add(self.current - 1).min(to)
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
/// differently; rate limits ("limit exceeded", "too many requests") are worded alike and are told
/// apart. The wordings, as each answers:
/// - geth (`--rpc.rangelimit`) and BSC: `exceed maximum block range: 5000`
/// - Infura: `query returned more than 10000 results. Try with this block range [0x800000,
///   0x800054].` (-32005) and, for wide ranges, `range 1000000 exceeds limit of 10000` (-32602)
/// - Alchemy: `Log response size exceeded. You can make eth_getLogs requests with up to a 2K block
///   range…` and, on the free tier, `Under the Free tier plan, you can make eth_getLogs requests
///   with up to a 10 block range`
/// - QuickNode: `eth_getLogs is limited to a 10,000 range` (-32614) and `eth_getLogs and
///   eth_newFilter are limited to a 10,000 blocks range`
/// - Ankr: `block range is too wide` (-32600)
/// - Cloudflare: `'fromBlock'-'toBlock' range too large. Max range: 800` (-32047)
/// - reth: `query exceeds max block range 5000`, `query exceeds max results 20000, retry with the
///   range 23879634-23879696`; Frontier (Moonbeam): `block range is too wide (maximum 1024)`;
///   thirdweb: `range 20000 is bigger than range limit 2000`; dRPC: `ranges over 10000 blocks are
///   not supported on freetier`; BlockPI: `eth_getLogs is limited to 1024 block range`
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
        "exceeds max results",
        "exceeds limit of",
        "range limit",
        "ranges over",
        "requests with up to a",
        "range too large",
        "range is too large",
        "too large",
        "query timeout exceeded",
        "is limited to",
        "are limited to",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

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

    /// Each provider's refusal of a range, as it answers (see [`refuses_range`]).
    const REFUSALS: &[&str] = &[
        // geth, BSC
        "exceed maximum block range: 5000",
        // Infura
        "query returned more than 10000 results. Try with this block range [0x800000, 0x800054].",
        "range 1000000 exceeds limit of 10000",
        // Alchemy
        "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on \
         the response size, or you can request any block range with a cap of 10K logs in the response. Based on \
         your parameters and the response size limit, this block range should work: [0x800000, 0x80001f]",
        "Under the Free tier plan, you can make eth_getLogs requests with up to a 10 block range",
        // QuickNode
        "eth_getLogs is limited to a 10,000 range",
        "eth_getLogs and eth_newFilter are limited to a 10,000 blocks range",
        // Ankr
        "block range is too wide",
        // Cloudflare
        "'fromBlock'-'toBlock' range too large. Max range: 800",
        // reth, Frontier, thirdweb, dRPC, BlockPI
        "query exceeds max block range 5000",
        "query exceeds max results 20000, retry with the range 23879634-23879696",
        "block range is too wide (maximum 1024)",
        "range 20000 is bigger than range limit 2000",
        "ranges over 10000 blocks are not supported on freetier",
        "eth_getLogs is limited to 1024 block range",
    ];

    /// Rate limits, as the same providers word them.
    const RATE_LIMITS: &[&str] = &[
        "HTTP error 429 with body: rate limit exceeded",
        "limit exceeded",
        "project ID request rate exceeded",
        "daily request count exceeded, request rate limited",
        "Too Many Requests",
        "Your app has exceeded its compute units per second capacity. If you have retries enabled, you can safely \
         ignore this message.",
        "15/second request limit reached - reduce calls per second or upgrade your account at quicknode.com",
        "413 Request Entity Too Large",
        "HTTP error 429 with body: error code: 1015",
    ];

    #[test]
    fn recognises_every_providers_refusal_and_no_rate_limit() {
        for message in REFUSALS {
            assert!(refuses_range(message), "{message}");
        }
        for message in RATE_LIMITS {
            assert!(!refuses_range(message), "{message}");
        }
    }

    /// 1,000 cases, or `PROPTEST_CASES`.
    fn cases() -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000);
        ProptestConfig::with_cases(cases)
    }

    proptest! {
        #![proptest_config(cases())]

        /// However a client wraps a refusal (alloy prefixes the code, a proxy the endpoint), and
        /// whatever its case, it is still a refusal; a rate limit stays one.
        #[test]
        fn a_wrapped_refusal_is_still_one(
            refusal in 0..REFUSALS.len(),
            limit in 0..RATE_LIMITS.len(),
            prefix in "[a-z0-9 :.-]{0,40}",
            suffix in "[a-z0-9 :.,\\]\\[]{0,40}",
            upper in any::<bool>(),
        ) {
            let case = |s: String| if upper { s.to_ascii_uppercase() } else { s };
            let wrapped = case(format!("{prefix}server returned an error response: error code -32602: {}{suffix}", REFUSALS[refusal]));
            prop_assert!(refuses_range(&wrapped), "{}", wrapped);
            let limited = case(format!("{prefix}{}", RATE_LIMITS[limit]));
            prop_assert!(!refuses_range(&limited), "{}", limited);
        }

        /// The ranges a follower reads from a start block up to a head tile that span exactly: no
        /// block skipped, none read twice, whatever the range sizes, the provider's refusals, the
        /// answers' sizes and a node that ends a range early.
        #[test]
        fn the_ranges_read_tile_the_span_exactly(
            start in prop_oneof![0u64..1_000, (u64::MAX - 100_000)..=u64::MAX],
            length in 0u64..20_000,
            max in 1u64..5_000,
            refusals in proptest::collection::vec(any::<bool>(), 0..64),
            limit in 1u64..6_000,
            logs in proptest::collection::vec(0usize..3_000, 1..16),
            cut in proptest::collection::vec(0u64..100, 1..16),
        ) {
            let head = start.saturating_add(length);
            let mut sizer = RangeSizer::new(max);
            let mut read: Vec<(u64, u64)> = Vec::new();
            let mut next = Some(start);
            let mut refusal = refusals.iter().copied();
            let mut asks = 0usize;
            while let Some(from) = next {
                asks += 1;
                prop_assert!(asks < 1_000_000, "no progress");
                // One tick: ask, halving on each refusal, as the follower does.
                let mut to = sizer.end(from, head);
                let answered = loop {
                    let refused = refusal.next().unwrap_or(false) || to - from + 1 > limit;
                    if !refused {
                        break true;
                    }
                    if !sizer.shrink() {
                        break false;
                    }
                    to = sizer.end(from, to);
                };
                if !answered {
                    // Refused at one block: this tick fails and the next asks again.
                    prop_assert_eq!(sizer.get(), 1);
                    continue;
                }
                // A node whose headers end early ends the range there.
                let to = to - (cut[asks % cut.len()] % (to - from + 1)).min(to - from);
                prop_assert!(from <= to && to <= head);
                prop_assert!(to - from < sizer.get(), "{}..={} is wider than {}", from, to, sizer.get());
                read.push((from, to));
                sizer.observe(logs[asks % logs.len()]);
                next = to.checked_add(1).filter(|n| *n <= head);
            }
            prop_assert_eq!(read.first().map(|r| r.0), Some(start));
            prop_assert_eq!(read.last().map(|r| r.1), Some(head));
            for pair in read.windows(2) {
                prop_assert_eq!(pair[0].1.checked_add(1), Some(pair[1].0), "a gap or an overlap: {:?}", pair);
            }
            let blocks: u128 = read.iter().map(|(from, to)| u128::from(to - from) + 1).sum();
            prop_assert_eq!(blocks, u128::from(head - start) + 1);
        }
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
