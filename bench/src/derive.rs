//! Derivations per second, single-threaded: payscan's deriver, which keeps the external-chain
//! key m/44'/60'/0'/0 and derives one child per address, next to a naive coins-bip32 loop that
//! derives `0/i` from the account key every time.

use std::time::Instant;

use alloy::primitives::{keccak256, Address};
use coins_bip32::prelude::Parent;
use payscan_core::DerivationIndex;
use payscan_custody::Deriver;

use crate::harness::MNEMONIC;
use crate::report::Report;

fn address_of(key: &coins_bip32::xkeys::XPub) -> Address {
    let point = AsRef::<coins_bip32::ecdsa::VerifyingKey>::as_ref(key).to_encoded_point(false);
    Address::from_slice(&keccak256(&point.as_bytes()[1..])[12..])
}

pub fn run(report: &mut Report, count: u32) -> anyhow::Result<()> {
    let deriver = Deriver::from_mnemonic(MNEMONIC)?;
    use coins_bip32::enc::XKeyEncoder;
    let account = coins_bip32::enc::MainnetEncoder::xpub_from_base58(&deriver.xpub())
        .map_err(|e| anyhow::anyhow!("xpub: {e}"))?;

    let started = Instant::now();
    let mut last = Address::ZERO;
    for i in 0..count {
        let index = DerivationIndex::new(i).ok_or_else(|| anyhow::anyhow!("index {i}"))?;
        last = deriver.derive(index)?;
    }
    let cached = f64::from(count) / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut naive_last = Address::ZERO;
    for i in 0..count {
        let external = account.derive_child(0).map_err(|e| anyhow::anyhow!("derive: {e}"))?;
        let child = external.derive_child(i).map_err(|e| anyhow::anyhow!("derive: {e}"))?;
        naive_last = address_of(&child);
    }
    let naive = f64::from(count) / started.elapsed().as_secs_f64();
    anyhow::ensure!(last == naive_last, "the two loops disagree at index {}", count - 1);

    report.section("Derivations (single-threaded)");
    report.line(&format!("{count} addresses m/44'/60'/0'/0/i from the account xpub, one thread."));
    report.table(
        &["loop", "derivations/s", "target"],
        vec![
            vec!["payscan (cached m/44'/60'/0'/0)".into(), format!("{cached:.0}"), "≥ 25,000".into()],
            vec!["naive coins-bip32 (0/i from the account key)".into(), format!("{naive:.0}"), String::new()],
            vec!["ratio".into(), format!("{:.2}×", cached / naive), String::new()],
        ],
    );
    Ok(())
}
