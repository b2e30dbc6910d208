//! Destination addresses m/44'/60'/0'/0/i from the account-level xpub of m/44'/60'/0'.
//!
//! The external-chain key m/44'/60'/0'/0 is derived once and kept, with its compressed point and
//! chain code, so each address costs one HMAC-SHA512, one multiplication of the generator and one
//! point addition: BIP-32's public child derivation, without building the child's extended key.

use alloy::primitives::{keccak256, Address};
use coins_bip32::enc::{MainnetEncoder, XKeyEncoder};
use coins_bip32::prelude::{Parent, XPriv, XPub};
use coins_bip39::{English, Mnemonic};
use payscan_core::config::KeySource;
use payscan_core::intent::AddressDeriver;
use payscan_core::DerivationIndex;
use secrecy::ExposeSecret;

/// The BIP-44 account path whose xpub payscan is given.
pub const ACCOUNT_PATH: &str = "m/44'/60'/0'";

/// A serialized extended key is 78 bytes plus a 4-byte checksum: 111 base58 characters. Checked
/// before decoding because the decoder underflows (panics) on inputs shorter than a checksum.
fn looks_like_xkey(text: &str) -> bool {
    const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    text.len() == 111 && text.chars().all(|c| BASE58.contains(c))
}

/// The account-level private key of m/44'/60'/0' from its base58 `xprv…` form.
pub(crate) fn account_xprv(xprv: &str) -> Result<XPriv, DeriveError> {
    let xprv = xprv.trim();
    if !looks_like_xkey(xprv) {
        return Err(DeriveError::BadXprv);
    }
    let account = MainnetEncoder::xpriv_from_base58(xprv).map_err(|_| DeriveError::BadXprv)?;
    if AsRef::<coins_bip32::primitives::XKeyInfo>::as_ref(&account).depth != 3 {
        return Err(DeriveError::BadXprv);
    }
    Ok(account)
}

/// Why keys could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeriveError {
    #[error("PAYSCAN_XPUB is not a valid extended public key")]
    BadXpub,
    #[error("PAYSCAN_XPUB must be the account-level key of m/44'/60'/0' (depth 3), got depth {0}")]
    WrongDepth(u8),
    #[error("PAYSCAN_MNEMONIC is not a valid BIP-39 English mnemonic")]
    BadMnemonic,
    #[error("PAYSCAN_XPRV is not the account-level extended private key of m/44'/60'/0'")]
    BadXprv,
    #[error("PAYSCAN_XPUB and the private keys (PAYSCAN_MNEMONIC or PAYSCAN_XPRV) belong to different wallets")]
    Mismatch,
    #[error("key derivation failed at index {0}")]
    Child(u32),
}

/// Derives destination addresses.
#[derive(Clone)]
pub struct Deriver {
    account: XPub,
    external: External,
}

/// m/44'/60'/0'/0, as public child derivation needs it.
#[derive(Clone)]
struct External {
    point: k256::ProjectivePoint,
    compressed: [u8; 33],
    chain_code: [u8; 32],
}

impl std::fmt::Debug for Deriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deriver").field("fingerprint", &self.fingerprint()).finish()
    }
}

impl Deriver {
    /// From an account-level xpub (`xpub…` of m/44'/60'/0').
    pub fn from_xpub(xpub: &str) -> Result<Self, DeriveError> {
        let xpub = xpub.trim();
        if !looks_like_xkey(xpub) {
            return Err(DeriveError::BadXpub);
        }
        let account = MainnetEncoder::xpub_from_base58(xpub).map_err(|_| DeriveError::BadXpub)?;
        let depth = AsRef::<coins_bip32::primitives::XKeyInfo>::as_ref(&account).depth;
        if depth != 3 {
            return Err(DeriveError::WrongDepth(depth));
        }
        Self::from_account(account)
    }

    /// From a mnemonic; the private keys are dropped once the account xpub is known.
    pub fn from_mnemonic(phrase: &str) -> Result<Self, DeriveError> {
        let mnemonic = Mnemonic::<English>::new_from_phrase(phrase.trim()).map_err(|_| DeriveError::BadMnemonic)?;
        let account = mnemonic.derive_key(ACCOUNT_PATH, None).map_err(|_| DeriveError::BadMnemonic)?;
        Self::from_account(account.verify_key())
    }

    /// From an account-level xprv (`xprv…` of m/44'/60'/0'); only its xpub is kept.
    pub fn from_xprv(xprv: &str) -> Result<Self, DeriveError> {
        Self::from_account(account_xprv(xprv)?.verify_key())
    }

    /// From the configured keys. With an xpub and private keys set, they must be the same wallet.
    pub fn from_keys(keys: &KeySource) -> Result<Self, DeriveError> {
        let from_mnemonic = keys.mnemonic.as_ref().map(|m| Self::from_mnemonic(m.expose_secret())).transpose()?;
        let from_xprv = keys.xprv.as_ref().map(|k| Self::from_xprv(k.expose_secret())).transpose()?;
        match (&keys.xpub, from_mnemonic.or(from_xprv)) {
            (Some(xpub), mnemonic) => {
                let deriver = Self::from_xpub(xpub)?;
                if mnemonic.is_some_and(|m| m.account != deriver.account) {
                    return Err(DeriveError::Mismatch);
                }
                Ok(deriver)
            }
            (None, Some(deriver)) => Ok(deriver),
            (None, None) => Err(DeriveError::BadXpub),
        }
    }

    fn from_account(account: XPub) -> Result<Self, DeriveError> {
        let external = account.derive_child(0).map_err(|_| DeriveError::Child(0))?;
        let key: &coins_bip32::ecdsa::VerifyingKey = external.as_ref();
        let compressed: [u8; 33] =
            key.to_encoded_point(true).as_bytes().try_into().map_err(|_| DeriveError::Child(0))?;
        let chain_code = AsRef::<coins_bip32::primitives::XKeyInfo>::as_ref(&external).chain_code.0;
        let external = External { point: key.as_affine().into(), compressed, chain_code };
        Ok(Self { account, external })
    }

    /// The address at m/44'/60'/0'/0/`index`.
    pub fn derive(&self, index: DerivationIndex) -> Result<Address, DeriveError> {
        use hmac::{Hmac, Mac};
        use k256::elliptic_curve::ops::MulByGenerator;
        use k256::elliptic_curve::sec1::ToEncodedPoint;
        use k256::elliptic_curve::PrimeField;
        let child = DeriveError::Child(index.get());
        // BIP-32 CKDpub: IL = HMAC-SHA512(chain code, parent point ‖ index)[..32]; K = IL·G + K_parent.
        let mut mac = Hmac::<sha2::Sha512>::new_from_slice(&self.external.chain_code).map_err(|_| child.clone())?;
        mac.update(&self.external.compressed);
        mac.update(&index.get().to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let mut il = k256::FieldBytes::default();
        il.copy_from_slice(&digest[..32]);
        // IL ≥ n, or a child at infinity, makes the index invalid (odds about 1 in 2^127).
        let tweak = Option::<k256::Scalar>::from(k256::Scalar::from_repr(il)).ok_or(child.clone())?;
        // The generator's multiples come from k256's precomputed tables.
        let point = (k256::ProjectivePoint::mul_by_generator(&tweak) + self.external.point).to_affine();
        let encoded = point.to_encoded_point(false);
        let xy = encoded.as_bytes().get(1..).filter(|xy| xy.len() == 64).ok_or(child)?;
        // An Ethereum address is the last 20 bytes of keccak256 of the uncompressed point.
        Ok(Address::from_slice(&keccak256(xy)[12..]))
    }

    /// The account xpub in base58.
    pub fn xpub(&self) -> String {
        MainnetEncoder::xpub_to_base58(&self.account).unwrap_or_default()
    }

    /// The account key's BIP-32 fingerprint, `0x`-hex.
    pub fn fingerprint(&self) -> String {
        format!("0x{}", alloy::hex::encode(self.account.fingerprint().0))
    }
}

impl AddressDeriver for Deriver {
    fn address(&self, index: DerivationIndex) -> Result<Address, String> {
        self.derive(index).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Foundry's and Hardhat's default mnemonic; its accounts are published everywhere.
    const TEST_MNEMONIC: &str = "test test test test test test test test test test test junk";

    fn idx(i: u32) -> DerivationIndex {
        DerivationIndex::new(i).unwrap_or_else(|| unreachable!())
    }

    #[test]
    fn derives_the_published_accounts() {
        let deriver = Deriver::from_mnemonic(TEST_MNEMONIC).expect("valid mnemonic");
        let expected = [
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        ];
        for (i, address) in expected.iter().enumerate() {
            assert_eq!(deriver.derive(idx(i as u32)).map(|a| a.to_checksum(None)).as_deref(), Ok(*address));
        }
    }

    #[test]
    fn the_xpub_alone_derives_the_same_addresses() {
        let from_mnemonic = Deriver::from_mnemonic(TEST_MNEMONIC).expect("valid mnemonic");
        let from_xpub = Deriver::from_xpub(&from_mnemonic.xpub()).expect("valid xpub");
        assert_eq!(from_xpub.derive(idx(7)), from_mnemonic.derive(idx(7)));
        assert_eq!(from_xpub.fingerprint(), from_mnemonic.fingerprint());
    }

    #[test]
    fn the_cached_derivation_equals_coins_bip32s_own() {
        let deriver = Deriver::from_mnemonic(TEST_MNEMONIC).expect("valid mnemonic");
        let external = deriver.account.derive_child(0).expect("m/44'/60'/0'/0");
        for i in (0..200).chain([1 << 20, (1 << 31) - 1]) {
            let child = external.derive_child(i).expect("child");
            let point = AsRef::<coins_bip32::ecdsa::VerifyingKey>::as_ref(&child).to_encoded_point(false);
            let expected = Address::from_slice(&keccak256(&point.as_bytes()[1..])[12..]);
            assert_eq!(deriver.derive(idx(i)), Ok(expected), "index {i}");
        }
    }

    #[test]
    fn refuses_wrong_keys() {
        for bad in ["", "x", "xpub-nope", "1111", &"z".repeat(111), &"0".repeat(111)] {
            assert_eq!(Deriver::from_xpub(bad).err(), Some(DeriveError::BadXpub), "{bad}");
        }
        assert_eq!(Deriver::from_mnemonic("not a mnemonic").err(), Some(DeriveError::BadMnemonic));
        // A BIP-32 test vector's master key: depth 0, not an account key.
        let master = "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8";
        assert_eq!(Deriver::from_xpub(master).err(), Some(DeriveError::WrongDepth(0)));
        let other = Deriver::from_mnemonic(TEST_MNEMONIC).expect("valid").xpub();
        let keys = KeySource {
            xpub: Some(other),
            mnemonic: Some(
                "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
                    .to_owned()
                    .into(),
            ),
            xprv: None,
        };
        assert_eq!(Deriver::from_keys(&keys).err(), Some(DeriveError::Mismatch));
    }
}
