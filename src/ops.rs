//! Operator commands: each reads only the settings it needs, prints what it did, and fails with
//! one line naming the problem.

use anyhow::Context;
use payscan_core::config::Config;
use payscan_core::registry::Registry;
use payscan_core::store::{DeliveryStatus, Store};
use payscan_core::{clock, DerivationIndex};
use payscan_custody::Deriver;
use secrecy::{ExposeSecret, SecretString};

fn required(name: &str) -> anyhow::Result<String> {
    Config::setting(name)?.with_context(|| format!("{name} is not set (environment or payscan.toml)"))
}

async fn store() -> anyhow::Result<Store> {
    let url = required("DATABASE_URL")?;
    Store::connect(&url).await.context("DATABASE_URL")
}

/// `payscan migrate`: creates or upgrades the database schema.
pub async fn migrate() -> anyhow::Result<()> {
    let store = store().await?;
    store.ping().await?;
    println!("database is at the latest schema ({:?})", store.backend());
    store.close().await;
    Ok(())
}

/// `payscan derive <index>`: the destination address of an index (public data only).
pub fn derive(index: u32) -> anyhow::Result<()> {
    let index = DerivationIndex::new(index).context("the index must be below 2^31 (non-hardened)")?;
    let deriver = match (Config::setting("PAYSCAN_XPUB")?, Config::setting("PAYSCAN_MNEMONIC")?) {
        (Some(xpub), _) => Deriver::from_xpub(xpub.trim())?,
        (None, Some(phrase)) => {
            // Held as a secret so it is wiped when dropped.
            let phrase = SecretString::from(phrase);
            Deriver::from_mnemonic(phrase.expose_secret().trim())?
        }
        (None, None) => anyhow::bail!("set PAYSCAN_XPUB (or PAYSCAN_MNEMONIC) to derive addresses"),
    };
    let address = deriver.derive(index)?;
    println!("m/44'/60'/0'/0/{index} {}", address.to_checksum(None));
    Ok(())
}

/// `payscan registry check`: validates chains.json and tokens.json as a reload would.
pub fn registry_check() -> anyhow::Result<()> {
    let chains = required("PAYSCAN_CHAINS")?;
    let tokens = required("PAYSCAN_TOKENS")?;
    let registry = Registry::load(chains.as_ref(), tokens.as_ref())?;
    for chain in registry.chains() {
        let symbols: Vec<&str> = chain.tokens.iter().map(|t| t.symbol.as_str()).collect();
        println!(
            "{} {} ({}): threshold {}, floor {}, fee proxy {}, tokens {}",
            chain.chain_id,
            chain.short_name,
            chain.name,
            chain.effective_threshold(None),
            chain.confirmation_floor,
            chain.proxy_address.map_or_else(|| "none".to_owned(), |a| a.to_checksum(None)),
            symbols.join(", ")
        );
    }
    println!("registry is valid: {} chains", registry.chains().len());
    Ok(())
}

/// `payscan outbox list [--status]`: webhook deliveries in one status.
pub async fn outbox_list(status: &str, limit: i64) -> anyhow::Result<()> {
    let Ok(wanted) = status.parse::<DeliveryStatus>() else {
        anyhow::bail!("--status must be pending, delivered, manual_review or gone");
    };
    let store = store().await?;
    let deliveries = store.deliveries_in(wanted, limit).await?;
    for (subject, d) in &deliveries {
        println!(
            "{} {} {} {} attempts={} last_status={} last_error={}",
            d.event_id,
            subject,
            d.event_type,
            d.target,
            d.attempts,
            d.last_status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
            d.last_error.as_deref().unwrap_or("-")
        );
    }
    println!("{} deliveries {status}", deliveries.len());
    store.close().await;
    Ok(())
}

/// `payscan outbox retry`: deliveries in manual review or gone get a fresh retry schedule; waiting ones
/// are due now. A running daemon picks them up.
pub async fn outbox_retry() -> anyhow::Result<()> {
    let store = store().await?;
    let count = store.requeue_deliveries(None, clock::now_ms()).await?;
    println!("{count} deliveries requeued");
    store.close().await;
    Ok(())
}
