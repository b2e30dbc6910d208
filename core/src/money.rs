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
mod tests {
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
