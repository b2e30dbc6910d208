//! Token amounts. On the money path they are integers in base units (U256); JSON carries them as
//! decimal strings. Nothing here goes through a float.

use std::fmt;
use std::str::FromStr;

use alloy::primitives::U256;
use serde::{Deserialize, Serialize};

/// An amount in a token's base units (e.g. 1 USDC with 6 decimals is 1_000_000).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BaseUnits(pub U256);

/// Why an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount must be a decimal number such as \"12.5\"")]
    Malformed,
    #[error("amount has more than the token's {decimals} decimals")]
    TooPrecise { decimals: u8 },
    #[error("amount must be greater than zero")]
    Zero,
    #[error("amount is too large")]
    Overflow,
    /// Above [`MAX_AMOUNT`]: no real payment is that large, and sums of such amounts could wrap.
    #[error("amount is above the largest payscan accepts, 10^30 base units")]
    AboveMaximum,
}

/// The largest amount payscan takes, in base units: 10^12 tokens of 18 decimals, far above any
/// real payment, and so far below U256's range that no sum payscan keeps can overflow.
pub const MAX_AMOUNT: BaseUnits = BaseUnits(U256::from_limbs([0x4674_edea_4000_0000, 0x0c_9f2c_9cd0, 0, 0]));

impl BaseUnits {
    pub const ZERO: Self = Self(U256::ZERO);

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    pub fn saturating_sub(self, other: Self) -> Self {
        Self(self.0.saturating_sub(other.0))
    }

    /// The sum of `amounts` (a payment's partial transfers), or `None` where it would wrap.
    pub fn checked_sum(amounts: impl IntoIterator<Item = Self>) -> Option<Self> {
        amounts.into_iter().try_fold(Self::ZERO, Self::checked_add)
    }

    /// Parses a positive amount written in token units (`"12.5"`, `12.5`, `1e3`) exactly into base
    /// units. The text is read digit by digit: a JSON number is never a float here.
    pub fn parse_token_units(text: &str, decimals: u8) -> Result<Self, AmountError> {
        let text = text.trim();
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(at) => {
                let exp: i64 = text[at + 1..].parse().map_err(|_| AmountError::Malformed)?;
                (&text[..at], exp)
            }
            None => (text, 0),
        };
        let mantissa = mantissa.strip_prefix('+').unwrap_or(mantissa);
        let (int_part, frac_part) = match mantissa.split_once('.') {
            Some((i, f)) => (i, f),
            None => (mantissa, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int_part.is_empty() && frac_part.is_empty()) || !all_digits(int_part) || !all_digits(frac_part) {
            return Err(AmountError::Malformed);
        }
        if exponent > 1000 {
            return Err(AmountError::Overflow);
        }
        if exponent < -1000 {
            return Err(AmountError::TooPrecise { decimals });
        }
        // value = digits × 10^scale; a negative scale may only drop trailing zeros.
        let all = format!("{int_part}{frac_part}");
        let mut digits = all.trim_start_matches('0');
        if digits.is_empty() {
            return Err(AmountError::Zero);
        }
        let mut scale = exponent - frac_part.len() as i64 + i64::from(decimals);
        while scale < 0 {
            digits = digits.strip_suffix('0').ok_or(AmountError::TooPrecise { decimals })?;
            scale += 1;
        }
        let base = U256::from_str(digits).map_err(|_| AmountError::Overflow)?;
        let factor = U256::from(10u8).checked_pow(U256::from(scale as u64)).ok_or(AmountError::Overflow)?;
        base.checked_mul(factor).map(Self).ok_or(AmountError::Overflow)
    }

    /// [`Self::parse_token_units`] for an amount of money: also at most [`MAX_AMOUNT`].
    pub fn parse_amount(text: &str, decimals: u8) -> Result<Self, AmountError> {
        let amount = Self::parse_token_units(text, decimals)?;
        amount.check_bound()
    }

    /// The amount itself if it is at most [`MAX_AMOUNT`].
    pub fn check_bound(self) -> Result<Self, AmountError> {
        if self > MAX_AMOUNT {
            Err(AmountError::AboveMaximum)
        } else {
            Ok(self)
        }
    }

    /// The amount in token units, without trailing zeros (`12500000` with 6 decimals is `"12.5"`).
    pub fn to_token_units(&self, decimals: u8) -> String {
        let digits = self.0.to_string();
        let decimals = decimals as usize;
        if decimals == 0 {
            return digits;
        }
        let padded = format!("{digits:0>width$}", width = decimals + 1);
        let (int_part, frac_part) = padded.split_at(padded.len() - decimals);
        let frac_part = frac_part.trim_end_matches('0');
        if frac_part.is_empty() {
            int_part.to_owned()
        } else {
            format!("{int_part}.{frac_part}")
        }
    }
}

impl fmt::Display for BaseUnits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for BaseUnits {
    type Err = AmountError;

    /// Parses a base-unit integer as stored (`"12500000"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AmountError::Malformed);
        }
        U256::from_str_radix(s, 10).map(Self).map_err(|_| AmountError::Overflow)
    }
}

/// Base units are a decimal string in JSON.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for BaseUnits {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[0-9]+$"))
            .description(Some("An integer amount in token base units, as a decimal string."))
            .examples(["7000000"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for BaseUnits {}

impl Serialize for BaseUnits {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BaseUnits {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use alloy::primitives::U512;
    use proptest::prelude::*;

    use super::*;

    fn parse(s: &str, d: u8) -> Result<String, AmountError> {
        BaseUnits::parse_token_units(s, d).map(|a| a.to_string())
    }

    #[test]
    fn parses_token_units_exactly() {
        assert_eq!(parse("12.5", 6).as_deref(), Ok("12500000"));
        assert_eq!(parse("0.000001", 6).as_deref(), Ok("1"));
        assert_eq!(parse("1", 18).as_deref(), Ok("1000000000000000000"));
        assert_eq!(parse("100.10", 2).as_deref(), Ok("10010"));
        assert_eq!(parse("1.5e2", 6).as_deref(), Ok("150000000"));
        assert_eq!(parse("15E-1", 1).as_deref(), Ok("15"));
        assert_eq!(parse(".5", 1).as_deref(), Ok("5"));
        assert_eq!(parse("5.", 1).as_deref(), Ok("50"));
        // 0.1 + 0.2 style float artefacts cannot happen: the digits are the digits.
        assert_eq!(parse("0.30000000000000004", 18).as_deref(), Ok("300000000000000040"));
    }

    #[test]
    fn refuses_what_is_not_an_amount() {
        assert_eq!(parse("1.0000001", 6), Err(AmountError::TooPrecise { decimals: 6 }));
        assert_eq!(parse("0", 6), Err(AmountError::Zero));
        assert_eq!(parse("0.000", 6), Err(AmountError::Zero));
        for bad in ["", ".", "-1", "1,5", "0x10", "1.2.3", "NaN", "inf", "1e", " e5", "١"] {
            assert_eq!(parse(bad, 6), Err(AmountError::Malformed), "{bad:?}");
        }
        assert_eq!(parse("1e9999", 6), Err(AmountError::Overflow));
        assert_eq!(parse("1e80", 18), Err(AmountError::Overflow));
    }

    #[test]
    fn amounts_are_bounded() {
        assert_eq!(MAX_AMOUNT.to_string(), format!("1{}", "0".repeat(30)));
        assert_eq!(BaseUnits::parse_amount("1000000000000", 18), Ok(MAX_AMOUNT));
        assert_eq!(BaseUnits::parse_amount("1000000000000.000000000000000001", 18), Err(AmountError::AboveMaximum));
        assert_eq!(BaseUnits::parse_amount("1e70", 6), Err(AmountError::AboveMaximum));
        assert_eq!(BaseUnits::parse_amount("12.5", 6).map(|a| a.to_string()).as_deref(), Ok("12500000"));
    }

    /// 1,000 cases, or `PROPTEST_CASES` (the README's 100,000-case run).
    pub(crate) fn cases() -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000);
        ProptestConfig::with_cases(cases)
    }

    /// Any U256, weighted toward the edges: small, around 10^k and near the top.
    fn amount() -> impl Strategy<Value = U256> {
        prop_oneof![
            (1u64..1_000).prop_map(U256::from),
            any::<[u64; 4]>().prop_map(U256::from_limbs),
            (0u8..78, 0u64..3)
                .prop_map(|(k, d)| U256::from(10u8).saturating_pow(U256::from(k)).saturating_sub(U256::from(d))),
            (0u64..3).prop_map(|d| U256::MAX - U256::from(d)),
        ]
    }

    proptest! {
        #![proptest_config(cases())]

        /// Base units written as token units and read back are the same base units, for every
        /// precision a token may have, whether written plainly, with trailing zeros or with an
        /// exponent.
        #[test]
        fn token_units_round_trip(value in amount(), decimals in 0u8..=36, zeros in 0usize..4, shift in 0i64..4) {
            prop_assume!(!value.is_zero());
            let amount = BaseUnits(value);
            let text = amount.to_token_units(decimals);
            prop_assert_eq!(BaseUnits::parse_token_units(&text, decimals), Ok(amount), "{}", text);
            let padded = if text.contains('.') { format!("{text}{}", "0".repeat(zeros)) } else { text.clone() };
            prop_assert_eq!(BaseUnits::parse_token_units(&padded, decimals), Ok(amount), "{}", padded);
            // The same number with its point moved `shift` places left and an exponent to match.
            let (int_part, frac_part) = padded.split_once('.').unwrap_or((&padded, ""));
            let digits = format!("{int_part}{frac_part}");
            let point = int_part.len() as i64 - shift;
            if point > 0 {
                let at = point as usize;
                let exponent = format!("{}.{}e{shift}", &digits[..at], &digits[at..]);
                prop_assert_eq!(BaseUnits::parse_token_units(&exponent, decimals), Ok(amount), "{}", exponent);
            }
        }

        /// Text of integer and fraction digits parses to exactly int × 10^d + frac, or is refused
        /// as too precise or too large; it never rounds and never wraps.
        #[test]
        fn parsing_is_exact_or_refused(int_part in "[0-9]{0,40}", frac_part in "[0-9]{0,40}", decimals in 0u8..=36) {
            prop_assume!(!int_part.is_empty() || !frac_part.is_empty());
            let text = format!("{int_part}.{frac_part}");
            let parsed = BaseUnits::parse_token_units(&text, decimals);
            let significant = frac_part.trim_end_matches('0');
            let digits = format!("{int_part}{significant}");
            let exact = U512::from_str_radix(if digits.is_empty() { "0" } else { &digits }, 10)
                .ok()
                .and_then(|n| n.checked_mul(U512::from(10u8).pow(U512::from(usize::from(decimals).saturating_sub(significant.len())))));
            match parsed {
                Ok(amount) => {
                    prop_assert!(significant.len() <= usize::from(decimals));
                    prop_assert_eq!(Some(U512::from(amount.0)), exact);
                }
                Err(AmountError::TooPrecise { .. }) => prop_assert!(significant.len() > usize::from(decimals)),
                Err(AmountError::Zero) => prop_assert!(digits.trim_start_matches('0').is_empty()),
                Err(AmountError::Overflow) => prop_assert!(exact.is_none_or(|n| n > U512::from(U256::MAX))),
                Err(other) => prop_assert!(false, "{} refused as {:?}", text, other),
            }
        }

        /// A payment's partial transfers sum exactly or not at all: `checked_sum` is the true sum
        /// when it fits in U256 and `None` when it does not; amounts within [`MAX_AMOUNT`] always fit.
        #[test]
        fn partial_sums_never_wrap(parts in proptest::collection::vec(amount(), 0..12), bounded in proptest::collection::vec(0u128..=u128::MAX, 0..64)) {
            let exact = parts.iter().fold(U512::ZERO, |sum, part| sum + U512::from(*part));
            let sum = BaseUnits::checked_sum(parts.iter().map(|p| BaseUnits(*p)));
            if exact > U512::from(U256::MAX) {
                prop_assert_eq!(sum, None);
            } else {
                prop_assert_eq!(sum.map(|s| U512::from(s.0)), Some(exact));
            }
            let capped = bounded.iter().map(|b| BaseUnits(U256::from(*b) % (MAX_AMOUNT.0 + U256::from(1u8))));
            prop_assert!(BaseUnits::checked_sum(capped).is_some());
        }

        /// Covered means received ≥ the amount, to the base unit: one unit short is underpaid,
        /// the exact amount has no excess, and what is over is the excess.
        #[test]
        fn tolerance_edges_are_exact(due in amount(), delta in 0u64..3, over in any::<bool>()) {
            let due = BaseUnits(due);
            let received = if over { due.checked_add(BaseUnits(U256::from(delta))) } else { Some(BaseUnits(due.0.saturating_sub(U256::from(delta)))) };
            let Some(received) = received else { return Ok(()) };
            let covered = received >= due;
            prop_assert_eq!(covered, over || delta == 0 || due.is_zero());
            let excess = received.saturating_sub(due);
            if covered {
                prop_assert_eq!(due.checked_add(excess), Some(received));
            } else {
                prop_assert!(excess.is_zero());
            }
        }
    }

    #[test]
    fn formats_token_units() {
        let f = |v: u64, d| BaseUnits(U256::from(v)).to_token_units(d);
        assert_eq!(f(12_500_000, 6), "12.5");
        assert_eq!(f(1, 6), "0.000001");
        assert_eq!(f(5_000_000, 6), "5");
        assert_eq!(f(0, 6), "0");
        assert_eq!(f(42, 0), "42");
    }
}
