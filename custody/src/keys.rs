//! The keys custody works with. With the `local` signer payscan derives each destination's private
//! key from the mnemonic when it must sign for it; with `build-only` it holds no destination key
//! and hands unsigned payloads to an external signer. The relayer key pays gas; the payout key
//! sends payouts. No key is ever printed or returned.

use std::fmt;
use std::str::FromStr;

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use coins_bip32::prelude::{Parent, XPriv};
use coins_bip39::{English, Mnemonic};
use payscan_core::config::{CustodyConfig, KeySource, SignerKind};
use payscan_core::DerivationIndex;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::derivation::{DeriveError, Deriver, ACCOUNT_PATH};

/// Why keys could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustodyError {
    #[error(transparent)]
    Derive(#[from] DeriveError),
    /// The setting holds no valid hex private key (the key itself is never shown).
    #[error("{0} is not a valid hex private key")]
    BadKey(&'static str),
    #[error("the {0} signer holds no destination keys: it builds unsigned payloads")]
    NotLocal(&'static str),
    #[error("the private key for index {0} does not match the xpub's address")]
    Mismatch(u32),
}

/// m/44'/60'/0'/0 as a private key.
struct ExternalKey(XPriv);

impl fmt::Debug for ExternalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExternalKey([REDACTED])")
    }
}

/// What custody can sign with.
#[derive(Debug)]
pub struct Keys {
    kind: SignerKind,
    deriver: Deriver,
    external: Option<ExternalKey>,
    relayer: Option<PrivateKeySigner>,
    payout: Option<PrivateKeySigner>,
    master_wallet: Option<Address>,
}

/// Custody's configuration as the config health route reports it: addresses, never a key.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub xpub_valid: bool,
    pub xpub_fingerprint: String,
    pub signer_type: &'static str,
    /// The signer's keys derive the same addresses as the xpub (build-only: nothing to check).
    pub signer_healthy: bool,
    pub master_wallet: Option<String>,
    pub relayer: Option<String>,
    pub payout_wallet: Option<String>,
}

fn signer_from(key: &SecretString, setting: &'static str) -> Result<PrivateKeySigner, CustodyError> {
    PrivateKeySigner::from_str(key.expose_secret().trim()).map_err(|_| CustodyError::BadKey(setting))
}

impl Keys {
    pub fn from_config(keys: &KeySource, custody: &CustodyConfig) -> Result<Self, CustodyError> {
        let deriver = Deriver::from_keys(keys)?;
        let external = match (custody.signer, &keys.mnemonic, &keys.xprv) {
            (SignerKind::Local, Some(phrase), _) => {
                let mnemonic = Mnemonic::<English>::new_from_phrase(phrase.expose_secret().trim())
                    .map_err(|_| DeriveError::BadMnemonic)?;
                let external = mnemonic
                    .derive_key(format!("{ACCOUNT_PATH}/0").as_str(), None)
                    .map_err(|_| DeriveError::BadMnemonic)?;
                Some(ExternalKey(external))
            }
            (SignerKind::Local, None, Some(xprv)) => {
                let account = crate::derivation::account_xprv(xprv.expose_secret())?;
                Some(ExternalKey(account.derive_child(0).map_err(|_| DeriveError::Child(0))?))
            }
            _ => None,
        };
        let this = Self {
            kind: custody.signer,
            deriver,
            external,
            relayer: custody.relayer_key.as_ref().map(|k| signer_from(k, "PAYSCAN_RELAYER_KEY")).transpose()?,
            payout: custody.payout_key.as_ref().map(|k| signer_from(k, "PAYSCAN_PAYOUT_KEY")).transpose()?,
            master_wallet: custody.master_wallet,
        };
        if this.external.is_some() {
            // The keys signing for destinations must be the xpub's: check one at start.
            this.destination_signer(DerivationIndex::new(0).ok_or(CustodyError::Mismatch(0))?)?;
        }
        Ok(this)
    }

    pub fn kind(&self) -> SignerKind {
        self.kind
    }

    pub fn deriver(&self) -> &Deriver {
        &self.deriver
    }

    pub fn master_wallet(&self) -> Option<Address> {
        self.master_wallet
    }

    pub fn relayer(&self) -> Option<&PrivateKeySigner> {
        self.relayer.as_ref()
    }

    pub fn payout(&self) -> Option<&PrivateKeySigner> {
        self.payout.as_ref()
    }

    /// The private key of the destination at `index` (local signer only), checked against the
    /// xpub's address.
    pub fn destination_signer(&self, index: DerivationIndex) -> Result<PrivateKeySigner, CustodyError> {
        let external = self.external.as_ref().ok_or(CustodyError::NotLocal(self.kind.as_str()))?;
        let child = external.0.derive_child(index.get()).map_err(|_| DeriveError::Child(index.get()))?;
        let signing_key: &coins_bip32::ecdsa::SigningKey = child.as_ref();
        let signer = PrivateKeySigner::from_signing_key(signing_key.clone());
        if signer.address() != self.deriver.derive(index)? {
            return Err(CustodyError::Mismatch(index.get()));
        }
        Ok(signer)
    }

    pub fn health(&self) -> Health {
        let signer_healthy = match self.kind {
            SignerKind::BuildOnly => true,
            SignerKind::Local => DerivationIndex::new(0).is_some_and(|i| self.destination_signer(i).is_ok()),
        };
        Health {
            xpub_valid: true,
            xpub_fingerprint: self.deriver.fingerprint(),
            signer_type: self.kind.as_str(),
            signer_healthy,
            master_wallet: self.master_wallet.map(|a| a.to_checksum(None)),
            relayer: self.relayer.as_ref().map(|s| s.address().to_checksum(None)),
            payout_wallet: self.payout.as_ref().map(|s| s.address().to_checksum(None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coins_bip32::enc::{MainnetEncoder, XKeyEncoder};

    const MNEMONIC: &str = "test test test test test test test test test test test junk";
    /// anvil's first account key (public knowledge).
    const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    fn custody(signer: SignerKind, relayer: Option<&str>) -> CustodyConfig {
        CustodyConfig {
            signer,
            sweep_interval: std::time::Duration::from_secs(600),
            sweep_cron: false,
            master_wallet: None,
            relayer_key: relayer.map(|k| SecretString::from(k.to_owned())),
            payout_key: relayer.map(|k| SecretString::from(k.to_owned())),
            payout_retry: vec![std::time::Duration::from_secs(30)],
            payout_minimums: Vec::new(),
            max_fee_per_gas: 1_000_000_000_000,
            replace_after: std::time::Duration::from_secs(60),
            sweep_max_gas_cost: None,
        }
    }

    fn mnemonic_keys() -> KeySource {
        KeySource { xpub: None, mnemonic: Some(SecretString::from(MNEMONIC.to_owned())), xprv: None }
    }

    #[test]
    fn an_account_xprv_signs_like_its_mnemonic() {
        let mnemonic = Mnemonic::<English>::new_from_phrase(MNEMONIC).expect("mnemonic");
        let account = mnemonic.derive_key(ACCOUNT_PATH, None).expect("account");
        let xprv = MainnetEncoder::xpriv_to_base58(&account).expect("base58");
        let keys = KeySource { xpub: None, mnemonic: None, xprv: Some(SecretString::from(xprv.clone())) };
        let keys = Keys::from_config(&keys, &custody(SignerKind::Local, Some(KEY))).expect("keys");
        let index = DerivationIndex::new(1).expect("index");
        let signer = keys.destination_signer(index).expect("signer");
        assert_eq!(signer.address().to_checksum(None), "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        assert!(keys.health().signer_healthy);
        assert!(!format!("{keys:?}").contains(&xprv[4..40]), "the xprv in Debug output");
        // Not the account level (m/44'/60'/0'/0 instead): refused.
        let external = mnemonic.derive_key(format!("{ACCOUNT_PATH}/0").as_str(), None).expect("external");
        let wrong = MainnetEncoder::xpriv_to_base58(&external).expect("base58");
        let keys = KeySource { xpub: None, mnemonic: None, xprv: Some(SecretString::from(wrong)) };
        let err = Keys::from_config(&keys, &custody(SignerKind::Local, Some(KEY))).err();
        assert_eq!(err, Some(CustodyError::Derive(DeriveError::BadXprv)));
        let keys = KeySource { xpub: None, mnemonic: None, xprv: Some(SecretString::from("xprv-short".to_owned())) };
        assert_eq!(Deriver::from_keys(&keys).err(), Some(DeriveError::BadXprv));
    }

    #[test]
    fn local_keys_sign_for_the_xpubs_addresses() {
        let keys = Keys::from_config(&mnemonic_keys(), &custody(SignerKind::Local, Some(KEY))).expect("keys");
        let index = DerivationIndex::new(1).expect("index");
        let signer = keys.destination_signer(index).expect("signer");
        assert_eq!(signer.address().to_checksum(None), "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        let health = keys.health();
        assert!(health.signer_healthy);
        assert_eq!(health.signer_type, "local");
        assert_eq!(health.relayer.as_deref(), Some("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"));
    }

    #[test]
    fn debug_of_keys_and_signers_prints_no_key() {
        let keys = Keys::from_config(&mnemonic_keys(), &custody(SignerKind::Local, Some(KEY))).expect("keys");
        let signer = keys.destination_signer(DerivationIndex::new(1).expect("index")).expect("signer");
        let destination_key = alloy::hex::encode(signer.to_bytes());
        let printed = [
            format!("{keys:?}"),
            format!("{keys:#?}"),
            format!("{signer:?} {signer:#?}"),
            format!("{:?}", keys.relayer()),
            format!("{:#?}", keys.payout()),
        ];
        for printed in printed {
            for secret in [&KEY[2..], &KEY[2..18], &destination_key, &destination_key[..16], "test test", "junk"] {
                assert!(!printed.contains(secret), "`{secret}` printed: {printed}");
            }
        }
    }

    fn cases() -> proptest::test_runner::Config {
        let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000);
        proptest::test_runner::Config::with_cases(cases)
    }

    proptest::proptest! {
        #![proptest_config(cases())]

        /// For any non-hardened index, the address payscan derives from the xpub alone (its own
        /// public derivation) is the address of the key the local signer derives privately.
        #[test]
        fn public_and_private_derivation_agree(index in 0u32..DerivationIndex::LIMIT) {
            static KEYS: std::sync::LazyLock<Result<Keys, CustodyError>> = std::sync::LazyLock::new(|| {
                Keys::from_config(&mnemonic_keys(), &custody(SignerKind::Local, None))
            });
            let keys = KEYS.as_ref().map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            let index = DerivationIndex::new(index).ok_or_else(|| proptest::test_runner::TestCaseError::fail("index"))?;
            let signer = keys.destination_signer(index).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert_eq!(Ok(signer.address()), keys.deriver().derive(index));
        }

        /// Hostile key material is refused, never a panic: any text as an xpub, xprv or mnemonic,
        /// and a real xpub with one character changed.
        #[test]
        fn hostile_keys_are_refused(text in "\\PC{0,120}", at in 0usize..111, with in "[1-9A-HJ-NP-Za-km-z]", hardened in DerivationIndex::LIMIT..=u32::MAX) {
            let _ = Deriver::from_xpub(&text);
            let _ = Deriver::from_xprv(&text);
            let _ = Deriver::from_mnemonic(&text);
            static XPUB: std::sync::LazyLock<String> =
                std::sync::LazyLock::new(|| Deriver::from_mnemonic(MNEMONIC).map(|d| d.xpub()).unwrap_or_default());
            let xpub = XPUB.as_str();
            proptest::prop_assert!(!xpub.is_empty());
            let at = at % xpub.len();
            proptest::prop_assume!(&xpub[at..=at] != with.as_str());
            let changed = format!("{}{with}{}", &xpub[..at], &xpub[at + 1..]);
            proptest::prop_assert!(Deriver::from_xpub(&changed).is_err(), "{}", changed);
            proptest::prop_assert!(DerivationIndex::new(hardened).is_none());
        }
    }

    #[test]
    fn build_only_holds_no_destination_key() {
        let keys = Keys::from_config(&mnemonic_keys(), &custody(SignerKind::BuildOnly, None)).expect("keys");
        let index = DerivationIndex::new(0).expect("index");
        assert_eq!(keys.destination_signer(index).err(), Some(CustodyError::NotLocal("build-only")));
        assert!(keys.health().signer_healthy);
    }

    #[test]
    fn a_bad_key_is_named_and_never_shown() {
        let err = Keys::from_config(&mnemonic_keys(), &custody(SignerKind::BuildOnly, Some("0xnotakey"))).err();
        assert_eq!(err, Some(CustodyError::BadKey("PAYSCAN_RELAYER_KEY")));
        let keys = Keys::from_config(&mnemonic_keys(), &custody(SignerKind::Local, Some(KEY))).expect("keys");
        let debug = format!("{keys:?}");
        assert!(!debug.contains("ac0974bec39a17e3"), "a key in Debug output: {debug}");
    }
}
