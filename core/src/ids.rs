//! Identifier newtypes, parsed once at the edge.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("expected an id of the form {prefix}<26 characters>")]
    Malformed { prefix: &'static str },
    #[error("chain id must be a positive integer")]
    ChainId,
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id; ULIDs sort by creation time.
            pub fn new() -> Self {
                Self(format!("{}{}", $prefix, ulid::Ulid::new()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix, "[0-9A-HJKMNP-TV-Z]{26}$")))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let body = s.strip_prefix($prefix).ok_or(IdError::Malformed { prefix: $prefix })?;
                ulid::Ulid::from_string(body).map_err(|_| IdError::Malformed { prefix: $prefix })?;
                Ok(Self(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(
    /// A payment, e.g. `pay_01JD3…`.
    PaymentId,
    "pay_"
);
prefixed_id!(
    /// A payout, release or refund, e.g. `po_01JD3…`.
    PayoutId,
    "po_"
);
prefixed_id!(
    /// One webhook event; the Standard Webhooks `webhook-id`, the same on every retry.
    EventId,
    "msg_"
);

/// An EIP-155 chain id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChainId(pub u64);

impl ChainId {
    /// The id as the database stores it.
    pub fn as_i64(self) -> i64 {
        // Chain ids in use are far below i64::MAX; the registry refuses larger ones.
        self.0 as i64
    }
}

impl FromStr for ChainId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<u64>() {
            Ok(n) if n > 0 && n <= i64::MAX as u64 => Ok(Self(n)),
            _ => Err(IdError::ChainId),
        }
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The last, non-hardened index `i` of a destination's path m/44'/60'/0'/0/i.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DerivationIndex(u32);

impl DerivationIndex {
    /// The first hardened index; non-hardened children stay below it.
    pub const LIMIT: u32 = 1 << 31;

    pub fn new(i: u32) -> Option<Self> {
        (i < Self::LIMIT).then_some(Self(i))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for DerivationIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_ids_round_trip_and_refuse_garbage() {
        let id = PaymentId::new();
        assert_eq!(id.as_str().parse::<PaymentId>().as_ref(), Ok(&id));
        assert!("pay_nope".parse::<PaymentId>().is_err());
        assert!("msg_01JD3Y5Q6P2W8V3N4M5K6J7H8G".parse::<PaymentId>().is_err());
        assert!("pay_01JD3Y5Q6P2W8V3N4M5K6J7H8G".parse::<PaymentId>().is_ok());
    }

    #[test]
    fn chain_ids_are_positive() {
        assert_eq!("56".parse::<ChainId>(), Ok(ChainId(56)));
        assert!("0".parse::<ChainId>().is_err());
        assert!("-1".parse::<ChainId>().is_err());
        assert!("bsc".parse::<ChainId>().is_err());
    }
}
