//! Oracle quotes: a USD price turned into a settlement amount in the token, from a Chainlink-style
//! feed, refused when the feed is stale or the token is too far off its peg. Integer math only:
//! amounts and prices stay scaled integers from the feed's answer to the token's base units.

use std::time::Duration;

use alloy::primitives::{Address, U256};

use crate::BaseUnits;

/// USD amounts are parsed at this scale (like a token with 18 decimals).
pub const USD_DECIMALS: u8 = 18;

/// Quote settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuoteSettings {
    pub enabled: bool,
    /// A feed answer older than this is stale.
    pub max_age: Duration,
    /// Beyond this distance from $1, in basis points, no quote is given.
    pub hard_cap_bps: u32,
    /// Added on top of the exact amount, in basis points (a margin for the price moving).
    pub rounding_bps: u32,
    /// How long a quote holds.
    pub ttl: Duration,
}

/// One `latestRoundData` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedRound {
    pub feed: Address,
    pub round_id: U256,
    /// The answer as a signed integer scaled by `decimals`; kept as read (it may be negative).
    pub answer: i128,
    pub decimals: u8,
    /// Unix seconds.
    pub updated_at: u64,
}

/// A computed quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub usd_amount: BaseUnits,
    pub round: FeedRound,
    /// What the buyer sends, in the token's base units.
    pub settle: BaseUnits,
    /// How much more (positive) or less of the token the depeg asks for, in basis points.
    pub depeg_adjustment_bps: i64,
    pub rounding_bps: u32,
    /// Unix ms.
    pub expires_at: i64,
}

impl Quote {
    /// The token's USD price as decimal text.
    pub fn price_text(&self) -> String {
        BaseUnits(U256::from(self.round.answer.unsigned_abs())).to_token_units(self.round.decimals)
    }
}

/// Why no quote was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    #[error("{0}")]
    Unavailable(String),
    #[error("the token is {deviation_bps} bps off its peg, beyond the {cap_bps} bps hard cap")]
    DepegLimitExceeded { deviation_bps: u64, cap_bps: u32 },
    /// The settlement amount would be above [`crate::money::MAX_AMOUNT`].
    #[error("the settlement amount is above the largest payscan accepts, 10^30 base units")]
    TooLarge,
}

fn pow10(n: u8) -> Option<U256> {
    U256::from(10u8).checked_pow(U256::from(n))
}

/// The settlement amount of `usd_amount` (scaled by [`USD_DECIMALS`]) in a token of
/// `token_decimals`, at `round`'s price, rounded up.
pub fn compute(
    usd_amount: BaseUnits,
    token_decimals: u8,
    round: FeedRound,
    settings: &QuoteSettings,
    now_ms: i64,
) -> Result<Quote, QuoteError> {
    if round.answer <= 0 {
        return Err(QuoteError::Unavailable(format!("the feed {} answers a price of {}", round.feed, round.answer)));
    }
    let now_secs = u64::try_from(now_ms / 1000).unwrap_or(0);
    let age = now_secs.saturating_sub(round.updated_at);
    if round.updated_at == 0 || age > settings.max_age.as_secs() {
        return Err(QuoteError::Unavailable(format!(
            "the feed {} was last updated {age} s ago (older than {} s)",
            round.feed,
            settings.max_age.as_secs()
        )));
    }
    let answer = U256::from(round.answer.unsigned_abs());
    let broken =
        || QuoteError::Unavailable(format!("the feed {} answers with {} decimals", round.feed, round.decimals));
    let one = pow10(round.decimals).ok_or_else(broken)?;
    let distance = if answer > one { answer - one } else { one - answer };
    let deviation_bps =
        distance.checked_mul(U256::from(10_000u32)).map_or(u64::MAX, |d| u64::try_from(d / one).unwrap_or(u64::MAX));
    if deviation_bps > u64::from(settings.hard_cap_bps) {
        return Err(QuoteError::DepegLimitExceeded { deviation_bps, cap_bps: settings.hard_cap_bps });
    }
    let signed = i64::try_from(deviation_bps).unwrap_or(i64::MAX);
    let depeg_adjustment_bps = if answer < one { signed } else { -signed };
    // settle = usd / price × (1 + rounding), in base units, rounded up:
    //   usd_amount × 10^feed × 10^token × (10000 + rounding) / (answer × 10^18 × 10000)
    let numerator = pow10(token_decimals)
        .and_then(|scale| usd_amount.0.checked_mul(one)?.checked_mul(scale))
        .and_then(|n| n.checked_mul(U256::from(10_000u32) + U256::from(settings.rounding_bps)))
        .ok_or(QuoteError::TooLarge)?;
    let denominator = pow10(USD_DECIMALS)
        .and_then(|scale| answer.checked_mul(scale)?.checked_mul(U256::from(10_000u32)))
        .ok_or_else(broken)?;
    let settle = BaseUnits(numerator.div_ceil(denominator)).check_bound().map_err(|_| QuoteError::TooLarge)?;
    let ttl = i64::try_from(settings.ttl.as_millis()).unwrap_or(i64::MAX / 4);
    Ok(Quote {
        usd_amount,
        round,
        settle,
        depeg_adjustment_bps,
        rounding_bps: settings.rounding_bps,
        expires_at: now_ms.saturating_add(ttl),
    })
}

#[cfg(test)]
mod tests {
    use alloy::primitives::U512;
    use proptest::prelude::*;

    use super::*;

    const NOW_MS: i64 = 1_800_000_000_000;

    fn settings() -> QuoteSettings {
        QuoteSettings {
            enabled: true,
            max_age: Duration::from_secs(3600),
            hard_cap_bps: 200,
            rounding_bps: 0,
            ttl: Duration::from_secs(900),
        }
    }

    fn round(answer: i128, age_secs: u64) -> FeedRound {
        FeedRound {
            feed: Address::ZERO,
            round_id: U256::from(1u8),
            answer,
            decimals: 8,
            updated_at: (NOW_MS / 1000) as u64 - age_secs,
        }
    }

    fn usd(text: &str) -> BaseUnits {
        BaseUnits::parse_token_units(text, USD_DECIMALS).unwrap_or(BaseUnits::ZERO)
    }

    proptest! {
        #![proptest_config(crate::money::tests::cases())]

        /// A quote is the exact settlement amount rounded up to the base unit, for any amount,
        /// token and feed precision, price, margin and clock; where that amount does not fit, the
        /// quote is refused, never wrapped.
        #[test]
        fn quote_arithmetic_is_exact_or_refused(
            usd in prop_oneof![1u128..1_000_000_000_000_000_000_000u128, any::<u128>()],
            usd_scale in 0u8..40,
            token_decimals in 0u8..=36,
            feed_decimals in 0u8..=36,
            off_bps in 0u64..=400,
            above in any::<bool>(),
            rounding_bps in prop_oneof![0u32..=10_000, any::<u32>(), (u32::MAX - 10_000)..=u32::MAX],
            now_ms in prop_oneof![Just(NOW_MS), any::<i64>()],
            ttl_secs in prop_oneof![Just(900u64), any::<u64>()],
        ) {
            let usd_amount = BaseUnits(U256::from(usd).saturating_mul(U256::from(10u8).pow(U256::from(usd_scale))));
            let one = U512::from(10u8).pow(U512::from(feed_decimals));
            let off = one * U512::from(off_bps) / U512::from(10_000u32);
            let answer = if above { one + off } else { one - off };
            prop_assume!(!answer.is_zero() && answer <= U512::from(i128::MAX as u128));
            let answer_i128 = i128::try_from(u128::try_from(answer).unwrap_or(0)).unwrap_or(0);
            let round = FeedRound {
                feed: Address::ZERO,
                round_id: U256::from(1u8),
                answer: answer_i128,
                decimals: feed_decimals,
                updated_at: u64::try_from(now_ms / 1000).unwrap_or(0).max(1),
            };
            let settings = QuoteSettings {
                hard_cap_bps: 10_000,
                rounding_bps,
                max_age: Duration::from_secs(u64::MAX / 2),
                ttl: Duration::from_secs(ttl_secs),
                ..settings()
            };
            let quote = compute(usd_amount, token_decimals, round, &settings, now_ms);
            // The exact amount, in U512 where nothing here can wrap.
            let pow = |n: u8| U512::from(10u8).pow(U512::from(n));
            let numerator = U512::from(usd_amount.0) * one * pow(token_decimals) * (U512::from(10_000u32) + U512::from(rounding_bps));
            let denominator = U512::from(answer) * pow(USD_DECIMALS) * U512::from(10_000u32);
            let exact = numerator.div_ceil(denominator);
            let fits = numerator <= U512::from(U256::MAX) && exact <= U512::from(crate::money::MAX_AMOUNT.0);
            match quote {
                Ok(quote) => {
                    prop_assert!(fits);
                    prop_assert_eq!(U512::from(quote.settle.0), exact);
                    prop_assert!(quote.expires_at >= now_ms);
                }
                Err(QuoteError::TooLarge) => prop_assert!(!fits),
                Err(other) => prop_assert!(false, "{:?}", other),
            }
        }
    }

    #[test]
    fn at_the_peg_the_amount_is_exact() {
        let quote = compute(usd("10"), 6, round(100_000_000, 60), &settings(), NOW_MS);
        assert_eq!(quote.as_ref().map(|q| q.settle.to_string()), Ok("10000000".to_owned()));
        assert_eq!(quote.as_ref().map(|q| q.depeg_adjustment_bps), Ok(0));
        assert_eq!(quote.map(|q| q.price_text()), Ok("1".to_owned()));
    }

    #[test]
    fn below_the_peg_the_buyer_sends_more_rounded_up() {
        // 10 / 0.99 = 10.10101010…; 6 decimals round up to 10.101011.
        let quote = compute(usd("10"), 6, round(99_000_000, 60), &settings(), NOW_MS);
        assert_eq!(quote.as_ref().map(|q| q.settle.to_string()), Ok("10101011".to_owned()));
        assert_eq!(quote.as_ref().map(|q| q.depeg_adjustment_bps), Ok(100));
        // Above the peg, less; 18 decimals.
        let above = compute(usd("1"), 18, round(101_000_000, 60), &settings(), NOW_MS);
        assert_eq!(above.as_ref().map(|q| q.settle.to_string()), Ok("990099009900990100".to_owned()));
        assert_eq!(above.map(|q| q.depeg_adjustment_bps), Ok(-100));
    }

    #[test]
    fn rounding_adds_its_margin() {
        let margin = QuoteSettings { rounding_bps: 50, ..settings() };
        let quote = compute(usd("10"), 6, round(100_000_000, 60), &margin, NOW_MS);
        assert_eq!(quote.map(|q| q.settle.to_string()), Ok("10050000".to_owned()));
    }

    #[test]
    fn stale_broken_and_depegged_feeds_give_no_quote() {
        assert!(matches!(
            compute(usd("10"), 6, round(100_000_000, 7200), &settings(), NOW_MS),
            Err(QuoteError::Unavailable(_))
        ));
        assert!(matches!(compute(usd("10"), 6, round(0, 60), &settings(), NOW_MS), Err(QuoteError::Unavailable(_))));
        assert!(matches!(compute(usd("10"), 6, round(-5, 60), &settings(), NOW_MS), Err(QuoteError::Unavailable(_))));
        assert_eq!(
            compute(usd("10"), 6, round(97_000_000, 60), &settings(), NOW_MS),
            Err(QuoteError::DepegLimitExceeded { deviation_bps: 300, cap_bps: 200 })
        );
        // Nothing wraps: a feed of absurd decimals or an amount past the bound gives no quote.
        let odd = FeedRound { decimals: 200, ..round(100_000_000, 60) };
        assert!(matches!(compute(usd("10"), 6, odd, &settings(), NOW_MS), Err(QuoteError::Unavailable(_))));
        let huge = BaseUnits(U256::MAX / U256::from(2u8));
        assert_eq!(compute(huge, 6, round(100_000_000, 60), &settings(), NOW_MS), Err(QuoteError::TooLarge));
        let just_over =
            BaseUnits(crate::money::MAX_AMOUNT.0 * U256::from(10u8).pow(U256::from(12u8)) + U256::from(1u8));
        assert_eq!(compute(just_over, 6, round(100_000_000, 60), &settings(), NOW_MS), Err(QuoteError::TooLarge));
        // At the cap itself a quote is still given.
        assert!(compute(usd("10"), 6, round(98_000_000, 60), &settings(), NOW_MS).is_ok());
    }
}
