//! Request Network payment references: `last8Bytes(keccak256(lowercase(requestId + salt +
//! address)))`, hashed as UTF-8 text, as `payment-reference-calculator.ts` computes them. The fee
//! proxy logs the 8 bytes as an indexed dynamic `bytes`, so its topic is their keccak256.

use std::fmt;
use std::str::FromStr;

use alloy::primitives::{keccak256, Address, B256};
use rand::Rng;

/// The 8 bytes a Request Network payment carries (16 hex characters in text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaymentReference([u8; 8]);

impl PaymentReference {
    /// The reference of `request_id` with `salt`, paid to `address` (its text as given: Request
    /// Network hashes the checksummed or plain form alike, lower-cased).
    pub fn calculate(request_id: &str, salt: &str, address: &str) -> Self {
        let text = format!("{request_id}{salt}{address}").to_lowercase();
        let hash = keccak256(text.as_bytes());
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&hash[24..]);
        Self(bytes)
    }

    /// The reference of a payment paid to `payee`.
    pub fn for_payment(payment_id: &str, salt: &str, payee: Address) -> Self {
        Self::calculate(payment_id, salt, &format!("{payee:#x}"))
    }

    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// The topic of a `TransferWithReferenceAndFee` log with this reference.
    pub fn topic(&self) -> B256 {
        keccak256(self.0)
    }
}

impl fmt::Display for PaymentReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Text that is not 16 hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a payment reference is 16 hex characters")]
pub struct BadReference;

impl FromStr for PaymentReference {
    type Err = BadReference;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix("0x").unwrap_or(s);
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BadReference);
        }
        let mut bytes = [0u8; 8];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| BadReference)?;
        }
        Ok(Self(bytes))
    }
}

/// A fresh salt: 16 random hex characters, as Request Network's own salts are.
pub fn new_salt() -> String {
    let bytes: [u8; 8] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_request_networks_own_vector() {
        // payment-reference-calculator.test.ts: requestId 01847474747474, salt 8d03ea7, 0x000001.
        let reference = PaymentReference::calculate("01847474747474", "8d03ea7", "0x000001");
        assert_eq!(reference.to_string(), "a0098add01acc736");
        // The address is lower-cased with the rest: a checksummed payee gives the same bytes.
        let payee: Address = "0x5FbDB2315678afecb367f032d93F642f64180aa3".parse().unwrap_or_default();
        assert_eq!(
            PaymentReference::calculate("pay_1", "0011223344556677", &payee.to_checksum(None)),
            PaymentReference::for_payment("pay_1", "0011223344556677", payee)
        );
    }

    #[test]
    fn parses_and_prints_sixteen_hex_characters() {
        let reference: PaymentReference = "a0098add01acc736".parse().unwrap_or(PaymentReference([0; 8]));
        assert_eq!(reference.to_string(), "a0098add01acc736");
        assert_eq!("0xa0098add01acc736".parse::<PaymentReference>(), Ok(reference));
        for bad in ["", "a0098add01acc73", "a0098add01acc7366", "g0098add01acc736"] {
            assert_eq!(bad.parse::<PaymentReference>(), Err(BadReference), "{bad}");
        }
        // Its topic is the keccak256 of the 8 bytes, as a `bytes indexed` field is logged.
        assert_eq!(reference.topic(), keccak256([0xa0, 0x09, 0x8a, 0xdd, 0x01, 0xac, 0xc7, 0x36]));
    }

    #[test]
    fn salts_are_sixteen_hex_characters_and_differ() {
        let (a, b) = (new_salt(), new_salt());
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
